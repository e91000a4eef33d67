/**
 * VT-d invalidation (dmar.c qi_submit_sync(), qi_flush_iotlb(), qi_flush_piotlb(),
 * qi_flush_dev_iotlb(), qi_flush_dev_iotlb_pasid(), qi_check_fault(); cache.c
 * cache_tag_flush_range(), cache_tag_flush_all()). Descriptors go to the invalidation queue as
 * `iommu-cmd` events; a wait descriptor (QI_IWD) ends each batch and completes when every
 * device-TLB invalidation before it was answered. A device that does not answer makes the
 * hardware report an Invalidation Time-out Error (ITE): qi_check_fault() clears it and the
 * submission fails.
 *
 * Device-TLB invalidations go to every function attached to the domain (RID or PASID) whose
 * info->ats_enabled is set when the flush runs (the DEVTLB cache tags of cache.c). The
 * descriptor carries the invalidation queue depth (info->ats_qdep; 32 is encoded as 0,
 * QI_DEV_IOTLB_MAX_INVS) and the address as a naturally aligned power-of-two block.
 */
import { ETIMEDOUT } from '../../kernel/errno.js';
import type { Tx } from '../../model/tx.js';
import {
  atc_inv_complete,
  atc_inv_request,
  atc_invalidate,
  deviceAnswersInvalidation,
} from '../../device/atc.js';
import { iotlb_invalidate_range } from '../../device/dma.js';
import { holdFlushLock } from '../flush-lock.js';
import { dmarDomain, getInfo } from './info.js';

/** The log2 span that means "everything" (address 0, mask MAX_AGAW_PFN_WIDTH). */
export const SPAN_ALL = 52;
/** QI_DEV_IOTLB_MAX_INVS: a queue depth of 32 is encoded as 0. */
const QI_DEV_IOTLB_MAX_INVS = 32;

/** The naturally aligned power-of-two block of pages covering [iova, iova + pages); pages 0 is everything. */
export function qiRange(iova: number, pages: number): { page: number; span: number } {
  if (pages <= 0) return { page: 0, span: SPAN_ALL };
  const last = iova + pages - 1;
  let span = 0;
  while (iova >>> span !== last >>> span) span++;
  return { page: (iova >>> span) << span, span };
}

function qdepField(qdep: number): number {
  return qdep >= QI_DEV_IOTLB_MAX_INVS ? 0 : qdep;
}

/** qi_flush_dev_iotlb() / qi_flush_dev_iotlb_pasid(): one device-TLB descriptor for f. */
export function qi_flush_dev_iotlb(tx: Tx, f: number, pasid: number, iova: number, pages: number): void {
  const r = qiRange(iova, pages);
  tx.emit({
    kind: 'iommu-cmd',
    iommu: 'vtd',
    cmd: pasid > 0 ? 'QI_DEV_EIOTLB' : 'QI_DEV_IOTLB',
    bdf: tx.info(f).bdf,
    ...(pasid > 0 ? { pasid } : {}),
    page: r.page,
    span: r.span,
    qdep: qdepField(getInfo(tx, f).ats_qdep),
  });
}

function emitWait(tx: Tx, timedOut: boolean, f: number): void {
  tx.emit({ kind: 'iommu-cmd', iommu: 'vtd', cmd: 'QI_IWD', result: timedOut ? 'timeout' : 'ok' });
  if (timedOut)
    tx.emit({
      kind: 'info',
      bdf: tx.info(f).bdf,
      message: 'Invalidation Time-out Error (ITE) cleared',
      level: 'err',
    });
}

/**
 * A whole-device-TLB flush of f for `pasid` (0: every PASID, a descriptor without PASID) and its
 * wait descriptor, in one step (the attach paths hold the group mutex). 0 or -ETIMEDOUT.
 */
