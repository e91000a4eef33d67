/**
 * The SMMUv3 driver's per-domain record: the parts of struct arm_smmu_domain (arm-smmu-v3.h) the
 * model needs. `devices` is smmu_domain->devices (struct arm_smmu_master_domain: master + ssid),
 * `nr_ats_masters` the atomic counter, `invs` the RCU invalidation array of the 2025-26 rework
 * ("iommu/arm-smmu-v3: Populate smmu_domain->invs when attaching masters"): sorted refcounted
 * entries [type, id, ssid, users].
 *
 * The ASID/VMID tag entry has id 0: each domain owns exactly one tag here (the model has one SMMU
 * and no ASID sharing), so the tag is the domain itself and needs no renumbering.
 */
import type { DomainType } from '../../iommu/domain-type.js';
import { IOMMU_DOMAIN_SVA, isPagingDomain } from '../../iommu/domain-type.js';
import type { DriverRecord } from '../../model/state.js';
import type { Mutable, Tx } from '../../model/tx.js';
import type { World } from '../../model/world.js';

/** smmu_domain->stage: ARM_SMMU_DOMAIN_S1 / _S2; 0 for the static identity and blocked domains. */
export const STAGE_NONE = 0;
export const STAGE_S1 = 1;
export const STAGE_S2 = 2;

/** enum arm_smmu_inv_type, the kinds the model uses (the sort order is the kernel's). */
export const INV_TYPE_S1_ASID = 0;
export const INV_TYPE_S2_VMID = 1;
export const INV_TYPE_ATS = 3;

/** Width of one invs tuple: [type, id, ssid, users]. */
export const INV_W = 4;

export interface SmmuDomain extends DriverRecord {
  readonly stage: number;
  /** smmu_domain->nr_ats_masters. */
  readonly nr_ats_masters: number;
  /** smmu_domain->devices: flat pairs [function, ssid]; a re-attach of the same domain holds a pair twice. */
  readonly devices: readonly number[];
  /** smmu_domain->invs: sorted flat tuples [type, id, ssid, users]; id is the function (SID) for INV_TYPE_ATS. */
  readonly invs: readonly number[];
  /**
   * Invalidations in flight that hold invs->rwlock for reading (587bb3e56a2c): an
   * arm_smmu_domain_inv_range() over an array with ATS entries holds it from issuing the
   * CMD_ATC_INVs until their CMD_SYNC completes.
   */
  readonly ats_readers: number;
}

/**
 * arm_smmu_domain_alloc() + arm_smmu_domain_finalise(): paging and SVA domains get a stage (S1
 * unless the SMMU lacks it, then S2; SVA is always S1); the static identity/blocked domains none.
 */
export function initialSmmuDomain(w: World, type: DomainType): SmmuDomain {
  let stage = STAGE_NONE;
  if (type === IOMMU_DOMAIN_SVA) stage = STAGE_S1;
  else if (isPagingDomain(type)) {
    const f = w.iommu.features;
    stage = f.stage1 ? STAGE_S1 : f.stage2 ? STAGE_S2 : STAGE_NONE;
  }
  return { stage, nr_ats_masters: 0, devices: [], invs: [], ats_readers: 0 };
}

/**
 * A copy of the record to change before setSmmuDomain(), field by field (one hidden class for
 * every record; an object spread at the call sites was V8's slow generic copy).
 */
export function copySmmuDomain(r: SmmuDomain): Mutable<SmmuDomain> {
  return {
    stage: r.stage,
    nr_ats_masters: r.nr_ats_masters,
    devices: r.devices,
    invs: r.invs,
    ats_readers: r.ats_readers,
  };
}

export function getSmmuDomain(tx: Tx, d: number): SmmuDomain {
  return tx.domain(d).drv as SmmuDomain;
}

/** Replaces the domain's driver record (records are immutable: a new object each time). */
export function setSmmuDomain(tx: Tx, d: number, rec: SmmuDomain): void {
  tx.mutDomain(d).drv = rec;
}

