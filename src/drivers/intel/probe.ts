/**
 * VT-d probe, probe_finalize and release of a device (iommu.c intel_iommu_probe_device(),
 * intel_iommu_probe_finalize(), intel_iommu_release_device(), device_def_domain_type()).
 *
 * Probe records whether ATS may be used (info->ats_supported: ECAP.DT, pci_ats_supported() and an
 * ATSR covering the root port, dmar_ats_supported()) and the invalidation queue depth. With
 * `pci-prepare-ats` (2665d975db35) it programs the STU of an ATS-supported device with
 * pci_prepare_ats(VTD_PAGE_SHIFT); the result is ignored until `vtd-fail-probe-on-prepare-error`
 * (eab000d501af, v7.3) fails the probe. In scalable mode the context entry gets its Device-TLB
 * Enable bit for an ats_supported device (intel_pasid_setup_sm_context()).
 *
 * PASID is enabled at probe from ccb02b27bb50 (`vtd-pasid-at-probe`), at probe_finalize from
 * 5518f239aff1 (`vtd-sm-ats-at-probe`), which also enables ATS there in scalable mode.
 */
import type { DomainType } from '../../iommu/domain-type.js';
import { EBUSY } from '../../kernel/errno.js';
import { WARN_ON, traceReturn } from '../../kernel/events.js';
import type { Tx } from '../../model/tx.js';
import { pci_ats_queue_depth, pci_ats_supported, pci_prepare_ats } from '../../pci/ats.js';
import { pci_pasid_features } from '../../pci/pasid.js';
import { atsFollowsDomain, intel_ats_follow_domain } from './attach.js';
import {
  iommu_disable_pci_ats,
  iommu_enable_pci_ats,
  intel_disable_pasid,
  intel_enable_pasid,
} from './ats.js';
import { dmar_ats_supported } from './dmar-ats.js';
import { context_clear, pasid_entry_clear } from './entries.js';
import { VTD_PAGE_SHIFT, domainDelDev, getInfo, initialIntelInfo, mutInfo, sm_supported } from './info.js';

/** Frees the info: everything back to "not probed" (the context entry is cleared by the callers). */
function freeInfo(tx: Tx, f: number): void {
  const w = mutInfo(tx, f);
  const init = initialIntelInfo(tx.world, f);
  w.probed = false;
  w.ats_supported = init.ats_supported;
  w.ats_enabled = false;
  w.ats_qdep = 0;
  w.pasid_supported = false;
  w.pasid_enabled = false;
  w.domain_attached = false;
  w.domain = -1;
  w.sm_dte = false;
}

/** intel_iommu_probe_device(): 0 or a negative errno (the function then has no IOMMU). */
export function intel_iommu_probe_device(tx: Tx, f: number): number {
  const m = getInfo(tx, f);
  const bdf = tx.info(f).bdf;
  if (WARN_ON(tx, m.probed, 'intel_iommu_probe_device', bdf, 'device already probed')) return -EBUSY;
  const sw = tx.kernel.switches;
  const sm = sm_supported(tx);
  const atsSupported = tx.world.iommu.features.ats && pci_ats_supported(tx, f) && dmar_ats_supported(tx, f);
  const w = mutInfo(tx, f);
  w.probed = true;
  w.ats_supported = atsSupported;
  w.ats_qdep = atsSupported ? pci_ats_queue_depth(tx, f) : 0;
  w.pasid_supported = sm && tx.world.iommu.features.ssidBits > 0 && pci_pasid_features(tx, f) >= 0;
  if (sw['pci-prepare-ats'] && pci_ats_supported(tx, f)) {
    let ret = tx.injectedFailure('pci_prepare_ats', f);
    if (ret !== 0) traceReturn(tx, 'pci_prepare_ats', bdf, ret);
    else ret = pci_prepare_ats(tx, f, VTD_PAGE_SHIFT);
    if (ret !== 0 && sw['vtd-fail-probe-on-prepare-error']) {
      freeInfo(tx, f);
      return ret;
    }
  }
  if (sm) mutInfo(tx, f).sm_dte = atsSupported;
  if (sw['vtd-pasid-at-probe'] && !sw['vtd-sm-ats-at-probe']) intel_enable_pasid(tx, f);
  return 0;
}

/**
 * intel_iommu_probe_finalize() (5518f239aff1 and its boot-failure follow-up): PASID, then in
 * scalable mode ATS, after the default domain is attached. Under `vtd-ats-follows-domain` the RID
 * domain decides.
 */
export function intel_iommu_probe_finalize(tx: Tx, f: number): void {
  if (!getInfo(tx, f).probed || !tx.kernel.switches['vtd-sm-ats-at-probe']) return;
  intel_enable_pasid(tx, f);
  if (!sm_supported(tx)) return;
  if (atsFollowsDomain(tx)) intel_ats_follow_domain(tx, f);
  else iommu_enable_pci_ats(tx, f);
}

/**
 * intel_iommu_release_device(): ATS off (if still on), PASID off, the scalable-mode context torn
 * down, the info freed. In v6.1 (no release domain) dmar_remove_one_dev_info() also clears the
 * entries and leaves the domain here; in scalable mode it tears the PASID entries down first, so
 * their device-TLB flush goes out while ATS is still on, and only then turns ATS and PASID off
 * (iommu_disable_dev_iotlb()). In legacy mode it turns ATS off before it clears the context entry.
 */
export function intel_iommu_release_device(tx: Tx, f: number): void {
  const m = getInfo(tx, f);
  if (!m.probed) return;
  const sm = sm_supported(tx);
  const entriesFirst = sm && !tx.kernel.switches['vtd-blocking-domain'];
  if (entriesFirst) clearPasidEntries(tx, f);
  iommu_disable_pci_ats(tx, f);
  intel_disable_pasid(tx, f);
  if (!sm) context_clear(tx, f);
  else if (!entriesFirst) clearPasidEntries(tx, f);
  if (m.domain >= 0) domainDelDev(tx, m.domain, f, 0);
  freeInfo(tx, f);
}

/** intel_pasid_tear_down_entry() for every PASID entry of f. */
function clearPasidEntries(tx: Tx, f: number): void {
  const p = getInfo(tx, f).pasids;
  for (let i = 0; i < p.length; i += 3) pasid_entry_clear(tx, f, p[i]!);
}

/** device_def_domain_type(): no preference (the model's VT-d has ECAP.PT; the Azalia quirk is not modelled). */
export function device_def_domain_type(_tx: Tx, _f: number): DomainType | 0 {
  return 0;
}