function dev_iotlb_flush_sync(tx: Tx, f: number, pasid: number): number {
  qi_flush_dev_iotlb(tx, f, pasid, 0, 0);
  const dev = tx.device(f);
  if (!deviceAnswersInvalidation(dev)) {
    tx.emit({ kind: 'atc', bdf: tx.info(f).bdf, action: 'ignored', pasid, page: 0 });
    emitWait(tx, true, f);
    return -ETIMEDOUT;
  }
  atc_invalidate(tx, f, pasid === 0 ? null : [pasid], 0, 0);
  emitWait(tx, false, f);
  return 0;
}

/**
 * The flushes after a context or PASID entry is cleared (intel_context_flush_no_pasid(),
 * intel_pasid_tear_down_entry()): context or PASID cache, the domain's IOTLB (domain-selective,
 * the model drops the domain's IOTLB), and the device-TLB while ATS is on.
 */
export function flush_entry_caches(
  tx: Tx,
  f: number,
  pasid: number,
  d: number,
  cache: 'QI_CC' | 'QI_PC',
): void {
  const bdf = tx.info(f).bdf;
  tx.emit({ kind: 'iommu-cmd', iommu: 'vtd', cmd: cache, bdf, ...(cache === 'QI_PC' ? { pasid } : {}) });
  tx.emit({ kind: 'iommu-cmd', iommu: 'vtd', cmd: cache === 'QI_PC' ? 'QI_PIOTLB' : 'QI_IOTLB' });
  const dom = d < 0 ? null : tx.domainOrNull(d);
  if (dom !== null && dom.iotlb.length > 0) tx.mutDomain(d).iotlb = [];
  if (getInfo(tx, f).ats_enabled) dev_iotlb_flush_sync(tx, f, pasid);
  else emitWait(tx, false, f);
}

/**
 * The issuing half of cache_tag_flush_range() for [iova, iova + pages) (pages 0: cache_tag_flush_all):
 * the IOTLB descriptor for the domain, then a device-TLB descriptor per attachment with ATS on,
 * which reaches the function unless it is gone or resetting. Returns one target per device-TLB
 * descriptor.
 */
export function iotlb_sync_issue(tx: Tx, d: number, iova: number, pages: number): readonly number[] {
  const rec = dmarDomain(tx, d);
  const r = qiRange(iova, pages);
  tx.emit({ kind: 'iommu-cmd', iommu: 'vtd', cmd: 'QI_IOTLB', page: r.page, span: r.span });
  const targets: number[] = [];
  if (rec === null) return targets;
  const dev = rec.devices;
  for (let i = 0; i < dev.length; i += 2) {
    const f = dev[i]!;
    if (!getInfo(tx, f).ats_enabled) continue;
    qi_flush_dev_iotlb(tx, f, dev[i + 1]!, iova, pages);
    atc_inv_request(tx, f);
    targets.push(f);
  }
  holdFlushLock(tx, d, dmarDomain(tx, d), 1);
  return targets;
}

/**
 * The wait half (qi_submit_sync() waiting on its QI_IWD): the domain's IOTLB entries of the range
 * go; each target that is present, not resetting, answering and still holding the request drops
 * the range from its ATC; any other target is an ITE and the flush fails with -ETIMEDOUT.
 */
export function iotlb_sync_wait(
  tx: Tx,
  d: number,
  iova: number,
  pages: number,
  targets: readonly number[],
): number {
  let timedOut = -1;
  for (const f of targets) if (!atc_inv_complete(tx, f, null, iova, pages) && timedOut < 0) timedOut = f;
  if (d >= 0 && tx.domainOrNull(d) !== null) iotlb_invalidate_range(tx, d, iova, pages);
  holdFlushLock(tx, d, dmarDomain(tx, d), -1);
  if (timedOut >= 0) {
    emitWait(tx, true, timedOut);
    return -ETIMEDOUT;
  }
  tx.emit({ kind: 'iommu-cmd', iommu: 'vtd', cmd: 'QI_IWD', result: 'ok' });
  return 0;
}
