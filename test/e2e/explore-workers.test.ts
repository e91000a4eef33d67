/**
 * `atsim explore FILE --workers N`: the kernel model's breadth-first search on worker threads
 * (each builds the model from the scenario file) against the same search on one thread, on every
 * exploration scenario under two presets; its counterexample replays with `atsim run --trace`;
 * bad option combinations are bad input; and the built binary runs it.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ScenarioExploreResult } from '../../src/scenario/explore.js';
import { exploreScenario } from '../../src/scenario/explore.js';
import { loadScenarioFile } from '../../src/node/load-scenario.js';
import { exploreScenarioOnWorkers } from '../../src/node/scenario-model.js';
import { atsim, atsimBin } from '../helpers/cli.js';
import { repoRoot } from '../helpers/paths.js';

const DIR = join(repoRoot, 'scenarios', 'explore');
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => relative(repoRoot, join(DIR, f)));
const PRESETS = ['v6.12', 'v7.3'];
const FLR = join(DIR, '010-flr-vs-unmap.yaml');

const tmp = mkdtempSync(join(tmpdir(), 'atsim-workers-'));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** The shallowest counterexample of each invariant. */
function depths(r: ScenarioExploreResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of r.result.violations)
    out[v.invariantName] = Math.min(out[v.invariantName] ?? Infinity, v.depth);
  return out;
}

describe('the kernel model on 2 worker threads against one thread', () => {
  it.each(FILES.flatMap((f) => PRESETS.map((p) => [f, p] as const)))(
    '%s under %s: the same space, verdict and counterexample depths',
    async (shown, preset) => {
      const file = join(repoRoot, shown);
      const bound = loadScenarioFile(file, shown);
      // The whole space (--all): states, transitions, every invariant violated, the shallowest depths.
      const one = exploreScenario(bound, { preset, violations: 'all' });
      const two = await exploreScenarioOnWorkers(file, shown, bound, {
        preset,
        violations: 'all',
        workers: 2,
      });
      expect(two.workers).toBe(2);
      expect(two.result.workers).toBe(2);
      expect(one.workers).toBe(0);
      expect(two.result.complete).toBe(true);
      expect(two.result.states).toBe(one.result.states);
      expect(two.result.transitions).toBe(one.result.transitions);
      expect(two.result.invariantsViolated).toEqual(one.result.invariantsViolated);
      expect(two.violated).toEqual(one.violated);
      expect(two.met).toBe(one.met);
      expect(depths(two)).toEqual(depths(one));
      // To the first violation (the default): the verdict, the depth and the trace's ids.
      const a = exploreScenario(bound, { preset });
      const b = await exploreScenarioOnWorkers(file, shown, bound, { preset, workers: 2 });
      expect(b.violated).toEqual(a.violated);
      expect(b.met).toBe(a.met);
      expect(b.reasons).toEqual(a.reasons);
      expect(b.result.complete).toBe(a.result.complete);
      expect(b.result.stopReason).toBe(a.result.stopReason);
      expect(b.result.violations[0]?.depth).toBe(a.result.violations[0]?.depth);
      expect(b.actions).toHaveLength(a.actions.length);
      if (a.result.violations.length === 0) expect(b.result.states).toBe(a.result.states);
      // The counterexample's last state violates what the verdict says, on this thread's model.
      const last = b.trace.steps.at(-1);
      if (b.actions.length > 0)
        expect(last?.violations.map((v) => v.id)).toEqual(expect.arrayContaining([...b.violated]));
    },
  );
});

describe('atsim explore --workers', () => {
  it('the counterexample found on workers is printed, written and replays with atsim run --trace', async () => {
    const out = join(tmp, 'cex.json');
    const r = await atsim(
      'explore',
      FLR,
      '--kernel',
      'v6.12',
      '--workers',
      '2',
      '--trace-out',
      out,
      '--quiet',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^Explored \d+ states, \d+ transitions in .*, bfs on 2 worker threads, depth 1$/m,
    );
    expect(r.stdout).toContain('Counterexample: 1 step after the setup (thread 2), a shortest one');
    expect(r.stdout).toContain('Expectation met');
    const replayed = await atsim('run', '--trace', out);
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toContain('reset-fenced');
    const fixed = await atsim('run', '--trace', out, '--kernel', 'v7.3');
    expect(fixed.code).toBe(1);
  });

  it('--format json shows the workers; a space that holds is exhausted', async () => {
    const r = await atsim(
      'explore',
      FLR,
      '--kernel',
      'v7.3',
      '--workers',
      '2',
      '--format',
      'json',
      '--quiet',
    );
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as {
      met: boolean;
      verdict: { holds: boolean };
      search: {
        workers: number;
        strategy: string;
        complete: boolean;
        states: number;
        invariantsViolated: string[];
      };
    };
    expect(j.search.workers).toBe(2);
    expect(j.search.strategy).toBe('bfs');
    expect(j.search.complete).toBe(true);
    expect(j.search.invariantsViolated).toEqual([]);
    expect(j.verdict.holds).toBe(true);
    expect(j.met).toBe(true);
    const one = await atsim('explore', FLR, '--kernel', 'v7.3', '--format', 'json', '--quiet');
    expect((JSON.parse(one.stdout) as { search: { states: number } }).search.states).toBe(j.search.states);
  });

  it.each([
    [['--workers', '2', '--dfs'], '--workers and --dfs exclude each other'],
    [['--workers', '2', '--random', '5'], '--workers and --random exclude each other'],
    [
      ['--workers', '2', '--shard', '0/2', '--shard-out', join(tmp, 's.json')],
      '--workers and --shard exclude each other',
    ],
    [['--workers', '0'], 'expected a number of worker threads'],
    [['--workers', '100000'], 'expected a number of worker threads'],
    [['--workers', 'two'], 'expected a number of worker threads'],
  ])('bad input %j: exit 2', async (args, message) => {
    const r = await atsim('explore', FLR, '--kernel', 'v6.12', ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe('');
  });

  it('--help documents --workers', async () => {
    const r = await atsim('explore', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--workers <n>');
  });

  it('the built binary explores on 2 worker threads', () => {
    const r = atsimBin([
      'explore',
      FLR,
      '--kernel',
      'v6.12',
      '--workers',
      '2',
      '--all',
      '--format',
      'json',
      '--quiet',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as {
      met: boolean;
      verdict: { violated: string[] };
      search: { workers: number; states: number; complete: boolean };
    };
    expect(j.search.workers).toBe(2);
    expect(j.search.complete).toBe(true);
    expect(j.met).toBe(true);
    const one = atsimBin(['explore', FLR, '--kernel', 'v6.12', '--all', '--format', 'json', '--quiet']);
    const k = JSON.parse(one.stdout) as typeof j;
    expect(j.search.states).toBe(k.search.states);
    expect(j.verdict.violated).toEqual(k.verdict.violated);
  });
});
