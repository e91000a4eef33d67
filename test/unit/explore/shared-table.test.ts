import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FingerprintSet, PRESENT } from '../../../src/explore/fingerprint-set.js';
import { MemoryBudget, SharedMemoryBudget } from '../../../src/explore/limits.js';
import { SharedFingerprintTable } from '../../../src/explore/shared-fingerprint-table.js';
import { rebalancePlan } from '../../../src/node/explore-workers.js';

describe('the shared fingerprint table', () => {
  it('agrees with the one-thread set on what is new, and keeps every key through a rehash', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 0xffff }), fc.integer({ min: 1, max: 0xff })), {
          maxLength: 600,
        }),
        (keys) => {
          const small = SharedFingerprintTable.create(10);
          const set = new FingerprintSet(new MemoryBudget(1 << 24));
          for (const [hi, lo] of keys) expect(small.insert(hi, lo)).toBe(set.add(hi, lo, 0, 0) >= 0);
          const big = SharedFingerprintTable.create(11);
          big.rehashFrom(small);
          for (const [hi, lo] of keys) expect(big.insert(hi, lo)).toBe(false);
          expect(big.insert(0x10000, 1)).toBe(true);
          expect(set.add(0x10000, 1, 0, 0)).not.toBe(PRESENT);
        },
      ),
    );
  });

  it('stores a zero half as 1: (0, x) and (1, x) are one key, (x, 0) and (x, 1) too', () => {
    const t = SharedFingerprintTable.create(4);
    expect(t.insert(0, 7)).toBe(true);
    expect(t.insert(1, 7)).toBe(false);
    expect(t.insert(7, 0)).toBe(true);
    expect(t.insert(7, 1)).toBe(false);
    expect(t.insert(-1, -1)).toBe(true);
    expect(t.insert(0xffffffff, 0xffffffff)).toBe(false);
  });

  it('refuses a buffer whose slot count is not a power of two', () => {
    expect(() => new SharedFingerprintTable(new SharedArrayBuffer(24))).toThrow(/power of two/);
  });
});

describe('evening out the workers queues', () => {
  it('leaves every queue with its share, moving only from those above it to those below', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(5000), { minLength: 1, maxLength: 8 }), (queues) => {
        const plan = rebalancePlan(queues, 0);
        const after = queues.slice();
        for (let from = 0; from < plan.length; from++)
          for (const x of plan[from]!) {
            expect(x.count).toBeGreaterThan(0);
            expect(x.to).not.toBe(from);
            after[from]! -= x.count;
            after[x.to]! += x.count;
          }
        const total = queues.reduce((a, b) => a + b, 0);
        expect(after.reduce((a, b) => a + b, 0)).toBe(total);
        expect(Math.max(...after) - Math.min(...after)).toBeLessThanOrEqual(1);
        for (let i = 0; i < queues.length; i++)
          if (plan[i]!.length > 0) expect(plan.some((p) => p.some((x) => x.to === i))).toBe(false);
      }),
    );
  });

  it('moves nothing while every queue is within the slack of its share', () => {
    expect(rebalancePlan([100, 90], 10)).toEqual([[], []]);
    expect(rebalancePlan([100, 70], 10)).toEqual([[{ to: 1, count: 15 }], []]);
  });
});

describe('the shared memory budget', () => {
  it('charges in KiB, refuses past the limit, and keeps the peak across two views of the same words', () => {
    const words = new Int32Array(new SharedArrayBuffer(16));
    const a = new SharedMemoryBudget(words, 1, 10 * 1024);
    const b = new SharedMemoryBudget(words, 1, 10 * 1024);
    expect(a.tryCharge(4000)).toBe(true);
    expect(b.bytes).toBe(4 * 1024);
    expect(b.tryCharge(7 * 1024)).toBe(false);
    expect(b.tryCharge(6 * 1024)).toBe(true);
    a.release(4000);
    expect(b.bytes).toBe(6 * 1024);
    expect(a.peak).toBe(10 * 1024);
    b.charge(20 * 1024);
    expect(a.peak).toBe(26 * 1024);
    expect(words[0]).toBe(0);
  });
});
