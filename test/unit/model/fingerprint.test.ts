import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import '../../../src/model/handlers.js';
import { smmuv3Ops } from '../../../src/drivers/smmuv3/ops.js';
import { IOMMU_DOMAIN_DMA, IOMMU_DOMAIN_UNMANAGED } from '../../../src/iommu/domain-type.js';
import { resolveKernel } from '../../../src/kernel/config.js';
import {
  Coll,
  contentHash,
  fingerprintFull,
  recordContentHash,
  statesEqual,
} from '../../../src/model/fingerprint.js';
import type { Op } from '../../../src/model/ops.js';
import type { SystemState } from '../../../src/model/state.js';
import { runOp, step } from '../../../src/model/step.js';
import { Tx } from '../../../src/model/tx.js';
import { createWorld, initialState } from '../../../src/model/world-builder.js';
import type { World } from '../../../src/model/world.js';
import { buildWorld, healthySpecArb, opArb, stepRandomWalk } from '../../model-based/walk.js';
import { MachineBuilder } from '../../../src/pci/builder.js';
import { singleFieldChanges } from './variants.js';

const fp = (s: SystemState): string => `${s.fpHi}:${s.fpLo}`;

/** The typed record hashers agree with the generic walk on every record of the state. */
function expectTypedHashersAgree(s: SystemState): void {
  const colls: [Coll, readonly unknown[]][] = [
    [Coll.Pci, s.pci],
    [Coll.Dev, s.devs],
    [Coll.Gdev, s.gdevs],
    [Coll.Group, s.groups],
    [Coll.Domain, s.domains],
    [Coll.Master, s.masters],
    [Coll.Thread, s.threads],
  ];
  for (const [c, arr] of colls)
    for (const r of arr)
      if (r !== null)
        expect(recordContentHash(c, r as object), `collection ${c}`).toEqual(contentHash(r as object));
}
const full = (s: SystemState): string => {
  const x = fingerprintFull(s);
  return `${x.hi}:${x.lo}`;
};

/** A booted machine with a bit of everything: drivers, a VFIO group with a user domain and mappings, a PASID, a thread mid-unmap. */
function richState(): { world: World; state: SystemState } {
  const world = buildWorld(
    {
      endpoints: ['ats-pasid', 'ats', 'sriov-pf'],
      external: false,
      shareGroup: false,
      requireDirect: false,
      features: {},
    },
    'v7.3',
  );
  const at = (bdf: string): number => world.machine.byBdf.get(bdf)!;
  const A = at('0000:01:00.0');
  const B = at('0000:01:01.0');
  let s = initialState(world, 2);
  const ops: Op[] = [
    { op: 'boot' },
    { op: 'bind', f: A, kind: 'dma', msi: true },
    { op: 'pasid-attach', f: A, pasid: 0, domain: 'dma' },
    { op: 'dma-map', f: A },
    { op: 'dma-map', f: A },
    { op: 'atc-fill', f: A, iova: 0 },
    { op: 'vfio-claim', f: B },
    { op: 'attach', f: B, domain: 'unmanaged' },
    { op: 'dma-map', f: B },
    { op: 'arm-fault', fn: 'iommu_map', f: B, skip: 3, errno: -12 },
  ];
  for (const op of ops) s = runOp(world, s, op).state;
  // Thread 1 waits in a strict unmap (a continuation with a domain argument).
  s = step(world, s, { op: 'dma-unmap', f: A, iova: 1 }, 1).state;
  expect(s.threads[1]!.cont).not.toBeNull();
  return { world, state: s };
}

describe('incremental fingerprints', () => {
  it('equal fingerprintFull after every step of random walks (one and two threads)', () => {
    fc.assert(
      fc.property(
        healthySpecArb,
        fc.array(fc.record({ op: opArb, thread: fc.nat(1) }), { minLength: 1, maxLength: 30 }),
        (spec, ops) => {
          const world = buildWorld(spec, 'v7.3');
          let s = initialState(world, 2);
          expect(fp(s)).toBe(full(s));
          s = runOp(world, s, { op: 'boot' }).state;
          stepRandomWalk(world, s, ops, ({ state }) => {
            expect(fp(state)).toBe(full(state));
            expectTypedHashersAgree(state);
          });
        },
      ),
      { numRuns: 100, seed: 0xf1 },
    );
  });

  it('equal fingerprintFull after a state with every kind of record is built', () => {
    const { state } = richState();
    expect(fp(state)).toBe(full(state));
    expectTypedHashersAgree(state);
    expect(state.domains.length).toBeGreaterThan(3);
    expect(state.globalPasids.length).toBe(1);
    expect(state.faults.length).toBe(1);
  });
});

