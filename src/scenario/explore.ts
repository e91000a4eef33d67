/**
 * Exploring a scenario with threads and choices (atsim explore): the setup steps run as in
 * `atsim run` (executePlan), then the kernel model (src/explore/models/kernel.ts) is explored from
 * the state they leave. The result carries the search's figures, the verdict against the
 * scenario's expectation, and the first counterexample as a run trace (setup steps, then one step
 * per action), so the run reports (text, JSON, Mermaid) print it.
 *
 * Verdict: stopping at the first violation (the default), the ids violated in the counterexample's
 * last state; with `violations: 'all'`, every id violated anywhere in the explored space. The
 * expectation is met when:
 *  - `holds`: the search explored everything (within its depth limit) and found no violation;
 *  - `violates: [ids]`: at the first violation, its ids are among the expected ones (one shortest
 *    counterexample need not show them all); with `all`, the ids found are exactly the expected ones.
 * Step return expectations (`expect:` on setup steps) are checked as in `atsim run`.
 *
 * `exploreScenario` searches on this thread; `exploreScenarioWith` takes the result of a search
 * run elsewhere (worker threads) on other instances of the model; both judge it the same way.
 */
import { errnoName } from '../kernel/errno.js';
import { explore } from '../explore/explore.js';
import { KernelModel, type KernelExploreState } from '../explore/models/kernel.js';
import type { ExploreOptions } from '../explore/options.js';
import type { ExploreResult } from '../explore/result.js';
import { fingerprintHex } from '../model/hash.js';
import type { BoundScenario } from './bind.js';
import {
  executePlan,
  namedOp,
  opText,
  violationKey,
  type PlanRun,
  type RunOptions,
  type Trace,
  type TraceStep,
} from './run.js';
import { snapshotOf } from './snapshot.js';
import type { Verdict } from './types.js';

export interface ScenarioExploreOptions extends ExploreOptions {
  readonly preset?: string;
  readonly overrides?: Readonly<Record<string, 'on' | 'off'>>;
  readonly invariants?: RunOptions['invariants'];
}

