import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IOMMU_DOMAIN_DMA, IOMMU_DOMAIN_IDENTITY } from '../../../src/iommu/domain-type.js';
import { INVARIANTS } from '../../../src/invariants/catalogue.js';
import { MachineBuilder, type FunctionSpec } from '../../../src/pci/builder.js';
import { PRESET_IDS } from '../../../src/kernel/presets.js';
import { bootByHand, check, fakeWorld } from './fake-ops.js';
import { EP_ATS, EP_CXL, EP_PASID, EP_PLAIN, basicMachine, machine, sriovMachine } from './machines.js';

describe('a consistent state breaks no invariant', () => {
  it.each(PRESET_IDS.map((p) => [p]))('a hand-booted basic machine under %s', (preset) => {
    for (const type of [IOMMU_DOMAIN_DMA, IOMMU_DOMAIN_IDENTITY] as const) {
      const world = fakeWorld(basicMachine(), { preset });
      const s = bootByHand(world, { type });
      expect(check(world, s, INVARIANTS)).toEqual([]);
      // ATS is really on where the driver decided it (the state is not trivially empty).
      expect(s.pci.some((p) => p.atsEnabled)).toBe(type === IOMMU_DOMAIN_DMA);
    }
  });

  it('a hand-booted SR-IOV machine under v7.3', () => {
    const world = fakeWorld(sriovMachine());
    const s = bootByHand(world);
    expect(check(world, s, INVARIANTS)).toEqual([]);
    expect(s.pci.filter((p) => p.atsEnabled)).toHaveLength(3);
  });

  it('a CXL.cache device in IDENTITY under v7.2 has ATS on and holds', () => {
    const world = fakeWorld(machine({ '0000:01:00.0': EP_CXL }), { preset: 'v7.2' });
    const s = bootByHand(world, { type: IOMMU_DOMAIN_IDENTITY });
    expect(check(world, s, INVARIANTS)).toEqual([]);
    expect(s.pci[world.machine.byBdf.get('0000:01:00.0')!]!.atsEnabled).toBe(true);
  });

  it('random machines below a root port, booted by hand under v7.3, hold every invariant', () => {
    const specs: FunctionSpec[] = [EP_ATS, EP_PASID, EP_PLAIN, EP_CXL];
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: specs.length - 1 }), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom(IOMMU_DOMAIN_DMA, IOMMU_DOMAIN_IDENTITY),
        (kinds, external, grouped, type) => {
          const eps: Record<string, FunctionSpec> = {};
          kinds.forEach((k, i) => (eps[`0000:01:${i.toString(16).padStart(2, '0')}.0`] = specs[k]!));
          const m = machine(eps, { externalFacing: external });
          const bdfs = Object.keys(eps);
          const world = fakeWorld(m, grouped && bdfs.length > 1 ? { groups: [bdfs.slice(0, 2)] } : {});
          const s = bootByHand(world, { type });
          expect(check(world, s, INVARIANTS)).toEqual([]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a lone endpoint on the root bus', () => {
    const m = new MachineBuilder().function('0000:00:02.0', EP_ATS).build();
    const world = fakeWorld(m);
    expect(check(world, bootByHand(world), INVARIANTS)).toEqual([]);
  });
});
