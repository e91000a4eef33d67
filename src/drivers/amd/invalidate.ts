/**
 * AMD-Vi invalidation (iommu.c domain_flush_pages(), device_flush_iotlb(), build_inv_iotlb_pages(),
 * iommu_completion_wait()): CMD_INV_IOMMU_PAGES for the domain, CMD_INV_IOTLB_PAGES to each device
 * of the domain with ATS enabled (with its queue depth), then CMD_COMPL_WAIT, which completes when
 * the devices answered ("Completion-Wait loop timed out" otherwise).
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
import { amdDomain, getDevData } from './dev-data.js';

const SPAN_ALL = 52;

function range(iova: number, pages: number): { page: number; span: number } {
  if (pages <= 0) return { page: 0, span: SPAN_ALL };
  const last = iova + pages - 1;
  let span = 0;
  while (iova >>> span !== last >>> span) span++;
  return { page: (iova >>> span) << span, span };
}

function emitIotlbInv(tx: Tx, f: number, iova: number, pages: number): void {
  const r = range(iova, pages);
  tx.emit({
    kind: 'iommu-cmd',
    iommu: 'amd',
    cmd: 'CMD_INV_IOTLB_PAGES',
    bdf: tx.info(f).bdf,
    page: r.page,
    span: r.span,
    qdep: getDevData(tx, f).ats_qdep,
  });
}

function emitWait(tx: Tx, timedOut: boolean, f: number): void {
  tx.emit({ kind: 'iommu-cmd', iommu: 'amd', cmd: 'CMD_COMPL_WAIT', result: timedOut ? 'timeout' : 'ok' });
  if (timedOut)
    tx.emit({ kind: 'info', bdf: tx.info(f).bdf, message: 'Completion-Wait loop timed out', level: 'err' });
}

/** device_flush_iotlb() of the whole space and the completion wait, in one step. 0 or -ETIMEDOUT. */
export function amd_flush_iotlb_all_sync(tx: Tx, f: number): number {
  emitIotlbInv(tx, f, 0, 0);
  if (!deviceAnswersInvalidation(tx.device(f))) {
    tx.emit({ kind: 'atc', bdf: tx.info(f).bdf, action: 'ignored', pasid: 0, page: 0 });
    emitWait(tx, true, f);
    return -ETIMEDOUT;
  }
  atc_invalidate(tx, f, null, 0, 0);
  emitWait(tx, false, f);
  return 0;
}

/** The issuing half of domain_flush_pages(): the IOMMU pages command, then one IOTLB command per ATS device. */
export function iotlb_sync_issue(tx: Tx, d: number, iova: number, pages: number): readonly number[] {
  const r = range(iova, pages);
  tx.emit({ kind: 'iommu-cmd', iommu: 'amd', cmd: 'CMD_INV_IOMMU_PAGES', page: r.page, span: r.span });
  const rec = amdDomain(tx, d);
  const targets: number[] = [];
  if (rec === null) return targets;
  for (const f of rec.dev_list) {
    if (!getDevData(tx, f).ats_enabled) continue;
    emitIotlbInv(tx, f, iova, pages);
    atc_inv_request(tx, f);
    targets.push(f);
  }
  holdFlushLock(tx, d, amdDomain(tx, d), 1);
  return targets;
}

/** The completion wait: IOTLB entries of the range go; every target must answer, or -ETIMEDOUT. */
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
  holdFlushLock(tx, d, amdDomain(tx, d), -1);
  if (timedOut >= 0) {
    emitWait(tx, true, timedOut);
    return -ETIMEDOUT;
  }
  emitWait(tx, false, -1);
  return 0;
}
