/**
 * The kernel model as an explorer model (docs/explorer.md, "The kernel model").
 *
 * A state is the model's `SystemState` plus the budget left of each choice, and the violations the
 * step that produced it reported (some invariants look at the step's events, not only at the
 * state, so the same `SystemState` reached by a step that, say, timed out a CMD_SYNC is a different
 * explorer state from the one reached without: both are kept).
 *
 * Threads: thread t (1..T; model thread 0 ran the setup steps) runs its step list; `threads[t].pc`
 * of the `SystemState` is the index of the
 * operation it runs next (or is in the middle of: a split operation keeps its pc while it waits and
 * the thread's continuation resumes it). Choices: choice c (1..C) runs on model thread T + c;
 * it may fire while it has budget left and its previous firing has finished; a firing that waits is
 * resumed by the choice's "continues" action.
 *
 * Action ids: 0..T-1 "thread t+1 steps", T..T+C-1 "choice c+1 fires", T+C..T+2C-1 "choice c+1
 * continues".
 * Every action has at most one successor (the model is deterministic).
 *
 * Fingerprint: the `SystemState`'s incrementally maintained `fpHi/fpLo` (which already covers every
 * thread's pc and continuation: threads are records of the state), mixed with the budgets and the
 * step's violations. A violation is mixed in by a hash of its invariant's NAME, not its index: the
 * index of a `warn:<site>` depends on the order a search met the sites, which differs between two
 * instances of the model (worker threads), and the fingerprint must not.
 *
 * Transfer (for worker threads): a state packs into a structured-clonable object `{ sys, budgets,
 * viol }` with the violations by name; unpacking maps the names to this instance's indices.
 *
 * Invariants: the catalogue's ids, then `warn:<site>` for the WARN_SITES, then any other
 * `warn:<site>` the search meets, appended as it appears (so `invariants` grows during a search;
 * the names are only read when a violation is reported).
 */
import '../../model/handlers.js';
import { INVARIANTS, WARN_SITES } from '../../invariants/catalogue.js';
import { checkInvariants, type Invariant, type Violation } from '../../invariants/invariant.js';
import type { KernelEvent } from '../../kernel/events.js';
import type { Op } from '../../model/ops.js';
import type { SystemState } from '../../model/state.js';
import { Hasher } from '../../model/hash.js';
import { step, type StepResult } from '../../model/step.js';
import type { World } from '../../model/world.js';
import type { Model } from '../model.js';
import { NO_VIOLATIONS } from '../model.js';

const NO_EVENTS: readonly KernelEvent[] = Object.freeze([]);

/** Two sorted index lists merged, sorted, each index once (`a` itself when `b` is empty). */
function union(a: readonly number[], b: readonly number[]): readonly number[] {
  if (b.length === 0) return a;
  return [...new Set([...a, ...b])].sort((x, y) => x - y);
}

export interface KernelExploreState {
  readonly sys: SystemState;
  /** Budget left per choice. */
  readonly budgets: readonly number[];
  /**
   * Indices into the model's invariants that the step producing this state violated through its
   * events (the WARNs, the invariants that read events, and checkStep() findings) and that `sys`
   * does not violate by itself, sorted. With `sys` and `budgets` it identifies the state exactly
   * as every violation would: what `sys` alone violates follows from `sys`.
   */
  readonly stepViol: readonly number[];
  /** Indices of every invariant violated here, sorted: `stepViol` and what `sys` violates. */
  readonly viol: readonly number[];
}

/**
 * A successor as the search makes it: the state part of its violations is checked only when
 * `viol` is first read, which the engine does for new states only (a transition into a state
 * already seen costs no state check).
 */
class LazyState implements KernelExploreState {
  constructor(
    readonly sys: SystemState,
    readonly budgets: readonly number[],
    readonly stepViol: readonly number[],
    private readonly model: KernelModel,
    private all: readonly number[] | null,
  ) {}
  get viol(): readonly number[] {
    return (this.all ??= this.model.withStateViolations(this.sys, this.stepViol));
  }
}

