/**
 * Moving kernel-model states between instances of the model (worker threads): a state packed by
 * one instance, structured-cloned as a worker message is, and unpacked by another instance built
 * from the scenario file (src/node/scenario-model.ts) has the same fingerprint and the same
 * successors; violations travel and fingerprint by name, so two instances that numbered the
 * `warn:<site>` names they met in different orders still agree.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explore } from '../../../src/explore/explore.js';
import { fingerprintOf } from '../../../src/explore/model.js';
import type { KernelExploreState, KernelModel } from '../../../src/explore/models/kernel.js';
import { loadScenarioFile } from '../../../src/node/load-scenario.js';
import { createScenarioKernelModel, scenarioModelRef } from '../../../src/node/scenario-model.js';
import { prepareExploration } from '../../../src/scenario/explore.js';
import { repoRoot } from '../../helpers/paths.js';

const DIR = join(repoRoot, 'scenarios', 'explore');
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => join(DIR, f));
const PRESETS = ['v6.12', 'v7.3'];

const fp = (m: KernelModel, s: KernelExploreState): string => fingerprintOf(m, s).join(':');

/** Every reachable state, breadth-first. */
function allStates(m: KernelModel): KernelExploreState[] {
  const out: KernelExploreState[] = [];
  const seen = new Set<string>();
  const queue = [...m.initialStates()];
  for (let i = 0; i < queue.length; i++) {
    const s = queue[i]!;
    const k = fp(m, s);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(s);
    m.successors(s, (_a, t) => queue.push(t));
  }
  return out;
}

function successorsOf(m: KernelModel, s: KernelExploreState): string[] {
  const out: string[] = [];
  m.successors(s, (a, t) => out.push(`${m.actionLabel(a)} ${fp(m, t)} ${m.violations(t).length}`));
  return out;
}

describe('kernel-model states between instances', () => {
  it.each(FILES.flatMap((file) => PRESETS.map((preset) => [relative(repoRoot, file), preset] as const)))(
    '%s under %s: pack, structured clone, unpack gives the same fingerprint and successors',
    (shown, preset) => {
      const file = join(repoRoot, shown);
      const here = prepareExploration(loadScenarioFile(file, shown), { preset }).model;
      const there = createScenarioKernelModel({ file, shownAs: shown, preset });
      const states = allStates(here);
      expect(states.length).toBeGreaterThan(1);
      for (const s of states) {
        const moved = there.transfer.unpack(structuredClone(here.transfer.pack(s)));
        expect(fp(there, moved)).toBe(fp(here, s));
        expect(moved.viol.map((i) => there.invariants[i])).toEqual(s.viol.map((i) => here.invariants[i]));
        expect(successorsOf(there, moved)).toEqual(successorsOf(here, s));
        expect(there.describe(moved)).toEqual(here.describe(s));
      }
    },
  );

  it.each(FILES.flatMap((file) => PRESETS.map((preset) => [relative(repoRoot, file), preset] as const)))(
    '%s under %s: a successor checked lazily is the state apply() checks in full, and identifies as every violation would',
    (shown, preset) => {
      const m = prepareExploration(loadScenarioFile(join(repoRoot, shown), shown), { preset }).model;
      // Per (SystemState, budgets): the fingerprints and the full violation lists met, which must pair 1:1.
      const byState = new Map<string, Map<string, string>>();
      let transitions = 0;
      for (const s of allStates(m))
        m.successors(s, (a, t) => {
          transitions++;
          const full = m.apply(s, a)!;
          expect(t.stepViol).toEqual(full.next.stepViol);
          expect(t.viol).toEqual(full.next.viol);
          expect(fp(m, t)).toBe(fp(m, full.next));
          const key = `${t.sys.fpHi}:${t.sys.fpLo}:${t.budgets.join(',')}`;
          const seen = byState.get(key) ?? new Map<string, string>();
          byState.set(key, seen);
          const viol = t.viol.join(',');
          const had = seen.get(fp(m, t));
          if (had !== undefined) expect(viol).toBe(had);
          seen.set(fp(m, t), viol);
          expect(new Set(seen.values()).size).toBe(seen.size);
        });
      expect(transitions).toBeGreaterThan(0);
    },
  );

  it('violations are fingerprinted by name: instances that numbered new warn sites differently agree', () => {
    const file = FILES[0]!;
    const a = createScenarioKernelModel({ file, preset: 'v7.3' });
    const b = createScenarioKernelModel({ file, preset: 'v7.3' });
    const s0 = a.initialStates()[0]!;
    const base = a.invariants.length;
    const packed = a.transfer.pack(s0);
    // WARNs are violations of the step: they identify the state.
    const warned = (names: string[]): unknown => ({ ...packed, stepViol: names, viol: names });
    // a meets warn:site_x before warn:site_y, b the other way round.
    const ax = a.transfer.unpack(warned(['warn:site_x']));
    const axy = a.transfer.unpack(warned(['warn:site_x', 'warn:site_y']));
    const by = b.transfer.unpack(warned(['warn:site_y']));
    const byx = b.transfer.unpack(warned(['warn:site_y', 'warn:site_x']));
    expect(a.invariants.slice(base)).toEqual(['warn:site_x', 'warn:site_y']);
    expect(b.invariants.slice(base)).toEqual(['warn:site_y', 'warn:site_x']);
    expect(axy.viol).toEqual([base, base + 1]);
    expect(byx.viol).toEqual([base, base + 1]);
    expect(fp(a, axy)).toBe(fp(b, byx));
    const bx = b.transfer.unpack(warned(['warn:site_x']));
    expect(bx.viol).toEqual([base + 1]);
    expect(fp(b, bx)).toBe(fp(a, ax));
    // Different names, different states.
    expect(fp(a, ax)).not.toBe(fp(b, by));
    expect(fp(a, ax)).not.toBe(fp(a, s0));
    expect(fp(a, axy)).not.toBe(fp(a, ax));
    // Back through pack: names, not this instance's indices.
    expect(b.transfer.pack(byx).viol).toEqual(['warn:site_y', 'warn:site_x']);
    expect(b.transfer.pack(byx).stepViol).toEqual(['warn:site_y', 'warn:site_x']);
  });
});

