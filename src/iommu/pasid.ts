/**
 * PASID attachments and the global PASID allocator: drivers/iommu/iommu.c
 * iommu_attach_device_pasid(), iommu_replace_device_pasid(), iommu_detach_device_pasid(),
 * __iommu_set_group_pasid(), iommu_alloc_global_pasid() / iommu_free_global_pasid(), written anew.
 * A PASID attachment is group-wide (`group.pasids`, the kernel's pasid_array), applied to every
 * member that supports PASIDs (max_pasids > 0).
 *
 * The `pasid-attach` operation is what a PASID user does: IDXD takes a global PASID and attaches
 * its DMA-API domain (the same domain as its RID); SVA and iommufd attach a domain of their own.
 * With `dma-pasid-per-domain` (thread 3's May 2022 design, not merged) the DMA-API PASID belongs
 * to the domain and comes from a local space starting at 1, not from the global allocator; it is
 * still a PASID in the system-wide space (the design's user issues it with ENQCMDS), so it is
 * recorded in `globalPasids` too, which then holds the value twice when a global PASID collides
 * with it: the collision the invariant "global PASIDs are unique" sees.
 */
import { EBUSY, EINVAL, ENODEV, ENOENT, ENOSPC, EOPNOTSUPP } from '../kernel/errno.js';
import { WARN_ON } from '../kernel/events.js';
import { setDelete, tupleFind, tupleGet, tuplePut, tupleRemoveWhere } from '../model/flat.js';
import type { Tx } from '../model/tx.js';
import {
  IOMMU_DOMAIN_SVA,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_FIRST_GLOBAL_PASID,
  IOMMU_NO_PASID,
  IOMMU_PASID_INVALID,
  isDmaApiDomain,
} from './domain-type.js';
import { deviceGroup, domainLabel, freeDomainIfUnused, iommuEvent } from './group.js';
import { ALLOCATOR_USER } from './msi.js';

/** Domain.allocator of an SVA domain. */
export const ALLOCATOR_SVA = 3;

/**
 * iommu.c iommu_alloc_global_pasid(): the lowest free PASID in [1, max_pasids - 1] (the IDA is
 * inclusive and system-wide), or IOMMU_PASID_INVALID when f has no PASID support or none is free.
 */
export function iommu_alloc_global_pasid(tx: Tx, f: number): number {
  const max = tx.world.maxPasids[f]!;
  if (max === 0 || !tx.gdev(f).probed) return IOMMU_PASID_INVALID;
  const used = tx.globalPasids();
  let p = IOMMU_FIRST_GLOBAL_PASID;
  for (const u of used) {
    if (u < p) continue;
    if (u > p) break;
    p++;
  }
  if (p > max - 1) return IOMMU_PASID_INVALID;
  tx.setGlobalPasids(insertSorted(used, p));
  return p;
}

/** iommu.c iommu_free_global_pasid(): WARN on IOMMU_PASID_INVALID, else give the PASID back. */
export function iommu_free_global_pasid(tx: Tx, f: number, pasid: number): void {
  if (
    WARN_ON(
      tx,
      pasid === IOMMU_PASID_INVALID,
      'iommu_free_global_pasid',
      tx.info(f).bdf,
      'IOMMU_PASID_INVALID',
    )
  )
    return;
  tx.setGlobalPasids(setDelete(tx.globalPasids(), pasid));
}

/** Sorted insert that keeps duplicates (globalPasids is a multiset once per-domain PASIDs collide). */
function insertSorted(a: readonly number[], x: number): number[] {
  let at = a.length;
  for (let i = 0; i < a.length; i++)
    if (a[i]! > x) {
      at = i;
      break;
    }
  const out = a.slice();
  out.splice(at, 0, x);
  return out;
}

function domainHasSetDevPasid(tx: Tx, d: number): boolean {
  const ops = tx.world.ops;
  return ops.domain_has_set_dev_pasid === undefined || ops.domain_has_set_dev_pasid(tx, d);
}

/**
 * iommu.c __iommu_set_group_pasid(): set_dev_pasid(domain, dev, pasid, old) on every member with
 * PASID support. On a failure the members already done go back to `old` (a WARN if that fails)
 * or, without an old domain, have the PASID removed.
 */
export function __iommu_set_group_pasid(tx: Tx, d: number, g: number, pasid: number, old: number): number {
  const ops = tx.world.ops;
  const members = tx.world.groups[g]!.members;
  const maxPasids = tx.world.maxPasids;
  for (let i = 0; i < members.length; i++) {
    const f = members[i]!;
    if (!tx.gdev(f).probed || maxPasids[f]! === 0) continue;
    const ret = ops.set_dev_pasid(tx, d, f, pasid, old);
    if (ret === 0) continue;
    for (let j = 0; j < i; j++) {
      const fj = members[j]!;
      if (!tx.gdev(fj).probed || maxPasids[fj]! === 0) continue;
      if (
        old < 0 ||
        WARN_ON(
          tx,
          ops.set_dev_pasid(tx, old, fj, pasid, d) !== 0,
          '__iommu_set_group_pasid',
          tx.info(fj).bdf,
          `restoring PASID ${pasid} to ${domainLabel(tx, old)} failed`,
        )
      )
        ops.remove_dev_pasid(tx, fj, pasid, d);
    }
    return ret;
  }
  return 0;
}

