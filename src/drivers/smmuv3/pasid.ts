/**
 * PASID (substream) attachments (arm-smmu-v3.c arm_smmu_set_pasid(), arm_smmu_update_ste(),
 * arm_smmu_blocking_set_dev_pasid()). A PASID gets a CD in the master's CD table; if the RID is
 * identity or blocked, the STE is upgraded to a CD-table STE with S1DSS so the PASID can translate
 * and use ATS. When the last PASID goes, the RID's identity/blocked domain is attached again, which
 * downgrades the STE and turns ATS off (unless an always-on master stays in identity).
 */
import { EINVAL, ENODEV } from '../../kernel/errno.js';
import { WARN_ON } from '../../kernel/events.js';
import { IOMMU_DOMAIN_BLOCKED, IOMMU_DOMAIN_IDENTITY } from '../../iommu/domain-type.js';
import type { Tx } from '../../model/tx.js';
import {
  arm_smmu_attach_commit,
  arm_smmu_attach_prepare,
  arm_smmu_install_old_domain_invs,
  arm_smmu_remove_master_domain,
  newAttachState,
} from './attach.js';
import { STAGE_S1, getSmmuDomain, smmuDomainDevices } from './domain.js';
import { arm_smmu_attach_dev_blocked, arm_smmu_attach_dev_identity } from './identity-blocked.js';
import { arm_smmu_atc_inv_master } from './invalidate.js';
import {
  S1DSS_BYPASS,
  S1DSS_TERMINATE,
  arm_smmu_ssids_in_use,
  cdTableInSte,
  getMaster,
  sidDomain,
} from './master.js';
import {
  arm_smmu_clear_cd,
  arm_smmu_install_ste_for_dev,
  arm_smmu_make_cdtable_ste,
  arm_smmu_write_cd_entry,
} from './ste.js';

function domainType(tx: Tx, d: number): number {
  const dom = d < 0 ? null : tx.domainOrNull(d);
  return dom === null ? -1 : dom.type;
}

/**
 * arm_smmu_update_ste(): make the STE a CD-table STE with the RID domain's S1DSS (BYPASS for
 * identity, TERMINATE for blocked) and the given EATS, unless it already is one with that EATS.
 */
function arm_smmu_update_ste(tx: Tx, f: number, sidType: number, ats_enabled: boolean): void {
  const m = getMaster(tx, f);
  if (cdTableInSte(m) && m.ste_eats === ats_enabled) return;
  let s1dss = S1DSS_TERMINATE;
  if (sidType === IOMMU_DOMAIN_IDENTITY) s1dss = S1DSS_BYPASS;
  else
    WARN_ON(
      tx,
      sidType !== IOMMU_DOMAIN_BLOCKED,
      'arm_smmu_update_ste',
      tx.info(f).bdf,
      'RID domain is neither identity nor blocked',
    );
  arm_smmu_install_ste_for_dev(tx, f, arm_smmu_make_cdtable_ste(ats_enabled, s1dss));
}

/**
 * arm_smmu_set_pasid() (via arm_smmu_s1_set_dev_pasid() or the SVA op): attach domain d to
 * `pasid`, replacing `old` (-1 for a new attachment). Only S1 (and SVA) domains go in a CD; the
 * RID must be on a CD-table STE already or on identity/blocked.
 */
export function arm_smmu_set_pasid(tx: Tx, d: number, f: number, pasid: number, old: number): number {
  const m = getMaster(tx, f);
  if (!m.probed) return -ENODEV;
  if (getSmmuDomain(tx, d).stage !== STAGE_S1) return -EINVAL;
  const sidType = domainType(tx, sidDomain(tx, f));
  if (!cdTableInSte(m) && sidType !== IOMMU_DOMAIN_IDENTITY && sidType !== IOMMU_DOMAIN_BLOCKED)
    return -EINVAL;
  const state = newAttachState(tx, f, old, pasid);
  const ret = arm_smmu_attach_prepare(tx, state, d);
  if (ret !== 0) return ret;
  arm_smmu_write_cd_entry(tx, f, pasid, d);
  arm_smmu_update_ste(tx, f, sidType, state.ats_enabled);
  return arm_smmu_attach_commit(tx, state);
}

/**
 * arm_smmu_blocking_set_dev_pasid() (the blocked domain's set_dev_pasid, which replaced
 * remove_dev_pasid): clear the CD, flush the PASID's ATC entries, leave the old domain (list,
 * nr_ats_masters, invalidation array). When no PASID is left, re-attach the RID's identity or
 * blocked domain to downgrade the STE, except for an always-on master whose RID is not BLOCKED
 * (5ff98a0da6b4 v5/v6).
 */
export function arm_smmu_blocking_set_dev_pasid(tx: Tx, f: number, pasid: number, old: number): number {
  const m = getMaster(tx, f);
  if (!m.probed || old < 0) return 0;
  arm_smmu_clear_cd(tx, f, pasid);
  if (m.ats_enabled) arm_smmu_atc_inv_master(tx, f, pasid);
  const oldDevices = smmuDomainDevices(tx, old);
  arm_smmu_remove_master_domain(tx, f, oldDevices, pasid);
  arm_smmu_install_old_domain_invs(tx, f, oldDevices, pasid, m.ats_enabled);
  if (arm_smmu_ssids_in_use(getMaster(tx, f))) return 0;
  const sid = sidDomain(tx, f);
  const sidType = domainType(tx, sid);
  if (m.ats_always_on && sidType !== IOMMU_DOMAIN_BLOCKED) return 0;
  if (sidType === IOMMU_DOMAIN_IDENTITY) arm_smmu_attach_dev_identity(tx, sid, f, sid);
  else if (sidType === IOMMU_DOMAIN_BLOCKED) arm_smmu_attach_dev_blocked(tx, sid, f, sid);
  return 0;
}
