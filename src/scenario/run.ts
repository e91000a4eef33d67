/**
 * Running a scenario under one kernel: build the world (SMMUv3), the initial state, then each
 * planned operation (runOp on the main thread, step() phase by phase for begun operations),
 * checking every invariant of the catalogue after every step. The result is a Trace: plain data,
 * deterministic (a scenario and kernel always give the same trace), documented as a contract in
 * docs/trace-format.md.
 */
import '../model/handlers.js';
import { driverOps } from '../drivers/select.js';
import { INVARIANTS } from '../invariants/catalogue.js';
import { checkInvariants, type Invariant, type Violation } from '../invariants/invariant.js';
import { resolveKernel, type KernelConfig } from '../kernel/config.js';
import { errnoName } from '../kernel/errno.js';
import type { KernelEvent } from '../kernel/events.js';
import {
  DEFAULT_PRESET,
  PRESET_IDS,
  isPresetId,
  presetModelsDriver,
  type PresetId,
} from '../kernel/presets.js';
import { switchesOn } from '../kernel/switches.js';
import { InputError } from '../diagnostics.js';
import { fingerprintHex } from '../model/hash.js';
import type { Op } from '../model/ops.js';
import type { SystemState } from '../model/state.js';
import { step, type StepResult } from '../model/step.js';
import { createWorld, initialState } from '../model/world-builder.js';
import type { AmdConfig, IommuDriverName, IommuFeatures, VtdConfig, World } from '../model/world.js';
import type { Bdf } from '../pci/bdf.js';
import type { BoundScenario, PlannedOp } from './bind.js';
import type { Phase } from './schema.js';
import { snapshotOf, type Snapshot } from './snapshot.js';
import { forPreset, isExploreScenario, type Verdict } from './types.js';

export const TRACE_FORMAT = 'atsim-trace';
export const TRACE_VERSION = 1;

/** An operation as traces show it: the model's Op with `bdf` in place of the function index. */
export type NamedOp = { readonly op: Op['op']; readonly bdf?: Bdf | null } & Readonly<
  Record<string, unknown>
>;

export interface TraceStep {
  /** 1-based position in the run (faults, the implicit boot, then the steps). */
  readonly n: number;
  /** `thread` and `choice`: a step of an explorer counterexample (atsim explore). */
  readonly origin: 'fault' | 'boot' | 'step' | 'thread' | 'choice';
  /** Index in the scenario's faults/steps list; null for the implicit boot. */
  readonly index: number | null;
  /** Line of the step in the scenario file; null for the implicit boot. */
  readonly line: number | null;
  readonly op: NamedOp;
  /** One line: `bind 0000:03:00.0 kind=dma`. */
  readonly text: string;
  readonly thread: number;
  readonly phase: Phase | null;
  /** The return value (0 or a negative errno), null for void entry points or while the operation waits. */
  readonly ret: number | null;
  readonly retName: string | null;
  /** The operation is split and waits for another step of its thread. */
  readonly waiting: boolean;
  /** `phase: step|end` found the operation already finished: nothing ran. */
  readonly skipped: boolean;
  readonly expect: { readonly value: number; readonly name: string; readonly met: boolean } | null;
  readonly note: string | null;
  readonly events: readonly KernelEvent[];
  /** Every violation in the state after this step (and each WARN of the step). */
  readonly violations: readonly (Violation & { readonly new: boolean })[];
  readonly fingerprint: string;
  readonly snapshot?: Snapshot;
}

