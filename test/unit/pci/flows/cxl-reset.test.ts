import { describe, expect, it } from 'vitest';
import { EBUSY, ENOTTY } from '../../../../src/kernel/errno.js';
import { MachineBuilder } from '../../../../src/pci/builder.js';
import type { Machine } from '../../../../src/pci/topology.js';
import { Run, fOf, testWorld, type TestWorldOptions } from '../../iommu/fake-ops.js';

const PORT = '0000:00:01.0';
const CXL = '0000:01:00.0';
const CXL2 = '0000:02:00.0';
const CXL2B = '0000:02:00.1';
const PLAIN = '0000:03:00.0';

/** A CXL.cache accelerator alone below its root port, a two-function one, and a plain endpoint. */
function machine(): Machine {
  const cxl = {
    vendorId: 0x8086,
    deviceId: 0x0ddb,
    flr: true,
    ats: {},
    cxl: { cacheCapable: true },
  } as const;
  return new MachineBuilder()
    .rootPort('00:01.0', { secondaryBus: 1, subordinateBus: 1 })
    .function('01:00.0', cxl)
    .rootPort('00:02.0', { secondaryBus: 2, subordinateBus: 2 })
    .function('02:00.0', cxl)
    .function('02:00.1', cxl)
    .rootPort('00:03.0', { secondaryBus: 3, subordinateBus: 3 })
    .function('03:00.0', { vendorId: 0x15b3, deviceId: 0x101d, flr: true, ats: {} })
    .build();
}

function booted(o: TestWorldOptions = {}): Run {
  const r = new Run(testWorld(machine(), o));
  expect(r.op({ op: 'boot' })).toBe(0);
  return r;
}

const sbr = (value: number): unknown => ({
  kind: 'config-write',
  bdf: PORT,
  offset: 0x3e,
  width: 2,
  value,
  register: 'PCI_BRIDGE_CONTROL',
});

describe('cxl-reset: prepare/done nest around pci_reset_bus_function()', () => {
  it('with reset_depth the inner pair nests inside the outer one and the bus reset runs', () => {
    const r = booted();
    const f = fOf(r.world, CXL);
    const g = r.world.groupOf[f]!;
    expect(r.step({ op: 'cxl-reset', f }).waiting).toBe(true);
    expect(r.events.map((e) => (e.kind === 'iommu' ? `${e.fn}: ${e.detail}` : e.kind))).toEqual([
      expect.stringMatching(/^pci_dev_reset_iommu_prepare: parked on BLOCKED/),
      'pci_dev_reset_iommu_prepare: nested (reset_depth 2)',
      'config-write',
    ]);
    expect(r.events[2]).toEqual(sbr(0x40));
    expect(r.state.gdevs[f]).toEqual({ probed: true, blocked: true, resetDepth: 2 });
    expect(r.state.groups[g]!.recoveryCnt).toBe(1);
    expect(r.state.devs[f]!.resetting).toBe(true);
    expect(r.step({ op: 'cxl-reset', f }).waiting).toBe(false);
    expect(r.last!.ret).toBe(0);
    expect(r.events[0]).toEqual(sbr(0));
    expect(r.iommuFns()).toEqual(['pci_dev_reset_iommu_done', 'pci_dev_reset_iommu_done']);
    expect(r.state.gdevs[f]).toEqual({ probed: true, blocked: false, resetDepth: 0 });
    expect(r.state.groups[g]!.recoveryCnt).toBe(0);
    expect(r.master(f).rid).toBe(r.state.groups[g]!.domain);
    expect(r.warns()).toEqual([]);
  });

  it('without reset-depth-nesting the inner prepare WARNs, -EBUSY fails the whole reset, the outer done() unparks', () => {
    const r = booted({ switches: { 'reset-depth-nesting': false } });
    const f = fOf(r.world, CXL);
    const g = r.world.groupOf[f]!;
    expect(r.op({ op: 'cxl-reset', f })).toBe(-EBUSY);
    expect(r.warns()).toEqual([
      { site: 'pci_dev_reset_iommu_prepare', message: 're-entry: the device is already blocked for a reset' },
    ]);
    expect(r.events).toContainEqual({
      kind: 'info',
      bdf: CXL,
      level: 'err',
      message: 'failed to stop IOMMU for a PCI reset: -16',
    });
    expect(r.events.some((e) => e.kind === 'config-write' && e.register === 'PCI_BRIDGE_CONTROL')).toBe(
      false,
    );
    expect(r.state.gdevs[f]).toEqual({ probed: true, blocked: false, resetDepth: 0 });
    expect(r.state.groups[g]!.recoveryCnt).toBe(0);
    expect(r.master(f).rid).toBe(r.state.groups[g]!.domain);
  });

  it('without the reset hooks (v6.12) the bus reset runs unfenced', () => {
    const r = booted({ preset: 'v6.12' });
    const f = fOf(r.world, CXL);
    expect(r.step({ op: 'cxl-reset', f }).waiting).toBe(true);
    expect(r.events[0]).toEqual(sbr(0x40));
    expect(r.state.gdevs[f]!.blocked).toBe(false);
    expect(r.state.devs[f]!.resetting).toBe(true);
    expect(r.step({ op: 'cxl-reset', f }).waiting).toBe(false);
    expect(r.last!.ret).toBe(0);
  });

  it('-ENOTTY when the function shares its bus (pci_parent_bus_reset), with prepare/done balanced', () => {
    const r = booted();
    const f = fOf(r.world, CXL2);
    expect(r.op({ op: 'cxl-reset', f })).toBe(-ENOTTY);
    expect(r.iommuFns()).toEqual([
      'pci_dev_reset_iommu_prepare',
      'pci_dev_reset_iommu_prepare',
      'pci_dev_reset_iommu_done',
      'pci_dev_reset_iommu_done',
    ]);
    expect(r.state.gdevs[f]).toEqual({ probed: true, blocked: false, resetDepth: 0 });
    expect(r.state.devs[fOf(r.world, CXL2B)]!.resetting).toBe(false);
  });

  it('-ENOTTY without a CXL port above', () => {
    const r = booted();
    expect(r.op({ op: 'cxl-reset', f: fOf(r.world, PLAIN) })).toBe(-ENOTTY);
    expect(r.events).toEqual([]);
  });
});
