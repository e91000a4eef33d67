import { describe, expect, it } from 'vitest';
import { EINVAL, ENODEV, ENOSYS, ERANGE } from '../../../../src/kernel/errno.js';
import { isVfSlot } from '../../../../src/model/world-builder.js';
import { MachineBuilder } from '../../../../src/pci/builder.js';
import { Run, fOf, testWorld } from '../../iommu/fake-ops.js';
import { NIC0, PF, VF0, VF1, testMachine } from '../../iommu/machines.js';

const live = (r: Run): number => r.state.domains.filter((d) => d !== null).length;

describe('VF slots in the world (createWorld)', () => {
  it('adds min(TotalVFs, vfSlots) VFs of a PF with VF Enable off, absent and not enumerated', () => {
    const w = testWorld(testMachine());
    const pf = fOf(w, PF);
    const vfs = [fOf(w, VF0), fOf(w, VF1)];
    expect(w.machine.functions[pf]!.vfs).toEqual(vfs);
    expect(w.machine.byBdf.has('0000:04:00.3')).toBe(false);
    for (const vf of vfs) {
      const info = w.infos[vf]!;
      expect(info).toMatchObject({
        isVirtfn: true,
        physfn: pf,
        vendor: 0x15b3,
        device: 0x101e,
        atsCapOffset: w.infos[pf]!.atsCapOffset,
      });
      expect(isVfSlot(w, vf)).toBe(true);
      expect(w.groupOf[vf]!).toBeGreaterThanOrEqual(0);
    }
    const r = new Run(w);
    expect(r.state.devs[vfs[0]!]!.present).toBe(false);
    expect(r.state.pci[vfs[0]!]!.atsCap).toBe(0);
    expect(testWorld(testMachine(), { vfSlots: 4 }).machine.functions[pf]!.vfs.length).toBe(4);
    expect(testWorld(testMachine(), { vfSlots: 0 }).infos.length).toBe(w.infos.length - 2);
  });

  it('appends the slots: every function of the input machine keeps its index', () => {
    const m = new MachineBuilder()
      .function('00:04.0', {
        vendorId: 0x15b3,
        deviceId: 0x101d,
        ats: { queueDepth: 8, pageAligned: true },
        sriov: { totalVFs: 2, firstVfOffset: 1, vfStride: 1, vfDeviceId: 0x101e },
      })
      .function('00:05.0', { vendorId: 0x144d, deviceId: 0xa80a })
      .build();
    const w = testWorld(m);
    expect(w.infos.length).toBe(4);
    for (const [bdf, i] of m.byBdf) expect(fOf(w, bdf)).toBe(i);
    const vf = fOf(w, '0000:00:04.1');
    expect(vf).toBe(2);
    expect(w.machine.functions[vf]!.fn.ats).toMatchObject({
      queueDepthRaw: 8,
      pageAligned: true,
      enabled: false,
      stuRaw: 0,
    });
    expect(w.machine.functions[0]!.vfs).toEqual([2, 3]);
  });

  it('leaves PFs whose VFs are enabled in the machine alone', () => {
    const m = new MachineBuilder()
      .function('00:04.0', {
        vendorId: 0x15b3,
        deviceId: 0x101d,
        ats: {},
        sriov: {
          totalVFs: 8,
          numVFs: 1,
          vfEnable: true,
          firstVfOffset: 1,
          vfStride: 1,
          vfDeviceId: 0x101e,
          vf: { ats: {} },
        },
      })
      .build();
    const w = testWorld(m);
    expect(w.infos.length).toBe(2);
    const vf = fOf(w, '0000:00:04.1');
    expect(isVfSlot(w, vf)).toBe(false);
    const r = new Run(w);
    expect(r.state.devs[vf]!.present).toBe(true);
    expect(r.op({ op: 'boot' })).toBe(0);
    expect(r.op({ op: 'sriov-disable', f: fOf(w, '0000:00:04.0') })).toBe(0);
    expect(r.state.devs[vf]!.present).toBe(false);
    expect(r.state.gdevs[vf]!.probed).toBe(false);
  });
});

