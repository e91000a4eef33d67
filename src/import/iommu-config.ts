/**
 * The `iommu:` mapping of scenarios and machine files: which IOMMU and Linux driver (SMMUv3, VT-d,
 * AMD-Vi) and its features, validated with a clear error naming the file, line and key.
 */
import * as z from 'zod';
import type { AmdConfig, IommuDriverName, IommuFeatures, VtdConfig } from '../model/world.js';
import { canonicalBdf } from '../pci/bdf.js';
import type { YamlSource } from './yaml-source.js';

export const IOMMU_DRIVER_NAMES = ['smmuv3', 'vtd', 'amd'] as const;
export const VTD_MODES = ['legacy', 'scalable'] as const;
export const PAGE_SIZES = ['4K', '16K', '64K'] as const;

const bool = z.boolean({ error: 'expected true or false' });
const enumOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `expected one of ${values.join(', ')}` });
const BDF_ERROR = 'expected a PCI address such as 0000:00:02.0';
const BdfList = z
  .string({ error: BDF_ERROR })
  .refine((t) => canonicalBdf(t) !== null, { error: `${BDF_ERROR} (hex bus:device.function)` });

export const IommuSchema = z.strictObject(
  {
    driver: enumOf(IOMMU_DRIVER_NAMES)
      .optional()
      .describe(
        'the IOMMU and its Linux driver: smmuv3 (ARM), vtd (Intel VT-d) or amd (AMD-Vi); default smmuv3',
      ),
    mode: enumOf(VTD_MODES)
      .optional()
      .describe('vtd only: scalable mode (PASID tables) or legacy mode (context entries); default scalable'),
    atsr: z
      .union([z.literal('all'), z.array(BdfList, { error: 'expected a list of PCI addresses' })], {
        error: 'expected all, or a list of root-port PCI addresses',
      })
      .optional()
      .describe(
        'vtd only: the ACPI DMAR ATSR units: the root ports whose devices may use ATS, or all (an ATSR with ALL_PORTS); default all',
      ),
    iotlb: bool
      .optional()
      .describe('amd only: amd_iommu_iotlb_sup, the IOMMU supports remote IOTLBs (ATS); default true'),
    ats: bool
      .optional()
      .describe('smmuv3: ARM_SMMU_FEAT_ATS; vtd: ECAP.DT, Device-TLB support (default true)'),
    stage1: bool.optional().describe('smmuv3 only: ARM_SMMU_FEAT_TRANS_S1 (default true)'),
    stage2: bool.optional().describe('smmuv3 only: ARM_SMMU_FEAT_TRANS_S2 (default true)'),
    ssidBits: z
      .int({ error: 'expected 0..20' })
      .min(0, { error: 'expected 0..20' })
      .max(20, { error: 'expected 0..20' })
      .optional()
      .describe('smmuv3 only: SubstreamID bits (default 20; 0: no PASIDs)'),
    pageSize: enumOf(PAGE_SIZES)
      .optional()
      .describe('smmuv3 only: the smallest page size, programmed as the STU (default 4K)'),
    msiThroughIommu: bool
      .optional()
      .describe('smmuv3 only: MSIs are translated by the IOMMU, as on ARM (default true)'),
  },
  { error: 'expected a mapping of IOMMU driver and features' },
);

const PAGE_SHIFT: Readonly<Record<string, number>> = { '4K': 12, '16K': 14, '64K': 16 };

/** A parsed iommu mapping: the driver, the features it sets, and the driver's own settings. */
export interface IommuConfigInput {
  readonly driver: IommuDriverName;
  readonly features: Partial<IommuFeatures>;
  readonly vtd: Partial<VtdConfig>;
  readonly amd: Partial<AmdConfig>;
}

/** Keys of the iommu mapping that only one driver reads. */
const DRIVER_ONLY_KEYS: Readonly<Record<string, IommuDriverName>> = {
  mode: 'vtd',
  atsr: 'vtd',
  iotlb: 'amd',
  stage1: 'smmuv3',
  stage2: 'smmuv3',
  ssidBits: 'smmuv3',
  pageSize: 'smmuv3',
  msiThroughIommu: 'smmuv3',
};

export const NO_IOMMU_CONFIG: IommuConfigInput = { driver: 'smmuv3', features: {}, vtd: {}, amd: {} };

/**
 * Validates the iommu mapping at `path` of a YAML source: InputErrors name file:line:col, the key
 * and what was expected (a setting of another driver is refused).
 */
export function parseIommuConfig(
  src: YamlSource,
  code: string,
  path: readonly (string | number)[],
  raw: unknown,
): IommuConfigInput {
  if (raw === undefined) return NO_IOMMU_CONFIG;
  const r = IommuSchema.safeParse(raw);
  if (!r.success) throw src.zodError(code, path, raw, r.error);
  const m = r.data;
  const driver: IommuDriverName = m.driver ?? 'smmuv3';
  for (const [key, only] of Object.entries(DRIVER_ONLY_KEYS))
    if ((m as Record<string, unknown>)[key] !== undefined && only !== driver)
      throw src.error(
        code,
        path,
        `${key} is a setting of the ${only} driver, but iommu.driver is ${driver}`,
        key,
      );
  if (m.ats !== undefined && driver === 'amd')
    throw src.error(code, path, 'for amd, ATS support is iotlb (amd_iommu_iotlb_sup)', 'ats');
  const features: { -readonly [K in keyof IommuFeatures]?: IommuFeatures[K] } = {};
  if (m.ats !== undefined) features.ats = m.ats;
  if (m.stage1 !== undefined) features.stage1 = m.stage1;
  if (m.stage2 !== undefined) features.stage2 = m.stage2;
  if (m.ssidBits !== undefined) features.ssidBits = m.ssidBits;
  if (m.pageSize !== undefined) features.pageShift = PAGE_SHIFT[m.pageSize]!;
  if (m.msiThroughIommu !== undefined) features.msiThroughIommu = m.msiThroughIommu;
  const vtd: { -readonly [K in keyof VtdConfig]?: VtdConfig[K] } = {};
  if (m.mode !== undefined) vtd.mode = m.mode;
  if (m.atsr !== undefined) vtd.atsr = m.atsr === 'all' ? 'all' : m.atsr.map((t) => canonicalBdf(t)!);
  const amd: { -readonly [K in keyof AmdConfig]?: AmdConfig[K] } = {};
  if (m.iotlb !== undefined) amd.iotlb = m.iotlb;
  return { driver, features, vtd, amd };
}
