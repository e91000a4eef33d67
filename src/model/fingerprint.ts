/**
 * State fingerprints. A state's 64-bit fingerprint is the XOR of one hash per record, each tagged
 * with the record's collection and position (Zobrist hashing). A transition then updates the
 * fingerprint in O(records it changed) (tx.ts), so clone + fingerprint costs far less than walking
 * the whole state. `fingerprintFull` recomputes it from scratch; tests check the two agree.
 *
 * Canonical form: domains live in slots. Whenever a transition allocates or frees a domain, the
 * state is renumbered so that slots follow a canonical traversal (groups' RID, default and
 * blocking domains, then their PASID domains, then driver references, then page owners, then the
 * rest), so two states that differ only in allocation order are the same state.
 */
import { Hasher } from './hash.js';
import type { SystemState } from './state.js';

/** Collection tags for record hashes. */
export const Coll = {
  Pci: 1,
  Dev: 2,
  Gdev: 3,
  Group: 4,
  Domain: 5,
  Master: 6,
  Drv: 7,
  GlobalPasids: 8,
  Mem: 9,
  Thread: 10,
  Faults: 11,
} as const;
export type Coll = (typeof Coll)[keyof typeof Coll];

const h = new Hasher();
const out = { hi: 0, lo: 0 };

function hashValue(v: unknown): void {
  if (typeof v === 'number') h.word(v);
  else if (typeof v === 'boolean') h.word(v ? 1 : 0);
  else if (v === null || v === undefined) h.word(0x7fffffff);
  else if (typeof v === 'string') {
    h.word(v.length);
    for (let i = 0; i < v.length; i++) h.word(v.charCodeAt(i));
  } else if (Array.isArray(v)) {
    h.word(v.length);
    for (const x of v) hashValue(x);
  } else if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    for (const k in o) hashValue(o[k]);
  }
}

/**
 * Hash of one record at one position. Records are plain objects whose fields are numbers, booleans,
 * strings, arrays or nested plain records; field order is the order of creation, which copies keep.
 */
export function recordHash(coll: Coll, index: number, rec: unknown): { hi: number; lo: number } {
  h.reset();
  h.word(coll);
  h.word(index);
  hashValue(rec);
  const d = h.digest();
  out.hi = d.hi;
  out.lo = d.lo;
  return out;
}

function eachRecord(s: SystemState, fn: (coll: Coll, index: number, rec: unknown) => void): void {
  s.pci.forEach((r, i) => fn(Coll.Pci, i, r));
  s.devs.forEach((r, i) => fn(Coll.Dev, i, r));
  s.gdevs.forEach((r, i) => fn(Coll.Gdev, i, r));
  s.groups.forEach((r, i) => fn(Coll.Group, i, r));
  s.domains.forEach((r, i) => fn(Coll.Domain, i, r));
  s.masters.forEach((r, i) => fn(Coll.Master, i, r));
  fn(Coll.Drv, 0, s.drv);
  fn(Coll.GlobalPasids, 0, s.globalPasids);
  fn(Coll.Mem, 0, s.mem);
  s.threads.forEach((r, i) => fn(Coll.Thread, i, r));
  fn(Coll.Faults, 0, s.faults);
}

/** The fingerprint computed from scratch. */
export function fingerprintFull(s: SystemState): { hi: number; lo: number } {
  let hi = 0;
  let lo = 0;
  eachRecord(s, (c, i, r) => {
    const x = recordHash(c, i, r);
    hi ^= x.hi;
    lo ^= x.lo;
  });
  return { hi: hi >>> 0, lo: lo >>> 0 };
}

export function withFingerprint<T extends SystemState>(s: T): T {
  const fp = fingerprintFull(s);
  return { ...s, fpHi: fp.hi, fpLo: fp.lo };
}

/** Structural equality of two states (fingerprints first, then every record). */
export function statesEqual(a: SystemState, b: SystemState): boolean {
  if (a.fpHi !== b.fpHi || a.fpLo !== b.fpLo) return false;
  return JSON.stringify({ ...a, fpHi: 0, fpLo: 0 }) === JSON.stringify({ ...b, fpHi: 0, fpLo: 0 });
}
