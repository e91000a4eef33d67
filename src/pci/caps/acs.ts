/** Access Control Services Extended Capability (0x0D): include/uapi/linux/pci_regs.h PCI_ACS_*. */
import type { ConfigSpace } from '../config-space.js';

export const PCI_ACS_CAP = 0x04;
export const PCI_ACS_CTRL = 0x06;
/** ACS bits, the same positions in the capability and control registers. */
export const PCI_ACS = {
  SV: 0x0001,
  TB: 0x0002,
  RR: 0x0004,
  CR: 0x0008,
  UF: 0x0010,
  EC: 0x0020,
  DT: 0x0040,
} as const;
export type AcsBit = keyof typeof PCI_ACS;
export const ACS_BITS = Object.keys(PCI_ACS) as AcsBit[];

export interface AcsCap {
  readonly offset: number;
  readonly capability: number | null;
  readonly control: number | null;
}

export function decodeAcs(cs: ConfigSpace, o: number): AcsCap {
  return {
    offset: o,
    capability: cs.has(o + PCI_ACS_CAP, 2) ? cs.read16(o + PCI_ACS_CAP) & 0x7f : null,
    control: cs.has(o + PCI_ACS_CTRL, 2) ? cs.read16(o + PCI_ACS_CTRL) & 0x7f : null,
  };
}

export interface AcsFields {
  readonly capability: readonly AcsBit[];
  readonly control: readonly AcsBit[];
}

export function acsMask(bits: readonly AcsBit[]): number {
  return bits.reduce((m, b) => m | PCI_ACS[b], 0);
}

export function encodeAcs(cs: ConfigSpace, o: number, f: AcsFields): void {
  cs.write16(o + PCI_ACS_CAP, acsMask(f.capability));
  cs.write16(o + PCI_ACS_CTRL, acsMask(f.control));
}
