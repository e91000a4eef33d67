import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INVARIANTS } from '../../../src/invariants/catalogue.js';
import { checkInvariants } from '../../../src/invariants/invariant.js';
import { PRESET_IDS } from '../../../src/kernel/presets.js';
import type { SystemState } from '../../../src/model/state.js';
import { runOp, step } from '../../../src/model/step.js';
import { initialState } from '../../../src/model/world-builder.js';
import { anyOpArb, buildWorld, concretize, machineSpecArb, walk } from '../../model-based/walk.js';
import { singleFieldChanges } from '../model/variants.js';

const show = (v: ReturnType<typeof checkInvariants>): string[] =>
  v.map((x) => `${x.id}@${x.bdf ?? ''}: ${x.detail}`);

describe('incremental checking', () => {
  it('finds exactly what a from-scratch check finds, after every step of random walks with faults, on every preset', () => {
    let violations = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(...PRESET_IDS),
        machineSpecArb,
        fc.array(fc.record({ op: anyOpArb, thread: fc.nat(1) }), { minLength: 10, maxLength: 40 }),
        (preset, spec, ops) => {
          const world = buildWorld(spec, preset);
          let s: SystemState = initialState(world, 2);
          const compare = (events: Parameters<typeof checkInvariants>[2]): void => {
            const incremental = show(checkInvariants(world, s, events, INVARIANTS));
            // A copy of the world has no memo: every invariant starts from scratch.
            const fresh = show(checkInvariants({ ...world }, s, events, INVARIANTS));
            expect(incremental).toEqual(fresh);
            violations += fresh.length;
          };
          const r0 = runOp(world, s, { op: 'boot' });
          s = r0.state;
          compare(r0.events);
          for (const { op: raw, thread } of ops)
            for (const op of concretize(raw, world, s)) {
              const r = step(world, s, op, thread);
              s = r.state;
              compare(r.events);
            }
        },
      ),
      { numRuns: 200, seed: 7 },
    );
    // The walks are not trivially clean: the comparison covered states with violations.
    expect(violations).toBeGreaterThan(100);
  });

  it('finds exactly what a from-scratch check finds after any single-field change of any record', () => {
    const samples = fc.sample(
      fc.tuple(
        fc.constantFrom(...PRESET_IDS),
        machineSpecArb,
        fc.array(anyOpArb, { minLength: 15, maxLength: 30 }),
      ),
      { numRuns: 6, seed: 11 },
    );
    let compared = 0;
    for (const [preset, spec, ops] of samples) {
      const world = buildWorld(spec, preset);
      const base = walk(world, ops).state;
      checkInvariants(world, base, [], INVARIANTS);
      for (const { label, state } of singleFieldChanges(base)) {
        let fresh: string[];
        try {
          fresh = show(checkInvariants({ ...world }, state, [], INVARIANTS));
        } catch {
          continue; // a change the model cannot represent (e.g. an STE config that does not exist)
        }
        expect(show(checkInvariants(world, state, [], INVARIANTS)), label).toEqual(fresh);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(1000);
  });
});
