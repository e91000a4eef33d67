/**
 * Invariants: each has an id, a one-line statement, its source (thread, commit or spec section),
 * and a checker that runs after every step. A violation names the invariant, says what in the
 * state breaks it, and which function. Every modelled WARN_ON is a violation too, named
 * `warn:<kernel function>`.
 */
import type { KernelEvent } from '../kernel/events.js';
import type { SystemState } from '../model/state.js';
import { Tx } from '../model/tx.js';
import { CheckBatch } from './incremental.js';
import type { IommuDriverName, World } from '../model/world.js';

export interface InvariantContext {
  readonly world: World;
  readonly state: SystemState;
  /** A read-only view with the model's accessors (never committed). */
  readonly view: Tx;
  /** The events of the step just taken. */
  readonly events: readonly KernelEvent[];
}

export interface Invariant {
  /** Stable id, kebab-case, e.g. `nr-ats-masters`. */
  readonly id: string;
  /** The number in kernel-semantics.md section g, when it is one of those 24. */
  readonly ref?: number;
  readonly statement: string;
  readonly source: string;
  /** 'kernel' for a kernel invariant, 'functional' for a failure users feel. */
  readonly kind: 'kernel' | 'functional';
  /**
   * The IOMMU drivers it applies to, when it is about one driver's own bookkeeping (absent: every
   * driver). checkInvariants() skips it for the others.
   */
  readonly drivers?: readonly IommuDriverName[];
  /**
   * Its check() reads the step's events, so what it finds depends on the step taken, not only on
   * the state reached. Absent: a function of the state alone (checkInvariants() enforces it: such
   * an invariant checked on its own part gets a context whose `events` throws).
   */
  readonly readsEvents?: boolean;
  /** What breaks it, one entry per finding (empty when it holds). */
  check(c: InvariantContext): readonly Finding[];
  /**
   * Optional: what the step's events break, for an invariant whose check() looks at the state
   * alone; its findings follow check()'s (the step part of a check runs it, the state part not).
   */
  checkStep?(c: InvariantContext): readonly Finding[];
}

export interface Finding {
  readonly detail: string;
  readonly bdf?: string;
}

export interface Violation {
  readonly id: string;
  readonly statement: string;
  readonly source: string;
  readonly detail: string;
  readonly bdf?: string;
}

/** One invariant of a plan: checked on its own, or as checker j of a batch. */
interface PlanEntry {
  readonly inv: Invariant;
  readonly batch: CheckBatch | null;
  readonly j: number;
}

/** How checkInvariants() checks a list for one driver: the invariants that apply, per-function and per-group ones in batches. */
interface Plan {
  readonly entries: readonly PlanEntry[];
  readonly batches: readonly CheckBatch[];
  /** The entries with a step part (they read events, or have checkStep()). */
  readonly stepEntries: readonly PlanEntry[];
}

function makePlan(invariants: readonly Invariant[], driver: IommuDriverName): Plan {
  const entries: PlanEntry[] = [];
  const batches: CheckBatch[] = [];
  for (const inv of invariants) {
    if (inv.drivers !== undefined && !inv.drivers.includes(driver)) continue;
    // A batch checks records against their last state, so only state-only invariants join one.
    const spec = inv.readsEvents === true ? undefined : CheckBatch.specOf(inv);
    if (spec === undefined) {
      entries.push({ inv, batch: null, j: -1 });
      continue;
    }
    const when = spec.kind === 'function' ? spec.when : undefined;
    let batch = batches.find((b) => b.kind === spec.kind && b.when === when);
    if (batch === undefined) batches.push((batch = new CheckBatch(spec.kind, when)));
    entries.push({ inv, batch, j: batch.add(spec) });
  }
  const stepEntries = entries.filter((e) => e.inv.readsEvents === true || e.inv.checkStep !== undefined);
  return { entries, batches, stepEntries };
}

/** Plans per invariant list and driver (the list's length is checked too, should a caller grow it). */
const plans = new WeakMap<readonly Invariant[], Map<IommuDriverName, { length: number; plan: Plan }>>();
let lastPlan: {
  invariants: readonly Invariant[];
  length: number;
  driver: IommuDriverName;
  plan: Plan;
} | null = null;

