/**
 * The IOMMU core's and the PCI flows' entry points, registered as operation handlers (model/step.ts):
 * boot and probe, driver bind/unbind, VFIO claim/release and the owner's attach/detach, the sysfs
 * group type, PASID attach/detach, FLR and CXL resets, SR-IOV enable/disable, hot-unplug. Each
 * returns the kernel's return value (0 or a negative errno); an absent function or one without an
 * IOMMU gets -ENODEV where the kernel would, never an exception. Resets and removals of a
 * function whose device lock another thread holds (a reset in progress) wait for it.
 */
import { ENODEV } from '../kernel/errno.js';
import type { OpName, OpOf } from '../model/ops.js';
import { registerHandlers, type OpHandler, type StepOutcome } from '../model/step.js';
import type { Tx } from '../model/tx.js';
import { pci_stop_and_remove_bus_device, removalSet } from '../pci/hotplug.js';
import { anyVfResetting, sriov_disable, sriov_enable } from '../pci/iov.js';
import { cxl_reset_bus_function, pci_reset_function_flr } from '../pci/reset.js';
import { iommu_group_store_type } from './default-domain.js';
import { deviceGroup } from './group.js';
import {
  driver_bind,
  driver_unbind,
  owner_attach,
  owner_detach,
  vfio_claim,
  vfio_release,
} from './ownership.js';
import { pasid_attach, pasid_detach } from './pasid.js';
import { bus_iommu_probe, iommu_probe_device } from './probe.js';

function done(ret: number): StepOutcome {
  return { ret, cont: null };
}

function waitFor(op: OpName, f: number): StepOutcome {
  return { ret: null, cont: { op, phase: 0, args: [f], domainArgs: 0 } };
}

/** Phase of an entry point that is waiting for in-flight ATC invalidations before it may start. */
const FENCE_PHASE = -1;

/**
 * Whether a domain change for these functions must wait now: an ATC invalidation issued from a
 * domain they leave has not had its CMD_SYNC yet. The model waits before the attach starts; the
 * kernel waits inside it (SMMUv3: the attach's own CMD_SYNCs queue behind the unmap's commands, and
 * from v7.1 arm_smmu_invs_unref() takes the invs rwlock for writing, 587bb3e56a2c; VT-d
 * domain->cache_lock; AMD-Vi domain->lock), after it has turned ATS off (docs/concepts.md, What is
 * abstracted). The kernel waits holding group->mutex; the unmap's CMD_SYNC does not need that
 * mutex, so the wait always ends.
 */
function fencedByInvalidations(tx: Tx, fns: readonly number[]): boolean {
  const ops = tx.world.ops;
  if (ops.attach_would_wait === undefined) return false;
  for (const f of fns) if (ops.attach_would_wait(tx, f)) return true;
  return false;
}

function groupMembers(tx: Tx, f: number): readonly number[] {
  const g = tx.world.groupOf[f] ?? -1;
  return g < 0 ? [f] : tx.world.groups[g]!.members;
}

/**
 * Wraps an entry point that changes domain attachments: it starts only when no attach would wait
 * for in-flight invalidations (`affected` names the functions whose attachments it changes; an
 * empty list means it attaches nothing).
 */
function fenced<K extends OpName>(
  op: K,
  affected: (tx: Tx, o: OpOf<K>) => readonly number[],
  h: OpHandler<K>,
): OpHandler<K> {
  return (tx, o, cont, t) => {
    const c = cont !== null && cont.phase === FENCE_PHASE ? null : cont;
    if (c === null) {
      const fns = affected(tx, o);
      if (fns.length > 0 && fencedByInvalidations(tx, fns)) {
        return { ret: null, cont: { op, phase: FENCE_PHASE, args: [...fns], domainArgs: 0 } };
      }
    }
    return h(tx, o, c, t);
  };
}

/** A function index from an operation; out of range is a scenario bug in the caller (model bug). */
function fn(tx: Tx, f: number): number {
  if (!Number.isInteger(f) || f < 0 || f >= tx.world.infos.length)
    throw new Error(`model bug: operation names function ${f}, the machine has ${tx.world.infos.length}`);
  return f;
}

