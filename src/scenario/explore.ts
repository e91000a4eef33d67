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
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function exploreScenario(
  bound: BoundScenario,
  opts: ScenarioExploreOptions = {},
): ScenarioExploreResult {
  const setup = executePlan(bound, {
    ...(opts.preset === undefined ? {} : { preset: opts.preset }),
    ...(opts.overrides === undefined ? {} : { overrides: opts.overrides }),
    ...(opts.invariants === undefined ? {} : { invariants: opts.invariants }),
    snapshots: 'none',
  });
  const world = setup.world;
  const setupViolations = setup.trace.steps.flatMap((s) => s.violations);
  const model = new KernelModel({
    world,
    initial: setup.state,
    initialViolations: setupViolations,
    threads: bound.threadOps.map((list) => list.map((p) => p.op)),
    choices: bound.choiceOps.map((c) => ({ op: c.planned.op, max: c.max })),
    ...(opts.invariants === undefined ? {} : { invariants: opts.invariants }),
    name: `kernel ${setup.preset} ${bound.doc.name}`,
  });

  // With 'all', remember every id any stored state violates (the result keeps only maxViolations traces).
  const all = opts.violations === 'all';
  const seenIds = new Set<number>();
  const searched = all
    ? Object.assign(Object.create(model) as KernelModel, {
        violations(s: KernelExploreState): readonly number[] {
          for (const v of s.viol) seenIds.add(v);
          return s.viol;
        },
      })
    : model;
  const result = explore(searched, opts);

  const first = result.violations[0];
  let ids: string[];
  if (all) ids = [...seenIds].map((i) => model.invariants[i] ?? `#${i}`);
  else if (first !== undefined) {
    const last = first.trace[first.trace.length - 1]!;
    ids = last.state.viol.map((i) => model.invariants[i] ?? `#${i}`);
  } else ids = [];
  ids = [...new Set(ids)].sort();

  // The trace: the setup, then the counterexample's steps re-executed with their events.
  const steps: TraceStep[] = [...setup.trace.steps];
  const seen = new Set<string>();
  for (const s of steps) for (const v of s.violations) seen.add(violationKey(v));
  let state = setup.state;
  if (first !== undefined) {
    let cur = first.trace[0]!.state;
    for (const t of first.trace.slice(1)) {
      const prev = cur;
      const r = model.apply(prev, t.action!);
      if (r === null) throw new Error(`explore: the counterexample's action ${t.label} is not enabled`);
      cur = r.next;
      state = cur.sys;
      const choice = model.isChoice(t.action!);
      const owner = model.ownerOf(t.action!);
      const planned = choice
        ? bound.choiceOps[owner]!.planned
        : bound.threadOps[owner]![prev.sys.threads[r.thread]!.pc]!;
      const step = planned.step;
      const op = namedOp(world, r.op);
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
        fingerprint: fingerprintHex({ hi: cur.sys.fpHi, lo: cur.sys.fpLo }),
      });
    }
  }

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
  const trace: Trace = {
    ...setup.trace,
    steps,
    verdict: { holds: ids.length === 0, violated: ids },
    expected,
    met,
    final: snapshotOf(world, state),
    notes: [
      ...setup.trace.notes.filter((n) => !n.includes('never fired')),
      ...reasons.map((r) => `not met: ${r}`),
    ],
  };
  return { model, result, violated: ids, expected, met, reasons, trace };
}
