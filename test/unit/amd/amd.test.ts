/** The AMD-Vi driver (src/drivers/amd) operation by operation. */
import { describe, expect, it } from 'vitest';
import '../../../src/model/handlers.js';
import { amdIommuOps } from '../../../src/drivers/amd/ops.js';
import type { AmdDevData } from '../../../src/drivers/amd/dev-data.js';
import { EINVAL } from '../../../src/kernel/errno.js';
import type { PresetId } from '../../../src/kernel/presets.js';
import { INVARIANTS } from '../../../src/invariants/catalogue.js';
import { checkInvariants } from '../../../src/invariants/invariant.js';
import { Run, fOf, testWorld } from '../iommu/fake-ops.js';
import { BLK, NIC, UNALIGNED, x86Machine } from '../intel/machine.js';

function amdRun(preset: PresetId = 'v7.3', iotlb = true, switches: Record<string, 'on' | 'off'> = {}): Run {
  return new Run(
    testWorld(x86Machine(), { preset, switches, driver: 'amd', amd: { iotlb }, ops: amdIommuOps }),
  );
}

const data = (r: Run, f: number): AmdDevData => r.state.masters[f] as AmdDevData;
const ats = (r: Run, f: number): boolean => r.state.pci[f]!.atsEnabled;
const violated = (r: Run): string[] =>
  checkInvariants(r.world, r.state, r.events, INVARIANTS).map((v) => v.id);

/** domain->cache_lock / domain->lock holders: the `flushing` counts of the domains' driver records. */
const flushing = (r: Run): number[] =>
  r.state.domains.flatMap((d) => (d === null ? [] : [(d.drv as { flushing?: number }).flushing ?? 0]));

describe('probe', () => {
  it('records ATS_SUP and calls pci_prepare_ats() for every PCI device, ignoring the result', () => {
    const r = amdRun();
    const f = fOf(r.world, NIC);
    r.armFault('pci_prepare_ats', f, -EINVAL);
    expect(r.op({ op: 'boot' })).toBe(0);
    expect(r.events).toContainEqual({ kind: 'return', fn: 'pci_prepare_ats', bdf: NIC, value: -EINVAL });
    expect(data(r, f)).toMatchObject({ probed: true, ats_sup: true });
    expect(r.state.gdevs[f]!.probed).toBe(true);
  });

  it('the split-out fail-probe patch (amd-fail-probe-on-prepare-error) fails the probe', () => {
    const r = amdRun('v7.3', true, { 'amd-fail-probe-on-prepare-error': 'on' });
    const f = fOf(r.world, NIC);
    r.armFault('pci_prepare_ats', f, -EINVAL);
    expect(r.op({ op: 'boot' })).toBe(0);
    expect(data(r, f).probed).toBe(false);
    expect(r.state.gdevs[f]!.probed).toBe(false);
  });
});

describe('attach', () => {
  it('enables ATS at the default-domain attach (pdev_enable_caps), with the queue depth, and sets DTE.I', () => {
    const r = amdRun();
    r.op({ op: 'boot' });
    const f = fOf(r.world, BLK);
    expect(ats(r, f)).toBe(true);
    expect(r.state.pci[f]!.atsCtrl).toBe(0x8000);
    expect(data(r, f)).toMatchObject({ ats_enabled: true, ats_qdep: 8, dte_iotlb: true });
  });

  it('attaching the domain a function already has does nothing (amd_iommu_attach_device)', () => {
    const r = amdRun();
    r.op({ op: 'boot' });
    const f = fOf(r.world, BLK);
    const d = data(r, f).domain;
    expect(d).toBeGreaterThanOrEqual(0);
    const events = r.edit((tx) => {
      expect(amdIommuOps.attach_dev(tx, d, f, d)).toBe(0);
    });
    expect(events).toEqual([]);
    expect(data(r, f)).toMatchObject({ domain: d, ats_enabled: true, dte_iotlb: true });
  });

  it('needs no Page Aligned Request', () => {
    const r = amdRun();
    r.op({ op: 'boot' });
    expect(ats(r, fOf(r.world, UNALIGNED))).toBe(true);
  });

  it('identity keeps ATS on; BLOCKED turns it off; back to DMA turns it on', () => {
    const r = amdRun();
    r.op({ op: 'boot' });
    const f = fOf(r.world, NIC);
    expect(r.op({ op: 'set-group-type', f, type: 'identity' })).toBe(0);
    expect(ats(r, f)).toBe(true);
    expect(data(r, f).dte_mode).toBe(2);
    expect(r.op({ op: 'vfio-claim', f })).toBe(0);
    expect(ats(r, f)).toBe(false);
    expect(data(r, f)).toMatchObject({ ats_enabled: false, dte_mode: 0, dte_iotlb: false });
    expect(violated(r)).toEqual([]);
    expect(r.op({ op: 'vfio-release', f })).toBe(0);
    expect(ats(r, f)).toBe(true);
  });

  it('without iotlb_sup ATS is never enabled', () => {
    const r = amdRun('v7.3', false);
    r.op({ op: 'boot' });
    expect(ats(r, fOf(r.world, NIC))).toBe(false);
    expect(data(r, fOf(r.world, NIC)).ats_sup).toBe(true);
  });

  it('a pci_enable_ats() failure is not propagated: the attach succeeds with ATS off and no drift', () => {
    const r = amdRun();
    const f = fOf(r.world, NIC);
    r.armFault('pci_enable_ats', f, -EINVAL);
    expect(r.op({ op: 'boot' })).toBe(0);
    expect(r.state.groups[r.world.groupOf[f]!]!.domain).toBeGreaterThanOrEqual(0);
    expect(data(r, f)).toMatchObject({ ats_enabled: false, dte_iotlb: false });
    expect(r.warns()).toEqual([]);
    expect(r.op({ op: 'vfio-claim', f })).toBe(0);
    expect(r.warns()).toEqual([]);
  });
});

