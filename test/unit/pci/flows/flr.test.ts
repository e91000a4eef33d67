import { describe, expect, it } from 'vitest';
import { InputError } from '../../../../src/diagnostics.js';
import { EIO, ENODEV, ENOTTY, ETIMEDOUT } from '../../../../src/kernel/errno.js';
import { pci_enable_ats } from '../../../../src/pci/ats.js';
import { MachineBuilder } from '../../../../src/pci/builder.js';
import { Run, fOf, testWorld, type TestWorldOptions } from '../../iommu/fake-ops.js';
import { NIC0, VF0, testMachine } from '../../iommu/machines.js';

/** Booted, with ATS enabled on NIC0 (as an IOMMU driver would have) and two ATC entries. */
function withAts(o: TestWorldOptions = {}): { r: Run; f: number } {
  const r = new Run(testWorld(testMachine(), o));
  expect(r.op({ op: 'boot' })).toBe(0);
  const f = fOf(r.world, NIC0);
  r.edit((tx) => {
    expect(pci_enable_ats(tx, f, 12)).toBe(0);
    tx.mutDevice(f).atc = [0, 1, 7, 0, 2, 5];
    tx.mutDevice(f).pendingInv = 1;
  });
  return { r, f };
}

const DEVCTL_FLR = {
  kind: 'config-write',
  bdf: NIC0,
  offset: 0x48,
  width: 2,
  value: 0x8000,
  register: 'PCI_EXP_DEVCTL',
};
const ATS_RESTORE = {
  kind: 'config-write',
  bdf: NIC0,
  offset: 0x106,
  width: 2,
  value: 0x8000,
  register: 'PCI_ATS_CTRL',
};

describe('flr without the reset hooks (v6.12)', () => {
  it('resets the function under an unchanged kernel ATS state, then restores ATS Control', () => {
    const { r, f } = withAts({ preset: 'v6.12' });
    expect(r.step({ op: 'flr', f }).waiting).toBe(true);
    expect(r.events).toEqual([DEVCTL_FLR, { kind: 'atc', bdf: NIC0, action: 'flush', pasid: 0, page: 0 }]);
    expect(r.state.devs[f]).toMatchObject({ resetting: true, atc: [], pendingInv: 0 });
    expect(r.state.pci[f]).toMatchObject({ atsCtrl: 0, atsEnabled: true });
    expect(r.state.gdevs[f]!.blocked).toBe(false);
    expect(r.step({ op: 'flr', f }).waiting).toBe(false);
    expect(r.last!.ret).toBe(0);
    expect(r.events).toEqual([ATS_RESTORE]);
    expect(r.state.devs[f]!.resetting).toBe(false);
    expect(r.state.pci[f]).toMatchObject({ atsCtrl: 0x8000, atsEnabled: true });
  });
});

