/**
 * Incremental checking. States are copy-on-write (model/tx.ts): a step replaces only the records
 * it changes, so an invariant that looks at one function's neighbourhood need not look again at
 * functions whose neighbourhood is the same objects as at its previous check. Each invariant built
 * here remembers, per world, the last state it checked and its findings per function (or group);
 * the next check recomputes only what changed since. This is what lets every invariant run after
 * every step of an exploration.
 *
 * A function's neighbourhood is what the per-function checkers read: its pci_dev (and its PF's),
 * its group_device, its IOMMU driver record, its group, the device's flags (not its ATC or pending
 * invalidations), and the kind of each domain its group refers to (type, allocator, MSI doorbell;
 * not the page table or IOTLB). A checker that reads more than that must not be built with
 * perFunction(); one that applies only at quiescent points says so with `when`, and its memo then
 * only ever holds quiescent states.
 */
import type { DeviceState, Domain, DriverRecord, SystemState } from '../model/state.js';
import type { World } from '../model/world.js';
import type { Finding, Invariant, InvariantContext } from './invariant.js';
import { NO_FINDINGS } from './util.js';

/** What changed between two states, for the incremental checkers. Valid until dirtySince() is next called with another pair. */
export interface Dirty {
  /** Everything is to be recomputed (no previous state, or a different shape). */
  readonly all: boolean;
  /** The functions whose neighbourhood changed: fnList[0..fnCount). */
  readonly fnList: Int32Array;
  readonly fnCount: number;
  /** The groups whose record or a member's neighbourhood changed: groupList[0..groupCount). */
  readonly groupList: Int32Array;
  readonly groupCount: number;
  /** A domain's driver record changed (shallowly compared), or domains were added or removed. */
  readonly domainDrv: boolean;
  readonly globalPasids: boolean;
}

function deviceFlagsEqual(a: DeviceState, b: DeviceState): boolean {
  return (
    a === b ||
    (a.present === b.present &&
      a.driver === b.driver &&
      a.msiInUse === b.msiInUse &&
      a.resetting === b.resetting &&
      a.unresponsive === b.unresponsive &&
      a.holdAtc === b.holdAtc)
  );
}

function domainMetaEqual(a: Domain | null | undefined, b: Domain | null | undefined): boolean {
  if (a === b) return true;
  if (a === null || a === undefined || b === null || b === undefined) return false;
  return a.type === b.type && a.allocator === b.allocator && a.msiDoorbell === b.msiDoorbell;
}

/** Whether slot d holds a domain of another kind than before (never indexes with -1: that is a slow dictionary lookup). */
function domainMetaChanged(prev: SystemState, cur: SystemState, d: number): boolean {
  if (d < 0) return false;
  return !domainMetaEqual(prev.domains[d], cur.domains[d]);
}

function recordShallowEqual(a: DriverRecord, b: DriverRecord): boolean {
  if (a === b) return true;
  let n = 0;
  for (const k in a) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  for (const _ in b) n--;
  return n === 0;
}

/** A buffer reused from one computation to the next (one world at a time, in practice). */
let groupMarkOf: { world: World; groupMark: Uint8Array } | null = null;

function groupMarkFor(world: World): Uint8Array {
  if (groupMarkOf?.world !== world) groupMarkOf = { world, groupMark: new Uint8Array(world.groups.length) };
  return groupMarkOf.groupMark;
}

class DirtyImpl implements Dirty {
  all = false;
  fnCount = 0;
  groupCount = 0;
  domainDrv = false;
  globalPasids = false;
  constructor(
    readonly fnList: Int32Array,
    readonly groupList: Int32Array,
  ) {}
}

