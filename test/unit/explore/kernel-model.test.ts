/**
 * The kernel model as an explorer model (src/explore/models/kernel.ts) on the FLR-vs-unmap
 * scenario: deterministic state counts, the v6.12 race found breadth-first with a shortest
 * counterexample that replays through step() to the same violation, and v7.3 exhausting the
 * same state space with no violation.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/diagnostics.js';
import { explore } from '../../../src/explore/explore.js';
import { fingerprintOf } from '../../../src/explore/model.js';
import { KernelModel } from '../../../src/explore/models/kernel.js';
import { INVARIANTS } from '../../../src/invariants/catalogue.js';
import { checkInvariants } from '../../../src/invariants/invariant.js';
import { fingerprintFull } from '../../../src/model/fingerprint.js';
import { step } from '../../../src/model/step.js';
import { Tx } from '../../../src/model/tx.js';
import { loadScenarioFile } from '../../../src/node/load-scenario.js';
import { exploreScenario } from '../../../src/scenario/explore.js';
import { parseScenario } from '../../../src/scenario/parse.js';
import { executePlan, runScenario } from '../../../src/scenario/run.js';
import { scenarioJsonSchema } from '../../../src/scenario/schema.js';
import { repoRoot } from '../../helpers/paths.js';

const FILE = join(repoRoot, 'scenarios', 'explore', '010-flr-vs-unmap.yaml');
const bound = loadScenarioFile(FILE, 'scenarios/explore/010-flr-vs-unmap.yaml');

/** The model exactly as exploreScenario builds it, for direct use. */
function modelFor(preset: string): KernelModel {
  const setup = executePlan(bound, { preset, snapshots: 'none' });
  return new KernelModel({
    world: setup.world,
    initial: setup.state,
    initialViolations: setup.trace.steps.flatMap((s) => s.violations),
    threads: bound.threadOps.map((l) => l.map((p) => p.op)),
    choices: bound.choiceOps.map((c) => ({ op: c.planned.op, max: c.max })),
  });
}

