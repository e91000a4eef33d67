/**
 * Fencing the IOMMU around a PCI reset: drivers/iommu/iommu.c pci_dev_reset_iommu_prepare() and
 * pci_dev_reset_iommu_done() (c279e83953d9, called by the PCI reset methods since f5b16b802174),
 * written anew. Prepare parks the device's RID and PASIDs on the group's blocking domain, so its
 * IOMMU driver turns ATS off and stops invalidating it, while group->domain and the PASID array
 * keep what to restore; done attaches them back.
 *
 * Versions, by switch:
 *  - without `reset-per-gdev-blocked`: the merged c279e83953d9 design, one per-group
 *    resetting_domain. The model keeps it as `recoveryCnt` 0/1 and marks the parked device
 *    `blocked`; a second prepare in the group (a sibling, or a nested one) WARNs and fails with
 *    -EBUSY; done re-attaches each PASID on the whole group (__iommu_set_group_pasid).
 *  - `reset-per-gdev-blocked` (b296ca1fb43a): gdev->blocked and group->recovery_cnt. Taken with it:
 *    1615e8896a8f (done() re-attaches the PASIDs of this device only, and both loops skip devices
 *    without PASID support), which the 7.0 stable series applies on top of it.
 *  - `reset-depth-nesting` (0d5fd7a9323c): prepare/done nest through gdev->reset_depth, so
 *    cxl_reset_bus_function() -> pci_reset_bus_function() works; without it a nested prepare
 *    WARNs and returns -EBUSY.
 */
import { EBUSY, ENODEV } from '../kernel/errno.js';
import { WARN_ON } from '../kernel/events.js';
import type { Tx } from '../model/tx.js';
import { pci_ats_supported } from '../pci/ats.js';
import {
  __iommu_attach_device,
  __iommu_group_alloc_blocking_domain,
  dev_has_iommu,
  domainLabel,
  iommuEvent,
} from './group.js';
import { __iommu_set_group_pasid } from './pasid.js';

const PREPARE = 'pci_dev_reset_iommu_prepare';
const DONE = 'pci_dev_reset_iommu_done';

/**
 * iommu.c pci_dev_reset_iommu_prepare(): a no-op (0) unless f is ATS-supported and has an IOMMU.
 * Otherwise park f on the blocking domain (RID of this device only, then every attached PASID
 * removed through the driver), mark it blocked and count it in recovery_cnt. Errors leave nothing
 * changed and must abort the reset.
 */
export function pci_dev_reset_iommu_prepare(tx: Tx, f: number): number {
  if (!pci_ats_supported(tx, f) || !dev_has_iommu(tx, f)) return 0;
  const sw = tx.kernel.switches;
  const bdf = tx.info(f).bdf;
  const g = tx.world.groupOf[f]!;
  if (WARN_ON(tx, g < 0, PREPARE, bdf, 'no group_device')) return -ENODEV;
  const perGdev = sw['reset-per-gdev-blocked'];
  const nesting = sw['reset-depth-nesting'];
  const undoDepth = (): void => {
    if (nesting) tx.mutGdev(f).resetDepth = tx.gdev(f).resetDepth - 1;
  };
  if (nesting) {
    const depth = tx.gdev(f).resetDepth;
    tx.mutGdev(f).resetDepth = depth + 1;
    if (depth > 0) {
      iommuEvent(tx, f, PREPARE, `nested (reset_depth ${depth + 1})`);
      return 0;
    }
  } else if (perGdev) {
    if (WARN_ON(tx, tx.gdev(f).blocked, PREPARE, bdf, 're-entry: the device is already blocked for a reset'))
      return -EBUSY;
  }
  if (
    !perGdev &&
    WARN_ON(tx, tx.group(g).recoveryCnt > 0, PREPARE, bdf, 're-entry: group->resetting_domain is already set')
  ) {
    undoDepth();
    return -EBUSY;
  }
  let ret = __iommu_group_alloc_blocking_domain(tx, g);
  if (ret !== 0) {
    undoDepth();
    return ret;
  }
  const grp = tx.group(g);
  const blocking = grp.blockingDomain;
  if (grp.domain !== blocking) {
    ret = __iommu_attach_device(tx, blocking, f, grp.domain);
    if (ret !== 0) {
      undoDepth();
      iommuEvent(tx, f, PREPARE, `attaching ${domainLabel(tx, blocking)} failed (${ret})`);
      return ret;
    }
  }
  tx.mutGdev(f).blocked = true;
  const pasids = grp.pasids;
  if (pasids.length !== 0 && (!perGdev || tx.world.maxPasids[f]! > 0)) {
    const ops = tx.world.ops;
    for (let i = 0; i < pasids.length; i += 2) {
      const p = pasids[i]!;
      if (p >= 1) ops.remove_dev_pasid(tx, f, p, pasids[i + 1]!);
    }
  }
  tx.mutGroup(g).recoveryCnt = tx.group(g).recoveryCnt + 1;
  iommuEvent(
    tx,
    f,
    PREPARE,
    `parked on ${domainLabel(tx, blocking)}; group ${g} keeps ${domainLabel(tx, grp.domain)} (recovery_cnt ${tx.group(g).recoveryCnt})`,
  );
  return 0;
}