export interface KernelChoice {
  readonly op: Op;
  /** How many times it may fire. */
  readonly max: number;
  /** A label for traces (default: the operation's name). */
  readonly label?: string;
}

export interface KernelModelSpec {
  readonly world: World;
  /** The state the threads start from (after the setup steps); it must have 1 + T + C threads. */
  readonly initial: SystemState;
  /** Violations found while setting up (reported at the initial state). */
  readonly initialViolations?: readonly Violation[];
  readonly threads: readonly (readonly Op[])[];
  readonly choices: readonly KernelChoice[];
  /** The invariants checked (default: the catalogue). */
  readonly invariants?: readonly Invariant[];
  readonly name?: string;
}

/** What one action did: the step's result, for traces. */
export interface KernelStep {
  readonly next: KernelExploreState;
  readonly op: Op;
  /** The model thread that ran it. */
  readonly thread: number;
  readonly events: readonly KernelEvent[];
  readonly ret: number | null;
  readonly waiting: boolean;
  readonly violations: readonly Violation[];
}

function fmix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A kernel explorer state as it travels between worker threads: plain data, violations by name. */
export interface PackedKernelState {
  readonly sys: SystemState;
  readonly budgets: readonly number[];
  readonly stepViol: readonly string[];
  readonly viol: readonly string[];
}

export class KernelModel implements Model<KernelExploreState> {
  readonly name: string;
  readonly actionCount: number;
  readonly invariants: string[];
  readonly world: World;
  readonly threads: readonly (readonly Op[])[];
  readonly choices: readonly KernelChoice[];
  private readonly checked: readonly Invariant[];
  /** Ids of the checked invariants with a state part and a step part (a checkStep()). */
  private readonly bothParts: ReadonlySet<string>;
  private readonly index = new Map<string, number>();
  /** Per invariant index: the two 32-bit words its name mixes into a fingerprint. */
  private readonly nameKeys: number[] = [];
  private readonly labels: string[] = [];
  private readonly init: KernelExploreState;
  private readonly T: number;
  private readonly C: number;

  constructor(spec: KernelModelSpec) {
    this.world = spec.world;
    this.threads = spec.threads;
    this.choices = spec.choices;
    this.T = spec.threads.length;
    this.C = spec.choices.length;
    this.actionCount = Math.max(1, this.T + 2 * this.C);
    this.checked = spec.invariants ?? INVARIANTS;
    this.bothParts = new Set(
      this.checked.filter((i) => i.checkStep !== undefined && i.readsEvents !== true).map((i) => i.id),
    );
    this.invariants = [];
    for (const inv of this.checked) this.idOf(inv.id);
    for (const w of WARN_SITES) this.idOf(`warn:${w.site}`);
    this.name = spec.name ?? `kernel ${spec.world.kernel.preset} T=${this.T} C=${this.C}`;
    if (spec.initial.threads.length < 1 + this.T + this.C)
      throw new Error(
        `kernel model: the initial state has ${spec.initial.threads.length} threads, needs ${1 + this.T + this.C}`,
      );
    for (let t = 0; t < this.T; t++) this.labels.push(`thread ${t + 1}`);
    for (let c = 0; c < this.C; c++) this.labels.push(`choice ${c + 1} fires`);
    for (let c = 0; c < this.C; c++) this.labels.push(`choice ${c + 1} continues`);
    if (this.T + 2 * this.C === 0) this.labels.push('(none)');
    // The setup's violations all count as the initial state's own.
    const initViol = this.indicesOf(spec.initialViolations ?? []);
    this.init = {
      sys: spec.initial,
      budgets: spec.choices.map((c) => c.max),
      stepViol: initViol,
      viol: initViol,
    };
  }

