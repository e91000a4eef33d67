/**
 * The PCI core's ATS functions: drivers/pci/ats.c (and pci_physfn() from include/linux/pci.h),
 * written anew over a PciCtx. Behaviour that changed between releases follows the kernel switches
 * (src/kernel/switches.ts); the commit is cited where a switch applies.
 *
 * Return conventions follow the kernel: ints are 0 or a negative errno, WARN_ON()s become `warn`
 * events, register writes become `config-write` events with the exact value written.
 */
import { EBUSY, EINVAL } from '../kernel/errno.js';
import { WARN_ON, emitConfigWrite, traceReturn } from '../kernel/events.js';
import {
  PCI_ATS_CAP_PAGE_ALIGNED,
  PCI_ATS_CAP_QDEP,
  PCI_ATS_CTRL,
  PCI_ATS_CTRL_ENABLE,
  PCI_ATS_CTRL_STU,
  PCI_ATS_MAX_QDEP,
  PCI_ATS_MIN_STU,
} from './caps/ats.js';
import type { PciCtx } from './pci-dev.js';

/** include/linux/pci.h pci_physfn(): the PF of a VF, the function itself otherwise. */
export function pci_physfn(ctx: PciCtx, i: number): number {
  const info = ctx.info(i);
  return info.isVirtfn && info.physfn >= 0 ? info.physfn : i;
}

/** drivers/pci/pci.c pci_ats_disabled(): `pci=noats` was given. */
export function pci_ats_disabled(ctx: PciCtx): boolean {
  return ctx.kernel.cmdline.pciNoAts;
}

/**
 * Writes the ATS Control register at `ats_cap + PCI_ATS_CTRL`, as the kernel does. If ats_cap
 * was zeroed under an enabled function (a FINAL quirk after the IOMMU enabled ATS), that offset
 * is 0x06, the PCI Status register: the write is recorded there and the device's ATS Control
 * register keeps its value.
 */
function writeAtsCtrl(ctx: PciCtx, i: number, value: number): void {
  const cap = ctx.dev(i).atsCap;
  if (cap !== 0) ctx.mut(i).atsCtrl = value;
  emitConfigWrite(
    ctx,
    ctx.info(i).bdf,
    cap + PCI_ATS_CTRL,
    2,
    value,
    cap !== 0 ? 'PCI_ATS_CTRL' : 'PCI_STATUS',
  );
}

/** Reads the ATS Control register; with ats_cap 0 this reads PCI Status, which is not modelled (0). */
function readAtsCtrl(ctx: PciCtx, i: number): number {
  const d = ctx.dev(i);
  return d.atsCap !== 0 ? d.atsCtrl : 0;
}

/**
 * ats.c pci_ats_init(): caches the ATS capability offset unless `pci=noats`. With the
 * `ats-quirk-header-fixup` alternative (Matlack v3), a function quirked by a HEADER fixup
 * (`no_ats`) is skipped too.
 */
export function pci_ats_init(ctx: PciCtx, i: number): void {
  if (pci_ats_disabled(ctx)) return;
  if (ctx.kernel.switches['ats-quirk-header-fixup'] && ctx.dev(i).noAts) return;
  const pos = ctx.info(i).atsCapOffset;
  if (pos === 0) return;
  ctx.mut(i).atsCap = pos;
}

/**
 * ats.c pci_ats_supported(): the function has ATS and is trusted. With `ats-supported-pf-aware`
 * (4f2cd6091ac4, v7.3) a VF passes the local check and then also needs its PF supported.
 */
export function pci_ats_supported(ctx: PciCtx, i: number): boolean {
  const d = ctx.dev(i);
  const info = ctx.info(i);
  if (d.atsCap === 0 || info.untrusted) return false;
  if (ctx.kernel.switches['ats-supported-pf-aware'] && info.isVirtfn) {
    const pf = pci_physfn(ctx, i);
    if (pf !== i) return pci_ats_supported(ctx, pf);
  }
  return true;
}

