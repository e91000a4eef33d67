/**
 * The PCI core's PASID functions: drivers/pci/ats.c (CONFIG_PCI_PASID part), written anew over a
 * PciCtx. VFs have no PASID capability of their own: they share their PF's configuration.
 */
import { EBUSY, EINVAL } from '../kernel/errno.js';
import { WARN_ON, emitConfigWrite, traceReturn } from '../kernel/events.js';
import { pci_physfn } from './ats.js';
import {
  PCI_PASID_CAP_EXEC,
  PCI_PASID_CAP_PRIV,
  PCI_PASID_CAP_WIDTH,
  PCI_PASID_CTRL,
  PCI_PASID_CTRL_ENABLE,
  PCI_PASID_CTRL_EXEC,
  PCI_PASID_CTRL_PRIV,
} from './caps/pasid.js';
import type { PciCtx } from './pci-dev.js';

function writePasidCtrl(ctx: PciCtx, i: number, value: number): void {
  const d = ctx.mut(i);
  d.pasidCtrl = value;
  emitConfigWrite(ctx, ctx.info(i).bdf, d.pasidCap + PCI_PASID_CTRL, 2, value, 'PCI_PASID_CTRL');
}

/**
 * The path checks of pci_enable_pasid() for PF i: the path carries End-End TLP Prefixes (or the
 * function uses PASID without them), and, with switch `pasid-acs-path` (201007ef707a, v6.2), ACS
 * Request Redirect and Upstream Forwarding are enabled on the whole path to the root.
 */
export function pasidPathCarries(ctx: PciCtx, i: number): boolean {
  const info = ctx.info(i);
  if (!info.eeTlpPrefix && !info.pasidNoTlp) return false;
  return !ctx.kernel.switches['pasid-acs-path'] || info.acsPathRrUf;
}

/** ats.c pci_pasid_init(): caches the PASID capability offset. */
export function pci_pasid_init(ctx: PciCtx, i: number): void {
  const pos = ctx.info(i).pasidCapOffset;
  if (pos === 0) return;
  ctx.mut(i).pasidCap = pos;
}

/**
 * ats.c pci_enable_pasid(): on a VF, 0 if the PF's PASID is enabled, else -EINVAL. On a PF: WARN
 * and -EBUSY if already enabled; -EINVAL without an End-End TLP Prefix path (unless the device
 * uses PASID without prefixes), without the capability, without ACS RR+UF on the whole path
 * (switch `pasid-acs-path`, 201007ef707a), or if `features` asks for anything beyond the supported
 * EXEC/PRIV bits. Then writes ENABLE | features.
 */
export function pci_enable_pasid(ctx: PciCtx, i: number, features: number): number {
  const fn = 'pci_enable_pasid';
  const info = ctx.info(i);
  if (info.isVirtfn)
    return traceReturn(ctx, fn, info.bdf, ctx.dev(pci_physfn(ctx, i)).pasidEnabled ? 0 : -EINVAL);
  const d = ctx.dev(i);
  if (WARN_ON(ctx, d.pasidEnabled, fn, info.bdf, 'PASID already enabled'))
    return traceReturn(ctx, fn, info.bdf, -EBUSY);
  // The prefix, capability and ACS checks all answer -EINVAL with nothing written.
  if (!pasidPathCarries(ctx, i) || d.pasidCap === 0) return traceReturn(ctx, fn, info.bdf, -EINVAL);
  const supported = info.pasidCapReg & (PCI_PASID_CAP_EXEC | PCI_PASID_CAP_PRIV);
  if ((supported & features) !== features) return traceReturn(ctx, fn, info.bdf, -EINVAL);
  ctx.mut(i).pasidFeatures = features;
  writePasidCtrl(ctx, i, (PCI_PASID_CTRL_ENABLE | features) & 0xffff);
  ctx.mut(i).pasidEnabled = true;
  return traceReturn(ctx, fn, info.bdf, 0);
}

/** ats.c pci_disable_pasid(): nothing on a VF; WARN if not enabled; writes 0 to PASID Control. */
export function pci_disable_pasid(ctx: PciCtx, i: number): void {
  const info = ctx.info(i);
  if (info.isVirtfn) return;
  const d = ctx.dev(i);
  if (WARN_ON(ctx, !d.pasidEnabled, 'pci_disable_pasid', info.bdf, 'PASID not enabled')) return;
  if (d.pasidCap === 0) return;
  writePasidCtrl(ctx, i, 0);
  ctx.mut(i).pasidEnabled = false;
}

/** ats.c pci_restore_pasid_state(): on an enabled PF, rewrites ENABLE | features. */
export function pci_restore_pasid_state(ctx: PciCtx, i: number): void {
  if (ctx.info(i).isVirtfn) return;
  const d = ctx.dev(i);
  if (!d.pasidEnabled || d.pasidCap === 0) return;
  writePasidCtrl(ctx, i, (PCI_PASID_CTRL_ENABLE | d.pasidFeatures) & 0xffff);
}

/** ats.c pci_pasid_features(): the supported EXEC/PRIV bits (a VF answers for its PF); -EINVAL without the capability. */
export function pci_pasid_features(ctx: PciCtx, i: number): number {
  const pf = pci_physfn(ctx, i);
  if (ctx.dev(pf).pasidCap === 0) return -EINVAL;
  return ctx.info(pf).pasidCapReg & (PCI_PASID_CAP_EXEC | PCI_PASID_CAP_PRIV);
}

/**
 * ats.c pci_max_pasids(): 1 << Max PASID Width (a VF answers for its PF); -EINVAL without the
 * capability. Computed as a 32-bit int like the kernel, so a width of 31 comes out negative.
 */
export function pci_max_pasids(ctx: PciCtx, i: number): number {
  const pf = pci_physfn(ctx, i);
  if (ctx.dev(pf).pasidCap === 0) return -EINVAL;
  return 1 << ((ctx.info(pf).pasidCapReg & PCI_PASID_CAP_WIDTH) >> 8);
}

/** ats.c pci_pasid_status(): the ENABLE/EXEC/PRIV bits of PASID Control (a VF answers for its PF); -EINVAL without the capability. */
export function pci_pasid_status(ctx: PciCtx, i: number): number {
  const pf = pci_physfn(ctx, i);
  const d = ctx.dev(pf);
  if (d.pasidCap === 0) return -EINVAL;
  return d.pasidCtrl & (PCI_PASID_CTRL_ENABLE | PCI_PASID_CTRL_EXEC | PCI_PASID_CTRL_PRIV);
}