  /** The index of an invariant name, appending a `warn:<site>` seen for the first time. */
  private idOf(id: string): number {
    let i = this.index.get(id);
    if (i === undefined) {
      i = this.invariants.length;
      this.invariants.push(id);
      this.index.set(id, i);
      // The name's 64-bit hash (its UTF-16 code units), the two words a violation mixes in.
      const h = new Hasher();
      for (let k = 0; k < id.length; k++) h.word(id.charCodeAt(k));
      const d = h.digest();
      this.nameKeys.push(d.hi, d.lo);
    }
    return i;
  }

  private indicesOf(vs: readonly Violation[]): readonly number[] {
    if (vs.length === 0) return NO_VIOLATIONS;
    const set = new Set<number>();
    for (const v of vs) set.add(this.idOf(v.id));
    return [...set].sort((a, b) => a - b);
  }

  initialStates(): readonly KernelExploreState[] {
    return [this.init];
  }

  /** Which model thread an action runs on and which operation, or null when it is not enabled in `s`. */
  enabled(s: KernelExploreState, action: number): { op: Op; thread: number } | null {
    const T = this.T;
    const C = this.C;
    if (action < T) {
      const th = s.sys.threads[1 + action];
      const op = th === undefined ? undefined : this.threads[action]![th.pc];
      return op === undefined ? null : { op, thread: 1 + action };
    }
    if (action < T + C) {
      const c = action - T;
      const th = s.sys.threads[1 + T + c];
      if (th === undefined || th.cont !== null || s.budgets[c]! <= 0) return null;
      return { op: this.choices[c]!.op, thread: 1 + T + c };
    }
    if (action < T + 2 * C) {
      const c = action - T - C;
      const th = s.sys.threads[1 + T + c];
      if (th?.cont == null) return null;
      return { op: this.choices[c]!.op, thread: 1 + T + c };
    }
    return null;
  }

  /** Whether an action belongs to a choice (fires or continues), not a thread. */
  isChoice(action: number): boolean {
    return action >= this.T;
  }

  /** The thread index (0-based, into the threads list) a thread action runs, or the choice index of a choice action. */
  ownerOf(action: number): number {
    return action < this.T ? action : (action - this.T) % Math.max(1, this.C);
  }

  /** The step `action` takes in `s` and the budgets after it, or null when it is not enabled. */
  private take(
    s: KernelExploreState,
    action: number,
  ): { op: Op; thread: number; r: StepResult; budgets: readonly number[] } | null {
    const e = this.enabled(s, action);
    if (e === null) return null;
    // A thread's finished operation also moves its pc on, in the same transition.
    const r = step(this.world, s.sys, e.op, e.thread, action < this.T);
    let budgets = s.budgets;
    if (action >= this.T && action < this.T + this.C) {
      const b = budgets.slice();
      b[action - this.T]!--;
      budgets = b;
    }
    return { op: e.op, thread: e.thread, r, budgets };
  }

  /** Takes `action` in `s`: the successor with the step's events and violations, or null when not enabled. */
  apply(s: KernelExploreState, action: number): KernelStep | null {
    const t = this.take(s, action);
    if (t === null) return null;
    const { op, thread, r, budgets } = t;
    const sys = r.state;
    const violations = checkInvariants(this.world, sys, r.events, this.checked);
    const viol = this.indicesOf(violations);
    const { stepViol } = this.stepPart(sys, r.events);
    return {
      next: { sys, budgets, stepViol, viol },
      op,
      thread,
      events: r.events,
      ret: r.ret,
      waiting: r.waiting,
      violations,
    };
  }

