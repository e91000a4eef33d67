/**
 * Whether the platform lets a device use ATS under VT-d: iommu.c dmar_ats_supported(), read from
 * the ACPI DMAR table's ATSR units (World.iommu.vtd.atsr). SATC units are not modelled.
 *
 * The walk starts at the PF (a VF is looked up as its PF): a device on a root bus (integrated)
 * may use ATS; a path through a conventional PCI or PCIe-to-PCI bridge may not; otherwise the
 * root port above it must be listed by an ATSR, or an ATSR must have the ALL_PORTS flag.
 */
import { PCI_EXP_TYPE } from '../../pci/caps/express.js';
import { pci_physfn } from '../../pci/ats.js';
import type { Tx } from '../../model/tx.js';

/** The PCIe port type of function b, or null when it has no Express capability. */
function portType(tx: Tx, b: number): number | null {
  return tx.world.machine.functions[b]?.fn.express?.portType ?? null;
}

/** iommu.c dmar_ats_supported(pdev, iommu). */
export function dmar_ats_supported(tx: Tx, f: number): boolean {
  const dev = pci_physfn(tx, f);
  let bridge = tx.info(dev).upstreamBridge;
  let rootPort = -1;
  while (bridge >= 0) {
    const t = portType(tx, bridge);
    // Connected via non-PCIe: no ATS.
    if (t === null || t === PCI_EXP_TYPE.PCI_BRIDGE) return false;
    if (t === PCI_EXP_TYPE.ROOT_PORT) {
      rootPort = bridge;
      break;
    }
    bridge = tx.info(bridge).upstreamBridge;
  }
  // An integrated device (no bridge above it): ATS allowed.
  if (rootPort < 0) return bridge < 0;
  const atsr = tx.world.iommu.vtd.atsr;
  if (atsr === 'all') return true;
  return atsr.includes(tx.info(rootPort).bdf);
}
