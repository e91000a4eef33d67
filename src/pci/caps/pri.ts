/** Page Request Interface Extended Capability (0x13): include/uapi/linux/pci_regs.h PCI_PRI_*. */
import type { ConfigSpace } from '../config-space.js';

export const PCI_PRI_CTRL = 0x04;
export const PCI_PRI_CTRL_ENABLE = 0x0001;
export const PCI_PRI_CTRL_RESET = 0x0002;
export const PCI_PRI_STATUS = 0x06;
export const PCI_PRI_STATUS_RF = 0x0001;
export const PCI_PRI_STATUS_UPRGI = 0x0002;
export const PCI_PRI_STATUS_STOPPED = 0x0100;
export const PCI_PRI_STATUS_PASID = 0x8000;
export const PCI_PRI_MAX_REQ = 0x08;
export const PCI_PRI_ALLOC_REQ = 0x0c;

export interface PriCap {
  readonly offset: number;
  readonly enabled: boolean | null;
  readonly reset: boolean | null;
  readonly responseFailure: boolean | null;
  readonly unexpectedPrgIndex: boolean | null;
  readonly stopped: boolean | null;
  /** PRG Response PASID Required (status bit 15). */
  readonly pasidRequired: boolean | null;
  readonly capacity: number | null;
  readonly allocation: number | null;
}

export function decodePri(cs: ConfigSpace, o: number): PriCap {
  const ctrl = cs.has(o + PCI_PRI_CTRL, 2) ? cs.read16(o + PCI_PRI_CTRL) : null;
  const sta = cs.has(o + PCI_PRI_STATUS, 2) ? cs.read16(o + PCI_PRI_STATUS) : null;
  const bit = (v: number | null, m: number): boolean | null => (v === null ? null : (v & m) !== 0);
  return {
    offset: o,
    enabled: bit(ctrl, PCI_PRI_CTRL_ENABLE),
    reset: bit(ctrl, PCI_PRI_CTRL_RESET),
    responseFailure: bit(sta, PCI_PRI_STATUS_RF),
    unexpectedPrgIndex: bit(sta, PCI_PRI_STATUS_UPRGI),
    stopped: bit(sta, PCI_PRI_STATUS_STOPPED),
    pasidRequired: bit(sta, PCI_PRI_STATUS_PASID),
    capacity: cs.has(o + PCI_PRI_MAX_REQ, 4) ? cs.read32(o + PCI_PRI_MAX_REQ) : null,
    allocation: cs.has(o + PCI_PRI_ALLOC_REQ, 4) ? cs.read32(o + PCI_PRI_ALLOC_REQ) : null,
  };
}

export interface PriFields {
  readonly enabled?: boolean;
  readonly stopped?: boolean;
  readonly pasidRequired?: boolean;
  readonly capacity?: number;
  readonly allocation?: number;
}

export function encodePri(cs: ConfigSpace, o: number, f: PriFields): void {
  cs.write16(o + PCI_PRI_CTRL, f.enabled === true ? PCI_PRI_CTRL_ENABLE : 0);
  cs.write16(
    o + PCI_PRI_STATUS,
    ((f.stopped ?? true) ? PCI_PRI_STATUS_STOPPED : 0) |
      (f.pasidRequired === true ? PCI_PRI_STATUS_PASID : 0),
  );
  cs.write32(o + PCI_PRI_MAX_REQ, f.capacity ?? 0x200);
  cs.write32(o + PCI_PRI_ALLOC_REQ, f.allocation ?? 0);
}
