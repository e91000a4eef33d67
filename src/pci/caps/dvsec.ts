/**
 * Designated Vendor-Specific Extended Capability (0x23) and the CXL Device DVSEC
 * (vendor 0x1E98, ID 0): include/uapi/linux/pci_regs.h PCI_DVSEC_*, PCI_DVSEC_CXL_*.
 */
import type { ConfigSpace } from '../config-space.js';

export const PCI_DVSEC_HEADER1 = 0x04;
export const PCI_DVSEC_HEADER2 = 0x08;
export const PCI_VENDOR_ID_CXL = 0x1e98;
export const PCI_DVSEC_CXL_DEVICE = 0;
export const PCI_DVSEC_CXL_CAP = 0x0a;
export const PCI_DVSEC_CXL_CTRL = 0x0c;
export const PCI_DVSEC_CXL_CACHE_CAPABLE = 0x0001;
export const PCI_DVSEC_CXL_IO_CAPABLE = 0x0002;
export const PCI_DVSEC_CXL_MEM_CAPABLE = 0x0004;
export const PCI_DVSEC_CXL_HDM_COUNT_SHIFT = 4;
export const PCI_DVSEC_CXL_HDM_COUNT_MASK = 0x0030;

export interface DvsecHeader {
  readonly offset: number;
  readonly vendor: number | null;
  readonly revision: number | null;
  readonly length: number | null;
  readonly id: number | null;
}

export function decodeDvsecHeader(cs: ConfigSpace, o: number): DvsecHeader {
  const h1 = cs.has(o + PCI_DVSEC_HEADER1, 4) ? cs.read32(o + PCI_DVSEC_HEADER1) : null;
  const h2 = cs.has(o + PCI_DVSEC_HEADER2, 2) ? cs.read16(o + PCI_DVSEC_HEADER2) : null;
  return {
    offset: o,
    vendor: h1 === null ? null : h1 & 0xffff,
    revision: h1 === null ? null : (h1 >>> 16) & 0xf,
    length: h1 === null ? null : (h1 >>> 20) & 0xfff,
    id: h2,
  };
}

export interface CxlDeviceDvsec {
  readonly offset: number;
  readonly revision: number | null;
  readonly cacheCapable: boolean | null;
  readonly ioCapable: boolean | null;
  readonly memCapable: boolean | null;
  readonly hdmCount: number | null;
  readonly cacheEnabled: boolean | null;
}

export function isCxlDeviceDvsec(h: DvsecHeader): boolean {
  return h.vendor === PCI_VENDOR_ID_CXL && h.id === PCI_DVSEC_CXL_DEVICE;
}

export function decodeCxlDevice(cs: ConfigSpace, h: DvsecHeader): CxlDeviceDvsec {
  const o = h.offset;
  const cap = cs.has(o + PCI_DVSEC_CXL_CAP, 2) ? cs.read16(o + PCI_DVSEC_CXL_CAP) : null;
  const ctrl = cs.has(o + PCI_DVSEC_CXL_CTRL, 2) ? cs.read16(o + PCI_DVSEC_CXL_CTRL) : null;
  return {
    offset: o,
    revision: h.revision,
    cacheCapable: cap === null ? null : (cap & PCI_DVSEC_CXL_CACHE_CAPABLE) !== 0,
    ioCapable: cap === null ? null : (cap & PCI_DVSEC_CXL_IO_CAPABLE) !== 0,
    memCapable: cap === null ? null : (cap & PCI_DVSEC_CXL_MEM_CAPABLE) !== 0,
    hdmCount: cap === null ? null : (cap & PCI_DVSEC_CXL_HDM_COUNT_MASK) >> PCI_DVSEC_CXL_HDM_COUNT_SHIFT,
    cacheEnabled: ctrl === null ? null : (ctrl & 1) !== 0,
  };
}

export interface DvsecFields {
  readonly vendor: number;
  readonly id: number;
  readonly revision?: number;
  readonly length: number;
}

export function encodeDvsecHeader(cs: ConfigSpace, o: number, f: DvsecFields): void {
  cs.write32(
    o + PCI_DVSEC_HEADER1,
    (f.vendor & 0xffff) | (((f.revision ?? 0) & 0xf) << 16) | ((f.length & 0xfff) << 20),
  );
  cs.write16(o + PCI_DVSEC_HEADER2, f.id & 0xffff);
}

export interface CxlDeviceFields {
  readonly revision?: number;
  readonly cacheCapable: boolean;
  readonly ioCapable?: boolean;
  readonly memCapable?: boolean;
  readonly hdmCount?: number;
  readonly cacheEnabled?: boolean;
}

/** Size of a CXL 2.0 Device DVSEC (revision 1). */
export const CXL_DEVICE_DVSEC_LENGTH = 0x38;

export function encodeCxlDevice(cs: ConfigSpace, o: number, f: CxlDeviceFields): void {
  encodeDvsecHeader(cs, o, {
    vendor: PCI_VENDOR_ID_CXL,
    id: PCI_DVSEC_CXL_DEVICE,
    revision: f.revision ?? 1,
    length: CXL_DEVICE_DVSEC_LENGTH,
  });
  cs.write16(
    o + PCI_DVSEC_CXL_CAP,
    (f.cacheCapable ? PCI_DVSEC_CXL_CACHE_CAPABLE : 0) |
      ((f.ioCapable ?? true) ? PCI_DVSEC_CXL_IO_CAPABLE : 0) |
      (f.memCapable === true ? PCI_DVSEC_CXL_MEM_CAPABLE : 0) |
      (((f.hdmCount ?? 0) << PCI_DVSEC_CXL_HDM_COUNT_SHIFT) & PCI_DVSEC_CXL_HDM_COUNT_MASK),
  );
  cs.write16(o + PCI_DVSEC_CXL_CTRL, f.cacheEnabled === true ? 1 : 0);
}