describe('invalidation', () => {
  it('an unmap sends CMD_INV_IOMMU_PAGES, CMD_INV_IOTLB_PAGES with the queue depth, and CMD_COMPL_WAIT', () => {
    const r = amdRun();
    r.op({ op: 'boot' });
    const f = fOf(r.world, BLK);
    r.op({ op: 'bind', f, kind: 'dma' });
    r.op({ op: 'dma-map', f });
    r.op({ op: 'dma-unmap', f, iova: 0 });
    const cmds = r.events.flatMap((e) => (e.kind === 'iommu-cmd' ? [e] : []));
    expect(cmds.map((c) => c.cmd)).toEqual(['CMD_INV_IOMMU_PAGES', 'CMD_INV_IOTLB_PAGES', 'CMD_COMPL_WAIT']);
    expect(cmds[1]).toMatchObject({ iommu: 'amd', bdf: BLK, qdep: 8 });
  });

  it('a silent device makes the completion wait time out', () => {
    const r = amdRun();
    r.op({ op: 'boot' });
    const f = fOf(r.world, BLK);
    r.op({ op: 'bind', f, kind: 'dma' });
    r.op({ op: 'dma-map', f });
    r.op({ op: 'device-fault', f, fault: 'stop-answering' });
    r.op({ op: 'dma-unmap', f, iova: 0 });
    expect(r.events).toContainEqual(expect.objectContaining({ cmd: 'CMD_COMPL_WAIT', result: 'timeout' }));
    expect(violated(r)).toContain('invalidation-timeout');
  });
});

describe('a flush in flight holds domain->lock', () => {
  it('a reset waits for it from v7.0 (detach_device), and races it in v6.12', () => {
    for (const preset of ['v6.12', 'v7.3'] as const) {
      const r = amdRun(preset);
      r.op({ op: 'boot' });
      const f = fOf(r.world, BLK);
      r.op({ op: 'bind', f, kind: 'dma' });
      r.op({ op: 'dma-map', f });
      expect(r.step({ op: 'dma-unmap', f, iova: 0 }, 0).waiting).toBe(true);
      expect(flushing(r).filter((n) => n > 0)).toEqual([1]);
      const flr = r.step({ op: 'flr', f }, 1);
      expect(flr.waiting).toBe(true);
      // v7.3: pci_dev_reset_iommu_prepare() waits before anything; v6.12: the reset has started.
      expect(r.state.devs[f]!.resetting).toBe(preset === 'v6.12');
      if (preset === 'v7.3') expect(flr.events).toEqual([]);
      expect(r.step({ op: 'dma-unmap', f, iova: 0 }, 0).events).toContainEqual(
        expect.objectContaining({ cmd: 'CMD_COMPL_WAIT', result: preset === 'v7.3' ? 'ok' : 'timeout' }),
      );
      expect(flushing(r).every((n) => n === 0)).toBe(true);
      if (preset === 'v6.12') expect(violated(r)).toContain('invalidation-timeout');
      else {
        expect(violated(r)).toEqual([]);
        expect(r.step({ op: 'flr', f }, 1).waiting).toBe(true);
        expect(r.state.devs[f]!.resetting).toBe(true);
      }
    }
  });
});

describe('reset and release', () => {
  it('after an FLR the PCI core rewrites the recorded ATS state', () => {
    const r = amdRun('v6.12');
    r.op({ op: 'boot' });
    const f = fOf(r.world, NIC);
    r.step({ op: 'flr', f });
    r.step({ op: 'flr', f });
    expect(r.state.pci[f]).toMatchObject({ atsEnabled: true, atsCtrl: 0x8000 });
  });

  it('hot-unplug detaches: ATS off, DTE cleared, no WARN', () => {
    const r = amdRun();
    r.op({ op: 'boot' });
    const f = fOf(r.world, NIC);
    expect(r.op({ op: 'hot-unplug', f })).toBe(0);
    expect(data(r, f)).toMatchObject({ probed: false, ats_enabled: false, dte_mode: 0 });
    expect(r.warns()).toEqual([]);
  });

  it('refuses PASID attachments (not modelled for AMD-Vi)', () => {
    const r = amdRun();
    r.op({ op: 'boot' });
    const f = fOf(r.world, NIC);
    r.op({ op: 'bind', f, kind: 'dma' });
    expect(r.op({ op: 'pasid-attach', f, pasid: 0, domain: 'dma' })).toBeLessThan(0);
  });
});