/**
 * ats.c pci_prepare_ats() (2665d975db35): programs the STU on a PF at IOMMU probe without
 * enabling ATS. A VF writes nothing; with `prepare-ats-vf-stu-check` (6fd7c5c81af2, v7.3) it
 * fails unless its PF's STU equals `ps`.
 */
export function pci_prepare_ats(ctx: PciCtx, i: number, ps: number): number {
  const fn = 'pci_prepare_ats';
  const info = ctx.info(i);
  if (!pci_ats_supported(ctx, i)) return traceReturn(ctx, fn, info.bdf, -EINVAL);
  if (WARN_ON(ctx, ctx.dev(i).atsEnabled, fn, info.bdf, 'ATS already enabled'))
    return traceReturn(ctx, fn, info.bdf, -EBUSY);
  if (ps < PCI_ATS_MIN_STU) return traceReturn(ctx, fn, info.bdf, -EINVAL);
  if (info.isVirtfn) {
    if (ctx.kernel.switches['prepare-ats-vf-stu-check'] && ctx.dev(pci_physfn(ctx, i)).atsStu !== ps)
      return traceReturn(ctx, fn, info.bdf, -EINVAL);
    return traceReturn(ctx, fn, info.bdf, 0);
  }
  const stu = ps & 0xff; // ats_stu is a u8
  ctx.mut(i).atsStu = stu;
  writeAtsCtrl(ctx, i, PCI_ATS_CTRL_STU(stu - PCI_ATS_MIN_STU));
  return traceReturn(ctx, fn, info.bdf, 0);
}

/**
 * ats.c pci_enable_ats(): a PF programs STU and ENABLE together; a VF sets ENABLE only, and only
 * if its PF's STU already equals `ps`.
 */
export function pci_enable_ats(ctx: PciCtx, i: number, ps: number): number {
  const fn = 'pci_enable_ats';
  const info = ctx.info(i);
  if (!pci_ats_supported(ctx, i)) return traceReturn(ctx, fn, info.bdf, -EINVAL);
  if (WARN_ON(ctx, ctx.dev(i).atsEnabled, fn, info.bdf, 'ATS already enabled'))
    return traceReturn(ctx, fn, info.bdf, -EBUSY);
  if (ps < PCI_ATS_MIN_STU) return traceReturn(ctx, fn, info.bdf, -EINVAL);
  let ctrl = PCI_ATS_CTRL_ENABLE;
  if (info.isVirtfn) {
    if (ctx.dev(pci_physfn(ctx, i)).atsStu !== ps) return traceReturn(ctx, fn, info.bdf, -EINVAL);
  } else {
    const stu = ps & 0xff;
    ctx.mut(i).atsStu = stu;
    ctrl |= PCI_ATS_CTRL_STU(stu - PCI_ATS_MIN_STU);
  }
  writeAtsCtrl(ctx, i, ctrl);
  ctx.mut(i).atsEnabled = true;
  return traceReturn(ctx, fn, info.bdf, 0);
}

/** ats.c pci_disable_ats(): WARNs if ATS is off; clears ENABLE by read-modify-write (STU kept). */
export function pci_disable_ats(ctx: PciCtx, i: number): void {
  const info = ctx.info(i);
  if (WARN_ON(ctx, !ctx.dev(i).atsEnabled, 'pci_disable_ats', info.bdf, 'ATS not enabled')) return;
  writeAtsCtrl(ctx, i, readAtsCtrl(ctx, i) & ~PCI_ATS_CTRL_ENABLE & 0xffff);
  ctx.mut(i).atsEnabled = false;
}

/** ats.c pci_restore_ats_state(): after a reset or resume, rewrites ENABLE (and a PF's STU). */
export function pci_restore_ats_state(ctx: PciCtx, i: number): void {
  const d = ctx.dev(i);
  if (!d.atsEnabled) return;
  let ctrl = PCI_ATS_CTRL_ENABLE;
  if (!ctx.info(i).isVirtfn) ctrl |= PCI_ATS_CTRL_STU(d.atsStu - PCI_ATS_MIN_STU);
  writeAtsCtrl(ctx, i, ctrl);
}

