/**
 * Depth-first search with an explicit stack. A state is stored (and its invariants checked) when it
 * is first generated and pushed; popping a state expands it, so the search runs deep first. Its
 * counterexamples follow the search tree and are not shortest. With `shuffle` each state's new
 * successors are pushed in a seeded random order (swarm-style diversity between runs).
 *
 * As in Spin, a depth limit with eager marking can miss states: a state first reached at the limit
 * is not expanded, even if a shorter path to it exists; use breadth-first search to bound depth.
 */
import { FingerprintSet, FULL, NO_PARENT } from './fingerprint-set.js';
import { StateDeque } from './frontier.js';
import { DEFAULT_MEMORY_BUDGET, MemoryBudget } from './limits.js';
import type { Model } from './model.js';
import type { ExploreOptions } from './options.js';
import { Run } from './options.js';
import type { ExploreResult } from './result.js';
import { Rng } from './rng.js';

export function dfs<S>(model: Model<S>, options: ExploreOptions = {}): ExploreResult<S> {
  const run = new Run(model, options);
  const budget = new MemoryBudget(options.memoryBudget ?? DEFAULT_MEMORY_BUDGET);
  const inits = model.initialStates();
  const set = new FingerprintSet(budget, {
    actionCount: Math.max(model.actionCount, inits.length),
    ...(options.expectedStates === undefined ? {} : { expected: options.expectedStates }),
  });
  const stack = new StateDeque<S>(budget, model.codec, 2);
  const rng = options.shuffle ? new Rng(options.seed ?? 1) : null;
  const fp = run.fp;
  const fired = run.fired;
  const fresh = run.fresh;
  const maxStates = run.maxStates;

  // New successors of the state being expanded, pushed after it is expanded.
  const newStates: S[] = [];
  const newIds: number[] = [];
  const order: number[] = [];

  for (let i = inits.length - 1; i >= 0 && run.stop === null; i--) {
    const s = inits[i]!;
    model.fingerprint(s, fp);
    const id = set.add(fp[0]!, fp[1]!, NO_PARENT, i);
    if (id === FULL) run.stop = 'memory';
    if (id < 0) continue;
    if (!stack.push(s, id, 0)) run.stop = 'memory';
    run.check(s, 0, fp[0]!, fp[1]!, id);
    if (set.size >= maxStates) run.stop ??= 'max-states';
  }

  let cur = 0;
  let depth = 0;
  let deepest = 0;
  let expandedDepth = -1;
  let depthLimited = false;

  const emit = (action: number, t: S): void => {
    if (run.stop !== null) return;
    run.transitions++;
    fired[action]!++;
    model.fingerprint(t, fp);
    const hi = fp[0]!;
    const lo = fp[1]!;
    const id = set.add(hi, lo, cur, action);
    if (id < 0) {
      if (id === FULL) run.stop = 'memory';
      return;
    }
    fresh[action]!++;
    if (depth + 1 > deepest) deepest = depth + 1;
    newStates.push(t);
    newIds.push(id);
    run.check(t, depth + 1, hi, lo, id);
    if (set.size >= maxStates) run.stop ??= 'max-states';
  };

  while (stack.size > 0 && run.stop === null) {
    const s = stack.pop();
    cur = stack.tag0;
    depth = stack.tag1;
    if (depth >= run.maxDepth) {
      depthLimited = true;
      continue;
    }
    if (depth > expandedDepth) expandedDepth = depth;
    newStates.length = 0;
    newIds.length = 0;
    model.successors(s, emit);
    const n = newStates.length;
    if (n > 0) {
      order.length = n;
      // Reverse emission order by default, so the first successor is expanded first.
      for (let k = 0; k < n; k++) order[k] = n - 1 - k;
      if (rng) rng.shuffle(order, n);
      for (let k = 0; k < n; k++) {
        const j = order[k]!;
        if (!stack.push(newStates[j]!, newIds[j]!, depth + 1)) {
          run.stop ??= 'memory';
          break;
        }
      }
    }
    if (run.tick(set.size, depth, stack.size)) break;
  }

  const result = run.finish('dfs', set, budget, {
    states: set.size,
    depthCompleted: expandedDepth,
    maxDepth: deepest,
    frontier: stack.size,
    depthLimited,
  });
  newStates.length = 0;
  stack.clear();
  set.dispose();
  return result;
}
