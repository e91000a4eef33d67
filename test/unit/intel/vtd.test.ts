/** The VT-d driver (src/drivers/intel) operation by operation, per mode and preset. */
import { describe, expect, it } from 'vitest';
import '../../../src/model/handlers.js';
import { intelOpsFor } from '../../../src/drivers/intel/ops.js';
import type { IntelInfo } from '../../../src/drivers/intel/info.js';
import { resolveKernel } from '../../../src/kernel/config.js';
import type { PresetId } from '../../../src/kernel/presets.js';
import type { VtdConfig } from '../../../src/model/world.js';
import type { KernelEvent } from '../../../src/kernel/events.js';
import { EINVAL, ENOSPC } from '../../../src/kernel/errno.js';
import { INVARIANTS } from '../../../src/invariants/catalogue.js';
import { checkInvariants } from '../../../src/invariants/invariant.js';
import { IOMMU_DOMAIN_UNMANAGED } from '../../../src/iommu/domain-type.js';
import { iommu_replace_device_pasid } from '../../../src/iommu/pasid.js';
import type { Tx } from '../../../src/model/tx.js';
import { Run, fOf, testWorld } from '../iommu/fake-ops.js';
import { BEHIND_PCI, BLK, NIC, PORT_NIC, UNALIGNED, x86Machine } from './machine.js';

function vtdRun(
  preset: PresetId,
  vtd: Partial<VtdConfig> = {},
  switches: Record<string, 'on' | 'off'> = {},
): Run {
  const kernel = resolveKernel(preset, switches);
  return new Run(testWorld(x86Machine(), { preset, switches, driver: 'vtd', vtd, ops: intelOpsFor(kernel) }));
}

function booted(preset: PresetId, mode: VtdConfig['mode'], switches: Record<string, 'on' | 'off'> = {}) {
  const r = vtdRun(preset, { mode }, switches);
  expect(r.op({ op: 'boot' })).toBe(0);
  return { r, nic: fOf(r.world, NIC), blk: fOf(r.world, BLK) };
}

const info = (r: Run, f: number): IntelInfo => r.state.masters[f] as IntelInfo;
const ats = (r: Run, f: number): boolean => r.state.pci[f]!.atsEnabled;
const violated = (r: Run): string[] =>
  checkInvariants(r.world, r.state, r.events, INVARIANTS).map((v) => v.id);

/** domain->cache_lock / domain->lock holders: the `flushing` counts of the domains' driver records. */
const flushing = (r: Run): number[] =>
  r.state.domains.flatMap((d) => (d === null ? [] : [(d.drv as { flushing?: number }).flushing ?? 0]));

const PRESETS: PresetId[] = ['v6.1', 'v6.12', 'v7.0', 'v7.3'];
const MODES: VtdConfig['mode'][] = ['legacy', 'scalable'];

describe('probe', () => {
  it.each(PRESETS)('%s: ats_supported needs an ATSR covering the root port', (preset) => {
    const r = vtdRun(preset, { atsr: [PORT_NIC] });
    expect(r.op({ op: 'boot' })).toBe(0);
    expect(info(r, fOf(r.world, NIC)).ats_supported).toBe(true);
    expect(info(r, fOf(r.world, BLK)).ats_supported).toBe(false);
    expect(ats(r, fOf(r.world, BLK))).toBe(false);
  });

  it('a device behind a PCIe-to-PCI bridge gets no ATS, even with an ALL_PORTS ATSR', () => {
    const r = vtdRun('v7.3');
    r.op({ op: 'boot' });
    const f = fOf(r.world, BEHIND_PCI);
    expect(info(r, f).ats_supported).toBe(false);
  });

  it('ECAP.DT off: no ATS for any device', () => {
    const r = new Run(
      testWorld(x86Machine(), {
        preset: 'v7.3',
        driver: 'vtd',
        features: { ats: false },
        ops: intelOpsFor(resolveKernel('v7.3')),
      }),
    );
    r.op({ op: 'boot' });
    expect(info(r, fOf(r.world, NIC)).ats_supported).toBe(false);
  });

  it('v6.1 has no pci_prepare_ats(); v6.12 calls it for ATS-supported devices', () => {
    const old = vtdRun('v6.1');
    old.op({ op: 'boot' });
    expect(old.events.some((e) => e.kind === 'return' && e.fn === 'pci_prepare_ats')).toBe(false);
    const r = vtdRun('v6.12');
    r.op({ op: 'boot' });
    expect(r.events).toContainEqual({ kind: 'return', fn: 'pci_prepare_ats', bdf: NIC, value: 0 });
  });

  it('a pci_prepare_ats() failure is ignored before v7.3 and fails the probe from v7.3', () => {
    for (const [preset, probed] of [
      ['v7.2', true],
      ['v7.3', false],
    ] as const) {
      const r = vtdRun(preset);
      const f = fOf(r.world, NIC);
      r.armFault('pci_prepare_ats', f, -EINVAL);
      expect(r.op({ op: 'boot' })).toBe(0);
      expect(r.state.gdevs[f]!.probed).toBe(probed);
      expect(info(r, f).probed).toBe(probed);
    }
  });
});

