/** PCI Express Capability (standard cap 0x10): include/uapi/linux/pci_regs.h PCI_EXP_*. */
import type { ConfigSpace } from '../config-space.js';

export const PCI_EXP_FLAGS = 0x02;
export const PCI_EXP_DEVCAP = 0x04;
export const PCI_EXP_DEVCTL = 0x08;
export const PCI_EXP_DEVCAP2 = 0x24;
export const PCI_EXP_DEVCAP_FLR = 0x10000000;
export const PCI_EXP_DEVCTL_BCR_FLR = 0x8000;
export const PCI_EXP_DEVCAP2_EE_PREFIX = 0x00200000;

export const PCI_EXP_TYPE = {
  ENDPOINT: 0x0,
  LEG_END: 0x1,
  ROOT_PORT: 0x4,
  UPSTREAM: 0x5,
  DOWNSTREAM: 0x6,
  PCI_BRIDGE: 0x7,
  PCIE_BRIDGE: 0x8,
  RC_END: 0x9,
  RC_EC: 0xa,
} as const;

export interface ExpressCap {
  readonly offset: number;
  readonly version: number | null;
  /** Device/Port Type field (PCI_EXP_FLAGS bits 7:4). */
  readonly portType: number | null;
  readonly slotImplemented: boolean | null;
  /** DevCap bit 28: Function Level Reset capability. */
  readonly flrCapable: boolean | null;
  /** DevCtl bit 15: Initiate FLR (Bridge Configuration Retry Enable on PCIe-to-PCI bridges). */
  readonly initiateFlr: boolean | null;
  /** DevCap2 bit 21: End-End TLP Prefix supported (pci_enable_pasid needs it). */
  readonly eeTlpPrefix: boolean | null;
}

export function decodeExpress(cs: ConfigSpace, offset: number): ExpressCap {
  const flags = cs.has(offset + PCI_EXP_FLAGS, 2) ? cs.read16(offset + PCI_EXP_FLAGS) : null;
  const devcap = cs.has(offset + PCI_EXP_DEVCAP, 4) ? cs.read32(offset + PCI_EXP_DEVCAP) : null;
  const devctl = cs.has(offset + PCI_EXP_DEVCTL, 2) ? cs.read16(offset + PCI_EXP_DEVCTL) : null;
  const version = flags === null ? null : flags & 0xf;
  const devcap2 =
    version !== null && version >= 2 && cs.has(offset + PCI_EXP_DEVCAP2, 4)
      ? cs.read32(offset + PCI_EXP_DEVCAP2)
      : null;
  return {
    offset,
    version,
    portType: flags === null ? null : (flags >> 4) & 0xf,
    slotImplemented: flags === null ? null : (flags & 0x100) !== 0,
    flrCapable: devcap === null ? null : (devcap & PCI_EXP_DEVCAP_FLR) !== 0,
    initiateFlr: devctl === null ? null : (devctl & PCI_EXP_DEVCTL_BCR_FLR) !== 0,
    eeTlpPrefix:
      version === null ? null : devcap2 === null ? false : (devcap2 & PCI_EXP_DEVCAP2_EE_PREFIX) !== 0,
  };
}

export interface ExpressFields {
  readonly portType: number;
  readonly version?: number;
  readonly slotImplemented?: boolean;
  readonly flrCapable?: boolean;
  readonly initiateFlr?: boolean;
  readonly eeTlpPrefix?: boolean;
}

/** Size of the v2 PCI Express capability structure. */
export const PCI_CAP_EXP_SIZEOF = 0x3c;

/** Writes the capability body (ID and next pointer are the caller's). */
export function encodeExpress(cs: ConfigSpace, offset: number, f: ExpressFields): void {
  const version = f.version ?? 2;
  cs.write16(
    offset + PCI_EXP_FLAGS,
    (version & 0xf) | ((f.portType & 0xf) << 4) | (f.slotImplemented === true ? 0x100 : 0),
  );
  cs.write32(offset + PCI_EXP_DEVCAP, f.flrCapable === true ? PCI_EXP_DEVCAP_FLR : 0);
  cs.write16(offset + PCI_EXP_DEVCTL, f.initiateFlr === true ? PCI_EXP_DEVCTL_BCR_FLR : 0);
  if (version >= 2)
    cs.write32(offset + PCI_EXP_DEVCAP2, f.eeTlpPrefix === true ? PCI_EXP_DEVCAP2_EE_PREFIX : 0);
}
