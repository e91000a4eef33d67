/**
 * Breadth-first search: level by level, so the first violation found is at the least depth and its
 * trace (rebuilt from parent pointers) is a shortest counterexample. Invariants are checked when a
 * state is first stored, not when it is expanded, so the search stops as soon as a bad state is
 * generated.
 *
 * States get ids in the order they are stored, and the FIFO queue pops them in the same order, so
 * the id of the state being expanded is a counter: the queue holds only the states (packed with the
 * model's codec when it has one), and the parent of every new state is that counter.
 */
import { FingerprintSet, FULL, NO_PARENT } from './fingerprint-set.js';
import { StateDeque } from './frontier.js';
import { DEFAULT_MEMORY_BUDGET, MemoryBudget } from './limits.js';
import type { Model } from './model.js';
import type { ExploreOptions } from './options.js';
import { ownerOf, Run } from './options.js';
import type { ExploreResult } from './result.js';
import { SuccessorBatch } from './successor-batch.js';

export function bfs<S>(model: Model<S>, options: ExploreOptions = {}): ExploreResult<S> {
  const run = new Run(model, options);
  const budget = new MemoryBudget(options.memoryBudget ?? DEFAULT_MEMORY_BUDGET);
  const inits = model.initialStates();
  const set = new FingerprintSet(budget, {
    actionCount: Math.max(model.actionCount, inits.length),
    ...(options.expectedStates === undefined ? {} : { expected: options.expectedStates }),
  });
  const queue = new StateDeque<S>(budget, model.codec, 0);
  const fp = run.fp;
  const fired = run.fired;
  const fresh = run.fresh;
  const maxStates = run.maxStates;
  const split = options.split;
  if (split && !(split.count >= 1 && split.index >= 0 && split.index < split.count))
    throw new Error(`bfs: bad split ${split.index}/${split.count}`);
  const minFrontier = split ? (split.minFrontier ?? 64 * split.count) : 0;
  let splitDepth = -1;
  let skipped = 0;

  for (let i = 0; i < inits.length && run.stop === null; i++) {
    const s = inits[i]!;
    model.fingerprint(s, fp);
    const id = set.add(fp[0]!, fp[1]!, NO_PARENT, i);
    if (id === FULL) run.stop = 'memory';
    if (id < 0) continue;
    if (!queue.push(s, 0, 0)) run.stop = 'memory';
    run.check(s, 0, fp[0]!, fp[1]!, id);
    if (set.size >= maxStates) run.stop ??= 'max-states';
  }

  // The state being expanded: its id and depth.
  let cur = 0;
  let depth = 0;
  let levelStart = 0;
  let levelEnd = set.size;
  let depthCompleted = -1;
  let maxStored = 0;
  let depthLimited = false;

  // The successors of the state being expanded, looked up together (successor-batch.ts).
  const batch = new SuccessorBatch(model);
  const handleBatch = (): void => {
    batch.touchAll(set);
    for (let k = 0; k < batch.size && run.stop === null; k++) {
      const action = batch.action(k);
      run.transitions++;
      fired[action]!++;
      const hi = batch.hi(k);
      const lo = batch.lo(k);
      const id = set.add(hi, lo, cur, action);
      if (id < 0) {
        if (id === FULL) run.stop = 'memory';
        continue;
      }
      fresh[action]!++;
      maxStored = depth + 1;
      const t = batch.state(k);
      if (!queue.push(t, 0, 0)) run.stop = 'memory';
      run.check(t, depth + 1, hi, lo, id);
      if (set.size >= maxStates) run.stop ??= 'max-states';
    }
    batch.clear();
  };

  while (queue.size > 0 && run.stop === null) {
    if (cur === levelEnd) {
      depthCompleted = depth;
      depth++;
      levelStart = cur;
      levelEnd = set.size;
    }
    if (depth >= run.maxDepth) {
      depthLimited = true;
      break;
    }
    // Slices split at the first level (seen at its start, when the queue holds exactly that level) that is wide enough.
    if (split && splitDepth < 0 && cur === levelStart && queue.size >= minFrontier) splitDepth = depth;
    const s = queue.shift();
    if (depth === splitDepth) {
      model.fingerprint(s, fp);
      if (ownerOf(fp[0]!, fp[1]!, split!.count) !== split!.index) {
        skipped++;
        cur++;
        continue;
      }
    }
    model.successors(s, batch.collect);
    handleBatch();
    cur++;
    if (run.tick(set.size, depth, queue.size)) break;
  }
  if (queue.size === 0 && run.stop === null) depthCompleted = depth;

  const result = run.finish('bfs', set, budget, {
    states: set.size,
    depthCompleted,
    maxDepth: maxStored,
    frontier: queue.size,
    depthLimited,
    ...(options.collectFingerprints ? { fingerprints: set.sorted() } : {}),
    ...(split ? { split: { depth: splitDepth, skipped } } : {}),
  });
  queue.clear();
  set.dispose();
  return result;
}
