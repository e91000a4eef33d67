/**
 * The static part of a model run: the machine, the kernel (preset, switches, command line), the
 * IOMMU and its driver, the IOMMU groups, and sizes of the small worlds the model ranges over
 * (physical pages, IOVA pages). Shared by every state; never cloned or hashed.
 */
import type { KernelConfig } from '../kernel/config.js';
import type { PciDevInfo } from '../pci/pci-dev.js';
import type { Machine } from '../pci/topology.js';
import type { IommuDriverOps } from '../iommu/driver-ops.js';

/** What the IOMMU hardware offers (SMMUv3 IDR bits; VT-d/AMD fill their own). */
export interface IommuFeatures {
  /** ARM_SMMU_FEAT_ATS (and the root complex's ATS support, IORT/DT). */
  readonly ats: boolean;
  /** ARM_SMMU_FEAT_TRANS_S1. */
  readonly stage1: boolean;
  /** ARM_SMMU_FEAT_TRANS_S2. */
  readonly stage2: boolean;
  /** smmu->ssid_bits (0: no PASIDs). */
  readonly ssidBits: number;
  /** log2 of the smallest page size (__ffs(pgsize_bitmap)); the STU programmed by pci_prepare_ats(). */
  readonly pageShift: number;
  /** MSIs are translated by the IOMMU (ARM: CONFIG_IRQ_MSI_IOMMU, the ITS doorbell must be mapped). */
  readonly msiThroughIommu: boolean;
}

export interface IommuConfig {
  readonly driver: 'smmuv3';
  readonly features: IommuFeatures;
}

export interface WorldGroup {
  /** Function indices in the group, in BDF order. */
  readonly members: readonly number[];
}

export interface World {
  readonly machine: Machine;
  readonly infos: readonly PciDevInfo[];
  readonly kernel: KernelConfig;
  readonly iommu: IommuConfig;
  readonly ops: IommuDriverOps;
  readonly groups: readonly WorldGroup[];
  /** Function index → group index, -1 for functions without an IOMMU (bridges, ports the IOMMU does not translate). */
  readonly groupOf: readonly number[];
  /** Devices with RMR/IOMMU_RESV_DIRECT regions (dev->iommu->require_direct): never blocked. */
  readonly requireDirect: readonly boolean[];
  /** dev->iommu->max_pasids: min(IOMMU SSIDs, the function's PASID width), 0 without PASID. */
  readonly maxPasids: readonly number[];
  /** Size of the physical page pool DMA buffers come from. */
  readonly physPages: number;
  /** IOVA pages available per domain for the DMA API. */
  readonly iovaPages: number;
}
