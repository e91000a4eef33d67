/** IOMMU domain types (include/linux/iommu.h): flag bits combined as the kernel does. */

export const __IOMMU_DOMAIN_PAGING = 1 << 0;
export const __IOMMU_DOMAIN_DMA_API = 1 << 1;
export const __IOMMU_DOMAIN_PT = 1 << 2;
export const __IOMMU_DOMAIN_DMA_FQ = 1 << 3;
export const __IOMMU_DOMAIN_SVA = 1 << 4;

// The values are the kernel's flag combinations, written out so they are literal types.
export const IOMMU_DOMAIN_BLOCKED = 0;
/** __IOMMU_DOMAIN_PT */
export const IOMMU_DOMAIN_IDENTITY = 4;
/** __IOMMU_DOMAIN_PAGING */
export const IOMMU_DOMAIN_UNMANAGED = 1;
/** __IOMMU_DOMAIN_PAGING | __IOMMU_DOMAIN_DMA_API */
export const IOMMU_DOMAIN_DMA = 3;
/** __IOMMU_DOMAIN_PAGING | __IOMMU_DOMAIN_DMA_API | __IOMMU_DOMAIN_DMA_FQ */
export const IOMMU_DOMAIN_DMA_FQ = 11;
/** __IOMMU_DOMAIN_SVA */
export const IOMMU_DOMAIN_SVA = 16;

export type DomainType =
  | typeof IOMMU_DOMAIN_BLOCKED
  | typeof IOMMU_DOMAIN_IDENTITY
  | typeof IOMMU_DOMAIN_UNMANAGED
  | typeof IOMMU_DOMAIN_DMA
  | typeof IOMMU_DOMAIN_DMA_FQ
  | typeof IOMMU_DOMAIN_SVA;

export const IOMMU_NO_PASID = 0;
export const IOMMU_FIRST_GLOBAL_PASID = 1;
export const IOMMU_PASID_INVALID = -1;

export function domainTypeName(
  t: DomainType,
): 'BLOCKED' | 'IDENTITY' | 'UNMANAGED' | 'DMA' | 'DMA_FQ' | 'SVA' {
  switch (t) {
    case IOMMU_DOMAIN_BLOCKED:
      return 'BLOCKED';
    case IOMMU_DOMAIN_IDENTITY:
      return 'IDENTITY';
    case IOMMU_DOMAIN_UNMANAGED:
      return 'UNMANAGED';
    case IOMMU_DOMAIN_DMA:
      return 'DMA';
    case IOMMU_DOMAIN_DMA_FQ:
      return 'DMA_FQ';
    case IOMMU_DOMAIN_SVA:
      return 'SVA';
  }
}

export function isPagingDomain(t: DomainType): boolean {
  return (t & __IOMMU_DOMAIN_PAGING) !== 0;
}

export function isDmaApiDomain(t: DomainType): boolean {
  return (t & __IOMMU_DOMAIN_DMA_API) !== 0;
}
