/**
 * Probe and release of a device by the IOMMU core: drivers/iommu/iommu.c iommu_init_device(),
 * __iommu_probe_device(), bus_iommu_probe(), iommu_release_device() / iommu_deinit_device(),
 * written anew. Groups are static in the model (World.groups, what ops->device_group() would
 * build); a device joins its group's device list (`gdev.probed`) when the driver's probe_device()
 * succeeds. The list is kept in BDF order (the kernel's is probe order; the two agree at boot).
 */
import { errnoName } from '../kernel/errno.js';
import { WARN_ON } from '../kernel/events.js';
import { INITIAL_GDEV } from '../model/world-builder.js';
import { DRIVER_NONE } from '../model/state.js';
import type { Tx } from '../model/tx.js';
import { iommu_setup_default_domain } from './default-domain.js';
import { IOMMU_DOMAIN_IDENTITY } from './domain-type.js';
import {
  __iommu_device_set_domain,
  __iommu_group_alloc_blocking_domain,
  domainLabel,
  freeDomainIfUnused,
  groupEmpty,
  iommuEvent,
} from './group.js';

/**
 * iommu.c iommu_init_device(): ops->probe_device(); on failure the function stays without an
 * IOMMU (no group). The group itself comes from World.groups; max_pasids from World.maxPasids.
 */
function iommu_init_device(tx: Tx, f: number): number {
  const ret = tx.world.ops.probe_device(tx, f);
  if (ret !== 0) return ret;
  const gd = tx.mutGdev(f);
  gd.probed = true;
  gd.blocked = false;
  gd.resetDepth = 0;
  return 0;
}

/**
 * iommu.c iommu_deinit_device(), after the device left the group's list: attach the driver's
 * release domain (ops->blocked_domain, or its identity domain for a require_direct device, so the
 * RMR mappings survive) when the driver has one, then ops->release_device(). The last device out
 * takes the group's default and blocking domains with it and leaves group->domain NULL.
 */
function iommu_deinit_device(tx: Tx, g: number, f: number): void {
  const ops = tx.world.ops;
  if (ops.hasBlockedDomain) {
    let rel = -1;
    let temp = false;
    if (tx.world.requireDirect[f] && ops.hasIdentityDomain) {
      const def = tx.group(g).defaultDomain;
      if (def >= 0 && tx.domain(def).type === IOMMU_DOMAIN_IDENTITY) rel = def;
      else {
        rel = tx.allocDomain(IOMMU_DOMAIN_IDENTITY, 0);
        temp = true;
      }
    } else if (__iommu_group_alloc_blocking_domain(tx, g) === 0) {
      rel = tx.group(g).blockingDomain;
    }
    if (rel >= 0) {
      ops.attach_dev(tx, rel, f, tx.group(g).domain);
      iommuEvent(tx, f, 'iommu_deinit_device', `release domain ${domainLabel(tx, rel)} attached`);
    }
    ops.release_device(tx, f);
    if (temp) tx.freeDomain(rel);
  } else {
    ops.release_device(tx, f);
  }
  if (groupEmpty(tx, g)) {
    const grp = tx.mutGroup(g);
    const def = grp.defaultDomain;
    const blk = grp.blockingDomain;
    grp.defaultDomain = -1;
    grp.blockingDomain = -1;
    grp.domain = -1;
    freeDomainIfUnused(tx, def);
    freeDomainIfUnused(tx, blk);
  }
}

/**
 * iommu.c __iommu_group_remove_device() + __iommu_group_free_device(): f leaves the list; when
 * that empties the group, ownership must have been released and the group must be back on its
 * default domain (WARN otherwise). Then iommu_deinit_device().
 */
function iommu_group_remove_device(tx: Tx, g: number, f: number): void {
  tx.mutGdev(f).probed = false;
  if (groupEmpty(tx, g)) {
    const grp = tx.group(g);
    WARN_ON(
      tx,
      grp.ownerCnt !== 0 || grp.domain !== grp.defaultDomain,
      '__iommu_group_free_device',
      tx.info(f).bdf,
      `last device leaves group ${g} with owner_cnt ${grp.ownerCnt} on ${domainLabel(tx, grp.domain)} (default ${domainLabel(tx, grp.defaultDomain)})`,
    );
  }
  iommu_deinit_device(tx, g, f);
  const gd = tx.mutGdev(f);
  gd.blocked = INITIAL_GDEV.blocked;
  gd.resetDepth = INITIAL_GDEV.resetDepth;
}

