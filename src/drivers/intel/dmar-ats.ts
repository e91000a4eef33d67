/**
 * Whether the platform lets a device use ATS under VT-d: iommu.c dmar_ats_supported(), read from
 * the ACPI DMAR table's ATSR units (World.iommu.vtd.atsr). SATC units are not modelled.
 *
 * The walk starts at the PF (a VF is looked up as its PF): a device on a root bus (integrated)
 * may use ATS; a path through a conventional PCI or PCIe-to-PCI bridge may not; otherwise the
 * root port above it must be listed by an ATSR, or an ATSR must have the ALL_PORTS flag.
 */
import { PCI_EXP_TYPE } from '../../pci/caps/express.js';
import type { Machine } from '../../pci/topology.js';
import type { Tx } from '../../model/tx.js';
import type { VtdConfig } from '../../model/world.js';

/** dmar_ats_supported() for function f of a machine, with the given ATSR units. */
export function dmarAtsSupportedIn(machine: Machine, f: number, atsr: VtdConfig['atsr']): boolean {
  const mf = machine.functions[f]!;
  const dev = mf.physfn ?? f;
  let bridge = machine.functions[dev]!.parent;
  while (bridge !== null) {
    const b = machine.functions[bridge]!;
    const t = b.fn.express?.portType ?? null;
    // Connected via non-PCIe: no ATS.
    if (t === null || t === PCI_EXP_TYPE.PCI_BRIDGE) return false;
    // The root port: look it up in the ATSR units.
    if (t === PCI_EXP_TYPE.ROOT_PORT) return atsr === 'all' || atsr.includes(b.fn.bdf);
    bridge = b.parent;
  }
  // An integrated device (no bridge above it): ATS allowed.
  return true;
}

/** iommu.c dmar_ats_supported(pdev, iommu). */
export function dmar_ats_supported(tx: Tx, f: number): boolean {
  return dmarAtsSupportedIn(tx.world.machine, f, tx.world.iommu.vtd.atsr);
}
