/**
 * Options common to every search, and the bookkeeping the searches share: the violation list,
 * per-action coverage counters, the clock (progress callback and time limit), and building the
 * result at the end.
 */
import type { FingerprintSet } from './fingerprint-set.js';
import type { Limits, MemoryBudget, StopReason } from './limits.js';
import { CLOCK_EVERY, nowMs, PROGRESS_PERIOD_MS } from './limits.js';
import type { Model } from './model.js';
import { fpHex } from './model.js';
import type { ExploreResult, Progress, Strategy, Violation } from './result.js';
import { collisionEstimate, coverageOf, invariantNames } from './result.js';
import type { Path } from './trace.js';
import { pathTo, replay } from './trace.js';

export interface ExploreOptions extends Limits {
  /** `bfs` (default: shortest counterexamples), `dfs` or `random`. */
  readonly strategy?: Strategy;
  /** Stop at the `first` violation (default) or go on and report `all` of them. */
  readonly violations?: 'first' | 'all';
  /** With `all`: keep at most this many violations (default 100); the search goes on regardless. */
  readonly maxViolations?: number;
  /**
   * Called about every `progressPeriodMs` (default 500 ms) while the search runs. Returning `false`
   * cancels the search (stop reason `cancelled`).
   */
  readonly onProgress?: (p: Progress) => boolean | undefined;
  readonly progressPeriodMs?: number;
  /** Seed for random walks and shuffled depth-first orders (default 1). */
  readonly seed?: number;
  /** Random strategy: number of walks (default 1000). Walk length is `maxDepth` (default 1000). */
  readonly walks?: number;
  /** Depth-first: visit each state's successors in a seeded random order (swarm-style diversity). */
  readonly shuffle?: boolean;
  /** Expected number of distinct states, to size the first table. */
  readonly expectedStates?: number;
  /** Breadth-first: put the sorted fingerprints of all stored states in the result (tests, shards). */
  readonly collectFingerprints?: boolean;
  /**
   * Breadth-first: this search is slice `index` of `count`. At the first level whose queue holds at
   * least `minFrontier` states (default 64 * count), a state is expanded only by the slice that owns
   * its fingerprint; everything above that level is explored by every slice, everything below it
   * by the slice that reached it. The union of the slices' states is the whole state space.
   */
  readonly split?: { readonly index: number; readonly count: number; readonly minFrontier?: number };
}

/** Which of `count` (<= 65,536) slices or workers owns a fingerprint (a multiply-shift, no division). */
export function ownerOf(hi: number, lo: number, count: number): number {
  return (((Math.imul(hi, 0x85ebca6b) ^ Math.imul(lo, 0xc2b2ae35)) >>> 16) * count) >>> 16;
}

/** A violation as found, before its trace is rebuilt. */
export interface Found {
  readonly invariant: number;
  readonly depth: number;
  readonly fingerprint: string;
  /** The state's id in the fingerprint set, or an explicit path (random walks). */
  readonly id?: number;
  readonly path?: Path;
}

/** The state of one search, shared by the strategies. */
export class Run<S> {
  readonly t0 = nowMs();
  readonly fired: Float64Array;
  readonly fresh: Float64Array;
  readonly found: Found[] = [];
  /** Indices of every invariant a stored state violated. */
  readonly violated = new Set<number>();
  readonly fp = new Uint32Array(2);
  readonly stopAtFirst: boolean;
  readonly maxViolations: number;
  readonly maxStates: number;
  readonly maxDepth: number;
  readonly deadline: number;
  private readonly period: number;
  private lastProgress: number;
  private ticks = 0;
  transitions = 0;
  stop: StopReason | null = null;

  /** Whether the search must stop (a method, so that callers re-read `stop` after calls that set it). */
  stopped(): boolean {
    return this.stop !== null;
  }

  constructor(
    readonly model: Model<S>,
    readonly options: ExploreOptions,
  ) {
    this.fired = new Float64Array(model.actionCount);
    this.fresh = new Float64Array(model.actionCount);
    this.stopAtFirst = (options.violations ?? 'first') === 'first';
    this.maxViolations = options.maxViolations ?? 100;
    this.maxStates = options.maxStates ?? Infinity;
    this.maxDepth = options.maxDepth ?? Infinity;
    this.deadline = options.timeLimitMs === undefined ? Infinity : this.t0 + options.timeLimitMs;
    this.period = options.progressPeriodMs ?? PROGRESS_PERIOD_MS;
    this.lastProgress = this.t0;
  }

