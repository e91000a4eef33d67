/**
 * The VT-d driver as the IOMMU core sees it: intel_iommu_ops (drivers/iommu/intel/iommu.c) and
 * the domain ops of its paging, identity and blocking domains, plus the hardware's view of a
 * requester for the device model: where untranslated requests go (the context entry, or in
 * scalable mode the PASID entry) and whether translation requests are served (Device-TLB enabled
 * for the requester: legacy TT=DEV_IOTLB, scalable DTE, and an entry that translates or passes
 * through).
 *
 * Two tables: with `vtd-blocking-domain` (35a99c54dd60) the driver has a BLOCKED domain and the
 * core attaches it as the release domain; without it (v6.1) the core blocks with an empty paging
 * domain and calls release_device() directly.
 */
import type { IommuDriverOps } from '../../iommu/driver-ops.js';
import { IOMMU_DOMAIN_BLOCKED } from '../../iommu/domain-type.js';
import type { KernelConfig } from '../../kernel/config.js';
import { pci_ats_page_aligned } from '../../pci/ats.js';
import type { Tx } from '../../model/tx.js';
import type { World } from '../../model/world.js';
import { XLATE_ABORT, XLATE_BYPASS } from '../../device/dma.js';
import { intel_attach_dev } from './attach.js';
import {
  ENTRY_NONE,
  ENTRY_PASS_THROUGH,
  getInfo,
  initialDmarDomain,
  initialIntelInfo,
  pasidEntry,
  sm_supported,
  vtd_attach_would_wait,
} from './info.js';
import { intel_remove_dev_pasid, intel_set_dev_pasid } from './pasid.js';
import {
  device_def_domain_type,
  intel_iommu_probe_device,
  intel_iommu_probe_finalize,
  intel_iommu_release_device,
} from './probe.js';
import { iotlb_sync_issue, iotlb_sync_wait } from './qi.js';

/** Where the IOMMU sends f's untranslated requests for `pasid`: a domain slot, abort or bypass. */
export function intel_translation_domain(tx: Tx, f: number, pasid: number): number {
  const m = getInfo(tx, f);
  if (!sm_supported(tx)) {
    if (pasid !== 0 || m.ctx_mode === ENTRY_NONE) return XLATE_ABORT;
    return m.ctx_mode === ENTRY_PASS_THROUGH ? XLATE_BYPASS : m.ctx_domain;
  }
  const e = pasidEntry(m, pasid);
  if (e === null) return XLATE_ABORT;
  return e.mode === ENTRY_PASS_THROUGH ? XLATE_BYPASS : e.domain;
}

/** The IOMMU serves f's translation requests for `pasid`: Device-TLB enabled and an entry present. */
export function intel_ats_allowed(tx: Tx, f: number, pasid: number): boolean {
  const m = getInfo(tx, f);
  const devtlb = sm_supported(tx) ? m.sm_dte : m.ctx_devtlb;
  return devtlb && intel_translation_domain(tx, f, pasid) !== XLATE_ABORT;
}

const base: IommuDriverOps = {
  name: 'vtd',
  initialMaster: initialIntelInfo,
  initialGlobal: (_w: World) => ({}),
  initialDomain: initialDmarDomain,
  domainRefFields: { master: ['domain', 'ctx_domain', 'pasids:3:2'], global: [], domain: [] },
  hasBlockedDomain: true,
  hasIdentityDomain: true,
  probe_device: intel_iommu_probe_device,
  probe_finalize: intel_iommu_probe_finalize,
  release_device: intel_iommu_release_device,
  def_domain_type: device_def_domain_type,
  attach_dev: (tx, d, f) => intel_attach_dev(tx, d, f),
  set_dev_pasid: intel_set_dev_pasid,
  domain_has_set_dev_pasid: (tx, d) => tx.domain(d).type !== IOMMU_DOMAIN_BLOCKED,
  remove_dev_pasid: intel_remove_dev_pasid,
  iotlb_sync_issue,
  iotlb_sync_wait,
  attach_would_wait: vtd_attach_would_wait,
  translation_domain: intel_translation_domain,
  ats_allowed: intel_ats_allowed,
  ats_enabled: (tx, f) => getInfo(tx, f).ats_enabled,
  // iommu_enable_pci_ats() also needs the Page Aligned Request bit.
  ats_supported: (tx, f) => getInfo(tx, f).ats_supported && pci_ats_page_aligned(tx, f) === 1,
};

/** intel_iommu_ops with the static blocking domain (35a99c54dd60, v6.2 on). */
export const intelIommuOps: IommuDriverOps = base;

/** intel_iommu_ops of v6.1: no blocked domain, no release domain. */
export const intelIommuOpsNoBlocking: IommuDriverOps = { ...base, hasBlockedDomain: false };

/** The ops table a kernel's VT-d has. */
export function intelOpsFor(kernel: KernelConfig): IommuDriverOps {
  return kernel.switches['vtd-blocking-domain'] ? intelIommuOps : intelIommuOpsNoBlocking;
}
