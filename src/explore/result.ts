/**
 * What a search returns: counts, why and where it stopped, the violations with their traces,
 * per-action coverage, memory, and TLC's estimate of the chance that a fingerprint collision hid a
 * state. `resultToJson` turns it into the plain object a result file holds.
 */
import type { StopReason } from './limits.js';
import type { Model } from './model.js';
import { fpHex } from './model.js';

export type Strategy = 'bfs' | 'dfs' | 'random';

/** One step of a counterexample: the action taken (null for the initial state) and the state reached. */
export interface TraceStep<S> {
  readonly action: number | null;
  readonly label: string;
  readonly state: S;
  readonly fingerprint: string;
}

export interface Violation<S> {
  /** Index into the model's invariants. */
  readonly invariant: number;
  readonly invariantName: string;
  /** Transitions from an initial state to the violating state. */
  readonly depth: number;
  readonly fingerprint: string;
  /** From an initial state to the violating state, re-executed with the model. */
  readonly trace: readonly TraceStep<S>[];
}

export interface ActionCoverage {
  readonly action: number;
  readonly label: string;
  /** Times the action fired (transitions generated). */
  readonly fired: number;
  /** Distinct states it reached first. */
  readonly newStates: number;
}

export interface Progress {
  readonly states: number;
  readonly transitions: number;
  readonly statesPerSecond: number;
  /** The depth being expanded (breadth-first), the stack depth (depth-first) or the walk number (random). */
  readonly depth: number;
  /** States waiting in the queue or on the stack. */
  readonly queue: number;
  readonly elapsedMs: number;
}

export interface CollisionEstimate {
  /** TLC's "calculated (optimistic)": distinct * (generated - distinct) / 2^64. */
  readonly calculated: number;
  /** The birthday bound for `distinct` random 64-bit fingerprints: distinct^2 / 2^65. */
  readonly birthday: number;
}

export interface ExploreResult<S> {
  readonly model: string;
  readonly strategy: Strategy;
  /** Worker threads (1 for a single-threaded search). */
  readonly workers: number;
  readonly stopReason: StopReason;
  /** Every state reachable within the depth limit was explored (and none stopped the search). */
  readonly complete: boolean;
  /** Distinct states stored. */
  readonly states: number;
  /** Transitions generated (successors computed, duplicates included). */
  readonly transitions: number;
  /** Breadth-first: the deepest level whose states were all expanded (-1 if none); others: the deepest depth expanded. */
  readonly depthCompleted: number;
  /** The deepest state stored. */
  readonly maxDepth: number;
  /** States stored but not expanded when the search stopped. */
  readonly frontier: number;
  readonly elapsedMs: number;
  readonly statesPerSecond: number;
  readonly transitionsPerSecond: number;
  /** Peak bytes of the engine's typed arrays (table, trace chunks, frontier). */
  readonly peakBytes: number;
  /** peakBytes / states. */
  readonly bytesPerState: number;
  readonly collision: CollisionEstimate;
  readonly violations: readonly Violation<S>[];
  /** The names of every invariant some stored state violates, sorted (also past `maxViolations`). */
  readonly invariantsViolated: readonly string[];
  readonly coverage: readonly ActionCoverage[];
  /** Random walks run (random strategy only). */
  readonly walks?: number;
  /** With `collectFingerprints`: every stored fingerprint, sorted, as [hi0, lo0, hi1, lo1, ...]. */
  readonly fingerprints?: Uint32Array;
  /** With `split`: the level where the slices split, and the states there left to other slices. */
  readonly split?: { readonly depth: number; readonly skipped: number };
}

export function collisionEstimate(distinct: number, generated: number): CollisionEstimate {
  return {
    calculated: (distinct * Math.max(0, generated - distinct)) / 2 ** 64,
    birthday: (distinct * distinct) / 2 ** 65,
  };
}

/** The sorted, distinct names of invariant indices. */
export function invariantNames<S>(model: Model<S>, indices: Iterable<number>): string[] {
  const names = new Set<string>();
  for (const i of indices) names.add(model.invariants[i] ?? `#${i}`);
  return [...names].sort();
}

export function coverageOf<S>(
  model: Model<S>,
  fired: Float64Array,
  newStates: Float64Array,
): ActionCoverage[] {
  const out: ActionCoverage[] = [];
  for (let a = 0; a < model.actionCount; a++)
    out.push({ action: a, label: model.actionLabel(a), fired: fired[a]!, newStates: newStates[a]! });
  return out;
}

/**
 * The JSON-friendly form of a result: the same fields, without the raw fingerprint dump, and with
 * violations' states rendered by the model's `describe`.
 */
export type ExploreResultJson = Omit<ExploreResult<unknown>, 'violations' | 'fingerprints'> & {
  readonly violations: readonly {
    readonly invariant: string;
    readonly depth: number;
    readonly fingerprint: string;
    readonly trace: readonly { action: string | null; fingerprint: string; state: unknown }[];
  }[];
};

export function resultToJson<S>(model: Model<S>, r: ExploreResult<S>): ExploreResultJson {
  const describe = (s: S): unknown => (model.describe ? model.describe(s) : s);
  return {
    model: r.model,
    strategy: r.strategy,
    workers: r.workers,
    stopReason: r.stopReason,
    complete: r.complete,
    states: r.states,
    transitions: r.transitions,
    depthCompleted: r.depthCompleted,
    maxDepth: r.maxDepth,
    frontier: r.frontier,
    elapsedMs: Math.round(r.elapsedMs * 1000) / 1000,
    statesPerSecond: Math.round(r.statesPerSecond),
    transitionsPerSecond: Math.round(r.transitionsPerSecond),
    peakBytes: r.peakBytes,
    bytesPerState: Math.round(r.bytesPerState * 100) / 100,
    collision: r.collision,
    invariantsViolated: r.invariantsViolated,
    violations: r.violations.map((v) => ({
      invariant: v.invariantName,
      depth: v.depth,
      fingerprint: v.fingerprint,
      trace: v.trace.map((t) => ({
        action: t.action === null ? null : t.label,
        fingerprint: t.fingerprint,
        state: describe(t.state),
      })),
    })),
    coverage: r.coverage,
    ...(r.walks === undefined ? {} : { walks: r.walks }),
    ...(r.split === undefined ? {} : { split: r.split }),
  };
}

export { fpHex };
