/**
 * AMD-Vi probe and release (iommu.c amd_iommu_probe_device(), pdev_get_caps(),
 * amd_iommu_release_device()). Probe records ATS_SUP (pci_ats_supported()) and, with
 * `pci-prepare-ats` (2665d975db35), calls pci_prepare_ats(PAGE_SHIFT) for every PCI device and
 * ignores the result. The `amd-fail-probe-on-prepare-error` alternative (the AMD patch split out
 * of thread 4) calls it only for ATS-supported devices and fails the probe on an error.
 */
import type { DomainType } from '../../iommu/domain-type.js';
import { EBUSY } from '../../kernel/errno.js';
import { WARN_ON, traceReturn } from '../../kernel/events.js';
import type { Tx } from '../../model/tx.js';
import { pci_ats_supported, pci_prepare_ats } from '../../pci/ats.js';
import { AMD_PAGE_SHIFT, detach_device } from './attach.js';
import { getDevData, initialAmdDevData, mutDevData } from './dev-data.js';

function freeDevData(tx: Tx, f: number): void {
  const init = initialAmdDevData(tx.world, f);
  const w = mutDevData(tx, f);
  w.probed = false;
  w.ats_sup = init.ats_sup;
  w.ats_enabled = false;
  w.ats_qdep = 0;
}

export function amd_iommu_probe_device(tx: Tx, f: number): number {
  const bdf = tx.info(f).bdf;
  if (WARN_ON(tx, getDevData(tx, f).probed, 'amd_iommu_probe_device', bdf, 'device already probed'))
    return -EBUSY;
  const sw = tx.kernel.switches;
  const w = mutDevData(tx, f);
  w.probed = true;
  w.ats_sup = pci_ats_supported(tx, f);
  if (sw['pci-prepare-ats']) {
    const failProbe = sw['amd-fail-probe-on-prepare-error'];
    if (!failProbe || pci_ats_supported(tx, f)) {
      let ret = tx.injectedFailure('pci_prepare_ats', f);
      if (ret !== 0) traceReturn(tx, 'pci_prepare_ats', bdf, ret);
      else ret = pci_prepare_ats(tx, f, AMD_PAGE_SHIFT);
      if (ret !== 0 && failProbe) {
        freeDevData(tx, f);
        return ret;
      }
    }
  }
  return 0;
}

/** amd_iommu_release_device(): the device leaves its domain (ATS off) and its data is freed. */
export function amd_iommu_release_device(tx: Tx, f: number): void {
  if (!getDevData(tx, f).probed) return;
  detach_device(tx, f);
  freeDevData(tx, f);
}

/** amd_iommu_def_domain_type(): no preference for the functions the model covers. */
export function amd_iommu_def_domain_type(_tx: Tx, _f: number): DomainType | 0 {
  return 0;
}