function computeDirty(world: World, prev: SystemState | undefined, cur: SystemState, out: DirtyImpl): void {
  const n = world.infos.length;
  const ng = world.groups.length;
  out.fnCount = 0;
  out.groupCount = 0;
  if (prev === undefined || prev.pci.length !== n || prev.domains.length !== cur.domains.length) {
    out.all = true;
    out.domainDrv = true;
    out.globalPasids = true;
    for (let f = 0; f < n; f++) out.fnList[out.fnCount++] = f;
    for (let g = 0; g < ng; g++) out.groupList[out.groupCount++] = g;
    return;
  }
  out.all = false;
  const groupMark = groupMarkFor(world);
  const samePci = prev.pci === cur.pci;
  const sameGdevs = prev.gdevs === cur.gdevs;
  const sameMasters = prev.masters === cur.masters;
  const sameGroups = prev.groups === cur.groups;
  const sameDevs = prev.devs === cur.devs;
  // Domains replaced in this step: did one change kind (rare: page-table and IOTLB updates do not
  // count) or driver record (shallowly)?
  let metaChanged = false;
  let domainDrv = false;
  if (prev.domains !== cur.domains) {
    const pd = prev.domains;
    const cd = cur.domains;
    for (let d = 0; d < cd.length; d++) {
      const a = pd[d];
      const b = cd[d];
      if (a === b) continue;
      if (a === null || a === undefined || b === null || b === undefined) {
        metaChanged = true;
        domainDrv = true;
        break;
      }
      if (!metaChanged && !domainMetaEqual(a, b)) metaChanged = true;
      if (!domainDrv && !recordShallowEqual(a.drv, b.drv)) domainDrv = true;
      if (metaChanged && domainDrv) break;
    }
  }
  if (!(samePci && sameGdevs && sameMasters && sameGroups && sameDevs && !metaChanged)) {
    let marked = 0;
    groupMark.fill(0);
    for (let f = 0; f < n; f++) {
      let d = false;
      if (!samePci) {
        const pf = world.infos[f]!.physfn;
        d = prev.pci[f] !== cur.pci[f] || (pf >= 0 && prev.pci[pf] !== cur.pci[pf]);
      }
      if (!d && !sameGdevs) d = prev.gdevs[f] !== cur.gdevs[f];
      if (!d && !sameMasters) d = prev.masters[f] !== cur.masters[f];
      if (!d && !sameDevs) d = !deviceFlagsEqual(prev.devs[f]!, cur.devs[f]!);
      const g = world.groupOf[f]!;
      if (!d && g >= 0 && !sameGroups) d = prev.groups[g] !== cur.groups[g];
      if (!d && g >= 0 && metaChanged) {
        const grp = cur.groups[g]!;
        d =
          domainMetaChanged(prev, cur, grp.domain) ||
          domainMetaChanged(prev, cur, grp.defaultDomain) ||
          domainMetaChanged(prev, cur, grp.blockingDomain);
        const p = grp.pasids;
        for (let i = 1; !d && i < p.length; i += 2) d = domainMetaChanged(prev, cur, p[i]!);
      }
      if (d) {
        out.fnList[out.fnCount++] = f;
        if (g >= 0) {
          groupMark[g] = 1;
          marked++;
        }
      }
    }
    if (!sameGroups)
      for (let g = 0; g < ng; g++)
        if (prev.groups[g] !== cur.groups[g]) {
          groupMark[g] = 1;
          marked++;
        }
    if (marked > 0) for (let g = 0; g < ng; g++) if (groupMark[g] === 1) out.groupList[out.groupCount++] = g;
  }
  out.domainDrv = domainDrv;
  out.globalPasids = prev.globalPasids !== cur.globalPasids;
}

/** A (prev, cur) pair computed, and what changed between them. */
interface DirtyEntry {
  world: World;
  prev: SystemState | undefined;
  cur: SystemState;
  readonly dirty: DirtyImpl;
}

/**
 * The last two pairs computed: every checker of a step shares them. Two, because the checkers that
 * apply only at quiescent points remember the last quiescent state while the others remember the
 * last state of all, so one step asks for two pairs, in alternation along the catalogue.
 */
let last: DirtyEntry | null = null;
let other: DirtyEntry | null = null;

function hit(e: DirtyEntry | null, world: World, prev: SystemState | undefined, cur: SystemState): boolean {
  return e !== null && e.world === world && e.cur === cur && e.prev === prev;
}

/**
 * What changed from `prev` (the state an invariant last checked, or undefined) to `cur`. The
 * result is shared and overwritten by a later call with another pair: use it at once.
 */
