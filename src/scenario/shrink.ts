/**
 * Shrinking a counterexample (atsim explore): a smaller scenario that still violates the same
 * invariant. Breadth-first search already gives a shortest counterexample in steps; shrinking
 * removes what the violation does not need: threads, choices, choice budget, thread steps, setup
 * steps, and functions of the machine. Each candidate is a reduced scenario (reduce.ts) explored
 * breadth-first again, with only the target invariant counted as a violation; a candidate is kept
 * when that search finds it, and its (shortest) counterexample replaces the current one. Greedy:
 * candidates are tried from the biggest cut to the smallest, and after each success the list is
 * rebuilt, until none succeeds or the time budget is spent. Pure.
 */
import { InputError } from '../diagnostics.js';
import { explore } from '../explore/explore.js';
import { NO_VIOLATIONS } from '../explore/model.js';
import type { KernelExploreState, KernelModel } from '../explore/models/kernel.js';
import type { Machine } from '../pci/topology.js';
import type { Bdf } from '../pci/bdf.js';
import type { BoundScenario } from './bind.js';
import { prepareExploration, type Exploration, type ScenarioExploreOptions } from './explore.js';
import { bindReduced, fullReduction, reduceDoc, type Reduction } from './reduce.js';

export interface ShrinkOptions extends Pick<ScenarioExploreOptions, 'preset' | 'overrides' | 'invariants'> {
  /** The scenario's machine as loaded; without it the machine is not shrunk. */
  readonly machine?: Machine;
  /** Distinct states each candidate's search may store (default 100,000). */
  readonly maxStatesPerTry?: number;
  /** The whole shrink's time budget (default 30 s); when spent, the best so far is returned. */
  readonly timeLimitMs?: number;
  /** Called after each candidate is explored (for progress). */
  readonly onTry?: (tries: number, kept: number) => void;
  /** A clock, for tests (default Date.now). */
  readonly now?: () => number;
}

/** How big a scenario is, for reports. */
export interface ScenarioSize {
  readonly setupSteps: number;
  readonly threads: number;
  readonly threadSteps: number;
  readonly choices: number;
  /** The choices' budgets summed. */
  readonly budget: number;
  readonly functions: number;
  /** Steps of the counterexample after the setup. */
  readonly depth: number;
}

export interface Shrunk {
  readonly invariant: string;
  readonly reduction: Reduction;
  readonly bound: BoundScenario;
  readonly exploration: Exploration;
  /** The counterexample in the reduced scenario: action ids of its model. */
  readonly actions: readonly number[];
  readonly before: ScenarioSize;
  readonly after: ScenarioSize;
  /** Candidates explored, and how many were kept. */
  readonly tries: number;
  readonly kept: number;
  /** The time budget ran out before every candidate was tried. */
  readonly timedOut: boolean;
}

function sizeOf(bound: BoundScenario, depth: number): ScenarioSize {
  const d = bound.doc;
  return {
    setupSteps: d.steps.length,
    threads: d.threads.length,
    threadSteps: d.threads.reduce((n, t) => n + t.length, 0),
    choices: d.choices.length,
    budget: d.choices.reduce((n, c) => n + c.max, 0),
    functions: bound.machine.functions.length,
    depth,
  };
}

/** The BDFs a reduced scenario names (steps, faults, groups, requireDirect): its machine must keep them. */
function namedBdfs(bound: BoundScenario, r: Reduction): Set<Bdf> {
  const doc = reduceDoc(bound.doc, r);
  const out = new Set<Bdf>();
  for (const s of [...doc.faults, ...doc.steps, ...doc.threads.flat(), ...doc.choices.map((c) => c.step)])
    if (s.bdf !== null) out.add(s.bdf);
  for (const g of doc.groups) for (const b of g) out.add(b.bdf);
  for (const b of doc.requireDirect) out.add(b.bdf);
  return out;
}

/** The function `root` of `machine` and everything below it (a bridge's buses, a PF's VFs). */
function subtree(machine: Machine, root: number): Set<number> {
  const out = new Set<number>([root]);
  for (let changed = true; changed;) {
    changed = false;
    for (const mf of machine.functions) {
      if (out.has(mf.index)) continue;
      const up = mf.physfn ?? mf.parent;
      if (up !== null && out.has(up)) {
        out.add(mf.index);
        changed = true;
      }
    }
  }
  return out;
}

function without<T>(xs: readonly T[], i: number): T[] {
  return xs.filter((_, j) => j !== i);
}

