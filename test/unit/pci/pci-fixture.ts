/**
 * Small machines for the PCI ATS/PRI/PASID tests, built from plain PciDevInfo literals (no
 * machine builder). Every function defaults to a trusted PF with an ATS capability at 0x100.
 */
import { resolveKernel, type KernelConfig, type SwitchOverride } from '../../../src/kernel/config.js';
import { formatBdf } from '../../../src/pci/bdf.js';
import {
  SimplePciCtx,
  newPciDev,
  pci_enumerate_device,
  type PciDev,
  type PciDevInfo,
} from '../../../src/pci/pci-dev.js';

export type FnSpec = Partial<Omit<PciDevInfo, 'index' | 'bdf'>> & { readonly dev?: Partial<PciDev> };

export function bdfOf(i: number): string {
  return formatBdf({ segment: 0, bus: 1, device: i >> 3, fn: i & 7 });
}

export function infoOf(i: number, spec: FnSpec): PciDevInfo {
  const { dev: _dev, ...rest } = spec;
  return {
    index: i,
    bdf: bdfOf(i),
    vendor: 0x15b3,
    device: 0x1021,
    revision: 0,
    subsystemVendor: 0,
    subsystemDevice: 0,
    isVirtfn: false,
    physfn: -1,
    upstreamBridge: -1,
    untrusted: false,
    externalFacing: false,
    atsCapOffset: 0x100,
    atsCapReg: 0,
    pasidCapOffset: 0,
    pasidCapReg: 0,
    priCapOffset: 0,
    priMaxReqs: 0,
    priStatusPasidRequired: false,
    cxlCacheCapable: false,
    eeTlpPrefix: false,
    pasidNoTlp: false,
    acsPathRrUf: false,
    ...rest,
  };
}

/**
 * A context for the given functions under `kernel`, each enumerated (fixups, pci_ats_init,
 * pci_pri_init, pci_pasid_init) in index order, with the enumeration events dropped.
 */
export function ctxOf(kernel: KernelConfig, specs: readonly FnSpec[]): SimplePciCtx {
  const infos = specs.map((s, i) => infoOf(i, s));
  const devs = specs.map((s) => ({ ...newPciDev(), ...s.dev }));
  const ctx = new SimplePciCtx(kernel, infos, devs);
  for (let i = 0; i < specs.length; i++) pci_enumerate_device(ctx, i);
  ctx.takeEvents();
  return ctx;
}

/** A PF (index 0) and `n` VFs (indices 1..n). */
export function pfWithVfs(n: number, pf: FnSpec = {}, vf: FnSpec = {}): FnSpec[] {
  const out: FnSpec[] = [pf];
  for (let k = 0; k < n; k++) out.push({ device: 0x101e, isVirtfn: true, physfn: 0, ...vf });
  return out;
}

export function kernelOf(
  preset?: string,
  overrides?: Readonly<Record<string, SwitchOverride>>,
  cmdline?: string,
): KernelConfig {
  return resolveKernel(preset, overrides, cmdline);
}
