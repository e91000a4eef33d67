/**
 * SMMUv3 probe and release of a master (arm-smmu-v3.c arm_smmu_probe_device(),
 * arm_smmu_enable_pasid(), arm_smmu_master_prepare_ats() (v7.2, 5ff98a0da6b4),
 * arm_smmu_release_device(), arm_smmu_def_domain_type()).
 *
 * PASID is enabled before ATS is prepared (PCIe 4.0 §10.5.1.3). ATS preparation programs the STU
 * (pci_prepare_ats() with the smallest SMMU page size):
 *  - up to v7.1 for every PCI master, result ignored;
 *  - `smmu-ats-always-on` (v7.2): only for ATS-supported masters, after deciding always-on
 *    (pci_ats_required(), S1 and SSIDs: allocate the CD table; else "SMMU doesn't support ATS to be
 *    always on", once);
 *  - `smmu-fail-probe-on-prepare-error` (v7.3, thread 4 v4+): a prepare failure fails the probe;
 *  - `smmu-ats-prepared-gate` (thread 4 v3 alternative): the result is kept in ats_prepared.
 */
import { IOMMU_DOMAIN_IDENTITY, type DomainType } from '../../iommu/domain-type.js';
import { EBUSY } from '../../kernel/errno.js';
import { WARN_ON, traceReturn } from '../../kernel/events.js';
import type { Mutable, Tx } from '../../model/tx.js';
import { pci_ats_required, pci_prepare_ats } from '../../pci/ats.js';
import { pci_disable_pasid, pci_enable_pasid, pci_max_pasids, pci_pasid_features } from '../../pci/pasid.js';
import { PCI_VENDOR_ID_HUAWEI } from '../../pci/quirks.js';
import { arm_smmu_ats_supported, getMaster, mutMaster, type SmmuMaster } from './master.js';

/** arm_smmu_enable_pasid(): enable PASID at the function and size the SSIDs; a failure only logs. */
function arm_smmu_enable_pasid(tx: Tx, f: number, w: Mutable<SmmuMaster>): void {
  const features = pci_pasid_features(tx, f);
  if (features < 0) return;
  const num = pci_max_pasids(tx, f);
  if (num <= 0) return;
  if (pci_enable_pasid(tx, f, features) !== 0) {
    tx.emit({ kind: 'info', bdf: tx.info(f).bdf, message: 'Failed to enable PASID', level: 'err' });
    return;
  }
  w.ssid_bits = Math.min(31 - Math.clz32(num), tx.world.iommu.features.ssidBits);
}

/** arm_smmu_disable_pasid(): undo PASID (after ATS is off). */
function arm_smmu_disable_pasid(tx: Tx, f: number): void {
  if (!tx.dev(f).pasidEnabled) return;
  mutMaster(tx, f).ssid_bits = 0;
  pci_disable_pasid(tx, f);
}

/** The ATS part of probe; 0 or the errno that fails the probe. */
function arm_smmu_master_prepare_ats(tx: Tx, f: number): number {
  const sw = tx.kernel.switches;
  const feat = tx.world.iommu.features;
  const bdf = tx.info(f).bdf;
  // v7.2 factors the preparation into arm_smmu_master_prepare_ats(), skipped for masters without
  // ATS support; thread 4 (v7.3) relies on the same gate before failing the probe.
  if ((sw['smmu-ats-always-on'] || sw['smmu-fail-probe-on-prepare-error']) && !arm_smmu_ats_supported(tx, f))
    return 0;
  if (sw['smmu-ats-always-on'] && pci_ats_required(tx, f)) {
    // S1DSS is ignored without IDR0_S1P or with no SSIDs: no always-on.
    if (!feat.stage1 || feat.ssidBits === 0) {
      const drv = tx.drv();
      if (drv.always_on_info_printed !== true) {
        // dev_info_once(): once per boot, whichever device hits it first.
        tx.emit({ kind: 'info', bdf, message: "SMMU doesn't support ATS to be always on" });
        tx.setDrv({ ...drv, always_on_info_printed: true });
      }
    } else {
      const w = mutMaster(tx, f);
      w.ats_always_on = true;
      // arm_smmu_alloc_cd_tables(), with S1CDMAX at least 1 so S1DSS is effective.
      const err = tx.injectedFailure('arm_smmu_alloc_cd_tables', f);
      if (err !== 0) return err;
      w.cd_table = true;
    }
  }
  // Before 2665d975db35 (`pci-prepare-ats`) there was no pci_prepare_ats(): the STU was written
  // with ENABLE by pci_enable_ats() at attach.
  if (!sw['pci-prepare-ats']) return 0;
  let ret = tx.injectedFailure('pci_prepare_ats', f);
  if (ret !== 0) traceReturn(tx, 'pci_prepare_ats', bdf, ret);
  else ret = pci_prepare_ats(tx, f, feat.pageShift);
  if (sw['smmu-ats-prepared-gate']) mutMaster(tx, f).ats_prepared = ret === 0;
  if (ret !== 0 && sw['smmu-fail-probe-on-prepare-error']) return ret;
  return 0;
}

/** Resets the master to "not probed", keeping the STE (hardware state). */
function freeMaster(tx: Tx, f: number): void {
  const w = mutMaster(tx, f);
  w.probed = false;
  w.ats_enabled = false;
  w.ats_always_on = false;
  w.ats_prepared = false;
  w.ssid_bits = 0;
  w.cd_table = false;
  w.cds = [];
}

/** arm_smmu_probe_device(): 0 or a negative errno (the function then has no IOMMU). */
export function arm_smmu_probe_device(tx: Tx, f: number): number {
  const m = getMaster(tx, f);
  if (WARN_ON(tx, m.probed, 'arm_smmu_probe_device', tx.info(f).bdf, 'master already probed')) return -EBUSY;
  freeMaster(tx, f);
  const w = mutMaster(tx, f);
  w.probed = true;
  arm_smmu_enable_pasid(tx, f, w);
  const ret = arm_smmu_master_prepare_ats(tx, f);
  if (ret !== 0) {
    // err_disable_pasid: undo PASID and free the master.
    arm_smmu_disable_pasid(tx, f);
    freeMaster(tx, f);
    return ret;
  }
  return 0;
}

/**
 * arm_smmu_release_device(): disable PASID and free the master. The STE was already put back by
 * the core, which attaches ops->release_domain (the blocked domain; identity for a require_direct
 * device) first ("iommu/arm-smmu-v3: Use the release_domain"); ATS is off by then.
 */
export function arm_smmu_release_device(tx: Tx, f: number): void {
  if (!getMaster(tx, f).probed) return;
  arm_smmu_disable_pasid(tx, f);
  freeMaster(tx, f);
}

/** arm_smmu_def_domain_type(): the HiSilicon PCIe tune and trace device (19e5:a12e) needs identity. */
export function arm_smmu_def_domain_type(tx: Tx, f: number): DomainType | 0 {
  const info = tx.info(f);
  return info.vendor === PCI_VENDOR_ID_HUAWEI && info.device === 0xa12e ? IOMMU_DOMAIN_IDENTITY : 0;
}
