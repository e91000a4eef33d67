/**
 * The DMA API over an IOMMU domain (drivers/iommu/dma-iommu.c iommu_dma_map_page(),
 * __iommu_dma_unmap(), the flush queue fq_flush_iotlb()/fq_ring_free()) and VFIO's iommu_map()/
 * iommu_unmap() on its UNMANAGED domain, at one page per mapping.
 *
 * Map: a physical page (lowest free; owned by the domain) behind the lowest free IOVA page.
 * Unmap, strict (DMA, UNMANAGED, iommu.strict=1): the page-table entry goes, the invalidation is
 * issued, and the operation waits for its CMD_SYNC (a split point: another thread may run), after
 * which the page is freed. Lazy (DMA_FQ): the IOVA waits in the flush queue, and the page is freed
 * at once, so until the flush the IOTLB and ATCs may still reach a page that is reused.
 */
import {
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_SVA,
  IOMMU_DOMAIN_UNMANAGED,
} from './domain-type.js';
import { EINVAL, ENODEV, ENOMEM } from '../kernel/errno.js';
import { WARN_ON } from '../kernel/events.js';
import { tupleGet, tuplePut } from '../model/flat.js';
import type { Continuation, PendingPhase } from '../model/state.js';
import type { Tx } from '../model/tx.js';

/** The domain a DMA mapping of f goes into: the group's RID domain, or the PASID's; -1 for none. */
export function dmaDomainOf(tx: Tx, f: number, pasid: number): number {
  const g = tx.world.groupOf[f] ?? -1;
  if (g < 0 || !tx.gdev(f).probed) return -1;
  const group = tx.group(g);
  return pasid > 0 ? tupleGet(group.pasids, 2, [pasid], 1, -1) : group.domain;
}

/** The lowest free physical page, or -1. */
function allocPage(tx: Tx): number {
  const pages = tx.mem().pages;
  for (let p = 0; p < pages.length; p++) if (pages[p] === 0) return p;
  return -1;
}

function setPage(tx: Tx, p: number, owner: number): void {
  tx.setPage(p, owner);
}

/** The lowest IOVA page below world.iovaPages that is neither mapped nor waiting in the flush queue. */
function allocIova(tx: Tx, d: number): number {
  const dom = tx.domain(d);
  const n = tx.world.iovaPages;
  outer: for (let iova = 0; iova < n; iova++) {
    const pt = dom.pt;
    for (let i = 0; i < pt.length; i += 2) if (pt[i] === iova) continue outer;
    const fq = dom.fq;
    for (let i = 0; i < fq.length; i += 2) if (fq[i] === iova) continue outer;
    return iova;
  }
  return -1;
}

/**
 * dma_map_page() → iommu_dma_map_page() on a DMA/DMA_FQ domain, or VFIO's iommu_map() on an
 * UNMANAGED one; on an identity domain dma-direct (the DMA address is the physical page). Returns
 * the IOVA page, or a negative errno: -ENODEV without a domain, -EINVAL for a blocked or SVA
 * domain, -ENOMEM when pages or IOVAs run out (the armed fault `iommu_map` fails the mapping).
 */
export function iommu_dma_map(tx: Tx, f: number, pasid: number): number {
  const d = dmaDomainOf(tx, f, pasid);
  if (d < 0) return -ENODEV;
  const type = tx.domain(d).type;
  switch (type) {
    case IOMMU_DOMAIN_BLOCKED:
    case IOMMU_DOMAIN_SVA:
      return -EINVAL;
    case IOMMU_DOMAIN_IDENTITY: {
      const page = allocPage(tx);
      if (page < 0) return -ENOMEM;
      setPage(tx, page, 1 + d);
      return page;
    }
    case IOMMU_DOMAIN_UNMANAGED:
    case IOMMU_DOMAIN_DMA:
    case IOMMU_DOMAIN_DMA_FQ: {
      const err = tx.injectedFailure('iommu_map', f);
      if (err !== 0) return err;
      const page = allocPage(tx);
      if (page < 0) return -ENOMEM;
      const iova = allocIova(tx, d);
      if (iova < 0) return -ENOMEM;
      setPage(tx, page, 1 + d);
      const dom = tx.mutDomain(d);
      dom.pt = tuplePut(dom.pt, 2, 1, [iova, page]);
      return iova;
    }
  }
}

