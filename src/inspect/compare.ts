/** `atsim inspect --compare`: which functions' ATS answers change between two kernels. */
import type { InspectFunction, InspectReport } from './inspect.js';

export interface AtsChange {
  readonly bdf: string;
  readonly field: 'supported' | 'required' | 'decision' | 'prepare' | 'enable';
  readonly from: string | boolean | null;
  readonly to: string | boolean | null;
}

export interface CompareReport {
  readonly from: string;
  readonly to: string;
  readonly changes: readonly AtsChange[];
}

const FIELDS = ['supported', 'required', 'decision', 'prepare', 'enable'] as const;

export function compareReports(a: InspectReport, b: InspectReport): CompareReport {
  const byBdf = new Map<string, InspectFunction>(b.functions.map((f) => [f.bdf, f]));
  const changes: AtsChange[] = [];
  for (const fa of a.functions) {
    const fb = byBdf.get(fa.bdf);
    if (fb === undefined || fa.ats === null || fb.ats === null) continue;
    for (const field of FIELDS) {
      const x = fa.ats[field];
      const y = fb.ats[field];
      if (x !== y) changes.push({ bdf: fa.bdf, field, from: x, to: y });
    }
  }
  return { from: a.kernel, to: b.kernel, changes };
}