export interface Trace {
  readonly format: typeof TRACE_FORMAT;
  readonly version: typeof TRACE_VERSION;
  readonly scenario: {
    readonly name: string;
    readonly file: string;
    readonly description: string | null;
    readonly thread: {
      readonly seed: number;
      readonly subject?: string;
      readonly message: string;
      readonly url?: string;
    } | null;
    readonly claim: string | null;
  };
  readonly kernel: {
    readonly preset: PresetId;
    readonly switchesOn: readonly string[];
    /** Switches the scenario and --set changed from the preset. */
    readonly overrides: Readonly<Record<string, 'on' | 'off'>>;
    readonly cmdline: string;
  };
  /** The IOMMU driver the run modelled. */
  readonly driver: IommuDriverName;
  readonly iommu: IommuFeatures;
  /** driver vtd: the mode and ATSR units; driver amd: iotlb_sup. */
  readonly vtd?: VtdConfig;
  readonly amd?: AmdConfig;
  readonly machine: {
    readonly functions: readonly {
      readonly bdf: Bdf;
      readonly physfn: Bdf | null;
      readonly untrusted: boolean;
      readonly group: number;
    }[];
  };
  readonly initialFingerprint: string;
  readonly steps: readonly TraceStep[];
  readonly verdict: { readonly holds: boolean; readonly violated: readonly string[] };
  /** The expectation for this preset; null when the scenario states none (then no violation is expected). */
  readonly expected: Verdict | null;
  readonly retMismatches: readonly {
    readonly n: number;
    readonly line: number | null;
    readonly expected: string;
    readonly got: string;
  }[];
  /** The verdict and every step's expected return match, and the model did not fail. */
  readonly met: boolean;
  readonly final: Snapshot;
  /** Things a reader should know: faults that never fired, operations still in progress at the end. */
  readonly notes: readonly string[];
  /** The model failed (a bug in atsim): at which step, and its message. */
  readonly error: { readonly n: number; readonly message: string } | null;
}

export type SnapshotChoice = 'last' | 'all' | 'none' | readonly number[];

export interface RunOptions {
  /** The preset; default: the scenario's kernel.preset, else the newest. */
  readonly preset?: string;
  /** Switch overrides on top of the scenario's (from --set). */
  readonly overrides?: Readonly<Record<string, 'on' | 'off'>>;
  /** Steps (by n) whose state snapshot the trace carries; default 'last'. */
  readonly snapshots?: SnapshotChoice;
  /** The invariants checked; default the whole catalogue. */
  readonly invariants?: readonly Invariant[];
  /** The IOMMU driver; default the scenario's iommu.driver (atsim check runs each of its drivers). */
  readonly driver?: IommuDriverName;
}

/** The preset a run uses. */
export function runPreset(bound: BoundScenario, preset?: string): PresetId {
  const id = preset ?? bound.doc.kernel.preset ?? DEFAULT_PRESET;
  if (!isPresetId(id))
    throw new InputError({
      code: 'unknown-preset',
      message: `unknown kernel preset ${JSON.stringify(id)}; valid presets: ${PRESET_IDS.join(', ')}`,
    });
  return id;
}

export function namedOp(world: World, op: Op): NamedOp {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(op)) {
    if (k === 'f') {
      const f = v as number;
      out.bdf = f < 0 ? null : (world.infos[f]?.bdf ?? null);
    } else out[k] = v;
  }
  return out as NamedOp;
}

/** `bind 0000:03:00.0 kind=dma`, `flr 0000:03:00.0 (begin)`, `arm-fault pci_enable_ats 0000:04:01.0 nth=1 errno=-EINVAL`. */
export function opText(op: NamedOp, phase: Phase | null): string {
  const parts: string[] = [op.op];
  if (op.op === 'arm-fault') {
    parts.push(String(op.fn));
    parts.push(op.bdf ?? '(any function)');
    parts.push(`nth=${Number(op.skip) + 1}`, `errno=${errnoName(Number(op.errno))}`);
  } else {
    if (op.bdf !== undefined && op.bdf !== null) parts.push(op.bdf);
    for (const [k, v] of Object.entries(op)) {
      if (k === 'op' || k === 'bdf') continue;
      parts.push(
        `${k}=${typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v)}`,
      );
    }
  }
  if (phase !== null) parts.push(`(${phase})`);
  return parts.join(' ');
}

/** A violation is new at a step when the same invariant was not already violated for the same function. */
export function violationKey(v: Violation): string {
  return `${v.id}\u0000${v.bdf ?? ''}`;
}

