/**
 * PASIDs (thread 3's outcome): a global allocator, and PASID attachments that are per group and
 * per PASID. Section g item 22.
 */
import { perGroup } from './incremental.js';
import type { Finding, Invariant } from './invariant.js';
import { bdfOf, expectedTranslation, managed, push } from './util.js';

/** A DMA-API PASID user's domain (Domain.allocator). */
const ALLOCATOR_DMA_PASID = 2;

function isSortedUnique(a: readonly number[], stride: number): boolean {
  for (let i = stride; i < a.length; i += stride) if (a[i]! <= a[i - stride]!) return false;
  return true;
}

function contains(sorted: readonly number[], x: number): boolean {
  for (const v of sorted) if (v === x) return true;
  return false;
}

function describe(t: number): string {
  return t === -1 ? 'abort' : t === -2 ? 'bypass' : `d${t}`;
}

export const pasidAllocation: Invariant = perGroup(
  {
    id: 'pasid-allocation',
    ref: 22,
    statement:
      'Global PASIDs are unique and lie in [1, max_pasids-1]; PASID 0 is never attached through the PASID API; each (group, PASID) has one live domain, every member translates that PASID through it, and a DMA-API PASID is a global one',
    source:
      'iommu_alloc_global_pasid(), iommu_attach_device_pasid(); Jason Gunthorpe, 2022-05-24/31 ("[PATCH v4 1/6] iommu: Add a per domain PASID for DMA API", thread 3)',
    kind: 'kernel',
  },
  ({ world, view }, g) => {
    const a = view.group(g).pasids;
    if (a.length === 0) return null;
    let out: Finding[] | null = null;
    const gp = view.globalPasids();
    if (!isSortedUnique(a, 2)) out = push(out, `group ${g}: a PASID is attached twice: [${a.join(', ')}]`);
    const members = world.groups[g]!.members;
    for (let i = 0; i < a.length; i += 2) {
      const p = a[i]!;
      const d = a[i + 1]!;
      if (p === 0) out = push(out, `group ${g}: PASID 0 (IOMMU_NO_PASID) attached through the PASID API`);
      const dom = view.domainOrNull(d);
      if (dom === null) {
        out = push(out, `group ${g}: PASID ${p} is attached to freed domain d${d}`);
        continue;
      }
      if (dom.allocator === ALLOCATOR_DMA_PASID && !contains(gp, p))
        out = push(out, `group ${g}: DMA-API PASID ${p} is not a global PASID`);
      const want = expectedTranslation(view, d);
      for (const f of members) {
        const max = world.maxPasids[f]!;
        if (!managed(view, f) || max === 0 || view.gdev(f).blocked) continue;
        if (p >= max) out = push(out, `PASID ${p} attached but max_pasids is ${max}`, bdfOf(world, f));
        const got = world.ops.translation_domain(view, f, p);
        if (got !== want)
          out = push(
            out,
            `PASID ${p} is attached to d${d} but translates through ${describe(got)}`,
            bdfOf(world, f),
          );
      }
    }
    return out;
  },
  ({ world, view }) => {
    let out: Finding[] | null = null;
    let maxAll = 0;
    for (const m of world.maxPasids) if (m > maxAll) maxAll = m;
    const gp = view.globalPasids();
    if (!isSortedUnique(gp, 1)) out = push(out, `global PASIDs are not unique: [${gp.join(', ')}]`);
    for (const p of gp)
      if (p < 1 || p > maxAll - 1) out = push(out, `global PASID ${p} is outside [1, ${maxAll - 1}]`);
    return out;
  },
);
