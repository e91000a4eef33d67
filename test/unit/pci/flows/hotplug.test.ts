import { describe, expect, it } from 'vitest';
import { EBUSY, ENODEV, ETIMEDOUT } from '../../../../src/kernel/errno.js';
import { pci_enable_ats } from '../../../../src/pci/ats.js';
import '../../../../src/model/handlers.js';
import { amdIommuOps } from '../../../../src/drivers/amd/ops.js';
import { intelOpsFor } from '../../../../src/drivers/intel/ops.js';
import { smmuv3Ops } from '../../../../src/drivers/smmuv3/ops.js';
import { resolveKernel } from '../../../../src/kernel/config.js';
import { Run, fOf, testWorld, type TestWorldOptions } from '../../iommu/fake-ops.js';
import { BLK, x86Machine } from '../../intel/machine.js';
import { NIC0, NIC1, PF, PORT2, VF0, VF1, testMachine } from '../../iommu/machines.js';

const live = (r: Run): number => r.state.domains.filter((d) => d !== null).length;

function booted(o: TestWorldOptions = {}): Run {
  const r = new Run(testWorld(testMachine(), o));
  expect(r.op({ op: 'boot' })).toBe(0);
  return r;
}

describe('hot-unplug', () => {
  it('unbinds the driver, releases the function from the IOMMU and frees its group domains', () => {
    const r = booted();
    const f = fOf(r.world, NIC0);
    const g = r.world.groupOf[f]!;
    r.edit((tx) => {
      expect(pci_enable_ats(tx, f, 12)).toBe(0);
    });
    expect(r.op({ op: 'bind', f, kind: 'dma', msi: true })).toBe(0);
    const before = live(r);
    expect(r.op({ op: 'hot-unplug', f })).toBe(0);
    expect(r.warns()).toEqual([]);
    expect(r.state.groups[g]).toMatchObject({
      domain: -1,
      defaultDomain: -1,
      blockingDomain: -1,
      ownerCnt: 0,
    });
    // the default domain and the release (blocked) domain are both gone
    expect(live(r)).toBe(before - 1);
    expect(r.state.devs[f]).toMatchObject({ present: false, driver: 0, msiInUse: false, atc: [] });
    expect(r.state.gdevs[f]!.probed).toBe(false);
    expect(r.state.pci[f]).toMatchObject({ atsCap: 0, atsEnabled: false });
    expect(r.master(f)).toEqual({ probed: false, rid: -1, pasids: [], attaches: 0 });
    expect(r.iommuFns()).toEqual([
      'iommu_release_device',
      'iommu_deinit_device',
      'pci_stop_and_remove_bus_device',
    ]);
    expect(r.op({ op: 'hot-unplug', f })).toBe(-ENODEV);
  });

  it('releases a VFIO-owned function through vfio release first: no ownership WARN', () => {
    const r = booted();
    const f = fOf(r.world, NIC0);
    expect(r.op({ op: 'vfio-claim', f })).toBe(0);
    expect(r.op({ op: 'attach', f, domain: 'unmanaged' })).toBe(0);
    expect(r.op({ op: 'hot-unplug', f })).toBe(0);
    expect(r.warns()).toEqual([]);
    expect(r.state.groups[r.world.groupOf[f]!]).toMatchObject({ owner: 0, ownerCnt: 0, domain: -1 });
  });

  it('one member of a two-device group leaves; the group keeps its domain for the other', () => {
    const r = booted({ groups: [[NIC0, NIC1]] });
    const f0 = fOf(r.world, NIC0);
    const f1 = fOf(r.world, NIC1);
    const g = r.world.groupOf[f0]!;
    const def = r.state.groups[g]!.defaultDomain;
    expect(r.op({ op: 'hot-unplug', f: f0 })).toBe(0);
    expect(r.state.groups[g]!.domain).toBe(r.state.groups[g]!.defaultDomain);
    expect(r.master(f1).rid).toBe(r.state.groups[g]!.domain);
    expect(def).toBeGreaterThanOrEqual(0);
    expect(r.state.gdevs[f1]!.probed).toBe(true);
  });

  it('a bridge takes the functions below it along, children first', () => {
    const r = booted();
    expect(r.op({ op: 'hot-unplug', f: fOf(r.world, PORT2) })).toBe(0);
    expect(
      r.events
        .filter((e) => e.kind === 'iommu' && e.fn === 'pci_stop_and_remove_bus_device')
        .map((e) => e.bdf),
    ).toEqual([NIC1, NIC0, PORT2]);
    for (const b of [NIC0, NIC1, PORT2]) expect(r.state.devs[fOf(r.world, b)]!.present).toBe(false);
  });

  it('a PF takes its VFs along', () => {
    const r = booted();
    const pf = fOf(r.world, PF);
    expect(r.op({ op: 'sriov-enable', f: pf, numVfs: 2 })).toBe(0);
    expect(r.op({ op: 'hot-unplug', f: pf })).toBe(0);
    expect(
      r.events
        .filter((e) => e.kind === 'iommu' && e.fn === 'pci_stop_and_remove_bus_device')
        .map((e) => e.bdf),
    ).toEqual([VF1, VF0, PF]);
  });

  it('waits while the function is being reset, then proceeds', () => {
    const r = booted();
    const f = fOf(r.world, NIC0);
    expect(r.step({ op: 'flr', f }, 0).waiting).toBe(true);
    expect(r.step({ op: 'hot-unplug', f }, 1).waiting).toBe(true);
    expect(r.state.devs[f]!.present).toBe(true);
    expect(r.step({ op: 'flr', f }, 0).waiting).toBe(false);
    const done = r.step({ op: 'hot-unplug', f }, 1);
    expect(done.waiting).toBe(false);
    expect(done.ret).toBe(0);
    expect(r.state.devs[f]!.present).toBe(false);
  });

  it('a function left blocked by a failed reset (keep-blocked alternative) leaves recovery_cnt behind', () => {
    const r = booted({ groups: [[NIC0, NIC1]], switches: { 'reset-keep-blocked-on-failure': true } });
    const f0 = fOf(r.world, NIC0);
    const g = r.world.groupOf[f0]!;
    r.armFault('pcie_flr', f0, -ETIMEDOUT);
    expect(r.op({ op: 'flr', f: f0 })).toBe(-ETIMEDOUT);
    expect(r.op({ op: 'hot-unplug', f: f0 })).toBe(0);
    expect(r.state.gdevs[f0]).toEqual({ probed: false, blocked: false, resetDepth: 0 });
    expect(r.state.groups[g]!.recoveryCnt).toBe(1);
    // the surviving member's group is fenced for good
    expect(r.op({ op: 'vfio-claim', f: fOf(r.world, NIC1) })).toBe(-EBUSY);
  });

  describe('waits for a flush in flight to the function (the release domain attach takes its locks)', () => {
    const drivers = [
      ['smmuv3', { ops: smmuv3Ops }],
      ['vtd', { driver: 'vtd', ops: intelOpsFor(resolveKernel('v7.3')) }],
      ['amd', { driver: 'amd', ops: amdIommuOps }],
    ] as const;
    for (const [name, o] of drivers)
      it(`${name}, v7.3: the removal starts once the unmap's invalidation has completed`, () => {
        // VT-d enables ATS only for functions with Page Aligned Request: the x86 test machine's.
        const r = new Run(testWorld(x86Machine(), o));
        expect(r.op({ op: 'boot' })).toBe(0);
        const f = fOf(r.world, BLK);
        expect(r.op({ op: 'bind', f, kind: 'dma' })).toBe(0);
        expect(r.state.pci[f]!.atsEnabled).toBe(true);
        const iova = r.op({ op: 'dma-map', f }) ?? -1;
        expect(iova).toBe(0);
        expect(r.step({ op: 'dma-unmap', f, iova }, 0).waiting).toBe(true);
        const blocked = r.step({ op: 'hot-unplug', f }, 1);
        expect(blocked.waiting).toBe(true);
        expect(blocked.events).toEqual([]);
        expect(r.state.devs[f]!.present).toBe(true);
        const unmap = r.step({ op: 'dma-unmap', f, iova }, 0);
        expect(unmap).toMatchObject({ waiting: false, ret: 0 });
        expect(JSON.stringify(unmap.events)).not.toContain('timeout');
        const removed = r.step({ op: 'hot-unplug', f }, 1);
        expect(removed).toMatchObject({ waiting: false, ret: 0 });
        expect(r.state.devs[f]!.present).toBe(false);
        expect(r.warns()).toEqual([]);
      });
  });
});
