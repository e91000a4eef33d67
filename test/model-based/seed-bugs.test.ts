/**
 * The bugs of the seed threads, reproduced with the real handlers under the kernels that have them
 * and gone under the kernels that fixed them, each checked by its exact violation id and function.
 */
import { describe, expect, it } from 'vitest';
import '../../src/model/handlers.js';
import { smmuv3Ops } from '../../src/drivers/smmuv3/ops.js';
import { INVARIANTS } from '../../src/invariants/catalogue.js';
import { checkInvariants } from '../../src/invariants/invariant.js';
import { resolveKernel } from '../../src/kernel/config.js';
import { EINVAL } from '../../src/kernel/errno.js';
import type { Op } from '../../src/model/ops.js';
import type { SystemState } from '../../src/model/state.js';
import { runOp, step } from '../../src/model/step.js';
import { createWorld, initialState } from '../../src/model/world-builder.js';
import type { IommuFeatures, World } from '../../src/model/world.js';
import { MachineBuilder, type FunctionSpec } from '../../src/pci/builder.js';

const RP = '0000:00:01.0';
const A = '0000:01:00.0';

function world(
  endpoints: Record<string, FunctionSpec>,
  preset: string,
  opts: { cmdline?: string; features?: Partial<IommuFeatures> } = {},
): World {
  const b = new MachineBuilder().rootPort(RP, {
    secondaryBus: 1,
    subordinateBus: 1,
    eeTlpPrefix: true,
    acs: { capability: ['SV', 'RR', 'CR', 'UF'], control: ['SV', 'RR', 'CR', 'UF'] },
  });
  for (const [bdf, spec] of Object.entries(endpoints)) b.function(bdf, spec);
  return createWorld(b.build(), {
    kernel: resolveKernel(preset, {}, opts.cmdline),
    ops: smmuv3Ops,
    ...(opts.features === undefined ? {} : { features: opts.features }),
  });
}

/** Runs the ops on one thread; returns, per op, the `id@bdf` of every violation after it. */
function run(
  w: World,
  ops: readonly Op[],
  s0: SystemState = initialState(w),
): { state: SystemState; found: string[][] } {
  let s = s0;
  const found: string[][] = [];
  for (const op of ops) {
    const r = runOp(w, s, op);
    s = r.state;
    found.push(checkInvariants(w, s, r.events, INVARIANTS).map((v) => `${v.id}@${v.bdf ?? ''}`));
  }
  return { state: s, found };
}

const f = (w: World, bdf: string): number => w.machine.byBdf.get(bdf)!;
const NIC: FunctionSpec = { vendorId: 0x15b3, deviceId: 0x1021, ats: {}, flr: true };

describe("thread 4: pci_enable_ats() failing in arm_smmu_attach_commit() leaves the driver's ATS state drifted", () => {
  const flow = (w: World): Op[] => [
    { op: 'arm-fault', fn: 'pci_enable_ats', f: f(w, A), skip: 0, errno: -EINVAL },
    { op: 'boot' },
    { op: 'bind', f: f(w, A), kind: 'dma' },
    { op: 'dma-map', f: f(w, A) },
    { op: 'dma-unmap', f: f(w, A), iova: 0 },
    { op: 'unbind', f: f(w, A) },
    // VFIO takes the group: the blocked attach calls pci_disable_ats() on a function whose ATS is off.
    { op: 'vfio-claim', f: f(w, A) },
  ];

  it('v7.2: nr_ats_masters and the SMMU/PCI ATS state disagree, unmap invalidations reach an ATS-off function, then pci_disable_ats() WARNs', () => {
    const w = world({ [A]: NIC }, 'v7.2');
    const { found } = run(w, flow(w));
    expect(found[1]).toEqual([`nr-ats-masters@${A}`, `smmu-pci-ats-agree@${A}`]);
    expect(found[4]).toContain(`atc-inv-target@${A}`);
    expect(found[6]).toEqual([`warn:pci_disable_ats@${A}`]);
  });

  it('v7.3 still drifts when the enable fails, but reports the failure as the kernel bug it now is (WARN)', () => {
    const w = world({ [A]: NIC }, 'v7.3');
    const { found } = run(w, flow(w));
    expect(found[1]).toEqual([
      `warn:arm_smmu_enable_ats@${A}`,
      `nr-ats-masters@${A}`,
      `smmu-pci-ats-agree@${A}`,
    ]);
  });

  /** An SR-IOV PF that the E2000 quirk strips of ATS, with VFs that keep theirs (thread 4's trigger). */
  const quirkedPf: FunctionSpec = {
    vendorId: 0x8086,
    deviceId: 0x1452,
    revision: 0x10,
    ats: {},
    sriov: {
      totalVFs: 2,
      numVFs: 1,
      vfEnable: true,
      firstVfOffset: 1,
      vfStride: 1,
      vfDeviceId: 0x1889,
      vf: { ats: {} },
    },
  };
  const VF = '0000:01:00.1';

  it('v7.2: without any injected fault, a VF of a quirked PF is predicted ATS, its enable fails, and the state drifts', () => {
    const w = world({ [A]: quirkedPf }, 'v7.2');
    const { found } = run(w, [{ op: 'boot' }]);
    expect(found[0]).toEqual([
      `nr-ats-masters@${VF}`,
      `smmu-pci-ats-agree@${VF}`,
      `vf-ats-follows-pf@${VF}`,
      `stu-programmed-at-probe@${VF}`,
    ]);
  });

  it('v7.3 (PF-aware pci_ats_supported(), STU checked at probe): the same machine boots clean', () => {
    const w = world({ [A]: quirkedPf }, 'v7.3');
    expect(run(w, [{ op: 'boot' }, { op: 'bind', f: f(w, VF), kind: 'dma' }]).found).toEqual([[], []]);
  });
});

