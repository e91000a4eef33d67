import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_SVA,
  IOMMU_DOMAIN_UNMANAGED,
} from '../../../src/iommu/domain-type.js';
import { iommu_replace_device_pasid } from '../../../src/iommu/pasid.js';
import { EBUSY, EINVAL, EIO, ENOENT, ENOSPC, EOPNOTSUPP } from '../../../src/kernel/errno.js';
import { tupleGet } from '../../../src/model/flat.js';
import { Tx } from '../../../src/model/tx.js';
import { MachineBuilder } from '../../../src/pci/builder.js';
import type { Machine } from '../../../src/pci/topology.js';
import { Run, fOf, makeFakeOps, testWorld, type TestWorldOptions } from './fake-ops.js';
import { DSA, NIC0, testMachine } from './machines.js';

const A = '0000:01:00.0';
const B = '0000:02:00.0';

/** Two PASID-capable accelerators (PASID width 8: max_pasids 256) on their own root ports. */
function twoAccels(): Machine {
  return new MachineBuilder()
    .rootPort('00:01.0', { secondaryBus: 1, subordinateBus: 1 })
    .function('01:00.0', { vendorId: 0x8086, deviceId: 0x0b25, ats: {}, pasid: { width: 8 } })
    .rootPort('00:02.0', { secondaryBus: 2, subordinateBus: 2 })
    .function('02:00.0', { vendorId: 0x8086, deviceId: 0x0b25, ats: {}, pasid: { width: 8 } })
    .build();
}

function booted(m: Machine, o: TestWorldOptions = {}): Run {
  const r = new Run(testWorld(m, o));
  expect(r.op({ op: 'boot' })).toBe(0);
  return r;
}

function pasidsOf(r: Run, bdf: string): readonly number[] {
  return r.state.groups[r.world.groupOf[fOf(r.world, bdf)]!]!.pasids;
}

describe('global PASID allocator', () => {
  it('hands out the lowest free PASID from 1 and takes it back on detach', () => {
    const r = booted(twoAccels());
    const a = fOf(r.world, A);
    const b = fOf(r.world, B);
    expect(r.op({ op: 'pasid-attach', f: a, pasid: 0, domain: 'sva' })).toBe(0);
    expect(r.op({ op: 'pasid-attach', f: b, pasid: 0, domain: 'dma' })).toBe(0);
    expect(r.op({ op: 'pasid-attach', f: a, pasid: 0, domain: 'unmanaged' })).toBe(0);
    expect(r.state.globalPasids).toEqual([1, 2, 3]);
    const ga = pasidsOf(r, A);
    expect(ga.filter((_, i) => i % 2 === 0)).toEqual([1, 3]);
    expect(r.state.domains[tupleGet(ga, 2, [1], 1, -1)]!.type).toBe(IOMMU_DOMAIN_SVA);
    expect(r.state.domains[tupleGet(ga, 2, [3], 1, -1)]!.type).toBe(IOMMU_DOMAIN_UNMANAGED);
    // IDXD's pattern: the DMA-API (default) domain on the PASID too
    const gb = r.state.groups[r.world.groupOf[b]!]!;
    expect(gb.pasids).toEqual([2, gb.defaultDomain]);
    expect(r.master(b).pasids).toEqual([2, gb.defaultDomain]);
    expect(r.op({ op: 'pasid-detach', f: a, pasid: 1 })).toBe(0);
    expect(r.state.globalPasids).toEqual([2, 3]);
    expect(r.master(a).pasids.filter((_, i) => i % 2 === 0)).toEqual([3]);
    expect(r.op({ op: 'pasid-attach', f: b, pasid: 0, domain: 'sva' })).toBe(0);
    expect(r.state.globalPasids).toEqual([1, 2, 3]);
    expect(r.op({ op: 'pasid-detach', f: a, pasid: 1 })).toBe(-ENOENT);
  });

  it('stays within [1, max_pasids - 1]: with 1 SSID bit only PASID 1 exists', () => {
    const r = booted(twoAccels(), { features: { ssidBits: 1 } });
    const a = fOf(r.world, A);
    expect(r.world.maxPasids[a]).toBe(2);
    expect(r.op({ op: 'pasid-attach', f: a, pasid: 0, domain: 'sva' })).toBe(0);
    const live = r.state.domains.filter((d) => d !== null).length;
    expect(r.op({ op: 'pasid-attach', f: fOf(r.world, B), pasid: 0, domain: 'sva' })).toBe(-ENOSPC);
    expect(r.state.globalPasids).toEqual([1]);
    expect(r.state.domains.filter((d) => d !== null).length).toBe(live);
  });

  it('a device without PASID support gets no global PASID (-ENOSPC)', () => {
    const r = booted(testMachine());
    expect(r.op({ op: 'pasid-attach', f: fOf(r.world, NIC0), pasid: 0, domain: 'sva' })).toBe(-ENOSPC);
    expect(r.state.globalPasids).toEqual([]);
  });

  it('property: allocated PASIDs are unique, in range, and exactly the attached ones', () => {
    const world = testWorld(twoAccels(), { features: { ssidBits: 2 } });
    const devs = [fOf(world, A), fOf(world, B)];
    const cmd = fc.oneof(
      fc.record({
        attach: fc.constant(true),
        dev: fc.integer({ min: 0, max: 1 }),
        kind: fc.constantFrom('dma', 'sva', 'unmanaged'),
      }),
      fc.record({
        attach: fc.constant(false),
        dev: fc.integer({ min: 0, max: 1 }),
        pasid: fc.integer({ min: 1, max: 3 }),
      }),
    );
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 14 }), (cmds) => {
        const r = new Run(world);
        r.op({ op: 'boot' });
        for (const c of cmds) {
          const f = devs[c.dev]!;
          if (c.attach) r.op({ op: 'pasid-attach', f, pasid: 0, domain: c.kind });
          else r.op({ op: 'pasid-detach', f, pasid: c.pasid });
          const gp = r.state.globalPasids;
          for (let i = 1; i < gp.length; i++) expect(gp[i]!).toBeGreaterThan(gp[i - 1]!);
          for (const p of gp) expect(p >= 1 && p <= 3).toBe(true);
          const attached = new Set<number>();
          for (const f2 of devs) {
            const g = r.state.groups[world.groupOf[f2]!]!;
            for (let i = 0; i < g.pasids.length; i += 2) {
              expect(attached.has(g.pasids[i]!)).toBe(false);
              attached.add(g.pasids[i]!);
              expect(r.state.domains[g.pasids[i + 1]!]).not.toBeNull();
            }
          }
          expect([...attached].sort((x, y) => x - y)).toEqual(gp);
        }
        expect(r.warns()).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });
});