describe('sriov-enable / sriov-disable', () => {
  it('enable writes NumVFs and VF Enable, then adds and IOMMU-probes each VF', () => {
    const r = new Run(testWorld(testMachine()));
    expect(r.op({ op: 'boot' })).toBe(0);
    const pf = fOf(r.world, PF);
    const vf0 = fOf(r.world, VF0);
    const vf1 = fOf(r.world, VF1);
    const before = live(r);
    expect(r.op({ op: 'sriov-enable', f: pf, numVfs: 2 })).toBe(0);
    const sriov = r.world.machine.functions[pf]!.fn.sriov!;
    expect(r.events.slice(0, 2)).toEqual([
      {
        kind: 'config-write',
        bdf: PF,
        offset: sriov.offset + 0x10,
        width: 2,
        value: 2,
        register: 'PCI_SRIOV_NUM_VF',
      },
      {
        kind: 'config-write',
        bdf: PF,
        offset: sriov.offset + 0x08,
        width: 2,
        value: 0x09,
        register: 'PCI_SRIOV_CTRL',
      },
    ]);
    expect(r.iommuFns().slice(0, 2)).toEqual(['pci_iov_add_virtfn', '__iommu_probe_device']);
    for (const vf of [vf0, vf1]) {
      expect(r.state.devs[vf]!.present).toBe(true);
      expect(r.state.pci[vf]!.atsCap).toBe(r.world.infos[vf]!.atsCapOffset);
      expect(r.state.gdevs[vf]!.probed).toBe(true);
      const grp = r.state.groups[r.world.groupOf[vf]!]!;
      expect(grp.domain).toBe(grp.defaultDomain);
      expect(r.master(vf).rid).toBe(grp.domain);
    }
    expect(live(r)).toBe(before + 2);
    expect(r.op({ op: 'sriov-enable', f: pf, numVfs: 1 })).toBe(-EINVAL);
  });

  it('disable unbinds, releases and removes the VFs, then clears VF Enable and NumVFs', () => {
    const r = new Run(testWorld(testMachine()));
    expect(r.op({ op: 'boot' })).toBe(0);
    const pf = fOf(r.world, PF);
    const vf0 = fOf(r.world, VF0);
    const before = live(r);
    expect(r.op({ op: 'sriov-enable', f: pf, numVfs: 2 })).toBe(0);
    expect(r.op({ op: 'bind', f: vf0, kind: 'dma' })).toBe(0);
    expect(r.op({ op: 'sriov-disable', f: pf })).toBe(0);
    const sriov = r.world.machine.functions[pf]!.fn.sriov!;
    expect(r.events.filter((e) => e.kind === 'config-write')).toEqual([
      {
        kind: 'config-write',
        bdf: PF,
        offset: sriov.offset + 0x08,
        width: 2,
        value: 0,
        register: 'PCI_SRIOV_CTRL',
      },
      {
        kind: 'config-write',
        bdf: PF,
        offset: sriov.offset + 0x10,
        width: 2,
        value: 0,
        register: 'PCI_SRIOV_NUM_VF',
      },
    ]);
    // the last VF goes first
    expect(
      r.events.filter((e) => e.kind === 'iommu' && e.fn === 'iommu_release_device').map((e) => e.bdf),
    ).toEqual([VF1, VF0]);
    expect(r.warns()).toEqual([]);
    for (const vf of [vf0, fOf(r.world, VF1)]) {
      expect(r.state.devs[vf]).toMatchObject({ present: false, driver: 0 });
      expect(r.state.gdevs[vf]!.probed).toBe(false);
      const grp = r.state.groups[r.world.groupOf[vf]!]!;
      expect(grp).toMatchObject({ domain: -1, defaultDomain: -1, blockingDomain: -1, ownerCnt: 0 });
      expect(r.state.pci[vf]!.atsCap).toBe(0);
    }
    expect(live(r)).toBe(before);
    // and again
    expect(r.op({ op: 'sriov-enable', f: pf, numVfs: 1 })).toBe(0);
    expect(r.state.gdevs[vf0]!.probed).toBe(true);
    expect(r.op({ op: 'sriov-disable', f: pf })).toBe(0);
    expect(r.op({ op: 'sriov-disable', f: pf })).toBe(0);
    expect(r.events).toEqual([]);
  });

  it('errors: more than TotalVFs -EINVAL, more than the model has slots -ERANGE, not a PF -ENOSYS, absent -ENODEV', () => {
    const r = new Run(testWorld(testMachine()));
    expect(r.op({ op: 'boot' })).toBe(0);
    const pf = fOf(r.world, PF);
    expect(r.op({ op: 'sriov-enable', f: pf, numVfs: 5 })).toBe(-EINVAL);
    expect(r.op({ op: 'sriov-enable', f: pf, numVfs: 3 })).toBe(-ERANGE);
    expect(r.events).toEqual([
      expect.objectContaining({
        kind: 'info',
        bdf: PF,
        message: expect.stringContaining('2 VF slot(s)') as string,
      }),
    ]);
    expect(r.op({ op: 'sriov-enable', f: pf, numVfs: 0 })).toBe(0);
    expect(r.op({ op: 'sriov-enable', f: fOf(r.world, NIC0), numVfs: 1 })).toBe(-ENOSYS);
    expect(r.op({ op: 'sriov-enable', f: fOf(r.world, VF0), numVfs: 1 })).toBe(-ENODEV);
    expect(r.state.devs[fOf(r.world, VF0)]!.present).toBe(false);
  });
});
