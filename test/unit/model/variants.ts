/** Single-field changes of state records, enumerated generically, for fingerprint and checker tests. */
import type { SystemState } from '../../../src/model/state.js';

/** Every way of changing one leaf of a value: a number +1, a boolean flipped, a string extended, an array grown or a leaf changed. */
export function* variants(v: unknown): Generator {
  if (typeof v === 'number') yield v + 1;
  else if (typeof v === 'boolean') yield !v;
  else if (typeof v === 'string') yield v + 'x';
  else if (v === null) yield { op: 'flr', phase: 1, args: [0], domainArgs: 0 };
  else if (Array.isArray(v)) {
    const a = v as unknown[];
    yield [...a, 1];
    for (let i = 0; i < a.length; i++)
      for (const x of variants(a[i])) yield a.map((y, j) => (j === i ? x : y));
  } else if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) for (const x of variants(o[k])) yield { ...o, [k]: x };
  }
}

export const COLLECTIONS = [
  'pci',
  'devs',
  'gdevs',
  'groups',
  'domains',
  'masters',
  'threads',
  'faults',
] as const;
export const SINGLES = ['drv', 'globalPasids', 'mem'] as const;

/** Every state that differs from `s` in exactly one leaf of one record, with a label. */
export function* singleFieldChanges(s: SystemState): Generator<{ label: string; state: SystemState }> {
  for (const c of COLLECTIONS) {
    const arr = s[c] as readonly unknown[];
    for (let i = 0; i < arr.length; i++)
      for (const v of variants(arr[i]))
        yield {
          label: `${c}[${i}] -> ${JSON.stringify(v)}`,
          state: { ...s, [c]: arr.map((r, j) => (j === i ? v : r)) },
        };
  }
  for (const c of SINGLES)
    for (const v of variants(s[c])) yield { label: `${c} -> ${JSON.stringify(v)}`, state: { ...s, [c]: v } };
}
