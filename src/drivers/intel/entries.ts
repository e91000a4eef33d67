/**
 * Context and PASID-table entries (iommu.c domain_context_mapping_one(),
 * context_setup_pass_through(), domain_context_clear_one(); pasid.c
 * intel_pasid_setup_first_level()/_second_level()/_pass_through(), intel_pasid_tear_down_entry(),
 * intel_pasid_setup_sm_context()). Each write is a `dev-entry` event; clearing a present entry
 * invalidates the caches behind it (qi.ts), the device-TLB included while ATS is on.
 */
import { tuplePut, tupleRemoveWhere } from '../../model/flat.js';
import type { Tx } from '../../model/tx.js';
import { ENTRY_NONE, ENTRY_PASS_THROUGH, getInfo, mutInfo, pasidEntry } from './info.js';
import { flush_entry_caches } from './qi.js';

function emitEntry(
  tx: Tx,
  f: number,
  entry: 'context' | 'pasid',
  mode: number,
  devtlb: boolean,
  pasid?: number,
): void {
  tx.emit({
    kind: 'dev-entry',
    iommu: 'vtd',
    bdf: tx.info(f).bdf,
    entry,
    ...(pasid === undefined ? {} : { pasid }),
    mode: mode === ENTRY_NONE ? 'clear' : mode === ENTRY_PASS_THROUGH ? 'pass-through' : 'translate',
    devtlb,
  });
}

/**
 * Legacy mode: domain_context_mapping_one() (translate through d, TT=DEV_IOTLB for an
 * ats_supported device, else MULTI_LEVEL) or context_setup_pass_through() (TT=PASS_THROUGH). A
 * present entry is left alone (the caller cleared it first).
 */
export function context_set(tx: Tx, f: number, mode: number, d: number): void {
  const m = getInfo(tx, f);
  if (m.ctx_mode !== ENTRY_NONE) return;
  const devtlb = mode !== ENTRY_PASS_THROUGH && m.ats_supported;
  const w = mutInfo(tx, f);
  w.ctx_mode = mode;
  w.ctx_domain = mode === ENTRY_PASS_THROUGH ? -1 : d;
  w.ctx_devtlb = devtlb;
  emitEntry(tx, f, 'context', mode, devtlb);
}

/** domain_context_clear_one(): clear the context entry, then flush the context cache, IOTLB and device-TLB. */
export function context_clear(tx: Tx, f: number): void {
  const m = getInfo(tx, f);
  if (m.ctx_mode === ENTRY_NONE) return;
  const d = m.ctx_domain;
  const w = mutInfo(tx, f);
  w.ctx_mode = ENTRY_NONE;
  w.ctx_domain = -1;
  w.ctx_devtlb = false;
  emitEntry(tx, f, 'context', ENTRY_NONE, false);
  flush_entry_caches(tx, f, 0, d, 'QI_CC');
}

/**
 * intel_pasid_setup_*() / intel_pasid_replace_*(): the PASID entry for `pasid` translates through
 * d, or passes through. Replacing a present entry then flushes what the old one cached
 * (pasid.c intel_pasid_flush_present(): PASID cache and PASID-IOTLB for the old domain, and the
 * device-TLB for the PASID while ATS is on), as tearing it down does.
 */
export function pasid_entry_set(tx: Tx, f: number, pasid: number, mode: number, d: number): void {
  const m = getInfo(tx, f);
  const dom = mode === ENTRY_PASS_THROUGH ? -1 : d;
  const cur = pasidEntry(m, pasid);
  if (cur !== null && cur.mode === mode && cur.domain === dom) return;
  mutInfo(tx, f).pasids = tuplePut(m.pasids, 3, 1, [pasid, mode, dom]);
  emitEntry(tx, f, 'pasid', mode, m.sm_dte, pasid);
  if (cur !== null) flush_entry_caches(tx, f, pasid, cur.domain, 'QI_PC');
}

/**
 * intel_pasid_tear_down_entry(): clear the PASID entry, then flush the PASID cache, the IOTLB and
 * (devtlb_invalidation_with_pasid()) the device-TLB.
 */
export function pasid_entry_clear(tx: Tx, f: number, pasid: number): void {
  const m = getInfo(tx, f);
  const cur = pasidEntry(m, pasid);
  if (cur === null) return;
  mutInfo(tx, f).pasids = tupleRemoveWhere(m.pasids, 3, (a, i) => a[i] === pasid);
  emitEntry(tx, f, 'pasid', ENTRY_NONE, m.sm_dte, pasid);
  flush_entry_caches(tx, f, pasid, cur.domain, 'QI_PC');
}
