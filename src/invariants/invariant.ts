/**
 * Invariants: each has an id, a one-line statement, its source (thread, commit or spec section),
 * and a checker that runs after every step. A violation names the invariant, says what in the
 * state breaks it, and which function. Every modelled WARN_ON is a violation too, named
 * `warn:<kernel function>`.
 */
import type { KernelEvent } from '../kernel/events.js';
import type { SystemState } from '../model/state.js';
import { Tx } from '../model/tx.js';
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
  /** What breaks it, one entry per finding (empty when it holds). */
  check(c: InvariantContext): readonly Finding[];
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

/** The last list filtered by forDriver(), and for which driver. */
let filtered: {
  invariants: readonly Invariant[];
  length: number;
  driver: IommuDriverName;
  list: readonly Invariant[];
} | null = null;

/** The invariants of the list that apply to the driver (computed once per list and driver). */
function forDriver(invariants: readonly Invariant[], driver: IommuDriverName): readonly Invariant[] {
  if (
    filtered?.invariants !== invariants ||
    filtered.length !== invariants.length ||
    filtered.driver !== driver
  )
    filtered = {
      invariants,
      length: invariants.length,
      driver,
      list: invariants.filter((inv) => inv.drivers === undefined || inv.drivers.includes(driver)),
    };
  return filtered.list;
}

/** Violations of `invariants` in `state`, plus one `warn:<site>` per WARN event of the step. */
export function checkInvariants(
  world: World,
  state: SystemState,
  events: readonly KernelEvent[],
  invariants: readonly Invariant[],
): Violation[] {
  const out: Violation[] = [];
  // Indexed loops throughout: this runs after every step of an exploration, and for-of over the
  // frozen empty NO_FINDINGS array (what a holding invariant returns) takes V8's slow iterator path.
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
  const c: InvariantContext = { world, state, view: new Tx(world, state), events };
  const list = forDriver(invariants, world.iommu.driver);
  for (let k = 0; k < list.length; k++) {
    const inv = list[k]!;
    const found = inv.check(c);
    for (let i = 0; i < found.length; i++) {
      const f = found[i]!;
      out.push(
        f.bdf === undefined
          ? { id: inv.id, statement: inv.statement, source: inv.source, detail: f.detail }
          : { id: inv.id, statement: inv.statement, source: inv.source, detail: f.detail, bdf: f.bdf },
      );
    }
  }
  return out;
}
