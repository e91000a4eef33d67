import { describe, expect, it } from 'vitest';
import { IOMMU_DOMAIN_DMA } from '../../../src/iommu/domain-type.js';
import { EIO, ENODEV } from '../../../src/kernel/errno.js';
import { Run, fOf, testWorld } from './fake-ops.js';
import { DSA, NIC0, NIC1, VF0, testMachine } from './machines.js';

describe('boot (bus_iommu_probe)', () => {
  it('probes every present function, gives each group a default domain and attaches it', () => {
    const r = new Run(testWorld(testMachine()));
    expect(r.op({ op: 'boot' })).toBe(0);
    const w = r.world;
    for (let f = 0; f < w.infos.length; f++) {
      const present = r.state.devs[f]!.present;
      expect(r.state.gdevs[f]!.probed).toBe(present);
      if (!present) continue;
      const grp = r.state.groups[w.groupOf[f]!]!;
      expect(grp.domain).toBe(grp.defaultDomain);
      expect(r.state.domains[grp.domain]!.type).toBe(IOMMU_DOMAIN_DMA);
      expect(r.master(f)).toMatchObject({ probed: true, rid: grp.domain, attaches: 1 });
    }
    expect(r.state.gdevs[fOf(w, VF0)]!.probed).toBe(false);
    expect(r.events).toContainEqual({
      kind: 'iommu',
      bdf: DSA,
      fn: '__iommu_probe_device',
      detail: `Adding to iommu group ${w.groupOf[fOf(w, DSA)]}`,
    });
    const again = r.state;
    expect(r.op({ op: 'boot' })).toBe(0);
    expect(r.state.groups).toEqual(again.groups);
  });

  it('a probe_device failure leaves the function without an IOMMU', () => {
    const r = new Run(testWorld(testMachine()));
    const f = fOf(r.world, DSA);
    r.armFault('fake_probe_device', f, -EIO);
    expect(r.op({ op: 'boot' })).toBe(0);
    expect(r.state.gdevs[f]!.probed).toBe(false);
    expect(r.state.groups[r.world.groupOf[f]!]!.defaultDomain).toBe(-1);
    expect(r.events).toContainEqual(
      expect.objectContaining({
        kind: 'info',
        bdf: DSA,
        message: expect.stringContaining('iommu_probe_device() failed (-EIO)') as string,
      }),
    );
    expect(r.op({ op: 'vfio-claim', f })).toBe(-ENODEV);
    expect(r.op({ op: 'pasid-attach', f, pasid: 0, domain: 'sva' })).toBe(-ENODEV);
    expect(r.op({ op: 'set-group-type', f, type: 'dma' })).toBe(-ENODEV);
    // a later probe (the device is hot-added again) succeeds
    expect(r.op({ op: 'probe', f })).toBe(0);
    expect(r.state.gdevs[f]!.probed).toBe(true);
  });
});

describe('probe (one function, hot-plug)', () => {
  it('joins a group that already has a domain and is attached to it', () => {
    const r = new Run(testWorld(testMachine(), { groups: [[NIC0, NIC1]] }));
    const f0 = fOf(r.world, NIC0);
    const f1 = fOf(r.world, NIC1);
    r.armFault('fake_probe_device', f1, -EIO);
    expect(r.op({ op: 'boot' })).toBe(0);
    expect(r.op({ op: 'vfio-claim', f: f0 })).toBe(0);
    const grp = r.state.groups[r.world.groupOf[f0]!]!;
    expect(r.op({ op: 'probe', f: f1 })).toBe(0);
    expect(r.state.gdevs[f1]!.probed).toBe(true);
    expect(r.master(f1).rid).toBe(grp.blockingDomain);
  });

  it('is undone when the attach fails: out of the group, released by the driver', () => {
    const r = new Run(testWorld(testMachine(), { groups: [[NIC0, NIC1]] }));
    const f1 = fOf(r.world, NIC1);
    r.armFault('fake_probe_device', f1, -EIO);
    expect(r.op({ op: 'boot' })).toBe(0);
    r.armFault('fake_attach_dev', f1, -EIO);
    expect(r.op({ op: 'probe', f: f1 })).toBe(-EIO);
    expect(r.state.gdevs[f1]!.probed).toBe(false);
    expect(r.master(f1)).toEqual({ probed: false, rid: -1, pasids: [], attaches: 0 });
    // the group keeps its other device and domains
    const grp = r.state.groups[r.world.groupOf[f1]!]!;
    expect(grp.domain).toBe(grp.defaultDomain);
    expect(r.state.gdevs[fOf(r.world, NIC0)]!.probed).toBe(true);
  });

  it('-ENODEV for an absent function', () => {
    const r = new Run(testWorld(testMachine()));
    expect(r.op({ op: 'probe', f: fOf(r.world, VF0) })).toBe(-ENODEV);
  });
});
