/**
 * The VT-d driver's per-device record: struct device_domain_info (drivers/iommu/intel/iommu.h)
 * for one PCI function, plus what the IOMMU hardware holds for its requester ID: the legacy
 * context entry, or in scalable mode the context entry's Device-TLB Enable bit and the PASID
 * table (RID2PASID is PASID 0). Plain data so the model can copy and hash it.
 *
 * And the per-domain record: the (function, PASID) attachments of a dmar_domain (its `devices`
 * and `dev_pasids` lists, which the cache tags of cache.c follow for invalidation).
 */
import type { DomainType } from '../../iommu/domain-type.js';
import { flushLockHeldFor, type FlushLocked } from '../flush-lock.js';
import type { DriverRecord } from '../../model/state.js';
import type { Mutable, Tx } from '../../model/tx.js';
import type { World } from '../../model/world.js';
import { tupleGet } from '../../model/flat.js';

/** VTD_PAGE_SHIFT: the STU VT-d programs (4 KiB). */
export const VTD_PAGE_SHIFT = 12;

/** What a context or PASID entry does with untranslated requests, as the model numbers it. */
export const ENTRY_NONE = 0;
/** Legacy CONTEXT_TT_MULTI_LEVEL / DEV_IOTLB, scalable first- or second-level: translate through a domain. */
export const ENTRY_TRANSLATE = 1;
/** Legacy CONTEXT_TT_PASS_THROUGH, scalable PGTT pass-through. */
export const ENTRY_PASS_THROUGH = 2;

export interface IntelInfo extends DriverRecord {
  /** intel_iommu_probe_device() succeeded: dev_iommu_priv_get(dev) is this info. */
  readonly probed: boolean;
  /** info->ats_supported: ECAP.DT, pci_ats_supported() and dmar_ats_supported() at probe. */
  readonly ats_supported: boolean;
  /** info->ats_enabled: the driver's belief that ATS is on at the function. */
  readonly ats_enabled: boolean;
  /** info->ats_qdep: pci_ats_queue_depth(), the depth device-TLB invalidations are sized for. */
  readonly ats_qdep: number;
  /** info->pasid_supported (scalable mode, pci_pasid_features() >= 0) and info->pasid_enabled. */
  readonly pasid_supported: boolean;
  readonly pasid_enabled: boolean;
  /** info->domain_attached: the RID has a domain (not in the DMA-blocking state). */
  readonly domain_attached: boolean;
  /** info->domain: the paging domain of the RID, -1 for none (identity, blocked). */
  readonly domain: number;
  /** Legacy mode: the context entry (ENTRY_*), its domain (-1 for none/pass-through), TT=DEV_IOTLB. */
  readonly ctx_mode: number;
  readonly ctx_domain: number;
  readonly ctx_devtlb: boolean;
  /** Scalable mode: the context entry's DTE (Device-TLB Enable), set at probe for ats_supported. */
  readonly sm_dte: boolean;
  /** Scalable mode: the valid PASID-table entries, sorted flat triples [pasid, mode, domain]. */
  readonly pasids: readonly number[];
}

/** The record of a function VT-d has not probed: no context entry, no PASID entries. */
export function initialIntelInfo(_w: World, _f: number): IntelInfo {
  return {
    probed: false,
    ats_supported: false,
    ats_enabled: false,
    ats_qdep: 0,
    pasid_supported: false,
    pasid_enabled: false,
    domain_attached: false,
    domain: -1,
    ctx_mode: ENTRY_NONE,
    ctx_domain: -1,
    ctx_devtlb: false,
    sm_dte: false,
    pasids: [],
  };
}

export interface DmarDomain extends FlushLocked {
  /** The attachments: sorted flat pairs [function, pasid] (pasid 0 is the RID). */
  readonly devices: readonly number[];
  /**
   * Flushes in progress that hold domain->cache_lock (cache.c cache_tag_flush_range(): the lock
   * is held from the first descriptor until qi_submit_sync() sees the wait descriptor complete).
   * cache_tag_unassign() takes the same lock, so a function cannot leave the domain meanwhile.
   */
  readonly flushing: number;
}

export function initialDmarDomain(_w: World, _t: DomainType): DmarDomain {
  return { devices: [], flushing: 0 };
}

/**
 * An attach that changes one of f's attachments would wait: f is attached (RID or PASID) to a
 * domain whose flush holds domain->cache_lock (cache.c cache_tag_unassign() spins on it, and
 * iommu.c device_block_translation() unassigns the tags first, `vtd-cache-tag-fence`). The
 * flushing thread needs no other lock to finish, so the wait always ends. Without the switch
 * (v6.1) the attach disabled ATS before taking any lock the flush holds: no fence.
 */
export function vtd_attach_would_wait(tx: Tx, f: number): boolean {
  if (!tx.kernel.switches['vtd-cache-tag-fence']) return false;
  return flushLockHeldFor(tx, f, dmarDomain, (rec, g) => {
    const dev = rec.devices;
    for (let i = 0; i < dev.length; i += 2) if (dev[i] === g) return true;
    return false;
  });
}

export function getInfo(tx: Tx, f: number): IntelInfo {
  return tx.master(f) as IntelInfo;
}

export function mutInfo(tx: Tx, f: number): Mutable<IntelInfo> {
  return tx.mutMaster<IntelInfo>(f);
}

/** sm_supported(iommu): the IOMMU runs in scalable mode. */
export function sm_supported(tx: Tx): boolean {
  return tx.world.iommu.vtd.mode === 'scalable';
}

/** The PASID-table entry for `pasid`: [mode, domain], or null when not present. */
export function pasidEntry(m: IntelInfo, pasid: number): { mode: number; domain: number } | null {
  const mode = tupleGet(m.pasids, 3, [pasid], 1, ENTRY_NONE);
  if (mode === ENTRY_NONE) return null;
  return { mode, domain: tupleGet(m.pasids, 3, [pasid], 2, -1) };
}

/** The dmar_domain record of a domain, or null when it has none (identity, blocked, freed). */
export function dmarDomain(tx: Tx, d: number): DmarDomain | null {
  const dom = d < 0 ? null : tx.domainOrNull(d);
  if (dom === null) return null;
  const drv = dom.drv as Partial<DmarDomain>;
  return Array.isArray(drv.devices) ? (drv as DmarDomain) : null;
}

/** domain->devices / dev_pasids list_add: adds [f, pasid] (once). */
export function domainAddDev(tx: Tx, d: number, f: number, pasid: number): void {
  const rec = dmarDomain(tx, d);
  if (rec === null) return;
  const dev = rec.devices;
  for (let i = 0; i < dev.length; i += 2) if (dev[i] === f && dev[i + 1] === pasid) return;
  let at = dev.length;
  for (let i = 0; i < dev.length; i += 2)
    if (dev[i]! > f || (dev[i] === f && dev[i + 1]! > pasid)) {
      at = i;
      break;
    }
  const out = dev.slice();
  out.splice(at, 0, f, pasid);
  tx.mutDomain(d).drv = { ...rec, devices: out };
}

/** list_del of [f, pasid] from the domain's lists. */
export function domainDelDev(tx: Tx, d: number, f: number, pasid: number): void {
  const rec = dmarDomain(tx, d);
  if (rec === null) return;
  const dev = rec.devices;
  for (let i = 0; i < dev.length; i += 2)
    if (dev[i] === f && dev[i + 1] === pasid) {
      const out = dev.slice();
      out.splice(i, 2);
      tx.mutDomain(d).drv = { ...rec, devices: out };
      return;
    }
}