describe('boot into the DMA domain', () => {
  it.each(PRESETS.flatMap((p) => MODES.map((m) => [p, m] as const)))(
    '%s %s: ATS on with STU 4 KiB (ATS Control 0x8000), driver and device agree',
    (preset, mode) => {
      const { r, nic } = booted(preset, mode);
      expect(ats(r, nic)).toBe(true);
      expect(info(r, nic).ats_enabled).toBe(true);
      expect(r.state.pci[nic]!.atsCtrl).toBe(0x8000);
      expect(r.state.pci[nic]!.atsStu).toBe(12);
    },
  );

  it('scalable mode from 5518f239aff1 enables ATS at probe_finalize, after the default domain attach', () => {
    const { r } = booted('v7.3', 'scalable');
    const attach = r.events.findIndex(
      (e) => e.kind === 'iommu' && e.bdf === NIC && e.fn === 'iommu_setup_default_domain',
    );
    const enable = r.events.findIndex(
      (e) => e.kind === 'return' && e.fn === 'pci_enable_ats' && e.bdf === NIC,
    );
    expect(attach).toBeGreaterThanOrEqual(0);
    expect(enable).toBeGreaterThan(attach);
  });

  it('no ATS without Page Aligned Request', () => {
    for (const mode of MODES) {
      const { r } = booted('v7.3', mode);
      const f = fOf(r.world, UNALIGNED);
      expect(info(r, f).ats_supported).toBe(true);
      expect(ats(r, f)).toBe(false);
    }
  });
});

describe('driver bind and unbind', () => {
  it.each(MODES)('%s: change nothing', (mode) => {
    const { r, nic } = booted('v6.12', mode);
    expect(r.op({ op: 'bind', f: nic, kind: 'dma' })).toBe(0);
    expect(ats(r, nic)).toBe(true);
    expect(r.events.some((e) => e.kind === 'config-write')).toBe(false);
    expect(r.op({ op: 'unbind', f: nic })).toBe(0);
    expect(ats(r, nic)).toBe(true);
  });
});

describe('set the group type', () => {
  it.each(PRESETS)('%s: identity turns ATS off in legacy mode, DMA turns it on again', (preset) => {
    const { r, nic } = booted(preset, 'legacy');
    expect(r.op({ op: 'set-group-type', f: nic, type: 'identity' })).toBe(0);
    expect(ats(r, nic)).toBe(false);
    expect(info(r, nic).ctx_devtlb).toBe(false);
    expect(r.op({ op: 'set-group-type', f: nic, type: 'dma' })).toBe(0);
    expect(ats(r, nic)).toBe(true);
    expect(r.state.pci[nic]!.atsCtrl).toBe(0x8000);
    expect(violated(r)).toEqual([]);
  });

  it.each(PRESETS)('%s: identity leaves ATS on in scalable mode', (preset) => {
    const { r, nic } = booted(preset, 'scalable');
    expect(r.op({ op: 'set-group-type', f: nic, type: 'identity' })).toBe(0);
    expect(ats(r, nic)).toBe(true);
    expect(r.op({ op: 'set-group-type', f: nic, type: 'dma' })).toBe(0);
    expect(ats(r, nic)).toBe(true);
    expect(violated(r)).toEqual([]);
  });

  it('v6.12 scalable turns ATS off and on around the identity attach; from 5518f239aff1 it is not touched', () => {
    const old = booted('v6.12', 'scalable');
    old.r.op({ op: 'set-group-type', f: old.nic, type: 'identity' });
    expect(
      old.r.events.filter((e) => e.kind === 'config-write' && e.register === 'PCI_ATS_CTRL').length,
    ).toBe(2);
    const now = booted('v7.3', 'scalable');
    now.r.op({ op: 'set-group-type', f: now.nic, type: 'identity' });
    expect(now.r.events.some((e) => e.kind === 'config-write' && e.register === 'PCI_ATS_CTRL')).toBe(false);
  });
});

