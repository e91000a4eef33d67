/**
 * Canonical domain numbering. Domains are renumbered in the order a fixed traversal first meets
 * them, and every reference is rewritten: group RID/default/blocking domains and PASID arrays, the
 * driver's master and global records and domain records (the fields it names in
 * IommuDriverOps.domainRefFields), page owners, and continuation arguments. Free slots are dropped
 * from the end, so two states that differ only in allocation order become identical.
 */
import type { DriverRecord, Domain, SystemState } from './state.js';
import type { World } from './world.js';

function refSpec(spec: string): { field: string; width: number; pos: number } {
  const [field, width, pos] = spec.split(':');
  return {
    field: field!,
    width: width === undefined ? 0 : Number(width),
    pos: pos === undefined ? 0 : Number(pos),
  };
}

function visitRecord(rec: DriverRecord, specs: readonly string[], visit: (d: number) => void): void {
  for (const s of specs) {
    const { field, width, pos } = refSpec(s);
    const v = rec[field];
    if (width === 0) {
      if (typeof v === 'number') visit(v);
    } else if (Array.isArray(v)) {
      for (let i = pos; i < v.length; i += width) visit(v[i] as number);
    }
  }
}

function remapRecord<T extends DriverRecord>(
  rec: T,
  specs: readonly string[],
  map: (d: number) => number,
): T {
  if (specs.length === 0) return rec;
  const out: Record<string, unknown> = { ...rec };
  for (const s of specs) {
    const { field, width, pos } = refSpec(s);
    const v = rec[field];
    if (width === 0) {
      if (typeof v === 'number') out[field] = map(v);
    } else if (Array.isArray(v)) {
      const a = (v as readonly number[]).slice();
      for (let i = pos; i < a.length; i += width) a[i] = map(a[i]!);
      out[field] = a;
    }
  }
  return out as T;
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
  for (const g of s.groups) {
    visit(g.domain);
    visit(g.defaultDomain);
    visit(g.blockingDomain);
    for (let i = 1; i < g.pasids.length; i += 2) visit(g.pasids[i]!);
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
    return refs.domain.length === 0 ? dom : { ...dom, drv: remapRecord(dom.drv, refs.domain, map) };
  });
  const state: SystemState = {
    ...s,
    domains,
    groups: s.groups.map((g) => ({
      ...g,
      domain: map(g.domain),
      defaultDomain: map(g.defaultDomain),
      blockingDomain: map(g.blockingDomain),
      pasids: g.pasids.map((v, i) => (i % 2 === 1 ? map(v) : v)),
    })),
    masters: s.masters.map((m) => remapRecord(m, refs.master, map)),
    drv: remapRecord(s.drv, refs.global, map),
    mem: { ...s.mem, pages: s.mem.pages.map((p) => (p > 0 ? map(p - 1) + 1 : 0)) },
    threads: s.threads.map((t) =>
      t.cont === null || t.cont.domainArgs === 0
        ? t
        : {
            ...t,
            cont: {
              ...t.cont,
              args: t.cont.args.map((a, i) => ((t.cont!.domainArgs & (1 << i)) !== 0 ? map(a) : a)),
            },
          },
    ),
  };
  return { state, map };
}
