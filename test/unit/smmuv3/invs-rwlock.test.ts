import { describe, expect, it } from 'vitest';
import '../../../src/model/handlers.js';
import { smmuv3Ops } from '../../../src/drivers/smmuv3/ops.js';
import { checkInvariants } from '../../../src/invariants/invariant.js';
import { INVARIANTS } from '../../../src/invariants/catalogue.js';
import type { PresetId } from '../../../src/kernel/presets.js';
import type { SwitchOverride } from '../../../src/kernel/config.js';
import { Run, fOf, testWorld } from '../iommu/fake-ops.js';
import { BLK, x86Machine } from '../intel/machine.js';

/**
 * A strict unmap issues its ATC invalidation and waits for the CMD_SYNC (thread 0); meanwhile an
 * FLR starts (thread 1), whose pci_dev_reset_iommu_prepare() attaches the blocking domain and so
 * turns ATS off before the reset begins.
 */
function unmapThenFlr(preset: PresetId, switches?: Readonly<Record<string, SwitchOverride>>) {
  const r = new Run(testWorld(x86Machine(), { ops: smmuv3Ops, preset, ...(switches ? { switches } : {}) }));
  expect(r.op({ op: 'boot' })).toBe(0);
  const f = fOf(r.world, BLK);
  expect(r.op({ op: 'bind', f, kind: 'dma' })).toBe(0);
  expect(r.state.pci[f]!.atsEnabled).toBe(true);
  const iova = r.op({ op: 'dma-map', f }) ?? -1;
  expect(r.step({ op: 'dma-unmap', f, iova }, 0).waiting).toBe(true);
  expect(r.state.devs[f]!.pendingInv).toBe(1);
  const flr = r.step({ op: 'flr', f }, 1);
  const found = checkInvariants(r.world, r.state, flr.events, INVARIANTS).map((v) => v.id);
  return { r, f, iova, flr, found };
}

describe('smmu-invs-rwlock (587bb3e56a2c): an attach waits for the ATC invalidations in flight', () => {
  it('v7.2: the reset waits with ATS on until the unmap has its CMD_SYNC, then parks the function', () => {
    const { r, f, iova, flr, found } = unmapThenFlr('v7.2');
    expect(flr.waiting).toBe(true);
    expect(flr.events).toEqual([]);
    expect(found).toEqual([]);
    expect(r.state.pci[f]!.atsEnabled).toBe(true);
    const unmap = r.step({ op: 'dma-unmap', f, iova }, 0);
    expect(unmap).toMatchObject({ waiting: false, ret: 0 });
    expect(unmap.events).not.toContainEqual(expect.objectContaining({ kind: 'smmu-cmd', result: 'timeout' }));
    const started = r.step({ op: 'flr', f }, 1);
    expect(r.state.pci[f]!.atsEnabled).toBe(false);
    expect(r.state.devs[f]!.resetting).toBe(true);
    expect(started.events).not.toContainEqual(
      expect.objectContaining({ kind: 'atc', action: 'outstanding' }),
    );
  });

  it('v7.0 has no fence: the reset turns ATS off with the invalidation outstanding, and the CMD_SYNC times out', () => {
    const { r, f, iova, flr, found } = unmapThenFlr('v7.0');
    expect(r.state.pci[f]!.atsEnabled).toBe(false);
    expect(r.state.devs[f]!.resetting).toBe(true);
    expect(flr.events).toContainEqual(expect.objectContaining({ kind: 'atc', action: 'outstanding' }));
    expect(found).toEqual(['ats-disable-fenced']);
    const unmap = r.step({ op: 'dma-unmap', f, iova }, 0);
    expect(unmap.events).toContainEqual(expect.objectContaining({ kind: 'smmu-cmd', result: 'timeout' }));
  });

  it('the switch alone decides: v7.0 with it waits, v7.3 without it races', () => {
    const on = unmapThenFlr('v7.0', { 'smmu-invs-rwlock': 'on' });
    expect(on.flr.events).toEqual([]);
    expect(on.found).toEqual([]);
    const off = unmapThenFlr('v7.3', { 'smmu-invs-rwlock': 'off' });
    expect(off.found).toEqual(['ats-disable-fenced']);
  });
});
