/** SR-IOV Extended Capability (0x10): include/uapi/linux/pci_regs.h PCI_SRIOV_*. */
import type { ConfigSpace } from '../config-space.js';

export const PCI_SRIOV_CAP = 0x04;
export const PCI_SRIOV_CTRL = 0x08;
export const PCI_SRIOV_CTRL_VFE = 0x01;
export const PCI_SRIOV_CTRL_MSE = 0x08;
export const PCI_SRIOV_CTRL_ARI = 0x10;
export const PCI_SRIOV_INITIAL_VF = 0x0c;
export const PCI_SRIOV_TOTAL_VF = 0x0e;
export const PCI_SRIOV_NUM_VF = 0x10;
export const PCI_SRIOV_FUNC_LINK = 0x12;
export const PCI_SRIOV_VF_OFFSET = 0x14;
export const PCI_SRIOV_VF_STRIDE = 0x16;
export const PCI_SRIOV_VF_DID = 0x1a;
export const PCI_SRIOV_SUP_PGSIZE = 0x1c;
export const PCI_SRIOV_SYS_PGSIZE = 0x20;
export const PCI_EXT_CAP_SRIOV_SIZEOF = 0x40;

export interface SriovCap {
  readonly offset: number;
  readonly vfEnable: boolean | null;
  readonly vfMse: boolean | null;
  readonly ariHierarchy: boolean | null;
  readonly initialVFs: number | null;
  readonly totalVFs: number | null;
  readonly numVFs: number | null;
  readonly funcDependencyLink: number | null;
  readonly firstVfOffset: number | null;
  readonly vfStride: number | null;
  readonly vfDeviceId: number | null;
  readonly supportedPageSizes: number | null;
  readonly systemPageSize: number | null;
}

export function decodeSriov(cs: ConfigSpace, o: number): SriovCap {
  const r16 = (off: number): number | null => (cs.has(o + off, 2) ? cs.read16(o + off) : null);
  const r32 = (off: number): number | null => (cs.has(o + off, 4) ? cs.read32(o + off) : null);
  const ctrl = r16(PCI_SRIOV_CTRL);
  const link = cs.has(o + PCI_SRIOV_FUNC_LINK, 1) ? cs.read8(o + PCI_SRIOV_FUNC_LINK) : null;
  return {
    offset: o,
    vfEnable: ctrl === null ? null : (ctrl & PCI_SRIOV_CTRL_VFE) !== 0,
    vfMse: ctrl === null ? null : (ctrl & PCI_SRIOV_CTRL_MSE) !== 0,
    ariHierarchy: ctrl === null ? null : (ctrl & PCI_SRIOV_CTRL_ARI) !== 0,
    initialVFs: r16(PCI_SRIOV_INITIAL_VF),
    totalVFs: r16(PCI_SRIOV_TOTAL_VF),
    numVFs: r16(PCI_SRIOV_NUM_VF),
    funcDependencyLink: link,
    firstVfOffset: r16(PCI_SRIOV_VF_OFFSET),
    vfStride: r16(PCI_SRIOV_VF_STRIDE),
    vfDeviceId: r16(PCI_SRIOV_VF_DID),
    supportedPageSizes: r32(PCI_SRIOV_SUP_PGSIZE),
    systemPageSize: r32(PCI_SRIOV_SYS_PGSIZE),
  };
}

export interface SriovFields {
  readonly totalVFs: number;
  readonly initialVFs?: number;
  readonly numVFs?: number;
  readonly vfEnable?: boolean;
  readonly vfMse?: boolean;
  readonly ariHierarchy?: boolean;
  readonly firstVfOffset: number;
  readonly vfStride: number;
  readonly vfDeviceId: number;
  readonly supportedPageSizes?: number;
  readonly systemPageSize?: number;
}

export function encodeSriov(cs: ConfigSpace, o: number, f: SriovFields): void {
  cs.write32(o + PCI_SRIOV_CAP, 0);
  cs.write16(
    o + PCI_SRIOV_CTRL,
    (f.vfEnable === true ? PCI_SRIOV_CTRL_VFE : 0) |
      (f.vfMse === true ? PCI_SRIOV_CTRL_MSE : 0) |
      (f.ariHierarchy === true ? PCI_SRIOV_CTRL_ARI : 0),
  );
  cs.write16(o + PCI_SRIOV_INITIAL_VF, f.initialVFs ?? f.totalVFs);
  cs.write16(o + PCI_SRIOV_TOTAL_VF, f.totalVFs);
  cs.write16(o + PCI_SRIOV_NUM_VF, f.numVFs ?? 0);
  cs.write16(o + PCI_SRIOV_VF_OFFSET, f.firstVfOffset);
  cs.write16(o + PCI_SRIOV_VF_STRIDE, f.vfStride);
  cs.write16(o + PCI_SRIOV_VF_DID, f.vfDeviceId);
  cs.write32(o + PCI_SRIOV_SUP_PGSIZE, f.supportedPageSizes ?? 0x553);
  cs.write32(o + PCI_SRIOV_SYS_PGSIZE, f.systemPageSize ?? 1);
}
