/**
 * A function's DMA as the hardware sees it: the IOMMU's walk for untranslated requests (IOTLB,
 * then the page table, filling the IOTLB), and translated requests taken from the function's ATC,
 * which the SMMU accepts only where the STE (and for a PASID the CD) enables ATS (STE.EATS).
 *
 * The outcome says where the access lands, compared with the page table the function's domain
 * holds now: `ok` (the mapping is current), `stale` (a cached translation, ATC or IOTLB, that the
 * page table no longer holds, once the unmap that removed it has returned: an invalidation that did
 * not reach the cache, or a freed page), `unmapping` (a cached translation of a mapping whose strict
 * unmap has removed the page-table entry but still waits for its CMD_SYNC: the page is not yet
 * free, and the unmap's caller is racing its own DMA, which the DMA API does not promise to stop),
 * `bypass` (identity: IOVA = physical), `fault` (the IOMMU refused it).
 */
import type { DmaEvent } from '../kernel/events.js';
import { tupleGet, tuplePut } from '../model/flat.js';
import type { Tx } from '../model/tx.js';
import { PCI_ATS_CTRL_ENABLE } from '../pci/caps/ats.js';
import { PCI_PASID_CTRL_ENABLE } from '../pci/caps/pasid.js';
import { pci_physfn } from '../pci/ats.js';

/** translation_domain() results that are not domain slots. */
export const XLATE_ABORT = -1;
export const XLATE_BYPASS = -2;

/**
 * The IOMMU's translation of `iova` through domain d: an IOTLB hit, else a page-table walk that
 * caches the result in the IOTLB. The physical page, or -1 for a translation fault.
 */
export function iommu_walk(tx: Tx, d: number, iova: number): number {
  const dom = tx.domain(d);
  const hit = tupleGet(dom.iotlb, 2, [iova], 1, -1);
  if (hit >= 0) return hit;
  const phys = tupleGet(dom.pt, 2, [iova], 1, -1);
  if (phys < 0) return -1;
  tx.mutDomain(d).iotlb = tuplePut(dom.iotlb, 2, 1, [iova, phys]);
  return phys;
}

/**
 * The IOMMU drops domain d's IOTLB entries for IOVA pages [iova, iova + pages) (pages <= 0: all of
 * them), as a completed TLB invalidation does (CMD_TLBI_*, QI_IOTLB, INVALIDATE_IOMMU_PAGES).
 */
export function iotlb_invalidate_range(tx: Tx, d: number, iova: number, pages: number): void {
  const iotlb = tx.domain(d).iotlb;
  if (iotlb.length === 0) return;
  if (pages <= 0) {
    tx.mutDomain(d).iotlb = [];
    return;
  }
  const kept: number[] = [];
  for (let i = 0; i < iotlb.length; i += 2) {
    const page = iotlb[i]!;
    if (page < iova || page >= iova + pages) kept.push(page, iotlb[i + 1]!);
  }
  if (kept.length !== iotlb.length) tx.mutDomain(d).iotlb = kept;
}

/** The function's ATS Control Enable bit as the device holds it (PCI_ATS_CTRL_ENABLE). */
export function deviceAtsEnabled(tx: Tx, f: number): boolean {
  return (tx.dev(f).atsCtrl & PCI_ATS_CTRL_ENABLE) !== 0;
}

/** The function may tag requests with a PASID: PASID Control Enable (a VF uses its PF's). */
export function devicePasidEnabled(tx: Tx, f: number): boolean {
  return (tx.dev(pci_physfn(tx, f)).pasidCtrl & PCI_PASID_CTRL_ENABLE) !== 0;
}

/** Whether the page table of domain d maps iova to phys right now. */
function mapsNow(tx: Tx, d: number, iova: number, phys: number): boolean {
  return tupleGet(tx.domain(d).pt, 2, [iova], 1, -1) === phys;
}

/**
 * Whether a strict unmap of iova → phys in domain d has begun and not yet returned: a thread waits
 * in its CMD_SYNC (iommu_dma_unmap_start's continuation, args [domain, iova, phys, ...]).
 */
