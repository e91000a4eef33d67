/** `atsim explore`: verdicts, formats, strategies and exit codes, in-process. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { atsim } from '../helpers/cli.js';
import { repoRoot } from '../helpers/paths.js';

const FLR = join(repoRoot, 'scenarios', 'explore', '010-flr-vs-unmap.yaml');
const VFIO = join(repoRoot, 'scenarios', 'explore', '020-vfio-claim-vs-enable-ats-failure.yaml');
const PLAIN_RUN = join(repoRoot, 'scenarios', '020-flr-during-unmap-invalidation.yaml');

/** A stack trace line, which bad input must never print. */
const STACK = /^\s+at .+:\d+:\d+\)?$/m;

describe('atsim explore', () => {
  it('v6.12: a shortest counterexample, printed as run steps, meets the expectation (exit 0)', async () => {
    const r = await atsim('explore', FLR, '--kernel', 'v6.12');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^Explored \d+ states, \d+ transitions in [0-9.]+ s \([0-9,]+ states\/s\), bfs, depth 1$/m,
    );
    expect(r.stdout).toContain('Counterexample: 1 step after the setup (thread 2), a shortest one');
    expect(r.stdout).toContain('flr 0000:02:00.0  ... waiting (thread 2)  line 30');
    expect(r.stdout).toContain('✗ reset-fenced 0000:02:00.0');
    expect(r.stdout).toContain('Verdict: violated reset-fenced');
    expect(r.stdout).toContain('Expectation met');
    expect(r.stderr).toBe('');
  });

  it('v7.3: no violation in N states (exit 0)', async () => {
    const r = await atsim('explore', FLR, '--kernel', 'v7.3');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^no violation in \d+ states$/m);
    expect(r.stdout).toContain('Stopped: exhausted (complete)');
    expect(r.stdout).toContain('Expected (v7.3): holds');
  });

  it('--all lists the first counterexample of each invariant', async () => {
    const r = await atsim('explore', FLR, '--kernel', 'v6.12', '--all');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      '  no-stale-translation: depth 5 (thread 1, thread 2, thread 1, thread 2, thread 1)',
    );
    expect(r.stdout).toContain(
      'Verdict: violated atc-inv-target, invalidation-timeout, no-stale-cache-entry, no-stale-translation, reset-fenced',
    );
  });

  it('a switch that removes the fix breaks the expectation (exit 1)', async () => {
    const r = await atsim('explore', FLR, '--kernel', 'v7.3', '--set', 'reset-hooks=off');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Expectation NOT met');
  });

  it('--format json: the search, the verdict and the counterexample as a run trace', async () => {
    const r = await atsim('explore', FLR, '--kernel', 'v6.12', '--all', '--format', 'json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as {
      format: string;
      met: boolean;
      verdict: { violated: string[] };
      search: {
        complete: boolean;
        states: number;
        violations: { invariant: string; trace: (string | null)[] }[];
      };
      counterexample: { format: string; steps: { origin: string; thread: number }[] } | null;
    };
    expect(j.format).toBe('atsim-explore');
    expect(j.met).toBe(true);
    expect(j.search.complete).toBe(true);
    expect(j.verdict.violated).toContain('no-stale-translation');
    expect(j.search.violations[0]!.trace).toEqual([null, 'thread 2']);
    expect(j.counterexample!.format).toBe('atsim-trace');
    expect(j.counterexample!.steps.at(-1)).toMatchObject({ origin: 'thread', thread: 2 });
  });

  it('--format mermaid: a sequence diagram', async () => {
    const r = await atsim('explore', FLR, '--kernel', 'v6.12', '--format', 'mermaid');
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('sequenceDiagram\n')).toBe(true);
    expect(r.stdout).toContain('VIOLATION reset-fenced');
  });

  it('depth-first and random walks', async () => {
    const d = await atsim('explore', FLR, '--kernel', 'v7.3', '--dfs');
    expect(d.code).toBe(0);
    expect(d.stdout).toContain(', dfs, depth');
    const w = await atsim('explore', FLR, '--kernel', 'v6.12', '--random', '20', '--seed', '3');
    expect(w.code).toBe(0);
    expect(w.stdout).toContain(', random, depth');
    // Random walks never prove that a scenario holds.
    const h = await atsim('explore', FLR, '--kernel', 'v7.3', '--random', '5');
    expect(h.code).toBe(1);
    expect(h.stdout).toContain('before it explored everything');
  });

  it('limits stop the search; an unfinished search does not prove holds (exit 1)', async () => {
    const r = await atsim('explore', FLR, '--kernel', 'v7.3', '--max-states', '5');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Stopped: max-states (not complete');
    const d = await atsim('explore', FLR, '--kernel', 'v7.3', '--max-depth', '2', '--quiet');
    expect(d.code).toBe(1);
    expect(d.stdout).toContain('Stopped: max-depth');
  });

  it('the VFIO claim against a failing pci_enable_ats', async () => {
    const r = await atsim('explore', VFIO, '--kernel', 'v7.3', '--all');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('  warn:pci_disable_ats: depth 3 (choice 1 fires, thread 1, thread 1)');
  });

  it('bad input: exit 2 with a message, never a stack trace', async () => {
    const cases: string[][] = [
      ['explore', join(repoRoot, 'no-such.yaml')],
      ['explore', FLR, '--dfs', '--random', '3'],
      ['explore', FLR, '--seed', '3'],
      ['explore', FLR, '--max-states', 'many'],
      ['explore', FLR, '--time-limit', '0'],
      ['explore', FLR, '--kernel', 'v9.9'],
      ['explore', FLR, '--set', 'no-such-switch=on'],
      ['explore', PLAIN_RUN],
      ['run', FLR],
    ];
    for (const c of cases) {
      const r = await atsim(...c);
      expect(r.code, c.join(' ')).toBe(2);
      expect(r.stderr, c.join(' ')).not.toMatch(STACK);
      expect(r.stderr.length, c.join(' ')).toBeGreaterThan(0);
    }
    const run = await atsim('run', FLR);
    expect(run.stderr).toContain('explore it with atsim explore');
    const plain = await atsim('explore', PLAIN_RUN);
    expect(plain.stderr).toContain('run it with atsim run');
  });

  it('atsim check explores the explore scenarios under every preset', async () => {
    const r = await atsim('check', join(repoRoot, 'scenarios', 'explore'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('28 cells, all as expected');
  });
});
