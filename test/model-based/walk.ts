/**
 * Random machines and random sequences of correct kernel flows for the model-based tests: the
 * arbitraries, and a runner that applies the operations with the real handlers and checks every
 * invariant after each step.
 */
import fc from 'fast-check';
import '../../src/model/handlers.js';
import { smmuv3Ops } from '../../src/drivers/smmuv3/ops.js';
import { INVARIANTS } from '../../src/invariants/catalogue.js';
import { checkInvariants, type Violation } from '../../src/invariants/invariant.js';
import { resolveKernel } from '../../src/kernel/config.js';
import { PRESET_IDS } from '../../src/kernel/presets.js';
import { formatKernelEvent } from '../../src/kernel/events.js';
import type { Op } from '../../src/model/ops.js';
import { IOMMU_DOMAIN_IDENTITY } from '../../src/iommu/domain-type.js';
import { DRIVER_DMA_API, DRIVER_NONE, DRIVER_VFIO } from '../../src/model/state.js';
import type { SystemState } from '../../src/model/state.js';
import { runOp, step, type StepResult } from '../../src/model/step.js';
import { createWorld, initialState } from '../../src/model/world-builder.js';
import type { IommuFeatures, World } from '../../src/model/world.js';
import { MachineBuilder, type AcsSpec, type FunctionSpec } from '../../src/pci/builder.js';
import type { Bdf } from '../../src/pci/bdf.js';
import type { Machine } from '../../src/pci/topology.js';

const RP_ACS: AcsSpec = { capability: ['SV', 'RR', 'CR', 'UF'], control: ['SV', 'RR', 'CR', 'UF'] };

/** The kinds of endpoint a random machine is made of. */
export const ENDPOINT_KINDS = {
  ats: { vendorId: 0x15b3, deviceId: 0x1022, ats: {}, flr: true },
  'ats-pasid': { vendorId: 0x15b3, deviceId: 0x1021, ats: {}, pasid: { width: 8 }, flr: true },
  plain: { vendorId: 0x8086, deviceId: 0x10d3, flr: true },
  'cxl-cache': {
    vendorId: 0x1e98,
    deviceId: 0x0001,
    ats: {},
    pasid: { width: 4 },
    cxl: { cacheCapable: true },
    flr: true,
  },
  'sriov-pf': {
    vendorId: 0x15b3,
    deviceId: 0x101d,
    ats: {},
    flr: true,
    sriov: {
      totalVFs: 4,
      numVFs: 2,
      vfEnable: true,
      firstVfOffset: 1,
      vfStride: 1,
      vfDeviceId: 0x101e,
      vf: { ats: {}, flr: true },
    },
  },
} as const satisfies Record<string, FunctionSpec>;
export type EndpointKind = keyof typeof ENDPOINT_KINDS;

export interface MachineSpec {
  readonly endpoints: readonly EndpointKind[];
  /** The root port is external-facing: everything below it is untrusted. */
  readonly external: boolean;
  /** Put the first two endpoints in one IOMMU group. */
  readonly shareGroup: boolean;
  /** The first endpoint has RMRs (require_direct). */
  readonly requireDirect: boolean;
  readonly features: Partial<IommuFeatures>;
}

export const machineSpecArb: fc.Arbitrary<MachineSpec> = fc.record({
  endpoints: fc.array(fc.constantFrom(...(Object.keys(ENDPOINT_KINDS) as EndpointKind[])), {
    minLength: 1,
    maxLength: 4,
  }),
  external: fc.constantFrom(false, false, false, true),
  shareGroup: fc.boolean(),
  requireDirect: fc.boolean(),
  features: fc.record({ ssidBits: fc.constantFrom(0, 20, 20), msiThroughIommu: fc.boolean() }),
});

/**
 * Machines on which a correct v7.3 kernel keeps every invariant: an SMMU that can keep ATS on under
 * IDENTITY (stage 1 and substreams) wherever a CXL.cache function sits. Without SSIDs the driver
 * falls back to on-demand ATS with an info message, and the function loses ATS in IDENTITY
 * (`ats-required-but-off`, a platform limit the kernel reports but does not refuse).
 */
export const healthySpecArb: fc.Arbitrary<MachineSpec> = machineSpecArb.map((m) =>
  m.endpoints.includes('cxl-cache') ? { ...m, features: { ...m.features, ssidBits: 20 } } : m,
);

