import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bfs } from '../../../src/explore/bfs.js';
import { dfs } from '../../../src/explore/dfs.js';
import { explore } from '../../../src/explore/explore.js';
import type { Model } from '../../../src/explore/model.js';
import { AtsReference, atsReferencePromela } from '../../../src/explore/models/ats-reference.js';
import { randomWalks } from '../../../src/explore/random-walk.js';
import type { ExploreResult, Progress } from '../../../src/explore/result.js';
import { resultToJson } from '../../../src/explore/result.js';
import { replay } from '../../../src/explore/trace.js';

const ats = (devices: number, pages: number, bug = false): AtsReference =>
  new AtsReference({ devices, pages, ...(bug ? { bug: 'flr-keeps-atc' as const } : {}) });

/** The Appendix A model with array states, written independently of the packed one. */
function arrayModel(D: number, P: number): Model<number[]> {
  const NV = 3 * P + D + 2 * D * P;
  const iK = (p: number): number => p;
  const iM = (p: number): number => P + p;
  const iF = (p: number): number => 2 * P + p;
  const iA = (d: number): number => 3 * P + d;
  const iC = (d: number, p: number): number => 3 * P + D + d * P + p;
  const iPd = (d: number, p: number): number => 3 * P + D + D * P + d * P + p;
  const init = new Array<number>(NV).fill(0);
  for (let p = 0; p < P; p++) init[iM(p)] = 1;
  for (let d = 0; d < D; d++) init[iA(d)] = 1;
  return {
    name: 'array',
    actionCount: 1,
    invariants: ['inv'],
    initialStates: () => [init],
    successors(s, emit) {
      const go = (t: number[]): void => {
        emit(0, t);
      };
      for (let p = 0; p < P; p++) {
        if (s[iK(p)] === 0) {
          const t = s.slice();
          t[iM(p)] = 0;
          for (let d = 0; d < D; d++) if (t[iA(d)]) t[iPd(d, p)] = 1;
          t[iK(p)] = 1;
          go(t);
        }
        if (s[iK(p)] === 1) {
          let ok = true;
          for (let d = 0; d < D; d++) if (s[iPd(d, p)]) ok = false;
          if (ok) {
            const t = s.slice();
            t[iK(p)] = 2;
            t[iF(p)] = 1;
            go(t);
          }
        }
        if (s[iK(p)] === 2) {
          const t = s.slice();
          t[iF(p)] = 0;
          t[iM(p)] = 1;
          t[iK(p)] = 0;
          go(t);
        }
        for (let d = 0; d < D; d++) {
          if (s[iA(d)] && s[iM(p)] && !s[iC(d, p)]) {
            const t = s.slice();
            t[iC(d, p)] = 1;
            go(t);
          }
          if (s[iPd(d, p)]) {
            const t = s.slice();
            t[iC(d, p)] = 0;
            t[iPd(d, p)] = 0;
            go(t);
          }
        }
      }
      for (let d = 0; d < D; d++) {
        const t = s.slice();
        if (s[iA(d)]) {
          t[iA(d)] = 0;
          for (let p = 0; p < P; p++) {
            t[iC(d, p)] = 0;
            t[iPd(d, p)] = 0;
          }
        } else t[iA(d)] = 1;
        go(t);
      }
    },
    violations: () => [],
    fingerprint(s, out) {
      let h = 0x811c9dc5;
      let g = 0x2545f491;
      for (const v of s) {
        h = Math.imul(h ^ v, 0x01000193);
        g = Math.imul(g ^ (v + 7), 0x5bd1e995) ^ (g >>> 15);
      }
      out[0] = h >>> 0;
      out[1] = g >>> 0;
    },
    actionLabel: () => 'step',
  };
}

function expectReplays<S>(model: Model<S>, r: ExploreResult<S>): void {
  const v = r.violations[0]!;
  expect(v.trace.length).toBe(v.depth + 1);
  expect(v.trace[0]!.action).toBeNull();
  const again = replay(model, { initial: 0, actions: v.trace.slice(1).map((t) => t.action!) }, v.fingerprint);
  expect(again.map((t) => t.fingerprint)).toEqual(v.trace.map((t) => t.fingerprint));
  expect(model.violations(v.trace[v.trace.length - 1]!.state)).toEqual([v.invariant]);
  for (const t of v.trace.slice(0, -1)) expect(model.violations(t.state)).toEqual([]);
}

