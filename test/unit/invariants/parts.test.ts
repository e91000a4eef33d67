import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INVARIANTS } from '../../../src/invariants/catalogue.js';
import { checkInvariants, type Invariant } from '../../../src/invariants/invariant.js';
import type { SystemState } from '../../../src/model/state.js';
import { initialState } from '../../../src/model/world-builder.js';
import type { World } from '../../../src/model/world.js';
import { assertOnRandomWalks, buildWorld, machineSpecArb } from '../../model-based/walk.js';

const show = (v: ReturnType<typeof checkInvariants>): string[] =>
  v.map((x) => `${x.id}@${x.bdf ?? ''}: ${x.detail}`).sort();

describe('the step part and the state part of a check', () => {
  it('together find what the whole check finds, after every step of random walks on every preset', () => {
    const kinds = { step: 0, state: 0 };
    assertOnRandomWalks({ numRuns: 100, seed: 31 }, (world, r) => {
      const s = r.state;
      const all = checkInvariants(world, s, r.events, INVARIANTS);
      const onStep = checkInvariants(world, s, r.events, INVARIANTS, 'step');
      // The state part never reads events (its context throws if one tries).
      const onState = checkInvariants(world, s, [], INVARIANTS, 'state');
      expect([...show(onStep), ...show(onState)].sort()).toEqual(show(all));
      for (const v of onStep) expect(v.id.startsWith('warn:') || stepPart(v.id)).toBe(true);
      for (const v of onState) expect(readsEvents(v.id)).toBe(false);
      kinds.step += onStep.length;
      kinds.state += onState.length;
    });
    // Both parts found something on these walks.
    expect(kinds.step).toBeGreaterThan(0);
    expect(kinds.state).toBeGreaterThan(10);
  });

  it('an invariant that reads events without saying so is a model bug, not a silent pass', () => {
    const sneaky = testInvariant('sneaky', (c) => (c.events.length > 0 ? [{ detail: 'saw events' }] : []));
    const { world, s } = sampleMachine(1);
    expect(checkInvariants(world, s, [], [sneaky], 'step')).toEqual([]);
    expect(() => checkInvariants(world, s, [], [sneaky], 'state')).toThrow(
      /invariant 'sneaky' reads the step's events but is not marked readsEvents/,
    );
  });

  it('an invariant that writes through its read-only view is a model bug, caught at the next check', () => {
    const writer = testInvariant('writer', (c) => {
      c.view.mutDevice(0).pendingInv = 7;
      return [];
    });
    const { world, s } = sampleMachine(2);
    expect(checkInvariants(world, s, [], [writer])).toEqual([]);
    // The state itself is untouched: the view copies on write.
    expect(s.devs[0]!.pendingInv).toBe(0);
    expect(() => checkInvariants(world, s, [], INVARIANTS)).toThrow(
      /read-only view of the state was written through/,
    );
    // Reported once: the next check runs on a clean view.
    const again = checkInvariants(world, s, [], INVARIANTS);
    expect(checkInvariants(world, s, [], INVARIANTS)).toEqual(again);
  });
});

function testInvariant(id: string, check: Invariant['check']): Invariant {
  return { id, statement: id, source: 'test', kind: 'kernel', check };
}

/** A random machine (fast-check's sample for `seed`), booted under v7.3, with its initial state. */
function sampleMachine(seed: number): { world: World; s: SystemState } {
  const [spec] = fc.sample(machineSpecArb, { numRuns: 1, seed });
  const world = buildWorld(spec!, 'v7.3');
  return { world, s: initialState(world, 1) };
}

function readsEvents(id: string): boolean {
  return INVARIANTS.find((i) => i.id === id)?.readsEvents === true;
}

/** An invariant with a step part: it reads events, or has a checkStep(). */
function stepPart(id: string): boolean {
  const inv = INVARIANTS.find((i) => i.id === id);
  return inv?.readsEvents === true || inv?.checkStep !== undefined;
}
