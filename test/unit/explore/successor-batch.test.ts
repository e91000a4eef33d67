import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bfs } from '../../../src/explore/bfs.js';
import type { Model } from '../../../src/explore/model.js';
import { SuccessorBatch } from '../../../src/explore/successor-batch.js';

/** A graph on nodes 0..n-1: node i's successors by action id, and the nodes that violate the one invariant. */
interface Graph {
  readonly edges: readonly (readonly number[])[];
  readonly bad: readonly boolean[];
}

function graphModel(g: Graph): Model<number> {
  return {
    name: 'graph',
    actionCount: Math.max(1, ...g.edges.map((e) => e.length)),
    invariants: ['bad'],
    initialStates: () => [0],
    successors(s, emit) {
      const e = g.edges[s]!;
      for (let a = 0; a < e.length; a++) emit(a, e[a]!);
    },
    violations: (s) => (g.bad[s] ? [0] : []),
    // Node 1 fingerprints as 0: the set's own zero case goes through the batch too.
    fingerprint(s, out) {
      out[0] = s === 1 ? 0 : (Math.imul(s + 1, 0x9e3779b1) >>> 0) | 1;
      out[1] = s === 1 ? 0 : Math.imul(s, 0x85ebca6b) >>> 0;
    },
    actionLabel: (a) => `a${a}`,
  };
}

/**
 * Breadth-first search written plainly: each successor handled as it is yielded, the transitions
 * counted until the first violation (the engine counts none after it stops).
 */
function plainBfs(g: Graph): {
  states: number;
  transitions: number;
  firstBad: number | null;
  order: number[];
} {
  const seen = new Set<number>([0]);
  const order = [0];
  let transitions = 0;
  let firstBad: number | null = g.bad[0] ? 0 : null;
  for (let i = 0; i < order.length && firstBad === null; i++) {
    const e = g.edges[order[i]!]!;
    for (let a = 0; a < e.length && firstBad === null; a++) {
      transitions++;
      const t = e[a]!;
      if (seen.has(t)) continue;
      seen.add(t);
      order.push(t);
      if (g.bad[t]) firstBad = t;
    }
  }
  return { states: order.length, transitions, firstBad, order };
}

const graphs = fc.integer({ min: 1, max: 40 }).chain((n) =>
  fc.record({
    edges: fc.array(fc.array(fc.integer({ min: 0, max: n - 1 }), { maxLength: 6 }), {
      minLength: n,
      maxLength: n,
    }),
    bad: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
  }),
);

describe('SuccessorBatch: the breadth-first search looks successors up together', () => {
  it('stores, numbers and checks states as a search that handles each successor at once', () => {
    fc.assert(
      fc.property(graphs, (g) => {
        const want = plainBfs(g);
        const r = bfs(graphModel(g), {});
        expect(r.states).toBe(want.states);
        expect(r.transitions).toBe(want.transitions);
        if (want.firstBad === null) {
          expect(r.violations).toEqual([]);
          return;
        }
        const v = r.violations[0]!;
        expect(v.trace[v.trace.length - 1]!.state).toBe(want.firstBad);
        // The state ids follow the order successors were yielded: the path ends where the plain
        // search first met a violation, through parents it stored before it.
        for (let k = 1; k < v.trace.length; k++)
          expect(want.order.indexOf(v.trace[k - 1]!.state)).toBeLessThan(
            want.order.indexOf(v.trace[k]!.state),
          );
      }),
      { numRuns: 300 },
    );
  });

  it('keeps each successor with its action and fingerprint, in order, and lets go of them when cleared', () => {
    const g: Graph = { edges: [Array.from({ length: 100 }, (_, i) => i % 7)], bad: [false] };
    const model = graphModel(g);
    const batch = new SuccessorBatch(model);
    model.successors(0, batch.collect);
    expect(batch.size).toBe(100);
    const fp = new Uint32Array(2);
    for (let k = 0; k < batch.size; k++) {
      expect(batch.action(k)).toBe(k);
      expect(batch.state(k)).toBe(k % 7);
      model.fingerprint(k % 7, fp);
      expect([batch.hi(k), batch.lo(k)]).toEqual([fp[0], fp[1]]);
    }
    const touched: number[] = [];
    batch.touchAll({
      touch: (hi) => {
        touched.push(hi);
        return 0;
      },
    });
    expect(touched).toHaveLength(100);
    batch.clear();
    expect(batch.size).toBe(0);
    expect(batch.state(0)).toBeUndefined();
  });
});
