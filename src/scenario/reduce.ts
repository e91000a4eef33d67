/**
 * A smaller version of an exploration scenario, for shrinking counterexamples and for replaying a
 * shrunk one (atsim explore --trace-out, atsim run --trace): which setup steps, thread steps and
 * choices it keeps (with what budget), and which functions of the machine. Pure.
 */
import { buildMachine, type Machine } from '../pci/topology.js';
import type { Bdf } from '../pci/bdf.js';
import { bindScenario, type BoundScenario } from './bind.js';
import type { ScenarioDoc } from './types.js';

/** What a reduced scenario keeps. Indices are 0-based positions in the scenario's lists. */
export interface Reduction {
  /** The setup steps kept (`steps:`), in order. */
  readonly steps: readonly number[];
  /** The threads kept, in order: the thread's position in `threads:` and the positions of its steps kept. */
  readonly threads: readonly { readonly index: number; readonly steps: readonly number[] }[];
  /** The choices kept, in order, each with its budget (at most the scenario's `max`). */
  readonly choices: readonly { readonly index: number; readonly max: number }[];
  /** The machine's functions kept (by BDF, sorted); null: the whole machine. */
  readonly functions: readonly Bdf[] | null;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** The reduction that keeps everything. */
export function fullReduction(doc: ScenarioDoc): Reduction {
  return {
    steps: range(doc.steps.length),
    threads: doc.threads.map((t, index) => ({ index, steps: range(t.length) })),
    choices: doc.choices.map((c, index) => ({ index, max: c.max })),
    functions: null,
  };
}

/** Whether `r` keeps everything of `doc` (the scenario itself). */
export function isFullReduction(doc: ScenarioDoc, r: Reduction): boolean {
  const full = fullReduction(doc);
  return JSON.stringify({ ...r, functions: null }) === JSON.stringify(full) && r.functions === null;
}

/** Checks that `r` fits `doc` (indices in range, budgets within `max`); returns a reason, or null. */
export function reductionProblem(doc: ScenarioDoc, r: Reduction): string | null {
  const inRange = (xs: readonly number[], n: number): boolean =>
    xs.every((x, i) => Number.isInteger(x) && x >= 0 && x < n && (i === 0 || x > xs[i - 1]!));
  if (!inRange(r.steps, doc.steps.length))
    return `steps: expected increasing indices below ${doc.steps.length}`;
  if (
    !inRange(
      r.threads.map((t) => t.index),
      doc.threads.length,
    )
  )
    return `threads: expected increasing indices below ${doc.threads.length}`;
  for (const t of r.threads)
    if (!inRange(t.steps, doc.threads[t.index]!.length))
      return `threads[${t.index}].steps: expected increasing indices below ${doc.threads[t.index]!.length}`;
  if (
    !inRange(
      r.choices.map((c) => c.index),
      doc.choices.length,
    )
  )
    return `choices: expected increasing indices below ${doc.choices.length}`;
  for (const c of r.choices) {
    const max = doc.choices[c.index]!.max;
    if (!Number.isInteger(c.max) || c.max < 1 || c.max > max)
      return `choices[${c.index}].max: expected 1 to ${max}`;
  }
  return null;
}

/** The scenario document `r` describes (steps keep their original index and line, for reports). */
export function reduceDoc(doc: ScenarioDoc, r: Reduction): ScenarioDoc {
  const steps = r.steps.map((i) => doc.steps[i]!);
  return {
    ...doc,
    steps,
    threads: r.threads.map((t) => t.steps.map((i) => doc.threads[t.index]![i]!)),
    choices: r.choices.map((c) => ({ ...doc.choices[c.index]!, max: c.max })),
    implicitBoot: !steps.some((s) => s.op === 'boot'),
  };
}

/**
 * The machine with only the functions `keep` names. A function whose upstream bridge or PF is
 * dropped is dropped too. The topology is rebuilt from the kept functions' descriptions.
 */
export function reduceMachine(machine: Machine, keep: readonly Bdf[]): Machine {
  const want = new Set(keep);
  const kept: boolean[] = [];
  for (const mf of machine.functions) kept[mf.index] = want.has(mf.fn.bdf);
  // Parents come before children in BDF order only by accident: follow the links to a fixpoint.
  for (let changed = true; changed;) {
    changed = false;
    for (const mf of machine.functions) {
      if (!kept[mf.index]) continue;
      const up = mf.physfn ?? mf.parent;
      if (up !== null && !kept[up]) {
        kept[mf.index] = false;
        changed = true;
      }
    }
  }
  const fns = machine.functions.filter((mf) => kept[mf.index]);
  return buildMachine(
    fns.map((mf) => mf.fn),
    { externalFacing: fns.filter((mf) => mf.externalFacing).map((mf) => mf.fn.bdf) },
  );
}

/**
 * Binds the reduced scenario. `machine` is the scenario's machine as loaded (before VF slots were
 * added; default: the bound scenario's), cut down to `r.functions` when those are given.
 * Throws an InputError when the reduced scenario does not bind (a step names a dropped function).
 */
export function bindReduced(bound: BoundScenario, r: Reduction, machine?: Machine): BoundScenario {
  const doc = reduceDoc(bound.doc, r);
  const m = r.functions === null ? bound.machine : reduceMachine(machine ?? bound.machine, r.functions);
  return bindScenario(doc, m);
}