/** The outcome of one step of an unmap: its return value, or the continuation it waits in. */
export interface UnmapStep {
  readonly ret: number | null;
  readonly cont: PendingPhase | null;
}

const DONE_OK: UnmapStep = { ret: 0, cont: null };

/**
 * First step of dma_unmap_page() / iommu_unmap() of the mapping at `iova`. Strict: removes the
 * page-table entry and issues the invalidation, then waits (continuation phase 1, args [domain,
 * iova, phys, ...ATC targets]). Lazy (DMA_FQ without iommu.strict=1): queues [iova, phys] and
 * frees the page now. An IOVA the DMA API never mapped is the kernel's WARN_ON(unmapped != size).
 */
export function iommu_dma_unmap_start(tx: Tx, f: number, iova: number, pasid: number): UnmapStep {
  const d = dmaDomainOf(tx, f, pasid);
  if (d < 0) return { ret: -ENODEV, cont: null };
  const dom = tx.domain(d);
  const type = dom.type;
  switch (type) {
    case IOMMU_DOMAIN_BLOCKED:
    case IOMMU_DOMAIN_SVA:
      return { ret: -EINVAL, cont: null };
    case IOMMU_DOMAIN_IDENTITY: {
      // dma-direct: nothing to invalidate.
      if (tx.mem().pages[iova] !== 1 + d) return { ret: -EINVAL, cont: null };
      setPage(tx, iova, 0);
      return DONE_OK;
    }
    case IOMMU_DOMAIN_UNMANAGED:
    case IOMMU_DOMAIN_DMA:
    case IOMMU_DOMAIN_DMA_FQ: {
      const phys = tupleGet(dom.pt, 2, [iova], 1, -1);
      if (phys < 0) {
        // __iommu_dma_unmap(): WARN_ON(unmapped != size); VFIO checks its own tracking first.
        if (type !== IOMMU_DOMAIN_UNMANAGED)
          WARN_ON(tx, true, '__iommu_dma_unmap', tx.info(f).bdf, `IOVA page ${iova} is not mapped`);
        return { ret: -EINVAL, cont: null };
      }
      const w = tx.mutDomain(d);
      const pt = dom.pt;
      const next: number[] = [];
      for (let i = 0; i < pt.length; i += 2) if (pt[i] !== iova) next.push(pt[i]!, pt[i + 1]!);
      w.pt = next;
      const strict = type !== IOMMU_DOMAIN_DMA_FQ || tx.kernel.cmdline.iommuStrict === true;
      if (!strict) {
        w.fq = tuplePut(dom.fq, 2, 1, [iova, phys]);
        setPage(tx, phys, 0);
        return DONE_OK;
      }
      const targets = tx.world.ops.iotlb_sync_issue(tx, d, iova, 1);
      const args = [d, iova, phys];
      for (let i = 0; i < targets.length; i++) args.push(targets[i]!);
      return { ret: null, cont: { op: 'dma-unmap', phase: 1, args, domainArgs: 1 } };
    }
  }
}

/**
 * Second step of a strict unmap: wait for the CMD_SYNC (iommu_iotlb_sync), then the page is
 * free for reuse. The domain slot is -1 if the domain was freed meanwhile (its pages went with it).
 */
export function iommu_dma_unmap_finish(tx: Tx, cont: Continuation): UnmapStep {
  const [d = -1, iova = 0, phys = 0] = cont.args;
  const targets = cont.args.slice(3);
  tx.world.ops.iotlb_sync_wait(tx, d, iova, 1, targets);
  if (d >= 0 && tx.mem().pages[phys] === 1 + d) setPage(tx, phys, 0);
  return DONE_OK;
}

/**
 * The flush-queue timeout (fq_flush_timeout → fq_flush_iotlb → flush_iotlb_all, then
 * fq_ring_free): for every domain with queued unmaps, a full invalidation (TLBI for the ASID/VMID,
 * CMD_ATC_INV for every ATS master) and its CMD_SYNC, then the queued IOVAs are free again.
 */
export function iommu_dma_fq_flush(tx: Tx): void {
  const n = tx.domainCount;
  const ops = tx.world.ops;
  for (let d = 0; d < n; d++) {
    const dom = tx.domainOrNull(d);
    if (dom === null || dom.fq.length === 0) continue;
    const targets = ops.iotlb_sync_issue(tx, d, 0, 0);
    ops.iotlb_sync_wait(tx, d, 0, 0, targets);
    tx.mutDomain(d).fq = [];
  }
}
