/**
 * AMD-Vi attach and detach (iommu.c amd_iommu_attach_device(), attach_device(), detach_device(),
 * pdev_enable_caps() / pdev_enable_cap_ats(), pdev_disable_caps(), set_dte_entry(),
 * clear_dte_entry(), blocked_domain_attach_device()).
 *
 * Every attach first detaches the device from its old domain (ATS off, DTE cleared, the remote
 * IOTLB flushed while ATS is on), then attaches: ATS on through pdev_enable_caps() when
 * amd_iommu_iotlb_sup and the ATS_SUP flag allow (any domain, identity included), then the DTE
 * with its I bit. pci_enable_ats() errors are not propagated: the attach never fails. The blocked
 * domain only detaches.
 */
import { isPagingDomain, IOMMU_DOMAIN_BLOCKED, IOMMU_DOMAIN_IDENTITY } from '../../iommu/domain-type.js';
import { traceReturn } from '../../kernel/events.js';
import type { Tx } from '../../model/tx.js';
import { pci_ats_queue_depth, pci_disable_ats, pci_enable_ats } from '../../pci/ats.js';
import {
  DTE_NONE,
  DTE_PASS_THROUGH,
  DTE_TRANSLATE,
  amdDomainSetDev,
  getDevData,
  mutDevData,
} from './dev-data.js';
import { amd_flush_iotlb_all_sync } from './invalidate.js';

/** PAGE_SHIFT, the STU AMD-Vi programs. */
export const AMD_PAGE_SHIFT = 12;

function emitDte(tx: Tx, f: number): void {
  const m = getDevData(tx, f);
  tx.emit({
    kind: 'dev-entry',
    iommu: 'amd',
    bdf: tx.info(f).bdf,
    entry: 'dte',
    mode: m.dte_mode === DTE_NONE ? 'clear' : m.dte_mode === DTE_PASS_THROUGH ? 'pass-through' : 'translate',
    devtlb: m.dte_iotlb,
  });
}

/** pdev_enable_cap_ats(): already on, or iotlb_sup and ATS_SUP, then pci_enable_ats(); the error is returned, not acted on. */
function pdev_enable_cap_ats(tx: Tx, f: number): number {
  const m = getDevData(tx, f);
  if (m.ats_enabled) return 0;
  if (!tx.world.iommu.amd.iotlb || !m.ats_sup) return 0;
  const bdf = tx.info(f).bdf;
  let ret = tx.injectedFailure('pci_enable_ats', f);
  if (ret !== 0) traceReturn(tx, 'pci_enable_ats', bdf, ret);
  else ret = pci_enable_ats(tx, f, AMD_PAGE_SHIFT);
  if (ret === 0) {
    const w = mutDevData(tx, f);
    w.ats_enabled = true;
    w.ats_qdep = pci_ats_queue_depth(tx, f);
  }
  return ret;
}

/** pdev_disable_cap_ats(). */
function pdev_disable_cap_ats(tx: Tx, f: number): void {
  if (!getDevData(tx, f).ats_enabled) return;
  pci_disable_ats(tx, f);
  const w = mutDevData(tx, f);
  w.ats_enabled = false;
  w.ats_qdep = 0;
}

/** detach_device(): flush the remote IOTLB while ATS is on, ATS off, clear the DTE, leave the domain. */
export function detach_device(tx: Tx, f: number): void {
  const m = getDevData(tx, f);
  if (m.dte_mode === DTE_NONE && m.domain < 0 && !m.ats_enabled) return;
  if (m.ats_enabled) amd_flush_iotlb_all_sync(tx, f);
  pdev_disable_cap_ats(tx, f);
  const w = mutDevData(tx, f);
  w.dte_mode = DTE_NONE;
  w.dte_domain = -1;
  w.dte_iotlb = false;
  emitDte(tx, f);
  const dom = m.domain >= 0 ? tx.domainOrNull(m.domain) : null;
  if (dom !== null && dom.iotlb.length > 0) tx.mutDomain(m.domain).iotlb = [];
  if (m.domain >= 0) amdDomainSetDev(tx, m.domain, f, false);
  mutDevData(tx, f).domain = -1;
}

/** attach_device(): pdev_enable_caps() (errors ignored), then the DTE for the domain. */
function attach_device(tx: Tx, d: number, f: number): void {
  pdev_enable_cap_ats(tx, f);
  const identity = tx.domain(d).type === IOMMU_DOMAIN_IDENTITY;
  const w = mutDevData(tx, f);
  w.domain = d;
  w.dte_mode = identity ? DTE_PASS_THROUGH : DTE_TRANSLATE;
  w.dte_domain = identity ? -1 : d;
  w.dte_iotlb = getDevData(tx, f).ats_enabled;
  emitDte(tx, f);
  amdDomainSetDev(tx, d, f, true);
}

/**
 * amd_iommu_attach_device() / blocked_domain_attach_device(): always 0. The domain the function
 * already has is not attached again (amd_iommu_attach_device(): same domain, return 0).
 */
export function amd_attach_dev(tx: Tx, d: number, f: number): number {
  const m = getDevData(tx, f);
  if (!m.probed) return 0;
  const type = tx.domain(d).type;
  if (type !== IOMMU_DOMAIN_BLOCKED && m.domain === d) return 0;
  detach_device(tx, f);
  if (type === IOMMU_DOMAIN_BLOCKED) return 0;
  if (type !== IOMMU_DOMAIN_IDENTITY && !isPagingDomain(type)) return 0;
  attach_device(tx, d, f);
  return 0;
}
