/**
 * The subset of the kernel's `struct pci_dev` (include/linux/pci.h) that the ATS/PRI/PASID model
 * needs, split in two for cheap cloning:
 *  - PciDevInfo: facts fixed at enumeration (IDs, capability offsets, read-only registers,
 *    topology-derived flags). Shared between states, never cloned.
 *  - PciDev: the kernel's mutable per-function fields plus the device's writable registers. Plain
 *    numbers and booleans, so an explorer can copy and fingerprint it quickly.
 * The PCI functions (ats.ts, pri.ts, pasid.ts, quirks.ts) take a PciCtx and a function index.
 */
import type { KernelConfig } from '../kernel/config.js';
import type { KernelEvent } from '../kernel/events.js';
import { pci_ats_init } from './ats.js';
import type { Bdf } from './bdf.js';
import { PCI_ACS } from './caps/acs.js';
import { PCI_ATS_CAP_GLOBAL_INV, PCI_ATS_CAP_PAGE_ALIGNED, PCI_ATS_CTRL_ENABLE } from './caps/ats.js';
import { PCI_EXP_TYPE } from './caps/express.js';
import {
  PCI_PASID_CAP_EXEC,
  PCI_PASID_CAP_PRIV,
  PCI_PASID_CAP_WIDTH,
  PCI_PASID_CTRL_ENABLE,
  PCI_PASID_CTRL_EXEC,
  PCI_PASID_CTRL_PRIV,
} from './caps/pasid.js';
import { PCI_PRI_CTRL_ENABLE, PCI_PRI_CTRL_RESET } from './caps/pri.js';
import type { PciFunction } from './function.js';
import { pci_pasid_init } from './pasid.js';
import { pci_pri_init } from './pri.js';
import { pci_fixup_device, quirk_huawei_pcie_sva_applies } from './quirks.js';

/** Facts that never change after enumeration (shared, never cloned). */
export interface PciDevInfo {
  readonly index: number;
  readonly bdf: Bdf;
  readonly vendor: number;
  readonly device: number;
  readonly revision: number;
  readonly subsystemVendor: number;
  readonly subsystemDevice: number;
  /** `dev->is_virtfn`. */
  readonly isVirtfn: boolean;
  /** Index of the PF (`pci_physfn()`) for a VF, -1 otherwise. */
  readonly physfn: number;
  /** Index of `pci_upstream_bridge()` (for a VF: its PF's), -1 on a root bus. */
  readonly upstreamBridge: number;
  /** `dev->untrusted` (set_pcie_untrusted(): below an untrusted or external-facing bridge). */
  readonly untrusted: boolean;
  /** `dev->external_facing` (firmware marking of a port). */
  readonly externalFacing: boolean;
  /** Config offset of the hardware ATS capability (what pci_find_ext_capability() finds), 0 if none. */
  readonly atsCapOffset: number;
  /** The ATS Capability register (read-only): queue depth, Page Aligned Request, Global Invalidate. */
  readonly atsCapReg: number;
  /** Config offset of the PASID capability, 0 if none. */
  readonly pasidCapOffset: number;
  /** The PASID Capability register (read-only): EXEC, PRIV, Max PASID Width. */
  readonly pasidCapReg: number;
  /** Config offset of the PRI capability, 0 if none. */
  readonly priCapOffset: number;
  /** PRI Outstanding Page Request Capacity (read-only). */
  readonly priMaxReqs: number;
  /** PRI Status bit 15, PRG Response PASID Required (read-only). */
  readonly priStatusPasidRequired: boolean;
  /** CXL Device DVSEC (vendor 0x1E98, ID 0) with Cache_Capable set. */
  readonly cxlCacheCapable: boolean;
  /**
   * The kernel's `eetlp_prefix_path` / `eetlp_prefix_max != 0` (probe.c
   * pci_configure_eetlp_prefix()): the function supports End-End TLP Prefixes and so does every
   * bridge up to and including its Root Port.
   */
  readonly eeTlpPrefix: boolean;
  /** `dev->pasid_no_tlp`, set by quirk_huawei_pcie_sva() (PASID without TLP prefixes). */
  readonly pasidNoTlp: boolean;
  /** `pci_acs_path_enabled(dev, NULL, PCI_ACS_RR | PCI_ACS_UF)`, computed from the machine. */
  readonly acsPathRrUf: boolean;
}