describe('iommu_attach_device_pasid', () => {
  it('-EINVAL beyond max_pasids, -EBUSY for a PASID taken in the group', () => {
    const r = booted(testMachine());
    const f = fOf(r.world, DSA);
    expect(r.world.maxPasids[f]).toBe(256);
    expect(r.op({ op: 'pasid-attach', f, pasid: 256, domain: 'sva' })).toBe(-EINVAL);
    expect(r.op({ op: 'pasid-attach', f, pasid: 255, domain: 'sva' })).toBe(0);
    const live = r.state.domains.filter((d) => d !== null).length;
    expect(r.op({ op: 'pasid-attach', f, pasid: 255, domain: 'unmanaged' })).toBe(-EBUSY);
    expect(r.state.domains.filter((d) => d !== null).length).toBe(live);
    expect(pasidsOf(r, DSA).length).toBe(2);
  });

  it('-EOPNOTSUPP for a domain without set_dev_pasid, or a driver without a blocked domain', () => {
    const r = booted(testMachine(), {
      cmdline: 'iommu.passthrough=1',
      ops: makeFakeOps({ noSetDevPasid: [IOMMU_DOMAIN_IDENTITY] }),
    });
    const f = fOf(r.world, DSA);
    expect(r.state.domains[r.state.groups[r.world.groupOf[f]!]!.defaultDomain]!.type).toBe(
      IOMMU_DOMAIN_IDENTITY,
    );
    expect(r.op({ op: 'pasid-attach', f, pasid: 0, domain: 'dma' })).toBe(-EOPNOTSUPP);
    expect(r.state.globalPasids).toEqual([]);
    const r2 = booted(testMachine(), { ops: makeFakeOps({ hasBlockedDomain: false }) });
    expect(r2.op({ op: 'pasid-attach', f, pasid: 0, domain: 'sva' })).toBe(-EOPNOTSUPP);
    expect(r2.state.domains.filter((d) => d?.type === IOMMU_DOMAIN_SVA)).toEqual([]);
  });

  it('is all or nothing across the group: a failure on the second device removes it from the first', () => {
    const r = booted(twoAccels(), { groups: [[A, B]] });
    const a = fOf(r.world, A);
    const b = fOf(r.world, B);
    r.armFault('fake_set_dev_pasid', b, -EIO);
    expect(r.op({ op: 'pasid-attach', f: a, pasid: 0, domain: 'sva' })).toBe(-EIO);
    expect(pasidsOf(r, A)).toEqual([]);
    expect(r.master(a).pasids).toEqual([]);
    expect(r.master(b).pasids).toEqual([]);
    expect(r.state.globalPasids).toEqual([]);
    expect(r.state.domains.filter((d) => d?.type === IOMMU_DOMAIN_SVA)).toEqual([]);
    // and succeeds on both when nothing fails
    expect(r.op({ op: 'pasid-attach', f: a, pasid: 0, domain: 'sva' })).toBe(0);
    expect(r.master(a).pasids[0]).toBe(1);
    expect(r.master(b).pasids[0]).toBe(1);
  });

  it('members without PASID support are skipped', () => {
    const r = booted(testMachine(), { groups: [[DSA, NIC0]] });
    const f = fOf(r.world, DSA);
    expect(r.op({ op: 'pasid-attach', f, pasid: 0, domain: 'sva' })).toBe(0);
    expect(r.master(f).pasids.length).toBe(2);
    expect(r.master(fOf(r.world, NIC0)).pasids).toEqual([]);
  });
});

