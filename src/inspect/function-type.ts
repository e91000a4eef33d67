/** The `type` field of `atsim inspect`: a function's PCIe device/port type, or what the header says. */
import { PCI_EXP_TYPE } from '../pci/caps/express.js';
import type { PciFunction } from '../pci/function.js';

export type FunctionType =
  | 'endpoint'
  | 'legacy-endpoint'
  | 'rc-integrated-endpoint'
  | 'root-port'
  | 'upstream-port'
  | 'downstream-port'
  | 'pci-bridge'
  | 'rc-event-collector'
  | 'host-bridge'
  | 'other'
  | 'unknown';

const PCI_CLASS_BRIDGE_HOST = 0x0600;

export function functionType(fn: PciFunction): FunctionType {
  const cls = fn.header.classCode;
  if (cls !== null && cls >> 8 === PCI_CLASS_BRIDGE_HOST) return 'host-bridge';
  const t = fn.express?.portType ?? null;
  if (t !== null) {
    switch (t) {
      case PCI_EXP_TYPE.ENDPOINT:
        return 'endpoint';
      case PCI_EXP_TYPE.LEG_END:
        return 'legacy-endpoint';
      case PCI_EXP_TYPE.RC_END:
        return 'rc-integrated-endpoint';
      case PCI_EXP_TYPE.ROOT_PORT:
        return 'root-port';
      case PCI_EXP_TYPE.UPSTREAM:
        return 'upstream-port';
      case PCI_EXP_TYPE.DOWNSTREAM:
        return 'downstream-port';
      case PCI_EXP_TYPE.PCI_BRIDGE:
      case PCI_EXP_TYPE.PCIE_BRIDGE:
        return 'pci-bridge';
      case PCI_EXP_TYPE.RC_EC:
        return 'rc-event-collector';
      default:
        return 'other';
    }
  }
  if (fn.express !== null) return 'unknown';
  if (fn.header.headerLayout === 1) return 'pci-bridge';
  // No PCI Express capability: conventional PCI, when the input showed the capability list.
  if (fn.capabilities !== null && fn.header.headerLayout !== null) return 'other';
  return 'unknown';
}
