/**
 * The PCI core's Page Request Interface functions: drivers/pci/ats.c (CONFIG_PCI_PRI part),
 * written anew over a PciCtx. VFs have no PRI capability of their own (PCIe r5.0 sec 9.3.7.11):
 * they share their PF's, so most functions answer for the PF or do nothing on a VF.
 */
import { EBUSY, EINVAL } from '../kernel/errno.js';
import { WARN_ON, emitConfigWrite, traceReturn } from '../kernel/events.js';
import { pci_physfn } from './ats.js';
import { PCI_PRI_ALLOC_REQ, PCI_PRI_CTRL, PCI_PRI_CTRL_ENABLE, PCI_PRI_CTRL_RESET } from './caps/pri.js';
import type { PciCtx } from './pci-dev.js';

/**
 * Writes PRI Control. Device side (simplified): Stopped clears while Enable is set and is set
 * again when Enable clears (no outstanding page requests are modelled).
 */
function writePriCtrl(ctx: PciCtx, i: number, value: number): void {
  const d = ctx.mut(i);
  d.priCtrl = value;
  d.priStopped = (value & PCI_PRI_CTRL_ENABLE) === 0;
  emitConfigWrite(ctx, ctx.info(i).bdf, d.priCap + PCI_PRI_CTRL, 2, value, 'PCI_PRI_CTRL');
}

function writePriAllocReq(ctx: PciCtx, i: number, value: number): void {
  const d = ctx.mut(i);
  d.priAllocReq = value;
  emitConfigWrite(ctx, ctx.info(i).bdf, d.priCap + PCI_PRI_ALLOC_REQ, 4, value, 'PCI_PRI_ALLOC_REQ');
}

/** ats.c pci_pri_init(): caches the PRI capability offset and the PRG Response PASID Required bit. */
export function pci_pri_init(ctx: PciCtx, i: number): void {
  const info = ctx.info(i);
  if (info.priCapOffset === 0) return;
  const d = ctx.mut(i);
  d.priCap = info.priCapOffset;
  if (info.priStatusPasidRequired) d.pasidRequired = true;
}

/**
 * ats.c pci_enable_pri(): on a VF, 0 if the PF's PRI is enabled, else -EINVAL. On a PF: WARN and
 * -EBUSY if already enabled, -EINVAL without the capability, -EBUSY unless PRI Status shows
 * Stopped; then allocates min(capacity, reqs) requests and sets Enable.
 */
export function pci_enable_pri(ctx: PciCtx, i: number, reqs: number): number {
  const fn = 'pci_enable_pri';
  const info = ctx.info(i);
  if (info.isVirtfn)
    return traceReturn(ctx, fn, info.bdf, ctx.dev(pci_physfn(ctx, i)).priEnabled ? 0 : -EINVAL);
  const d = ctx.dev(i);
  if (WARN_ON(ctx, d.priEnabled, fn, info.bdf, 'PRI already enabled'))
    return traceReturn(ctx, fn, info.bdf, -EBUSY);
  if (d.priCap === 0) return traceReturn(ctx, fn, info.bdf, -EINVAL);
  if (!d.priStopped) return traceReturn(ctx, fn, info.bdf, -EBUSY);
  const alloc = Math.min(info.priMaxReqs >>> 0, reqs >>> 0); // both u32
  ctx.mut(i).priReqsAlloc = alloc;
  writePriAllocReq(ctx, i, alloc);
  writePriCtrl(ctx, i, PCI_PRI_CTRL_ENABLE);
  ctx.mut(i).priEnabled = true;
  return traceReturn(ctx, fn, info.bdf, 0);
}

/** ats.c pci_disable_pri(): nothing on a VF; WARN if not enabled; clears Enable (read-modify-write). */
export function pci_disable_pri(ctx: PciCtx, i: number): void {
  const info = ctx.info(i);
  if (info.isVirtfn) return;
  const d = ctx.dev(i);
  if (WARN_ON(ctx, !d.priEnabled, 'pci_disable_pri', info.bdf, 'PRI not enabled')) return;
  if (d.priCap === 0) return;
  writePriCtrl(ctx, i, d.priCtrl & ~PCI_PRI_CTRL_ENABLE & 0xffff);
  ctx.mut(i).priEnabled = false;
}

/** ats.c pci_restore_pri_state(): on an enabled PF, rewrites the allocation and Enable. */
export function pci_restore_pri_state(ctx: PciCtx, i: number): void {
  if (ctx.info(i).isVirtfn) return;
  const d = ctx.dev(i);
  if (!d.priEnabled || d.priCap === 0) return;
  writePriAllocReq(ctx, i, d.priReqsAlloc);
  writePriCtrl(ctx, i, PCI_PRI_CTRL_ENABLE);
}

/** ats.c pci_reset_pri(): 0 on a VF; WARN and -EBUSY while enabled; -EINVAL without the capability; writes Reset. */
export function pci_reset_pri(ctx: PciCtx, i: number): number {
  const fn = 'pci_reset_pri';
  const info = ctx.info(i);
  if (info.isVirtfn) return traceReturn(ctx, fn, info.bdf, 0);
  const d = ctx.dev(i);
  if (WARN_ON(ctx, d.priEnabled, fn, info.bdf, 'PRI enabled')) return traceReturn(ctx, fn, info.bdf, -EBUSY);
  if (d.priCap === 0) return traceReturn(ctx, fn, info.bdf, -EINVAL);
  writePriCtrl(ctx, i, PCI_PRI_CTRL_RESET);
  return traceReturn(ctx, fn, info.bdf, 0);
}

/** ats.c pci_prg_resp_pasid_required(): 1 if PRG Responses need a PASID (a VF answers for its PF), else 0. */
export function pci_prg_resp_pasid_required(ctx: PciCtx, i: number): number {
  return ctx.dev(pci_physfn(ctx, i)).pasidRequired ? 1 : 0;
}

/** ats.c pci_pri_supported(): the PF (the function itself if not a VF) has a PRI capability. */
export function pci_pri_supported(ctx: PciCtx, i: number): boolean {
  return ctx.dev(pci_physfn(ctx, i)).priCap !== 0;
}
