/**
 * runOp() runs an operation's phases back to back in one transaction; stepping the same operation
 * phase by phase (a transaction per phase, the thread's continuation in the state between them)
 * must reach the same state with the same events and return value.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/diagnostics.js';
import { fingerprintFull, statesEqual } from '../../../src/model/fingerprint.js';
import type { KernelEvent } from '../../../src/kernel/events.js';
import type { SystemState } from '../../../src/model/state.js';
import { runOp, step, type StepResult } from '../../../src/model/step.js';
import { initialState } from '../../../src/model/world-builder.js';
import type { World } from '../../../src/model/world.js';
import type { Op } from '../../../src/model/ops.js';
import { anyOpArb, buildWorld, concretize, machineSpecArb } from '../../model-based/walk.js';
import { Run, fOf, testWorld } from '../iommu/fake-ops.js';
import { NIC0, testMachine } from '../iommu/machines.js';
import { PRESET_IDS } from '../../../src/kernel/presets.js';

/** The operation stepped phase by phase on thread t, or null when it waits on another thread. */
function phaseByPhase(world: World, s: SystemState, op: Op, t: number): StepResult | null {
  let r = step(world, s, op, t);
  const events: KernelEvent[] = [...r.events];
  for (let i = 0; r.waiting; i++) {
    if (i > 64) return null;
    r = step(world, r.state, op, t);
    events.push(...r.events);
  }
  return { ...r, events };
}

describe('runOp', () => {
  it('reaches the state, events and return value of stepping phase by phase, on every preset', () => {
    let split = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(...PRESET_IDS),
        machineSpecArb,
        fc.array(anyOpArb, { minLength: 5, maxLength: 25 }),
        (preset, spec, ops) => {
          const world = buildWorld(spec, preset);
          let s = runOp(world, initialState(world, 2), { op: 'boot' }).state;
          for (const raw of ops)
            for (const op of concretize(raw, world, s)) {
              const stepped = phaseByPhase(world, s, op, 0);
              if (stepped === null) continue;
              const whole = runOp(world, s, op, 0);
              expect(whole.ret).toBe(stepped.ret);
              expect(whole.events).toEqual(stepped.events);
              expect(statesEqual(whole.state, stepped.state)).toBe(true);
              expect([whole.state.fpHi, whole.state.fpLo]).toEqual([stepped.state.fpHi, stepped.state.fpLo]);
              const full = fingerprintFull(whole.state);
              expect([full.hi, full.lo]).toEqual([whole.state.fpHi, whole.state.fpLo]);
              if (step(world, s, op, 0).waiting) split++;
              s = whole.state;
            }
        },
      ),
      { numRuns: 150, seed: 41 },
    );
    // The walks ran split operations (unmaps waiting for their sync, resets), not only one-phase ones.
    expect(split).toBeGreaterThan(20);
  });

  it('an operation that waits on another thread is an InputError, not a hang', () => {
    const r = new Run(testWorld(testMachine()));
    expect(r.op({ op: 'boot' })).toBe(0);
    const f = fOf(r.world, NIC0);
    // Thread 1 starts a reset and waits in it; a reset of the same function on thread 0 waits for it.
    expect(r.step({ op: 'flr', f }, 1).waiting).toBe(true);
    expect(() => runOp(r.world, r.state, { op: 'flr', f }, 0)).toThrow(InputError);
    expect(() => runOp(r.world, r.state, { op: 'flr', f }, 0)).toThrow(
      /flr on thread 0 still waits after 64 phases/,
    );
  });
});