/**
 * iommu.c iommu_attach_device_pasid(): -ENODEV without a group; -EOPNOTSUPP when the domain or
 * the driver's blocked domain has no set_dev_pasid; -EINVAL for IOMMU_NO_PASID; under the group
 * mutex: -EBUSY while a device of the group is under reset (recovery_cnt), -EINVAL if the PASID
 * is beyond any PASID-capable member's max_pasids, -EBUSY if the PASID is taken; then every member
 * is set, all or nothing.
 */
export function iommu_attach_device_pasid(tx: Tx, d: number, f: number, pasid: number): number {
  const g = deviceGroup(tx, f);
  if (g < 0) return -ENODEV;
  if (!domainHasSetDevPasid(tx, d) || !tx.world.ops.hasBlockedDomain) return -EOPNOTSUPP;
  if (pasid === IOMMU_NO_PASID) return -EINVAL;
  const grp = tx.group(g);
  if (grp.recoveryCnt > 0) return -EBUSY;
  for (const m of tx.world.groups[g]!.members) {
    const max = tx.world.maxPasids[m]!;
    if (tx.gdev(m).probed && max > 0 && pasid >= max) return -EINVAL;
  }
  if (tupleFind(grp.pasids, 2, [pasid]) >= 0) return -EBUSY;
  const ret = __iommu_set_group_pasid(tx, d, g, pasid, -1);
  if (ret !== 0) return ret;
  tx.mutGroup(g).pasids = tuplePut(tx.group(g).pasids, 2, 1, [pasid, d]);
  iommuEvent(tx, f, 'iommu_attach_device_pasid', `group ${g}: PASID ${pasid} -> ${domainLabel(tx, d)}`);
  return 0;
}

/**
 * iommu.c iommu_replace_device_pasid(): switch an attached PASID to another domain; -EBUSY under
 * reset, -EINVAL when the PASID is not attached; on failure the PASID keeps its old domain.
 */
export function iommu_replace_device_pasid(tx: Tx, d: number, f: number, pasid: number): number {
  const g = deviceGroup(tx, f);
  if (g < 0) return -ENODEV;
  if (!domainHasSetDevPasid(tx, d)) return -EOPNOTSUPP;
  if (pasid === IOMMU_NO_PASID) return -EINVAL;
  const grp = tx.group(g);
  if (grp.recoveryCnt > 0) return -EBUSY;
  const cur = tupleGet(grp.pasids, 2, [pasid], 1, -1);
  if (cur < 0) return -EINVAL;
  if (cur === d) return 0;
  const ret = __iommu_set_group_pasid(tx, d, g, pasid, cur);
  if (ret !== 0) return ret;
  tx.mutGroup(g).pasids = tuplePut(tx.group(g).pasids, 2, 1, [pasid, d]);
  iommuEvent(
    tx,
    f,
    'iommu_replace_device_pasid',
    `group ${g}: PASID ${pasid} ${domainLabel(tx, cur)} -> ${domainLabel(tx, d)}`,
  );
  return 0;
}

/**
 * iommu.c iommu_detach_device_pasid() -> __iommu_remove_group_pasid(): the PASID is removed from
 * every PASID-capable member through the blocked domain, then erased from the array. As in the
 * kernel source, a member parked for a reset is not skipped (its PASIDs were already removed by
 * pci_dev_reset_iommu_prepare(); the driver is asked again).
 */
export function iommu_detach_device_pasid(tx: Tx, d: number, f: number, pasid: number): void {
  const g = tx.world.groupOf[f]!;
  const ops = tx.world.ops;
  for (const m of tx.world.groups[g]!.members)
    if (tx.gdev(m).probed && tx.world.maxPasids[m]! > 0) ops.remove_dev_pasid(tx, m, pasid, d);
  tx.mutGroup(g).pasids = tupleRemoveWhere(tx.group(g).pasids, 2, (a, i) => a[i] === pasid);
  iommuEvent(
    tx,
    f,
    'iommu_detach_device_pasid',
    `group ${g}: PASID ${pasid} (${domainLabel(tx, d)}) detached`,
  );
}

/** Under `dma-pasid-per-domain`, the DMA-API domains' PASIDs are local to the domain. */
function perDomainClass(tx: Tx, d: number): boolean {
  if (!tx.kernel.switches['dma-pasid-per-domain']) return false;
  const dom = tx.domainOrNull(d);
  return dom !== null && isDmaApiDomain(dom.type);
}

/**
 * The per-domain DMA-API PASID of the 2022 design: the domain's existing PASID if it has one
 * (dma_pasid, shared by its users), else the lowest PASID from 1 up that f's group does not use,
 * below max_pasids. IOMMU_PASID_INVALID when none fits.
 */
