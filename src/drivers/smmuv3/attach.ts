/**
 * The SMMUv3 two-phase attach (arm-smmu-v3.c arm_smmu_attach_prepare() / arm_smmu_attach_commit(),
 * with the invs rework's arm_smmu_attach_prepare_invs(), arm_smmu_install_new_domain_invs() and
 * arm_smmu_install_old_domain_invs()), and the paging-domain RID attach arm_smmu_attach_dev().
 *
 * Prepare may fail; it predicts ATS for the new attachment, adds the master to the new domain's
 * list (nr_ats_masters), installs the new domain's merged invalidation array before the STE
 * changes, and disables ATS at the PCI function first if it goes off. The caller then writes the
 * STE/CD. Commit cannot fail (except under the `smmu-invs-rollback` alternative): it turns ATS on
 * (or flushes the ATC), removes the master from the old domain and drops the old domain's entries.
 */
import { EBUSY, EINVAL, ENODEV } from '../../kernel/errno.js';
import { WARN_ON, traceReturn } from '../../kernel/events.js';
import type { Tx } from '../../model/tx.js';
import { pci_disable_ats, pci_enable_ats } from '../../pci/ats.js';
import {
  INV_TYPE_ATS,
  STAGE_NONE,
  STAGE_S1,
  STAGE_S2,
  devicesAdd,
  devicesRemove,
  getSmmuDomain,
  invsRef,
  invsUnref,
  setSmmuDomain,
  copySmmuDomain,
  smmuDomainDevices,
  tagType,
  type SmmuDomain,
} from './domain.js';
import { arm_smmu_atc_inv_master, arm_smmu_flush_iotlb_tag } from './invalidate.js';
import {
  S1DSS_SSID0,
  arm_smmu_ats_supported,
  arm_smmu_ssids_in_use,
  getMaster,
  mutMaster,
  type SmmuMaster,
} from './master.js';
import {
  arm_smmu_clear_cd,
  arm_smmu_install_ste_for_dev,
  arm_smmu_make_cdtable_ste,
  arm_smmu_make_s2_domain_ste,
  arm_smmu_write_cd_entry,
  restoreSteAndCds,
  steOf,
  type Ste,
} from './ste.js';

/** struct arm_smmu_attach_state, plus what the model needs to undo prepare (rollback alternative). */
export interface AttachState {
  readonly f: number;
  /** The old domain of this (RID or PASID) attachment, -1 for none. */
  readonly old: number;
  readonly ssid: number;
  cd_needs_ats: boolean;
  disable_ats: boolean;
  /** Result: ATS is to be enabled for the new attachment (the STE's EATS). */
  ats_enabled: boolean;
  /** to_smmu_domain_devices() of the new and old domains, -1 when they track no masters. */
  newDevices: number;
  oldDevices: number;
  /** master->ats_enabled when prepare built the old domain's entries to unreference. */
  oldMasterAts: boolean;
  /** For the rollback: the new domain's record, the master's STE and CDs before prepare. */
  savedNewDrv: SmmuDomain | null;
  savedSte: Ste;
  savedCds: readonly number[];
}

export function newAttachState(tx: Tx, f: number, old: number, ssid: number): AttachState {
  const m = getMaster(tx, f);
  return {
    f,
    old,
    ssid,
    cd_needs_ats: false,
    disable_ats: false,
    ats_enabled: false,
    newDevices: -1,
    oldDevices: -1,
    oldMasterAts: m.ats_enabled,
    savedNewDrv: null,
    savedSte: steOf(tx, f),
    savedCds: m.cds,
  };
}

/**
 * The ATS prediction of arm_smmu_attach_prepare(): !disable_ats && arm_smmu_ats_supported(); with
 * the `smmu-ats-prepared-gate` alternative (thread 4 v3) also master->ats_prepared.
 */
function predictAts(tx: Tx, state: AttachState, m: SmmuMaster): boolean {
  if (state.disable_ats) return false;
  return smmu_predicts_ats(tx, state.f, m);
}

/** Whether an attach to a translating domain would predict ATS for f (IommuDriverOps.ats_supported). */
export function smmu_predicts_ats(tx: Tx, f: number, m: SmmuMaster = tx.master(f) as SmmuMaster): boolean {
  if (tx.kernel.switches['smmu-ats-prepared-gate'] && !m.ats_prepared) return false;
  return arm_smmu_ats_supported(tx, f);
}

/**
 * arm_smmu_attach_prepare(state, new_domain). 0 or a negative errno (the armed fault
 * `arm_smmu_attach_prepare` stands for its allocations: master_domain, the merged invs array).
 */
