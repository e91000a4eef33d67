/**
 * Binding a parsed scenario to its machine: every BDF must name a function of the machine (with
 * a precise message for a VF that is not enabled), every expected violation id must be an
 * invariant of the catalogue or `warn:<kernel function>`, and each step becomes a model `Op` on
 * a thread: thread 0 runs steps to completion; each `phase: begin` takes the lowest free
 * background thread (1, 2, ...), which its `step`/`end` steps resume. Pure.
 */
import { InputError } from '../diagnostics.js';
import { invariantById } from '../invariants/catalogue.js';
import { errnoValue } from '../kernel/errno.js';
import type { BindKind, Op, OpOf } from '../model/ops.js';
import { parseBdf, routingId, type Bdf } from '../pci/bdf.js';
import type { Machine } from '../pci/topology.js';
import { DEFAULT_VF_SLOTS, withVfSlots } from '../model/world-builder.js';
import type { Phase } from './schema.js';
import type { ScenarioDoc, ScenarioStep } from './types.js';

const CODE = 'scenario-invalid';

/** One operation to run, in order. */
export interface PlannedOp {
  /** The scenario step it comes from; null for the implicit boot. */
  readonly step: ScenarioStep | null;
  readonly op: Op;
  /** 0: the main thread; 1..: background threads of begun operations. */
  readonly thread: number;
  readonly phase: Phase | null;
}

export interface BoundScenario {
  readonly doc: ScenarioDoc;
  readonly machine: Machine;
  readonly groups: readonly (readonly Bdf[])[];
  readonly requireDirect: readonly Bdf[];
  readonly plan: readonly PlannedOp[];
  /**
   * Threads the initial state needs: 1 + the most background operations in progress at once; for
   * an explore scenario, 1 + one per thread + one per choice (threads[t] is model thread 1 + t,
   * choices[c] model thread 1 + T + c; the setup steps run to completion on thread 0).
   */
  readonly threads: number;
  /** The explorer's threads: their operations (empty for a scenario without threads:). */
  readonly threadOps: readonly (readonly PlannedOp[])[];
  /** The explorer's choices, with their budgets. */
  readonly choiceOps: readonly { readonly planned: PlannedOp; readonly max: number }[];
  /** VF slots per PF whose VFs are off in the machine (WorldOptions.vfSlots): enough for every sriov-enable step. */
  readonly vfSlots: number;
}

/** `true` when `id` may be named in an expectation. */
export function isKnownViolationId(id: string): boolean {
  return /^warn:[A-Za-z_][A-Za-z0-9_]*$/.test(id) || invariantById(id) !== undefined;
}

/** Why `bdf` is not in the machine, in words (a VF that is not enabled says which PF and how many). */
export function missingBdfReason(machine: Machine, bdf: Bdf): string {
  const parts = parseBdf(bdf);
  if (parts !== null) {
    const rid = routingId(parts);
    for (const mf of machine.functions) {
      const s = mf.fn.sriov;
      if (s === null || s.firstVfOffset === null || s.vfStride === null || s.totalVFs === null) continue;
      const pf = parseBdf(mf.fn.bdf);
      if (pf === null || pf.segment !== parts.segment) continue;
      const off = rid - routingId(pf) - s.firstVfOffset;
      if (off < 0) continue;
      if (s.vfStride === 0 ? off !== 0 : off % s.vfStride !== 0) continue;
      const n = s.vfStride === 0 ? 0 : off / s.vfStride;
      if (n >= s.totalVFs) continue;
      const enabled = s.vfEnable === true ? (s.numVFs ?? 0) : 0;
      return `${bdf} would be VF ${n + 1} of ${mf.fn.bdf}, which has ${enabled} of ${s.totalVFs} VFs enabled (a sriov-enable step of ${n + 1} or more VFs adds it)`;
    }
  }
  const list = machine.functions.map((f) => f.fn.bdf);
  const shown = list.length > 12 ? `${list.slice(0, 12).join(', ')}, ...` : list.join(', ');
  return `no function ${bdf} in the machine (it has ${shown})`;
}

function fnIndex(doc: ScenarioDoc, machine: Machine, bdf: Bdf, path: ScenarioStep['bdfPath']): number {
  const i = machine.byBdf.get(bdf);
  if (i === undefined) throw doc.source.error('unknown-bdf', path, missingBdfReason(machine, bdf));
  return i;
}

function num(args: Readonly<Record<string, unknown>>, key: string): number | undefined {
  const v = args[key];
  return typeof v === 'number' ? v : undefined;
}

function str<T extends string>(args: Readonly<Record<string, unknown>>, key: string, dflt: T): T {
  const v = args[key];
  return (typeof v === 'string' ? v : dflt) as T;
}