/** Candidate reductions of `r`, biggest cut first. */
function candidates(bound: BoundScenario, r: Reduction, machine: Machine | undefined): Reduction[] {
  const out: Reduction[] = [];
  r.threads.forEach((_, i) => out.push({ ...r, threads: without(r.threads, i) }));
  r.choices.forEach((_, i) => out.push({ ...r, choices: without(r.choices, i) }));
  if (machine !== undefined) {
    const kept = r.functions === null ? machine.functions.map((mf) => mf.fn.bdf) : r.functions;
    const keptSet = new Set(kept);
    const named = namedBdfs(bound, r);
    // Functions nearest the root first: removing one removes everything below it.
    const depthOf = (i: number): number => {
      let d = 0;
      for (let mf = machine.functions[i]!; ; d++) {
        const up = mf.physfn ?? mf.parent;
        if (up === null) return d;
        mf = machine.functions[up]!;
      }
    };
    const order = machine.functions
      .filter((mf) => keptSet.has(mf.fn.bdf))
      .map((mf) => mf.index)
      .sort((a, b) => depthOf(a) - depthOf(b) || a - b);
    for (const i of order) {
      const gone = subtree(machine, i);
      const goneBdfs = new Set([...gone].map((k) => machine.functions[k]!.fn.bdf));
      if ([...named].some((b) => goneBdfs.has(b))) continue;
      out.push({ ...r, functions: kept.filter((b) => !goneBdfs.has(b)) });
    }
  }
  r.choices.forEach((c, i) => {
    if (c.max > 1)
      out.push({ ...r, choices: r.choices.map((x, j) => (j === i ? { ...x, max: x.max - 1 } : x)) });
  });
  r.threads.forEach((t, i) => {
    for (let k = t.steps.length - 1; k >= 0; k--) {
      if (t.steps.length === 1) continue; // dropping the thread is tried above
      out.push({
        ...r,
        threads: r.threads.map((x, j) => (j === i ? { ...x, steps: without(x.steps, k) } : x)),
      });
    }
  });
  for (let k = r.steps.length - 1; k >= 0; k--) out.push({ ...r, steps: without(r.steps, k) });
  return out;
}

/** The reduction a counterexample needs at most: the threads it stepped (as far as it got) and the choices it fired (as often). */
function usedPart(x: Exploration, actions: readonly number[]): Reduction {
  const r = fullReduction(x.bound.doc);
  const model = x.model;
  let s: KernelExploreState = model.initialStates()[0]!;
  for (const a of actions) s = model.apply(s, a)!.next;
  const threads = r.threads
    .map((t, i) => {
      const th = s.sys.threads[1 + i]!;
      const reached = th.pc + (th.cont === null ? 0 : 1);
      return { ...t, steps: t.steps.slice(0, Math.min(reached, t.steps.length)) };
    })
    .filter((t) => t.steps.length > 0);
  // A firing that is still in progress has already been counted off the budget.
  const choices = r.choices.map((c, i) => ({ ...c, max: c.max - s.budgets[i]! })).filter((c) => c.max > 0);
  return { ...r, threads, choices };
}

/**
 * Shrinks the counterexample `actions` (action ids of `x.model`, from its initial state) that
 * violates `invariant`. Returns null when the counterexample cannot be reproduced at all.
 */
export function shrinkCounterexample(
  x: Exploration,
  actions: readonly number[],
  invariant: string,
  opts: ShrinkOptions = {},
): Shrunk | null {
  const now = opts.now ?? Date.now;
  const start = now();
  const budget = opts.timeLimitMs ?? 30_000;
  const perTry = opts.maxStatesPerTry ?? 100_000;
  const bound = x.bound;
  const st = { tries: 0, kept: 0, timedOut: false };

  const attempt = (r: Reduction): { b: BoundScenario; x: Exploration; actions: number[] } | null => {
    const left = budget - (now() - start);
    if (left <= 0) {
      st.timedOut = true;
      return null;
    }
    st.tries++;
    let b: BoundScenario;
    let y: Exploration;
    try {
      b = bindReduced(bound, r, opts.machine);
      y = prepareExploration(b, opts);
    } catch (e) {
      if (e instanceof InputError) return null;
      throw e;
    }
    if (y.setup.trace.error !== null) return null;
    const m = y.model;
    const target = Object.assign(Object.create(m) as KernelModel, {
      violations(s: KernelExploreState): readonly number[] {
        for (const i of s.viol) if (m.invariants[i] === invariant) return [i];
        return NO_VIOLATIONS;
      },
    });
    const res = explore(target, { strategy: 'bfs', maxStates: perTry, timeLimitMs: left });
    if (res.stopReason === 'time') st.timedOut = true;
    opts.onTry?.(st.tries, st.kept);
    const v = res.violations[0];
    if (v === undefined) return null;
    return { b, x: y, actions: v.trace.slice(1).map((t) => t.action!) };
  };

  let r = usedPart(x, actions);
  let best = attempt(r);
  if (best === null) {
    r = fullReduction(bound.doc);
    best = attempt(r);
    if (best === null) return null;
  } else st.kept++;
  const timeUp = (): boolean => st.timedOut;
  for (let changed = true; changed && !timeUp();) {
    changed = false;
    for (const c of candidates(bound, r, opts.machine)) {
      const got = attempt(c);
      if (timeUp()) break;
      if (got === null) continue;
      r = c;
      best = got;
      st.kept++;
      changed = true;
      break;
    }
  }
  return {
    invariant,
    reduction: r,
    bound: best.b,
    exploration: best.x,
    actions: best.actions,
    before: sizeOf(bound, actions.length),
    after: sizeOf(best.b, best.actions.length),
    tries: st.tries,
    kept: st.kept,
    timedOut: st.timedOut,
  };
}
