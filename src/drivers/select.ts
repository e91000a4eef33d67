/**
 * Choosing the IOMMU driver's ops table for a world: SMMUv3, VT-d (whose table depends on the
 * kernel: v6.1 has no blocking domain) or AMD-Vi.
 */
import type { IommuDriverOps } from '../iommu/driver-ops.js';
import type { KernelConfig } from '../kernel/config.js';
import type { IommuDriverName } from '../model/world.js';
import { amdIommuOps } from './amd/ops.js';
import { intelOpsFor } from './intel/ops.js';
import { smmuv3Ops } from './smmuv3/ops.js';

export function driverOps(driver: IommuDriverName, kernel: KernelConfig): IommuDriverOps {
  switch (driver) {
    case 'smmuv3':
      return smmuv3Ops;
    case 'vtd':
      return intelOpsFor(kernel);
    case 'amd':
      return amdIommuOps;
  }
}
