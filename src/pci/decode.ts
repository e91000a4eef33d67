/**
 * Decoding a raw configuration space into a PciFunction: the header, then the capability walk,
 * then each capability atsim models. Capabilities that are present but past the bytes shown are
 * reported, not guessed.
 */
import type { Diagnostic, FileLocation } from '../diagnostics.js';
import type { Bdf } from './bdf.js';
import { findCap, walkExtendedCaps, walkStandardCaps, type CapabilityRef } from './capabilities.js';
import type { ConfigSpace } from './config-space.js';
import {
  PCI_CAP_ID_EXP,
  PCI_CAP_ID_PCIX,
  PCI_EXT_CAP_ID_ACS,
  PCI_EXT_CAP_ID_ATS,
  PCI_EXT_CAP_ID_DVSEC,
  PCI_EXT_CAP_ID_PASID,
  PCI_EXT_CAP_ID_PRI,
  PCI_EXT_CAP_ID_SRIOV,
} from './capability-ids.js';
import { decodeAcs } from './caps/acs.js';
import { decodeAts } from './caps/ats.js';
import { decodeCxlDevice, decodeDvsecHeader, isCxlDeviceDvsec, type CxlDeviceDvsec } from './caps/dvsec.js';
import { decodeExpress } from './caps/express.js';
import { decodePasid } from './caps/pasid.js';
import { decodePri } from './caps/pri.js';
import { decodeSriov } from './caps/sriov.js';
import type { PciFunction, PciHeader, PciSourceKind } from './function.js';

export function decodeHeader(cs: ConfigSpace): PciHeader {
  const r8 = (o: number): number | null => (cs.has(o, 1) ? cs.read8(o) : null);
  const r16 = (o: number): number | null => (cs.has(o, 2) ? cs.read16(o) : null);
  const ht = r8(0x0e);
  const layout = ht === null ? null : ht & 0x7f;
  const cls = cs.has(0x09, 3) ? (cs.read8(0x0b) << 16) | (cs.read8(0x0a) << 8) | cs.read8(0x09) : null;
  return {
    vendorId: r16(0x00),
    deviceId: r16(0x02),
    revision: r8(0x08),
    classCode: cls,
    headerLayout: layout,
    multiFunction: ht === null ? null : (ht & 0x80) !== 0,
    subsystemVendorId: layout === 0 ? r16(0x2c) : layout === 2 ? r16(0x40) : null,
    subsystemId: layout === 0 ? r16(0x2e) : layout === 2 ? r16(0x42) : null,
    secondaryBus: layout === 1 ? r8(0x19) : null,
    subordinateBus: layout === 1 ? r8(0x1a) : null,
  };
}

export interface DecodeOptions {
  readonly sourceKind: PciSourceKind;
  readonly source?: FileLocation | null;
  readonly externalFacing?: boolean | null;
  readonly driver?: string | null;
  readonly physfnHint?: Bdf | null;
}

export function decodeFunction(cs: ConfigSpace, bdf: Bdf, opts: DecodeOptions): PciFunction {
  const caps: CapabilityRef[] = [];
  const diagnostics: Diagnostic[] = [];
  const stdReadable = walkStandardCaps(cs, bdf, caps, diagnostics);
  // drivers/pci/probe.c pci_cfg_space_size(): only PCI Express and PCI-X Mode 2 functions have
  // extended configuration space; a conventional function's 256 bytes are all there is.
  const conventional =
    stdReadable &&
    findCap(caps, 'std', PCI_CAP_ID_EXP) === undefined &&
    findCap(caps, 'std', PCI_CAP_ID_PCIX) === undefined;
  const extReadable = conventional ? true : walkExtendedCaps(cs, bdf, caps, diagnostics);
  const walk = { caps, stdReadable, extReadable };
  const unknown: string[] = [];
  const header = decodeHeader(cs);
  if (cs.size < 64) unknown.push('header');
  if (!walk.extReadable) {
    diagnostics.push({
      code: 'ext-caps-unreadable',
      message: `only ${cs.size} bytes of config space shown; extended capabilities (ATS, SR-IOV, PASID, PRI, ACS, DVSEC) need a 4096-byte dump (lspci -xxxx)`,
      where: { bdf },
    });
  }
  if (!walk.stdReadable) unknown.push('capabilities', 'express');
  if (!walk.extReadable) unknown.push('ats', 'sriov', 'pasid', 'pri', 'acs', 'cxl');
  const exp = findCap(walk.caps, 'std', PCI_CAP_ID_EXP);
  const ats = findCap(walk.caps, 'ext', PCI_EXT_CAP_ID_ATS);
  const sriov = findCap(walk.caps, 'ext', PCI_EXT_CAP_ID_SRIOV);
  const pasid = findCap(walk.caps, 'ext', PCI_EXT_CAP_ID_PASID);
  const pri = findCap(walk.caps, 'ext', PCI_EXT_CAP_ID_PRI);
  const acs = findCap(walk.caps, 'ext', PCI_EXT_CAP_ID_ACS);
  const dvsecs = walk.caps
    .filter((c) => c.space === 'ext' && c.id === PCI_EXT_CAP_ID_DVSEC)
    .map((c) => decodeDvsecHeader(cs, c.offset));
  let cxl: CxlDeviceDvsec | null = null;
  for (const d of dvsecs) if (cxl === null && isCxlDeviceDvsec(d)) cxl = decodeCxlDevice(cs, d);
  return {
    bdf,
    sourceKind: opts.sourceKind,
    source: opts.source ?? null,
    config: cs,
    header,
    capabilities: walk.caps,
    extCapsReadable: walk.extReadable,
    express: exp === undefined ? null : decodeExpress(cs, exp.offset),
    ats: ats === undefined ? null : decodeAts(cs, ats.offset),
    sriov: sriov === undefined ? null : decodeSriov(cs, sriov.offset),
    pasid: pasid === undefined ? null : decodePasid(cs, pasid.offset),
    pri: pri === undefined ? null : decodePri(cs, pri.offset),
    acs: acs === undefined ? null : decodeAcs(cs, acs.offset),
    dvsecs,
    cxl,
    externalFacing: opts.externalFacing ?? null,
    driver: opts.driver ?? null,
    physfnHint: opts.physfnHint ?? null,
    unknown,
    diagnostics,
  };
}