/**
 * ats.c pci_ats_queue_depth(): -EINVAL without ats_cap; 0 for a VF (it shares its PF's queue);
 * else the Invalidate Queue Depth, whose field value 0 means 32.
 */
export function pci_ats_queue_depth(ctx: PciCtx, i: number): number {
  if (ctx.dev(i).atsCap === 0) return -EINVAL;
  if (ctx.info(i).isVirtfn) return 0;
  const qdep = PCI_ATS_CAP_QDEP(ctx.info(i).atsCapReg);
  return qdep !== 0 ? qdep : PCI_ATS_MAX_QDEP;
}

/** ats.c pci_ats_page_aligned(): 1 if the Page Aligned Request bit is set, else 0 (0 without ats_cap). */
export function pci_ats_page_aligned(ctx: PciCtx, i: number): number {
  if (ctx.dev(i).atsCap === 0) return 0;
  return (ctx.info(i).atsCapReg & PCI_ATS_CAP_PAGE_ALIGNED) !== 0 ? 1 : 0;
}

/**
 * ats.c pci_cxl_ats_required() (91561e1dc94b): the function has a CXL Device DVSEC with
 * Cache_Capable set. A helper of pci_ats_required(); it answers whatever the switches.
 */
export function pci_cxl_ats_required(ctx: PciCtx, i: number): boolean {
  return ctx.info(i).cxlCacheCapable;
}

/** PCI_VENDOR_ID_NVIDIA. */
export const PCI_VENDOR_ID_NVIDIA = 0x10de;

/**
 * The pre-CXL devices of quirks.c pci_dev_specific_ats_required() (073e63812525): NVIDIA parts
 * using cache-coherent NVLink-C2C. UNVERIFIED: these are the IDs of Nicolin Chen's RFCv1; v2
 * added the "CX10 family" and the merged list was not read from source.
 */
export const PRE_CXL_ATS_REQUIRED_IDS: readonly { readonly vendor: number; readonly device: number }[] = [
  { vendor: PCI_VENDOR_ID_NVIDIA, device: 0x2e12 },
  { vendor: PCI_VENDOR_ID_NVIDIA, device: 0x2e2a },
  { vendor: PCI_VENDOR_ID_NVIDIA, device: 0x2e2b },
];

/** quirks.c pci_dev_specific_ats_required() (073e63812525): the function is in the pre-CXL table. */
export function pci_dev_specific_ats_required(ctx: PciCtx, i: number): boolean {
  const info = ctx.info(i);
  return PRE_CXL_ATS_REQUIRED_IDS.some((e) => e.vendor === info.vendor && e.device === info.device);
}

export type AtsRequiredReason = 'cxl-cache' | 'quirk';

/**
 * pci_ats_required() with its reason: null when not required, else why (CXL checked first, as
 * the kernel's `||` does). Null whenever the `ats-required` switch is off.
 */
export function pci_ats_required_reason(ctx: PciCtx, i: number): AtsRequiredReason | null {
  if (!ctx.kernel.switches['ats-required']) return null;
  if (!pci_ats_supported(ctx, i)) return null;
  const j = pci_physfn(ctx, i); // a VF inherits its PF's requirement
  if (pci_cxl_ats_required(ctx, j)) return 'cxl-cache';
  if (pci_dev_specific_ats_required(ctx, j)) return 'quirk';
  return null;
}

/**
 * ats.c pci_ats_required() (91561e1dc94b + 073e63812525, v7.2; named pci_ats_always_on() until
 * v5 of the series): the function needs ATS to work at all. False for unsupported (so untrusted)
 * functions; a VF answers for its PF. False when the `ats-required` switch is off: the function
 * did not exist and no caller asks.
 */
export function pci_ats_required(ctx: PciCtx, i: number): boolean {
  return pci_ats_required_reason(ctx, i) !== null;
}
