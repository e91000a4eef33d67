/**
 * PASID attachments on VT-d (iommu.c intel_iommu_set_dev_pasid(), identity_domain_set_dev_pasid(),
 * blocking_domain_set_dev_pasid() / domain_remove_dev_pasid(); svm.c for SVA domains). Only in
 * scalable mode with PASID support (pasid_supported()); the PASID-table entry points at the
 * domain, which lists the attachment for its device-TLB invalidations. ATS is not touched
 * (unless the `vtd-ats-follows-domain` alternative is on).
 */
import { EINVAL, ENODEV, EOPNOTSUPP } from '../../kernel/errno.js';
import { IOMMU_DOMAIN_BLOCKED, IOMMU_DOMAIN_IDENTITY } from '../../iommu/domain-type.js';
import type { Tx } from '../../model/tx.js';
import { atsFollowsDomain, intel_ats_follow_domain } from './attach.js';
import { pasid_entry_clear, pasid_entry_set } from './entries.js';
import {
  ENTRY_PASS_THROUGH,
  ENTRY_TRANSLATE,
  domainAddDev,
  domainDelDev,
  getInfo,
  sm_supported,
} from './info.js';

/** pasid_supported(iommu) for this function: scalable mode, PASIDs, and the function has them. */
function pasidUsable(tx: Tx, f: number): boolean {
  return sm_supported(tx) && tx.world.iommu.features.ssidBits > 0 && getInfo(tx, f).pasid_supported;
}

/** set_dev_pasid of domain d for f's `pasid`, replacing `old` (-1 for none). */
export function intel_set_dev_pasid(tx: Tx, d: number, f: number, pasid: number, old: number): number {
  if (!getInfo(tx, f).probed) return -ENODEV;
  if (!pasidUsable(tx, f)) return -EOPNOTSUPP;
  const type = tx.domain(d).type;
  if (type === IOMMU_DOMAIN_BLOCKED) {
    intel_remove_dev_pasid(tx, f, pasid, old);
    return 0;
  }
  if (type === IOMMU_DOMAIN_IDENTITY) pasid_entry_set(tx, f, pasid, ENTRY_PASS_THROUGH, -1);
  else {
    if (pasid === 0) return -EINVAL;
    domainAddDev(tx, d, f, pasid);
    pasid_entry_set(tx, f, pasid, ENTRY_TRANSLATE, d);
  }
  if (old >= 0 && old !== d) domainDelDev(tx, old, f, pasid);
  if (atsFollowsDomain(tx)) intel_ats_follow_domain(tx, f);
  return 0;
}

/** blocking_domain_set_dev_pasid(): tear the PASID entry down and leave the old domain. */
export function intel_remove_dev_pasid(tx: Tx, f: number, pasid: number, old: number): void {
  if (!getInfo(tx, f).probed) return;
  pasid_entry_clear(tx, f, pasid);
  if (old >= 0) domainDelDev(tx, old, f, pasid);
  if (atsFollowsDomain(tx)) intel_ats_follow_domain(tx, f);
}
