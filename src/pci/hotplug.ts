/**
 * Removing a PCI function: drivers/pci/remove.c pci_stop_and_remove_bus_device(), written anew for
 * what the model keeps. The bound driver is unbound first (device_release_driver(): a DMA-API
 * driver drops its default-domain claim, vfio-pci releases its ownership), then device_del()'s
 * BUS_NOTIFY_REMOVED_DEVICE releases the function from the IOMMU (iommu_release_device()), and the
 * function is gone: not present, no ATC, its pci_dev state dropped.
 *
 * Modelling choices: a bridge takes the functions below it along (children first), and a PF its VFs
 * (the PF driver's remove disables SR-IOV); removal of a function that is being reset waits for
 * the reset (both hold the device lock).
 */
import { driver_unbind } from '../iommu/ownership.js';
import { iommu_release_device } from '../iommu/probe.js';
import { INITIAL_DEVICE } from '../model/world-builder.js';
import { DRIVER_NONE } from '../model/state.js';
import type { Tx } from '../model/tx.js';
import { newPciDev } from './pci-dev.js';

/** Whether `up` is f's PF or lies on f's upstream bridge chain. */
function isBelow(tx: Tx, f: number, up: number): boolean {
  const info = tx.info(f);
  if (info.isVirtfn && info.physfn === up) return true;
  let k = info.upstreamBridge;
  for (let depth = 0; k >= 0 && depth <= tx.world.infos.length; depth++) {
    if (k === up) return true;
    k = tx.info(k).upstreamBridge;
  }
  return false;
}

/** The present functions removed with f: f itself last, the ones below it first (reverse BDF order). */
export function removalSet(tx: Tx, f: number): number[] {
  const out: number[] = [];
  const n = tx.world.infos.length;
  for (let k = n - 1; k >= 0; k--) if (k !== f && tx.device(k).present && isBelow(tx, k, f)) out.push(k);
  out.push(f);
  return out;
}

/** Drops function f: unbind, IOMMU release, then the device and its pci_dev state are gone. */
export function pci_remove_one(tx: Tx, f: number): void {
  if (!tx.device(f).present) return;
  if (tx.device(f).driver !== DRIVER_NONE) driver_unbind(tx, f);
  iommu_release_device(tx, f);
  const dev = tx.mutDevice(f);
  Object.assign(dev, INITIAL_DEVICE);
  dev.present = false;
  Object.assign(tx.mut(f), newPciDev());
  tx.emit({
    kind: 'iommu',
    bdf: tx.info(f).bdf,
    fn: 'pci_stop_and_remove_bus_device',
    detail: 'function removed',
  });
}

/** remove.c pci_stop_and_remove_bus_device(): f and everything below it. */
export function pci_stop_and_remove_bus_device(tx: Tx, f: number): void {
  for (const k of removalSet(tx, f)) pci_remove_one(tx, k);
}
