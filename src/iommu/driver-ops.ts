/**
 * The IOMMU driver ops table, as the kernel's `struct iommu_ops` and `struct iommu_domain_ops`:
 * the IOMMU core (src/iommu/) calls the driver only through this, so SMMUv3 (src/drivers/smmuv3/),
 * VT-d and AMD-Vi plug in side by side. Every function takes the transaction (model/tx.ts), reads
 * and writes the state through it, and reports what it did as events.
 */
import type { DomainType } from './domain-type.js';
import type { DriverRecord } from '../model/state.js';
import type { Tx } from '../model/tx.js';
import type { World } from '../model/world.js';

export interface IommuDriverOps {
  readonly name: string;

  /** The driver's per-master record for function f before probe, and its global record. */
  initialMaster(w: World, f: number): DriverRecord;
  initialGlobal(w: World): DriverRecord;
  /** The driver's private data for a newly allocated domain of this type. */
  initialDomain(w: World, type: DomainType): DriverRecord;
  /**
   * The names of the fields in a master, global or domain record that hold domain slots (or arrays
   * of tuples with domain slots at known positions), so the core can renumber domains. Each entry is
   * `field` for a single slot, or `field:width:pos` for position `pos` of every `width`-tuple.
   */
  readonly domainRefFields: {
    readonly master: readonly string[];
    readonly global: readonly string[];
    readonly domain: readonly string[];
  };

  /** ops->blocked_domain / ops->identity_domain exist (static, shared by every group). */
  readonly hasBlockedDomain: boolean;
  readonly hasIdentityDomain: boolean;

  /** iommu_ops->probe_device(): 0, or a negative errno (the function then has no IOMMU). */
  probe_device(tx: Tx, f: number): number;
  /** iommu_ops->release_device(). */
  release_device(tx: Tx, f: number): void;
  /** iommu_ops->def_domain_type(): a required type, or 0 for no preference. */
  def_domain_type(tx: Tx, f: number): DomainType | 0;

  /** domain->ops->attach_dev(domain, dev, old): RID attach. 0 or a negative errno. */
  attach_dev(tx: Tx, d: number, f: number, old: number): number;
  /** domain->ops->set_dev_pasid(domain, dev, pasid, old). 0 or a negative errno. */
  set_dev_pasid(tx: Tx, d: number, f: number, pasid: number, old: number): number;
  /** Removing a PASID attachment (blocked_domain->ops->set_dev_pasid / remove_dev_pasid). Cannot fail. */
  remove_dev_pasid(tx: Tx, f: number, pasid: number, d: number): void;

  /**
   * The invalidation after an unmap (iommu_iotlb_sync → the driver's tlb_sync): TLB invalidation
   * and, for every master with ATS in the domain, CMD_ATC_INV for the range. Issues the commands and
   * returns the functions whose ATC invalidation must complete before the CMD_SYNC can.
   */
  iotlb_sync_issue(tx: Tx, d: number, iova: number, pages: number): readonly number[];
  /**
   * The CMD_SYNC that ends an invalidation: completes (dropping IOTLB entries, and ATC entries at
   * functions that answer) or times out for functions that do not. Returns 0 or -ETIMEDOUT.
   */
  iotlb_sync_wait(tx: Tx, d: number, iova: number, pages: number, atcTargets: readonly number[]): number;

  /** Where the IOMMU sends f's untranslated requests for `pasid`: a domain slot, -1 abort, -2 bypass. */
  translation_domain(tx: Tx, f: number, pasid: number): number;
  /** The IOMMU accepts f's ATS Translation Requests and translated requests for `pasid` (EATS). */
  ats_allowed(tx: Tx, f: number, pasid: number): boolean;
  /** The driver believes ATS is enabled on f (master->ats_enabled), for invariants. */
  ats_enabled(tx: Tx, f: number): boolean;
}
