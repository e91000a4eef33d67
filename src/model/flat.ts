/**
 * Sorted flat tuples in plain number arrays: the model's maps (page tables, ATCs, PASID arrays).
 * Immutable: every update returns a new array. Small by design (the model ranges over a few
 * pages), so linear scans beat anything cleverer.
 */

/** Index of the tuple whose first `keyLen` numbers equal `key`, or -1. */
export function tupleFind(arr: readonly number[], width: number, key: readonly number[]): number {
  outer: for (let i = 0; i < arr.length; i += width) {
    for (let k = 0; k < key.length; k++) if (arr[i + k] !== key[k]) continue outer;
    return i;
  }
  return -1;
}

function compareAt(arr: readonly number[], i: number, t: readonly number[]): number {
  for (let k = 0; k < t.length; k++) {
    const d = arr[i + k]! - t[k]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** Inserts or replaces the tuple (matched on its first `keyLen` numbers), keeping the array sorted. */
export function tuplePut(
  arr: readonly number[],
  width: number,
  keyLen: number,
  tuple: readonly number[],
): number[] {
  // One pass: the tuple with the same key is replaced; otherwise the new one goes before the
  // first tuple that sorts after it. Built element by element (no slice of the key, no splice).
  let at = arr.length;
  let same = false;
  outer: for (let i = 0; i < arr.length; i += width) {
    for (let k = 0; k < keyLen; k++)
      if (arr[i + k] !== tuple[k]) break;
      else if (k === keyLen - 1) {
        at = i;
        same = true;
        break outer;
      }
    if (at === arr.length && compareAt(arr, i, tuple) > 0) at = i;
  }
  const out: number[] = [];
  for (let i = 0; i < at; i++) out.push(arr[i]!);
  for (let k = 0; k < width; k++) out.push(tuple[k]!);
  for (let i = same ? at + width : at; i < arr.length; i++) out.push(arr[i]!);
  return out;
}

/** Removes every tuple for which `drop` returns true. Returns the same array when nothing is removed. */
export function tupleRemoveWhere(
  arr: readonly number[],
  width: number,
  drop: (arr: readonly number[], i: number) => boolean,
): readonly number[] {
  let out: number[] | null = null;
  for (let i = 0; i < arr.length; i += width) {
    if (drop(arr, i)) {
      out ??= arr.slice(0, i);
    } else if (out !== null) {
      for (let k = 0; k < width; k++) out.push(arr[i + k]!);
    }
  }
  return out ?? arr;
}

/** Value at position `valueAt` of the tuple with key `key`, or `dflt`. */
export function tupleGet(
  arr: readonly number[],
  width: number,
  key: readonly number[],
  valueAt: number,
  dflt: number,
): number {
  const i = tupleFind(arr, width, key);
  return i < 0 ? dflt : arr[i + valueAt]!;
}

/** Inserts `x` into a sorted set of numbers (no-op if present). */
export function setAdd(arr: readonly number[], x: number): readonly number[] {
  let at = arr.length;
  for (let i = 0; i < arr.length; i++) {
    if (arr[i] === x) return arr;
    if (arr[i]! > x) {
      at = i;
      break;
    }
  }
  const out = arr.slice();
  out.splice(at, 0, x);
  return out;
}

export function setDelete(arr: readonly number[], x: number): readonly number[] {
  const i = arr.indexOf(x);
  if (i < 0) return arr;
  const out = arr.slice();
  out.splice(i, 1);
  return out;
}
