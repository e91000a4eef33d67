/**
 * The static identity and blocked domains (arm-smmu-v3.c arm_smmu_attach_dev_identity(),
 * arm_smmu_attach_dev_blocked(), arm_smmu_attach_dev_ste()).
 *
 * Without PASIDs they install a plain bypass/abort STE, and since neither domain has a page table
 * ATS ends up off. While PASIDs use the CD table the STE stays a CD-table STE with S1DSS=BYPASS
 * (identity) or TERMINATE (blocked) and ATS stays on (cd_needs_ats), as a PASID may be using it.
 * An ATS-required master (5ff98a0da6b4, `smmu-ats-always-on`) always gets the CD-table form for
 * identity, with EATS, but never for BLOCKED (v5/v6: ATS must be off for blocking domains).
 */
import type { Tx } from '../../model/tx.js';
import { arm_smmu_attach_commit, arm_smmu_attach_prepare, newAttachState } from './attach.js';
import { S1DSS_BYPASS, S1DSS_TERMINATE, arm_smmu_ssids_in_use, getMaster } from './master.js';
import {
  arm_smmu_clear_cd,
  arm_smmu_install_ste_for_dev,
  arm_smmu_make_abort_ste,
  arm_smmu_make_bypass_ste,
  arm_smmu_make_cdtable_ste,
  type Ste,
} from './ste.js';

/**
 * arm_smmu_attach_dev_ste(domain, old, dev, ste, s1dss, ats_always_on). `d` is the identity or
 * blocked domain's slot (it tracks no masters, so only the old domain's bookkeeping changes).
 * Returns 0 (an error only under the `smmu-invs-rollback` alternative).
 */
export function arm_smmu_attach_dev_ste(
  tx: Tx,
  d: number,
  old: number,
  f: number,
  plain: Ste,
  s1dss: number,
  ats_always_on: boolean,
): number {
  const state = newAttachState(tx, f, old, 0);
  let ste = plain;
  if (ats_always_on || arm_smmu_ssids_in_use(getMaster(tx, f))) {
    // A CD table has to stay: run with ATS on, since a PASID may be using it (for IDENTITY,
    // S1DSS=bypass lets ATS work on the RID as well).
    state.cd_needs_ats = true;
    arm_smmu_attach_prepare(tx, state, d);
    ste = arm_smmu_make_cdtable_ste(state.ats_enabled, s1dss);
  } else {
    arm_smmu_attach_prepare(tx, state, d);
  }
  arm_smmu_install_ste_for_dev(tx, f, ste);
  const ret = arm_smmu_attach_commit(tx, state);
  if (ret !== 0) return ret;
  // After the master left the old domain's list (arm_smmu_share_asid() races).
  arm_smmu_clear_cd(tx, f, 0);
  return 0;
}

/** arm_smmu_attach_dev_identity(): bypass STE, or S1DSS=BYPASS (with EATS when always-on). */
export function arm_smmu_attach_dev_identity(tx: Tx, d: number, f: number, old: number): number {
  if (!getMaster(tx, f).probed) return 0;
  return arm_smmu_attach_dev_ste(
    tx,
    d,
    old,
    f,
    arm_smmu_make_bypass_ste(),
    S1DSS_BYPASS,
    getMaster(tx, f).ats_always_on,
  );
}

/** arm_smmu_attach_dev_blocked(): abort STE, or S1DSS=TERMINATE while PASIDs are attached; never always-on. */
export function arm_smmu_attach_dev_blocked(tx: Tx, d: number, f: number, old: number): number {
  if (!getMaster(tx, f).probed) return 0;
  return arm_smmu_attach_dev_ste(tx, d, old, f, arm_smmu_make_abort_ste(), S1DSS_TERMINATE, false);
}
