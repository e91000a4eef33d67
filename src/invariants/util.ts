/**
 * Helpers the invariant checkers share: what the kernel state says about one function (its group,
 * the RID domain in force, whether it needs ATS), and cheap finding lists. Checkers run after every
 * step of an exhaustive exploration, so these allocate nothing on the path where an invariant holds.
 */
import { IOMMU_DOMAIN_BLOCKED, IOMMU_DOMAIN_IDENTITY, isPagingDomain } from '../iommu/domain-type.js';
import type { KernelEvent } from '../kernel/events.js';
import {
  pci_ats_supported,
  pci_cxl_ats_required,
  pci_dev_specific_ats_required,
  pci_physfn,
} from '../pci/ats.js';
import { PCI_ATS_CTRL_ENABLE } from '../pci/caps/ats.js';
import type { Bdf } from '../pci/bdf.js';
import { __IOMMU_DOMAIN_SVA } from '../iommu/domain-type.js';
import type { SystemState } from '../model/state.js';
import type { Tx } from '../model/tx.js';
import type { World } from '../model/world.js';
import type { Finding } from './invariant.js';

/** The shared empty result: checkers return it when the invariant holds. */
export const NO_FINDINGS: readonly Finding[] = Object.freeze([]);

/** `translation_domain()` answers for a RID or PASID that the IOMMU aborts or bypasses. */
export const TRANSLATION_ABORT = -1;
export const TRANSLATION_BYPASS = -2;

/** Appends a finding, creating the list on first use (so a holding invariant allocates nothing). */
export function push(out: Finding[] | null, detail: string, bdf?: Bdf): Finding[] {
  const list = out ?? [];
  list.push(bdf === undefined ? { detail } : { detail, bdf });
  return list;
}

export function done(out: Finding[] | null): readonly Finding[] {
  return out ?? NO_FINDINGS;
}

/** No thread is in the middle of a split operation: the points where the kernel's locks are all free. */
export function quiescent(s: SystemState): boolean {
  for (const t of s.threads) if (t.cont !== null) return false;
  return true;
}

export function bdfOf(w: World, f: number): Bdf {
  return w.infos[f]!.bdf;
}

/** The function is present and probed by the IOMMU: it has a group, a master and a RID domain. */
export function managed(view: Tx, f: number): boolean {
  return view.world.groupOf[f]! >= 0 && view.device(f).present && view.gdev(f).probed;
}

/** A domain that blocks everything: the BLOCKED type, or the group's blocking domain (an empty paging domain without ops->blocked_domain). */
export function isBlocking(view: Tx, g: number, d: number): boolean {
  if (d < 0) return false;
  if (d === view.group(g).blockingDomain) return true;
  const dom = view.domainOrNull(d);
  return dom !== null && dom.type === IOMMU_DOMAIN_BLOCKED;
}

/**
 * iommu_driver_get_domain_for_dev(): the RID domain in force for f: the group's blocking domain
 * while f is parked for a reset (gdev->blocked), else group->domain (-1 when none).
 */
export function effectiveRidDomain(view: Tx, f: number): number {
  const g = view.world.groupOf[f]!;
  if (g < 0) return -1;
  const grp = view.group(g);
  return view.gdev(f).blocked ? grp.blockingDomain : grp.domain;
}

/** The effective RID domain blocks DMA (or f is parked for a reset). */
export function ridBlocked(view: Tx, f: number): boolean {
  const g = view.world.groupOf[f]!;
  if (g < 0) return false;
  if (view.gdev(f).blocked) return true;
  return isBlocking(view, g, view.group(g).domain);
}

/** What `translation_domain()` should answer for a function attached to domain d. */
export function expectedTranslation(view: Tx, d: number): number {
  if (d < 0) return TRANSLATION_ABORT;
  const dom = view.domainOrNull(d);
  if (dom === null) return TRANSLATION_ABORT;
  if (dom.type === IOMMU_DOMAIN_BLOCKED) return TRANSLATION_ABORT;
  if (dom.type === IOMMU_DOMAIN_IDENTITY) return TRANSLATION_BYPASS;
  return d;
}

