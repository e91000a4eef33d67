/**
 * The visited set of a search on several threads: 64-bit fingerprints in one open-addressing table
 * in a SharedArrayBuffer, which every worker probes and inserts into with atomics, so no worker
 * sends another the states it generates. 2 words per slot (high, low), linear probing.
 *
 * Inserting claims an empty slot by a compare-and-swap of its high word from 0 to the key's, then
 * stores the low word; a prober that meets a claimed slot whose low word is still 0 waits for it
 * (a few instructions). So 0 marks an empty half: a fingerprint half that is 0 is stored as 1,
 * which merges 2^-31 of the fingerprint space into its neighbour (a collision chance far below
 * the 64-bit estimate the result reports).
 *
 * The table never grows while threads insert: the workers pause at a safe point and the thread
 * that owns the search rehashes into a bigger table (`rehashFrom`), then hands it out. The caller
 * keeps the load below 9/10, so a probe always ends.
 */
import { homeWord } from './fingerprint-set.js';

export class SharedFingerprintTable {
  readonly table: Int32Array;
  readonly bits: number;
  private readonly shift: number;
  private readonly mask: number;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.table = new Int32Array(buffer);
    const slots = this.table.length >>> 1;
    const bits = Math.round(Math.log2(slots));
    if (slots < 2 || 2 ** bits !== slots)
      throw new Error(`shared table: ${slots} slots is not a power of two`);
    this.bits = bits;
    this.shift = 32 - bits;
    this.mask = (2 << bits) - 1;
  }

  /** A new, empty table of 2^bits slots. */
  static create(bits: number): SharedFingerprintTable {
    return new SharedFingerprintTable(new SharedArrayBuffer(SharedFingerprintTable.bytesFor(bits)));
  }

  static bytesFor(bits: number): number {
    return 8 * 2 ** bits;
  }

  get capacity(): number {
    return 1 << this.bits;
  }

  get byteLength(): number {
    return this.buffer.byteLength;
  }

  /** Reads the fingerprint's home slot and nothing more (SuccessorBatch.touchAll: the misses of a batch overlap). */
  touch(hi: number, lo: number): number {
    return this.table[homeWord(hi, lo, this.shift)]!;
  }

  /** Adds a fingerprint: true if this call stored it, false if it was there (or another thread stored it first). */
  insert(hi: number, lo: number): boolean {
    hi |= 0;
    lo |= 0;
    if (hi === 0) hi = 1;
    if (lo === 0) lo = 1;
    const t = this.table;
    const m = this.mask;
    let i = homeWord(hi, lo, this.shift);
    for (;;) {
      let h = t[i]!;
      if (h === 0) {
        h = Atomics.compareExchange(t, i, 0, hi);
        if (h === 0) {
          Atomics.store(t, i + 1, lo);
          return true;
        }
      }
      if (h === hi) {
        let l = t[i + 1]!;
        while (l === 0) l = Atomics.load(t, i + 1);
        if (l === lo) return false;
      }
      i = (i + 2) & m;
    }
  }

  /** Copies every fingerprint of `from` in (no other thread may touch either table meanwhile). */
  rehashFrom(from: SharedFingerprintTable): void {
    const src = from.table;
    const t = this.table;
    const m = this.mask;
    const shift = this.shift;
    for (let j = 0; j < src.length; j += 2) {
      const hi = src[j]!;
      if (hi === 0) continue;
      const lo = src[j + 1]!;
      let i = homeWord(hi, lo, shift);
      while (t[i] !== 0) i = (i + 2) & m;
      t[i] = hi;
      t[i + 1] = lo;
    }
  }
}
