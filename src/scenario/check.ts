/**
 * `atsim check`: many scenarios × presets. Each cell is one run: holds, violated (ids), or error
 * (the scenario could not be loaded or run), compared with the scenario's expectation for that
 * preset. Pure: the caller loads the scenarios (src/node/load-scenario.ts).
 */
import { InputError } from '../diagnostics.js';
import type { PresetId } from '../kernel/presets.js';
import type { BoundScenario } from './bind.js';
import { exploreScenario } from './explore.js';
import { runScenario } from './run.js';
import { isExploreScenario, type Verdict } from './types.js';

export interface CheckCell {
  readonly preset: PresetId;
  readonly status: 'holds' | 'violated' | 'error';
  readonly violated: readonly string[];
  /** The expectation for this preset (holds when the scenario states none). */
  readonly expected: Verdict;
  /** Steps whose return value differed from their `expect`. */
  readonly retMismatches: readonly {
    readonly n: number;
    readonly line: number | null;
    readonly expected: string;
    readonly got: string;
  }[];
  readonly error: string | null;
  /** The cell matches the expectation. */
  readonly met: boolean;
}

export interface CheckRow {
  readonly file: string;
  readonly name: string | null;
  readonly cells: readonly CheckCell[];
}

export interface CheckResult {
  readonly presets: readonly PresetId[];
  readonly rows: readonly CheckRow[];
  /** Cells that differ from their expectation. */
  readonly differing: number;
}

/** A scenario to check: loaded and bound, or the error that stopped it. */
export type CheckInput =
  | { readonly file: string; readonly bound: BoundScenario }
  | { readonly file: string; readonly error: string };

const HOLDS: Verdict = { kind: 'holds' };

/** States `atsim check` explores at most per cell of a scenario with threads or choices. */
export const CHECK_EXPLORE_MAX_STATES = 200_000;

/** A cell of an explore scenario: a breadth-first search to the first violation (see explore.ts for the verdict). */
function exploreCell(bound: BoundScenario, preset: PresetId): CheckCell {
  const r = exploreScenario(bound, { preset, maxStates: CHECK_EXPLORE_MAX_STATES });
  return {
    preset,
    status: r.violated.length === 0 ? 'holds' : 'violated',
    violated: r.violated,
    expected: r.expected ?? HOLDS,
    retMismatches: r.trace.retMismatches,
    error:
      r.trace.error === null
        ? null
        : `model failed at setup step #${r.trace.error.n}: ${r.trace.error.message}`,
    met: r.met,
  };
}

export function checkCell(bound: BoundScenario, preset: PresetId): CheckCell {
  try {
    if (isExploreScenario(bound.doc)) return exploreCell(bound, preset);
    const t = runScenario(bound, { preset, snapshots: 'none' });
    const expected = t.expected ?? HOLDS;
    if (t.error !== null)
      return {
        preset,
        status: 'error',
        violated: t.verdict.violated,
        expected,
        retMismatches: t.retMismatches,
        error: `model failed at step #${t.error.n}: ${t.error.message}`,
        met: false,
      };
    return {
      preset,
      status: t.verdict.holds ? 'holds' : 'violated',
      violated: t.verdict.violated,
      expected,
      retMismatches: t.retMismatches,
      error: null,
      met: t.met,
    };
  } catch (e) {
    const expected =
      bound.doc.expect === null
        ? HOLDS
        : (bound.doc.expect.byPreset[preset] ?? bound.doc.expect.default ?? HOLDS);
    const msg =
      e instanceof InputError ? e.message : e instanceof Error ? `internal: ${e.message}` : String(e);
    return { preset, status: 'error', violated: [], expected, retMismatches: [], error: msg, met: false };
  }
}

export function checkScenarios(
  inputs: readonly CheckInput[],
  presets: readonly PresetId[],
  progress?: (done: number, total: number, file: string) => void,
): CheckResult {
  const rows: CheckRow[] = [];
  let differing = 0;
  const total = inputs.length * presets.length;
  let done = 0;
  for (const input of inputs) {
    if ('error' in input) {
      const cells = presets.map((preset): CheckCell => ({
        preset,
        status: 'error',
        violated: [],
        expected: HOLDS,
        retMismatches: [],
        error: input.error,
        met: false,
      }));
      differing += cells.length;
      done += cells.length;
      progress?.(done, total, input.file);
      rows.push({ file: input.file, name: null, cells });
      continue;
    }
    const cells = presets.map((p) => {
      const c = checkCell(input.bound, p);
      done++;
      progress?.(done, total, input.file);
      return c;
    });
    differing += cells.filter((c) => !c.met).length;
    rows.push({ file: input.file, name: input.bound.doc.name, cells });
  }
  return { presets, rows, differing };
}
