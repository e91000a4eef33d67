/**
 * Canonical domain numbering. Domains are renumbered in the order a fixed traversal first meets
 * them, and every reference is rewritten: group RID/default/blocking domains and PASID arrays, the
 * driver's master and global records and domain records (the fields it names in
 * IommuDriverOps.domainRefFields), page owners, and continuation arguments. Free slots are dropped
 * from the end, so two states that differ only in allocation order become identical.
 */
import type { DriverRecord, Domain, MemoryState, SystemState } from './state.js';
import type { World } from './world.js';

interface RefSpec {
  readonly field: string;
  readonly width: number;
  readonly pos: number;
}

// Parsed once per spec list (the driver's domainRefFields lists are static).
const parsed = new WeakMap<readonly string[], readonly RefSpec[]>();

function refSpecs(specs: readonly string[]): readonly RefSpec[] {
  let r = parsed.get(specs);
  if (r === undefined) {
    r = specs.map((spec) => {
      const [field, width, pos] = spec.split(':');
      return {
        field: field!,
        width: width === undefined ? 0 : Number(width),
        pos: pos === undefined ? 0 : Number(pos),
      };
    });
    parsed.set(specs, r);
  }
  return r;
}

function visitRecord(rec: DriverRecord, specs: readonly string[], visit: (d: number) => void): void {
  for (const { field, width, pos } of refSpecs(specs)) {
    const v = rec[field];
    if (width === 0) {
      if (typeof v === 'number') visit(v);
    } else if (Array.isArray(v)) {
      for (let i = pos; i < v.length; i += width) visit(v[i] as number);
    }
  }
}

/** The record with its domain references mapped; the same object when none moves. */
function remapRecord<T extends DriverRecord>(
  rec: T,
  specs: readonly string[],
  map: (d: number) => number,
): T {
  if (specs.length === 0) return rec;
  let out: Record<string, unknown> | null = null;
  for (const { field, width, pos } of refSpecs(specs)) {
    const v = rec[field];
    if (width === 0) {
      if (typeof v === 'number' && map(v) !== v) (out ??= { ...rec })[field] = map(v);
    } else if (Array.isArray(v)) {
      let a: number[] | null = null;
      for (let i = pos; i < v.length; i += width) {
        const m = map(v[i] as number);
        if (m !== v[i]) (a ??= (v as readonly number[]).slice())[i] = m;
      }
      if (a !== null) (out ??= { ...rec })[field] = a;
    }
  }
  return out === null ? rec : (out as T);
}

/** A flat tuple array with the numbers at pos, pos + width, ... mapped; the same array when none moves. */
function remapTuples(
  arr: readonly number[],
  width: number,
  pos: number,
  map: (d: number) => number,
): readonly number[] {
  let a: number[] | null = null;
  for (let i = pos; i < arr.length; i += width) {
    const m = map(arr[i]!);
    if (m !== arr[i]) (a ??= arr.slice())[i] = m;
  }
  return a ?? arr;
}

export interface Canonical {
  readonly state: SystemState;
  /** Old slot → new slot, or null when the numbering did not change. */
  readonly map: ((d: number) => number) | null;
}