  /**
   * The step part of the check of `sys` reached with `events`: its violations as `stepViol`, and
   * every violation when they had to be known already. An invariant with both parts (a
   * checkStep()) found by the step is left out of `stepViol` when `sys` violates it anyway, so
   * that the state is the same one whichever step reached it.
   */
  stepPart(
    sys: SystemState,
    events: readonly KernelEvent[],
  ): { stepViol: readonly number[]; all: readonly number[] | null } {
    const found = checkInvariants(this.world, sys, events, this.checked, 'step');
    const stepViol = this.indicesOf(found);
    // The common case, a step that breaks nothing, allocates nothing more (this runs per transition).
    let both = false;
    for (let i = 0; i < found.length && !both; i++) both = this.bothParts.has(found[i]!.id);
    if (!both) return { stepViol, all: null };
    const onState = this.stateIndices(sys);
    return { stepViol: stepViol.filter((i) => !onState.includes(i)), all: union(stepViol, onState) };
  }

  /** Indices of what `sys` itself violates (the state part of the check), sorted. */
  private stateIndices(sys: SystemState): readonly number[] {
    return this.indicesOf(checkInvariants(this.world, sys, NO_EVENTS, this.checked, 'state'));
  }

  /** `stepViol` with what `sys` itself violates, sorted. */
  withStateViolations(sys: SystemState, stepViol: readonly number[]): readonly number[] {
    return union(stepViol, this.stateIndices(sys));
  }

  /**
   * Every enabled action's successor. Only the step part of the invariants is checked here (it
   * decides the fingerprint); the state part waits until the engine reads `viol`, which it does
   * for new states only.
   */
  successors(s: KernelExploreState, emit: (action: number, next: KernelExploreState) => void): void {
    const n = this.T + 2 * this.C;
    for (let a = 0; a < n; a++) {
      const t = this.take(s, a);
      if (t === null) continue;
      const { stepViol, all } = this.stepPart(t.r.state, t.r.events);
      emit(a, new LazyState(t.r.state, t.budgets, stepViol, this, all));
    }
  }

  violations(s: KernelExploreState): readonly number[] {
    return s.viol;
  }

  fingerprint(s: KernelExploreState, out: Uint32Array): void {
    let hi = s.sys.fpHi;
    let lo = s.sys.fpLo;
    const b = s.budgets;
    for (let c = 0; c < b.length; c++) {
      const k = fmix(((c + 1) * 0x9e3779b1) ^ Math.imul(b[c]! + 1, 0x85ebca6b));
      hi ^= k;
      lo ^= fmix(k ^ 0x27d4eb2d);
    }
    const v = s.stepViol;
    const keys = this.nameKeys;
    for (let i = 0; i < v.length; i++) {
      hi ^= keys[2 * v[i]!]!;
      lo ^= keys[2 * v[i]! + 1]!;
    }
    out[0] = hi >>> 0;
    out[1] = lo >>> 0;
  }

  /** Moves states between worker threads: the violations travel by name (indices differ per instance). */
  readonly transfer = {
    pack: (s: KernelExploreState): PackedKernelState => ({
      sys: s.sys,
      budgets: s.budgets,
      stepViol: s.stepViol.map((i) => this.invariants[i]!),
      viol: s.viol.map((i) => this.invariants[i]!),
    }),
    unpack: (x: unknown): KernelExploreState => {
      const p = x as PackedKernelState;
      const ids = (names: readonly string[]): readonly number[] =>
        names.length === 0 ? NO_VIOLATIONS : names.map((n) => this.idOf(n)).sort((a, b) => a - b);
      return { sys: p.sys, budgets: p.budgets, stepViol: ids(p.stepViol), viol: ids(p.viol) };
    },
  };

  actionLabel(action: number): string {
    return this.labels[action] ?? `#${action}`;
  }

  describe(s: KernelExploreState): unknown {
    return {
      threads: s.sys.threads.map((t) => ({ pc: t.pc, waiting: t.cont === null ? null : t.cont.op })),
      budgets: s.budgets,
      violations: s.viol.map((i) => this.invariants[i] ?? `#${i}`),
    };
  }
}

/**
 * A kernel model from its spec (which holds a World: functions, not data). Worker threads rebuild
 * a scenario's model from the scenario file instead: src/node/scenario-model.ts.
 */
export function createKernelModel(spec: KernelModelSpec): KernelModel {
  return new KernelModel(spec);
}