  /** Checks the invariants of a new state; records what it violates and sets `stop` if asked to. */
  check(s: S, depth: number, hi: number, lo: number, id: number | undefined, path?: Path): boolean {
    const v = this.model.violations(s);
    if (v.length === 0) return false;
    for (const inv of v) this.violated.add(inv);
    for (const inv of v) {
      if (this.found.length >= this.maxViolations) break;
      this.found.push({
        invariant: inv,
        depth,
        fingerprint: fpHex(hi, lo),
        ...(id === undefined ? {} : { id }),
        ...(path === undefined ? {} : { path }),
      });
    }
    if (this.stopAtFirst) this.stop ??= 'violation';
    return true;
  }

  /**
   * Called once per expanded state: every CLOCK_EVERY calls it looks at the clock for the time
   * limit and the progress callback. Returns true when the search must stop.
   */
  tick(states: number, depth: number, queue: number): boolean {
    if (++this.ticks < CLOCK_EVERY) return this.stop !== null;
    this.ticks = 0;
    const now = nowMs();
    if (now >= this.deadline) this.stop ??= 'time';
    if (this.options.onProgress && now - this.lastProgress >= this.period) {
      this.lastProgress = now;
      const elapsedMs = now - this.t0;
      const ok = this.options.onProgress({
        states,
        transitions: this.transitions,
        statesPerSecond: elapsedMs > 0 ? (states * 1000) / elapsedMs : 0,
        depth,
        queue,
        elapsedMs,
      });
      if (ok === false) this.stop ??= 'cancelled';
    }
    return this.stop !== null;
  }

  /** Rebuilds the violations' traces and assembles the result. */
  finish(
    strategy: Strategy,
    set: FingerprintSet | null,
    budget: MemoryBudget,
    f: {
      states: number;
      depthCompleted: number;
      maxDepth: number;
      frontier: number;
      walks?: number;
      /** Some state was left unexpanded because of the depth limit. */
      depthLimited?: boolean;
      fingerprints?: Uint32Array;
      split?: { depth: number; skipped: number };
    },
  ): ExploreResult<S> {
    const elapsedMs = nowMs() - this.t0;
    const stopReason: StopReason =
      this.stop ?? (strategy === 'random' ? 'walks-done' : f.depthLimited ? 'max-depth' : 'exhausted');
    const violations: Violation<S>[] = this.found.map((x) => {
      const path = x.path ?? (set && x.id !== undefined ? pathTo(set, x.id) : null);
      if (!path) throw new Error('explore: a violation without a path');
      return {
        invariant: x.invariant,
        invariantName: this.model.invariants[x.invariant] ?? `#${x.invariant}`,
        depth: x.depth,
        fingerprint: x.fingerprint,
        trace: replay(this.model, path, x.fingerprint),
      };
    });
    const secs = elapsedMs / 1000;
    return {
      model: this.model.name,
      strategy,
      workers: 1,
      stopReason,
      complete: stopReason === 'exhausted',
      states: f.states,
      transitions: this.transitions,
      depthCompleted: f.depthCompleted,
      maxDepth: f.maxDepth,
      frontier: f.frontier,
      elapsedMs,
      statesPerSecond: secs > 0 ? f.states / secs : 0,
      transitionsPerSecond: secs > 0 ? this.transitions / secs : 0,
      peakBytes: budget.peak,
      bytesPerState: f.states > 0 ? budget.peak / f.states : 0,
      collision: collisionEstimate(f.states, this.transitions),
      violations,
      invariantsViolated: invariantNames(this.model, this.violated),
      coverage: coverageOf(this.model, this.fired, this.fresh),
      ...(f.walks === undefined ? {} : { walks: f.walks }),
      ...(f.fingerprints === undefined ? {} : { fingerprints: f.fingerprints }),
      ...(f.split === undefined ? {} : { split: f.split }),
    };
  }
}