/** Mutable kernel + register state of one function (plain data; cloned by the model). */
export interface PciDev {
  /** `dev->ats_cap`: ATS capability offset as the kernel knows it; 0 if none, `pci=noats`, or quirked. */
  atsCap: number;
  /** `dev->no_ats` (Matlack's v3 alternative only; never set otherwise). */
  noAts: boolean;
  /** `dev->ats_enabled`. */
  atsEnabled: boolean;
  /** `dev->ats_stu`: the page shift last programmed (u8); 0 if never. VFs read their PF's. */
  atsStu: number;
  /** The ATS Control register as the device holds it (ENABLE bit 15, STU bits 4:0). */
  atsCtrl: number;
  /** `dev->pri_cap`. */
  priCap: number;
  /** `dev->pri_enabled`. */
  priEnabled: boolean;
  /** `dev->pri_reqs_alloc`. */
  priReqsAlloc: number;
  /** The PRI Control register as the device holds it. */
  priCtrl: number;
  /** The PRI Outstanding Page Request Allocation register. */
  priAllocReq: number;
  /** PRI Status Stopped bit (device side: set while PRI is disabled and idle). */
  priStopped: boolean;
  /** `dev->pasid_required` (PRG Response PASID Required, cached by pci_pri_init()). */
  pasidRequired: boolean;
  /** `dev->pasid_cap`. */
  pasidCap: number;
  /** `dev->pasid_enabled`. */
  pasidEnabled: boolean;
  /** `dev->pasid_features`: the EXEC/PRIV bits enabled. */
  pasidFeatures: number;
  /** The PASID Control register as the device holds it. */
  pasidCtrl: number;
}

/** What the PCI functions need from their caller. The IOMMU model supplies its own (copy-on-write). */
export interface PciCtx {
  readonly kernel: KernelConfig;
  info(i: number): PciDevInfo;
  dev(i: number): Readonly<PciDev>;
  /** The function's state for writing (a copy-on-write context copies it here first). */
  mut(i: number): PciDev;
  emit(ev: KernelEvent): void;
}

/** A PciDev with every field zero/false: a function before enumeration with reset registers. */
export function newPciDev(): PciDev {
  return {
    atsCap: 0,
    noAts: false,
    atsEnabled: false,
    atsStu: 0,
    atsCtrl: 0,
    priCap: 0,
    priEnabled: false,
    priReqsAlloc: 0,
    priCtrl: 0,
    priAllocReq: 0,
    priStopped: true,
    pasidRequired: false,
    pasidCap: 0,
    pasidEnabled: false,
    pasidFeatures: 0,
    pasidCtrl: 0,
  };
}

/** A copy, field by field in newPciDev()'s order (faster than a spread on the model's hot path). */
export function clonePciDev(d: Readonly<PciDev>): PciDev {
  return {
    atsCap: d.atsCap,
    noAts: d.noAts,
    atsEnabled: d.atsEnabled,
    atsStu: d.atsStu,
    atsCtrl: d.atsCtrl,
    priCap: d.priCap,
    priEnabled: d.priEnabled,
    priReqsAlloc: d.priReqsAlloc,
    priCtrl: d.priCtrl,
    priAllocReq: d.priAllocReq,
    priStopped: d.priStopped,
    pasidRequired: d.pasidRequired,
    pasidCap: d.pasidCap,
    pasidEnabled: d.pasidEnabled,
    pasidFeatures: d.pasidFeatures,
    pasidCtrl: d.pasidCtrl,
  };
}

/** The simplest PciCtx: arrays mutated in place, events collected in order. */
export class SimplePciCtx implements PciCtx {
  readonly events: KernelEvent[] = [];