describe('the kernel model on FLR vs strict unmap', () => {
  it('has one action per thread and two per choice, and threads past the setup thread', () => {
    const m = modelFor('v7.3');
    expect(m.actionCount).toBe(2 + 2 * 1);
    expect(m.actionLabel(0)).toBe('thread 1');
    expect(m.actionLabel(2)).toBe('choice 1 fires');
    expect(m.actionLabel(3)).toBe('choice 1 continues');
    expect(bound.threads).toBe(4);
    expect(m.invariants.slice(0, INVARIANTS.length)).toEqual(INVARIANTS.map((i) => i.id));
  });

  it('explores a deterministic state space: the same count and fingerprints every time, BFS and DFS alike', () => {
    const a = explore(modelFor('v7.3'), { collectFingerprints: true });
    const b = explore(modelFor('v7.3'), { collectFingerprints: true });
    expect(a.complete).toBe(true);
    expect(a.states).toBeGreaterThan(10);
    expect(b.states).toBe(a.states);
    expect(b.transitions).toBe(a.transitions);
    expect(b.fingerprints).toEqual(a.fingerprints);
    const d = explore(modelFor('v7.3'), { strategy: 'dfs' });
    expect(d.complete).toBe(true);
    expect(d.states).toBe(a.states);
  });

  it('the pcs, budgets and step violations are part of the fingerprint, and the state fingerprint is exact', () => {
    const m = modelFor('v7.3');
    const s0 = m.initialStates()[0]!;
    const seen = new Set<string>([fingerprintOf(m, s0).join(':')]);
    m.successors(s0, (_a, t) => {
      expect(fingerprintFull(t.sys)).toEqual({ hi: t.sys.fpHi, lo: t.sys.fpLo });
      seen.add(fingerprintOf(m, t).join(':'));
    });
    // Three enabled actions (two threads, one choice), three new states.
    expect(seen.size).toBe(4);
    const budgetOnly = { ...s0, budgets: [0] };
    expect(fingerprintOf(m, budgetOnly)).not.toEqual(fingerprintOf(m, s0));
    const violating = { ...s0, stepViol: [0], viol: [0] };
    expect(fingerprintOf(m, violating)).not.toEqual(fingerprintOf(m, s0));
    // What the state itself violates follows from the state: it does not enter the fingerprint.
    const stateOnly = { ...s0, viol: [0] };
    expect(fingerprintOf(m, stateOnly)).toEqual(fingerprintOf(m, s0));
  });

  it('v6.12: BFS stops at a shortest counterexample, the reset with ATS on and unfenced', () => {
    const r = exploreScenario(bound, { preset: 'v6.12' });
    expect(r.result.stopReason).toBe('violation');
    const v = r.result.violations[0]!;
    expect(v.depth).toBe(1);
    expect(v.invariantName).toBe('reset-fenced');
    expect(v.trace.map((t) => t.label)).toEqual(['initial', 'thread 2']);
    expect(r.violated).toEqual(['reset-fenced']);
    expect(r.met).toBe(true);
    // The trace is the setup (boot + 4 steps) and the counterexample's step.
    expect(r.trace.steps).toHaveLength(6);
    expect(r.trace.steps[5]!.text).toBe('flr 0000:02:00.0');
    expect(r.trace.steps[5]!.waiting).toBe(true);
  });

  it('v6.12 --all: the whole race, and its stale DMA replays through step() to the same violation', () => {
    const r = exploreScenario(bound, { preset: 'v6.12', violations: 'all' });
    expect(r.result.complete).toBe(true);
    expect(r.violated).toEqual([
      'atc-inv-target',
      'invalidation-timeout',
      'no-stale-cache-entry',
      'no-stale-translation',
      'reset-fenced',
    ]);
    expect(r.met).toBe(true);
    const stale = r.result.violations.find((v) => v.invariantName === 'no-stale-translation')!;
    // Unmap begins, the reset begins, the unmap ends (CMD_SYNC timeout, page freed), the reset ends, the DMA.
    expect(stale.trace.slice(1).map((t) => t.label)).toEqual([
      'thread 1',
      'thread 2',
      'thread 1',
      'thread 2',
      'thread 1',
    ]);

    // Replay by hand: step() on each thread's next operation, advancing the pc when it finishes.
    const setup = executePlan(bound, { preset: 'v6.12', snapshots: 'none' });
    const world = setup.world;
    let sys = setup.state;
    const ops = bound.threadOps.map((l) => l.map((p) => p.op));
    let last: ReturnType<typeof checkInvariants> = [];
    let timedOut = false;
    for (const t of stale.trace.slice(1)) {
      const thread = t.action! + 1;
      const th = sys.threads[thread]!;
      const r1 = step(world, sys, ops[t.action!]![th.pc]!, thread);
      sys = r1.state;
      if (!r1.waiting) {
        const tx = new Tx(world, sys);
        tx.setThread(thread, { pc: th.pc + 1, cont: null });
        sys = tx.commit();
      }
      last = checkInvariants(world, sys, r1.events, INVARIANTS);
      if (last.some((x) => x.id === 'invalidation-timeout')) timedOut = true;
      expect(sys.fpHi, t.label).toBe(t.state.sys.fpHi);
      expect(sys.fpLo, t.label).toBe(t.state.sys.fpLo);
    }
    expect(timedOut).toBe(true);
    expect(last.map((x) => x.id)).toContain('no-stale-translation');
    expect(last.find((x) => x.id === 'no-stale-translation')!.bdf).toBe('0000:02:00.0');
  });

  for (const preset of ['v7.0', 'v7.3'] as const)
    it(`${preset}: explores the scenario to completion with no violation`, () => {
      const r = exploreScenario(bound, { preset, violations: 'all' });
      expect(r.result.complete).toBe(true);
      expect(r.result.stopReason).toBe('exhausted');
      expect(r.result.violations).toEqual([]);
      expect(r.violated).toEqual([]);
      expect(r.result.states).toBeGreaterThan(10);
      expect(r.met).toBe(true);
    });

  it('a holds expectation is not met by a search that stopped early', () => {
    const r = exploreScenario(bound, { preset: 'v7.3', maxStates: 3 });
    expect(r.result.complete).toBe(false);
    expect(r.met).toBe(false);
    expect(r.reasons[0]).toContain('max-states');
  });
});

