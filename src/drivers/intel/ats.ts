/**
 * Turning ATS (and, before ccb02b27bb50, PASID) on and off at the function: iommu.c
 * iommu_enable_pci_ats() / iommu_disable_pci_ats() (named iommu_enable_pci_caps() /
 * iommu_disable_pci_caps() before 5518f239aff1, and iommu_disable_dev_iotlb() in v6.1).
 *
 * Enabling needs info->ats_supported and the Page Aligned Request bit (pci_ats_page_aligned());
 * the STU is VTD_PAGE_SHIFT. A failure only leaves info->ats_enabled clear; with
 * `vtd-fail-probe-on-prepare-error` (v7.3, thread 4 v4: "WARN() macros for runtime enablement
 * failures in all drivers") it also WARNs. The armed fault `pci_enable_ats` makes the call fail.
 */
import { WARN_ON, traceReturn } from '../../kernel/events.js';
import type { Tx } from '../../model/tx.js';
import { pci_ats_page_aligned, pci_disable_ats, pci_enable_ats } from '../../pci/ats.js';
import { pci_disable_pasid, pci_enable_pasid, pci_pasid_features } from '../../pci/pasid.js';
import { VTD_PAGE_SHIFT, getInfo, mutInfo } from './info.js';

/** iommu.c iommu_enable_pci_ats(info). */
export function iommu_enable_pci_ats(tx: Tx, f: number): void {
  const m = getInfo(tx, f);
  if (!m.ats_supported || m.ats_enabled) return;
  if (pci_ats_page_aligned(tx, f) === 0) return;
  const bdf = tx.info(f).bdf;
  let ret = tx.injectedFailure('pci_enable_ats', f);
  if (ret !== 0) traceReturn(tx, 'pci_enable_ats', bdf, ret);
  else ret = pci_enable_ats(tx, f, VTD_PAGE_SHIFT);
  if (ret === 0) {
    mutInfo(tx, f).ats_enabled = true;
    return;
  }
  if (tx.kernel.switches['vtd-fail-probe-on-prepare-error'])
    WARN_ON(tx, true, 'iommu_enable_pci_ats', bdf, `Failed to enable ATS (${ret})`);
}

/** iommu.c iommu_disable_pci_ats(info): only when the driver believes ATS is on. */
export function iommu_disable_pci_ats(tx: Tx, f: number): void {
  if (!getInfo(tx, f).ats_enabled) return;
  pci_disable_ats(tx, f);
  mutInfo(tx, f).ats_enabled = false;
}

/** PASID on (probe since ccb02b27bb50; iommu_enable_pci_caps() at every attach before): info->pasid_supported & ~1. */
export function intel_enable_pasid(tx: Tx, f: number): void {
  const m = getInfo(tx, f);
  if (!m.pasid_supported || m.pasid_enabled) return;
  const features = pci_pasid_features(tx, f);
  if (features < 0) return;
  if (pci_enable_pasid(tx, f, features) === 0) mutInfo(tx, f).pasid_enabled = true;
}

/** PASID off, after ATS (release, or iommu_disable_dev_iotlb() before ccb02b27bb50). */
export function intel_disable_pasid(tx: Tx, f: number): void {
  if (!getInfo(tx, f).pasid_enabled) return;
  pci_disable_pasid(tx, f);
  mutInfo(tx, f).pasid_enabled = false;
}

/**
 * v6.1 iommu_enable_pci_caps(): PASID (when not enabled at probe), then ATS. v6.12 enables ATS
 * only (PASID moved to probe, ccb02b27bb50).
 */
export function iommu_enable_pci_caps(tx: Tx, f: number): void {
  if (!tx.kernel.switches['vtd-pasid-at-probe']) intel_enable_pasid(tx, f);
  iommu_enable_pci_ats(tx, f);
}

/** iommu_disable_pci_caps() (v6.1 iommu_disable_dev_iotlb(): ATS, then PASID). */
export function iommu_disable_pci_caps(tx: Tx, f: number): void {
  iommu_disable_pci_ats(tx, f);
  if (!tx.kernel.switches['vtd-pasid-at-probe']) intel_disable_pasid(tx, f);
}
