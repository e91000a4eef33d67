/**
 * IOMMU groups and their RID domain: drivers/iommu/iommu.c, the group_device / iommu_group part,
 * written anew over a transaction. Every device of a group shares `group->domain`; a change is
 * all-or-nothing (the devices already switched are reverted on a failure) unless the caller says
 * MUST_SUCCEED, in which case the failing device falls back to the blocking domain and the group
 * moves anyway. The driver is reached only through `tx.world.ops`.
 *
 * Reset fencing (pci_dev_reset_iommu_prepare/done, reset.ts) shows here as `group.recoveryCnt`
 * (group->recovery_cnt; in the per-group design of c279e83953d9, "group->resetting_domain is set")
 * and `gdev.blocked`.
 */
import { EBUSY, EINVAL } from '../kernel/errno.js';
import { WARN_ON } from '../kernel/events.js';
import type { Tx } from '../model/tx.js';
import { IOMMU_DOMAIN_BLOCKED, IOMMU_DOMAIN_UNMANAGED, domainTypeName } from './domain-type.js';

/** IOMMU_SET_DOMAIN_MUST_SUCCEED. */
export const IOMMU_SET_DOMAIN_MUST_SUCCEED = 1;

/** dev_has_iommu(): the function went through iommu_probe_device() and is in its group. */
export function dev_has_iommu(tx: Tx, f: number): boolean {
  return tx.gdev(f).probed;
}

/** dev->iommu_group as an index, -1 when the function has no IOMMU (never probed, or released). */
export function deviceGroup(tx: Tx, f: number): number {
  return tx.gdev(f).probed ? tx.world.groupOf[f]! : -1;
}

/** The first function of group g in the group's device list (iommu_group_first_dev), -1 when empty. */
export function groupFirstDev(tx: Tx, g: number): number {
  for (const m of tx.world.groups[g]!.members) if (tx.gdev(m).probed) return m;
  return -1;
}

/** The group's device list is empty. */
export function groupEmpty(tx: Tx, g: number): boolean {
  return groupFirstDev(tx, g) < 0;
}

/** Number of functions in the group's device list. */
export function groupDeviceCount(tx: Tx, g: number): number {
  let n = 0;
  for (const m of tx.world.groups[g]!.members) if (tx.gdev(m).probed) n++;
  return n;
}

/** `TYPE(dN)` for traces, `NULL` for -1. */
export function domainLabel(tx: Tx, d: number): string {
  if (d < 0) return 'NULL';
  const dom = tx.domainOrNull(d);
  return dom === null ? `freed(d${d})` : `${domainTypeName(dom.type)}(d${d})`;
}

/** Records an IOMMU core trace event for function f. */
export function iommuEvent(tx: Tx, f: number, fn: string, detail: string): void {
  tx.emit({ kind: 'iommu', bdf: tx.info(f).bdf, fn, detail });
}

/** The bdf a group-level event or WARN is reported against: its first device, else its first member. */
function groupBdf(tx: Tx, g: number): string {
  const f = groupFirstDev(tx, g);
  return tx.info(f >= 0 ? f : tx.world.groups[g]!.members[0]!).bdf;
}

/**
 * Frees domain d when nothing in the core refers to it any more (no group's RID, default or
 * blocking domain, no PASID attachment). Returns whether it was freed. The model's stand-in for
 * the owners' iommu_domain_free() calls (the DMA cookie, VFIO/iommufd, SVA); O(groups).
 */
export function freeDomainIfUnused(tx: Tx, d: number): boolean {
  if (d < 0 || tx.domainOrNull(d) === null) return false;
  const n = tx.world.groups.length;
  for (let g = 0; g < n; g++) {
    const grp = tx.group(g);
    if (grp.domain === d || grp.defaultDomain === d || grp.blockingDomain === d) return false;
    const p = grp.pasids;
    for (let i = 1; i < p.length; i += 2) if (p[i] === d) return false;
  }
  tx.freeDomain(d);
  return true;
}

/**
 * iommu.c __iommu_group_alloc_blocking_domain(): ops->blocked_domain when the driver has one (the
 * model gives each group its own slot of that static domain), else an empty paging domain
 * allocated on demand (iommu_paging_domain_alloc(), which a scenario may fail).
 */
