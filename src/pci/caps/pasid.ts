/** PASID Extended Capability (0x1B): include/uapi/linux/pci_regs.h PCI_PASID_*. */
import type { ConfigSpace } from '../config-space.js';

export const PCI_PASID_CAP = 0x04;
export const PCI_PASID_CTRL = 0x06;
export const PCI_PASID_CAP_EXEC = 0x0002;
export const PCI_PASID_CAP_PRIV = 0x0004;
export const PCI_PASID_CAP_WIDTH = 0x1f00;
export const PCI_PASID_CTRL_ENABLE = 0x0001;
export const PCI_PASID_CTRL_EXEC = 0x0002;
export const PCI_PASID_CTRL_PRIV = 0x0004;

export interface PasidCap {
  readonly offset: number;
  /** Max PASID Width: the function supports 1 << width PASIDs. */
  readonly width: number | null;
  readonly exec: boolean | null;
  readonly priv: boolean | null;
  readonly enabled: boolean | null;
  readonly execEnabled: boolean | null;
  readonly privEnabled: boolean | null;
}

export function decodePasid(cs: ConfigSpace, o: number): PasidCap {
  const cap = cs.has(o + PCI_PASID_CAP, 2) ? cs.read16(o + PCI_PASID_CAP) : null;
  const ctrl = cs.has(o + PCI_PASID_CTRL, 2) ? cs.read16(o + PCI_PASID_CTRL) : null;
  return {
    offset: o,
    width: cap === null ? null : (cap & PCI_PASID_CAP_WIDTH) >> 8,
    exec: cap === null ? null : (cap & PCI_PASID_CAP_EXEC) !== 0,
    priv: cap === null ? null : (cap & PCI_PASID_CAP_PRIV) !== 0,
    enabled: ctrl === null ? null : (ctrl & PCI_PASID_CTRL_ENABLE) !== 0,
    execEnabled: ctrl === null ? null : (ctrl & PCI_PASID_CTRL_EXEC) !== 0,
    privEnabled: ctrl === null ? null : (ctrl & PCI_PASID_CTRL_PRIV) !== 0,
  };
}

export interface PasidFields {
  readonly width: number;
  readonly exec?: boolean;
  readonly priv?: boolean;
  readonly enabled?: boolean;
  readonly execEnabled?: boolean;
  readonly privEnabled?: boolean;
}

export function encodePasid(cs: ConfigSpace, o: number, f: PasidFields): void {
  cs.write16(
    o + PCI_PASID_CAP,
    ((f.width << 8) & PCI_PASID_CAP_WIDTH) |
      (f.exec === true ? PCI_PASID_CAP_EXEC : 0) |
      (f.priv === true ? PCI_PASID_CAP_PRIV : 0),
  );
  cs.write16(
    o + PCI_PASID_CTRL,
    (f.enabled === true ? PCI_PASID_CTRL_ENABLE : 0) |
      (f.execEnabled === true ? PCI_PASID_CTRL_EXEC : 0) |
      (f.privEnabled === true ? PCI_PASID_CTRL_PRIV : 0),
  );
}
