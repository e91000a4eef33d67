/**
 * The AMD-Vi driver as the IOMMU core sees it: amd_iommu_ops (drivers/iommu/amd/iommu.c), its
 * paging, identity and blocked domains, and the Device Table Entry for the device model. PASIDs
 * (SVA through the v2 page table) are not modelled: set_dev_pasid is refused.
 */
import type { IommuDriverOps } from '../../iommu/driver-ops.js';
import { EOPNOTSUPP } from '../../kernel/errno.js';
import type { Tx } from '../../model/tx.js';
import type { World } from '../../model/world.js';
import { XLATE_ABORT, XLATE_BYPASS } from '../../device/dma.js';
import { amd_attach_dev } from './attach.js';
import {
  DTE_NONE,
  DTE_PASS_THROUGH,
  getDevData,
  initialAmdDevData,
  initialAmdDomain,
  amd_attach_would_wait,
} from './dev-data.js';
import { iotlb_sync_issue, iotlb_sync_wait } from './invalidate.js';
import { amd_iommu_def_domain_type, amd_iommu_probe_device, amd_iommu_release_device } from './probe.js';

export function amd_translation_domain(tx: Tx, f: number, pasid: number): number {
  const m = getDevData(tx, f);
  if (pasid !== 0 || m.dte_mode === DTE_NONE) return XLATE_ABORT;
  return m.dte_mode === DTE_PASS_THROUGH ? XLATE_BYPASS : m.dte_domain;
}

export function amd_ats_allowed(tx: Tx, f: number, pasid: number): boolean {
  return getDevData(tx, f).dte_iotlb && amd_translation_domain(tx, f, pasid) !== XLATE_ABORT;
}

export const amdIommuOps: IommuDriverOps = {
  name: 'amd',
  initialMaster: initialAmdDevData,
  initialGlobal: (_w: World) => ({}),
  initialDomain: initialAmdDomain,
  domainRefFields: { master: ['domain', 'dte_domain'], global: [], domain: [] },
  hasBlockedDomain: true,
  hasIdentityDomain: true,
  probe_device: amd_iommu_probe_device,
  release_device: amd_iommu_release_device,
  def_domain_type: amd_iommu_def_domain_type,
  attach_dev: (tx, d, f) => amd_attach_dev(tx, d, f),
  set_dev_pasid: () => -EOPNOTSUPP,
  domain_has_set_dev_pasid: () => false,
  remove_dev_pasid: () => undefined,
  iotlb_sync_issue,
  iotlb_sync_wait,
  attach_would_wait: amd_attach_would_wait,
  translation_domain: amd_translation_domain,
  ats_allowed: amd_ats_allowed,
  ats_enabled: (tx, f) => getDevData(tx, f).ats_enabled,
  ats_supported: (tx, f) => tx.world.iommu.amd.iotlb && getDevData(tx, f).ats_sup,
};