describe('the reference ATS/ATC model', () => {
  it('D=2, P=2: 277 distinct states and 1,356 transitions, breadth-first and depth-first', () => {
    for (const r of [bfs(ats(2, 2)), dfs(ats(2, 2))]) {
      expect(r.states).toBe(277);
      expect(r.transitions).toBe(1356);
      expect(r.stopReason).toBe('exhausted');
      expect(r.complete).toBe(true);
      expect(r.frontier).toBe(0);
      expect(r.violations).toEqual([]);
    }
  });

  it('D=3, P=3: 55,563 distinct states, the same as an array-state model of Appendix A', () => {
    const r = bfs(ats(3, 3));
    expect(r.states).toBe(55_563);
    expect(r.transitions).toBe(503_334);
    expect(r.depthCompleted).toBe(r.maxDepth);
    expect(dfs(ats(3, 3)).states).toBe(55_563);
    const a = bfs(arrayModel(3, 3));
    expect(a.states).toBe(55_563);
    expect(a.transitions).toBe(503_334);
    expect(a.maxDepth).toBe(r.maxDepth);
  });

  it('coverage counts every transition and every first visit', () => {
    const r = bfs(ats(2, 2));
    expect(r.coverage.reduce((n, c) => n + c.fired, 0)).toBe(1356);
    expect(r.coverage.reduce((n, c) => n + c.newStates, 0)).toBe(277 - 1);
    expect(r.coverage.map((c) => c.label)).toContain('flr d1');
    expect(r.coverage.every((c) => c.fired > 0)).toBe(true);
    expect(r.collision.calculated).toBeCloseTo((277 * (1356 - 277)) / 2 ** 64, 30);
    expect(r.collision.birthday).toBeCloseTo((277 * 277) / 2 ** 65, 30);
  });

  it('the bug variant: breadth-first finds the shortest violation, at depth 6, and its trace replays', () => {
    const model = ats(3, 4, true);
    const r = bfs(model);
    expect(r.stopReason).toBe('violation');
    expect(r.complete).toBe(false);
    expect(r.violations).toHaveLength(1);
    const v = r.violations[0]!;
    expect(v.depth).toBe(6);
    expect(v.invariantName).toBe('no-atc-entry-for-freed-page');
    expect(v.trace.map((t) => t.label)).toEqual([
      'initial',
      'translate d0 p0',
      'unmap p0',
      'invalidate d1 p0',
      'invalidate d2 p0',
      'flr d0',
      'sync-free p0',
    ]);
    expectReplays(model, r);
    // Found while expanding depth 5: depth 4 was fully expanded, so every state of depth <= 5 was checked.
    expect(r.depthCompleted).toBe(4);
    const json = resultToJson(model, r);
    expect(json.violations[0]!.trace[6]).toMatchObject({
      action: 'sync-free p0',
      state: { pages: ['freed', 'mapped', 'mapped', 'mapped'], ats: [false, true, true] },
    });
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });

  it('the bug variant: depth-first search and random walks find it too, with replayable traces', () => {
    const model = ats(3, 3, true);
    const d = dfs(model);
    expect(d.stopReason).toBe('violation');
    expect(d.violations[0]!.depth).toBeGreaterThanOrEqual(6);
    expectReplays(model, d);
    const s = dfs(model, { shuffle: true, seed: 7 });
    expect(s.stopReason).toBe('violation');
    expectReplays(model, s);
    const w = randomWalks(model, { walks: 200, maxDepth: 200, seed: 3 });
    expect(w.stopReason).toBe('violation');
    expect(w.violations[0]!.depth).toBeGreaterThanOrEqual(6);
    expectReplays(model, w);
    // Seeded: the same walk again.
    const w2 = randomWalks(model, { walks: 200, maxDepth: 200, seed: 3 });
    expect(w2.violations[0]!.fingerprint).toBe(w.violations[0]!.fingerprint);
    expect(w2.walks).toBe(w.walks);
  });

  it('reports all violations when asked, each with its own trace', () => {
    const model = ats(2, 2, true);
    const r = explore(model, { violations: 'all', maxViolations: 1000 });
    expect(r.stopReason).toBe('exhausted');
    expect(r.violations.length).toBeGreaterThan(1);
    expect(new Set(r.violations.map((v) => v.fingerprint)).size).toBe(r.violations.length);
    const depths = r.violations.map((v) => v.depth);
    expect(depths).toEqual([...depths].sort((a, b) => a - b));
    for (const v of r.violations) {
      expect(v.trace).toHaveLength(v.depth + 1);
      expect(model.violations(v.trace[v.trace.length - 1]!.state)).toEqual([0]);
    }
    const capped = explore(model, { violations: 'all', maxViolations: 3 });
    expect(capped.violations).toHaveLength(3);
    expect(capped.states).toBe(r.states);
    // Every strategy names what was violated, also past the violations kept.
    for (const x of [capped, explore(model, { strategy: 'dfs', violations: 'all', maxViolations: 1 })])
      expect(x.invariantsViolated).toEqual(['no-atc-entry-for-freed-page']);
    expect(explore(ats(2, 2)).invariantsViolated).toEqual([]);
  });

  it('random walks without a bug run every walk and count the distinct states they saw', () => {
    const r = randomWalks(ats(2, 2), { walks: 50, maxDepth: 100, seed: 1 });
    expect(r.stopReason).toBe('walks-done');
    expect(r.walks).toBe(50);
    expect(r.transitions).toBeGreaterThan(50 * 100);
    expect(r.states).toBeGreaterThan(100);
    expect(r.states).toBeLessThanOrEqual(277);
  });

  it('rejects sizes that do not fit the packed state', () => {
    expect(() => ats(4, 5)).toThrow(/does not fit/);
    expect(() => ats(0, 2)).toThrow(/positive/);
  });
});