describe('a fingerprint covers every field', () => {
  const { state } = richState();
  const base = full(state);

  it('changing any single field of any record (nested ones included) changes the fingerprint', () => {
    let tried = 0;
    const same: string[] = [];
    for (const { label, state: changed } of singleFieldChanges(state)) {
      tried++;
      if (full(changed) === base) same.push(label);
    }
    expect(same).toEqual([]);
    expect(tried).toBeGreaterThan(400);
  });

  it('a record moved to another position changes it (hashes are positional)', () => {
    const pci = state.pci;
    const swapped = { ...state, pci: [pci[1]!, pci[0]!, ...pci.slice(2)] };
    expect(pci[0]).not.toEqual(pci[1]);
    expect(full(swapped)).not.toBe(base);
  });

  it('the incremental path agrees for a change made through a Tx to each collection', () => {
    const { world, state: s } = richState();
    const edits: ((tx: Tx) => void)[] = [
      (tx) => (tx.mut(1).atsStu = 13),
      (tx) => (tx.mutDevice(1).pendingInv = 3),
      (tx) => (tx.mutGdev(1).resetDepth = 2),
      (tx) => (tx.mutGroup(0).ownerCnt = 5),
      (tx) => (tx.mutDomain(0).iotlb = [9, 9]),
      (tx) => (tx.mutMaster(1).ats_enabled = !(tx.master(1).ats_enabled as boolean)),
      (tx) => {
        tx.setDrv({ ...tx.drv(), extra: 1 });
      },
      (tx) => {
        tx.setGlobalPasids([1, 2]);
      },
      (tx) => {
        tx.setMem({ pages: tx.mem().pages.map((p) => p + 1) });
      },
      (tx) => {
        tx.setFaults([]);
      },
      (tx) => {
        tx.setThread(0, { pc: 7, cont: null });
      },
    ];
    for (const edit of edits) {
      const tx = new Tx(world, s);
      edit(tx);
      const next = tx.commit();
      expect(fp(next)).toBe(full(next));
      expect(fp(next)).not.toBe(fp(s));
    }
  });
});

describe('canonical domain numbering', () => {
  function twoGroups(): World {
    const m = new MachineBuilder()
      .function('0000:00:02.0', { vendorId: 1, deviceId: 2 })
      .function('0000:00:03.0', { vendorId: 1, deviceId: 3 })
      .build();
    return createWorld(m, { kernel: resolveKernel('v7.3'), ops: smmuv3Ops });
  }

  /** Gives group 0 a DMA domain with a mapping and group 1 an UNMANAGED one, allocating in the given order. */
  function allocate(world: World, s: SystemState, firstGroup: 0 | 1): SystemState {
    const tx = new Tx(world, s);
    const slots: number[] = [];
    for (const g of firstGroup === 0 ? [0, 1] : [1, 0]) {
      const d = tx.allocDomain(g === 0 ? IOMMU_DOMAIN_DMA : IOMMU_DOMAIN_UNMANAGED, g);
      slots[g] = d;
      const grp = tx.mutGroup(g);
      grp.domain = d;
      grp.defaultDomain = d;
    }
    tx.mutDomain(slots[0]!).pt = [0, 3];
    tx.setMem({ pages: tx.mem().pages.map((p, i) => (i === 3 ? 1 + slots[0]! : p)) });
    return tx.commit();
  }

  it('two states that differ only in the order domains were allocated are the same state', () => {
    const world = twoGroups();
    const s0 = initialState(world);
    const a = allocate(world, s0, 0);
    const b = allocate(world, s0, 1);
    expect(fp(a)).toBe(fp(b));
    expect(statesEqual(a, b)).toBe(true);
    expect(a.groups.map((g) => g.domain)).toEqual([0, 1]);
    expect(b.mem.pages[3]).toBe(1);
  });

  it('and freeing then reallocating lands on the same state as allocating once', () => {
    const world = twoGroups();
    const a = allocate(world, initialState(world), 0);
    const tx = new Tx(world, a);
    const extra = tx.allocDomain(IOMMU_DOMAIN_UNMANAGED, 1);
    tx.freeDomain(extra);
    const b = tx.commit();
    expect(fp(b)).toBe(fp(a));
    expect(statesEqual(a, b)).toBe(true);
  });
});