describe('the blocking domain (VFIO claims the group)', () => {
  const cases: [PresetId, VtdConfig['mode'], boolean][] = [
    ['v6.1', 'legacy', true],
    ['v6.1', 'scalable', true],
    ['v6.12', 'legacy', false],
    ['v6.12', 'scalable', false],
    ['v7.3', 'legacy', false],
    ['v7.3', 'scalable', true],
  ];
  it.each(cases)('%s %s: ATS on = %s', (preset, mode, on) => {
    const { r, blk } = booted(preset, mode);
    expect(r.op({ op: 'vfio-claim', f: blk })).toBe(0);
    expect(ats(r, blk)).toBe(on);
    expect(violated(r).includes('blocked-ats-off')).toBe(on);
  });

  it('v6.1 blocks with an empty paging domain, v6.12 with the static BLOCKED domain', () => {
    const old = booted('v6.1', 'scalable');
    old.r.op({ op: 'vfio-claim', f: old.blk });
    const g = old.r.world.groupOf[old.blk]!;
    expect(old.r.state.domains[old.r.state.groups[g]!.domain]!.type).toBe(1);
    const r = booted('v6.12', 'scalable');
    r.r.op({ op: 'vfio-claim', f: r.blk });
    expect(r.r.state.domains[r.r.state.groups[g]!.domain]!.type).toBe(0);
  });

  it('vtd-ats-follows-domain: BLOCKED turns ATS off, and VFIO release back to DMA on', () => {
    const { r, blk } = booted('v7.3', 'scalable', { 'vtd-ats-follows-domain': 'on' });
    expect(ats(r, blk)).toBe(true);
    r.op({ op: 'vfio-claim', f: blk });
    expect(ats(r, blk)).toBe(false);
    expect(violated(r)).toEqual([]);
    r.op({ op: 'vfio-release', f: blk });
    expect(ats(r, blk)).toBe(true);
  });

  it('vtd-ats-follows-domain: plain identity has ATS off in scalable mode', () => {
    const { r, nic } = booted('v7.3', 'scalable', { 'vtd-ats-follows-domain': 'on' });
    r.op({ op: 'set-group-type', f: nic, type: 'identity' });
    expect(ats(r, nic)).toBe(false);
  });
});

describe('function reset', () => {
  it.each(PRESETS.flatMap((p) => MODES.map((m) => [p, m] as const)))(
    '%s %s: the PCI core rewrites the recorded ATS state after the FLR',
    (preset, mode) => {
      const { r, nic } = booted(preset, mode);
      expect(r.step({ op: 'flr', f: nic }).waiting).toBe(true);
      expect(r.step({ op: 'flr', f: nic }).waiting).toBe(false);
      expect(r.state.pci[nic]).toMatchObject({ atsEnabled: true, atsCtrl: 0x8000 });
      expect(r.events.at(-1)).toMatchObject({
        kind: 'config-write',
        register: 'PCI_ATS_CTRL',
        value: 0x8000,
      });
    },
  );
});

/** The block's context-entry, invalidation and ATS Control events for bdf, in order, as short labels. */
function blockOrder(events: readonly KernelEvent[], bdf: string): string[] {
  return events.flatMap((e) => {
    if (e.kind === 'dev-entry' && e.bdf === bdf) return [`${e.entry} ${e.mode}`];
    if (e.kind === 'iommu-cmd' && (e.bdf === undefined || e.bdf === bdf)) return [e.cmd];
    if (e.kind === 'config-write' && e.bdf === bdf && e.register === 'PCI_ATS_CTRL')
      return [`PCI_ATS_CTRL=${e.value}`];
    return [];
  });
}

