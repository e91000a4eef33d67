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
  /**
   * iommu_ops->probe_finalize(): after the device joined its group and its default domain is
   * attached (VT-d enables PASID, and in scalable mode ATS, here). Optional.
   */
  probe_finalize?(tx: Tx, f: number): void;
  /** iommu_ops->release_device(). */
  release_device(tx: Tx, f: number): void;
  /** iommu_ops->def_domain_type(): a required type, or 0 for no preference. */
  def_domain_type(tx: Tx, f: number): DomainType | 0;

  /** domain->ops->attach_dev(domain, dev, old): RID attach. 0 or a negative errno. */
  attach_dev(tx: Tx, d: number, f: number, old: number): number;
  /** domain->ops->set_dev_pasid(domain, dev, pasid, old). 0 or a negative errno. */
  set_dev_pasid(tx: Tx, d: number, f: number, pasid: number, old: number): number;
  /**
   * Whether domain d has a `set_dev_pasid` op (SMMUv3: S1 paging, SVA and the blocked domain do;
   * the identity domain does not). Optional: absent means every domain has one. The core's
   * iommu_attach_device_pasid() returns -EOPNOTSUPP when it is false.
   */
  domain_has_set_dev_pasid?(tx: Tx, d: number): boolean;
  /** Removing a PASID attachment (blocked_domain->ops->set_dev_pasid / remove_dev_pasid). Cannot fail. */
  remove_dev_pasid(tx: Tx, f: number, pasid: number, d: number): void;

  /**
   * The invalidation after an unmap (iommu_iotlb_sync → the driver's tlb_sync): TLB invalidation
   * and, for every master with ATS in the domain, CMD_ATC_INV for the range. Issues the commands and
   * returns the functions whose ATC invalidation must complete before the CMD_SYNC can (one entry
   * per invalidation request, so a function may appear twice). `pages` 0 means the whole address
   * space (flush_iotlb_all, the flush queue).
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
  /**
   * The driver would turn ATS on for f when it attaches a translating domain (SMMUv3:
   * arm_smmu_ats_supported(), and master->ats_prepared under the `smmu-ats-prepared-gate`
   * alternative). Optional: absent means pci_ats_supported(), for invariants.
   */
  ats_supported?(tx: Tx, f: number): boolean;
  /**
   * An attach (RID or PASID) that moves f off one of its current domains would have to wait now:
   * an invalidation issued from such a domain (iotlb_sync_issue) has not had its CMD_SYNC yet
   * (iotlb_sync_wait), and the driver fences domain changes against in-flight ATC invalidations
   * (SMMUv3: invs->rwlock, 587bb3e56a2c). The core should not start such a step until this is
   * false (the waiting thread's sync always can run, so this never deadlocks). Optional: a driver
   * without such a fence leaves it out.
   */
  attach_would_wait?(tx: Tx, f: number): boolean;
}
