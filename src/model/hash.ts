/**
 * A streaming 64-bit hash over 32-bit words: two independent murmur3-style lanes, no BigInt, no
 * allocation. Used for state fingerprints (fingerprint.ts).
 */
export class Hasher {
  private h1 = 0x9747b28c | 0;
  private h2 = 0x2f0c5e1d | 0;
  private n = 0;

  reset(): void {
    this.h1 = 0x9747b28c | 0;
    this.h2 = 0x2f0c5e1d | 0;
    this.n = 0;
  }

  word(x: number): void {
    let k = Math.imul(x | 0, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    let h = this.h1 ^ k;
    h = (h << 13) | (h >>> 19);
    this.h1 = (Math.imul(h, 5) + 0xe6546b64) | 0;
    let j = Math.imul(x | 0, 0x85ebca6b);
    j = (j << 17) | (j >>> 15);
    j = Math.imul(j, 0xc2b2ae35);
    let g = this.h2 ^ j;
    g = (g << 11) | (g >>> 21);
    this.h2 = (Math.imul(g, 9) + 0x52dce729) | 0;
    this.n++;
  }

  bool(b: boolean): void {
    this.word(b ? 1 : 0);
  }

  /** An array, length first so that [1],[2] and [1,2] differ. */
  words(a: readonly number[]): void {
    this.word(a.length);
    for (let i = 0; i < a.length; i++) this.word(a[i]!);
  }

  private static fmix(h: number): number {
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  }

  /** The 64-bit result as two unsigned 32-bit halves. */
  digest(): { hi: number; lo: number } {
    const a = Hasher.fmix(this.h1 ^ this.n);
    const b = Hasher.fmix(this.h2 ^ Math.imul(this.n, 0x27d4eb2d));
    return { hi: (a ^ Math.imul(b, 0x165667b1)) >>> 0, lo: (b ^ Math.imul(a, 0x9e3779b1)) >>> 0 };
  }
}

/** A fingerprint as a 16-digit hex string, for traces and tests. */
export function fingerprintHex(fp: { hi: number; lo: number }): string {
  return fp.hi.toString(16).padStart(8, '0') + fp.lo.toString(16).padStart(8, '0');
}
