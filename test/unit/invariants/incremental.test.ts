import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INVARIANTS } from '../../../src/invariants/catalogue.js';
import { CheckBatch } from '../../../src/invariants/incremental.js';
import { checkInvariants } from '../../../src/invariants/invariant.js';
import { PRESET_IDS } from '../../../src/kernel/presets.js';
import type { SystemState } from '../../../src/model/state.js';
import { runOp } from '../../../src/model/step.js';
import { Tx } from '../../../src/model/tx.js';
import { initialState } from '../../../src/model/world-builder.js';
import type { World } from '../../../src/model/world.js';
import {
  anyOpArb,
  assertOnRandomWalks,
  buildWorld,
  machineSpecArb,
  stepRandomWalk,
  walk,
} from '../../model-based/walk.js';
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
          stepRandomWalk(world, s, ops, (r) => {
            s = r.state;
            compare(r.events);
          });
        },
      ),
      { numRuns: 200, seed: 7 },
    );
    // The walks are not trivially clean: the comparison covered states with violations.
    expect(violations).toBeGreaterThan(100);
  });

  it('checks the per-function and per-group invariants in batches that find what each invariant finds on its own, in order', () => {
    let violations = 0;
    // Each invariant's own check(), in catalogue order, as checkInvariants() reports them.
    const oneByOne = (world: World, s: SystemState): string[] => {
      const c = { world, state: s, view: new Tx(world, s), events: [] };
      const out: string[] = [];
      for (const inv of INVARIANTS) {
        if (inv.drivers !== undefined && !inv.drivers.includes(world.iommu.driver)) continue;
        for (const f of inv.check(c)) out.push(`${inv.id}@${f.bdf ?? ''}: ${f.detail}`);
      }
      return out;
    };
    expect(INVARIANTS.filter((i) => CheckBatch.specOf(i) !== undefined).length).toBeGreaterThan(15);
    // A thread waiting in a split operation resumes that operation (so states mid-operation,
    // where the quiescent-only batch does not apply, are checked too).
    assertOnRandomWalks({ numRuns: 100, seed: 23 }, (world, { state: s }) => {
      const batched = show(checkInvariants(world, s, [], INVARIANTS));
      expect(batched).toEqual(oneByOne(world, s));
      violations += batched.length;
    });
    // States with a field changed, where almost every invariant fires somewhere.
    const fired = new Set<string>();
    for (const [preset, spec, list] of fc.sample(
      fc.tuple(
        fc.constantFrom(...PRESET_IDS),
        machineSpecArb,
        fc.array(anyOpArb, { minLength: 15, maxLength: 30 }),
      ),
      { numRuns: 4, seed: 29 },
    )) {
      const world = buildWorld(spec, preset);
      for (const { state } of singleFieldChanges(walk(world, list).state)) {
        let want: string[];
        try {
          want = oneByOne(world, state);
        } catch {
          continue; // a change the model cannot represent
        }
        const batched = show(checkInvariants(world, state, [], INVARIANTS));
        expect(batched).toEqual(want);
        for (const v of batched) fired.add(v.slice(0, v.indexOf('@')));
        violations += batched.length;
        // The same state with a thread in the middle of an operation: the quiescent-only
        // invariants do not apply there, batched or not.
        const busy: SystemState = {
          ...state,
          threads: [
            ...state.threads,
            { pc: 0, cont: { op: 'flr', phase: 1, args: [0], domainArgs: 0, key: 0 } },
          ],
        };
        expect(show(checkInvariants(world, busy, [], INVARIANTS))).toEqual(oneByOne(world, busy));
      }
    }
    expect(violations).toBeGreaterThan(50);
    // Most batched invariants fired in the comparison.
    const batchedIds = INVARIANTS.filter((i) => CheckBatch.specOf(i) !== undefined).map((i) => i.id);
    expect(batchedIds.filter((id) => fired.has(id)).length).toBeGreaterThan(batchedIds.length / 2);
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
