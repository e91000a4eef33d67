/**
 * RID attach on VT-d (iommu.c intel_iommu_attach_device(), dmar_domain_attach_device(),
 * device_block_translation(), identity_domain_attach_dev(), blocking_domain_attach_dev(),
 * domain_context_mapping(), domain_context_clear()), with its history:
 *
 *  - Every attach first blocks translation: the context entry (legacy) or the RID2PASID PASID
 *    entry (scalable) is cleared and the caches behind it flushed.
 *  - Before 5518f239aff1 (`vtd-sm-ats-at-probe` off: v6.1, v6.12) the block also turned ATS off
 *    (iommu_disable_pci_caps(); in v6.1 PASID too), and the attach turned it on again for a paging
 *    domain in both modes, and for the identity domain in scalable mode only (v6.1
 *    domain_add_dev_info(): `sm_supported() || !domain_type_is_si()`; v6.12
 *    identity_domain_attach_dev()).
 *  - From 5518f239aff1 legacy mode enables ATS in domain_context_mapping() and disables it in
 *    domain_context_clear(); scalable mode leaves ATS alone here (probe_finalize enabled it), so
 *    it stays on under IDENTITY and BLOCKED.
 *  - The `vtd-ats-follows-domain` alternative (Jason Gunthorpe's review): in scalable mode ATS
 *    follows the RID domain as on SMMUv3 (intel_ats_follow_domain()).
 *  - Without `vtd-blocking-domain` (v6.1) there is no BLOCKED domain: the core blocks with an
 *    empty paging domain, which attaches like any other, ATS included.
 */
import { ENODEV } from '../../kernel/errno.js';
import { isPagingDomain, IOMMU_DOMAIN_BLOCKED, IOMMU_DOMAIN_IDENTITY } from '../../iommu/domain-type.js';
import type { Tx } from '../../model/tx.js';
import { pci_ats_required } from '../../pci/ats.js';
import {
  iommu_disable_pci_ats,
  iommu_disable_pci_caps,
  iommu_enable_pci_ats,
  iommu_enable_pci_caps,
} from './ats.js';
import { context_clear, context_set, pasid_entry_clear, pasid_entry_set } from './entries.js';
import {
  ENTRY_PASS_THROUGH,
  ENTRY_TRANSLATE,
  domainAddDev,
  domainDelDev,
  getInfo,
  mutInfo,
  pasidEntry,
  sm_supported,
} from './info.js';

/** Scalable mode under the `vtd-ats-follows-domain` alternative. */
export function atsFollowsDomain(tx: Tx): boolean {
  return sm_supported(tx) && tx.kernel.switches['vtd-ats-follows-domain'];
}

/** ATS is tied to attach/detach: legacy mode, or scalable mode before 5518f239aff1. */
function atsAtAttach(tx: Tx): boolean {
  return !sm_supported(tx) || !tx.kernel.switches['vtd-sm-ats-at-probe'];
}

/**
 * The `vtd-ats-follows-domain` alternative: ATS on while the RID translates through a paging
 * domain, or a PASID is attached, or the function requires ATS (pci_ats_required()) and the RID
 * is IDENTITY; off otherwise (BLOCKED, plain IDENTITY). Called after every RID or PASID change.
 */
export function intel_ats_follow_domain(tx: Tx, f: number): void {
  const m = getInfo(tx, f);
  const rid = pasidEntry(m, 0);
  let pasids = 0;
  for (let i = 0; i < m.pasids.length; i += 3) if (m.pasids[i] !== 0) pasids++;
  const want =
    (rid !== null && rid.mode === ENTRY_TRANSLATE) ||
    pasids > 0 ||
    (rid !== null && rid.mode === ENTRY_PASS_THROUGH && pci_ats_required(tx, f));
  if (want) iommu_enable_pci_ats(tx, f);
  else iommu_disable_pci_ats(tx, f);
}

/**
 * iommu.c device_block_translation(): the RID stops translating; nothing to do while blocked.
 *
 * Where ATS goes off, per release. Before 5518f239aff1 (v6.1 stable with c7be17c2903d, v6.12) it
 * goes off first, in both modes, so the flush after the entry is cleared finds info->ats_enabled
 * clear and sends no device-TLB invalidation. From 5518f239aff1 only legacy mode turns it off, in
 * domain_context_clear() after the alias loop: domain_context_clear_one() clears the entry and
 * intel_context_flush_no_pasid() (intel_context_flush_present() before it) flushes the context
 * cache, the IOTLB and, ATS still on, the device-TLB; only then is ATS disabled.
 */
