/**
 * VT-d and AMD-Vi hold a per-domain lock from issuing a flush until its completion wait returns
 * (intel/cache.c cache_tag_flush_range(): domain->cache_lock; amd/iommu.c amd_iommu_iotlb_sync():
 * domain->lock), and their detach paths take the same lock. The model counts the flushes in
 * progress on the domain's driver record (`flushing`); an attach that moves a function off such
 * a domain waits (IommuDriverOps.attach_would_wait).
 */
import type { DriverRecord } from '../model/state.js';
import type { Tx } from '../model/tx.js';

/** A domain driver record that counts the flushes holding its lock. */
export interface FlushLocked extends DriverRecord {
  readonly flushing: number;
}

/** Takes (+1) or releases (-1) domain d's flush lock; `rec` is d's record (null: none, nothing to hold). */
export function holdFlushLock(tx: Tx, d: number, rec: FlushLocked | null, by: 1 | -1): void {
  if (rec === null) return;
  if (rec.flushing + by < 0) throw new Error(`model bug: domain ${d} releases a flush lock it does not hold`);
  tx.mutDomain(d).drv = { ...rec, flushing: rec.flushing + by };
}

/** Whether some domain whose flush holds its lock has f attached (`attached` reads the record's list). */
export function flushLockHeldFor<R extends FlushLocked>(
  tx: Tx,
  f: number,
  recordOf: (tx: Tx, d: number) => R | null,
  attached: (rec: R, f: number) => boolean,
): boolean {
  const n = tx.domainCount;
  for (let d = 0; d < n; d++) {
    const rec = recordOf(tx, d);
    if (rec !== null && rec.flushing > 0 && attached(rec, f)) return true;
  }
  return false;
}