export function arm_smmu_attach_prepare(tx: Tx, state: AttachState, newD: number): number {
  const f = state.f;
  const m = getMaster(tx, f);
  const smmuD = smmuDomainDevices(tx, newD);
  state.newDevices = smmuD;
  state.oldDevices = smmuDomainDevices(tx, state.old);
  state.oldMasterAts = m.ats_enabled;
  // A bypass/abort STE cannot do ATS; a CD-table STE with S1DSS can ("13.6.4 Full ATS skipping stage 1").
  if (smmuD >= 0 || state.cd_needs_ats) state.ats_enabled = predictAts(tx, state, m);

  if (smmuD >= 0) {
    const err = tx.injectedFailure('arm_smmu_attach_prepare', f);
    if (err !== 0) return err;
    const drv = getSmmuDomain(tx, smmuD);
    state.savedNewDrv = drv;
    let invs = drv.invs;
    // arm_smmu_attach_prepare_invs(): a re-attach of the same domain leaves the array alone.
    if (smmuD !== state.oldDevices) {
      invs = invsRef(invs, tagType(drv.stage), 0, 0);
      if (state.ats_enabled) invs = invsRef(invs, INV_TYPE_ATS, f, state.ssid);
    }
    // Both domains now list the master, so both send it invalidations until commit. The new
    // array is installed before the STE (arm_smmu_install_new_domain_invs()).
    const w = copySmmuDomain(drv);
    w.devices = devicesAdd(drv.devices, f, state.ssid);
    w.nr_ats_masters += state.ats_enabled ? 1 : 0;
    w.invs = invs;
    setSmmuDomain(tx, smmuD, w);
  }

  // ATS goes off: disable it at the function before the STE stops translating (wmb()).
  if (!state.ats_enabled && m.ats_enabled) pci_disable_ats(tx, f);
  return 0;
}

/**
 * arm_smmu_enable_ats(): flush the whole ATC, then pci_enable_ats() with the STU (the armed fault
 * `pci_enable_ats` makes the call fail). On failure: dev_err before v7.3; a WARN with
 * `smmu-warn-on-enable-failure` (d23da7b8d63e); with `smmu-invs-rollback` the error is returned
 * for the caller to undo the attach.
 */
function arm_smmu_enable_ats(tx: Tx, f: number): number {
  const ps = tx.world.iommu.features.pageShift;
  const bdf = tx.info(f).bdf;
  arm_smmu_atc_inv_master(tx, f, 0);
  let ret = tx.injectedFailure('pci_enable_ats', f);
  if (ret !== 0) traceReturn(tx, 'pci_enable_ats', bdf, ret);
  else ret = pci_enable_ats(tx, f, ps);
  if (ret === 0) return 0;
  const sw = tx.kernel.switches;
  if (sw['smmu-invs-rollback']) return ret;
  const msg = `Failed to enable ATS (STU ${ps})`;
  if (sw['smmu-warn-on-enable-failure']) WARN_ON(tx, true, 'arm_smmu_enable_ats', bdf, msg);
  else tx.emit({ kind: 'info', bdf, message: msg, level: 'err' });
  return 0;
}

/**
 * arm_smmu_remove_master_domain(): drops one [master, ssid] from the domain's list and decrements
 * nr_ats_masters iff master->ats_enabled, whatever that is at the time of the call.
 */
export function arm_smmu_remove_master_domain(tx: Tx, f: number, smmuD: number, ssid: number): void {
  if (smmuD < 0) return;
  const drv = getSmmuDomain(tx, smmuD);
  const devices = devicesRemove(drv.devices, f, ssid);
  if (devices === null) return;
  const dec = getMaster(tx, f).ats_enabled ? 1 : 0;
  const w = copySmmuDomain(drv);
  w.devices = devices;
  w.nr_ats_masters -= dec;
  setSmmuDomain(tx, smmuD, w);
}

/**
 * arm_smmu_install_old_domain_invs(): unreferences the master's entries (the ASID/VMID tag, and
 * the ATS entry if ATS was on when they were built) in the old domain's array; a tag left without
 * users is flushed from the IOTLB. Taking invs->rwlock for writing here is the fence that no ATC
 * invalidation of this array is in flight (see `attach_would_wait` in ops.ts).
 */