describe('threads and choices in the scenario format', () => {
  const head = `name: t
machine:
  functions:
    - { bdf: 0000:00:02.0, portType: root-port, secondaryBus: 1, subordinateBus: 1 }
    - { bdf: 0000:01:00.0, vendorId: 0x8086, deviceId: 0x0ddb, flr: true, ats: {} }
steps:
  - bind: 0000:01:00.0
`;
  const err = (text: string): InputError => {
    try {
      parseScenario(text, 't.yaml');
    } catch (e) {
      if (e instanceof InputError) return e;
      throw e;
    }
    throw new Error('no error');
  };

  it('parses threads and choices with their positions', () => {
    const doc = parseScenario(
      `${head}threads:\n  - - flr: 0000:01:00.0\n  - - dma-map: 0000:01:00.0\n    - fq-flush\nchoices:\n  - device-dma: { bdf: 0000:01:00.0, iova: 0 }\n    max: 2\n`,
      't.yaml',
    );
    expect(doc.threads.map((t) => t.map((s) => s.op))).toEqual([['flr'], ['dma-map', 'fq-flush']]);
    expect(doc.threads[1]![1]!.path).toEqual(['threads', 1, 1]);
    expect(doc.threads[1]![1]!.origin).toBe('thread');
    expect(doc.choices).toHaveLength(1);
    expect(doc.choices[0]!.max).toBe(2);
    expect(doc.choices[0]!.step.op).toBe('device-dma');
    expect(doc.choices[0]!.step.where.line).toBe(13);
  });

  it('rejects phases, expectations and budgets that do not fit, at their place', () => {
    expect(err(`${head}threads:\n  - - flr: { bdf: 0000:01:00.0, phase: begin }\n`).message).toContain(
      't.yaml:9:',
    );
    expect(err(`${head}threads:\n  - - flr: { bdf: 0000:01:00.0, phase: begin }\n`).message).toContain(
      'no phase in a thread',
    );
    expect(err(`${head}threads:\n  - - flr: 0000:01:00.0\n      expect: 0\n`).message).toContain(
      'no expect in a thread',
    );
    expect(err(`${head}threads: 2\n`).message).toContain('expected a list of threads');
    expect(err(`${head}threads:\n  - []\n`).message).toContain('a thread needs at least one step');
    expect(err(`${head}choices:\n  - flr: 0000:01:00.0\n`).message).toContain('a choice needs max:');
    expect(err(`${head}choices:\n  - flr: 0000:01:00.0\n    max: 0\n`).message).toContain(
      'expected a budget, 1 or more',
    );
    expect(
      err(
        `name: t\nmachine: { example: machine }\nsteps:\n  - flr: { bdf: 0000:01:00.0, phase: begin }\nthreads:\n  - - fq-flush\n`,
      ).message,
    ).toContain('sets up with whole steps');
  });

  it('atsim run rejects an explore scenario with a pointer to atsim explore', () => {
    expect(() => runScenario(bound)).toThrow(/explore it with atsim explore/);
  });

  it('the JSON Schema publishes threads and choices', () => {
    const props = (scenarioJsonSchema() as { properties: Record<string, unknown> }).properties;
    expect(Object.keys(props)).toContain('threads');
    expect(Object.keys(props)).toContain('choices');
  });
});