function unmapInFlight(tx: Tx, d: number, iova: number, phys: number): boolean {
  for (let t = 0; t < tx.threadCount; t++) {
    const c = tx.thread(t).cont;
    if (c !== null && c.op === 'dma-unmap' && c.args[0] === d && c.args[1] === iova && c.args[2] === phys)
      return true;
  }
  return false;
}

/** Where an access through a cached or walked translation iova → phys of domain d lands. */
function outcomeIn(tx: Tx, d: number, iova: number, phys: number): DmaEvent['outcome'] {
  if (mapsNow(tx, d, iova, phys)) return 'ok';
  return unmapInFlight(tx, d, iova, phys) ? 'unmapping' : 'stale';
}

function emitDma(
  tx: Tx,
  f: number,
  translated: boolean,
  pasid: number,
  iova: number,
  outcome: DmaEvent['outcome'],
  phys: number,
): void {
  const ev: DmaEvent =
    phys < 0
      ? { kind: 'dma', bdf: tx.info(f).bdf, translated, pasid, iova, outcome }
      : { kind: 'dma', bdf: tx.info(f).bdf, translated, pasid, iova, outcome, phys };
  tx.emit(ev);
}

function untranslated(tx: Tx, f: number, pasid: number, iova: number): void {
  const td = tx.world.ops.translation_domain(tx, f, pasid);
  if (td === XLATE_BYPASS) {
    emitDma(tx, f, false, pasid, iova, 'bypass', iova);
    return;
  }
  if (td < 0) {
    emitDma(tx, f, false, pasid, iova, 'fault', -1);
    return;
  }
  const phys = iommu_walk(tx, td, iova);
  if (phys < 0) emitDma(tx, f, false, pasid, iova, 'fault', -1);
  else emitDma(tx, f, false, pasid, iova, outcomeIn(tx, td, iova, phys), phys);
}

/**
 * The function issues one DMA to `iova` (tagged with `pasid` when > 0). A function that is gone,
 * in reset, or not allowed to use the PASID issues nothing. A translated request needs ATS
 * enabled at the function (otherwise it sends the request untranslated) and an ATC entry (none: a
 * fault, as the function would have to ask for a translation first); the SMMU accepts it only
 * with EATS, and it reaches the cached physical page whatever the page table says now.
 */
export function device_dma(tx: Tx, f: number, pasid: number, iova: number, translated: boolean): void {
  const dev = tx.device(f);
  if (!dev.present || dev.resetting) return;
  if (pasid > 0 && !devicePasidEnabled(tx, f)) return;
  // ATS trusts the device: a trusted function sends translated requests only from its ATC while
  // its ATS is enabled. An untrusted function is the threat ATS must be kept from: it may send a
  // translated request whatever its ATS Enable says, with any address, and only the IOMMU's EATS
  // check stands in its way (why pci_ats_supported() is false for untrusted functions).
  const forging = translated && tx.info(f).untrusted;
  if (!translated || (!deviceAtsEnabled(tx, f) && !forging)) {
    untranslated(tx, f, pasid, iova);
    return;
  }
  const ops = tx.world.ops;
  let phys = -1;
  const atc = dev.atc;
  for (let i = 0; i < atc.length; i += 3) {
    if (atc[i] === pasid && atc[i + 1] === iova) {
      phys = atc[i + 2]!;
      break;
    }
  }
  // A forged request claims the address is already translated.
  if (phys < 0 && forging) phys = iova;
  if (phys < 0 || !ops.ats_allowed(tx, f, pasid)) {
    emitDma(tx, f, true, pasid, iova, 'fault', -1);
    return;
  }
  const td = ops.translation_domain(tx, f, pasid);
  if (td === XLATE_BYPASS) emitDma(tx, f, true, pasid, iova, phys === iova ? 'bypass' : 'stale', phys);
  else if (td >= 0) emitDma(tx, f, true, pasid, iova, outcomeIn(tx, td, iova, phys), phys);
  else emitDma(tx, f, true, pasid, iova, 'fault', -1);
}
