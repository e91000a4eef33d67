/**
 * The set of visited states, as 64-bit fingerprints in an open-addressing table on typed arrays.
 *
 * Layout:
 *  - the table: one Int32Array of 2 words per slot (high, low), linear probing, the empty slot
 *    being (0, 0) (the one state whose fingerprint is 0 is kept in a flag); it doubles when 3/4
 *    full, if the memory budget allows the new table next to the old one during the rehash, and
 *    otherwise fills up to 9/10 before it refuses new states;
 *  - per state, in insertion order (the state's id), its parent's id and the action id that reached
 *    it, in a `TraceStore` (trace-store.ts: 5 or 6 bytes per state). The table keeps no id: the engine knows the id of the state it
 *    expands (a breadth-first queue pops states in id order) and only needs "is it new?" here.
 *
 * So a stored state costs 8 bytes / load (10.7 to 21.3 bytes) plus 5 or 6 bytes of trace data.
 */
import type { Budget } from './limits.js';
import { TraceStore } from './trace-store.js';

/** Parent of an initial state. */
export const NO_PARENT = 0xffffffff;
/** `add`'s answer when the fingerprint is already in the set. */
export const PRESENT = -1;
/** `add`'s answer when the memory budget leaves no room for one more state. */
export const FULL = -2;

/**
 * The first word of a fingerprint's home slot in a table of 2^(32 - shift) slots of two words
 * (this set's layout, and SharedFingerprintTable's).
 */
export function homeWord(hi: number, lo: number, shift: number): number {
  return (Math.imul(lo ^ hi, 0x9e3779b1) >>> shift) << 1;
}

const GROW_LOAD = 0.75;
const HARD_LOAD = 0.9;
const MIN_BITS = 10;

export interface FingerprintSetOptions {
  /** Expected number of states (sizes the first table; default 2^16 slots). */
  readonly expected?: number;
  /** Store the parent and action of each state (default true). */
  readonly trace?: boolean;
  /** Number of action ids (chooses 1, 2 or 4 bytes per stored action; default 65,536). */
  readonly actionCount?: number;
}

export class FingerprintSet {
  private table: Int32Array;
  private bits: number;
  private shift: number;
  private wordMask: number;
  private growAt: number;
  private hardAt: number;
  private count = 0;
  private hasZero = false;
  private readonly trace: TraceStore | null;
  private tableBytes: number;

  constructor(
    private readonly budget: Budget,
    options: FingerprintSetOptions = {},
  ) {
    this.trace = (options.trace ?? true) ? new TraceStore(budget, options.actionCount ?? 65536) : null;
    let bits = MIN_BITS;
    const want = Math.ceil((options.expected ?? 1 << 15) / GROW_LOAD);
    while (1 << bits < want && bits < 28) bits++;
    while (bits > MIN_BITS && budget.bytes + 8 * 2 ** bits > budget.limit) bits--;
    this.bits = bits;
    this.shift = 32 - bits;
    this.wordMask = (2 << bits) - 1;
    this.growAt = Math.floor((1 << bits) * GROW_LOAD);
    this.hardAt = Math.floor((1 << bits) * HARD_LOAD);
    this.tableBytes = 8 * 2 ** bits;
    budget.charge(this.tableBytes);
    this.table = new Int32Array(2 << bits);
  }

  /** Number of states stored. */
  get size(): number {
    return this.count;
  }

  /** Slots in the table. */
  get capacity(): number {
    return 1 << this.bits;
  }

  /** Bytes held by the table and the per-state chunks. */
  get bytes(): number {
    return this.tableBytes + (this.trace?.bytes ?? 0);
  }

  /** Bytes per stored state for the trace data (parent + action). */
  get traceBytesPerState(): number {
    return this.trace?.bytesPerState ?? 0;
  }

  /**
   * Adds a fingerprint. Returns the new state's id (0, 1, 2, ... in insertion order), `PRESENT` if
   * it was already there, or `FULL` if the budget leaves no room for it.
   */
  add(hi: number, lo: number, parent: number, action: number): number {
    hi |= 0;
    lo |= 0;
    if ((hi | lo) === 0) {
      if (this.hasZero) return PRESENT;
      if (!this.reserve()) return FULL;
      this.hasZero = true;
      return this.record(parent, action);
    }
    const t = this.table;
    const m = this.wordMask;
    let i = homeWord(hi, lo, this.shift);
    for (;;) {
      const h = t[i]!;
      const l = t[i + 1]!;
      if (h === hi && l === lo) return PRESENT;
      if ((h | l) === 0) break;
      i = (i + 2) & m;
    }
    if (this.count >= this.growAt) {
      if (!this.reserve()) return FULL;
      if (this.table !== t) return this.add(hi, lo, parent, action);
    } else if (this.trace !== null && !this.trace.reserve()) return FULL;
    t[i] = hi;
    t[i + 1] = lo;
    return this.record(parent, action);
  }

