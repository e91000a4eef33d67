/**
 * The sorted flat tuples of src/model/flat.ts against a plain reference: a list of tuples, the
 * one with the same key removed, the new one added, sorted lexicographically.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tupleFind, tupleGet, tuplePut, tupleRemoveWhere } from '../../../src/model/flat.js';

function lexCompare(a: readonly number[], b: readonly number[]): number {
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return a[k]! - b[k]!;
  return 0;
}

function chunks(arr: readonly number[], width: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < arr.length; i += width) out.push(arr.slice(i, i + width));
  return out;
}

function sameKey(a: readonly number[], b: readonly number[], keyLen: number): boolean {
  for (let k = 0; k < keyLen; k++) if (a[k] !== b[k]) return false;
  return true;
}

/** Width, key length, a sorted array of tuples with unique keys (built through the reference), and a tuple. */
const caseArb = fc
  .record({ width: fc.integer({ min: 1, max: 4 }), keyFrac: fc.integer({ min: 1, max: 4 }) })
  .chain(({ width, keyFrac }) => {
    const keyLen = Math.min(width, keyFrac);
    const tupleArb = fc.array(fc.integer({ min: 0, max: 3 }), { minLength: width, maxLength: width });
    return fc.record({
      width: fc.constant(width),
      keyLen: fc.constant(keyLen),
      tuples: fc.array(tupleArb, { maxLength: 8 }),
      put: tupleArb,
    });
  });

function referencePut(tuples: number[][], keyLen: number, t: readonly number[]): number[][] {
  const kept = tuples.filter((x) => !sameKey(x, t, keyLen));
  return [...kept, [...t]].sort(lexCompare);
}

describe('flat tuples', () => {
  it('tuplePut inserts or replaces and keeps the array sorted, as the reference does', () => {
    fc.assert(
      fc.property(caseArb, ({ width, keyLen, tuples, put }) => {
        let arr: number[] = [];
        let ref: number[][] = [];
        for (const t of tuples) {
          arr = tuplePut(arr, width, keyLen, t);
          ref = referencePut(ref, keyLen, t);
        }
        const before = arr.slice();
        const next = tuplePut(arr, width, keyLen, put);
        expect(chunks(next, width)).toEqual(referencePut(ref, keyLen, put));
        expect(arr).toEqual(before); // the input is not modified
        expect(tupleGet(next, width, put.slice(0, keyLen), keyLen - 1, -1)).toBe(put[keyLen - 1]);
        expect(tupleFind(next, width, put.slice(0, keyLen)) % width).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('tupleRemoveWhere drops the matching tuples and returns the same array when none match', () => {
    fc.assert(
      fc.property(caseArb, ({ width, keyLen, tuples, put }) => {
        let arr: number[] = [];
        for (const t of tuples) arr = tuplePut(arr, width, keyLen, t);
        const out = tupleRemoveWhere(arr, width, (a, i) => a[i] === put[0]);
        expect(chunks(out, width)).toEqual(chunks(arr, width).filter((t) => t[0] !== put[0]));
        if (!chunks(arr, width).some((t) => t[0] === put[0])) expect(out).toBe(arr);
      }),
      { numRuns: 300 },
    );
  });
});
