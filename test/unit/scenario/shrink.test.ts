/**
 * Shrinking counterexamples (src/scenario/shrink.ts), reduced scenarios (reduce.ts) and
 * counterexample files (counterexample.ts): a shrunk counterexample is smaller and still violates
 * the same invariant when replayed; every candidate it rejects would have lost the violation; a
 * counterexample file replays to the same states.
 */
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/diagnostics.js';
import { loadScenarioFile, loadScenarioMachine } from '../../../src/node/load-scenario.js';
import {
  counterexampleFile,
  parseCounterexample,
  replayCounterexample,
} from '../../../src/scenario/counterexample.js';
import { exploreScenario, prepareExploration, runActions } from '../../../src/scenario/explore.js';
import { bindReduced, fullReduction, reduceMachine, reductionProblem } from '../../../src/scenario/reduce.js';
import { shrinkCounterexample } from '../../../src/scenario/shrink.js';
import { repoRoot } from '../../helpers/paths.js';

const DIR = join(repoRoot, 'scenarios', 'explore');
const load = (name: string) => {
  const file = join(DIR, name);
  const bound = loadScenarioFile(file);
  return { bound, machine: loadScenarioMachine(bound.doc, dirname(file)) };
};

describe('shrinking', () => {
  it('FLR vs unmap under v6.12: the FLR alone, on the root port and the NIC, still violates reset-fenced', () => {
    const { bound, machine } = load('010-flr-vs-unmap.yaml');
    const r = exploreScenario(bound, { preset: 'v6.12' });
    const inv = r.result.violations[0]!.invariantName;
    expect(inv).toBe('reset-fenced');
    const s = shrinkCounterexample(r.exploration, r.actions, inv, { preset: 'v6.12', machine })!;
    expect(s.reduction).toEqual({
      steps: [],
      threads: [{ index: 1, steps: [0] }],
      choices: [],
      functions: ['0000:00:03.0', '0000:02:00.0'],
    });
    expect(s.after).toMatchObject({ threads: 1, threadSteps: 1, choices: 0, setupSteps: 0, depth: 1 });
    expect(s.before).toMatchObject({ threads: 2, threadSteps: 3, choices: 1, setupSteps: 4, functions: 15 });
    // The shrunk counterexample, replayed, ends in a state that violates the invariant.
    const ran = runActions(s.exploration, s.actions);
    expect(ran.taken).toBe(s.actions.length);
    expect(ran.last.viol.map((i) => s.exploration.model.invariants[i])).toContain('reset-fenced');
    // Under v7.3 the same reduced scenario has no such violation: the verdict comes from the model.
    const fixed = exploreScenario(bindReduced(bound, s.reduction, machine), { preset: 'v7.3' });
    expect(fixed.violated).toEqual([]);
    expect(fixed.result.complete).toBe(true);
  });

  it('keeps what the violation needs: the unmap, the wedged device and the mapping', () => {
    const { bound, machine } = load('060-unresponsive-device-vs-unmap.yaml');
    const r = exploreScenario(bound, { preset: 'v7.0' });
    const inv = r.result.violations[0]!.invariantName;
    const s = shrinkCounterexample(r.exploration, r.actions, inv, { preset: 'v7.0', machine })!;
    expect(s.reduction.threads).toEqual([{ index: 0, steps: [0] }]);
    expect(s.reduction.choices).toEqual([{ index: 0, max: 1 }]);
    // Each thing it kept is needed: without the choice (the device stops answering) nothing is violated.
    const noChoice = exploreScenario(bindReduced(bound, { ...s.reduction, choices: [] }, machine), {
      preset: 'v7.0',
    });
    expect(noChoice.violated).toEqual([]);
    const noFill = exploreScenario(
      bindReduced(bound, { ...s.reduction, steps: s.reduction.steps.filter((i) => i !== 2) }, machine),
      { preset: 'v7.0' },
    );
    expect(noFill.violated).not.toContain(inv);
  });

  it('stops at its time budget and returns what it has', () => {
    const { bound, machine } = load('010-flr-vs-unmap.yaml');
    const r = exploreScenario(bound, { preset: 'v6.12' });
    let t = 0;
    const s = shrinkCounterexample(r.exploration, r.actions, 'reset-fenced', {
      preset: 'v6.12',
      machine,
      timeLimitMs: 3,
      now: () => t++,
    });
    expect(s === null || s.timedOut).toBe(true);
  });
});