export function device_block_translation(tx: Tx, f: number): void {
  const m = getInfo(tx, f);
  if (!m.domain_attached) return;
  const atsOffAfterClear = tx.kernel.switches['vtd-sm-ats-at-probe'];
  if (!atsOffAfterClear && !atsFollowsDomain(tx)) iommu_disable_pci_caps(tx, f);
  if (sm_supported(tx)) pasid_entry_clear(tx, f, 0);
  else {
    context_clear(tx, f);
    if (atsOffAfterClear) iommu_disable_pci_ats(tx, f);
  }
  const d = m.domain;
  const w = mutInfo(tx, f);
  w.domain_attached = false;
  w.domain = -1;
  if (d >= 0) domainDelDev(tx, d, f, 0);
}

/**
 * iommu.c dmar_domain_attach_device(): join the domain's device list and point the context entry
 * (legacy, domain_context_mapping()) or the RID2PASID entry (scalable) at it, then turn ATS on where
 * this release does it at attach.
 */
function dmar_domain_attach_device(tx: Tx, d: number, f: number): number {
  const w = mutInfo(tx, f);
  w.domain = d;
  w.domain_attached = true;
  domainAddDev(tx, d, f, 0);
  if (!sm_supported(tx)) {
    context_set(tx, f, ENTRY_TRANSLATE, d);
    if (tx.kernel.switches['vtd-sm-ats-at-probe']) iommu_enable_pci_ats(tx, f);
    else iommu_enable_pci_caps(tx, f);
    return 0;
  }
  pasid_entry_set(tx, f, 0, ENTRY_TRANSLATE, d);
  if (atsFollowsDomain(tx)) intel_ats_follow_domain(tx, f);
  else if (atsAtAttach(tx)) iommu_enable_pci_caps(tx, f);
  return 0;
}

/** default_domain_ops.attach_dev: intel_iommu_attach_device() for a paging domain. */
export function intel_iommu_attach_device(tx: Tx, d: number, f: number): number {
  if (!getInfo(tx, f).probed) return -ENODEV;
  device_block_translation(tx, f);
  return dmar_domain_attach_device(tx, d, f);
}

/**
 * identity_domain_attach_dev() (v6.1: the si_domain through domain_add_dev_info()): pass-through
 * context or PASID entry; ATS back on only in scalable mode, where this release enables it at
 * attach.
 */
export function identity_domain_attach_dev(tx: Tx, f: number): number {
  if (!getInfo(tx, f).probed) return 0;
  device_block_translation(tx, f);
  if (sm_supported(tx)) {
    pasid_entry_set(tx, f, 0, ENTRY_PASS_THROUGH, -1);
    if (atsFollowsDomain(tx)) intel_ats_follow_domain(tx, f);
    else if (atsAtAttach(tx)) iommu_enable_pci_caps(tx, f);
  } else {
    context_set(tx, f, ENTRY_PASS_THROUGH, -1);
  }
  mutInfo(tx, f).domain_attached = true;
  return 0;
}

/** blocking_domain_attach_dev(): device_block_translation() and nothing else. */
export function blocking_domain_attach_dev(tx: Tx, f: number): number {
  if (!getInfo(tx, f).probed) return 0;
  device_block_translation(tx, f);
  if (atsFollowsDomain(tx)) intel_ats_follow_domain(tx, f);
  return 0;
}

/** attach_dev of domain d, by its type. */
export function intel_attach_dev(tx: Tx, d: number, f: number): number {
  const type = tx.domain(d).type;
  if (type === IOMMU_DOMAIN_BLOCKED) return blocking_domain_attach_dev(tx, f);
  if (type === IOMMU_DOMAIN_IDENTITY) return identity_domain_attach_dev(tx, f);
  if (isPagingDomain(type)) return intel_iommu_attach_device(tx, d, f);
  // An SVA domain has no RID attach.
  return -ENODEV;
}