describe('flr with the reset hooks (f5b16b802174)', () => {
  it('fences the IOMMU before the FLR and un-fences before the config restore', () => {
    const { r, f } = withAts();
    const g = r.world.groupOf[f]!;
    expect(r.step({ op: 'flr', f }).waiting).toBe(true);
    const kinds = r.events.map((e) => (e.kind === 'iommu' ? e.fn : e.kind));
    expect(kinds).toEqual(['pci_dev_reset_iommu_prepare', 'config-write', 'atc']);
    expect(r.state.gdevs[f]!.blocked).toBe(true);
    expect(r.master(f).rid).toBe(r.state.groups[g]!.blockingDomain);
    expect(r.step({ op: 'flr', f }).waiting).toBe(false);
    expect(r.events.map((e) => (e.kind === 'iommu' ? e.fn : e.kind))).toEqual([
      'pci_dev_reset_iommu_done',
      'config-write',
    ]);
    expect(r.events[1]).toEqual(ATS_RESTORE);
    expect(r.master(f).rid).toBe(r.state.groups[g]!.domain);
    expect(r.last!.ret).toBe(0);
  });

  it('a failed prepare aborts the reset, logs it and still restores the config state', () => {
    const { r, f } = withAts();
    r.armFault('fake_attach_dev', f, -EIO);
    expect(r.op({ op: 'flr', f })).toBe(-EIO);
    expect(r.events).toEqual([
      expect.objectContaining({ kind: 'iommu', fn: 'pci_dev_reset_iommu_prepare' }),
      { kind: 'info', bdf: NIC0, level: 'err', message: 'failed to stop IOMMU for a PCI reset: -5' },
      ATS_RESTORE,
    ]);
    expect(r.state.devs[f]!.resetting).toBe(false);
    expect(r.state.devs[f]!.atc.length).toBe(6);
  });

  it('a reset that does not complete still runs done() (current kernel), leaving the function unresponsive', () => {
    const { r, f } = withAts();
    r.armFault('pcie_flr', f, -ETIMEDOUT);
    expect(r.op({ op: 'flr', f })).toBe(-ETIMEDOUT);
    expect(r.state.gdevs[f]!.blocked).toBe(false);
    expect(r.state.groups[r.world.groupOf[f]!]!.recoveryCnt).toBe(0);
    expect(r.state.devs[f]).toMatchObject({ resetting: false, unresponsive: true });
  });

  it('with reset-keep-blocked-on-failure the failed reset leaves the function blocked', () => {
    const { r, f } = withAts({ switches: { 'reset-keep-blocked-on-failure': true } });
    const g = r.world.groupOf[f]!;
    r.armFault('pcie_flr', f, -ETIMEDOUT);
    expect(r.op({ op: 'flr', f })).toBe(-ETIMEDOUT);
    expect(r.state.gdevs[f]).toMatchObject({ blocked: true, resetDepth: 1 });
    expect(r.state.groups[g]!.recoveryCnt).toBe(1);
    expect(r.master(f).rid).toBe(r.state.groups[g]!.blockingDomain);
    expect(r.iommuFns()).not.toContain('pci_dev_reset_iommu_done');
    // a successful reset later balances the prepare it never got: done() undoes the outer level only
    expect(r.op({ op: 'flr', f })).toBe(0);
    expect(r.state.gdevs[f]!.resetDepth).toBe(1);
  });

  it('a second reset of the same function waits for the first (device lock)', () => {
    const { r, f } = withAts();
    expect(r.step({ op: 'flr', f }, 0).waiting).toBe(true);
    const s1 = r.state;
    const w = r.step({ op: 'flr', f }, 1);
    expect(w.waiting).toBe(true);
    expect(w.events).toEqual([]);
    expect(r.state.devs).toEqual(s1.devs);
    expect(r.state.threads[1]!.cont).toMatchObject({ op: 'flr', phase: 0, args: [f], domainArgs: 0 });
    expect(r.step({ op: 'flr', f }, 0).waiting).toBe(false);
    expect(r.step({ op: 'flr', f }, 1).waiting).toBe(true);
    expect(r.state.devs[f]!.resetting).toBe(true);
    expect(r.step({ op: 'flr', f }, 1).waiting).toBe(false);
    expect(r.warns()).toEqual([]);
  });

  it('a thread waiting in one reset cannot start another: an InputError, not a mixed-up continuation', () => {
    const { r, f } = withAts();
    expect(r.step({ op: 'flr', f }, 0).waiting).toBe(true);
    const other = fOf(r.world, VF0);
    expect(() => r.step({ op: 'flr', f: other }, 0)).toThrow(InputError);
    expect(() => r.step({ op: 'flr', f: other }, 0)).toThrow(/thread 0 waits in flr .* before it can run/);
    expect(() => r.step({ op: 'boot' }, 0)).toThrow(InputError);
    // The same operation, its fields written in another order, resumes it.
    expect(r.step({ f, op: 'flr' } as const, 0)).toMatchObject({ ret: 0, waiting: false });
    expect(r.state.threads[0]!.cont).toBeNull();
  });

  it('-ENODEV for an absent function, -ENOTTY without FLR capability', () => {
    const r = new Run(testWorld(testMachine()));
    expect(r.op({ op: 'flr', f: fOf(r.world, VF0) })).toBe(-ENODEV);
    const m = new MachineBuilder()
      .rootPort('00:01.0', { secondaryBus: 1, subordinateBus: 1 })
      .function('01:00.0', { vendorId: 0x144d, deviceId: 0xa80a, ats: {} })
      .build();
    const r2 = new Run(testWorld(m));
    expect(r2.op({ op: 'boot' })).toBe(0);
    expect(r2.op({ op: 'flr', f: fOf(r2.world, '0000:01:00.0') })).toBe(-ENOTTY);
    expect(r2.events).toEqual([]);
  });
});
