/**
 * The whole system state: plain, immutable data. A transition copies only the records it changes
 * (see tx.ts), so states share structure and clone cheaply. Every field is a number, a boolean, or
 * a small sorted array of numbers, so a state hashes to a 64-bit fingerprint quickly
 * (fingerprint.ts) and two states that differ only in domain allocation order fingerprint the same.
 *
 * Indices: `f` is a function index (Machine.functions / PciDevInfo order), `g` a group index
 * (World.groups), `d` a domain slot in `domains` (null = free), `t` a thread index.
 * References to "no domain" are -1.
 */
import type { PciDev } from '../pci/pci-dev.js';
import type { DomainType } from '../iommu/domain-type.js';

/** One IOMMU domain (struct iommu_domain plus the driver's private part). */
export interface Domain {
  readonly type: DomainType;
  /** The page table: sorted flat pairs [iova page, phys page]. */
  readonly pt: readonly number[];
  /** The IOMMU's TLB for this domain: translations cached from `pt`, sorted flat pairs. */
  readonly iotlb: readonly number[];
  /** DMA_FQ: unmapped pairs [iova page, phys page] whose invalidation waits for the flush queue. */
  readonly fq: readonly number[];
  /** The ARM MSI doorbell is mapped in this domain (iommu_dma_prepare_msi / VFIO's MSI cookie). */
  readonly msiDoorbell: boolean;
  /** Who allocated it: 0 core (default/blocking/identity), 1 VFIO/iommufd user, 2 a DMA-API PASID user, 3 SVA. */
  readonly allocator: number;
  /** The IOMMU driver's private data for this domain (SMMUv3: nr_ats_masters, invs, master list). */
  readonly drv: DriverRecord;
}

/** struct iommu_group. */
export interface Group {
  /** group->domain: the current RID domain, -1 = NULL. */
  readonly domain: number;
  readonly defaultDomain: number;
  readonly blockingDomain: number;
  /** group->owner: 0 = none (kernel DMA API users), otherwise the user-space owner's cookie (1 = VFIO). */
  readonly owner: number;
  /** group->owner_cnt. */
  readonly ownerCnt: number;
  /** group->recovery_cnt: devices of the group under reset (b296ca1fb43a). */
  readonly recoveryCnt: number;
  /** group->pasid_array: sorted flat pairs [pasid, domain slot]. */
  readonly pasids: readonly number[];
}

/** dev->iommu plus struct group_device for one function. */
export interface GroupDev {
  /** iommu_probe_device() succeeded: the function has an IOMMU and is in its group. */
  readonly probed: boolean;
  /** gdev->blocked: parked on the blocking domain for a reset. */
  readonly blocked: boolean;
  /** gdev->reset_depth: nesting of pci_dev_reset_iommu_prepare() (0d5fd7a9323c). */
  readonly resetDepth: number;
}

/** What a driver bound to a function asks of the IOMMU (driver_managed_dma, widened as thread 0 proposed). */
export const DRIVER_NONE = 0;
/** A normal kernel driver: iommu_device_use_default_domain(), DMA API. */
export const DRIVER_DMA_API = 1;
/** driver_managed_dma = true (VFIO, portdrv today): no default-domain claim, manages DMA itself or none. */
export const DRIVER_MANAGED = 2;
/** Thread 0's MSI-only kind: no DMA, but interrupts through the IOMMU (the port driver). */
export const DRIVER_MSI_ONLY = 3;
/** vfio-pci: driver_managed_dma, and the group is claimed by a user-space owner. */
export const DRIVER_VFIO = 4;
export type DriverKind =
  | typeof DRIVER_NONE
  | typeof DRIVER_DMA_API
  | typeof DRIVER_MANAGED
  | typeof DRIVER_MSI_ONLY
  | typeof DRIVER_VFIO;

/** The device side of one function: what the hardware does, not what the kernel believes. */
export interface DeviceState {
  /** false once hot-unplugged. */
  readonly present: boolean;
  readonly driver: DriverKind;
  /** The bound driver has MSI vectors that go through the IOMMU (ARM ITS doorbell). */
  readonly msiInUse: boolean;
  /** A reset (FLR, bus or CXL reset) is in progress: the ATC is gone, invalidations go unanswered. */
  readonly resetting: boolean;
  /** Fault: the function stops answering invalidation requests. */
  readonly unresponsive: boolean;
  /** Fault: the function keeps its ATC entries across a reset (it does not clear its ATC on FLR). */
  readonly holdAtc: boolean;
  /** The Address Translation Cache: sorted flat triples [pasid, iova page, phys page], at STU granularity. */
  readonly atc: readonly number[];
  /** Invalidation requests received and not yet completed. */
  readonly pendingInv: number;
}

/** Host memory: who owns each physical page of the model's small pool. */
export interface MemoryState {
  /** Per physical page: 0 free, otherwise 1 + the domain slot whose DMA mapping owns it. */
  readonly pages: readonly number[];
}

/** A kernel entry point a thread is in the middle of, where the kernel dropped its lock or waits. */
export interface Continuation {
  /** The entry point's operation kind (ops.ts) and its phase within it. */
  readonly op: string;
  readonly phase: number;
  /** Operation-specific numbers (function, domain, iova, ...), defined by the operation. */
  readonly args: readonly number[];
  /** Bit i set: args[i] is a domain slot (renumbered with the domains). */
  readonly domainArgs: number;
  /**
   * A hash of the operation this continues (model/step.ts opKey, stamped by step()): the thread
   * resumes only that operation.
   */
  readonly key: number;
}

/** A continuation as an entry point returns it, before step() stamps its operation's key. */
export type PendingPhase = Omit<Continuation, 'key'>;

export interface ThreadState {
  /** Index of the next step in the thread's step list. */
  readonly pc: number;
  /** A split operation waiting to resume, or null. */
  readonly cont: Continuation | null;
}

/** A fault armed by a scenario: make a kernel function fail at its nth next call. */
export interface ArmedFault {
  /** Kernel function name, e.g. `pci_enable_ats`. */
  readonly fn: string;
  /** Function index it applies to, or -1 for any. */
  readonly f: number;
  /** Calls to let through before failing (0 = the next call fails). */
  readonly skip: number;
  /** The negative errno to return. */
  readonly errno: number;
}

/**
 * A record of the IOMMU driver's own: per master (function) or global. The driver defines the
 * interface; fields must be numbers, booleans, strings or arrays of numbers, so the core can copy
 * and hash it without knowing the driver. Fields that hold domain slots are listed by the driver
 * (IommuDriverOps.domainRefs) so the core can renumber domains canonically.
 */
export type DriverRecord = Readonly<Record<string, number | boolean | string | readonly number[]>>;

export interface SystemState {
  readonly pci: readonly PciDev[];
  readonly devs: readonly DeviceState[];
  readonly gdevs: readonly GroupDev[];
  readonly groups: readonly Group[];
  readonly domains: readonly (Domain | null)[];
  /** The IOMMU driver's per-master records (SMMUv3: struct arm_smmu_master), by function index. */
  readonly masters: readonly DriverRecord[];
  /** The IOMMU driver's global record. */
  readonly drv: DriverRecord;
  /** Global PASIDs allocated from [1, max_pasids - 1] (iommu_alloc_global_pasid), sorted. */
  readonly globalPasids: readonly number[];
  readonly mem: MemoryState;
  readonly threads: readonly ThreadState[];
  readonly faults: readonly ArmedFault[];
  /** The 64-bit fingerprint, maintained incrementally by Tx.commit (fingerprint.ts). */
  readonly fpHi: number;
  readonly fpLo: number;
}