describe('reduced scenarios', () => {
  it('checks indices and budgets', () => {
    const { bound } = load('010-flr-vs-unmap.yaml');
    const full = fullReduction(bound.doc);
    expect(reductionProblem(bound.doc, full)).toBeNull();
    expect(reductionProblem(bound.doc, { ...full, steps: [1, 0] })).toMatch(/increasing/);
    expect(reductionProblem(bound.doc, { ...full, choices: [{ index: 0, max: 2 }] })).toMatch(/1 to 1/);
    expect(reductionProblem(bound.doc, { ...full, threads: [{ index: 0, steps: [5] }] })).toMatch(/below 2/);
  });

  it('a machine without a bridge loses what is below it; a step naming a dropped function does not bind', () => {
    const { bound, machine } = load('010-flr-vs-unmap.yaml');
    const m = reduceMachine(machine, ['0000:02:00.0', '0000:00:01.0']);
    expect(m.functions.map((f) => f.fn.bdf)).toEqual(['0000:00:01.0']);
    expect(() =>
      bindReduced(bound, { ...fullReduction(bound.doc), functions: ['0000:00:01.0'] }, machine),
    ).toThrow(InputError);
  });
});

describe('counterexample files', () => {
  it('round-trip through JSON and replay to the same fingerprints and violation', () => {
    const { bound, machine } = load('020-vfio-claim-vs-enable-ats-failure.yaml');
    const r = exploreScenario(bound, { preset: 'v7.3' });
    const inv = r.result.violations[0]!.invariantName;
    const cx = counterexampleFile(r.exploration, fullReduction(bound.doc), r.actions, inv, 'x.yaml', {});
    expect(cx.actions.length).toBe(r.actions.length);
    const back = parseCounterexample(JSON.stringify(cx), 'cx.json');
    const rep = replayCounterexample(bound, back, { machine });
    expect(rep.reproduced).toBe(true);
    expect(rep.fingerprintDiffersAt).toBeNull();
    expect(rep.trace.met).toBe(true);
    const tail = rep.trace.steps.slice(-r.actions.length);
    expect(tail.map((s) => s.fingerprint)).toEqual(cx.fingerprints);
    // Same as the explorer's own counterexample trace, step by step.
    expect(tail.map((s) => s.text)).toEqual(r.trace.steps.slice(-r.actions.length).map((s) => s.text));
  });

  it('a changed fingerprint is noted; an action that is not enabled diverges', () => {
    const { bound } = load('010-flr-vs-unmap.yaml');
    const x = prepareExploration(bound, { preset: 'v6.12' });
    const cx = counterexampleFile(x, fullReduction(bound.doc), [1, 0], 'reset-fenced', 'x.yaml', {});
    const changed = replayCounterexample(bound, {
      ...cx,
      fingerprints: ['0000000000000000', ...cx.fingerprints.slice(1)],
    });
    expect(changed.fingerprintDiffersAt).toBe(1);
    expect(changed.trace.notes.join('\n')).toContain('changed since the file was written');
    // thread 2 (the FLR) has one step: taking it twice diverges.
    const twice = replayCounterexample(bound, { ...cx, actions: ['thread 2', 'thread 2', 'thread 2'] });
    expect(twice.reproduced).toBe(false);
    expect(twice.divergedAt).not.toBeNull();
    expect(() => replayCounterexample(bound, { ...cx, scenario: { file: 'x', name: 'other' } })).toThrow(
      /other/,
    );
  });
});
