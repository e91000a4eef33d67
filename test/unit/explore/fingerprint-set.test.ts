import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FingerprintSet, FULL, NO_PARENT, PRESENT } from '../../../src/explore/fingerprint-set.js';
import { MemoryBudget } from '../../../src/explore/limits.js';

/** 64-bit keys from a small range of hi/lo halves, so duplicates, zero halves and (0, 0) all occur. */
const half = fc.oneof(fc.constantFrom(0, 1, 0xffffffff, 0x80000000), fc.nat({ max: 0xffffffff }));
const key = fc.tuple(half, half);

describe('FingerprintSet', () => {
  it('never loses or duplicates a fingerprint (against a Set of strings)', () => {
    fc.assert(
      fc.property(fc.array(key, { maxLength: 3000 }), (keys) => {
        const budget = new MemoryBudget(1 << 26);
        const set = new FingerprintSet(budget, { expected: 1, actionCount: 300 });
        const ref = new Map<string, number>();
        for (let i = 0; i < keys.length; i++) {
          const [hi, lo] = keys[i]!;
          const k = `${hi}:${lo}`;
          const parent = ref.size === 0 ? NO_PARENT : i % ref.size;
          const id = set.add(hi, lo, parent, i % 300);
          if (ref.has(k)) expect(id).toBe(PRESENT);
          else {
            expect(id).toBe(ref.size);
            ref.set(k, id);
            expect(set.parentOf(id)).toBe(parent);
            expect(set.actionOf(id)).toBe(i % 300);
          }
          expect(set.has(hi, lo)).toBe(true);
        }
        expect(set.size).toBe(ref.size);
        const seen = new Set<string>();
        set.forEach((h, l) => {
          const k = `${h}:${l}`;
          expect(seen.has(k)).toBe(false);
          seen.add(k);
        });
        expect([...seen].sort()).toEqual([...ref.keys()].sort());
        const sorted = set.sorted();
        expect(sorted.length).toBe(2 * ref.size);
        for (let i = 2; i < sorted.length; i += 2) {
          const [ph, pl, h, l] = [sorted[i - 2]!, sorted[i - 1]!, sorted[i]!, sorted[i + 1]!];
          expect(h > ph || (h === ph && l > pl)).toBe(true);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('grows from its smallest table to 200,000 states and keeps them all', () => {
    const budget = new MemoryBudget(1 << 28);
    const set = new FingerprintSet(budget, { expected: 1 });
    const n = 200_000;
    for (let i = 0; i < n; i++) expect(set.add(Math.imul(i, 0x9e3779b1), i, i - 1, i & 0xffff)).toBe(i);
    for (let i = 0; i < n; i++) expect(set.add(Math.imul(i, 0x9e3779b1), i, 0, 0)).toBe(PRESENT);
    expect(set.size).toBe(n);
    expect(set.capacity).toBeGreaterThanOrEqual(n / 0.75);
    expect(set.parentOf(n - 1)).toBe(n - 2);
    // 8 bytes a slot, load between 3/8 and 3/4, plus 6 bytes of trace data (2-byte actions) a
    // state in chunks of 65,536.
    expect(n / set.capacity).toBeGreaterThanOrEqual(0.375);
    expect(n / set.capacity).toBeLessThanOrEqual(0.75);
    expect(set.bytes).toBe(8 * set.capacity + Math.ceil(n / 65536) * 65536 * 6);
  });

  it('refuses states past its memory budget instead of growing, after filling to 9/10', () => {
    const budget = new MemoryBudget(64 * 1024 + 6 * 65536);
    const set = new FingerprintSet(budget, { expected: 1 });
    let i = 0;
    let r = 0;
    for (; i < 100_000; i++) {
      r = set.add(i + 1, Math.imul(i, 0x85ebca6b), 0, 0);
      if (r === FULL) break;
    }
    expect(r).toBe(FULL);
    expect(set.size).toBe(Math.floor(set.capacity * 0.9));
    expect(budget.bytes).toBeLessThanOrEqual(budget.limit);
    // What is in stays in; an existing fingerprint is still recognised.
    expect(set.add(1, 0, 0, 0)).toBe(PRESENT);
  });
});