/** Endpoints at 01:0N.0 below one root port (an SR-IOV PF's VFs follow it at .1, .2). */
export function buildMachine(spec: MachineSpec): { machine: Machine; endpoints: Bdf[] } {
  const b = new MachineBuilder().rootPort('0000:00:01.0', {
    secondaryBus: 1,
    subordinateBus: 1,
    eeTlpPrefix: true,
    acs: RP_ACS,
    externalFacing: spec.external,
  });
  const endpoints: Bdf[] = [];
  spec.endpoints.forEach((k, i) => {
    const bdf = `0000:01:${i.toString(16).padStart(2, '0')}.0`;
    b.function(bdf, ENDPOINT_KINDS[k]);
    endpoints.push(bdf);
  });
  return { machine: b.build(), endpoints };
}

export function buildWorld(spec: MachineSpec, preset: string, cmdline?: string): World {
  const { machine, endpoints } = buildMachine(spec);
  return createWorld(machine, {
    kernel: resolveKernel(preset, {}, cmdline),
    ops: smmuv3Ops,
    features: spec.features,
    ...(spec.shareGroup && endpoints.length >= 2 ? { groups: [endpoints.slice(0, 2)] } : {}),
    ...(spec.requireDirect ? { requireDirect: [endpoints[0]!] } : {}),
  });
}

/** An operation over "some function": the index is taken modulo the machine's size when applied. */
const f = fc.nat(15);
const iova = fc.nat(7);
const pasid = fc.constantFrom(1, 2, 3);

/** Correct kernel flows (no injected faults, no device faults, no lazy flush queue). */
export const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('bind'), f, kind: fc.constantFrom('dma', 'managed'), msi: fc.boolean() }),
  fc.record({ op: fc.constant('unbind'), f }),
  fc.record({ op: fc.constant('vfio-claim'), f }),
  fc.record({ op: fc.constant('vfio-release'), f }),
  fc.record({ op: fc.constant('attach'), f, domain: fc.constantFrom('unmanaged', 'identity', 'blocked') }),
  fc.record({ op: fc.constant('detach'), f }),
  fc.record({ op: fc.constant('set-group-type'), f, type: fc.constantFrom('identity', 'dma') }),
  fc.record({
    op: fc.constant('pasid-attach'),
    f,
    pasid: fc.constant(0),
    domain: fc.constantFrom('dma', 'sva', 'unmanaged'),
  }),
  fc.record({ op: fc.constant('pasid-detach'), f, pasid }),
  fc.record({ op: fc.constant('dma-map'), f }),
  fc.record({ op: fc.constant('dma-map'), f, pasid }),
  fc.record({ op: fc.constant('dma-unmap'), f, iova }),
  fc.record({ op: fc.constant('dma-unmap'), f, iova, pasid }),
  fc.record({ op: fc.constant('device-dma'), f, iova, translated: fc.boolean() }),
  fc.record({ op: fc.constant('device-dma'), f, iova, pasid, translated: fc.boolean() }),
  fc.record({ op: fc.constant('atc-fill'), f, iova }),
  fc.record({ op: fc.constant('atc-fill'), f, iova, pasid }),
  fc.record({ op: fc.constant('flr'), f }),
);

/** The IOVAs mapped for f's RID (pasid 0) or PASID: page-table entries, or an identity domain's pages. */
function mappings(world: World, s: SystemState, f: number, pasid: number): number[] {
  const g = world.groupOf[f]!;
  if (g < 0) return [];
  const grp = s.groups[g]!;
  let d = grp.domain;
  if (pasid > 0) {
    d = -1;
    for (let i = 0; i < grp.pasids.length; i += 2) if (grp.pasids[i] === pasid) d = grp.pasids[i + 1]!;
  }
  const dom = d >= 0 ? s.domains[d] : null;
  if (dom === null || dom === undefined) return [];
  const out: number[] = [];
  if (dom.type === IOMMU_DOMAIN_IDENTITY) s.mem.pages.forEach((o, page) => o === 1 + d && out.push(page));
  else for (let i = 0; i < dom.pt.length; i += 2) out.push(dom.pt[i]!);
  return out;
}

/**
 * The op made concrete for the state it runs in, as a correct user of the kernel would issue it:
 *  - the function index is folded into the machine;
 *  - an unmap unmaps a mapping that exists (the random IOVA picks among the domain's mappings);
 *    with nothing mapped, nothing is issued;
 *  - a kernel driver attaches DMA-API and SVA PASIDs, the VFIO/iommufd user UNMANAGED ones; the
 *    wrong owner issues nothing;
 *  - a driver, or the VFIO user, detaches the PASIDs of its group before it unbinds or releases;
 *  - nobody moves a group in which a driver takes MSIs through the IOMMU to another domain (VFIO
 *    claiming it, or a sysfs type change): v7.3 silently loses those interrupts, the known problem
 *    of thread 1 (seed-bugs.test.ts shows it), which no merged kernel fixes;
 *  - nobody detaches a PASID while a function of its group is parked for a reset: the kernel
 *    removes it from that function a second time (kernel-flows.test.ts shows it).
 */
