import { describe, expect, it } from 'vitest';
import {
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
  IOMMU_DOMAIN_IDENTITY,
  type DomainType,
} from '../../../src/iommu/domain-type.js';
import { EBUSY, EINVAL, ENODEV, EPERM } from '../../../src/kernel/errno.js';
import { Run, fOf, makeFakeOps, testWorld, type TestWorldOptions } from './fake-ops.js';
import { DSA, EXT, NIC0, NIC1, testMachine } from './machines.js';

/** The world the ops' def_domain_type callbacks look BDFs up in (same machine, same indices). */
const w0 = testWorld(testMachine());

function booted(o: TestWorldOptions = {}): Run {
  const r = new Run(testWorld(testMachine(), o));
  expect(r.op({ op: 'boot' })).toBe(0);
  return r;
}

function defaultType(r: Run, bdf: string): DomainType {
  const g = r.world.groupOf[fOf(r.world, bdf)]!;
  const grp = r.state.groups[g]!;
  expect(grp.domain).toBe(grp.defaultDomain);
  return r.state.domains[grp.defaultDomain]!.type;
}

describe('iommu_get_default_domain_type', () => {
  it('translates by default (strict DMA), lazily with iommu.strict=0, passes through with iommu.passthrough=1', () => {
    expect(defaultType(booted(), DSA)).toBe(IOMMU_DOMAIN_DMA);
    expect(defaultType(booted({ cmdline: 'iommu.strict=0' }), DSA)).toBe(IOMMU_DOMAIN_DMA_FQ);
    expect(defaultType(booted({ cmdline: 'iommu.passthrough=1' }), DSA)).toBe(IOMMU_DOMAIN_IDENTITY);
  });

  it('an untrusted device gets a strict DMA domain even with iommu.passthrough=1 or iommu.strict=0', () => {
    expect(defaultType(booted({ cmdline: 'iommu.passthrough=1' }), EXT)).toBe(IOMMU_DOMAIN_DMA);
    expect(defaultType(booted({ cmdline: 'iommu.strict=0' }), EXT)).toBe(IOMMU_DOMAIN_DMA);
  });

  it('a driver forcing IDENTITY on an untrusted device fails the group setup', () => {
    const w = testWorld(testMachine(), {
      ops: makeFakeOps({ defDomainType: (f) => (f === fOf(w0, EXT) ? IOMMU_DOMAIN_IDENTITY : 0) }),
    });
    const r = new Run(w);
    expect(r.op({ op: 'boot' })).toBe(-EINVAL);
    expect(r.events).toContainEqual(
      expect.objectContaining({
        kind: 'info',
        bdf: EXT,
        level: 'err',
        message: expect.stringContaining('Device is not trusted') as string,
      }),
    );
    expect(r.state.groups[w.groupOf[fOf(w, EXT)]!]!.defaultDomain).toBe(-1);
  });

  it('conflicting driver requests in one group: IDENTITY wins, with the driver-error log', () => {
    const w = testWorld(testMachine(), {
      groups: [[NIC0, NIC1]],
      ops: makeFakeOps({
        defDomainType: (f) =>
          f === fOf(w0, NIC0) ? IOMMU_DOMAIN_DMA : f === fOf(w0, NIC1) ? IOMMU_DOMAIN_IDENTITY : 0,
      }),
    });
    const r = new Run(w);
    expect(r.op({ op: 'boot' })).toBe(0);
    expect(defaultType(r, NIC0)).toBe(IOMMU_DOMAIN_IDENTITY);
    expect(r.events).toContainEqual(
      expect.objectContaining({
        kind: 'info',
        bdf: NIC1,
        level: 'err',
        message: expect.stringContaining('conflicting def_domain_type, DMA and IDENTITY') as string,
      }),
    );
  });
});

describe('set-group-type (iommu_group_store_type)', () => {
  it('replaces the default domain of a driverless group and frees the old one', () => {
    const r = booted();
    const f = fOf(r.world, DSA);
    const g = r.world.groupOf[f]!;
    const live = r.state.domains.filter((d) => d !== null).length;
    expect(r.op({ op: 'set-group-type', f, type: 'identity' })).toBe(0);
    const grp = r.state.groups[g]!;
    expect(r.state.domains[grp.defaultDomain]!.type).toBe(IOMMU_DOMAIN_IDENTITY);
    expect(grp.domain).toBe(grp.defaultDomain);
    expect(r.master(f).rid).toBe(grp.defaultDomain);
    expect(r.state.domains.filter((d) => d !== null).length).toBe(live);
    expect(r.iommuFns()).toContain('iommu_setup_default_domain');
  });

  it('is refused with -EPERM while a DMA-API driver is bound, except DMA -> DMA-FQ in place', () => {
    const r = booted();
    const f = fOf(r.world, DSA);
    const g = r.world.groupOf[f]!;
    expect(r.op({ op: 'bind', f, kind: 'dma' })).toBe(0);
    const def = r.state.groups[g]!.defaultDomain;
    expect(r.op({ op: 'set-group-type', f, type: 'identity' })).toBe(-EPERM);
    expect(r.op({ op: 'set-group-type', f, type: 'dma-fq' })).toBe(0);
    expect(r.state.groups[g]!.defaultDomain).toBe(def);
    expect(r.state.domains[def]!.type).toBe(IOMMU_DOMAIN_DMA_FQ);
  });

  it('an untrusted group cannot be made identity (-EINVAL)', () => {
    const r = booted();
    const f = fOf(r.world, EXT);
    expect(r.op({ op: 'set-group-type', f, type: 'identity' })).toBe(-EINVAL);
    expect(defaultType(r, EXT)).toBe(IOMMU_DOMAIN_DMA);
  });

  it('a failed switch keeps the old default domain and frees the new one', () => {
    const r = booted();
    const f = fOf(r.world, DSA);
    const g = r.world.groupOf[f]!;
    const def = r.state.groups[g]!.defaultDomain;
    const live = r.state.domains.filter((d) => d !== null).length;
    r.armFault('fake_attach_dev', f, -EINVAL);
    expect(r.op({ op: 'set-group-type', f, type: 'identity' })).toBe(-EINVAL);
    expect(r.state.groups[g]!.defaultDomain).toBe(def);
    expect(r.state.domains[def]!.type).toBe(IOMMU_DOMAIN_DMA);
    expect(r.state.domains.filter((d) => d !== null).length).toBe(live);
  });

  it('-EBUSY while a device of the group is under reset', () => {
    const r = booted();
    const f = fOf(r.world, DSA);
    expect(r.step({ op: 'flr', f }).waiting).toBe(true);
    expect(r.op({ op: 'set-group-type', f, type: 'identity' }, 1)).toBe(-EBUSY);
  });

  it('-ENODEV for a function without an IOMMU', () => {
    const r = new Run(testWorld(testMachine()));
    expect(r.op({ op: 'set-group-type', f: fOf(r.world, DSA), type: 'dma' })).toBe(-ENODEV);
  });
});
