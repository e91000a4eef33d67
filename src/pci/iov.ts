/**
 * SR-IOV: drivers/pci/iov.c sriov_enable() / sriov_disable() (what pci_enable_sriov() and
 * pci_disable_sriov() do), written anew over the VF slots World keeps for each PF
 * (world-builder.ts withVfSlots()). Enabling writes NumVFs and VF Enable + VF MSE, then adds each
 * VF the way pci_iov_add_virtfn() does: HEADER fixups, pci_init_capabilities(), device_add() (the
 * IOMMU bus notifier probes it: iommu_probe_device(), where the IOMMU driver runs
 * pci_prepare_ats() on it), then the FINAL fixups. Disabling removes the VFs (last first, as
 * pci_stop_and_remove_bus_device()) before clearing VF Enable and NumVFs.
 */
import { EINVAL, ENODEV, ENOSYS, ERANGE } from '../kernel/errno.js';
import { emitConfigWrite } from '../kernel/events.js';
import type { Tx } from '../model/tx.js';
import { INITIAL_DEVICE } from '../model/world-builder.js';
import { iommu_probe_device } from '../iommu/probe.js';
import { PCI_ATS_CTRL_ENABLE } from './caps/ats.js';
import {
  PCI_SRIOV_CTRL,
  PCI_SRIOV_CTRL_ARI,
  PCI_SRIOV_CTRL_MSE,
  PCI_SRIOV_CTRL_VFE,
  PCI_SRIOV_NUM_VF,
} from './caps/sriov.js';
import type { SriovCap } from './caps/sriov.js';
import { pci_remove_one } from './hotplug.js';
import { newPciDev, pci_init_capabilities } from './pci-dev.js';
import { pci_fixup_device } from './quirks.js';

/** The PF's SR-IOV capability as the machine shows it, or null. */
function sriovCap(tx: Tx, pf: number): SriovCap | null {
  return tx.world.machine.functions[pf]?.fn.sriov ?? null;
}

/** The PF's VFs (enabled ones and slots), in VF-number order. */
export function vfsOf(tx: Tx, pf: number): readonly number[] {
  return tx.world.machine.functions[pf]?.vfs ?? [];
}

/** The VFs of pf that are currently there (iov->num_VFs of them). */
export function enabledVfs(tx: Tx, pf: number): number[] {
  return vfsOf(tx, pf).filter((vf) => tx.device(vf).present);
}

function sriovCtrl(s: SriovCap, enable: boolean): number {
  return (
    (s.ariHierarchy === true ? PCI_SRIOV_CTRL_ARI : 0) |
    (enable ? PCI_SRIOV_CTRL_VFE | PCI_SRIOV_CTRL_MSE : 0)
  );
}

/**
 * iov.c pci_iov_add_virtfn() for VF slot vf: a fresh function (registers as the machine shows
 * them), enumerated with the IOMMU probe between pci_device_add() and pci_bus_add_device().
 */
function pci_iov_add_virtfn(tx: Tx, vf: number): void {
  Object.assign(tx.mutDevice(vf), INITIAL_DEVICE);
  const p = tx.mut(vf);
  Object.assign(p, newPciDev());
  const ats = tx.world.machine.functions[vf]?.fn.ats ?? null;
  if (ats !== null) p.atsCtrl = (ats.enabled === true ? PCI_ATS_CTRL_ENABLE : 0) | ((ats.stuRaw ?? 0) & 0x1f);
  pci_fixup_device(tx, 'header', vf);
  pci_init_capabilities(tx, vf);
  tx.emit({ kind: 'iommu', bdf: tx.info(vf).bdf, fn: 'pci_iov_add_virtfn', detail: 'VF added' });
  iommu_probe_device(tx, vf);
  pci_fixup_device(tx, 'final', vf);
}

/**
 * iov.c sriov_enable(): -ENODEV for an absent PF, -ENOSYS without SR-IOV, 0 for no VFs, -EINVAL
 * for a count that is not a non-negative integer, when VFs are already enabled or more than TotalVFs are asked for. Asking for more VFs than the
 * model has slots for is -ERANGE (a model limit, logged as such).
 */
export function sriov_enable(tx: Tx, pf: number, numVfs: number): number {
  if (!tx.device(pf).present) return -ENODEV;
  const s = sriovCap(tx, pf);
  if (s === null) return -ENOSYS;
  if (!Number.isInteger(numVfs) || numVfs < 0) return -EINVAL;
  if (numVfs === 0) return 0;
  if (enabledVfs(tx, pf).length !== 0) return -EINVAL;
  const slots = vfsOf(tx, pf);
  if (numVfs > (s.totalVFs ?? slots.length)) return -EINVAL;
  if (numVfs > slots.length) {
    tx.emit({
      kind: 'info',
      bdf: tx.info(pf).bdf,
      level: 'warn',
      message: `atsim: the model has ${slots.length} VF slot(s) for this PF; cannot enable ${numVfs} VFs (raise WorldOptions.vfSlots)`,
    });
    return -ERANGE;
  }
  const bdf = tx.info(pf).bdf;
  emitConfigWrite(tx, bdf, s.offset + PCI_SRIOV_NUM_VF, 2, numVfs, 'PCI_SRIOV_NUM_VF');
  emitConfigWrite(tx, bdf, s.offset + PCI_SRIOV_CTRL, 2, sriovCtrl(s, true), 'PCI_SRIOV_CTRL');
  for (let i = 0; i < numVfs; i++) pci_iov_add_virtfn(tx, slots[i]!);
  return 0;
}

/**
 * iov.c sriov_disable(): the VFs are removed (unbound, released by the IOMMU, gone), then VF
 * Enable and NumVFs are cleared. Nothing to do without enabled VFs.
 */
export function sriov_disable(tx: Tx, pf: number): number {
  if (!tx.device(pf).present) return -ENODEV;
  const s = sriovCap(tx, pf);
  if (s === null) return -ENOSYS;
  const vfs = enabledVfs(tx, pf);
  if (vfs.length === 0) return 0;
  for (let i = vfs.length - 1; i >= 0; i--) pci_remove_one(tx, vfs[i]!);
  const bdf = tx.info(pf).bdf;
  emitConfigWrite(tx, bdf, s.offset + PCI_SRIOV_CTRL, 2, sriovCtrl(s, false), 'PCI_SRIOV_CTRL');
  emitConfigWrite(tx, bdf, s.offset + PCI_SRIOV_NUM_VF, 2, 0, 'PCI_SRIOV_NUM_VF');
  return 0;
}

/** Whether any of pf's enabled VFs is being reset (their device lock is held). */
export function anyVfResetting(tx: Tx, pf: number): boolean {
  for (const vf of vfsOf(tx, pf)) if (tx.device(vf).present && tx.device(vf).resetting) return true;
  return false;
}