export function dirtySince(world: World, prev: SystemState | undefined, cur: SystemState): Dirty {
  if (hit(last, world, prev, cur)) return last!.dirty;
  if (hit(other, world, prev, cur)) {
    const e = other!;
    other = last;
    last = e;
    return e.dirty;
  }
  // Reuse the older entry's buffers (the scratch lists are per entry, so the newer one stays valid).
  let e = other;
  if (e?.world !== world) {
    const n = world.infos.length;
    const ng = world.groups.length;
    e = { world, prev, cur, dirty: new DirtyImpl(new Int32Array(n), new Int32Array(ng)) };
  }
  e.world = world;
  e.prev = prev;
  e.cur = cur;
  computeDirty(world, prev, cur, e.dirty);
  other = last;
  last = e;
  return e.dirty;
}

type InvariantHead = Omit<Invariant, 'check'>;

/** A per-function checker: f's findings, or null when none (see perFunction()). */
export type FunctionChecker = (c: InvariantContext, f: number) => Finding[] | null;
/** A per-group checker: g's findings, or null when none (see perGroup()). */
export type GroupChecker = (c: InvariantContext, g: number) => Finding[] | null;
/** A checker of the global part of a perGroup() invariant. */
export type GlobalChecker = (c: InvariantContext) => Finding[] | null;
/** Whether an invariant applies to the state at all. */
export type Applies = (c: InvariantContext) => boolean;

/** How an invariant built here is checked, for CheckBatch. */
export type BatchSpec =
  | { readonly kind: 'function'; readonly fn: FunctionChecker; readonly when: Applies | undefined }
  | { readonly kind: 'group'; readonly fn: GroupChecker; readonly global: GlobalChecker | undefined };

/** The checker behind each invariant built by perFunction() or perGroup(). */
const batchSpecs = new WeakMap<Invariant, BatchSpec>();

/** Findings per (checker, part) of a batch at one state. */
class BatchMemo {
  /** parts[j * n + i]: checker j's findings for part i (function or group). */
  readonly parts: (readonly Finding[] | null)[];
  /** Per checker: how many parts have findings, its global findings, and the concatenation (null: stale). */
  readonly nonEmpty: Int32Array;
  readonly global: (readonly Finding[] | null)[];
  readonly flat: (readonly Finding[] | null)[];
  constructor(
    k: number,
    readonly n: number,
    public state: SystemState,
  ) {
    this.parts = new Array<readonly Finding[] | null>(k * n).fill(null);
    this.nonEmpty = new Int32Array(k);
    this.global = new Array<readonly Finding[] | null>(k).fill(null);
    this.flat = new Array<readonly Finding[] | null>(k).fill(NO_FINDINGS);
  }
  set(j: number, i: number, v: readonly Finding[] | null): void {
    const at = j * this.n + i;
    const old = this.parts[at] ?? null;
    if (old === null && v === null) return;
    if (old !== null) this.nonEmpty[j]!--;
    if (v !== null) this.nonEmpty[j]!++;
    this.parts[at] = v;
    this.flat[j] = null;
  }
  setGlobal(j: number, v: readonly Finding[] | null): void {
    if ((this.global[j] ?? null) === null && v === null) return;
    this.global[j] = v;
    this.flat[j] = null;
  }
  /** Checker j's findings: its global ones, then part by part. */
  findings(j: number): readonly Finding[] {
    const g = this.global[j] ?? null;
    if (this.nonEmpty[j] === 0 && g === null) return NO_FINDINGS;
    let out = this.flat[j] ?? null;
    if (out === null) {
      const list: Finding[] = g === null ? [] : [...g];
      for (let i = 0; i < this.n; i++) {
        const p = this.parts[j * this.n + i] ?? null;
        if (p !== null) for (let x = 0; x < p.length; x++) list.push(p[x]!);
      }
      this.flat[j] = out = list;
    }
    return out;
  }
}

/**
 * Several invariants built by perFunction() with the same `when`, or by perGroup(), checked
 * together: one look at what changed since the batch's last state, then every checker on each
 * function (group) that changed. Each checker finds exactly what its invariant's own check() finds
 * (the same checker on the same parts, concatenated in the same order); the batch only saves the
 * per-invariant overhead. checkInvariants() builds batches of the list it is given.
 */