export function __iommu_group_alloc_blocking_domain(tx: Tx, g: number): number {
  if (tx.group(g).blockingDomain >= 0) return 0;
  let d: number;
  if (tx.world.ops.hasBlockedDomain) {
    d = tx.allocDomain(IOMMU_DOMAIN_BLOCKED, 0);
  } else {
    const err = tx.injectedFailure('iommu_paging_domain_alloc', groupFirstDev(tx, g));
    if (err !== 0) return err;
    d = tx.allocDomain(IOMMU_DOMAIN_UNMANAGED, 0);
  }
  tx.mutGroup(g).blockingDomain = d;
  return 0;
}

/** iommu.c __iommu_attach_device(): domain->ops->attach_dev(domain, dev, old). */
export function __iommu_attach_device(tx: Tx, d: number, f: number, old: number): number {
  return tx.world.ops.attach_dev(tx, d, f, old);
}

/**
 * iommu.c __iommu_device_set_domain(): a device with IOMMU_RESV_DIRECT regions (require_direct)
 * never goes to a BLOCKED or the group's blocking domain (-EINVAL, with the firmware warning).
 * A failed attach with MUST_SUCCEED falls back to the group's blocking domain, if there is one
 * other than the target, and still returns the error.
 */
export function __iommu_device_set_domain(
  tx: Tx,
  g: number,
  f: number,
  newD: number,
  oldD: number,
  flags: number,
): number {
  const grp = tx.group(g);
  if (
    tx.world.requireDirect[f] &&
    (tx.domain(newD).type === IOMMU_DOMAIN_BLOCKED || newD === grp.blockingDomain)
  ) {
    tx.emit({
      kind: 'info',
      bdf: tx.info(f).bdf,
      level: 'warn',
      message:
        'Firmware has requested this device have a 1:1 IOMMU mapping, rejecting configuring the device without a 1:1 mapping. Contact your platform vendor.',
    });
    return -EINVAL;
  }
  const ret = __iommu_attach_device(tx, newD, f, oldD);
  if (ret !== 0) {
    const blocking = grp.blockingDomain;
    if ((flags & IOMMU_SET_DOMAIN_MUST_SUCCEED) !== 0 && blocking >= 0 && blocking !== newD) {
      __iommu_attach_device(tx, blocking, f, oldD);
      iommuEvent(
        tx,
        f,
        '__iommu_device_set_domain',
        `attach of ${domainLabel(tx, newD)} failed; fell back to ${domainLabel(tx, blocking)}`,
      );
    }
    return ret;
  }
  return 0;
}

/**
 * iommu.c __iommu_group_set_domain_internal(). group->domain changes only when every device
 * attached (or with MUST_SUCCEED, whatever happened); otherwise the devices already switched are
 * put back on group->domain (a WARN if that fails) and the first error is returned.
 *
 * The reset fence: while a device of the group is under reset (recovery_cnt, or the per-group
 * resetting_domain before b296ca1fb43a) the change is refused with -EBUSY. With
 * `reset-nofail-skips-blocked` (5474e6e17a26) MUST_SUCCEED callers pass the fence and the blocked
 * devices are skipped; pci_dev_reset_iommu_done() later attaches them to the new group->domain.
 */
export function __iommu_group_set_domain_internal(tx: Tx, g: number, newD: number, flags: number): number {
  const cur = tx.group(g).domain;
  if (cur === newD) return 0;
  if (WARN_ON(tx, newD < 0, '__iommu_group_set_domain_internal', groupBdf(tx, g), 'new_domain is NULL'))
    return -EINVAL;
  const skipBlocked = tx.kernel.switches['reset-nofail-skips-blocked'];
  const must = (flags & IOMMU_SET_DOMAIN_MUST_SUCCEED) !== 0;
  if (tx.group(g).recoveryCnt > 0 && !(skipBlocked && must)) return -EBUSY;
  const members = tx.world.groups[g]!.members;
  let result = 0;
  for (let i = 0; i < members.length; i++) {
    const f = members[i]!;
    const gd = tx.gdev(f);
    if (!gd.probed) continue;
    if (skipBlocked && gd.blocked) continue;
    const ret = __iommu_device_set_domain(tx, g, f, newD, cur, flags);
    if (ret === 0) continue;
    result = ret;
    if (must) continue;
    // err_revert: every device before the failing one goes back to group->domain.
    for (let j = 0; j < i; j++) {
      const fj = members[j]!;
      if (!tx.gdev(fj).probed || cur < 0) continue;
      WARN_ON(
        tx,
        __iommu_device_set_domain(tx, g, fj, cur, newD, IOMMU_SET_DOMAIN_MUST_SUCCEED) !== 0,
        '__iommu_group_set_domain_internal',
        tx.info(fj).bdf,
        `reverting to ${domainLabel(tx, cur)} failed`,
      );
    }
    iommuEvent(
      tx,
      f,
      '__iommu_group_set_domain_internal',
      `group ${g}: ${domainLabel(tx, cur)} -> ${domainLabel(tx, newD)} failed (${ret}); reverted`,
    );
    return ret;
  }
  tx.mutGroup(g).domain = newD;
  tx.emit({
    kind: 'iommu',
    bdf: groupBdf(tx, g),
    fn: '__iommu_group_set_domain_internal',
    detail: `group ${g}: ${domainLabel(tx, cur)} -> ${domainLabel(tx, newD)}${result !== 0 ? ` (MUST_SUCCEED, error ${result})` : ''}`,
  });
  return result;
}