describe('iommu_replace_device_pasid', () => {
  it('moves an attached PASID to another domain; -EINVAL for one not attached', () => {
    const r = booted(testMachine());
    const f = fOf(r.world, DSA);
    expect(r.op({ op: 'pasid-attach', f, pasid: 5, domain: 'sva' })).toBe(0);
    r.edit((tx: Tx) => {
      const d = tx.allocDomain(IOMMU_DOMAIN_UNMANAGED, 1);
      expect(iommu_replace_device_pasid(tx, d, f, 6)).toBe(-EINVAL);
      expect(iommu_replace_device_pasid(tx, d, f, 5)).toBe(0);
      expect(tupleGet(tx.group(tx.world.groupOf[f]!).pasids, 2, [5], 1, -1)).toBe(d);
    });
    const g = r.state.groups[r.world.groupOf[f]!]!;
    expect(r.state.domains[g.pasids[1]!]!.type).toBe(IOMMU_DOMAIN_UNMANAGED);
    expect(r.master(f).pasids).toEqual(g.pasids);
  });
});

describe('dma-pasid-per-domain (thread 3, 2022): the DMA-API PASID belongs to the domain', () => {
  it('collides with a global PASID another device got, visibly in globalPasids', () => {
    const r = booted(twoAccels(), { switches: { 'dma-pasid-per-domain': true } });
    const a = fOf(r.world, A);
    const b = fOf(r.world, B);
    expect(r.op({ op: 'pasid-attach', f: a, pasid: 0, domain: 'sva' })).toBe(0);
    expect(r.op({ op: 'pasid-attach', f: b, pasid: 0, domain: 'dma' })).toBe(0);
    const gb = r.state.groups[r.world.groupOf[b]!]!;
    expect(gb.pasids).toEqual([1, gb.defaultDomain]);
    expect(pasidsOf(r, A)[0]).toBe(1);
    expect(r.state.globalPasids).toEqual([1, 1]);
    expect(r.iommuFns()).toContain('iommu_attach_dma_pasid');
    // the detach gives back one occurrence each
    expect(r.op({ op: 'pasid-detach', f: b, pasid: 1 })).toBe(0);
    expect(r.state.globalPasids).toEqual([1]);
    expect(r.op({ op: 'pasid-detach', f: a, pasid: 1 })).toBe(0);
    expect(r.state.globalPasids).toEqual([]);
  });

  it('the merged design takes the DMA-API PASID from the global allocator: no collision', () => {
    const r = booted(twoAccels());
    expect(r.op({ op: 'pasid-attach', f: fOf(r.world, A), pasid: 0, domain: 'sva' })).toBe(0);
    expect(r.op({ op: 'pasid-attach', f: fOf(r.world, B), pasid: 0, domain: 'dma' })).toBe(0);
    expect(r.state.globalPasids).toEqual([1, 2]);
  });
});
