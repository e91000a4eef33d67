/**
 * The operations: one per kernel entry point (or device action) at the granularity the kernel
 * locks it. Work under group->mutex is one step. Where the kernel drops a lock or waits (a reset in
 * progress, a CMD_SYNC waiting for ATC invalidation completions), an operation is split: its
 * handler returns a continuation, stored in the thread's state, and the next step of that thread
 * resumes it, so another thread can run in between.
 *
 * Functions are named by index here; scenarios (src/scenario/) name them by BDF.
 */

/** How a driver binding treats DMA (thread 0's driver_managed_dma enum). */
export type BindKind = 'dma' | 'managed' | 'msi-only';

export type Op =
  /** Boot: iommu_probe_device() for every present function, in BDF order (the bus notifier). */
  | { readonly op: 'boot' }
  /** iommu_probe_device() for one function (hot-plug, a new VF). */
  | { readonly op: 'probe'; readonly f: number }
  /** A kernel driver binds: really_probe() → dma_configure() → iommu_device_use_default_domain() unless driver-managed. */
  | { readonly op: 'bind'; readonly f: number; readonly kind: BindKind; readonly msi?: boolean }
  | { readonly op: 'unbind'; readonly f: number }
  /** vfio-pci / iommufd: bind with driver_managed_dma, then claim DMA ownership of the group (blocking domain). */
  | { readonly op: 'vfio-claim'; readonly f: number }
  | { readonly op: 'vfio-release'; readonly f: number }
  /** The owner attaches a domain to the group: a new UNMANAGED (paging) domain, or the identity domain. */
  | { readonly op: 'attach'; readonly f: number; readonly domain: 'unmanaged' | 'identity' | 'blocked' }
  /** The owner detaches: back to the blocking domain (iommu_detach_group → __iommu_group_set_core_domain). */
  | { readonly op: 'detach'; readonly f: number }
  /** Writing /sys/kernel/iommu_groups/N/type (iommu_setup_default_domain with a new type). */
  | { readonly op: 'set-group-type'; readonly f: number; readonly type: 'identity' | 'dma' | 'dma-fq' }
  /** iommu_attach_device_pasid(): `pasid` 0 means allocate a global PASID; the domain kind attached. */
  | {
      readonly op: 'pasid-attach';
      readonly f: number;
      readonly pasid: number;
      readonly domain: 'dma' | 'sva' | 'unmanaged';
    }
  | { readonly op: 'pasid-detach'; readonly f: number; readonly pasid: number }
  /** DMA API map on the device's domain (dma_map_page → iommu_map), or iommu_map on the owner's UNMANAGED domain. */
  | { readonly op: 'dma-map'; readonly f: number; readonly pasid?: number }
  /** Unmap of the mapping at `iova`: strict (invalidate, CMD_SYNC, then free the page) or lazy (flush queue). Split at the CMD_SYNC. */
  | { readonly op: 'dma-unmap'; readonly f: number; readonly iova: number; readonly pasid?: number }
  /** The flush-queue timer: the deferred invalidations of DMA_FQ domains run, then their pages are freed. */
  | { readonly op: 'fq-flush' }
  /** The device issues DMA: untranslated (the IOMMU translates) or translated (from its ATC; needs EATS). */
  | {
      readonly op: 'device-dma';
      readonly f: number;
      readonly iova: number;
      readonly pasid?: number;
      readonly translated: boolean;
    }
  /** The device sends an ATS Translation Request and caches the answer in its ATC. */
  | { readonly op: 'atc-fill'; readonly f: number; readonly iova: number; readonly pasid?: number }
  /** Function Level Reset (pcie_flr with the preset's reset hooks). Split: the reset is in progress between steps. */
  | { readonly op: 'flr'; readonly f: number }
  /** cxl_reset_bus_function(): prepare/done nest around pci_reset_bus_function(). Split. */
  | { readonly op: 'cxl-reset'; readonly f: number }
  | { readonly op: 'sriov-enable'; readonly f: number; readonly numVfs: number }
  | { readonly op: 'sriov-disable'; readonly f: number }
  | { readonly op: 'hot-unplug'; readonly f: number }
  /** Device faults: stop answering invalidations, or keep ATC entries across a reset. */
  | { readonly op: 'device-fault'; readonly f: number; readonly fault: 'stop-answering' | 'hold-atc' }
  /** Arm a kernel-call failure: `fn` fails with `errno` at its (skip+1)th next call for function f (-1: any). */
  | {
      readonly op: 'arm-fault';
      readonly fn: string;
      readonly f: number;
      readonly skip: number;
      readonly errno: number;
    };

export type OpName = Op['op'];
export type OpOf<K extends OpName> = Extract<Op, { op: K }>;