export function concretize(op: Op, world: World, s: SystemState): Op[] {
  if (!('f' in op) || op.op === 'arm-fault') return [op];
  const f = op.f % world.infos.length;
  const g = world.groupOf[f]!;
  const grp = g >= 0 ? s.groups[g]! : null;
  const driver = s.devs[f]!.driver;
  switch (op.op) {
    case 'dma-unmap': {
      // The function's mapping, or, when it has none, another function's (the next one that has).
      const n = world.infos.length;
      for (let k = 0; k < n; k++) {
        const fk = (f + k) % n;
        const mapped = mappings(world, s, fk, k === 0 ? (op.pasid ?? 0) : 0);
        if (mapped.length > 0)
          return [{ ...op, f: fk, iova: mapped[op.iova % mapped.length]!, ...(k === 0 ? {} : { pasid: 0 }) }];
      }
      return [];
    }
    case 'device-dma':
    case 'atc-fill': {
      // Half the time at an IOVA the function has mapped, so translations are found and go stale.
      const mapped = op.iova < 4 ? mappings(world, s, f, op.pasid ?? 0) : [];
      return [{ ...op, f, iova: mapped.length > 0 ? mapped[op.iova % mapped.length]! : op.iova }];
    }
    case 'pasid-attach': {
      const user = op.domain === 'unmanaged';
      const mine = user ? DRIVER_VFIO : DRIVER_DMA_API;
      if (driver === mine) return [{ ...op, f }];
      if (driver !== DRIVER_NONE) return [];
      // Bind the owner first: a kernel driver for DMA-API/SVA PASIDs, VFIO for the user's.
      return [user ? { op: 'vfio-claim', f } : { op: 'bind', f, kind: 'dma' }, { ...op, f }];
    }
    case 'vfio-claim':
    case 'set-group-type': {
      if (grp === null) return [{ ...op, f }];
      for (const m of world.groups[g]!.members) if (s.devs[m]!.msiInUse) return [];
      return [{ ...op, f }];
    }
    case 'pasid-detach': {
      if (grp === null) return [{ ...op, f }];
      for (const m of world.groups[g]!.members) if (s.gdevs[m]!.blocked) return [];
      return [{ ...op, f }];
    }
    case 'unbind':
    case 'vfio-release': {
      if (grp === null || grp.pasids.length === 0) return [{ ...op, f }];
      const detach: Op[] = [];
      for (let i = 0; i < grp.pasids.length; i += 2)
        detach.push({ op: 'pasid-detach', f, pasid: grp.pasids[i]! });
      return [...detach, { ...op, f }];
    }
    default:
      return [{ ...op, f }];
  }
}

/** Any operation, faults and lazy flush queues included: for tests that want violations to happen. */
export const anyOpArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: opArb },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('arm-fault'),
      fn: fc.constantFrom('pci_enable_ats', 'arm_smmu_attach_prepare', 'iommu_map', 'pcie_flr'),
      f: fc.integer({ min: -1, max: 6 }),
      skip: fc.nat(2),
      errno: fc.constantFrom(-22, -12, -16),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('device-fault'),
      f,
      fault: fc.constantFrom('stop-answering', 'hold-atc'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('set-group-type'), f, type: fc.constant('dma-fq') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('fq-flush') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cxl-reset'), f }) },
);

export interface WalkStep {
  readonly op: Op;
  readonly thread: number;
  readonly ret: number | null;
  readonly violations: readonly Violation[];
  readonly events: readonly string[];
}

export interface WalkResult {
  readonly state: SystemState;
  readonly steps: readonly WalkStep[];
}

/**
 * A property over random two-thread walks with faults, on every preset and random machines:
 * boots, then steps the walk (stepRandomWalk), calling `visit` after every step.
 */
export function assertOnRandomWalks(
  run: { readonly numRuns: number; readonly seed: number },
  visit: (world: World, r: StepResult) => void,
): void {
  fc.assert(
    fc.property(
      fc.constantFrom(...PRESET_IDS),
      machineSpecArb,
      fc.array(fc.record({ op: anyOpArb, thread: fc.nat(1) }), { minLength: 10, maxLength: 30 }),
      (preset, spec, ops) => {
        const world = buildWorld(spec, preset);
        const s0 = runOp(world, initialState(world, 2), { op: 'boot' }).state;
        stepRandomWalk(world, s0, ops, (r) => {
          visit(world, r);
        });
      },
    ),
    run,
  );
}