export class CheckBatch {
  private readonly fns: ((c: InvariantContext, i: number) => Finding[] | null)[] = [];
  private readonly globals: (GlobalChecker | undefined)[] = [];
  private readonly memo = new WeakMap<World, BatchMemo>();
  private lastWorld: World | null = null;
  private current: BatchMemo | null = null;
  /** Whether `when` held at the last update (when it does not, the batch's invariants find nothing). */
  private active = false;

  constructor(
    readonly kind: 'function' | 'group',
    readonly when: Applies | undefined,
  ) {}

  /** How an invariant built by perFunction() or perGroup() is checked, else undefined. */
  static specOf(inv: Invariant): BatchSpec | undefined {
    return batchSpecs.get(inv);
  }

  /** Adds the checker of an invariant of the batch's kind; returns its index. */
  add(spec: BatchSpec): number {
    this.fns.push(spec.fn);
    this.globals.push(spec.kind === 'group' ? spec.global : undefined);
    return this.fns.length - 1;
  }

  /** Brings the batch's findings up to the context's state. */
  update(c: InvariantContext): void {
    if (this.when !== undefined && !this.when(c)) {
      this.active = false;
      return;
    }
    this.active = true;
    const fns = this.fns;
    const k = fns.length;
    const group = this.kind === 'group';
    let m = this.lastWorld === c.world ? this.current : (this.memo.get(c.world) ?? null);
    if (m === null) {
      const n = group ? c.world.groups.length : c.world.infos.length;
      m = new BatchMemo(k, n, c.state);
      this.memo.set(c.world, m);
      for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) m.set(j, i, fns[j]!(c, i));
      if (group) this.updateGlobals(c, m);
    } else if (m.state !== c.state) {
      const dirty = dirtySince(c.world, m.state, c.state);
      if (!group) {
        for (let x = 0; x < dirty.fnCount; x++) {
          const f = dirty.fnList[x]!;
          for (let j = 0; j < k; j++) m.set(j, f, fns[j]!(c, f));
        }
      } else if (dirty.globalPasids) {
        // Group checkers read the global PASIDs too: all of them again.
        for (let g = 0; g < m.n; g++) for (let j = 0; j < k; j++) m.set(j, g, fns[j]!(c, g));
        this.updateGlobals(c, m);
      } else {
        for (let x = 0; x < dirty.groupCount; x++) {
          const g = dirty.groupList[x]!;
          for (let j = 0; j < k; j++) m.set(j, g, fns[j]!(c, g));
        }
      }
      m.state = c.state;
    }
    this.lastWorld = c.world;
    this.current = m;
  }

  private updateGlobals(c: InvariantContext, m: BatchMemo): void {
    for (let j = 0; j < this.globals.length; j++) {
      const global = this.globals[j];
      if (global !== undefined) m.setGlobal(j, global(c));
    }
  }

  /** Checker j's findings at the state of the last update(). */
  findings(j: number): readonly Finding[] {
    return this.active ? this.current!.findings(j) : NO_FINDINGS;
  }
}

/** Findings per part (function or group), with their concatenation kept up to date. */
class Parts {
  readonly parts: (readonly Finding[] | null)[];
  private nonEmpty = 0;
  private flat: readonly Finding[] = NO_FINDINGS;
  private stale = false;
  constructor(
    n: number,
    public state: SystemState,
  ) {
    this.parts = new Array<readonly Finding[] | null>(n).fill(null);
  }
  set(i: number, v: readonly Finding[] | null): void {
    const old = this.parts[i] ?? null;
    if (old === null && v === null) return;
    if (old !== null) this.nonEmpty--;
    if (v !== null) this.nonEmpty++;
    this.parts[i] = v;
    this.stale = true;
  }
  result(extra: readonly Finding[] | null = null): readonly Finding[] {
    if (this.nonEmpty === 0 && extra === null) return NO_FINDINGS;
    if (this.stale || extra !== null) {
      const out: Finding[] = extra === null ? [] : [...extra];
      for (const p of this.parts) if (p !== null) out.push(...p);
      this.flat = out;
      this.stale = false;
    }
    return this.flat;
  }
}

