/**
 * Reading the SMMUv3 driver's private records (src/drivers/smmuv3/master.ts, domain.ts) for
 * invariants. The accessors answer null when a record lacks the field (another driver, or a test's
 * ops table), so a checker skips what it cannot see instead of guessing.
 */
import type { DriverRecord } from '../model/state.js';

/** enum arm_smmu_inv_type INV_TYPE_ATS, and the width of an invs entry [type, id, ssid, users] (src/drivers/smmuv3/domain.ts). */
export const INV_TYPE_ATS = 3;
export const INV_W = 4;

/** smmu_domain->nr_ats_masters, or null. */
export function domainNrAtsMasters(drv: DriverRecord): number | null {
  const v = drv.nr_ats_masters;
  return typeof v === 'number' ? v : null;
}

/** smmu_domain->invs: sorted flat [type, id, ssid, users] (id is the function for ATS entries), or null. */
export function domainInvs(drv: DriverRecord): readonly number[] | null {
  const v = drv.invs;
  return Array.isArray(v) ? (v as readonly number[]) : null;
}

/** smmu_domain->devices: flat pairs [function, ssid] (struct arm_smmu_master_domain), or null. */
export function domainDevices(drv: DriverRecord): readonly number[] | null {
  const v = drv.devices;
  return Array.isArray(v) ? (v as readonly number[]) : null;
}

/** The users of the ATS entries of an invs array. */
export function invsAtsUsers(invs: readonly number[]): number {
  let n = 0;
  for (let i = 0; i + INV_W <= invs.length; i += INV_W) if (invs[i] === INV_TYPE_ATS) n += invs[i + 3]!;
  return n;
}

/** The users of the invs entry (type, id, ssid), 0 when absent. */
export function invsUsers(invs: readonly number[], type: number, id: number, ssid: number): number {
  for (let i = 0; i + INV_W <= invs.length; i += INV_W)
    if (invs[i] === type && invs[i + 1] === id && invs[i + 2] === ssid) return invs[i + 3]!;
  return 0;
}

/** How many times [f, ssid] is in a devices list. */
export function devicesCount(devices: readonly number[], f: number, ssid: number): number {
  let n = 0;
  for (let i = 0; i < devices.length; i += 2) if (devices[i] === f && devices[i + 1] === ssid) n++;
  return n;
}