describe('legacy mode: ATS off before or after the context-entry flush', () => {
  // Before 5518f239aff1, device_block_translation() turns ATS off first: the flush after
  // domain_context_clear_one() finds ATS off and sends no QI_DEV_IOTLB. From 5518f239aff1
  // domain_context_clear() turns ATS off after the flush, which includes the device-TLB.
  const before = ['PCI_ATS_CTRL=0', 'context clear', 'QI_CC', 'QI_IOTLB', 'QI_IWD'];
  const after = ['context clear', 'QI_CC', 'QI_IOTLB', 'QI_DEV_IOTLB', 'QI_IWD', 'PCI_ATS_CTRL=0'];
  it.each([
    ['v6.1', before],
    ['v6.12', before],
    ['v7.0', after],
    ['v7.3', after],
  ] as const)('%s: the blocking attach of a VFIO claim', (preset, order) => {
    const { r, blk } = booted(preset, 'legacy');
    expect(r.op({ op: 'vfio-claim', f: blk })).toBe(0);
    expect(blockOrder(r.events, BLK).slice(0, order.length)).toEqual(order);
  });

  it.each(['v7.0', 'v7.3'] as const)(
    '%s: pci_dev_reset_iommu_prepare() flushes the device-TLB before the ATS Control write',
    (preset) => {
      const { r, nic } = booted(preset, 'legacy');
      r.op({ op: 'bind', f: nic, kind: 'dma' });
      r.op({ op: 'dma-map', f: nic });
      r.op({ op: 'atc-fill', f: nic, iova: 0 });
      r.op({ op: 'device-fault', f: nic, fault: 'hold-atc' });
      const prepare = r.step({ op: 'flr', f: nic }, 1);
      expect(prepare.waiting).toBe(true);
      expect(blockOrder(prepare.events, NIC)).toEqual(after);
      expect(prepare.events).toContainEqual(
        expect.objectContaining({ kind: 'iommu-cmd', cmd: 'QI_DEV_IOTLB', bdf: NIC, span: 52 }),
      );
      // The ATC entry went with the flush, so a function that keeps its ATC across the reset
      // holds nothing stale once the unmap frees the page behind ATS's back.
      expect(r.state.devs[nic]!.atc).toEqual([]);
      expect(r.op({ op: 'dma-unmap', f: nic, iova: 0 })).toBe(0);
      expect(r.step({ op: 'flr', f: nic }, 1).waiting).toBe(false);
      expect(ats(r, nic)).toBe(true);
      expect(violated(r)).toEqual([]);
    },
  );
});

