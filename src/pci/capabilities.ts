/**
 * Walking the standard capability list (from 0x34) and the extended capability chain (from
 * 0x100), as lspci's ls-caps.c/ls-ecaps.c and the kernel's pci_find_capability() /
 * pci_find_ext_capability() (drivers/pci/pci.c) do. Loops, out-of-range and misaligned pointers
 * end the walk with a diagnostic that names the BDF and offset; nothing throws.
 */
import type { Diagnostic } from '../diagnostics.js';
import { ConfigSpace, PCI_CFG_SPACE_EXP_SIZE, PCI_CFG_SPACE_SIZE } from './config-space.js';
import { extCapName, stdCapName } from './capability-ids.js';

export interface CapabilityRef {
  readonly space: 'std' | 'ext';
  readonly id: number;
  /** Extended capabilities carry a version; standard ones do not (null). */
  readonly version: number | null;
  readonly offset: number;
  readonly name: string;
}

export interface CapabilityWalk {
  readonly caps: CapabilityRef[];
  /** False when the input did not show the bytes the walk needed (e.g. a 256-byte dump). */
  readonly stdReadable: boolean;
  readonly extReadable: boolean;
  readonly diagnostics: Diagnostic[];
}

const PCI_STATUS = 0x06;
const PCI_STATUS_CAP_LIST = 0x10;
const PCI_HEADER_TYPE = 0x0e;
const PCI_CAPABILITY_LIST = 0x34;
const PCI_CB_CAPABILITY_LIST = 0x14;

export function walkStandardCaps(
  cs: ConfigSpace,
  bdf: string,
  out: CapabilityRef[],
  diags: Diagnostic[],
): boolean {
  if (!cs.has(PCI_STATUS, 2) || !cs.has(PCI_HEADER_TYPE, 1)) return false;
  if ((cs.read16(PCI_STATUS) & PCI_STATUS_CAP_LIST) === 0) return true;
  const headerLayout = cs.read8(PCI_HEADER_TYPE) & 0x7f;
  const head = headerLayout === 2 ? PCI_CB_CAPABILITY_LIST : PCI_CAPABILITY_LIST;
  if (!cs.has(head, 1)) return false;
  let where = cs.read8(head);
  const seen = new Set<number>();
  while (where !== 0) {
    if ((where & 3) !== 0) {
      diags.push({
        code: 'cap-misaligned',
        message: `capability pointer 0x${where.toString(16)} is not dword aligned; using 0x${(where & ~3).toString(16)}`,
        where: { bdf, offset: where },
      });
      where &= ~3;
    }
    if (where < 0x40) {
      diags.push({
        code: 'cap-out-of-range',
        message: `capability pointer 0x${where.toString(16)} points into the standard header`,
        where: { bdf, offset: where },
      });
      break;
    }
    if (!cs.has(where, 2)) {
      diags.push({
        code: 'cap-unreadable',
        message: `capability at 0x${where.toString(16)} lies beyond the ${cs.size} bytes shown`,
        where: { bdf, offset: where },
      });
      return false;
    }
    if (seen.has(where)) {
      diags.push({
        code: 'cap-loop',
        message: `capability list loops back to 0x${where.toString(16)}`,
        where: { bdf, offset: where },
      });
      break;
    }
    seen.add(where);
    const id = cs.read8(where);
    if (id === 0xff) {
      diags.push({
        code: 'cap-invalid',
        message: `capability ID 0xff at 0x${where.toString(16)} (all ones): list ends`,
        where: { bdf, offset: where },
      });
      break;
    }
    out.push({ space: 'std', id, version: null, offset: where, name: stdCapName(id) });
    where = cs.read8(where + 1);
  }
  return true;
}

export function walkExtendedCaps(
  cs: ConfigSpace,
  bdf: string,
  out: CapabilityRef[],
  diags: Diagnostic[],
): boolean {
  if (!cs.has(PCI_CFG_SPACE_SIZE, 4)) return false;
  let where = PCI_CFG_SPACE_SIZE;
  const seen = new Set<number>();
  for (;;) {
    const header = cs.read32(where);
    // The kernel reads an all-ones or zero header at 0x100 as "no extended capabilities".
    if (header === 0 || header === 0xffffffff) break;
    if (seen.has(where)) {
      diags.push({
        code: 'ext-cap-loop',
        message: `extended capability chain loops back to 0x${where.toString(16)}`,
        where: { bdf, offset: where },
      });
      break;
    }
    seen.add(where);
    const id = header & 0xffff;
    out.push({ space: 'ext', id, version: (header >>> 16) & 0xf, offset: where, name: extCapName(id) });
    const next = (header >>> 20) & 0xfff;
    if (next === 0) break;
    if ((next & 3) !== 0) {
      diags.push({
        code: 'ext-cap-misaligned',
        message: `extended capability pointer 0x${next.toString(16)} is not dword aligned; using 0x${(next & 0xffc).toString(16)}`,
        where: { bdf, offset: where },
      });
    }
    const aligned = next & 0xffc;
    if (aligned < PCI_CFG_SPACE_SIZE) {
      diags.push({
        code: 'ext-cap-out-of-range',
        message: `extended capability pointer 0x${next.toString(16)} points below 0x100`,
        where: { bdf, offset: where },
      });
      break;
    }
    if (aligned + 4 > PCI_CFG_SPACE_EXP_SIZE || !cs.has(aligned, 4)) {
      diags.push({
        code: 'ext-cap-unreadable',
        message: `extended capability at 0x${aligned.toString(16)} lies beyond the ${cs.size} bytes shown`,
        where: { bdf, offset: where },
      });
      break;
    }
    where = aligned;
  }
  return true;
}

export function walkCapabilities(cs: ConfigSpace, bdf: string): CapabilityWalk {
  const caps: CapabilityRef[] = [];
  const diagnostics: Diagnostic[] = [];
  const stdReadable = walkStandardCaps(cs, bdf, caps, diagnostics);
  const extReadable = walkExtendedCaps(cs, bdf, caps, diagnostics);
  return { caps, stdReadable, extReadable, diagnostics };
}

export function findCap(
  caps: readonly CapabilityRef[],
  space: 'std' | 'ext',
  id: number,
): CapabilityRef | undefined {
  return caps.find((c) => c.space === space && c.id === id);
}