/**
 * iommu.c __iommu_probe_device(): probe f and add it to its group. A hot-plugged device (the group
 * already has a domain) is attached to group->domain, and is taken out again if that fails; the
 * first device of a group sets up the default domain, unless `deferSetup` (bus_iommu_probe()
 * sets up each group once all its devices are in). A driver already bound means the IOMMU
 * probe came too late (dev_WARN).
 */
export function __iommu_probe_device(tx: Tx, f: number, deferSetup: boolean): number {
  const g = tx.world.groupOf[f]!;
  if (g < 0) return 0;
  if (tx.gdev(f).probed) return 0;
  const ret = iommu_init_device(tx, f);
  if (ret !== 0) {
    tx.emit({
      kind: 'info',
      bdf: tx.info(f).bdf,
      level: 'warn',
      message: `iommu_probe_device() failed (${errnoName(ret)}): no IOMMU translation for this function`,
    });
    return ret;
  }
  WARN_ON(
    tx,
    tx.device(f).driver !== DRIVER_NONE,
    '__iommu_probe_device',
    tx.info(f).bdf,
    'late IOMMU probe at driver bind, something fishy here!',
  );
  iommuEvent(tx, f, '__iommu_probe_device', `Adding to iommu group ${g}`);
  const grp = tx.group(g);
  WARN_ON(
    tx,
    grp.defaultDomain >= 0 && grp.domain < 0,
    '__iommu_probe_device',
    tx.info(f).bdf,
    'group has a default domain but no domain',
  );
  let err = 0;
  if (grp.domain >= 0) {
    err = __iommu_device_set_domain(tx, g, f, grp.domain, -1, 0);
  } else if (grp.defaultDomain < 0 && !deferSetup) {
    err = iommu_setup_default_domain(tx, g, 0);
  }
  if (err !== 0) {
    iommu_group_remove_device(tx, g, f);
    return err;
  }
  // iommu_probe_device() finalizes at once; bus_iommu_probe() after the group's default domain.
  if (!deferSetup || tx.group(g).domain >= 0) probe_finalize(tx, f);
  return 0;
}

/** iommu.c iommu_group_do_probe_finalize(): ops->probe_finalize() when the driver has one. */
function probe_finalize(tx: Tx, f: number): void {
  tx.world.ops.probe_finalize?.(tx, f);
}

/** iommu.c iommu_probe_device(): one device (hot-plug, a new VF), finalized once it is in its group. */
export function iommu_probe_device(tx: Tx, f: number): number {
  return __iommu_probe_device(tx, f, false);
}

/**
 * iommu.c bus_iommu_probe(): every present function with an IOMMU in BDF order joins its group,
 * then each new group gets its default domain, chosen with all its devices known. A probe error
 * only leaves that function without an IOMMU; a default-domain error stops the bus probe and is
 * returned.
 */
export function bus_iommu_probe(tx: Tx): number {
  const n = tx.world.infos.length;
  const pending: number[] = [];
  for (let f = 0; f < n; f++) {
    const g = tx.world.groupOf[f]!;
    if (g < 0 || !tx.device(f).present || tx.gdev(f).probed) continue;
    __iommu_probe_device(tx, f, true);
    if (tx.gdev(f).probed && tx.group(g).defaultDomain < 0 && !pending.includes(g)) pending.push(g);
  }
  for (const g of pending) {
    const ret = iommu_setup_default_domain(tx, g, 0);
    if (ret !== 0) return ret;
    for (const m of tx.world.groups[g]!.members) if (tx.gdev(m).probed) probe_finalize(tx, m);
  }
  return 0;
}

/**
 * iommu.c iommu_release_device() (BUS_NOTIFY_REMOVED_DEVICE): f leaves its group and the driver
 * releases it. Does not touch group->recovery_cnt: a device removed while parked for a reset
 * leaves the count behind, as the kernel does.
 */
export function iommu_release_device(tx: Tx, f: number): void {
  if (!tx.gdev(f).probed) return;
  const g = tx.world.groupOf[f]!;
  iommuEvent(tx, f, 'iommu_release_device', `Removing from iommu group ${g}`);
  iommu_group_remove_device(tx, g, f);
}
