/**
 * The SMMUv3 driver as the IOMMU core sees it: arm_smmu_ops and the domain ops of the paging,
 * identity, blocked and SVA domains (arm-smmu-v3.c), plus the hardware's view of a stream for the
 * device model: where untranslated requests go (translation_domain) and whether ATS is accepted
 * (ats_allowed: STE.EATS and, for a PASID, a valid CD).
 */
import type { IommuDriverOps } from '../../iommu/driver-ops.js';
import {
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_SVA,
  IOMMU_DOMAIN_UNMANAGED,
} from '../../iommu/domain-type.js';
import { EINVAL, EOPNOTSUPP } from '../../kernel/errno.js';
import type { Tx } from '../../model/tx.js';
import type { World } from '../../model/world.js';
import { XLATE_ABORT, XLATE_BYPASS } from '../../device/dma.js';
import { arm_smmu_attach_dev, smmu_predicts_ats } from './attach.js';
import { initialSmmuDomain, type SmmuDomain } from './domain.js';
import { arm_smmu_attach_dev_blocked, arm_smmu_attach_dev_identity } from './identity-blocked.js';
import { iotlb_sync_issue, iotlb_sync_wait } from './invalidate.js';
import {
  S1DSS_BYPASS,
  S1DSS_SSID0,
  STE_CFG_ABORT,
  STE_CFG_BYPASS,
  STE_CFG_S1_TRANS,
  STE_CFG_S2_TRANS,
  cdDomain,
  getMaster,
  initialSmmuMaster,
} from './master.js';
import { arm_smmu_blocking_set_dev_pasid, arm_smmu_set_pasid } from './pasid.js';
import { arm_smmu_def_domain_type, arm_smmu_probe_device, arm_smmu_release_device } from './probe.js';

/** Where the SMMU sends the function's untranslated requests for `pasid`, per its STE and CDs. */
export function smmu_translation_domain(tx: Tx, f: number, pasid: number): number {
  const m = getMaster(tx, f);
  switch (m.ste_cfg) {
    case STE_CFG_ABORT:
      return XLATE_ABORT;
    case STE_CFG_BYPASS:
      return XLATE_BYPASS;
    case STE_CFG_S2_TRANS:
      // No CD table: substreams are not allowed.
      return pasid === 0 ? m.ste_domain : XLATE_ABORT;
    case STE_CFG_S1_TRANS: {
      if (pasid !== 0) {
        const d = cdDomain(m, pasid);
        return d < 0 ? XLATE_ABORT : d;
      }
      if (m.ste_s1dss === S1DSS_BYPASS) return XLATE_BYPASS;
      if (m.ste_s1dss === S1DSS_SSID0) {
        const d = cdDomain(m, 0);
        return d < 0 ? XLATE_ABORT : d;
      }
      return XLATE_ABORT;
    }
    default:
      throw new Error(`model bug: STE config ${m.ste_cfg}`);
  }
}

/**
 * The SMMU accepts ATS Translation Requests and translated requests for (f, pasid): STE.EATS is
 * TRANS and the stream/substream translates (S1DSS=BYPASS counts: "13.6.4 Full ATS skipping
 * stage 1"; TERMINATE and an invalid CD do not).
 */
export function smmu_ats_allowed(tx: Tx, f: number, pasid: number): boolean {
  if (!getMaster(tx, f).ste_eats) return false;
  return smmu_translation_domain(tx, f, pasid) !== XLATE_ABORT;
}

/**
 * An attach that changes the domain of one of f's attachments would wait: an ATC invalidation
 * issued from the invalidation array of a domain f is attached to is still waiting for its
 * CMD_SYNC, holding invs->rwlock for reading, and arm_smmu_invs_unref() takes it for writing
 * (587bb3e56a2c: ATC invalidations complete before the attach proceeds).
 */
export function smmu_attach_would_wait(tx: Tx, f: number): boolean {
  const n = tx.domainCount;
  for (let d = 0; d < n; d++) {
    const dom = tx.domainOrNull(d);
    if (dom === null) continue;
    const drv = dom.drv as SmmuDomain;
    if (drv.ats_readers === 0) continue;
    const dev = drv.devices;
    for (let i = 0; i < dev.length; i += 2) if (dev[i] === f) return true;
  }
  return false;
}

function attach_dev(tx: Tx, d: number, f: number, old: number): number {
  const type = tx.domain(d).type;
  switch (type) {
    case IOMMU_DOMAIN_BLOCKED:
      return arm_smmu_attach_dev_blocked(tx, d, f, old);
    case IOMMU_DOMAIN_IDENTITY:
      return arm_smmu_attach_dev_identity(tx, d, f, old);
    case IOMMU_DOMAIN_UNMANAGED:
    case IOMMU_DOMAIN_DMA:
    case IOMMU_DOMAIN_DMA_FQ:
      return arm_smmu_attach_dev(tx, d, f, old);
    case IOMMU_DOMAIN_SVA:
      // SVA domains have only set_dev_pasid.
      return -EINVAL;
  }
}

function set_dev_pasid(tx: Tx, d: number, f: number, pasid: number, old: number): number {
  const type = tx.domain(d).type;
  switch (type) {
    case IOMMU_DOMAIN_BLOCKED:
      return arm_smmu_blocking_set_dev_pasid(tx, f, pasid, old);
    case IOMMU_DOMAIN_IDENTITY:
      return -EOPNOTSUPP;
    case IOMMU_DOMAIN_UNMANAGED:
    case IOMMU_DOMAIN_DMA:
    case IOMMU_DOMAIN_DMA_FQ:
    case IOMMU_DOMAIN_SVA:
      return arm_smmu_set_pasid(tx, d, f, pasid, old);
  }
}

export const smmuv3Ops: IommuDriverOps = {
  name: 'smmuv3',
  initialMaster: initialSmmuMaster,
  initialGlobal: (_w: World) => ({ always_on_info_printed: false }),
  initialDomain: initialSmmuDomain,
  domainRefFields: { master: ['ste_domain', 'cds:2:1'], global: [], domain: [] },
  hasBlockedDomain: true,
  hasIdentityDomain: true,
  probe_device: arm_smmu_probe_device,
  release_device: arm_smmu_release_device,
  def_domain_type: arm_smmu_def_domain_type,
  attach_dev,
  set_dev_pasid,
  // arm_smmu_identity_ops has only attach_dev; paging (arm_smmu_s1_set_dev_pasid), SVA and blocked
  // domains have set_dev_pasid.
  domain_has_set_dev_pasid: (tx, d) => tx.domain(d).type !== IOMMU_DOMAIN_IDENTITY,
  remove_dev_pasid: (tx, f, pasid, d) => {
    arm_smmu_blocking_set_dev_pasid(tx, f, pasid, d);
  },
  iotlb_sync_issue,
  iotlb_sync_wait,
  translation_domain: smmu_translation_domain,
  ats_allowed: smmu_ats_allowed,
  ats_enabled: (tx, f) => getMaster(tx, f).ats_enabled,
  attach_would_wait: smmu_attach_would_wait,
  ats_supported: (tx, f) => smmu_predicts_ats(tx, f),
};