/** iommu.c __iommu_group_set_domain(). */
export function __iommu_group_set_domain(tx: Tx, g: number, d: number): number {
  return __iommu_group_set_domain_internal(tx, g, d, 0);
}

/** iommu.c __iommu_group_set_domain_nofail(): MUST_SUCCEED, WARN on any error. */
export function __iommu_group_set_domain_nofail(tx: Tx, g: number, d: number): void {
  const ret = __iommu_group_set_domain_internal(tx, g, d, IOMMU_SET_DOMAIN_MUST_SUCCEED);
  WARN_ON(
    tx,
    ret !== 0,
    '__iommu_group_set_domain_nofail',
    groupBdf(tx, g),
    `setting ${domainLabel(tx, d)} failed (${ret})`,
  );
}

/** iommu.c __iommu_group_set_core_domain(): the blocking domain when owned, else the default domain. */
export function __iommu_group_set_core_domain(tx: Tx, g: number): void {
  const grp = tx.group(g);
  __iommu_group_set_domain_nofail(tx, g, grp.owner !== 0 ? grp.blockingDomain : grp.defaultDomain);
}

/**
 * iommu.c __iommu_attach_group(): -EBUSY when someone already attached a domain of their own (the
 * group is on neither its default nor its blocking domain). Domain/driver compatibility always
 * holds in the model (one IOMMU driver).
 */
export function __iommu_attach_group(tx: Tx, d: number, g: number): number {
  const grp = tx.group(g);
  if (grp.domain >= 0 && grp.domain !== grp.defaultDomain && grp.domain !== grp.blockingDomain) return -EBUSY;
  if (groupEmpty(tx, g)) return -EINVAL;
  return __iommu_group_set_domain(tx, g, d);
}

/** iommu.c iommu_attach_group(). */
export function iommu_attach_group(tx: Tx, d: number, g: number): number {
  return __iommu_attach_group(tx, d, g);
}

/** iommu.c iommu_detach_group(): back to the core domain (blocking when owned), through the nofail path. */
export function iommu_detach_group(tx: Tx, g: number): void {
  __iommu_group_set_core_domain(tx, g);
}

/**
 * iommu.c iommu_driver_get_domain_for_dev() (a75b2be249d6), for IOMMU drivers: the domain the
 * device is really attached to. A device parked for a reset is on the blocking domain while
 * group->domain keeps the domain to restore: with `reset-per-gdev-blocked` (b296ca1fb43a) that is
 * per device (gdev->blocked); before, the per-group resetting_domain answered for every device of
 * the group. -1 when the group has no domain.
 */
export function iommu_driver_get_domain_for_dev(tx: Tx, f: number): number {
  const gd = tx.gdev(f);
  if (
    WARN_ON(tx, !gd.probed, 'iommu_driver_get_domain_for_dev', tx.info(f).bdf, 'device is not in its group')
  )
    return -1;
  const grp = tx.group(tx.world.groupOf[f]!);
  if (tx.kernel.switches['reset-per-gdev-blocked']) return gd.blocked ? grp.blockingDomain : grp.domain;
  return grp.recoveryCnt > 0 ? grp.blockingDomain : grp.domain;
}