function wantSnapshot(choice: SnapshotChoice, n: number, last: number): boolean {
  if (choice === 'all') return true;
  if (choice === 'none') return false;
  if (choice === 'last') return n === last;
  return choice.includes(n);
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The kernel a run of `bound` under `preset` models. */
export function runKernel(
  bound: BoundScenario,
  preset: PresetId,
  overrides: Readonly<Record<string, 'on' | 'off'>> = {},
): KernelConfig {
  return resolveKernel(preset, { ...bound.doc.kernel.switches, ...overrides }, bound.doc.kernel.cmdline);
}

/** Runs a bound scenario under one preset. InputErrors (a bad --set, a machine the world rejects) propagate. */
export function runScenario(bound: BoundScenario, opts: RunOptions = {}): Trace {
  if (isExploreScenario(bound.doc))
    throw new InputError({
      code: 'explore-scenario',
      message: `${bound.doc.file} has threads: or choices:, which run in every interleaving: explore it with atsim explore ${bound.doc.file}`,
    });
  return executePlan(bound, opts).trace;
}

/** What running a scenario's plan (its faults, boot and steps) leaves: the trace, and the world and state for the explorer. */
export interface PlanRun {
  readonly trace: Trace;
  readonly world: World;
  readonly state: SystemState;
  readonly preset: PresetId;
}

/**
 * Runs the plan of a bound scenario (for an explore scenario: its setup steps) under one preset.
 * The initial state has `bound.threads` threads.
 */
export function executePlan(bound: BoundScenario, opts: RunOptions = {}): PlanRun {
  const doc = bound.doc;
  const preset = runPreset(bound, opts.preset);
  const overrides = { ...doc.kernel.switches, ...(opts.overrides ?? {}) };
  const kernel = runKernel(bound, preset, opts.overrides);
  const driver = opts.driver ?? doc.driver;
  if (!presetModelsDriver(preset, driver))
    throw new InputError({
      code: 'preset-driver',
      message: `kernel preset ${preset} does not model the ${driver} driver (see docs/kernel-presets.md)`,
    });
  const world = createWorld(bound.machine, {
    kernel,
    ops: driverOps(driver, kernel),
    driver,
    vtd: doc.vtd,
    amd: doc.amd,
    features: driver === doc.driver ? doc.iommu : {},
    groups: bound.groups,
    requireDirect: bound.requireDirect,
    vfSlots: bound.vfSlots,
  });
  const invariants = opts.invariants ?? INVARIANTS;
  const snapshots = opts.snapshots ?? 'last';
  let state = initialState(world, bound.threads);
  const initialFingerprint = fingerprintHex({ hi: state.fpHi, lo: state.fpLo });
  const steps: TraceStep[] = [];
  const seen = new Set<string>();
  const violated = new Set<string>();
  const retMismatches: { n: number; line: number | null; expected: string; got: string }[] = [];
  let error: Trace['error'] = null;
  const last = bound.plan.length;

  for (const [i, p] of bound.plan.entries()) {
    const n = i + 1;
    let r: StepResult;
    let skipped: boolean;
    try {
      const out = runPlanned(world, state, p);
      r = out.result;
      skipped = out.skipped;
    } catch (e) {
      if (e instanceof InputError) throw e;
      error = { n, message: e instanceof Error ? e.message : String(e) };
      break;
    }
    state = r.state;
    const found = skipped ? [] : checkInvariants(world, state, r.events, invariants);
    const violations = found.map((v) => {
      const key = violationKey(v);
      const isNew = !seen.has(key);
      seen.add(key);
      violated.add(v.id);
      return { ...v, new: isNew };
    });
    const s = p.step;
    let expect: TraceStep['expect'] = null;
    if (s?.expect != null && p.phase !== 'begin' && p.phase !== 'step') {
      const value = forPreset(s.expect, preset, driver);
      if (value !== null) {
        const met = !r.waiting && r.ret === value;
        expect = { value, name: errnoName(value), met };
        if (!met)
          retMismatches.push({
            n,
            line: s.where.line,
            expected: errnoName(value),
            got: r.waiting ? 'still waiting' : r.ret === null ? 'no return value' : errnoName(r.ret),
          });
      }
    }
    const op = namedOp(world, p.op);
    steps.push({
      n,
      origin: s === null ? 'boot' : s.origin,
      index: s === null ? null : s.index,
      line: s === null ? null : s.where.line,
      op,
      text: opText(op, p.phase),
      thread: p.thread,
      phase: p.phase,
      ret: r.ret,
      retName: r.ret === null ? null : errnoName(r.ret),
      waiting: r.waiting,
      skipped,
      expect,
      note: s?.note ?? null,
      events: r.events,
      violations,
      fingerprint: fingerprintHex({ hi: state.fpHi, lo: state.fpLo }),
      ...(wantSnapshot(snapshots, n, last) ? { snapshot: snapshotOf(world, state) } : {}),
    });
  }

  const ids = [...violated].sort();
  const expected = doc.expect === null ? null : forPreset(doc.expect, preset, driver);
  const verdictMet =
    expected === null || expected.kind === 'holds' ? ids.length === 0 : sameIds(ids, expected.ids);
  const trace: Trace = {
    format: TRACE_FORMAT,
    version: TRACE_VERSION,
    scenario: {
      name: doc.name,
      file: doc.file,
      description: doc.description,
      thread: doc.thread,
      claim: doc.claim,
    },
    kernel: { preset, switchesOn: switchesOn(kernel.switches), overrides, cmdline: doc.kernel.cmdline },
    driver,
    iommu: world.iommu.features,
    ...(driver === 'vtd' ? { vtd: world.iommu.vtd } : {}),
    ...(driver === 'amd' ? { amd: world.iommu.amd } : {}),
    machine: {
      functions: bound.machine.functions.map((mf) => ({
        bdf: mf.fn.bdf,
        physfn: mf.physfn === null ? null : (bound.machine.functions[mf.physfn]?.fn.bdf ?? null),
        untrusted: mf.untrusted,
        group: world.groupOf[mf.index] ?? -1,
      })),
    },
    initialFingerprint,
    steps,
    verdict: { holds: ids.length === 0, violated: ids },
    expected,
    retMismatches,
    met: verdictMet && retMismatches.length === 0 && error === null,
    final: snapshotOf(world, state),
    notes: notesAtEnd(world, state, bound),
    error,
  };
  return { trace, world, state, preset };
}

/** Phases a main-thread step may take before it counts as waiting for another thread forever. */
const MAX_PHASES = 64;

/** Runs `op` to completion on its thread, or reports that it waits on another thread (a deadlocked scenario). */
function runToCompletion(world: World, state: SystemState, p: PlannedOp): StepResult {
  let r = step(world, state, p.op, p.thread);
  const events = [...r.events];
  for (let i = 0; r.waiting; i++) {
    if (i >= MAX_PHASES) {
      const s = p.step;
      const what = `${p.op.op} on thread ${p.thread} is still waiting after ${MAX_PHASES} phases: it waits for an operation in progress on another thread; end that one first`;
      throw new InputError(
        s === null
          ? { code: 'scenario-deadlock', message: what }
          : { code: 'scenario-deadlock', message: `${s.origin}s[${s.index}]: ${what}`, where: s.where },
      );
    }
    r = step(world, r.state, p.op, p.thread);
    events.push(...r.events);
  }
  return { ...r, events };
}

function runPlanned(
  world: World,
  state: SystemState,
  p: PlannedOp,
): { result: StepResult; skipped: boolean } {
  const waiting = (state.threads[p.thread]?.cont ?? null) !== null;
  switch (p.phase) {
    case null:
      return { result: runToCompletion(world, state, p), skipped: false };
    case 'begin':
      return { result: step(world, state, p.op, p.thread), skipped: false };
    case 'step':
      if (!waiting) return { result: { state, events: [], ret: null, waiting: false }, skipped: true };
      return { result: step(world, state, p.op, p.thread), skipped: false };
    case 'end':
      if (!waiting) return { result: { state, events: [], ret: null, waiting: false }, skipped: true };
      return { result: runToCompletion(world, state, p), skipped: false };
  }
}

function notesAtEnd(world: World, state: SystemState, bound: BoundScenario): string[] {
  const notes: string[] = [];
  for (const f of state.faults) {
    const who = f.f < 0 ? 'any function' : (world.infos[f.f]?.bdf ?? `function ${f.f}`);
    notes.push(`the armed fault on ${f.fn} (${who}, errno ${errnoName(f.errno)}) never fired`);
  }
  state.threads.forEach((t, i) => {
    if (t.cont === null) return;
    let begun: PlannedOp | undefined;
    for (const p of bound.plan) if (p.thread === i && p.phase === 'begin') begun = p;
    const what = begun === undefined ? t.cont.op : opText(namedOp(world, begun.op), null);
    notes.push(`${what} (thread ${i}) is still in progress at the end`);
  });
  return notes;
}