registerHandlers({
  boot: (tx) => done(bus_iommu_probe(tx)),
  probe: (tx, op) => {
    const f = fn(tx, op.f);
    if (!tx.device(f).present || tx.world.groupOf[f]! < 0) return done(-ENODEV);
    return done(iommu_probe_device(tx, f));
  },
  bind: (tx, op) => done(driver_bind(tx, fn(tx, op.f), op.kind, op.msi ?? false)),
  unbind: (tx, op) => done(driver_unbind(tx, fn(tx, op.f))),
  'vfio-claim': fenced(
    'vfio-claim',
    (tx, op) => groupMembers(tx, fn(tx, op.f)),
    (tx, op) => done(vfio_claim(tx, fn(tx, op.f))),
  ),
  'vfio-release': fenced(
    'vfio-release',
    (tx, op) => groupMembers(tx, fn(tx, op.f)),
    (tx, op) => done(vfio_release(tx, fn(tx, op.f))),
  ),
  attach: fenced(
    'attach',
    (tx, op) => groupMembers(tx, fn(tx, op.f)),
    (tx, op) => done(owner_attach(tx, fn(tx, op.f), op.domain)),
  ),
  detach: fenced(
    'detach',
    (tx, op) => groupMembers(tx, fn(tx, op.f)),
    (tx, op) => done(owner_detach(tx, fn(tx, op.f))),
  ),
  'set-group-type': fenced(
    'set-group-type',
    (tx, op) => groupMembers(tx, fn(tx, op.f)),
    (tx, op) => {
      const f = fn(tx, op.f);
      if (!tx.device(f).present || deviceGroup(tx, f) < 0) return done(-ENODEV);
      return done(iommu_group_store_type(tx, f, op.type));
    },
  ),
  'pasid-attach': fenced(
    'pasid-attach',
    (tx, op) => groupMembers(tx, fn(tx, op.f)),
    (tx, op) => done(pasid_attach(tx, fn(tx, op.f), op.pasid, op.domain)),
  ),
  'pasid-detach': fenced(
    'pasid-detach',
    (tx, op) => groupMembers(tx, fn(tx, op.f)),
    (tx, op) => done(pasid_detach(tx, fn(tx, op.f), op.pasid)),
  ),
  // A reset attaches the blocking domain to this function only, and only with the reset hooks.
  flr: fenced(
    'flr',
    (tx, op) => (tx.kernel.switches['reset-hooks'] ? [fn(tx, op.f)] : []),
    (tx, op, cont) => pci_reset_function_flr(tx, fn(tx, op.f), cont),
  ),
  'cxl-reset': fenced(
    'cxl-reset',
    (tx, op) => (tx.kernel.switches['reset-hooks'] ? [fn(tx, op.f)] : []),
    (tx, op, cont) => cxl_reset_bus_function(tx, fn(tx, op.f), cont),
  ),
  'sriov-enable': (tx, op) => done(sriov_enable(tx, fn(tx, op.f), op.numVfs)),
  'sriov-disable': (tx, op) => {
    const f = fn(tx, op.f);
    if (tx.device(f).present && anyVfResetting(tx, f)) return waitFor('sriov-disable', f);
    return done(sriov_disable(tx, f));
  },
  'hot-unplug': (tx, op) => {
    const f = fn(tx, op.f);
    if (!tx.device(f).present) return done(-ENODEV);
    const removed = removalSet(tx, f);
    for (const k of removed) if (tx.device(k).resetting) return waitFor('hot-unplug', f);
    // iommu_deinit_device() attaches the release domain (VT-d and AMD-Vi detach): the same locks
    // as any attach, so the removal waits for a flush in flight to a function it takes away.
    if (fencedByInvalidations(tx, removed)) return waitFor('hot-unplug', f);
    pci_stop_and_remove_bus_device(tx, f);
    return done(0);
  },
});
