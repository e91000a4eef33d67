/** The core and the PCI flows with the real SMMUv3 driver (src/drivers/smmuv3) instead of the fake. */
import { describe, expect, it } from 'vitest';
import { smmuv3Ops } from '../../../src/drivers/smmuv3/ops.js';
import type { PresetId } from '../../../src/kernel/presets.js';
import { Run, fOf, testWorld } from './fake-ops.js';
import { NIC0, PF, VF0, testMachine } from './machines.js';

function booted(preset: PresetId): { r: Run; f: number } {
  const r = new Run(testWorld(testMachine(), { ops: smmuv3Ops, preset }));
  expect(r.op({ op: 'boot' })).toBe(0);
  const f = fOf(r.world, NIC0);
  expect(r.op({ op: 'bind', f, kind: 'dma' })).toBe(0);
  expect(r.state.pci[f]!.atsEnabled).toBe(true);
  return { r, f };
}

describe('FLR with SMMUv3', () => {
  it('v6.12: the kernel believes ATS is on while the resetting function has it off', () => {
    const { r, f } = booted('v6.12');
    expect(r.step({ op: 'flr', f }).waiting).toBe(true);
    expect(r.state.pci[f]).toMatchObject({ atsEnabled: true, atsCtrl: 0 });
    expect(r.events.some((e) => e.kind === 'ste-write')).toBe(false);
    expect(r.step({ op: 'flr', f }).waiting).toBe(false);
    expect(r.state.pci[f]).toMatchObject({ atsEnabled: true, atsCtrl: 0x8000 });
  });

  it('v7.3: ATS is disabled through the blocked attach before the FLR and re-enabled by done()', () => {
    const { r, f } = booted('v7.3');
    expect(r.step({ op: 'flr', f }).waiting).toBe(true);
    expect(r.state.pci[f]!.atsEnabled).toBe(false);
    expect(r.events).toContainEqual(expect.objectContaining({ kind: 'ste-write', bdf: NIC0, cfg: 'abort' }));
    const prepare = r.events.findIndex((e) => e.kind === 'iommu' && e.fn === 'pci_dev_reset_iommu_prepare');
    const flr = r.events.findIndex((e) => e.kind === 'config-write' && e.register === 'PCI_EXP_DEVCTL');
    expect(prepare).toBeGreaterThanOrEqual(0);
    expect(flr).toBeGreaterThan(prepare);
    expect(r.step({ op: 'flr', f }).waiting).toBe(false);
    expect(r.state.pci[f]).toMatchObject({ atsEnabled: true, atsCtrl: 0x8000 });
    expect(r.warns()).toEqual([]);
  });
});

describe('SR-IOV with SMMUv3', () => {
  it('the IOMMU probe of a new VF runs pci_prepare_ats() on it, after the PF programmed the STU', () => {
    const r = new Run(testWorld(testMachine(), { ops: smmuv3Ops, preset: 'v7.3' }));
    expect(r.op({ op: 'boot' })).toBe(0);
    const pf = fOf(r.world, PF);
    expect(r.state.pci[pf]!.atsStu).toBe(12);
    expect(r.op({ op: 'sriov-enable', f: pf, numVfs: 1 })).toBe(0);
    expect(r.events).toContainEqual({ kind: 'return', fn: 'pci_prepare_ats', bdf: VF0, value: 0 });
    const vf = fOf(r.world, VF0);
    expect(r.state.gdevs[vf]!.probed).toBe(true);
    expect(r.op({ op: 'bind', f: vf, kind: 'dma' })).toBe(0);
    expect(r.state.pci[vf]!.atsEnabled).toBe(true);
    expect(r.op({ op: 'sriov-disable', f: pf })).toBe(0);
    expect(r.state.pci[vf]!.atsEnabled).toBe(false);
    expect(r.warns()).toEqual([]);
  });
});

describe('VFIO with SMMUv3', () => {
  it('claiming the group attaches the blocking domain, which turns ATS off', () => {
    const r = new Run(testWorld(testMachine(), { ops: smmuv3Ops }));
    expect(r.op({ op: 'boot' })).toBe(0);
    const f = fOf(r.world, NIC0);
    expect(r.op({ op: 'bind', f, kind: 'dma' })).toBe(0);
    expect(r.op({ op: 'unbind', f })).toBe(0);
    expect(r.state.pci[f]!.atsEnabled).toBe(true);
    expect(r.op({ op: 'vfio-claim', f })).toBe(0);
    expect(r.state.pci[f]!.atsEnabled).toBe(false);
    expect(r.op({ op: 'vfio-release', f })).toBe(0);
    expect(r.state.pci[f]!.atsEnabled).toBe(true);
    expect(r.warns()).toEqual([]);
  });
});