/**
 * An invariant checked function by function: `fn(c, f)` returns f's findings (null when none) and
 * must read only f's neighbourhood (see the file comment). `when(c)`, if given, says whether the
 * invariant applies to the state at all (e.g. only at quiescent points).
 */
export function perFunction(head: InvariantHead, fn: FunctionChecker, when?: Applies): Invariant {
  const memo = new WeakMap<World, Parts>();
  // The world checked last, and its memo: skips the WeakMap lookup on the hot path.
  let lastWorld: World | null = null;
  let lastMemo: Parts | undefined;
  const inv: Invariant = {
    ...head,
    check(c: InvariantContext): readonly Finding[] {
      if (when !== undefined && !when(c)) return NO_FINDINGS;
      let m = lastWorld === c.world ? lastMemo : memo.get(c.world);
      if (m === undefined) {
        m = new Parts(c.world.infos.length, c.state);
        memo.set(c.world, m);
        for (let f = 0; f < c.world.infos.length; f++) m.set(f, fn(c, f));
      } else if (m.state !== c.state) {
        const dirty = dirtySince(c.world, m.state, c.state);
        for (let i = 0; i < dirty.fnCount; i++) {
          const f = dirty.fnList[i]!;
          m.set(f, fn(c, f));
        }
        m.state = c.state;
      }
      lastWorld = c.world;
      lastMemo = m;
      return m.result();
    },
  };
  batchSpecs.set(inv, { kind: 'function', fn, when });
  return inv;
}

/**
 * An invariant checked group by group: `fn(c, g)` reads the group record and its members'
 * neighbourhoods and the global PASIDs; `global(c)`, if given, reads only the global PASIDs and the
 * world.
 */
export function perGroup(head: InvariantHead, fn: GroupChecker, global?: GlobalChecker): Invariant {
  type GroupMemo = { parts: Parts; global: readonly Finding[] | null };
  const memo = new WeakMap<World, GroupMemo>();
  let lastWorld: World | null = null;
  let lastMemo: GroupMemo | undefined;
  const inv: Invariant = {
    ...head,
    check(c: InvariantContext): readonly Finding[] {
      const ng = c.world.groups.length;
      let m = lastWorld === c.world ? lastMemo : memo.get(c.world);
      if (m === undefined) {
        m = { parts: new Parts(ng, c.state), global: global === undefined ? null : global(c) };
        memo.set(c.world, m);
        for (let g = 0; g < ng; g++) m.parts.set(g, fn(c, g));
      } else if (m.parts.state !== c.state) {
        const dirty = dirtySince(c.world, m.parts.state, c.state);
        if (dirty.globalPasids) {
          for (let g = 0; g < ng; g++) m.parts.set(g, fn(c, g));
          if (global !== undefined) m.global = global(c);
        } else
          for (let i = 0; i < dirty.groupCount; i++) {
            const g = dirty.groupList[i]!;
            m.parts.set(g, fn(c, g));
          }
        m.parts.state = c.state;
      }
      lastWorld = c.world;
      lastMemo = m;
      return m.parts.result(m.global);
    },
  };
  batchSpecs.set(inv, { kind: 'group', fn, global });
  return inv;
}

/**
 * An invariant over all functions and the domains' driver records, recomputed whole when any
 * function's neighbourhood or any domain's driver record changed since its last check.
 */
export function perDomains(
  head: InvariantHead,
  all: (c: InvariantContext) => readonly Finding[],
  when?: (c: InvariantContext) => boolean,
): Invariant {
  const memo = new WeakMap<World, { state: SystemState; found: readonly Finding[] }>();
  return {
    ...head,
    check(c: InvariantContext): readonly Finding[] {
      if (when !== undefined && !when(c)) return NO_FINDINGS;
      const m = memo.get(c.world);
      if (m !== undefined) {
        if (m.state === c.state) return m.found;
        const dirty = dirtySince(c.world, m.state, c.state);
        if (!dirty.all && dirty.fnCount === 0 && !dirty.domainDrv) {
          m.state = c.state;
          return m.found;
        }
      }
      const found = all(c);
      memo.set(c.world, { state: c.state, found });
      return found;
    },
  };
}