describe('device-TLB invalidation', () => {
  it('an unmap queues QI_IOTLB, QI_DEV_IOTLB with the queue depth, and the wait descriptor', () => {
    const { r, blk } = booted('v7.3', 'legacy');
    r.op({ op: 'bind', f: blk, kind: 'dma' });
    r.op({ op: 'dma-map', f: blk });
    expect(r.op({ op: 'dma-unmap', f: blk, iova: 0 })).toBe(0);
    const cmds = r.events.flatMap((e) => (e.kind === 'iommu-cmd' ? [e] : []));
    expect(cmds.map((c) => c.cmd)).toEqual(['QI_IOTLB', 'QI_DEV_IOTLB', 'QI_IWD']);
    expect(cmds[1]).toMatchObject({ bdf: BLK, page: 0, span: 0, qdep: 8 });
    expect(cmds[2]).toMatchObject({ result: 'ok' });
  });

  it('a queue depth of 32 is encoded as 0', () => {
    const { r, nic } = booted('v7.3', 'legacy');
    r.op({ op: 'bind', f: nic, kind: 'dma' });
    r.op({ op: 'dma-map', f: nic });
    r.op({ op: 'dma-unmap', f: nic, iova: 0 });
    expect(r.events).toContainEqual(
      expect.objectContaining({ kind: 'iommu-cmd', cmd: 'QI_DEV_IOTLB', qdep: 0 }),
    );
  });

  it('a device that stops answering makes the wait descriptor time out (ITE)', () => {
    const { r, blk } = booted('v7.3', 'scalable');
    r.op({ op: 'bind', f: blk, kind: 'dma' });
    r.op({ op: 'dma-map', f: blk });
    r.op({ op: 'device-fault', f: blk, fault: 'stop-answering' });
    r.op({ op: 'dma-unmap', f: blk, iova: 0 });
    expect(r.events).toContainEqual(
      expect.objectContaining({ kind: 'iommu-cmd', cmd: 'QI_IWD', result: 'timeout' }),
    );
    expect(violated(r)).toContain('invalidation-timeout');
  });

  for (const mode of MODES)
    it(`${mode}: a reset waits for a flush in flight (domain->cache_lock) from v7.0, not in v6.12`, () => {
      for (const preset of ['v6.12', 'v7.3'] as const) {
        const { r, blk } = booted(preset, mode);
        r.op({ op: 'bind', f: blk, kind: 'dma' });
        r.op({ op: 'dma-map', f: blk });
        expect(r.step({ op: 'dma-unmap', f: blk, iova: 0 }, 0).waiting).toBe(true);
        expect(flushing(r).filter((n) => n > 0)).toEqual([1]);
        const flr = r.step({ op: 'flr', f: blk }, 1);
        if (preset === 'v7.3') {
          // The blocking attach of pci_dev_reset_iommu_prepare() cannot take the lock yet.
          expect(flr.waiting).toBe(true);
          expect(flr.events).toEqual([]);
          expect(r.state.devs[blk]!.resetting).toBe(false);
        } else expect(r.state.devs[blk]!.resetting).toBe(true);
        expect(r.step({ op: 'dma-unmap', f: blk, iova: 0 }, 0).events).toContainEqual(
          expect.objectContaining({ cmd: 'QI_IWD', result: preset === 'v7.3' ? 'ok' : 'timeout' }),
        );
        expect(flushing(r).every((n) => n === 0)).toBe(true);
        if (preset === 'v7.3') {
          expect(violated(r)).toEqual([]);
          expect(r.step({ op: 'flr', f: blk }, 1).waiting).toBe(true);
          expect(r.state.devs[blk]!.resetting).toBe(true);
        } else expect(violated(r)).toContain('invalidation-timeout');
      }
    });

  it('a VFIO claim waits for a flush in flight from v6.12 (cache tags go first), not in v6.1 (ATS went off first)', () => {
    for (const preset of ['v6.1', 'v6.12'] as const) {
      const { r, blk } = booted(preset, 'legacy');
      r.op({ op: 'bind', f: blk, kind: 'dma' });
      r.op({ op: 'dma-map', f: blk });
      expect(r.step({ op: 'dma-unmap', f: blk, iova: 0 }, 0).waiting).toBe(true);
      expect(r.step({ op: 'vfio-claim', f: blk }, 1).waiting).toBe(preset === 'v6.12');
    }
  });

  it('no device-TLB descriptor for a function whose ATS is off', () => {
    const r = vtdRun('v7.3', { atsr: [PORT_NIC] });
    r.op({ op: 'boot' });
    const blk = fOf(r.world, BLK);
    r.op({ op: 'bind', f: blk, kind: 'dma' });
    r.op({ op: 'dma-map', f: blk });
    r.op({ op: 'dma-unmap', f: blk, iova: 0 });
    expect(r.events.some((e) => e.kind === 'iommu-cmd' && e.cmd === 'QI_DEV_IOTLB')).toBe(false);
  });
});

describe('runtime enable failure', () => {
  it.each([
    ['v7.2', []],
    ['v7.3', ['iommu_enable_pci_ats']],
  ] as const)('%s: ATS stays off in driver and device; WARNs %j', (preset, warns) => {
    const r = vtdRun(preset, { mode: 'legacy' });
    const f = fOf(r.world, NIC);
    r.armFault('pci_enable_ats', f, -EINVAL);
    expect(r.op({ op: 'boot' })).toBe(0);
    expect(info(r, f).ats_enabled).toBe(false);
    expect(ats(r, f)).toBe(false);
    expect(r.warns().map((w) => w.site)).toEqual(warns);
  });
});

