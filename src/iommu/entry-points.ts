/**
 * The IOMMU core's and the PCI flows' entry points, registered as operation handlers (model/step.ts):
 * boot and probe, driver bind/unbind, VFIO claim/release and the owner's attach/detach, the sysfs
 * group type, PASID attach/detach, FLR and CXL resets, SR-IOV enable/disable, hot-unplug. Each
 * returns the kernel's return value (0 or a negative errno); an absent function or one without an
 * IOMMU gets -ENODEV where the kernel would, never an exception. Resets and removals of a
 * function whose device lock another thread holds (a reset in progress) wait for it.
 */
import { ENODEV } from '../kernel/errno.js';
import type { OpName } from '../model/ops.js';
import { registerHandlers, type StepOutcome } from '../model/step.js';
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
  'vfio-claim': (tx, op) => done(vfio_claim(tx, fn(tx, op.f))),
  'vfio-release': (tx, op) => done(vfio_release(tx, fn(tx, op.f))),
  attach: (tx, op) => done(owner_attach(tx, fn(tx, op.f), op.domain)),
  detach: (tx, op) => done(owner_detach(tx, fn(tx, op.f))),
  'set-group-type': (tx, op) => {
    const f = fn(tx, op.f);
    if (!tx.device(f).present || deviceGroup(tx, f) < 0) return done(-ENODEV);
    return done(iommu_group_store_type(tx, f, op.type));
  },
  'pasid-attach': (tx, op) => done(pasid_attach(tx, fn(tx, op.f), op.pasid, op.domain)),
  'pasid-detach': (tx, op) => done(pasid_detach(tx, fn(tx, op.f), op.pasid)),
  flr: (tx, op, cont) => pci_reset_function_flr(tx, fn(tx, op.f), cont),
  'cxl-reset': (tx, op, cont) => cxl_reset_bus_function(tx, fn(tx, op.f), cont),
  'sriov-enable': (tx, op) => done(sriov_enable(tx, fn(tx, op.f), op.numVfs)),
  'sriov-disable': (tx, op) => {
    const f = fn(tx, op.f);
    if (tx.device(f).present && anyVfResetting(tx, f)) return waitFor('sriov-disable', f);
    return done(sriov_disable(tx, f));
  },
  'hot-unplug': (tx, op) => {
    const f = fn(tx, op.f);
    if (!tx.device(f).present) return done(-ENODEV);
    for (const k of removalSet(tx, f)) if (tx.device(k).resetting) return waitFor('hot-unplug', f);
    pci_stop_and_remove_bus_device(tx, f);
    return done(0);
  },
});