export function arm_smmu_install_old_domain_invs(
  tx: Tx,
  f: number,
  smmuD: number,
  ssid: number,
  ats: boolean,
): void {
  if (smmuD < 0) return;
  const drv = getSmmuDomain(tx, smmuD);
  const res = { dropped: false, missing: false };
  const bdf = tx.info(f).bdf;
  let invs = invsUnref(drv.invs, tagType(drv.stage), 0, 0, res);
  WARN_ON(
    tx,
    res.missing,
    'arm_smmu_invs_unref',
    bdf,
    'invalidation entry to unreference is not in the array',
  );
  const tagDropped = res.dropped;
  if (ats) {
    invs = invsUnref(invs, INV_TYPE_ATS, f, ssid, res);
    WARN_ON(
      tx,
      res.missing,
      'arm_smmu_invs_unref',
      bdf,
      'invalidation entry to unreference is not in the array',
    );
  }
  const w = copySmmuDomain(drv);
  w.invs = invs;
  setSmmuDomain(tx, smmuD, w);
  if (tagDropped) arm_smmu_flush_iotlb_tag(tx, smmuD);
}

/** Undoes prepare after a commit-time failure (`smmu-invs-rollback`): the old domain stays intact. */
function rollback(tx: Tx, state: AttachState): void {
  if (state.newDevices >= 0 && state.savedNewDrv !== null)
    setSmmuDomain(tx, state.newDevices, state.savedNewDrv);
  restoreSteAndCds(tx, state.f, state.savedSte, state.savedCds);
}

/**
 * arm_smmu_attach_commit(). Returns 0; only the `smmu-invs-rollback` alternative returns the
 * pci_enable_ats() error, after putting the new domain's array, its list and nr_ats_masters, and
 * the STE/CD back as they were. With `smmu-nr-ats-masters-fix` (685ca577b408) master->ats_enabled
 * is updated after remove_master_domain(), so the decrement uses the old ATS state; before it, the
 * new one.
 */
export function arm_smmu_attach_commit(tx: Tx, state: AttachState): number {
  const f = state.f;
  const m = getMaster(tx, f);
  if (state.ats_enabled && !m.ats_enabled) {
    const ret = arm_smmu_enable_ats(tx, f);
    if (ret !== 0) {
      rollback(tx, state);
      return ret;
    }
  } else if (state.ats_enabled && m.ats_enabled) {
    // The translation changed: both domains invalidate the master; flush this SSID's ATC entries.
    arm_smmu_atc_inv_master(tx, f, state.ssid);
  } else if (!state.ats_enabled && m.ats_enabled) {
    // ATS was switched off in prepare: flush the whole ATC.
    arm_smmu_atc_inv_master(tx, f, 0);
  }
  const fix = tx.kernel.switches['smmu-nr-ats-masters-fix'];
  if (!fix) mutMaster(tx, f).ats_enabled = state.ats_enabled;
  arm_smmu_remove_master_domain(tx, f, state.oldDevices, state.ssid);
  if (state.oldDevices !== state.newDevices)
    arm_smmu_install_old_domain_invs(tx, f, state.oldDevices, state.ssid, state.oldMasterAts);
  if (fix && getMaster(tx, f).ats_enabled !== state.ats_enabled)
    mutMaster(tx, f).ats_enabled = state.ats_enabled;
  return 0;
}

/**
 * arm_smmu_attach_dev() for a paging domain (RID): S1 domains go in CD 0 behind a CD-table STE
 * (S1DSS=SSID0), S2 domains in the STE itself (refused with -EBUSY while PASIDs use the CD table).
 */
export function arm_smmu_attach_dev(tx: Tx, d: number, f: number, old: number): number {
  const m = getMaster(tx, f);
  if (!m.probed) return -ENODEV;
  const stage = getSmmuDomain(tx, d).stage;
  // arm_smmu_domain_finalise(): no stage the SMMU supports.
  if (stage === STAGE_NONE) return -EINVAL;
  if (stage === STAGE_S2 && arm_smmu_ssids_in_use(m)) return -EBUSY;
  const state = newAttachState(tx, f, old, 0);
  const ret = arm_smmu_attach_prepare(tx, state, d);
  if (ret !== 0) return ret;
  if (stage === STAGE_S1) {
    arm_smmu_write_cd_entry(tx, f, 0, d);
    arm_smmu_install_ste_for_dev(tx, f, arm_smmu_make_cdtable_ste(state.ats_enabled, S1DSS_SSID0));
  } else {
    arm_smmu_install_ste_for_dev(tx, f, arm_smmu_make_s2_domain_ste(d, state.ats_enabled));
    arm_smmu_clear_cd(tx, f, 0);
  }
  return arm_smmu_attach_commit(tx, state);
}