describe('limits stop the search cleanly', () => {
  it('max states', () => {
    const r = bfs(ats(3, 3), { maxStates: 1000 });
    expect(r.stopReason).toBe('max-states');
    expect(r.states).toBe(1000);
    expect(r.complete).toBe(false);
    expect(r.frontier).toBeGreaterThan(0);
    expect(r.depthCompleted).toBeLessThan(r.maxDepth);
    const d = dfs(ats(3, 3), { maxStates: 1000 });
    expect(d.stopReason).toBe('max-states');
    expect(d.states).toBe(1000);
  });

  it('max depth: everything above the limit, nothing expanded at it', () => {
    const r = bfs(ats(3, 3), { maxDepth: 4 });
    expect(r.stopReason).toBe('max-depth');
    expect(r.depthCompleted).toBe(3);
    expect(r.maxDepth).toBe(4);
    expect(r.frontier).toBeGreaterThan(0);
    const full = bfs(ats(3, 3), { maxDepth: 100 });
    expect(full.stopReason).toBe('exhausted');
    // The bug at depth 6 is out of reach at depth 5 and found at 6.
    expect(bfs(ats(3, 3, true), { maxDepth: 5 }).violations).toEqual([]);
    expect(bfs(ats(3, 3, true), { maxDepth: 6 }).violations[0]!.depth).toBe(6);
    const d = dfs(ats(3, 3), { maxDepth: 4 });
    expect(d.stopReason).toBe('max-depth');
    expect(d.maxDepth).toBe(4);
  });

  it('memory budget: stops with "memory" and says what was covered, for each strategy', () => {
    const budget = 2 * 1024 * 1024;
    for (const r of [
      bfs(ats(3, 4), { memoryBudget: budget }),
      dfs(ats(3, 4), { memoryBudget: budget }),
      randomWalks(ats(3, 4), { memoryBudget: 200_000, walks: 500, maxDepth: 1000 }),
    ]) {
      expect(r.stopReason).toBe('memory');
      expect(r.peakBytes).toBeLessThanOrEqual(r.strategy === 'random' ? 200_000 : budget);
      expect(r.states).toBeGreaterThan(10_000);
    }
  });

  it('time limit', () => {
    const r = bfs(ats(3, 4), { timeLimitMs: 50 });
    expect(r.stopReason).toBe('time');
    expect(r.states).toBeLessThan(1_798_833);
    expect(r.elapsedMs).toBeLessThan(5000);
  });

  it('progress callback, and cancelling from it', () => {
    const seen: Progress[] = [];
    const r = bfs(ats(3, 3), {
      progressPeriodMs: 0,
      onProgress: (p) => {
        seen.push(p);
        return seen.length < 3;
      },
    });
    expect(r.stopReason).toBe('cancelled');
    expect(seen).toHaveLength(3);
    expect(seen[1]!.states).toBeGreaterThan(seen[0]!.states);
    expect(seen[0]!.queue).toBeGreaterThan(0);
    expect(seen[0]!.statesPerSecond).toBeGreaterThan(0);
  });
});

describe('the Promela generator', () => {
  it("writes Appendix A's model", () => {
    const pml = atsReferencePromela({ devices: 2, pages: 2 });
    expect(pml).toContain('#define D 2\n#define P 2');
    expect(pml).toContain('kst[1]==1 && pend[1]==0 && pend[3]==0 -> kst[1]=2; freed[1]=1');
    expect(pml).toContain('ltl inv { [] (!(atc[0] && freed[0]) && !(atc[1] && freed[1])');
    expect(atsReferencePromela({ devices: 2, pages: 2, bug: 'flr-keeps-atc' })).not.toContain(
      'ats[0]=0; atc[0]=0',
    );
    expect(pml).toContain('ats[0]=0; atc[0]=0; pend[0]=0;');
  });

  // Spin is an oracle: when it is missing the test fails (scripts/setup.sh installs Debian's spin).
  it('Spin stores one state more (its pre-init state) than the explorer, D=2 P=2', () => {
    if (spawnSync('sh', ['-c', 'command -v spin && command -v gcc']).status !== 0) {
      throw new Error('spin and gcc are required (Debian packages spin and gcc): apt-get install spin');
    }
    const dir = mkdtempSync(join(tmpdir(), 'atsim-spin-'));
    try {
      writeFileSync(join(dir, 'm.pml'), atsReferencePromela({ devices: 2, pages: 2 }));
      execFileSync('spin', ['-a', 'm.pml'], { cwd: dir, stdio: 'pipe' });
      execFileSync('gcc', ['-O1', '-DSAFETY', '-DNOREDUCE', '-DBFS', '-o', 'pan', 'pan.c'], {
        cwd: dir,
        stdio: 'pipe',
      });
      const out = execFileSync('./pan', ['-m100000'], { cwd: dir, encoding: 'utf8' });
      const stored = /(\d+) states, stored/.exec(out);
      expect(Number(stored?.[1])).toBe(bfs(ats(2, 2)).states + 1);
      expect(out).toContain('errors: 0');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