describe('the scenario model as a ModelRef', () => {
  it('the factory builds the model the main thread builds: same name, actions, invariants, state space', () => {
    for (const file of [FILES[0]!, FILES[1]!]) {
      const shown = relative(repoRoot, file);
      const overrides = { 'reset-hooks': 'off' } as const;
      const ref = scenarioModelRef({ file, shownAs: shown, preset: 'v7.3', overrides });
      const params = structuredClone(ref.params) as Parameters<typeof createScenarioKernelModel>[0];
      expect(ref.factory).toBe('createScenarioKernelModel');
      expect(ref.module).toMatch(/^file:.*scenario-model\.(ts|js)$/);
      const there = createScenarioKernelModel(params);
      const here = prepareExploration(loadScenarioFile(file, shown), { preset: 'v7.3', overrides }).model;
      expect(there.name).toBe(here.name);
      expect(there.actionCount).toBe(here.actionCount);
      expect(there.invariants).toEqual(here.invariants);
      for (let a = 0; a < here.actionCount; a++) expect(there.actionLabel(a)).toBe(here.actionLabel(a));
      const x = explore(there, { collectFingerprints: true, violations: 'all' });
      const y = explore(here, { collectFingerprints: true, violations: 'all' });
      expect(x.states).toBe(y.states);
      expect(x.transitions).toBe(y.transitions);
      expect(x.fingerprints).toEqual(y.fingerprints);
      expect(x.violations.map((v) => [v.invariantName, v.depth, v.fingerprint])).toEqual(
        y.violations.map((v) => [v.invariantName, v.depth, v.fingerprint]),
      );
    }
  });

  it('checks only the invariants named, and refuses an id the catalogue does not have', () => {
    const file = FILES[0]!;
    const only = createScenarioKernelModel({ file, preset: 'v6.12', invariants: ['reset-fenced'] });
    expect(only.invariants[0]).toBe('reset-fenced');
    const r = explore(only, { violations: 'all' });
    expect(new Set(r.violations.map((v) => v.invariantName))).toEqual(new Set(['reset-fenced']));
    expect(() => createScenarioKernelModel({ file, invariants: ['no-such-invariant'] })).toThrow(
      'no invariant no-such-invariant in the catalogue',
    );
  });
});