/**
 * to_smmu_domain_devices(): the domain tracks attached masters and has an invalidation array
 * (paging and SVA domains); -1 for the identity/blocked domains or no domain.
 */
export function smmuDomainDevices(tx: Tx, d: number): number {
  if (d < 0) return -1;
  const dom = tx.domainOrNull(d);
  if (dom === null) return -1;
  return isPagingDomain(dom.type) || dom.type === IOMMU_DOMAIN_SVA ? d : -1;
}

/** The IOTLB tag entry type of a domain's stage. */
export function tagType(stage: number): number {
  return stage === STAGE_S2 ? INV_TYPE_S2_VMID : INV_TYPE_S1_ASID;
}

function invIndex(invs: readonly number[], type: number, id: number, ssid: number): number {
  for (let i = 0; i < invs.length; i += INV_W)
    if (invs[i] === type && invs[i + 1] === id && invs[i + 2] === ssid) return i;
  return -1;
}

function cmpInv(invs: readonly number[], i: number, type: number, id: number, ssid: number): number {
  return invs[i]! - type || invs[i + 1]! - id || invs[i + 2]! - ssid;
}

/** One entry of arm_smmu_invs_merge(): users + 1, or a new sorted entry with users 1. */
export function invsRef(invs: readonly number[], type: number, id: number, ssid: number): number[] {
  const i = invIndex(invs, type, id, ssid);
  const out = invs.slice();
  if (i >= 0) {
    out[i + 3] = out[i + 3]! + 1;
    return out;
  }
  let at = invs.length;
  for (let j = 0; j < invs.length; j += INV_W) {
    if (cmpInv(invs, j, type, id, ssid) > 0) {
      at = j;
      break;
    }
  }
  out.splice(at, 0, type, id, ssid, 1);
  return out;
}

/**
 * One entry of arm_smmu_invs_unref() + arm_smmu_invs_purge(): users - 1, the entry removed at
 * zero. `dropped` is set when it was removed. A missing entry is the kernel's WARN_ON(true) case;
 * the caller reports it.
 */
export function invsUnref(
  invs: readonly number[],
  type: number,
  id: number,
  ssid: number,
  out: { dropped: boolean; missing: boolean },
): readonly number[] {
  const i = invIndex(invs, type, id, ssid);
  out.dropped = false;
  out.missing = i < 0;
  if (i < 0) return invs;
  const next = invs.slice();
  if (invs[i + 3]! > 1) {
    next[i + 3] = invs[i + 3]! - 1;
    return next;
  }
  next.splice(i, INV_W);
  out.dropped = true;
  return next;
}

/** invs->has_ats: the array holds an ATS entry. */
export function invsHasAts(invs: readonly number[]): boolean {
  for (let i = 0; i < invs.length; i += INV_W) if (invs[i] === INV_TYPE_ATS) return true;
  return false;
}

/** The SSIDs through which function f has an ATS entry in the array. */
export function invsAtsSsids(invs: readonly number[], f: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < invs.length; i += INV_W)
    if (invs[i] === INV_TYPE_ATS && invs[i + 1] === f) out.push(invs[i + 2]!);
  return out;
}

/** list_add of a master_domain: pairs stay sorted, duplicates kept (a same-domain re-attach). */
export function devicesAdd(devices: readonly number[], f: number, ssid: number): number[] {
  let at = devices.length;
  for (let i = 0; i < devices.length; i += 2) {
    if (devices[i]! > f || (devices[i] === f && devices[i + 1]! > ssid)) {
      at = i;
      break;
    }
  }
  const out = devices.slice();
  out.splice(at, 0, f, ssid);
  return out;
}

/** arm_smmu_find_master_domain() + list_del of one [f, ssid] pair; null when there is none. */
export function devicesRemove(devices: readonly number[], f: number, ssid: number): number[] | null {
  for (let i = 0; i < devices.length; i += 2) {
    if (devices[i] === f && devices[i + 1] === ssid) {
      const out = devices.slice();
      out.splice(i, 2);
      return out;
    }
  }
  return null;
}
