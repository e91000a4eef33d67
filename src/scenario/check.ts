/**
 * `atsim check`: many scenarios × presets. Each cell is one run: holds, violated (ids), or error
 * (the scenario could not be loaded or run), compared with the scenario's expectation for that
 * preset. Pure: the caller loads the scenarios (src/node/load-scenario.ts).
 */
import { InputError } from '../diagnostics.js';
import { presetModelsDriver, type PresetId } from '../kernel/presets.js';
import { IOMMU_DRIVERS, type IommuDriverName } from '../model/world.js';
import type { BoundScenario } from './bind.js';
import { exploreScenario } from './explore.js';
import { runScenario } from './run.js';
import { forPreset, isExploreScenario, type Verdict } from './types.js';

export interface CheckCell {
  /** The IOMMU driver the cell ran under. */
  readonly driver: IommuDriverName;
  readonly preset: PresetId;
  /** n/a: the scenario does not list this driver (its claim does not apply there). */
  readonly status: 'holds' | 'violated' | 'error' | 'n/a';
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
  /** The drivers with a column group, in the order smmuv3, vtd, amd; each has a column per preset. */
  readonly drivers: readonly IommuDriverName[];
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
    driver: bound.doc.driver,
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

/**
 * Whether the scenario runs under (preset, driver): it lists the driver, the preset models it, and
 * an explore scenario runs only under its own driver.
 */
export function cellApplies(bound: BoundScenario, preset: PresetId, driver: IommuDriverName): boolean {
  if (!bound.doc.drivers.includes(driver) || !presetModelsDriver(preset, driver)) return false;
  return !isExploreScenario(bound.doc) || driver === bound.doc.driver;
}

/**
 * One cell: the scenario under `preset` with `driver` (default its own). A driver the scenario
 * does not list is n/a, and so is a preset that does not model the driver; an explore scenario runs
 * only under its own driver.
 */
export function checkCell(bound: BoundScenario, preset: PresetId, driver?: IommuDriverName): CheckCell {
  const drv = driver ?? bound.doc.driver;
  const explore = isExploreScenario(bound.doc);
  if (!cellApplies(bound, preset, drv))
    return {
      driver: drv,
      preset,
      status: 'n/a',
      violated: [],
      expected: HOLDS,
      retMismatches: [],
      error: null,
      met: true,
    };
  try {
    if (explore) return exploreCell(bound, preset);
    const t = runScenario(bound, { preset, snapshots: 'none', driver: drv });
    const expected = t.expected ?? HOLDS;
    if (t.error !== null)
      return {
        driver: drv,
        preset,
        status: 'error',
        violated: t.verdict.violated,
        expected,
        retMismatches: t.retMismatches,
        error: `model failed at step #${t.error.n}: ${t.error.message}`,
        met: false,
      };
    return {
      driver: drv,
      preset,
      status: t.verdict.holds ? 'holds' : 'violated',
      violated: t.verdict.violated,
      expected,
      retMismatches: t.retMismatches,
      error: null,
      met: t.met,
    };
  } catch (e) {
    const expected = bound.doc.expect === null ? HOLDS : (forPreset(bound.doc.expect, preset, drv) ?? HOLDS);
    const msg =
      e instanceof InputError ? e.message : e instanceof Error ? `internal: ${e.message}` : String(e);
    return {
      driver: drv,
      preset,
      status: 'error',
      violated: [],
      expected,
      retMismatches: [],
      error: msg,
      met: false,
    };
  }
}

/** The drivers the inputs list, in IOMMU_DRIVERS order (smmuv3 alone when none loaded). */
export function checkDrivers(inputs: readonly CheckInput[]): IommuDriverName[] {
  const used = new Set<IommuDriverName>();
  for (const input of inputs) if ('bound' in input) for (const d of input.bound.doc.drivers) used.add(d);
  const out = IOMMU_DRIVERS.filter((d) => used.has(d));
  return out.length === 0 ? ['smmuv3'] : out;
}

/**
 * Every scenario under every (driver, preset) column: `drivers` default to those the scenarios
 * list. A scenario runs under the drivers it lists (`drivers:`, default its iommu.driver); its
 * other columns are n/a.
 */
export function checkScenarios(
  inputs: readonly CheckInput[],
  presets: readonly PresetId[],
  progress?: (done: number, total: number, file: string) => void,
  drivers: readonly IommuDriverName[] = checkDrivers(inputs),
): CheckResult {
  const rows: CheckRow[] = [];
  let differing = 0;
  // Progress counts the cells that run (an unloadable scenario counts one per column).
  const total = inputs.reduce(
    (n, input) =>
      n +
      ('error' in input
        ? presets.length * drivers.length
        : drivers.reduce((k, d) => k + presets.filter((p) => cellApplies(input.bound, p, d)).length, 0)),
    0,
  );
  let done = 0;
  for (const input of inputs) {
    if ('error' in input) {
      const cells = drivers.flatMap((driver) =>
        presets.map((preset): CheckCell => ({
          driver,
          preset,
          status: 'error',
          violated: [],
          expected: HOLDS,
          retMismatches: [],
          error: input.error,
          met: false,
        })),
      );
      differing += cells.length;
      done += cells.length;
      progress?.(done, total, input.file);
      rows.push({ file: input.file, name: null, cells });
      continue;
    }
    const cells = drivers.flatMap((driver) =>
      presets.map((p) => {
        const c = checkCell(input.bound, p, driver);
        if (c.status !== 'n/a') {
          done++;
          progress?.(done, total, input.file);
        }
        return c;
      }),
    );
    differing += cells.filter((c) => !c.met).length;
    rows.push({ file: input.file, name: input.bound.doc.name, cells });
  }
  return { drivers, presets, rows, differing };
}