describe('thread 1: a CXL.cache function in an IDENTITY domain needs ATS', () => {
  const CXL: FunctionSpec = { vendorId: 0x1e98, deviceId: 0x0001, ats: {}, cxl: { cacheCapable: true } };
  // Booted in passthrough, switched to DMA and back through sysfs, then a driver binds.
  const flow = (w: World): Op[] => [
    { op: 'boot' },
    { op: 'set-group-type', f: f(w, A), type: 'dma' },
    { op: 'set-group-type', f: f(w, A), type: 'identity' },
    { op: 'bind', f: f(w, A), kind: 'dma' },
  ];

  it.each([['v6.12'], ['v7.0']])(
    '%s: ATS is off in IDENTITY and the device cannot reach memory',
    (preset) => {
      const w = world({ [A]: CXL }, preset, { cmdline: 'iommu.passthrough=1' });
      const { found } = run(w, flow(w));
      expect(found).toEqual([
        [`ats-required-but-off@${A}`],
        [],
        [`ats-required-but-off@${A}`],
        [`ats-required-but-off@${A}`],
      ]);
    },
  );

  it.each([['v7.2'], ['v7.3']])('%s: ATS stays on in IDENTITY (always on)', (preset) => {
    const w = world({ [A]: CXL }, preset, { cmdline: 'iommu.passthrough=1' });
    const { state, found } = run(w, flow(w));
    expect(found).toEqual([[], [], [], []]);
    expect(state.pci[f(w, A)]!.atsEnabled).toBe(true);
  });

  it('v7.3 on an SMMU without substreams cannot keep ATS on under bypass: the loss is reported, not refused', () => {
    const w = world({ [A]: CXL }, 'v7.3', { cmdline: 'iommu.passthrough=1', features: { ssidBits: 0 } });
    expect(run(w, flow(w)).found[0]).toEqual([`ats-required-but-off@${A}`]);
  });
});

describe('thread 1: VFIO takes a group in which a port driver receives MSIs through the IOMMU (ARM)', () => {
  const B = '0000:01:00.1';
  function claim(overrides: Record<string, 'on' | 'off'>): string[][] {
    const b = new MachineBuilder().rootPort(RP, { secondaryBus: 1, subordinateBus: 1 });
    b.function(A, { vendorId: 0x1e98, deviceId: 0x0002 });
    b.function(B, { vendorId: 0x15b3, deviceId: 0x1021, ats: {} });
    const w = createWorld(b.build(), {
      kernel: resolveKernel('v7.3', overrides),
      ops: smmuv3Ops,
      groups: [[A, B]],
    });
    return run(w, [
      { op: 'boot' },
      { op: 'bind', f: f(w, A), kind: 'managed', msi: true },
      { op: 'vfio-claim', f: f(w, B) },
    ]).found;
  }

  it('v7.3: the group moves to the blocking domain and the port driver silently loses its interrupts', () => {
    expect(claim({})).toEqual([[], [], [`msi-doorbell-unmapped@${A}`]]);
  });

  it('with `vfio-refuse-msi-only-groups` (Jason Gunthorpe, 2026-02-26) VFIO refuses the group instead', () => {
    expect(claim({ 'vfio-refuse-msi-only-groups': 'on' })).toEqual([[], [], []]);
  });
});