  constructor(
    readonly kernel: KernelConfig,
    readonly infos: readonly PciDevInfo[],
    readonly devs: PciDev[],
  ) {
    if (infos.length !== devs.length)
      throw new Error(`internal: ${infos.length} PciDevInfo but ${devs.length} PciDev`);
  }

  get count(): number {
    return this.infos.length;
  }

  info(i: number): PciDevInfo {
    const v = this.infos[i];
    if (v === undefined) throw new RangeError(`internal: no PCI function ${i}`);
    return v;
  }

  dev(i: number): Readonly<PciDev> {
    return this.mut(i);
  }

  mut(i: number): PciDev {
    const v = this.devs[i];
    if (v === undefined) throw new RangeError(`internal: no PCI function ${i}`);
    return v;
  }

  emit(ev: KernelEvent): void {
    this.events.push(ev);
  }

  /** Returns the events recorded so far and forgets them. */
  takeEvents(): KernelEvent[] {
    return this.events.splice(0, this.events.length);
  }

  /** Index of a function by BDF, or -1. */
  indexOf(bdf: Bdf): number {
    return this.infos.findIndex((f) => f.bdf === bdf);
  }
}

/**
 * The shape of `Machine` (src/pci/topology.ts) this module reads. Declared structurally so the
 * real Machine can be passed as is.
 */
export interface PciMachineFunction {
  readonly fn: PciFunction;
  readonly index: number;
  /** The upstream bridge's index, null on a root bus. */
  readonly parent: number | null;
  readonly isVirtfn: boolean;
  readonly physfn: number | null;
  readonly externalFacing: boolean;
  readonly untrusted: boolean;
}

export interface PciMachine {
  readonly functions: readonly PciMachineFunction[];
}

function machineFunction(m: PciMachine, i: number): PciMachineFunction {
  const mf = m.functions[i];
  if (mf === undefined) throw new Error(`internal: machine has no function ${i}`);
  if (mf.index !== i) throw new Error(`internal: machine function at ${i} has index ${mf.index}`);
  return mf;
}

/** `pci_upstream_bridge()`: a VF's is its PF's. */
function upstreamOf(m: PciMachine, i: number): number {
  const mf = machineFunction(m, i);
  const base = mf.isVirtfn && mf.physfn !== null ? machineFunction(m, mf.physfn) : mf;
  return base.parent ?? -1;
}

/** Walks upstream from `i` calling `step` until it returns a boolean or the root bus is passed. */
function walkUp(m: PciMachine, i: number, step: (k: number) => boolean | null): boolean {
  let k = i;
  for (let depth = 0; depth <= m.functions.length; depth++) {
    const r = step(k);
    if (r !== null) return r;
    const up = upstreamOf(m, k);
    if (up < 0) return true;
    k = up;
  }
  throw new Error(`internal: upstream bridge loop above function ${i}`);
}

/**
 * probe.c pci_configure_eetlp_prefix(): a Root Port or RCiEP with the DevCap2 End-End TLP Prefix
 * bit has the path; any other function needs the bit and an upstream bridge with the path.
 */
function eetlpPrefixPath(m: PciMachine, i: number): boolean {
  let k = i;
  for (let depth = 0; depth <= m.functions.length; depth++) {
    const ex = machineFunction(m, k).fn.express;
    if (ex === null || ex.eeTlpPrefix !== true) return false;
    if (ex.portType === PCI_EXP_TYPE.ROOT_PORT || ex.portType === PCI_EXP_TYPE.RC_END) return true;
    const up = upstreamOf(m, k);
    if (up < 0) return false;
    k = up;
  }
  throw new Error(`internal: upstream bridge loop above function ${i}`);
}

/** pci.c pci_acs_flags_enabled(): flags missing from the ACS capability count as hard-wired on. */
function acsFlagsEnabled(fn: PciFunction, flags: number): boolean {
  if (fn.acs === null) return false;
  const need = flags & ((fn.acs.capability ?? 0) | PCI_ACS.EC);
  return ((fn.acs.control ?? 0) & need) === need;
}

