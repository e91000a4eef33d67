/**
 * The SMMUv3 driver's per-master record: struct arm_smmu_master (arm-smmu-v3.h) for one PCI
 * function, plus the Stream Table Entry the SMMU holds for its stream ID and its Context Descriptor
 * table. Plain data (numbers, booleans, number arrays) so the model can copy and hash it.
 *
 * The STE fields survive release_device(): the stream table is hardware state, while the rest of
 * the record is the kzalloc'd master the kernel frees.
 */
import type { DriverRecord } from '../../model/state.js';
import type { Mutable, Tx } from '../../model/tx.js';
import type { World } from '../../model/world.js';
import { tupleGet } from '../../model/flat.js';
import { pci_ats_supported } from '../../pci/ats.js';
import { iommu_driver_get_domain_for_dev } from '../../iommu/group.js';

/** STE.Config (arm-smmu-v3.h STRTAB_STE_0_CFG_*), as the model numbers them. */
export const STE_CFG_ABORT = 0;
export const STE_CFG_BYPASS = 1;
export const STE_CFG_S1_TRANS = 2;
export const STE_CFG_S2_TRANS = 3;

/** STE.S1DSS (STRTAB_STE_1_S1DSS_*): what untagged traffic does with a CD table; -1 when not S1_TRANS. */
export const S1DSS_NONE = -1;
export const S1DSS_SSID0 = 0;
export const S1DSS_BYPASS = 1;
export const S1DSS_TERMINATE = 2;

export interface SmmuMaster extends DriverRecord {
  /** arm_smmu_probe_device() succeeded: dev_iommu_priv_get(dev) is this master. */
  readonly probed: boolean;
  /** master->ats_enabled: the driver's belief that ATS is enabled at the function. */
  readonly ats_enabled: boolean;
  /** master->ats_always_on (5ff98a0da6b4): pci_ats_required() and the SMMU can keep ATS on in identity. */
  readonly ats_always_on: boolean;
  /** master->ats_prepared (the v3 `smmu-ats-prepared-gate` alternative): pci_prepare_ats() succeeded at probe. */
  readonly ats_prepared: boolean;
  /** master->ssid_bits. */
  readonly ssid_bits: number;
  /** master->cd_table.cdtab != NULL: a CD table is allocated. */
  readonly cd_table: boolean;
  /** The valid Context Descriptors: sorted flat pairs [ssid, domain slot]. */
  readonly cds: readonly number[];
  /** The installed STE: Config, S1DSS, EATS=TRANS, and the S2 domain (S2_TRANS only, else -1). */
  readonly ste_cfg: number;
  readonly ste_s1dss: number;
  readonly ste_eats: boolean;
  readonly ste_domain: number;
}

/** The record of a function the driver has not probed; the STE is what arm_smmu_init_strtab() leaves (abort, disable_bypass). */
export function initialSmmuMaster(_w: World, _f: number): SmmuMaster {
  return {
    probed: false,
    ats_enabled: false,
    ats_always_on: false,
    ats_prepared: false,
    ssid_bits: 0,
    cd_table: false,
    cds: [],
    ste_cfg: STE_CFG_ABORT,
    ste_s1dss: S1DSS_NONE,
    ste_eats: false,
    ste_domain: -1,
  };
}

export function getMaster(tx: Tx, f: number): SmmuMaster {
  return tx.master(f) as SmmuMaster;
}

export function mutMaster(tx: Tx, f: number): Mutable<SmmuMaster> {
  return tx.mutMaster<SmmuMaster>(f);
}

/** The domain in CD[ssid], or -1 when that CD is not valid. */
export function cdDomain(m: SmmuMaster, ssid: number): number {
  return tupleGet(m.cds, 2, [ssid], 1, -1);
}

/** arm_smmu_ssids_in_use(): a CD other than SSID 0 is valid (a PASID is attached). */
export function arm_smmu_ssids_in_use(m: SmmuMaster): boolean {
  const cds = m.cds;
  for (let i = 0; i < cds.length; i += 2) if (cds[i] !== 0) return true;
  return false;
}

/** master->cd_table.in_ste: the STE points at the CD table (Config = S1_TRANS). */
export function cdTableInSte(m: SmmuMaster): boolean {
  return m.ste_cfg === STE_CFG_S1_TRANS;
}

/**
 * The RID domain the driver sees with the group mutex held: the core's
 * iommu_driver_get_domain_for_dev() (a75b2be249d6), which answers the blocking domain while the
 * device is parked for a reset. -1 for a function without a group.
 */
export function sidDomain(tx: Tx, f: number): number {
  if ((tx.world.groupOf[f] ?? -1) < 0) return -1;
  return iommu_driver_get_domain_for_dev(tx, f);
}

/**
 * arm_smmu_ats_supported(): the SMMU has ATS (ARM_SMMU_FEAT_ATS, and the root complex per
 * IORT/DT, both in IommuFeatures.ats) and pci_ats_supported() holds for the function.
 */
export function arm_smmu_ats_supported(tx: Tx, f: number): boolean {
  return tx.world.iommu.features.ats && pci_ats_supported(tx, f);
}