describe('thread 2: invalidating a function during its FLR', () => {
  /** Thread 0 starts an FLR; thread 1 unmaps a mapping the function has in its ATC; thread 0 finishes. */
  function flrRace(preset: string): string[][] {
    const w = world({ [A]: NIC }, preset);
    const fa = f(w, A);
    let s = run(
      w,
      [
        { op: 'boot' },
        { op: 'bind', f: fa, kind: 'dma' },
        { op: 'dma-map', f: fa },
        { op: 'atc-fill', f: fa, iova: 0 },
      ],
      initialState(w, 2),
    ).state;
    const found: string[][] = [];
    const note = (r: ReturnType<typeof step>): void => {
      s = r.state;
      found.push(checkInvariants(w, s, r.events, INVARIANTS).map((v) => `${v.id}@${v.bdf ?? ''}`));
    };
    note(step(w, s, { op: 'flr', f: fa }, 0));
    note(runOp(w, s, { op: 'dma-unmap', f: fa, iova: 0 }, 1));
    note(step(w, s, { op: 'flr', f: fa }, 0));
    return found;
  }

  it('v6.12 (no reset hooks): the reset is not fenced, the unmap invalidates a resetting function, and its CMD_SYNC times out', () => {
    expect(flrRace('v6.12')).toEqual([
      [`reset-fenced@${A}`],
      [`atc-inv-target@${A}`, `reset-fenced@${A}`, `invalidation-timeout@${A}`],
      [],
    ]);
  });

  it('v7.0 (pci_dev_reset_iommu_prepare/done): the function is parked with ATS off, nothing is invalidated at it', () => {
    expect(flrRace('v7.0')).toEqual([[], [], []]);
  });

  it('v7.3: an FLR that starts while an unmap waits for its CMD_SYNC waits for it (invs->rwlock, 587bb3e56a2c)', () => {
    const w = world({ [A]: NIC }, 'v7.3');
    const fa = f(w, A);
    let s = run(
      w,
      [
        { op: 'boot' },
        { op: 'bind', f: fa, kind: 'dma' },
        { op: 'dma-map', f: fa },
        { op: 'atc-fill', f: fa, iova: 0 },
      ],
      initialState(w, 2),
    ).state;
    const found: string[] = [];
    const go = (op: Op, t: number): void => {
      const r = step(w, s, op, t);
      s = r.state;
      found.push(...checkInvariants(w, s, r.events, INVARIANTS).map((v) => `${v.id}@${v.bdf ?? ''}`));
    };
    go({ op: 'dma-unmap', f: fa, iova: 0 }, 1); // issues CMD_ATC_INV, waits for the CMD_SYNC
    go({ op: 'flr', f: fa }, 0); // must not park the function and reset it under the pending invalidation
    go({ op: 'dma-unmap', f: fa, iova: 0 }, 1); // the CMD_SYNC
    go({ op: 'flr', f: fa }, 0);
    go({ op: 'flr', f: fa }, 0);
    expect(found).toEqual([]);
  });
});

describe('the lazy flush queue (DMA_FQ): the window it accepts', () => {
  it('a device may reach an unmapped, freed page through its ATC until the flush; the flush closes the window', () => {
    const w = world({ [A]: NIC }, 'v7.3');
    const fa = f(w, A);
    const { found } = run(w, [
      { op: 'boot' },
      { op: 'set-group-type', f: fa, type: 'dma-fq' },
      { op: 'bind', f: fa, kind: 'dma' },
      { op: 'dma-map', f: fa },
      { op: 'atc-fill', f: fa, iova: 0 },
      { op: 'dma-unmap', f: fa, iova: 0 },
      { op: 'device-dma', f: fa, iova: 0, translated: true },
      { op: 'fq-flush' },
      { op: 'device-dma', f: fa, iova: 0, translated: true },
    ]);
    expect(found).toEqual([[], [], [], [], [], [], [`no-stale-translation@${A}`], [], []]);
  });
});