  /** Reads the fingerprint's home slot and nothing more (SuccessorBatch.touchAll: the misses of a batch overlap). */
  touch(hi: number, lo: number): number {
    return this.table[homeWord(hi, lo, this.shift)]!;
  }

  /** Whether the fingerprint is in the set. */
  has(hi: number, lo: number): boolean {
    hi |= 0;
    lo |= 0;
    if ((hi | lo) === 0) return this.hasZero;
    const t = this.table;
    const m = this.wordMask;
    let i = homeWord(hi, lo, this.shift);
    for (;;) {
      const h = t[i]!;
      const l = t[i + 1]!;
      if (h === hi && l === lo) return true;
      if ((h | l) === 0) return false;
      i = (i + 2) & m;
    }
  }

  /** The parent id of state `id` (`NO_PARENT` for an initial state). */
  parentOf(id: number): number {
    if (!this.trace) throw new Error('this fingerprint set keeps no parents');
    return this.trace.parentOf(id);
  }

  /** The action id that first reached state `id` (for an initial state: its index among the initial states). */
  actionOf(id: number): number {
    if (!this.trace) throw new Error('this fingerprint set keeps no actions');
    return this.trace.actionOf(id);
  }

  /** Calls `f(hi, lo)` (unsigned) for every stored fingerprint, in table order. */
  forEach(f: (hi: number, lo: number) => void): void {
    if (this.hasZero) f(0, 0);
    const t = this.table;
    for (let i = 0; i < t.length; i += 2) {
      const h = t[i]!;
      const l = t[i + 1]!;
      if ((h | l) !== 0) f(h >>> 0, l >>> 0);
    }
  }

  /** All fingerprints, sorted as unsigned 64-bit numbers, as [hi0, lo0, hi1, lo1, ...]. */
  sorted(): Uint32Array {
    const keys = new BigUint64Array(this.count);
    let k = 0;
    this.forEach((h, l) => {
      keys[k++] = (BigInt(h) << 32n) | BigInt(l);
    });
    keys.sort();
    const out = new Uint32Array(2 * this.count);
    for (let i = 0; i < keys.length; i++) {
      const v = keys[i]!;
      out[2 * i] = Number(v >> 32n);
      out[2 * i + 1] = Number(v & 0xffffffffn);
    }
    return out;
  }

  /** Frees the table's and chunks' charge on the budget (the set is unusable afterwards). */
  dispose(): void {
    this.budget.release(this.tableBytes);
    this.tableBytes = 0;
    this.table = new Int32Array(0);
    this.trace?.dispose();
  }

  private record(parent: number, action: number): number {
    this.trace?.record(parent, action);
    return this.count++;
  }

  /** Room for one more state: a chunk if one starts here, and a bigger table if due. */
  private reserve(): boolean {
    if (this.trace !== null && !this.trace.reserve()) return false;
    if (this.count >= this.growAt && !this.grow() && this.count >= this.hardAt) return false;
    return true;
  }

  /** Doubles the table if the budget holds the new one beside the old; false otherwise. */
  private grow(): boolean {
    if (this.bits >= 29) return false;
    const bits = this.bits + 1;
    const bytes = 8 * 2 ** bits;
    if (!this.budget.tryCharge(bytes)) {
      // Stay at this size and fill it up to HARD_LOAD.
      this.growAt = this.hardAt;
      return false;
    }
    const old = this.table;
    const t = new Int32Array(2 << bits);
    const shift = 32 - bits;
    const m = (2 << bits) - 1;
    for (let j = 0; j < old.length; j += 2) {
      const hi = old[j]!;
      const lo = old[j + 1]!;
      if ((hi | lo) === 0) continue;
      let i = homeWord(hi, lo, shift);
      while ((t[i]! | t[i + 1]!) !== 0) i = (i + 2) & m;
      t[i] = hi;
      t[i + 1] = lo;
    }
    this.budget.release(this.tableBytes);
    this.table = t;
    this.tableBytes = bytes;
    this.bits = bits;
    this.shift = shift;
    this.wordMask = m;
    this.growAt = Math.floor((1 << bits) * GROW_LOAD);
    this.hardAt = Math.floor((1 << bits) * HARD_LOAD);
    return true;
  }
}
