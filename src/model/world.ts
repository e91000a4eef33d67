/**
 * The static part of a model run: the machine, the kernel (preset, switches, command line), the
 * IOMMU and its driver, the IOMMU groups, and sizes of the small worlds the model ranges over
 * (physical pages, IOVA pages). Shared by every state; never cloned or hashed.
 */
import type { KernelConfig } from '../kernel/config.js';
import type { PciDevInfo } from '../pci/pci-dev.js';
import type { Machine } from '../pci/topology.js';
import type { IommuDriverOps } from '../iommu/driver-ops.js';

/** What the IOMMU hardware offers (SMMUv3 IDR bits; VT-d ECAP.DT and PASID width, AMD iotlb_sup map onto ats/ssidBits). */
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

/** The IOMMU driver a world models: ARM SMMUv3, Intel VT-d, or AMD-Vi. */
export type IommuDriverName = 'smmuv3' | 'vtd' | 'amd';
export const IOMMU_DRIVERS: readonly IommuDriverName[] = ['smmuv3', 'vtd', 'amd'];

/** VT-d: the translation mode and the ACPI DMAR ATSR units (drivers/iommu/intel/). */
export interface VtdConfig {
  /** sm_supported(): scalable mode (PASID tables) or legacy mode (context entries only). */
  readonly mode: 'legacy' | 'scalable';
  /**
   * The DMAR ATSR units: root ports (by BDF) whose devices may use ATS, or `all` for an ATSR with
   * the ALL_PORTS flag (include_all). An empty list: no ATSR, no ATS below any root port.
   */
  readonly atsr: 'all' | readonly string[];
}

/** AMD-Vi: the IVRS/IOMMU capabilities the driver reads (drivers/iommu/amd/). */
export interface AmdConfig {
  /** amd_iommu_iotlb_sup: the IOMMU supports remote IOTLBs (ATS). */
  readonly iotlb: boolean;
}

export interface IommuConfig {
  readonly driver: IommuDriverName;
  readonly features: IommuFeatures;
  /** VT-d settings (read only when driver is vtd). */
  readonly vtd: VtdConfig;
  /** AMD-Vi settings (read only when driver is amd). */
  readonly amd: AmdConfig;
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