function planFor(invariants: readonly Invariant[], driver: IommuDriverName): Plan {
  const length = invariants.length;
  if (lastPlan?.invariants === invariants && lastPlan.length === length && lastPlan.driver === driver)
    return lastPlan.plan;
  let byDriver = plans.get(invariants);
  if (byDriver === undefined)
    plans.set(invariants, (byDriver = new Map<IommuDriverName, { length: number; plan: Plan }>()));
  let entry = byDriver.get(driver);
  if (entry?.length !== length)
    byDriver.set(driver, (entry = { length, plan: makePlan(invariants, driver) }));
  lastPlan = { invariants, length, driver, plan: entry.plan };
  return entry.plan;
}

/**
 * Which part of a check to run: `all`; `step`, what depends on the step taken (one `warn:<site>`
 * per WARN event, the invariants that read events, and every checkStep()); or `state`, what
 * depends on the state alone (every other check()). `step` and `state` together find what `all` finds: an explorer
 * checks the step part of every transition and the state part once per new state.
 */
export type CheckPart = 'all' | 'step' | 'state';

let reading = '';

/** One read-only view per world, pointed at the state being checked (Tx.rebaseView). */
let lastView: Tx | null = null;
function viewOf(world: World, state: SystemState): Tx {
  if (lastView?.world !== world) lastView = new Tx(world, state);
  try {
    return lastView.rebaseView(state);
  } catch (e) {
    lastView = null; // the next check starts from a clean view
    throw e;
  }
}

/** The context a state-only check gets: reading its events is a model bug (readsEvents missing). */
class StateOnlyContext implements InvariantContext {
  constructor(
    readonly world: World,
    readonly state: SystemState,
    readonly view: Tx,
  ) {}
  get events(): readonly KernelEvent[] {
    throw new Error(
      `model bug: invariant '${reading}' reads the step's events but is not marked readsEvents`,
    );
  }
}

function report(out: Violation[], inv: Invariant, found: readonly Finding[]): void {
  for (let i = 0; i < found.length; i++) {
    const f = found[i]!;
    out.push(
      f.bdf === undefined
        ? { id: inv.id, statement: inv.statement, source: inv.source, detail: f.detail }
        : { id: inv.id, statement: inv.statement, source: inv.source, detail: f.detail, bdf: f.bdf },
    );
  }
}

/** Violations of `invariants` in `state`, plus one `warn:<site>` per WARN event of the step. */
export function checkInvariants(
  world: World,
  state: SystemState,
  events: readonly KernelEvent[],
  invariants: readonly Invariant[],
  part: CheckPart = 'all',
): Violation[] {
  const out: Violation[] = [];
  // Indexed loops throughout: this runs after every step of an exploration, and for-of over the
  // frozen empty NO_FINDINGS array (what a holding invariant returns) takes V8's slow iterator path.
  if (part !== 'state')
    for (let i = 0; i < events.length; i++) {
      const ev = events[i]!;
      if (ev.kind === 'warn') {
        out.push({
          id: `warn:${ev.site}`,
          statement: `a WARN_ON in ${ev.site} fired`,
          source: `${ev.site} (kernel WARN_ON)`,
          detail: ev.message,
          bdf: ev.bdf,
        });
      }
    }
  const c: InvariantContext =
    part === 'state'
      ? new StateOnlyContext(world, state, viewOf(world, state))
      : { world, state, view: viewOf(world, state), events };
  const plan = planFor(invariants, world.iommu.driver);
  const batches = plan.batches;
  reading = 'a batched per-function or per-group invariant';
  if (part !== 'step') for (let k = 0; k < batches.length; k++) batches[k]!.update(c);
  // The step part visits only the entries that have one.
  const entries = part === 'step' ? plan.stepEntries : plan.entries;
  for (let k = 0; k < entries.length; k++) {
    const { inv, batch, j } = entries[k]!;
    reading = inv.id;
    // check() is the state part unless the invariant reads events; checkStep() is always the step part.
    if (part === 'all' || (inv.readsEvents === true) === (part === 'step'))
      report(out, inv, batch === null ? inv.check(c) : batch.findings(j));
    if (part !== 'state' && inv.checkStep !== undefined) report(out, inv, inv.checkStep(c));
  }
  return out;
}