export interface ScenarioExploreResult {
  readonly model: KernelModel;
  readonly result: ExploreResult<KernelExploreState>;
  /** The ids of the verdict (see the module comment), sorted. */
  readonly violated: readonly string[];
  readonly expected: Verdict | null;
  /** The verdict, the setup steps' return values and the search's completeness meet the expectation. */
  readonly met: boolean;
  /** Why it is not met, in words (empty when met). */
  readonly reasons: readonly string[];
  /** The setup run, then the first counterexample's steps (or just the setup when none). */
  readonly trace: Trace;
  /** The setup and the model explored. */
  readonly exploration: Exploration;
  /** The first counterexample's action ids (empty when none, or when the violation is in the setup). */
  readonly actions: readonly number[];
  /** The worker threads the search ran on (`exploreScenarioWith`), 0 when it ran on this thread. */
  readonly workers: number;
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A scenario's setup run and the kernel model explored from the state it leaves. */
export interface Exploration {
  readonly bound: BoundScenario;
  readonly setup: PlanRun;
  readonly model: KernelModel;
}

/** Runs the setup steps (faults, boot, `steps:`) and builds the kernel model of the threads and choices. */
export function prepareExploration(
  bound: BoundScenario,
  opts: Pick<ScenarioExploreOptions, 'preset' | 'overrides' | 'invariants'> = {},
): Exploration {
  const setup = executePlan(bound, {
    ...(opts.preset === undefined ? {} : { preset: opts.preset }),
    ...(opts.overrides === undefined ? {} : { overrides: opts.overrides }),
    ...(opts.invariants === undefined ? {} : { invariants: opts.invariants }),
    snapshots: 'none',
  });
  const setupViolations = setup.trace.steps.flatMap((s) => s.violations);
  const model = new KernelModel({
    world: setup.world,
    initial: setup.state,
    initialViolations: setupViolations,
    threads: bound.threadOps.map((list) => list.map((p) => p.op)),
    choices: bound.choiceOps.map((c) => ({ op: c.planned.op, max: c.max })),
    ...(opts.invariants === undefined ? {} : { invariants: opts.invariants }),
    name: `kernel ${setup.preset} ${bound.doc.name}`,
  });
  return { bound, setup, model };
}

/** What taking a list of actions after the setup did, as run steps. */
export interface ActionRun {
  /** The setup's steps, then one per action taken. */
  readonly steps: readonly TraceStep[];
  /** The explorer state reached. */
  readonly last: KernelExploreState;
  /** The number of actions taken: all of them unless one was not enabled. */
  readonly taken: number;
  /** The state fingerprint after each action taken (16 hex digits). */
  readonly fingerprints: readonly string[];
}

/** Takes `actions` (the model's action ids) from the initial state, stopping at one that is not enabled. */
export function runActions(x: Exploration, actions: readonly number[]): ActionRun {
  const { bound, setup, model } = x;
  const world = setup.world;
  const steps: TraceStep[] = [...setup.trace.steps];
  const seen = new Set<string>();
  for (const s of steps) for (const v of s.violations) seen.add(violationKey(v));
  let cur = model.initialStates()[0]!;
  const fingerprints: string[] = [];
  let taken = 0;
  for (const action of actions) {
    const prev = cur;
    const r = model.apply(prev, action);
    if (r === null) break;
    taken++;
    cur = r.next;
    const choice = model.isChoice(action);
    const owner = model.ownerOf(action);
    const planned = choice
      ? bound.choiceOps[owner]!.planned
      : bound.threadOps[owner]![prev.sys.threads[r.thread]!.pc]!;
    const step = planned.step;
    const op = namedOp(world, r.op);
    const fingerprint = fingerprintHex({ hi: cur.sys.fpHi, lo: cur.sys.fpLo });
    fingerprints.push(fingerprint);
    steps.push({
      n: steps.length + 1,
      origin: choice ? 'choice' : 'thread',
      index: step?.index ?? null,
      line: step?.where.line ?? null,
      op,
      text: `${opText(op, null)}${choice ? '  (choice)' : ''}`,
      thread: r.thread,
      phase: null,
      ret: r.ret,
      retName: r.ret === null ? null : errnoName(r.ret),
      waiting: r.waiting,
      skipped: false,
      expect: null,
      note: step?.note ?? null,
      events: r.events,
      violations: r.violations.map((v) => {
        const key = violationKey(v);
        const isNew = !seen.has(key);
        seen.add(key);
        return { ...v, new: isNew };
      }),
      fingerprint,
    });
  }
  return { steps, last: cur, taken, fingerprints };
}

export function exploreScenario(
  bound: BoundScenario,
  opts: ScenarioExploreOptions = {},
): ScenarioExploreResult {
  const x = prepareExploration(bound, opts);
  return judgeExploration(x, explore(x.model, opts), opts.violations === 'all', 0);
}

/**
 * `exploreScenario` with the search run elsewhere: `search` explores other instances of the same
 * model, built from the same scenario and options (on worker threads: exploreScenarioOnWorkers in
 * src/node/scenario-model.ts), and rebuilds its counterexamples on the `model` it is given (this
 * exploration's), so the result's states and invariant indices are this model's.
 */
export async function exploreScenarioWith(
  bound: BoundScenario,
  opts: ScenarioExploreOptions,
  search: (model: KernelModel) => Promise<ExploreResult<KernelExploreState>>,
): Promise<ScenarioExploreResult> {
  // The setup first: its bad input is reported before a search starts.
  const x = prepareExploration(bound, opts);
  const found = await search(x.model);
  return judgeExploration(x, found, opts.violations === 'all', found.workers);
}

/**
 * The verdict of a search of `x.model`: the ids violated (see the module comment; with `all`, the
 * search's `invariantsViolated`), the counterexample re-executed as run steps, and whether the
 * scenario's expectation is met.
 */
function judgeExploration(
  x: Exploration,
  result: ExploreResult<KernelExploreState>,
  all: boolean,
  workers: number,
): ScenarioExploreResult {
  const { bound, setup, model } = x;
  const first = result.violations[0];

  // The trace: the setup, then the counterexample's steps re-executed with their events.
  const actions = first === undefined ? [] : first.trace.slice(1).map((t) => t.action!);
  const ran = runActions(x, actions);
  if (ran.taken < actions.length)
    throw new Error(
      `explore: the counterexample's action ${model.actionLabel(actions[ran.taken]!)} is not enabled`,
    );
  let ids: readonly string[];
  if (all) ids = result.invariantsViolated;
  else if (first !== undefined) ids = ran.last.viol.map((i) => model.invariants[i] ?? `#${i}`);
  else ids = [];
  ids = [...new Set(ids)].sort();

  const expected = bound.doc.expect === null ? null : setup.trace.expected;
  const reasons: string[] = [];
  if (setup.trace.error !== null) reasons.push(`the model failed at setup step #${setup.trace.error.n}`);
  if (setup.trace.retMismatches.length > 0) reasons.push('a setup step returned another value than expected');
  if (expected === null || expected.kind === 'holds') {
    if (ids.length > 0) reasons.push(`violated ${ids.join(', ')}`);
    else if (!result.complete)
      reasons.push(`the search stopped (${result.stopReason}) before it explored everything`);
  } else if (ids.length === 0) {
    reasons.push(
      result.complete
        ? `no violation in ${result.states} states`
        : `no violation found before the search stopped (${result.stopReason})`,
    );
  } else if (all) {
    if (!sameIds(ids, expected.ids))
      reasons.push(`violated ${ids.join(', ')}, expected ${expected.ids.join(', ')}`);
  } else {
    const extra = ids.filter((i) => !expected.ids.includes(i));
    if (extra.length > 0) reasons.push(`violated ${extra.join(', ')}, which is not expected`);
  }
  const met = reasons.length === 0;
  const trace = actionTrace(x, ran, { holds: ids.length === 0, violated: ids }, expected, met, reasons);
  return { model, result, violated: ids, expected, met, reasons, trace, exploration: x, actions, workers };
}

/** The run trace of a list of actions (the setup's trace with the actions' steps, a verdict and an expectation). */
export function actionTrace(
  x: Exploration,
  ran: ActionRun,
  verdict: Trace['verdict'],
  expected: Verdict | null,
  met: boolean,
  reasons: readonly string[],
): Trace {
  const setup = x.setup;
  return {
    ...setup.trace,
    steps: ran.steps,
    verdict,
    expected,
    met,
    final: snapshotOf(setup.world, ran.last.sys),
    notes: [
      ...setup.trace.notes.filter((n) => !n.includes('never fired')),
      ...reasons.map((r) => `not met: ${r}`),
    ],
  };
}
