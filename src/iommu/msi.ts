/**
 * MSIs through the IOMMU (ARM: the GIC ITS doorbell is reached by DMA, so it must be mapped in the
 * domain the device translates through): drivers/iommu/iommu.c iommu_dma_prepare_msi() and the
 * MSI cookies of drivers/iommu/dma-iommu.c (iommu_dma_sw_msi) and VFIO/iommufd, written anew.
 *
 * The doorbell mapping lives in the domain (`Domain.msiDoorbell`); a device whose driver allocated
 * vectors is `DeviceState.msiInUse`. When the group later moves to a domain without the doorbell
 * (VFIO claiming a multi-device group, thread 1's discussion), those interrupts are lost.
 */
import { EOPNOTSUPP } from '../kernel/errno.js';
import { DRIVER_VFIO } from '../model/state.js';
import type { Tx } from '../model/tx.js';
import { IOMMU_DOMAIN_IDENTITY, isDmaApiDomain } from './domain-type.js';
import { deviceGroup, domainLabel, iommuEvent } from './group.js';

/** Domain.allocator of a VFIO/iommufd user's domain. */
export const ALLOCATOR_USER = 1;

/**
 * Whether domain d has a cookie that can map the MSI doorbell: the DMA-API cookie of a default
 * domain (IOMMU_COOKIE_DMA_IOVA) or a user-space owner's MSI cookie (VFIO's IOMMU_COOKIE_DMA_MSI,
 * iommufd's sw_msi). The blocked domain and the core's empty blocking domain have none.
 */
function hasMsiCookie(tx: Tx, d: number): boolean {
  const dom = tx.domain(d);
  return isDmaApiDomain(dom.type) || dom.allocator === ALLOCATOR_USER;
}

/**
 * iommu.c iommu_dma_prepare_msi() for one device's vectors (CONFIG_IRQ_MSI_IOMMU): with the group
 * on a translating domain, map the doorbell through its cookie (-EOPNOTSUPP without one, which
 * fails the driver's MSI allocation); an IDENTITY domain passes MSIs through untranslated.
 * Without `features.msiThroughIommu` the function does nothing. On success the device's MSIs are
 * in use (`msiInUse`).
 */
export function iommu_dma_prepare_msi(tx: Tx, f: number): number {
  if (!tx.world.iommu.features.msiThroughIommu) return 0;
  const g = deviceGroup(tx, f);
  if (g >= 0) {
    const d = tx.group(g).domain;
    if (d >= 0 && tx.domain(d).type !== IOMMU_DOMAIN_IDENTITY) {
      if (!hasMsiCookie(tx, d)) {
        iommuEvent(tx, f, 'iommu_dma_prepare_msi', `${domainLabel(tx, d)} has no MSI cookie: -EOPNOTSUPP`);
        return -EOPNOTSUPP;
      }
      if (!tx.domain(d).msiDoorbell) {
        tx.mutDomain(d).msiDoorbell = true;
        iommuEvent(tx, f, 'iommu_dma_prepare_msi', `ITS doorbell mapped in ${domainLabel(tx, d)}`);
      }
    }
  }
  tx.mutDevice(f).msiInUse = true;
  return 0;
}

/**
 * The MSI cookie of a user-space owner's new paging domain (VFIO type1 iommu_get_msi_cookie(), or
 * iommufd's sw_msi): it maps the doorbell only for the owner's own devices' vectors, never a port
 * driver's that shares the group. True when some VFIO-bound device of group g uses MSIs.
 */
export function userDomainNeedsDoorbell(tx: Tx, g: number): boolean {
  if (!tx.world.iommu.features.msiThroughIommu) return false;
  for (const m of tx.world.groups[g]!.members) {
    const dev = tx.device(m);
    if (tx.gdev(m).probed && dev.driver === DRIVER_VFIO && dev.msiInUse) return true;
  }
  return false;
}
