/** ATS Extended Capability (0x0F): include/uapi/linux/pci_regs.h PCI_ATS_*. */
import type { ConfigSpace } from '../config-space.js';

export const PCI_ATS_CAP = 0x04;
export const PCI_ATS_CTRL = 0x06;
export const PCI_ATS_CAP_PAGE_ALIGNED = 0x0020;
/** Bit 6: Global Invalidate Supported (PCIe base spec; no Linux define). */
export const PCI_ATS_CAP_GLOBAL_INV = 0x0040;
export const PCI_ATS_CTRL_ENABLE = 0x8000;
export const PCI_ATS_MAX_QDEP = 32;
export const PCI_ATS_MIN_STU = 12;

export function PCI_ATS_CAP_QDEP(cap: number): number {
  return cap & 0x1f;
}

export function PCI_ATS_CTRL_STU(x: number): number {
  return x & 0x1f;
}

export interface AtsCap {
  readonly offset: number;
  /** Raw Invalidate Queue Depth field; 0 encodes 32. */
  readonly queueDepthRaw: number | null;
  readonly pageAligned: boolean | null;
  readonly globalInvalidate: boolean | null;
  readonly enabled: boolean | null;
  /** Raw STU field: page shift minus 12. */
  readonly stuRaw: number | null;
}

export function decodeAts(cs: ConfigSpace, offset: number): AtsCap {
  const cap = cs.has(offset + PCI_ATS_CAP, 2) ? cs.read16(offset + PCI_ATS_CAP) : null;
  const ctrl = cs.has(offset + PCI_ATS_CTRL, 2) ? cs.read16(offset + PCI_ATS_CTRL) : null;
  return {
    offset,
    queueDepthRaw: cap === null ? null : PCI_ATS_CAP_QDEP(cap),
    pageAligned: cap === null ? null : (cap & PCI_ATS_CAP_PAGE_ALIGNED) !== 0,
    globalInvalidate: cap === null ? null : (cap & PCI_ATS_CAP_GLOBAL_INV) !== 0,
    enabled: ctrl === null ? null : (ctrl & PCI_ATS_CTRL_ENABLE) !== 0,
    stuRaw: ctrl === null ? null : PCI_ATS_CTRL_STU(ctrl),
  };
}

/** Decoded queue depth: the field's 0 means 32 (PCI_ATS_MAX_QDEP). */
export function atsQueueDepth(raw: number): number {
  return raw === 0 ? PCI_ATS_MAX_QDEP : raw;
}

export interface AtsFields {
  readonly queueDepth?: number;
  readonly pageAligned?: boolean;
  readonly globalInvalidate?: boolean;
  readonly enabled?: boolean;
  /** STU as a page shift (12 for 4 KiB). */
  readonly stu?: number;
}

export function encodeAts(cs: ConfigSpace, offset: number, f: AtsFields): void {
  const qd = f.queueDepth ?? 32;
  cs.write16(
    offset + PCI_ATS_CAP,
    PCI_ATS_CAP_QDEP(qd === 32 ? 0 : qd) |
      (f.pageAligned === true ? PCI_ATS_CAP_PAGE_ALIGNED : 0) |
      (f.globalInvalidate === true ? PCI_ATS_CAP_GLOBAL_INV : 0),
  );
  cs.write16(
    offset + PCI_ATS_CTRL,
    PCI_ATS_CTRL_STU((f.stu ?? PCI_ATS_MIN_STU) - PCI_ATS_MIN_STU) |
      (f.enabled === true ? PCI_ATS_CTRL_ENABLE : 0),
  );
}
