/**
 * State fingerprints. A state's 64-bit fingerprint is the XOR of one hash per record, each tagged
 * with the record's collection and position (Zobrist hashing). A transition then updates the
 * fingerprint in O(records it changed) (tx.ts), so clone + fingerprint costs far less than walking
 * the whole state. `fingerprintFull` recomputes it from scratch; tests check the two agree.
 *
 * Canonical form: domains live in slots. Whenever a transition allocates or frees a domain, the
 * state is renumbered so that slots follow a canonical traversal (every group's default domain,
 * then every group's RID domain, then the blocking domains, then the PASID domains, then driver
 * references, then page owners, then the rest; canonical.ts), so two states that differ only in
 * allocation order are the same state.
 */
import type { PciDev } from '../pci/pci-dev.js';
import type {
  Continuation,
  DeviceState,
  Domain,
  DriverRecord,
  Group,
  GroupDev,
  SystemState,
  ThreadState,
} from './state.js';

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

// Two murmur3-style 32-bit lanes over the words of a value (hash.ts has the same mix as a class,
// for streaming use elsewhere). The lanes live in local variables: module variables would be
// context slots, read and written at every word.
const SEED1 = 0x9747b28c | 0;
const SEED2 = 0x2f0c5e1d | 0;

function mix1(h: number, x: number): number {
  let k = Math.imul(x | 0, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  let a = h ^ k;
  a = (a << 13) | (a >>> 19);
  return (Math.imul(a, 5) + 0xe6546b64) | 0;
}

function mix2(h: number, x: number): number {
  let j = Math.imul(x | 0, 0x85ebca6b);
  j = (j << 17) | (j >>> 15);
  j = Math.imul(j, 0xc2b2ae35);
  let b = h ^ j;
  b = (b << 11) | (b >>> 21);
  return (Math.imul(b, 9) + 0x52dce729) | 0;
}

function fmix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

// The result of a content hash: a typed array, because a module variable holding a number beyond
// 31 bits is a new heap number at every write.
const cres = new Uint32Array(2);

function finish(h1: number, h2: number, n: number): void {
  const a = fmix(h1 ^ n);
  const b = fmix(h2 ^ Math.imul(n, 0x27d4eb2d));
  cres[0] = a ^ Math.imul(b, 0x165667b1);
  cres[1] = b ^ Math.imul(a, 0x9e3779b1);
}

// The words of one non-number value (valueWords), reused from call to call.
const vw: number[] = [];

/**
 * The words a value that is not a number contributes to the record holding it, into vw; returns
 * how many. Nested objects and arrays contribute their own content hash (two words).
 */
function valueWords(x: unknown): number {
  if (typeof x === 'boolean') vw[0] = x ? 1 : 0;
  else if (x === null || x === undefined) vw[0] = 0x7fffffff;
  else if (typeof x === 'string') {
    vw[0] = x.length;
    for (let k = 0; k < x.length; k++) vw[k + 1] = x.charCodeAt(k);
    return x.length + 1;
  } else if (typeof x === 'object') {
    contentInto(x);
    vw[0] = cres[0]!;
    vw[1] = cres[1]!;
    return 2;
  } else return 0;
  return 1;
}

/**
 * contentHash() of a value into cres: an array's length and elements, or a record's fields in
 * order (for-in: no key array to allocate).
 */
function contentInto(v: object): void {
  let a = SEED1;
  let b = SEED2;
  let n = 0;
  if (Array.isArray(v)) {
    const arr = v as readonly unknown[];
    a = mix1(a, arr.length);
    b = mix2(b, arr.length);
    n++;
    for (let i = 0; i < arr.length; i++) {
      const x = arr[i];
      if (typeof x === 'number') {
        a = mix1(a, x);
        b = mix2(b, x);
        n++;
        continue;
      }
      const m = valueWords(x);
      for (let k = 0; k < m; k++) {
        a = mix1(a, vw[k]!);
        b = mix2(b, vw[k]!);
      }
      n += m;
    }
  } else {
    const o = v as Record<string, unknown>;
    for (const key in o) {
      const x = o[key];
      if (typeof x === 'number') {
        a = mix1(a, x);
        b = mix2(b, x);
        n++;
        continue;
      }
      const m = valueWords(x);
      for (let k = 0; k < m; k++) {
        a = mix1(a, vw[k]!);
        b = mix2(b, vw[k]!);
      }
      n += m;
    }
  }
  finish(a, b, n);
}

/**
 * The content hash of a record or array, as [hi, lo]. (Caching it per immutable record in a
 * WeakMap was measured slower: the ephemeron cost in GC outweighs the saved hashing.)
 */
export function contentHash(v: object): readonly number[] {
  contentInto(v);
  return [cres[0]!, cres[1]!];
}

/*
 * Typed hashers for the records whose shape the model defines: they read each field by name, in
 * the order the records are built in, and so give exactly contentHash()'s result without its
 * generic walk (for-in over records copied by spread measured slow in V8). A field added to one of
 * these records must be added here too; the fingerprint tests check these hashers against
 * contentHash() on every record of random walks. Driver records (masters, the global record, a
 * domain's drv) are walked field by field (driverRecordInto): the driver defines them.
 */

// The words of the record being hashed (nested values already reduced to two words each).
const scratch = new Int32Array(32);

function words(n: number): void {
  let a = SEED1;
  let b = SEED2;
  for (let i = 0; i < n; i++) {
    const w = scratch[i]!;
    a = mix1(a, w);
    b = mix2(b, w);
  }
  finish(a, b, n);
}

/** contentHash() of an array of numbers into cres. */
function numbersInto(v: readonly number[]): void {
  let a = mix1(SEED1, v.length);
  let b = mix2(SEED2, v.length);
  for (let i = 0; i < v.length; i++) {
    const w = v[i]!;
    a = mix1(a, w);
    b = mix2(b, w);
  }
  finish(a, b, v.length + 1);
}

/**
 * contentHash() of a driver record into cres: the same walk as contentInto() for the values a
 * DriverRecord holds (numbers, booleans, strings, arrays of numbers), with arrays hashed by
 * numbersInto(). Its own function, so its for-in meets only the driver's few record shapes (the
 * generic walk meets every shape and runs V8's slow generic path).
 */
function driverRecordInto(o: DriverRecord): void {
  let a = SEED1;
  let b = SEED2;
  let n = 0;
  for (const key in o) {
    const x = o[key];
    if (typeof x === 'number') {
      a = mix1(a, x);
      b = mix2(b, x);
      n++;
    } else if (typeof x === 'boolean') {
      const w = x ? 1 : 0;
      a = mix1(a, w);
      b = mix2(b, w);
      n++;
    } else if (Array.isArray(x) && allNumbers(x)) {
      numbersInto(x);
      const h = cres[0]!;
      const l = cres[1]!;
      a = mix1(mix1(a, h), l);
      b = mix2(mix2(b, h), l);
      n += 2;
    } else {
      const m = valueWords(x);
      for (let k = 0; k < m; k++) {
        a = mix1(a, vw[k]!);
        b = mix2(b, vw[k]!);
      }
      n += m;
    }
  }
  finish(a, b, n);
}

function allNumbers(x: readonly unknown[]): boolean {
  for (let i = 0; i < x.length; i++) if (typeof x[i] !== 'number') return false;
  return true;
}

function b01(x: boolean): number {
  return x ? 1 : 0;
}

/** Puts the content hash of a nested array of numbers at scratch[i], [i + 1]. */
function numbersAt(i: number, v: readonly number[]): void {
  numbersInto(v);
  scratch[i] = cres[0]!;
  scratch[i + 1] = cres[1]!;
}

function hashPci(r: PciDev): void {
  const w = scratch;
  w[0] = r.atsCap;
  w[1] = b01(r.noAts);
  w[2] = b01(r.atsEnabled);
  w[3] = r.atsStu;
  w[4] = r.atsCtrl;
  w[5] = r.priCap;
  w[6] = b01(r.priEnabled);
  w[7] = r.priReqsAlloc;
  w[8] = r.priCtrl;
  w[9] = r.priAllocReq;
  w[10] = b01(r.priStopped);
  w[11] = b01(r.pasidRequired);
  w[12] = r.pasidCap;
  w[13] = b01(r.pasidEnabled);
  w[14] = r.pasidFeatures;
  w[15] = r.pasidCtrl;
  words(16);
}

function hashDevice(r: DeviceState): void {
  const w = scratch;
  numbersAt(6, r.atc);
  w[0] = b01(r.present);
  w[1] = r.driver;
  w[2] = b01(r.msiInUse);
  w[3] = b01(r.resetting);
  w[4] = b01(r.unresponsive);
  w[5] = b01(r.holdAtc);
  w[8] = r.pendingInv;
  words(9);
}

function hashGdev(r: GroupDev): void {
  const w = scratch;
  w[0] = b01(r.probed);
  w[1] = b01(r.blocked);
  w[2] = r.resetDepth;
  words(3);
}

function hashGroup(r: Group): void {
  const w = scratch;
  numbersAt(6, r.pasids);
  w[0] = r.domain;
  w[1] = r.defaultDomain;
  w[2] = r.blockingDomain;
  w[3] = r.owner;
  w[4] = r.ownerCnt;
  w[5] = r.recoveryCnt;
  words(8);
}

function hashDomain(r: Domain): void {
  const w = scratch;
  // The driver's record first: its walk does not touch the scratch words.
  driverRecordInto(r.drv);
  w[9] = cres[0]!;
  w[10] = cres[1]!;
  numbersAt(1, r.pt);
  numbersAt(3, r.iotlb);
  numbersAt(5, r.fq);
  w[0] = r.type;
  w[7] = b01(r.msiDoorbell);
  w[8] = r.allocator;
  words(11);
}

function hashThread(r: ThreadState): void {
  const c: Continuation | null = r.cont;
  if (c === null) {
    scratch[0] = r.pc;
    scratch[1] = 0x7fffffff;
    words(2);
    return;
  }
  // The continuation: [op length, op chars..., phase, args (2 words), domainArgs, key].
  const w = scratch;
  const op = c.op;
  let k = 0;
  if (op.length + 6 > w.length) {
    contentInto(c);
  } else {
    numbersInto(c.args);
    w[k++] = op.length;
    for (let i = 0; i < op.length; i++) w[k++] = op.charCodeAt(i);
    w[k++] = c.phase;
    w[k++] = cres[0]!;
    w[k++] = cres[1]!;
    w[k++] = c.domainArgs;
    w[k++] = c.key;
    words(k);
  }
  scratch[0] = r.pc;
  scratch[1] = cres[0]!;
  scratch[2] = cres[1]!;
  words(3);
}

/** The content hash of a record of collection `coll`: contentHash(rec), computed by the typed hashers. */
export function recordContentHash(coll: Coll, rec: object): readonly number[] {
  recordContent(coll, rec);
  return [cres[0]!, cres[1]!];
}

/** The content hash of a record of collection c into cres (typed where the model defines the shape). */
function recordContent(c: Coll, rec: object): void {
  switch (c) {
    case Coll.Pci:
      hashPci(rec as PciDev);
      break;
    case Coll.Dev:
      hashDevice(rec as DeviceState);
      break;
    case Coll.Gdev:
      hashGdev(rec as GroupDev);
      break;
    case Coll.Group:
      hashGroup(rec as Group);
      break;
    case Coll.Domain:
      hashDomain(rec as Domain);
      break;
    case Coll.Thread:
      hashThread(rec as ThreadState);
      break;
    case Coll.Master:
    case Coll.Drv:
      driverRecordInto(rec as DriverRecord);
      break;
    default:
      contentInto(rec);
  }
}

const out = { hi: 0, lo: 0 };

/**
 * Hash of one record at one position (collection, index): its content hash mixed with its
 * position, so the XOR of all positions is a state fingerprint. The result object is reused.
 */
export function recordHash(coll: Coll, index: number, rec: unknown): { hi: number; lo: number } {
  let chi: number;
  let clo: number;
  if (typeof rec === 'number') {
    chi = fmix(rec ^ 0x3c6ef372);
    clo = fmix(Math.imul(rec, 0x9e3779b1) ^ 0x1b873593);
  } else if (rec === null || rec === undefined || typeof rec !== 'object') {
    chi = 0x5bd1e995;
    clo = 0x1b873593;
  } else {
    recordContent(coll, rec);
    chi = cres[0]!;
    clo = cres[1]!;
  }
  return positioned(coll, index, chi, clo);
}

/** A content hash (chi, clo) mixed with a position, into the reused result object. */
function positioned(coll: Coll, index: number, chi: number, clo: number): { hi: number; lo: number } {
  const pos = Math.imul(coll, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b);
  out.hi = fmix(chi ^ pos);
  out.lo = fmix(clo ^ Math.imul(pos, 0xc2b2ae35) ^ 0x27d4eb2d);
  return out;
}

/**
 * Content hashes of the records a rebase meets, by identity: a record that only moved to another
 * position (the canonical renumbering moves domains) is hashed once, not at both positions.
 */
class ContentCache {
  private readonly recs: object[] = [];
  private readonly his: number[] = [];
  private readonly los: number[] = [];

  hash(coll: Coll, index: number, rec: unknown): { hi: number; lo: number } {
    if (rec === null || typeof rec !== 'object') return recordHash(coll, index, rec);
    const at = this.recs.indexOf(rec);
    if (at >= 0) return positioned(coll, index, this.his[at]!, this.los[at]!);
    recordContent(coll, rec);
    const chi = cres[0]!;
    const clo = cres[1]!;
    this.recs.push(rec);
    this.his.push(chi);
    this.los.push(clo);
    return positioned(coll, index, chi, clo);
  }
}

function eachRecord(s: SystemState, fn: (coll: Coll, index: number, rec: unknown) => void): void {
  s.pci.forEach((r, i) => {
    fn(Coll.Pci, i, r);
  });
  s.devs.forEach((r, i) => {
    fn(Coll.Dev, i, r);
  });
  s.gdevs.forEach((r, i) => {
    fn(Coll.Gdev, i, r);
  });
  s.groups.forEach((r, i) => {
    fn(Coll.Group, i, r);
  });
  s.domains.forEach((r, i) => {
    fn(Coll.Domain, i, r);
  });
  s.masters.forEach((r, i) => {
    fn(Coll.Master, i, r);
  });
  fn(Coll.Drv, 0, s.drv);
  fn(Coll.GlobalPasids, 0, s.globalPasids);
  // Every physical page is its own position, so a map or unmap rehashes one page, not the pool.
  const pages = s.mem.pages;
  for (let i = 0; i < pages.length; i++) fn(Coll.Mem, i, pages[i]);
  s.threads.forEach((r, i) => {
    fn(Coll.Thread, i, r);
  });
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

/**
 * A fingerprint being moved from one state to another, position by position: XOR out the hash of
 * the record a position held and XOR in the hash of the record it holds now. States keep no record
 * hashes: the old record is hashed again. (Keeping every record's hash with the state, in chunked
 * arrays copied on write, measured slower: the copies, and the garbage collector moving them with
 * every state a search keeps, cost more than hashing the few records a step replaces.)
 */
export class FingerprintEditor {
  hi: number;
  lo: number;
  constructor(hi: number, lo: number) {
    this.hi = hi;
    this.lo = lo;
  }

  /** Position i of collection c held `old` (undefined: it did not exist) and now holds `rec` (undefined: gone). */
  replace(c: Coll, i: number, old: unknown, rec: unknown): void {
    if (old !== undefined) {
      const x = recordHash(c, i, old);
      this.hi ^= x.hi;
      this.lo ^= x.lo;
    }
    if (rec !== undefined) {
      const x = recordHash(c, i, rec);
      this.hi ^= x.hi;
      this.lo ^= x.lo;
    }
  }

  /** replace(), with the content hashes looked up in (and added to) `cache`. */
  replaceCached(cache: ContentCache, c: Coll, i: number, old: unknown, rec: unknown): void {
    if (old !== undefined) {
      const x = cache.hash(c, i, old);
      this.hi ^= x.hi;
      this.lo ^= x.lo;
    }
    if (rec !== undefined) {
      const x = cache.hash(c, i, rec);
      this.hi ^= x.hi;
      this.lo ^= x.lo;
    }
  }
}

function rebaseArray(
  e: FingerprintEditor,
  c: Coll,
  from: readonly unknown[],
  to: readonly unknown[],
  cache: ContentCache | null = null,
): void {
  if (from === to) return;
  const n = Math.max(from.length, to.length);
  for (let i = 0; i < n; i++) {
    const a = i < from.length ? from[i] : undefined;
    const b = i < to.length ? to[i] : undefined;
    if (a === b) continue;
    if (cache === null) e.replace(c, i, a, b);
    else e.replaceCached(cache, c, i, a, b);
  }
}

/**
 * The fingerprint of `to` from that of `from`, rehashing only the positions whose record is not
 * the same object: for a state rewritten from another, as the canonical renumbering of domains does.
 */
export function rebaseFingerprint(from: SystemState, to: SystemState): { hi: number; lo: number } {
  const e = new FingerprintEditor(from.fpHi, from.fpLo);
  rebaseArray(e, Coll.Pci, from.pci, to.pci);
  rebaseArray(e, Coll.Dev, from.devs, to.devs);
  rebaseArray(e, Coll.Gdev, from.gdevs, to.gdevs);
  rebaseArray(e, Coll.Group, from.groups, to.groups);
  rebaseArray(e, Coll.Domain, from.domains, to.domains, new ContentCache());
  rebaseArray(e, Coll.Master, from.masters, to.masters);
  if (from.drv !== to.drv) e.replace(Coll.Drv, 0, from.drv, to.drv);
  if (from.globalPasids !== to.globalPasids)
    e.replace(Coll.GlobalPasids, 0, from.globalPasids, to.globalPasids);
  if (from.mem !== to.mem) rebaseArray(e, Coll.Mem, from.mem.pages, to.mem.pages);
  rebaseArray(e, Coll.Thread, from.threads, to.threads);
  if (from.faults !== to.faults) e.replace(Coll.Faults, 0, from.faults, to.faults);
  return { hi: e.hi >>> 0, lo: e.lo >>> 0 };
}

export function withFingerprint<T extends SystemState>(s: T): T {
  const h = fingerprintFull(s);
  return { ...s, fpHi: h.hi, fpLo: h.lo };
}

/** Structural equality of two states (fingerprints first, then every record). */
export function statesEqual(a: SystemState, b: SystemState): boolean {
  if (a.fpHi !== b.fpHi || a.fpLo !== b.fpLo) return false;
  const strip = { fpHi: 0, fpLo: 0 };
  return JSON.stringify({ ...a, ...strip }) === JSON.stringify({ ...b, ...strip });
}