describe('PASID', () => {
  it('scalable mode attaches a PASID through the PASID table; legacy mode refuses', () => {
    const { r, nic } = booted('v7.3', 'scalable');
    r.op({ op: 'bind', f: nic, kind: 'dma' });
    expect(r.op({ op: 'pasid-attach', f: nic, pasid: 0, domain: 'dma' })).toBe(0);
    expect(info(r, nic).pasids.length).toBe(6);
    const legacy = booted('v7.3', 'legacy');
    legacy.r.op({ op: 'bind', f: legacy.nic, kind: 'dma' });
    // Legacy mode has no PASIDs: no SSID bits, so the core finds no PASID to allocate.
    expect(legacy.r.op({ op: 'pasid-attach', f: legacy.nic, pasid: 0, domain: 'dma' })).toBe(-ENOSPC);
    expect(info(legacy.r, legacy.nic).pasids).toEqual([]);
  });

  it("replacing a PASID's domain flushes what the old domain cached (intel_pasid_flush_present)", () => {
    const { r, nic } = booted('v7.3', 'scalable');
    r.op({ op: 'bind', f: nic, kind: 'dma' });
    expect(r.op({ op: 'pasid-attach', f: nic, pasid: 0, domain: 'dma' })).toBe(0);
    const pasid = r.state.groups[r.world.groupOf[nic]!]!.pasids[0]!;
    expect(r.op({ op: 'dma-map', f: nic, pasid })).toBe(0);
    r.op({ op: 'atc-fill', f: nic, iova: 0, pasid });
    const cachedFor = (): number => {
      const atc = r.state.devs[nic]!.atc;
      let n = 0;
      for (let i = 0; i < atc.length; i += 3) if (atc[i] === pasid) n++;
      return n;
    };
    expect(ats(r, nic)).toBe(true);
    expect(cachedFor()).toBe(1);
    const events = r.edit((tx: Tx) => {
      const d = tx.allocDomain(IOMMU_DOMAIN_UNMANAGED, 1);
      expect(iommu_replace_device_pasid(tx, d, nic, pasid)).toBe(0);
    });
    const cmds = events.flatMap((e) =>
      e.kind === 'iommu-cmd' ? [`${e.cmd}${'pasid' in e && e.pasid !== undefined ? `:${e.pasid}` : ''}`] : [],
    );
    expect(cmds).toEqual([`QI_PC:${pasid}`, 'QI_PIOTLB', `QI_DEV_EIOTLB:${pasid}`, 'QI_IWD']);
    expect(cachedFor()).toBe(0);
  });

  it('v6.1 enables PASID with ATS at attach; v6.12 at probe', () => {
    const old = booted('v6.1', 'scalable');
    expect(old.r.state.pci[old.nic]!.pasidEnabled).toBe(true);
    old.r.op({ op: 'vfio-claim', f: old.nic });
    expect(old.r.state.pci[old.nic]!.pasidEnabled).toBe(true);
    const r = booted('v6.12', 'scalable');
    expect(info(r.r, r.nic).pasid_enabled).toBe(true);
  });
});

describe('release', () => {
  it.each(PRESETS)('%s: hot-unplug leaves ATS and PASID off and the entries cleared', (preset) => {
    const { r, nic } = booted(preset, 'scalable');
    expect(r.op({ op: 'hot-unplug', f: nic })).toBe(0);
    expect(info(r, nic)).toMatchObject({
      probed: false,
      ats_enabled: false,
      pasid_enabled: false,
      pasids: [],
    });
    expect(r.warns()).toEqual([]);
  });

  it('v6.1 scalable mode flushes the device-TLB of the torn-down entry before it turns ATS off', () => {
    const order = (preset: PresetId): string[] => {
      const { r, nic } = booted(preset, 'scalable');
      expect(ats(r, nic)).toBe(true);
      r.op({ op: 'hot-unplug', f: nic });
      const bdf = r.world.infos[nic]!.bdf;
      return r.events.flatMap((e) =>
        e.kind === 'iommu-cmd' && e.cmd.startsWith('QI_DEV')
          ? [e.cmd]
          : e.kind === 'config-write' && e.bdf === bdf && e.register === 'PCI_ATS_CTRL'
            ? ['ATS off']
            : [],
      );
    };
    // dmar_remove_one_dev_info(): intel_pasid_tear_down_entry(), then iommu_disable_dev_iotlb().
    expect(order('v6.1')).toEqual(['QI_DEV_IOTLB', 'ATS off']);
    // Later kernels attach the blocking domain first. v6.12's removes the cache tags and turns ATS
    // off before the teardown, so nothing is flushed at the device; from v7.0 scalable mode keeps
    // ATS on through the teardown, and release turns it off.
    expect(order('v6.12')).toEqual(['ATS off']);
    expect(order('v7.3')).toEqual(['QI_DEV_IOTLB', 'ATS off']);
  });
});