/**
 * iommu.c pci_dev_reset_iommu_done(): the outermost call of a successful prepare re-attaches f to
 * the CURRENT group->domain (which a MUST_SUCCEED teardown may have changed meanwhile,
 * 5474e6e17a26) unless that is NULL or the blocking domain itself, clears blocked, re-attaches
 * every PASID of the array, and drops recovery_cnt. Failures WARN, as in the source.
 */
export function pci_dev_reset_iommu_done(tx: Tx, f: number): void {
  if (!pci_ats_supported(tx, f) || !dev_has_iommu(tx, f)) return;
  const sw = tx.kernel.switches;
  const bdf = tx.info(f).bdf;
  const g = tx.world.groupOf[f]!;
  if (WARN_ON(tx, g < 0, DONE, bdf, 'no group_device')) return;
  const perGdev = sw['reset-per-gdev-blocked'];
  if (sw['reset-depth-nesting']) {
    const depth = tx.gdev(f).resetDepth;
    if (WARN_ON(tx, depth === 0, DONE, bdf, 'unbalanced done(): reset_depth is 0')) return;
    tx.mutGdev(f).resetDepth = depth - 1;
    if (depth > 1) {
      iommuEvent(tx, f, DONE, `nested (reset_depth ${depth - 1})`);
      return;
    }
  } else if (perGdev) {
    if (!tx.gdev(f).blocked) return;
  }
  if (!perGdev && tx.group(g).recoveryCnt === 0) return; // prepare was bypassed: no resetting_domain
  const grp = tx.group(g);
  const blocking = grp.blockingDomain;
  if (WARN_ON(tx, blocking < 0, DONE, bdf, 'no blocking domain')) return;
  const ops = tx.world.ops;
  // A NULL group->domain (its default domain failed to allocate) leaves the device parked:
  // d769711fcddd "iommu: Fix NULL group->domain dereference in pci_dev_reset_iommu_done()".
  if (grp.domain >= 0 && grp.domain !== blocking)
    WARN_ON(
      tx,
      __iommu_attach_device(tx, grp.domain, f, blocking) !== 0,
      DONE,
      bdf,
      `re-attaching ${domainLabel(tx, grp.domain)} failed`,
    );
  if (perGdev) {
    tx.mutGdev(f).blocked = false;
  } else {
    // c279e83953d9 clears the group-wide resetting_domain; the model's per-device marks go with it.
    for (const m of tx.world.groups[g]!.members) if (tx.gdev(m).blocked) tx.mutGdev(m).blocked = false;
  }
  const pasids = tx.group(g).pasids;
  for (let i = 0; i < pasids.length; i += 2) {
    const p = pasids[i]!;
    const d = pasids[i + 1]!;
    if (p < 1) continue;
    if (perGdev) {
      if (tx.world.maxPasids[f]! > 0)
        WARN_ON(
          tx,
          ops.set_dev_pasid(tx, d, f, p, blocking) !== 0,
          DONE,
          bdf,
          `re-attaching PASID ${p} to ${domainLabel(tx, d)} failed`,
        );
    } else {
      WARN_ON(
        tx,
        __iommu_set_group_pasid(tx, d, g, p, blocking) !== 0,
        DONE,
        bdf,
        `re-attaching PASID ${p} to ${domainLabel(tx, d)} failed`,
      );
    }
  }
  const rc = tx.group(g).recoveryCnt;
  if (perGdev) {
    if (!WARN_ON(tx, rc === 0, DONE, bdf, 'recovery_cnt is already 0')) tx.mutGroup(g).recoveryCnt = rc - 1;
  } else {
    tx.mutGroup(g).recoveryCnt = 0;
  }
  iommuEvent(
    tx,
    f,
    DONE,
    `restored to ${domainLabel(tx, tx.group(g).domain)} (recovery_cnt ${tx.group(g).recoveryCnt})`,
  );
}