/**
 * Steps each (operation, thread) of a random walk from `start`, after concretize(); a thread that
 * waits in a split operation resumes it (step() refuses anything else). `visit` sees every step's
 * result. Returns the last state.
 */
export function stepRandomWalk(
  world: World,
  start: SystemState,
  ops: readonly { op: Op; thread: number }[],
  visit: (r: StepResult) => void,
): SystemState {
  let s = start;
  const waiting: (Op | null)[] = [];
  for (const { op: raw, thread } of ops)
    for (const planned of concretize(raw, world, s)) {
      const op = waiting[thread] ?? planned;
      const r = step(world, s, op, thread);
      waiting[thread] = r.waiting ? op : null;
      s = r.state;
      visit(r);
    }
  return s;
}

/** Boots, then runs each op to completion on thread 0, checking every invariant after each. */
export function walk(world: World, ops: readonly Op[]): WalkResult {
  let s = initialState(world);
  const steps: WalkStep[] = [];
  for (const raw of [{ op: 'boot' } as Op, ...ops]) {
    for (const op of concretize(raw, world, s)) {
      const r = runOp(world, s, op);
      s = r.state;
      steps.push({
        op,
        thread: 0,
        ret: r.ret,
        violations: checkInvariants(world, s, r.events, INVARIANTS),
        events: r.events.map(formatKernelEvent),
      });
    }
  }
  return { state: s, steps };
}

/**
 * Two threads: each op is started on a random thread, and a thread that is waiting (a split
 * operation) is resumed when it is picked again. Invariants are checked after every single step.
 */
export function walkThreads(world: World, ops: readonly { op: Op; thread: number }[]): WalkResult {
  let s = initialState(world, 2);
  const steps: WalkStep[] = [];
  const pending: (Op | null)[] = [null, null];
  const run1 = (op: Op, t: number): void => {
    const r = step(world, s, op, t);
    s = r.state;
    pending[t] = r.waiting ? op : null;
    steps.push({
      op,
      thread: t,
      ret: r.ret,
      violations: checkInvariants(world, s, r.events, INVARIANTS),
      events: r.events.map(formatKernelEvent),
    });
  };
  const finish = (t: number): void => {
    let guard = 0;
    while (pending[t] !== null && guard++ < 64) run1(pending[t]!, t);
  };
  run1({ op: 'boot' }, 0);
  for (const { op: raw, thread } of ops) {
    const t = thread & 1;
    const waiting = pending[t];
    if (waiting !== null && waiting !== undefined) run1(waiting, t);
    else {
      // A sequence (PASID detaches before an unbind) runs back to back once the other thread is
      // done (a detach may wait for it); only its last op may be left waiting.
      const seq = concretize(raw, world, s);
      if (seq.length > 1) finish(1 - t);
      seq.forEach((op, i) => {
        run1(op, t);
        if (i < seq.length - 1) finish(t);
      });
    }
  }
  // Both threads finish, in either order; an operation that never does is reported.
  for (let round = 0; round < 4; round++)
    for (let t = 0; t < 2; t++) if (pending[t] !== null) run1(pending[t]!, t);
  finish(0);
  finish(1);
  for (let t = 0; t < 2; t++) {
    const op = pending[t];
    if (op !== null && op !== undefined)
      steps.push({
        op,
        thread: t,
        ret: null,
        violations: [
          {
            id: 'walk:never-finishes',
            statement: 'an operation never finishes',
            source: 'walk',
            detail: op.op,
          },
        ],
        events: [],
      });
  }
  return { state: s, steps };
}

/** The first step with violations, formatted for a failure message. */
export function firstViolation(r: WalkResult): string | null {
  const i = r.steps.findIndex((x) => x.violations.length > 0);
  if (i < 0) return null;
  const lines = r.steps
    .slice(0, i + 1)
    .map((x, k) => `${k}: t${x.thread} ${JSON.stringify(x.op)} -> ${x.ret}`);
  const bad = r.steps[i]!;
  return [
    ...lines,
    ...bad.violations.map((v) => `  ${v.id}${v.bdf === undefined ? '' : ` @${v.bdf}`}: ${v.detail}`),
    ...bad.events.map((e) => `    ${e}`),
  ].join('\n');
}

/** Every violation id of a walk, in order of first appearance, with its bdf. */
export function violationIds(r: WalkResult): string[] {
  const out: string[] = [];
  for (const st of r.steps)
    for (const v of st.violations) {
      const k = `${v.id}${v.bdf === undefined ? '' : `@${v.bdf}`}`;
      if (!out.includes(k)) out.push(k);
    }
  return out;
}