/** The PASIDs attached to f through its group (none while f is parked for a reset, or without PASID support). */
export function devicePasidCount(view: Tx, f: number): number {
  const g = view.world.groupOf[f]!;
  if (g < 0 || view.gdev(f).blocked || view.world.maxPasids[f] === 0) return 0;
  return view.group(g).pasids.length >> 1;
}

/** A domain the SMMU driver gives an smmu_domain (nr_ats_masters, invs): paging and SVA domains. */
export function hasDriverDomain(view: Tx, d: number): boolean {
  const dom = view.domainOrNull(d);
  return dom !== null && (isPagingDomain(dom.type) || (dom.type & __IOMMU_DOMAIN_SVA) !== 0);
}

/**
 * The function needs ATS to reach host memory at all, whatever the kernel knows about it: it is
 * ATS-supported and its PF is CXL.cache-capable or a pre-CXL coherent part. This is
 * pci_ats_required() without the `ats-required` switch, so it also holds on kernels before v7.2.
 */
export function deviceNeedsAts(view: Tx, f: number): boolean {
  if (!pci_ats_supported(view, f)) return false;
  const pf = pci_physfn(view, f);
  return pci_cxl_ats_required(view, pf) || pci_dev_specific_ats_required(view, pf);
}

/** The device's ATS Control register has ENABLE set (what the function itself does). */
export function deviceAtsOn(view: Tx, f: number): boolean {
  return (view.dev(f).atsCtrl & PCI_ATS_CTRL_ENABLE) !== 0;
}

/** The function index of a BDF, or -1. */
export function indexOfBdf(w: World, bdf: Bdf): number {
  return w.machine.byBdf.get(bdf) ?? -1;
}

/** Whether any event of the step is of this kind (cheap pre-filter for event checkers). */
export function hasEvent(events: readonly KernelEvent[], kind: KernelEvent['kind']): boolean {
  for (const e of events) if (e.kind === kind) return true;
  return false;
}

/** The device-TLB invalidation commands of VT-d and AMD-Vi (`iommu-cmd` events). */
const X86_ATC_INV = new Set(['QI_DEV_IOTLB', 'QI_DEV_EIOTLB', 'CMD_INV_IOTLB_PAGES']);

/**
 * An ATC invalidation sent to a function, whatever the IOMMU: SMMUv3 CMD_ATC_INV, VT-d
 * QI_DEV_IOTLB / QI_DEV_EIOTLB, AMD-Vi CMD_INV_IOTLB_PAGES. Its target, page and span, or null.
 */
export function atcInvOf(e: KernelEvent): { bdf: Bdf; page?: number; span?: number } | null {
  if (e.kind === 'smmu-cmd' && e.cmd === 'CMD_ATC_INV' && e.bdf !== undefined) return e as { bdf: Bdf };
  if (e.kind === 'iommu-cmd' && X86_ATC_INV.has(e.cmd) && e.bdf !== undefined) return e as { bdf: Bdf };
  return null;
}

/** A command that waits for earlier invalidations: SMMUv3 CMD_SYNC, VT-d QI_IWD, AMD-Vi CMD_COMPL_WAIT. */
export function syncOf(e: KernelEvent): { result?: 'ok' | 'timeout' } | null {
  if (e.kind === 'smmu-cmd' && e.cmd === 'CMD_SYNC') return e;
  if (e.kind === 'iommu-cmd' && (e.cmd === 'QI_IWD' || e.cmd === 'CMD_COMPL_WAIT')) return e;
  return null;
}

/** The step issued IOMMU commands (any driver). */
export function hasCommands(events: readonly KernelEvent[]): boolean {
  return hasEvent(events, 'smmu-cmd') || hasEvent(events, 'iommu-cmd');
}