/**
 * pci.c pci_acs_enabled() without the device-specific ACS quirk table (pci_dev_specific_acs_enabled
 * is not modelled). Conventional PCI (no PCIe capability) never has ACS; an unknown port type is
 * treated as an endpoint; a VF is never multi-function.
 */
function acsEnabled(mf: PciMachineFunction, flags: number): boolean {
  const fn = mf.fn;
  if (fn.express === null) return false;
  const multifunction = !mf.isVirtfn && fn.header.multiFunction === true;
  switch (fn.express.portType) {
    case PCI_EXP_TYPE.PCIE_BRIDGE:
    case PCI_EXP_TYPE.PCI_BRIDGE:
    case PCI_EXP_TYPE.RC_EC:
      return false;
    case PCI_EXP_TYPE.DOWNSTREAM:
    case PCI_EXP_TYPE.ROOT_PORT:
      return acsFlagsEnabled(fn, flags);
    default:
      return multifunction ? acsFlagsEnabled(fn, flags) : true;
  }
}

/** pci.c pci_acs_path_enabled(dev, NULL, flags): the function itself and every bridge above it. */
export function acsPathEnabled(m: PciMachine, i: number, flags: number): boolean {
  return walkUp(m, i, (k) => (acsEnabled(machineFunction(m, k), flags) ? null : false));
}

/** The 16-bit ATS Capability register rebuilt from its decoded fields (unknown fields read 0). */
function atsCapRegister(fn: PciFunction): number {
  const a = fn.ats;
  if (a === null) return 0;
  return (
    ((a.queueDepthRaw ?? 0) & 0x1f) |
    (a.pageAligned === true ? PCI_ATS_CAP_PAGE_ALIGNED : 0) |
    (a.globalInvalidate === true ? PCI_ATS_CAP_GLOBAL_INV : 0)
  );
}

function pasidCapRegister(fn: PciFunction): number {
  const p = fn.pasid;
  if (p === null) return 0;
  return (
    (((p.width ?? 0) << 8) & PCI_PASID_CAP_WIDTH) |
    (p.exec === true ? PCI_PASID_CAP_EXEC : 0) |
    (p.priv === true ? PCI_PASID_CAP_PRIV : 0)
  );
}

/**
 * PciDevInfo for every function of a machine, by index. Unknown (null) fields get these defaults:
 *  - vendor/device/subsystem IDs and revision read as all ones (0xffff / 0xff), like a failed
 *    config read, so no quirk matches an unknown device;
 *  - capability registers read as 0: queue depth field 0 (= 32), no Page Aligned Request, PASID
 *    width 0 and no EXEC/PRIV, PRI capacity 0, PRG Response PASID Required clear;
 *  - an unknown CXL Cache_Capable bit is clear (pci_cxl_ats_required() treats a failed read as false);
 *  - an unknown DevCap2 End-End TLP Prefix bit is clear; an unknown ACS register reads 0.
 */
export function pciDevInfoFromMachine(m: PciMachine): PciDevInfo[] {
  return m.functions.map((_, i) => {
    const mf = machineFunction(m, i);
    const fn = mf.fn;
    const h = fn.header;
    return {
      index: i,
      bdf: fn.bdf,
      vendor: h.vendorId ?? 0xffff,
      device: h.deviceId ?? 0xffff,
      revision: h.revision ?? 0xff,
      subsystemVendor: h.subsystemVendorId ?? 0xffff,
      subsystemDevice: h.subsystemId ?? 0xffff,
      isVirtfn: mf.isVirtfn,
      physfn: mf.isVirtfn ? (mf.physfn ?? -1) : -1,
      upstreamBridge: upstreamOf(m, i),
      untrusted: mf.untrusted,
      externalFacing: mf.externalFacing,
      atsCapOffset: fn.ats?.offset ?? 0,
      atsCapReg: atsCapRegister(fn),
      pasidCapOffset: fn.pasid?.offset ?? 0,
      pasidCapReg: pasidCapRegister(fn),
      priCapOffset: fn.pri?.offset ?? 0,
      priMaxReqs: fn.pri?.capacity ?? 0,
      priStatusPasidRequired: fn.pri?.pasidRequired === true,
      cxlCacheCapable: fn.cxl?.cacheCapable === true,
      eeTlpPrefix: eetlpPrefixPath(m, i),
      pasidNoTlp: quirk_huawei_pcie_sva_applies(
        h.vendorId ?? 0xffff,
        h.deviceId ?? 0xffff,
        h.revision ?? 0xff,
      ),
      acsPathRrUf: acsPathEnabled(m, i, PCI_ACS.RR | PCI_ACS.UF),
    };
  });
}

