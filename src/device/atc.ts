/**
 * A function's Address Translation Cache (PCIe ATS): filling it with Translation Requests, and
 * what the function does with the Invalidation Requests the IOMMU sends (CMD_ATC_INV). The cache
 * is DeviceState.atc, sorted flat triples [pasid, iova page, phys page] at STU granularity (the
 * model's page is the STU).
 */
import type { AtcEvent } from '../kernel/events.js';
import { tuplePut } from '../model/flat.js';
import type { DeviceState } from '../model/state.js';
import type { Tx } from '../model/tx.js';
import { XLATE_BYPASS, deviceAtsEnabled, devicePasidEnabled, iommu_walk } from './dma.js';

function emitAtc(
  tx: Tx,
  f: number,
  action: AtcEvent['action'],
  pasid: number,
  page: number,
  phys: number,
): void {
  const bdf = tx.info(f).bdf;
  tx.emit(
    phys < 0 ? { kind: 'atc', bdf, action, pasid, page } : { kind: 'atc', bdf, action, pasid, page, phys },
  );
}

/**
 * A Translation Request for `iova` (tagged with `pasid` when > 0). It is sent only while the
 * function's ATS Control Enable is set (and PASID Enable for a PASID); the SMMU answers only where
 * ATS is allowed for the stream/substream (EATS, a valid CD). The answer comes from the domain the
 * SMMU translates the function's requests through: identity under S1DSS=BYPASS, else the IOTLB or
 * a page-table walk (which the SMMU caches in its IOTLB). A fault fills nothing. Returns whether
 * the ATC now holds the translation.
 */
export function atc_fill(tx: Tx, f: number, pasid: number, iova: number): boolean {
  const dev = tx.device(f);
  if (!dev.present || dev.resetting || !deviceAtsEnabled(tx, f)) return false;
  if (pasid > 0 && !devicePasidEnabled(tx, f)) return false;
  const ops = tx.world.ops;
  if (!ops.ats_allowed(tx, f, pasid)) return false;
  const td = ops.translation_domain(tx, f, pasid);
  let phys: number;
  if (td === XLATE_BYPASS) phys = iova;
  else if (td >= 0) phys = iommu_walk(tx, td, iova);
  else return false;
  if (phys < 0) return false;
  tx.mutDevice(f).atc = tuplePut(dev.atc, 3, 2, [pasid, iova, phys]);
  emitAtc(tx, f, 'fill', pasid, iova, phys);
  return true;
}

/** The function acts on Invalidation Requests: present, not in reset, not faulted into silence. */
export function deviceAnswersInvalidation(dev: DeviceState): boolean {
  return dev.present && !dev.resetting && !dev.unresponsive;
}

/**
 * The function completes an Invalidation Request for pages [iova, iova + pages) (pages 0: the whole
 * address space) of the PASIDs in `pasids` (null: every PASID, as a request without a PASID
 * prefix does). It drops the matching entries: a completed invalidation is always honoured.
 */
export function atc_invalidate(
  tx: Tx,
  f: number,
  pasids: readonly number[] | null,
  iova: number,
  pages: number,
): void {
  const dev = tx.device(f);
  const atc = dev.atc;
  let out: number[] | null = null;
  for (let i = 0; i < atc.length; i += 3) {
    const p = atc[i]!;
    const page = atc[i + 1]!;
    const hit =
      (pasids === null || pasids.includes(p)) && (pages === 0 || (page >= iova && page < iova + pages));
    if (hit) {
      emitAtc(tx, f, 'drop', p, page, atc[i + 2]!);
      out ??= atc.slice(0, i);
      continue;
    }
    if (out !== null) out.push(p, page, atc[i + 2]!);
  }
  if (out !== null) tx.mutDevice(f).atc = out;
}

/**
 * An Invalidation Request arrives at the function (the IOMMU queued CMD_ATC_INV, QI_DEV_IOTLB or
 * CMD_INV_IOTLB_PAGES to it): a present function that is not in reset holds it until it answers;
 * one in reset loses it.
 */
export function atc_inv_request(tx: Tx, f: number): void {
  const dev = tx.device(f);
  if (dev.present && !dev.resetting) tx.mutDevice(f).pendingInv = dev.pendingInv + 1;
}

/**
 * The IOMMU waits for the function's Invalidation Completion (CMD_SYNC, the QI wait descriptor,
 * COMPLETION_WAIT): a function that answers and still holds the request completes it, dropping the
 * range (atc_invalidate) and returning true; otherwise nothing comes back (an `ignored` event) and
 * the IOMMU's wait will time out: false.
 */
export function atc_inv_complete(
  tx: Tx,
  f: number,
  pasids: readonly number[] | null,
  iova: number,
  pages: number,
): boolean {
  const dev = tx.device(f);
  if (deviceAnswersInvalidation(dev) && dev.pendingInv > 0) {
    tx.mutDevice(f).pendingInv = dev.pendingInv - 1;
    atc_invalidate(tx, f, pasids, iova, pages);
    return true;
  }
  tx.emit({ kind: 'atc', bdf: tx.info(f).bdf, action: 'ignored', pasid: 0, page: iova });
  return false;
}

/**
 * A Function Level Reset (or any reset) as the function sees it: every Invalidation Request it had
 * not completed is lost, and its ATC is gone, unless it is faulted to hold its ATC entries across
 * the reset (`holdAtc`: a function that does not clear its ATC on reset, so an invalidation lost to
 * the reset leaves a stale entry behind). For the reset flow (src/pci/reset.ts); setting
 * `resetting` and clearing ATS Control is the flow's job.
 */
export function atc_flush_all(tx: Tx, f: number): void {
  const dev = tx.device(f);
  const keep = dev.holdAtc;
  if ((keep || dev.atc.length === 0) && dev.pendingInv === 0) return;
  const m = tx.mutDevice(f);
  if (!keep && dev.atc.length > 0) emitAtc(tx, f, 'flush', 0, 0, -1);
  if (!keep) m.atc = [];
  m.pendingInv = 0;
}