/** The model operation for a step on function f (-1: none). Exhaustive over the Op union. */
function toOp(s: ScenarioStep, f: number): Op {
  const a = s.args;
  const pasid = num(a, 'pasid');
  const withPasid = pasid === undefined ? {} : { pasid };
  switch (s.op) {
    case 'boot':
      return { op: 'boot' };
    case 'fq-flush':
      return { op: 'fq-flush' };
    case 'probe':
    case 'unbind':
    case 'vfio-claim':
    case 'vfio-release':
    case 'detach':
    case 'flr':
    case 'cxl-reset':
    case 'sriov-disable':
    case 'hot-unplug':
      return { op: s.op, f };
    case 'bind': {
      const msi = a.msi;
      return {
        op: 'bind',
        f,
        kind: str<BindKind>(a, 'kind', 'dma'),
        ...(typeof msi === 'boolean' ? { msi } : {}),
      };
    }
    case 'attach':
      return { op: 'attach', f, domain: str<OpOf<'attach'>['domain']>(a, 'domain', 'unmanaged') };
    case 'set-group-type':
      return { op: 'set-group-type', f, type: str<OpOf<'set-group-type'>['type']>(a, 'type', 'dma') };
    case 'pasid-attach':
      return {
        op: 'pasid-attach',
        f,
        pasid: pasid ?? 0,
        domain: str<OpOf<'pasid-attach'>['domain']>(a, 'domain', 'dma'),
      };
    case 'pasid-detach':
      return { op: 'pasid-detach', f, pasid: pasid ?? 0 };
    case 'dma-map':
      return { op: 'dma-map', f, ...withPasid };
    case 'dma-unmap':
      return { op: 'dma-unmap', f, iova: num(a, 'iova') ?? 0, ...withPasid };
    case 'device-dma':
      return {
        op: 'device-dma',
        f,
        iova: num(a, 'iova') ?? 0,
        ...withPasid,
        translated: a.translated === true,
      };
    case 'atc-fill':
      return { op: 'atc-fill', f, iova: num(a, 'iova') ?? 0, ...withPasid };
    case 'sriov-enable':
      return { op: 'sriov-enable', f, numVfs: num(a, 'numVfs') ?? 1 };
    case 'device-fault':
      return {
        op: 'device-fault',
        f,
        fault: str<OpOf<'device-fault'>['fault']>(a, 'fault', 'stop-answering'),
      };
    case 'arm-fault':
      return {
        op: 'arm-fault',
        fn: str(a, 'fn', ''),
        f,
        skip: (num(a, 'nth') ?? 1) - 1,
        errno: num(a, 'errno') ?? errnoValue('-EINVAL')!,
      };
  }
}

/**
 * Checks the scenario against its machine and plans the operations. The machine gets the VF slots
 * the world will have (withVfSlots), so steps may name VFs that a `sriov-enable` step creates.
 */
export function bindScenario(doc: ScenarioDoc, input: Machine): BoundScenario {
  const src = doc.source;
  let vfSlots = DEFAULT_VF_SLOTS;
  for (const s of [...doc.steps, ...doc.threads.flat(), ...doc.choices.map((c) => c.step)]) {
    const n = s.op === 'sriov-enable' ? s.args.numVfs : undefined;
    if (typeof n === 'number' && n > vfSlots) vfSlots = n;
  }
  const machine = withVfSlots(input, vfSlots);
  const groups = doc.groups.map((g) => g.map((r) => (fnIndex(doc, machine, r.bdf, r.path), r.bdf)));
  const seen = new Map<Bdf, number>();
  doc.groups.forEach((g, gi) => {
    for (const r of g) {
      const prev = seen.get(r.bdf);
      if (prev !== undefined)
        throw src.error(
          'scenario-invalid',
          r.path,
          `${r.bdf} is already in group ${prev + 1} (machine.groups[${prev}])`,
        );
      seen.set(r.bdf, gi);
    }
  });
  const requireDirect = doc.requireDirect.map((r) => (fnIndex(doc, machine, r.bdf, r.path), r.bdf));
  for (const e of doc.expectIds)
    if (!isKnownViolationId(e.id))
      throw src.error(
        CODE,
        e.path,
        `unknown invariant '${e.id}'; expected an invariant id (atsim explain lists them) or warn:<kernel function>`,
      );

  const plan: PlannedOp[] = [];
  const planStep = (s: ScenarioStep, thread: number): void => {
    const f = s.bdf === null ? -1 : fnIndex(doc, machine, s.bdf, s.bdfPath);
    plan.push({ step: s, op: toOp(s, f), thread, phase: s.phase });
  };
  for (const s of doc.faults) planStep(s, 0);
  if (doc.implicitBoot) plan.push({ step: null, op: { op: 'boot' }, thread: 0, phase: null });

  const busy: boolean[] = [true];
  const threadOf = new Map<string, number>();
  const begun = new Map<string, PlannedOp>();
  for (const s of doc.steps) {
    if (s.phase === null) {
      planStep(s, 0);
      continue;
    }
    const key = `${s.op}@${s.bdf ?? ''}`;
    if (s.phase === 'begin') {
      let t = busy.indexOf(false);
      if (t < 0) t = busy.length;
      busy[t] = true;
      threadOf.set(key, t);
      planStep(s, t);
      begun.set(key, plan[plan.length - 1]!);
      continue;
    }
    // step/end: the operation as begun (parse.ts checked the pairing and the arguments).
    const t = threadOf.get(key);
    const first = begun.get(key);
    if (t === undefined || first === undefined)
      throw new InputError({ code: CODE, message: `internal: unpaired ${s.phase} step`, where: s.where });
    plan.push({ step: s, op: first.op, thread: t, phase: s.phase });
    if (s.phase === 'end') {
      busy[t] = false;
      threadOf.delete(key);
      begun.delete(key);
    }
  }
  const T = doc.threads.length;
  const threadOps = doc.threads.map((list, t) =>
    list.map((s) => ({
      step: s,
      op: toOp(s, s.bdf === null ? -1 : fnIndex(doc, machine, s.bdf, s.bdfPath)),
      thread: 1 + t,
      phase: null,
    })),
  );
  const choiceOps = doc.choices.map((c, i) => ({
    planned: {
      step: c.step,
      op: toOp(c.step, c.step.bdf === null ? -1 : fnIndex(doc, machine, c.step.bdf, c.step.bdfPath)),
      thread: 1 + T + i,
      phase: null,
    },
    max: c.max,
  }));
  const threads =
    T + doc.choices.length === 0 ? busy.length : Math.max(busy.length, 1 + T + doc.choices.length);
  return { doc, machine, groups, requireDirect, plan, threads, threadOps, choiceOps, vfSlots };
}
