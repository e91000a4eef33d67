/**
 * The AMD-Vi driver's per-device record: struct iommu_dev_data (drivers/iommu/amd/amd_iommu_types.h)
 * for one PCI function, plus the Device Table Entry the IOMMU holds for its device ID. Plain data.
 */
import type { DriverRecord } from '../../model/state.js';
import type { Mutable, Tx } from '../../model/tx.js';
import type { World } from '../../model/world.js';
import type { DomainType } from '../../iommu/domain-type.js';
import { flushLockHeldFor, type FlushLocked } from '../flush-lock.js';

/** DTE modes as the model numbers them: not valid (aborts), translate through a domain, pass-through. */
export const DTE_NONE = 0;
export const DTE_TRANSLATE = 1;
export const DTE_PASS_THROUGH = 2;

export interface AmdDevData extends DriverRecord {
  /** amd_iommu_probe_device() succeeded. */
  readonly probed: boolean;
  /** dev_data->flags & AMD_IOMMU_DEVICE_FLAG_ATS_SUP: pci_ats_supported() at probe (pdev_get_caps()). */
  readonly ats_sup: boolean;
  /** dev_data->ats_enabled and dev_data->ats_qdep (pdev_enable_cap_ats()). */
  readonly ats_enabled: boolean;
  readonly ats_qdep: number;
  /** dev_data->domain: the attached domain, -1 for none. */
  readonly domain: number;
  /** The DTE: mode, domain (-1 unless translating), I bit (IOTLB: ATS served). */
  readonly dte_mode: number;
  readonly dte_domain: number;
  readonly dte_iotlb: boolean;
}

export function initialAmdDevData(_w: World, _f: number): AmdDevData {
  return {
    probed: false,
    ats_sup: false,
    ats_enabled: false,
    ats_qdep: 0,
    domain: -1,
    dte_mode: DTE_NONE,
    dte_domain: -1,
    dte_iotlb: false,
  };
}

/** struct protection_domain: the functions attached (dev_list), for invalidation. */
export interface AmdDomain extends FlushLocked {
  readonly dev_list: readonly number[];
  /**
   * Flushes in progress that hold domain->lock (iommu.c amd_iommu_iotlb_sync(): the lock is held
   * across domain_flush_pages() and amd_iommu_domain_flush_complete()). detach_device() takes the
   * same lock, so a function cannot leave the domain meanwhile.
   */
  readonly flushing: number;
}

export function initialAmdDomain(_w: World, _t: DomainType): AmdDomain {
  return { dev_list: [], flushing: 0 };
}

/**
 * An attach that moves f would wait: f is on the dev_list of a domain whose flush holds
 * domain->lock (iommu.c detach_device() spins on it). The flushing thread needs no other lock to
 * finish, so the wait always ends.
 */
export function amd_attach_would_wait(tx: Tx, f: number): boolean {
  return flushLockHeldFor(tx, f, amdDomain, (rec, g) => rec.dev_list.includes(g));
}

export function getDevData(tx: Tx, f: number): AmdDevData {
  return tx.master(f) as AmdDevData;
}

export function mutDevData(tx: Tx, f: number): Mutable<AmdDevData> {
  return tx.mutMaster<AmdDevData>(f);
}

/** The protection_domain record of d, or null (blocked, freed). */
export function amdDomain(tx: Tx, d: number): AmdDomain | null {
  const dom = d < 0 ? null : tx.domainOrNull(d);
  if (dom === null) return null;
  const drv = dom.drv as Partial<AmdDomain>;
  return Array.isArray(drv.dev_list) ? (drv as AmdDomain) : null;
}

/** list_add / list_del of f on the domain's dev_list. */
export function amdDomainSetDev(tx: Tx, d: number, f: number, on: boolean): void {
  const rec = amdDomain(tx, d);
  if (rec === null) return;
  const has = rec.dev_list.includes(f);
  if (has === on) return;
  const dev_list = on ? [...rec.dev_list, f].sort((a, b) => a - b) : rec.dev_list.filter((x) => x !== f);
  tx.mutDomain(d).drv = { ...rec, dev_list };
}