export function canonicalize(world: World, s: SystemState): Canonical {
  const n = s.domains.length;
  const order: number[] = [];
  const seen = new Uint8Array(n);
  const visit = (d: number): void => {
    if (d >= 0 && d < n && seen[d] === 0 && s.domains[d] !== null) {
      seen[d] = 1;
      order.push(d);
    }
  };
  const refs = world.ops.domainRefFields;
  // Default domains first (they live from boot to the group's end), then the domains attached
  // now, then the blocking domains, then the PASID domains: a domain that comes and goes (a
  // blocking domain allocated at a group's first reset, an owner's domain, a PASID's) shifts only
  // the ones after it, not every later group's default domain and all that refers to it.
  const grs = s.groups;
  for (let g = 0; g < grs.length; g++) visit(grs[g]!.defaultDomain);
  for (let g = 0; g < grs.length; g++) visit(grs[g]!.domain);
  for (let g = 0; g < grs.length; g++) visit(grs[g]!.blockingDomain);
  for (let g = 0; g < grs.length; g++) {
    const p = grs[g]!.pasids;
    for (let i = 1; i < p.length; i += 2) visit(p[i]!);
  }
  for (const m of s.masters) visitRecord(m, refs.master, visit);
  visitRecord(s.drv, refs.global, visit);
  for (const p of s.mem.pages) if (p > 0) visit(p - 1);
  for (const t of s.threads) {
    if (t.cont === null) continue;
    t.cont.args.forEach((a, i) => {
      if ((t.cont!.domainArgs & (1 << i)) !== 0) visit(a);
    });
  }
  for (let d = 0; d < n; d++) visit(d);
  // Domains may refer to domains (e.g. a nesting parent); keep visiting until closed.
  for (let k = 0; k < order.length; k++) visitRecord(s.domains[order[k]!]!.drv, refs.domain, visit);

  let identity = order.length === n;
  for (let i = 0; identity && i < order.length; i++) identity = order[i] === i;
  if (identity) return { state: s, map: null };

  const perm = new Int32Array(n).fill(-1);
  order.forEach((old, i) => (perm[old] = i));
  const map = (d: number): number => (d < 0 ? d : perm[d]!);
  const domains: Domain[] = order.map((old) => {
    const dom = s.domains[old]!;
    if (refs.domain.length === 0) return dom;
    const drv = remapRecord(dom.drv, refs.domain, map);
    return drv === dom.drv
      ? dom
      : {
          type: dom.type,
          pt: dom.pt,
          iotlb: dom.iotlb,
          fq: dom.fq,
          msiDoorbell: dom.msiDoorbell,
          allocator: dom.allocator,
          drv,
        };
  });
  // Records no reference of which moves stay the same objects (so their hashes are not redone).
  const groups = s.groups.map((g) => {
    const domain = map(g.domain);
    const defaultDomain = map(g.defaultDomain);
    const blockingDomain = map(g.blockingDomain);
    const pasids = remapTuples(g.pasids, 2, 1, map);
    return domain === g.domain &&
      defaultDomain === g.defaultDomain &&
      blockingDomain === g.blockingDomain &&
      pasids === g.pasids
      ? g
      : {
          domain,
          defaultDomain,
          blockingDomain,
          owner: g.owner,
          ownerCnt: g.ownerCnt,
          recoveryCnt: g.recoveryCnt,
          pasids,
        };
  });
  const threads = s.threads.map((t) => {
    const c = t.cont;
    if (c === null || c.domainArgs === 0) return t;
    let args: number[] | null = null;
    for (let i = 0; i < c.args.length; i++)
      if ((c.domainArgs & (1 << i)) !== 0 && map(c.args[i]!) !== c.args[i])
        (args ??= c.args.slice())[i] = map(c.args[i]!);
    return args === null
      ? t
      : { pc: t.pc, cont: { op: c.op, phase: c.phase, args, domainArgs: c.domainArgs, key: c.key } };
  });
  // Records no reference of which moves stay the same objects (so their hashes are not redone).
  // Built field by field, in Tx.commit()'s order (one hidden class; a spread here measured slow).
  const state: SystemState = {
    pci: s.pci,
    devs: s.devs,
    gdevs: s.gdevs,
    groups,
    domains,
    masters: s.masters.map((m) => remapRecord(m, refs.master, map)),
    drv: remapRecord(s.drv, refs.global, map),
    globalPasids: s.globalPasids,
    mem: remapPages(s.mem, map),
    threads,
    faults: s.faults,
    fpHi: s.fpHi,
    fpLo: s.fpLo,
  };
  return { state, map };
}

function remapPages(mem: MemoryState, map: (d: number) => number): MemoryState {
  let pages: number[] | null = null;
  const p = mem.pages;
  for (let i = 0; i < p.length; i++) {
    const v = p[i]!;
    if (v > 0 && map(v - 1) + 1 !== v) (pages ??= p.slice())[i] = map(v - 1) + 1;
  }
  return pages === null ? mem : { pages };
}