function dma_pasid_per_domain(tx: Tx, g: number, d: number, f: number): number {
  const a = tx.group(g).pasids;
  for (let i = 0; i < a.length; i += 2) if (a[i + 1] === d) return a[i]!;
  const max = tx.world.maxPasids[f]!;
  for (let p = 1; p < max; p++) if (tupleFind(a, 2, [p]) < 0) return p;
  return IOMMU_PASID_INVALID;
}

/**
 * After a PASID detach: give back what the PASID users allocated. A global PASID is freed when no
 * group has it attached any more (through a non-per-domain domain); a per-domain DMA PASID when its
 * domain no longer has it. Never drops occurrences that no allocation made.
 */
function releasePasidAllocation(tx: Tx, pasid: number): void {
  const gp = tx.globalPasids();
  let have = 0;
  for (const p of gp) if (p === pasid) have++;
  if (have === 0) return;
  let local = 0;
  let globalUser = 0;
  const n = tx.world.groups.length;
  for (let g = 0; g < n; g++) {
    const d = tupleGet(tx.group(g).pasids, 2, [pasid], 1, -1);
    if (d < 0) continue;
    if (perDomainClass(tx, d)) local++;
    else globalUser = 1;
  }
  let drop = have - Math.min(have, local + globalUser);
  if (drop === 0) return;
  const out: number[] = [];
  for (const p of gp) {
    if (p === pasid && drop > 0) {
      drop--;
      continue;
    }
    out.push(p);
  }
  tx.setGlobalPasids(out);
}

export type PasidDomainKind = 'dma' | 'sva' | 'unmanaged';

/**
 * The `pasid-attach` operation: a PASID user attaches a domain to PASID `pasid` of f, allocating
 * the PASID first when `pasid` is 0 (the global allocator, or with `dma-pasid-per-domain` the
 * DMA-API domain's own PASID). `dma` attaches f's DMA-API (default) domain, as IDXD does; `sva` and
 * `unmanaged` a new SVA / iommufd paging domain. Whatever it allocated is given back on failure.
 */
export function pasid_attach(tx: Tx, f: number, pasid: number, kind: PasidDomainKind): number {
  if (!tx.device(f).present) return -ENODEV;
  const g = deviceGroup(tx, f);
  if (g < 0) return -ENODEV;
  let d: number;
  let fresh = false;
  switch (kind) {
    case 'dma':
      d = tx.group(g).defaultDomain;
      if (d < 0) return -ENODEV;
      break;
    case 'sva': {
      const err = tx.injectedFailure('iommu_sva_domain_alloc', f);
      if (err !== 0) return err;
      d = tx.allocDomain(IOMMU_DOMAIN_SVA, ALLOCATOR_SVA);
      fresh = true;
      break;
    }
    case 'unmanaged': {
      const err = tx.injectedFailure('iommu_paging_domain_alloc', f);
      if (err !== 0) return err;
      d = tx.allocDomain(IOMMU_DOMAIN_UNMANAGED, ALLOCATOR_USER);
      fresh = true;
      break;
    }
  }
  let p = pasid;
  let allocated = false;
  if (p === 0) {
    if (kind === 'dma' && perDomainClass(tx, d)) {
      p = dma_pasid_per_domain(tx, g, d, f);
      if (p !== IOMMU_PASID_INVALID) tx.setGlobalPasids(insertSorted(tx.globalPasids(), p));
    } else {
      p = iommu_alloc_global_pasid(tx, f);
    }
    if (p === IOMMU_PASID_INVALID) {
      if (fresh) freeDomainIfUnused(tx, d);
      return -ENOSPC;
    }
    allocated = true;
    iommuEvent(
      tx,
      f,
      kind === 'dma' && perDomainClass(tx, d) ? 'iommu_attach_dma_pasid' : 'iommu_alloc_global_pasid',
      `PASID ${p} allocated`,
    );
  }
  const ret = iommu_attach_device_pasid(tx, d, f, p);
  if (ret !== 0) {
    if (allocated) releasePasidAllocation(tx, p);
    if (fresh) freeDomainIfUnused(tx, d);
    return ret;
  }
  return 0;
}

/**
 * The `pasid-detach` operation: the user detaches PASID `pasid` of f's group
 * (iommu_detach_device_pasid()), gives back what it allocated and destroys its own domain.
 * -ENOENT when the PASID is not attached.
 */
export function pasid_detach(tx: Tx, f: number, pasid: number): number {
  if (!tx.device(f).present) return -ENODEV;
  const g = deviceGroup(tx, f);
  if (g < 0) return -ENODEV;
  const d = tupleGet(tx.group(g).pasids, 2, [pasid], 1, -1);
  if (d < 0) return -ENOENT;
  iommu_detach_device_pasid(tx, d, f, pasid);
  releasePasidAllocation(tx, pasid);
  freeDomainIfUnused(tx, d);
  return 0;
}
