/**
 * Random walks: `walks` runs (default 1000), each from a random initial state, each step to a
 * uniformly chosen successor, for at most `maxDepth` steps (default 1000) or until a state has no
 * successor. Walk k uses PRNG stream k of `seed`, so any walk can be re-run on its own. Invariants
 * are checked on every state of every walk; the walk itself is the counterexample (re-executed
 * like any other trace). Distinct states visited are counted in a fingerprint set without trace
 * data, for coverage; when that set reaches the memory budget the walks stop (`memory`).
 */
import { FingerprintSet, FULL } from './fingerprint-set.js';
import { DEFAULT_MEMORY_BUDGET, MemoryBudget } from './limits.js';
import type { Model } from './model.js';
import type { ExploreOptions } from './options.js';
import { Run } from './options.js';
import type { ExploreResult } from './result.js';
import { Rng } from './rng.js';

export const DEFAULT_WALKS = 1000;
export const DEFAULT_WALK_LENGTH = 1000;

export function randomWalks<S>(model: Model<S>, options: ExploreOptions = {}): ExploreResult<S> {
  const run = new Run(model, options);
  const budget = new MemoryBudget(options.memoryBudget ?? DEFAULT_MEMORY_BUDGET);
  const set = new FingerprintSet(budget, { trace: false });
  const inits = model.initialStates();
  const walks = options.walks ?? DEFAULT_WALKS;
  const length = options.maxDepth ?? DEFAULT_WALK_LENGTH;
  const seed = options.seed ?? 1;
  const fp = run.fp;
  const fired = run.fired;
  const fresh = run.fresh;
  const succActions: number[] = [];
  const succStates: S[] = [];
  const collect = (action: number, t: S): void => {
    succActions.push(action);
    succStates.push(t);
  };
  let walksRun = 0;
  let deepest = 0;

  const visit = (s: S, depth: number, initial: number, actions: number[]): boolean => {
    model.fingerprint(s, fp);
    const hi = fp[0]!;
    const lo = fp[1]!;
    const id = set.add(hi, lo, 0, 0);
    if (id === FULL) run.stop ??= 'memory';
    else if (id >= 0 && actions.length > 0) fresh[actions[actions.length - 1]!]!++;
    if (model.violations(s).length === 0) return false;
    run.check(s, depth, hi, lo, undefined, { initial, actions: actions.slice() });
    return true;
  };

  for (let w = 0; w < walks && !run.stopped(); w++) {
    const rng = new Rng(seed, w);
    const initial = rng.below(inits.length);
    let s = inits[initial]!;
    const actions: number[] = [];
    walksRun++;
    if (visit(s, 0, initial, actions)) continue;
    for (let step = 0; step < length && !run.stopped(); step++) {
      succActions.length = 0;
      succStates.length = 0;
      model.successors(s, collect);
      const n = succActions.length;
      if (n === 0) break;
      run.transitions += n;
      for (let k = 0; k < n; k++) fired[succActions[k]!]!++;
      const j = rng.below(n);
      actions.push(succActions[j]!);
      s = succStates[j]!;
      if (step + 1 > deepest) deepest = step + 1;
      if (visit(s, step + 1, initial, actions)) break;
      if (run.tick(set.size, w, 0)) break;
    }
  }
  succStates.length = 0;

  const result = run.finish('random', null, budget, {
    states: set.size,
    depthCompleted: deepest,
    maxDepth: deepest,
    frontier: 0,
    walks: walksRun,
  });
  set.dispose();
  return result;
}