/**
 * The initial PciDev of every function: kernel fields cleared (the kernel does not adopt firmware
 * state: ats_enabled starts 0 even if the device's ENABLE bit is set), device registers as the
 * machine shows them. Unknown registers read 0, except the PRI Stopped bit, which reads 1 (an
 * idle function with PRI disabled reports Stopped).
 */
export function initialPciDevs(m: PciMachine): PciDev[] {
  return m.functions.map((_, i) => {
    const fn = machineFunction(m, i).fn;
    const d = newPciDev();
    if (fn.ats !== null)
      d.atsCtrl = (fn.ats.enabled === true ? PCI_ATS_CTRL_ENABLE : 0) | ((fn.ats.stuRaw ?? 0) & 0x1f);
    if (fn.pri !== null) {
      d.priCtrl =
        (fn.pri.enabled === true ? PCI_PRI_CTRL_ENABLE : 0) |
        (fn.pri.reset === true ? PCI_PRI_CTRL_RESET : 0);
      d.priAllocReq = fn.pri.allocation ?? 0;
      d.priStopped = fn.pri.stopped ?? true;
    }
    if (fn.pasid !== null)
      d.pasidCtrl =
        (fn.pasid.enabled === true ? PCI_PASID_CTRL_ENABLE : 0) |
        (fn.pasid.execEnabled === true ? PCI_PASID_CTRL_EXEC : 0) |
        (fn.pasid.privEnabled === true ? PCI_PASID_CTRL_PRIV : 0);
    return d;
  });
}

/** probe.c pci_init_capabilities(), the ATS/PRI/PASID part: pci_ats_init, pci_pri_init, pci_pasid_init. */
export function pci_init_capabilities(ctx: PciCtx, i: number): void {
  pci_ats_init(ctx, i);
  pci_pri_init(ctx, i);
  pci_pasid_init(ctx, i);
}

/**
 * Enumerates one function the way probe.c does, for the parts modelled: HEADER fixups
 * (pci_setup_device), pci_init_capabilities (pci_device_add), FINAL fixups (pci_bus_add_device).
 * A caller that models the IOMMU bus notifier (device_add, between the last two) calls the three
 * steps itself.
 */
export function pci_enumerate_device(ctx: PciCtx, i: number): void {
  pci_fixup_device(ctx, 'header', i);
  pci_init_capabilities(ctx, i);
  pci_fixup_device(ctx, 'final', i);
}

/** Indices of the functions in BDF order (canonical BDF text sorts numerically). */
export function bdfOrder(infos: readonly PciDevInfo[]): number[] {
  return infos
    .map((f) => f.index)
    .sort((a, b) => {
      const x = infos[a]!.bdf;
      const y = infos[b]!.bdf;
      return x < y ? -1 : x > y ? 1 : 0;
    });
}

/** Builds a SimplePciCtx for a machine and enumerates every function in BDF order. */
export function createPciCtx(machine: PciMachine, kernel: KernelConfig): SimplePciCtx {
  const infos = pciDevInfoFromMachine(machine);
  const ctx = new SimplePciCtx(kernel, infos, initialPciDevs(machine));
  for (const i of bdfOrder(infos)) pci_enumerate_device(ctx, i);
  return ctx;
}
