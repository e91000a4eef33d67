import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INVARIANTS } from '../../src/invariants/catalogue.js';
import { checkInvariants } from '../../src/invariants/invariant.js';
import { hasHandler, runOp, step } from '../../src/model/step.js';
import { initialState } from '../../src/model/world-builder.js';
import { buildWorld, firstViolation, healthySpecArb, opArb, walk, walkThreads } from './walk.js';

describe('random correct kernel flows keep every invariant under v7.3', () => {
  it('the handlers are registered', () => {
    for (const op of [
      'boot',
      'bind',
      'vfio-claim',
      'pasid-attach',
      'flr',
      'dma-unmap',
      'device-dma',
    ] as const)
      expect(hasHandler(op), op).toBe(true);
  });

  it('one thread, every operation run to completion', () => {
    fc.assert(
      fc.property(healthySpecArb, fc.array(opArb, { minLength: 1, maxLength: 40 }), (spec, ops) => {
        expect(firstViolation(walk(buildWorld(spec, 'v7.3'), ops))).toBeNull();
      }),
      { numRuns: 200, seed: 0x5eed },
    );
  });

  it('two threads, split operations (resets, strict unmaps) interleaved step by step', () => {
    fc.assert(
      fc.property(
        healthySpecArb,
        fc.array(fc.record({ op: opArb, thread: fc.nat(1) }), { minLength: 1, maxLength: 40 }),
        (spec, ops) => {
          expect(firstViolation(walkThreads(buildWorld(spec, 'v7.3'), ops))).toBeNull();
        },
      ),
      { numRuns: 200, seed: 0x5eed },
    );
  });
});

describe('failed attaches', () => {
  it('v7.3: a group attach that fails on its second member reverts the first (failed-attach-intact on real events)', () => {
    const w = buildWorld(
      { endpoints: ['ats', 'ats'], external: false, shareGroup: true, requireDirect: false, features: {} },
      'v7.3',
    );
    const [a, b] = ['0000:01:00.0', '0000:01:01.0'].map((x) => w.machine.byBdf.get(x)!) as [number, number];
    let s = initialState(w);
    for (const op of [
      { op: 'boot' },
      { op: 'vfio-claim', f: a },
      { op: 'vfio-claim', f: b },
      { op: 'arm-fault', fn: 'arm_smmu_attach_prepare', f: b, skip: 0, errno: -12 },
    ] as const)
      s = runOp(w, s, op).state;
    const r = runOp(w, s, { op: 'attach', f: a, domain: 'unmanaged' });
    expect(r.ret).toBe(-12);
    expect(
      r.events.some((e) => e.kind === 'ste-write' && e.bdf === '0000:01:00.0' && e.cfg === 's1-trans'),
    ).toBe(true);
    expect(r.events.some((e) => e.kind === 'iommu' && / failed \(-12\); reverted/.test(e.detail))).toBe(true);
    expect(checkInvariants(w, r.state, r.events, INVARIANTS)).toEqual([]);
  });
});

describe('an interleaving the random walks found', () => {
  const spec = {
    endpoints: ['ats-pasid'],
    external: false,
    shareGroup: false,
    requireDirect: false,
    features: {},
  } as const;

  // iommu_detach_device_pasid() -> __iommu_remove_group_pasid() removes the PASID from every
  // PASID-capable member, the one parked for a reset included (NV-Kernels iommu.c, with the reset
  // series), although pci_dev_reset_iommu_prepare() already removed it there. The SMMU then
  // unreferences invalidation-array entries that are gone. (kernel-semantics.md b.4 says the
  // removal skips gdev->blocked devices; the source read does not.)
  it('v7.3: a PASID detached while its function is parked for an FLR is removed from it a second time', () => {
    const w = buildWorld(spec, 'v7.3');
    const f = w.machine.byBdf.get('0000:01:00.0')!;
    let s = initialState(w, 2);
    const found: string[] = [];
    const go = (r: ReturnType<typeof step>): void => {
      s = r.state;
      found.push(...checkInvariants(w, s, r.events, INVARIANTS).map((v) => `${v.id}@${v.bdf ?? ''}`));
    };
    go(runOp(w, s, { op: 'boot' }));
    go(runOp(w, s, { op: 'bind', f, kind: 'dma' }));
    go(runOp(w, s, { op: 'pasid-attach', f, pasid: 0, domain: 'dma' }));
    expect(s.groups[w.groupOf[f]!]!.pasids.length).toBe(2);
    go(step(w, s, { op: 'flr', f }, 0)); // prepare: the RID and the PASID go to the blocking domain
    expect(found).toEqual([]);
    go(runOp(w, s, { op: 'pasid-detach', f, pasid: 1 }, 1));
    go(step(w, s, { op: 'flr', f }, 0));
    expect(found).toEqual(['warn:arm_smmu_invs_unref@0000:01:00.0']);
  });
});
