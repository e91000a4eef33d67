/**
 * `atsim inspect`: for every function of a machine, what the chosen kernel will do with ATS, and
 * why. The verdicts come from the modelled kernel functions (drivers/pci/ats.c and quirks.c, see
 * src/pci/): enumeration runs the ATS quirks and pci_ats_init(); then an IOMMU probe pass calls
 * pci_prepare_ats() with the IOMMU's smallest page shift on every supported function, PFs before
 * their VFs, as arm_smmu_probe_device() / intel_iommu_probe_device() do; then a dry run of
 * pci_enable_ats() tells whether an attach could turn ATS on.
 */
import type { Diagnostic } from '../diagnostics.js';
import { formatLocation } from '../diagnostics.js';
import type { KernelConfig } from '../kernel/config.js';
import { errnoName } from '../kernel/errno.js';
import { switchesOn } from '../kernel/switches.js';
import {
  pci_ats_disabled,
  pci_ats_required,
  pci_ats_required_reason,
  pci_ats_supported,
  pci_cxl_ats_required,
  pci_dev_specific_ats_required,
  pci_disable_ats,
  pci_enable_ats,
  pci_prepare_ats,
} from '../pci/ats.js';
import { atsQueueDepth, PCI_ATS_MIN_STU } from '../pci/caps/ats.js';
import { createPciCtx, type PciCtx } from '../pci/pci-dev.js';
import { ats_quirk_for } from '../pci/quirks.js';
import type { Machine, MachineFunction } from '../pci/topology.js';
import { functionType, type FunctionType } from './function-type.js';
import { dmarAtsSupportedIn } from '../drivers/intel/dmar-ats.js';
import { DEFAULT_AMD, DEFAULT_VTD } from '../model/world-builder.js';
import type { AmdConfig, IommuDriverName, VtdConfig } from '../model/world.js';

/** The IOMMU whose driver decides (default SMMUv3, as before drivers were chosen). */
export interface InspectIommu {
  readonly driver: IommuDriverName;
  /** VT-d: the mode and the DMAR ATSR units (default scalable, ALL_PORTS). */
  readonly vtd?: Partial<VtdConfig>;
  /** AMD-Vi: amd_iommu_iotlb_sup (default true). */
  readonly amd?: Partial<AmdConfig>;
  /** SMMUv3 ATS / VT-d ECAP.DT (default true). */
  readonly ats?: boolean;
}

export interface InspectOptions {
  readonly kernel: KernelConfig;
  /** The IOMMU's smallest page shift, used as the STU at probe (SMMUv3: __ffs(pgsize_bitmap); VT-d and AMD-Vi: 12). */
  readonly pageShift?: number;
  readonly iommu?: InspectIommu;
}

export type AtsDecision =
  /** pci_ats_supported() is false: the kernel never enables ATS on this function. */
  | 'unsupported'
  /** Supported, but pci_prepare_ats() fails at IOMMU probe. */
  | 'prepare-fails'
  /** Supported and prepared, but pci_enable_ats() would fail at attach (e.g. VF STU mismatch). */
  | 'enable-fails'
  /**
   * The PCI core supports it, but the chosen IOMMU driver never enables it: VT-d without an ATSR
   * for the root port, behind a PCI bridge, or without Page Aligned Request; AMD-Vi without
   * iotlb_sup; an IOMMU without ATS.
   */
  | 'iommu-unsupported'
  /** Enabled on demand by the IOMMU driver (translating domains, PASIDs). */
  | 'on-demand'
  /** pci_ats_required(): kept on in every non-blocked domain, identity included (where the IOMMU can). */
  | 'required';

export interface InspectWarning {
  readonly code: string;
  readonly message: string;
  readonly where?: string;
}

export interface InspectAts {
  readonly offset: number;
  readonly queueDepth: number | null;
  readonly pageAligned: boolean | null;
  readonly globalInvalidate: boolean | null;
  readonly enabled: boolean | null;
  readonly stu: number | null;
  readonly supported: boolean;
  readonly required: boolean;
  readonly requiredReason: 'cxl-cache' | 'quirk' | null;
  readonly decision: AtsDecision;
  /** pci_prepare_ats() at probe: 0 or an errno name; null when the kernel does not call it. */
  readonly prepare: string | null;
  /** A dry run of pci_enable_ats() after probe: 0 or an errno name; null when not attempted. */
  readonly enable: string | null;
  /** Why, in the kernel's terms, one line each. */
  readonly reasons: readonly string[];
}

export interface InspectFunction {
  readonly bdf: string;
  readonly vendorId: number | null;
  readonly deviceId: number | null;
  readonly revision: number | null;
  readonly type: FunctionType;
  readonly driver: string | null;
  readonly parent: string | null;
  readonly isVirtfn: boolean;
  readonly physfn: string | null;
  readonly untrusted: boolean;
  readonly externalFacing: boolean;
  readonly flrCapable: boolean | null;
  readonly ats: InspectAts | null;
  readonly pasid: {
    readonly offset: number;
    readonly width: number | null;
    readonly exec: boolean | null;
    readonly priv: boolean | null;
    readonly enabled: boolean | null;
  } | null;
  readonly pri: { readonly offset: number; readonly enabled: boolean | null } | null;
  readonly sriov: {
    readonly offset: number;
    readonly totalVFs: number | null;
    readonly numVFs: number | null;
    readonly vfEnable: boolean | null;
    readonly firstVfOffset: number | null;
    readonly vfStride: number | null;
    readonly vfDeviceId: number | null;
  } | null;
  readonly cxl: {
    readonly cacheCapable: boolean | null;
    readonly ioCapable: boolean | null;
    readonly memCapable: boolean | null;
    readonly hdmCount: number | null;
  } | null;
  readonly warnings: readonly InspectWarning[];
  readonly unknown: readonly string[];
}

export interface InspectReport {
  readonly kernel: string;
  /** The IOMMU driver the verdicts are for, and its settings (VT-d mode and ATSR, AMD iotlb_sup). */
  readonly iommu: {
    readonly driver: IommuDriverName;
    readonly vtd?: VtdConfig;
    readonly amd?: AmdConfig;
  };
  readonly switches: readonly string[];
  readonly cmdline: string;
  readonly pageShift: number;
  readonly functions: readonly InspectFunction[];
  /** Problems with the input that belong to no single function. */
  readonly diagnostics: readonly InspectWarning[];
}

function toWarning(d: Diagnostic): InspectWarning {
  const where = formatLocation(d.where);
  return where === '' ? { code: d.code, message: d.message } : { code: d.code, message: d.message, where };
}

function hex4(n: number | null): string {
  return n === null ? '????' : n.toString(16).padStart(4, '0');
}

/** Probe order: every PF (and non-SR-IOV function) in BDF order, then VFs, as VFs appear only after SR-IOV enable. */
function probeOrder(m: Machine): number[] {
  const pfs: number[] = [];
  const vfs: number[] = [];
  for (const f of m.functions) (f.isVirtfn ? vfs : pfs).push(f.index);
  return [...pfs, ...vfs];
}

interface ProbeResult {
  prepare: number | null;
  enable: number | null;
}

/** The IOMMU probe pass and the enable dry run, in the model (see the module comment). */
function simulateProbe(ctx: PciCtx, m: Machine, ps: number): ProbeResult[] {
  const out: ProbeResult[] = m.functions.map(() => ({ prepare: null, enable: null }));
  // Before 2665d975db35 (`pci-prepare-ats`) there is no pci_prepare_ats(): only the enable runs.
  const prepares = ctx.kernel.switches['pci-prepare-ats'];
  for (const i of probeOrder(m)) {
    if (!pci_ats_supported(ctx, i)) continue;
    if (prepares) out[i]!.prepare = pci_prepare_ats(ctx, i, ps);
  }
  for (const i of probeOrder(m)) {
    const r = out[i]!;
    if (prepares ? r.prepare !== 0 : !pci_ats_supported(ctx, i)) continue;
    r.enable = pci_enable_ats(ctx, i, ps);
    if (r.enable === 0) pci_disable_ats(ctx, i);
  }
  return out;
}

function needsAts(ctx: PciCtx, mf: MachineFunction): 'cxl-cache' | 'quirk' | null {
  // The device's own need for translated requests, whether or not the kernel can give it ATS:
  // pci_ats_required() without its pci_ats_supported() gate, VF→PF.
  const pf = mf.physfn ?? mf.index;
  if (pci_cxl_ats_required(ctx, pf)) return 'cxl-cache';
  if (pci_dev_specific_ats_required(ctx, pf)) return 'quirk';
  return null;
}

/**
 * Why the chosen IOMMU driver would never enable ATS on an ATS-supported function, or null when
 * it would (SMMUv3: arm_smmu_ats_supported(); VT-d: ECAP.DT, dmar_ats_supported() and
 * pci_ats_page_aligned(); AMD-Vi: amd_iommu_iotlb_sup).
 */
function iommuRefusal(machine: Machine, mf: MachineFunction, iommu: InspectIommu): string | null {
  switch (iommu.driver) {
    case 'smmuv3':
      return iommu.ats === false ? 'the SMMU has no ATS (ARM_SMMU_FEAT_ATS)' : null;
    case 'vtd': {
      if (iommu.ats === false) return 'VT-d without Device-TLB support (ECAP.DT)';
      const atsr = iommu.vtd?.atsr ?? DEFAULT_VTD.atsr;
      if (!dmarAtsSupportedIn(machine, mf.index, atsr))
        return 'VT-d dmar_ats_supported(): no DMAR ATSR unit covers its root port (or a PCI bridge is in the path)';
      if (mf.fn.ats?.pageAligned !== true)
        return 'VT-d iommu_enable_pci_ats(): no Page Aligned Request (pci_ats_page_aligned())';
      return null;
    }
    case 'amd':
      return (iommu.amd?.iotlb ?? DEFAULT_AMD.iotlb)
        ? null
        : 'AMD-Vi without remote IOTLB support (amd_iommu_iotlb_sup)';
  }
}

export function inspectMachine(machine: Machine, opts: InspectOptions): InspectReport {
  const iommu: InspectIommu = opts.iommu ?? { driver: 'smmuv3' };
  const ps = iommu.driver === 'smmuv3' ? (opts.pageShift ?? PCI_ATS_MIN_STU) : 12;
  const kernel = opts.kernel;
  const ctx = createPciCtx(machine, kernel);
  // Support and requirement as the kernel answers them after enumeration, before any probe.
  const supported = machine.functions.map((f) => pci_ats_supported(ctx, f.index));
  const required = machine.functions.map((f) => pci_ats_required(ctx, f.index));
  const reasonOf = machine.functions.map((f) => pci_ats_required_reason(ctx, f.index));
  const atsCapAfterInit = machine.functions.map((f) => ctx.dev(f.index).atsCap);
  const probe = simulateProbe(ctx, machine, ps);

  const byBdfDiag = new Map<string, InspectWarning[]>();
  const topLevel: InspectWarning[] = [];
  for (const d of machine.diagnostics) {
    const bdf = d.where !== undefined && 'bdf' in d.where ? d.where.bdf : null;
    if (bdf !== null && machine.byBdf.has(bdf)) {
      const list = byBdfDiag.get(bdf) ?? [];
      list.push(toWarning(d));
      byBdfDiag.set(bdf, list);
    } else topLevel.push(toWarning(d));
  }

  const functions = machine.functions.map((mf): InspectFunction => {
    const fn = mf.fn;
    const i = mf.index;
    const warnings: InspectWarning[] = [...fn.diagnostics.map(toWarning), ...(byBdfDiag.get(fn.bdf) ?? [])];
    const unknown = new Set<string>(fn.unknown);
    const pf = mf.physfn === null ? null : machine.functions[mf.physfn]!;
    const need = needsAts(ctx, mf);

    let ats: InspectAts | null = null;
    if (fn.ats !== null) {
      const a = fn.ats;
      const reasons: string[] = [];
      const r = probe[i]!;
      if (pci_ats_disabled(ctx)) reasons.push('pci=noats: pci_ats_init() leaves ats_cap at 0');
      const quirk = ats_quirk_for(ctx.info(i));
      if (quirk !== null && atsCapAfterInit[i] === 0)
        reasons.push(`${quirk}: ATS disabled by a PCI quirk (ats_cap = 0)`);
      if (mf.untrusted)
        reasons.push('untrusted (below an external-facing port): pci_ats_supported() is false');
      if (pf !== null && supported[i] === false && atsCapAfterInit[i] !== 0 && !mf.untrusted) {
        reasons.push(
          `VF of ${pf.fn.bdf}, which is not ATS-supported; PF-aware pci_ats_supported() follows the PF`,
        );
      }
      let decision: AtsDecision;
      const refusal = supported[i]! ? iommuRefusal(machine, mf, iommu) : null;
      if (!supported[i]!) decision = 'unsupported';
      else if (refusal !== null) {
        decision = 'iommu-unsupported';
        reasons.push(refusal);
      } else if (r.prepare !== null && r.prepare !== 0) {
        decision = 'prepare-fails';
        reasons.push(`pci_prepare_ats(ps=${ps}) returns ${errnoName(r.prepare)}`);
      } else if (r.enable !== null && r.enable !== 0) {
        decision = 'enable-fails';
        reasons.push(
          pf !== null
            ? `pci_enable_ats(ps=${ps}) returns ${errnoName(r.enable)}: the PF's STU (ats_stu=${ctx.dev(pf.index).atsStu}) is not ${ps}`
            : `pci_enable_ats(ps=${ps}) returns ${errnoName(r.enable)}`,
        );
      } else if (required[i]!) {
        decision = 'required';
        reasons.push(
          `pci_ats_required(): ${reasonOf[i] === 'quirk' ? 'pre-CXL device-specific table' : 'CXL.cache capable'}${pf !== null ? ' (inherited from the PF)' : ''}`,
        );
      } else {
        decision = 'on-demand';
        reasons.push('supported: enabled when the IOMMU attaches a translating domain or a PASID');
      }
      ats = {
        offset: a.offset,
        queueDepth: a.queueDepthRaw === null ? null : atsQueueDepth(a.queueDepthRaw),
        pageAligned: a.pageAligned,
        globalInvalidate: a.globalInvalidate,
        enabled: a.enabled,
        stu: a.stuRaw === null ? null : a.stuRaw + PCI_ATS_MIN_STU,
        supported: supported[i]!,
        required: required[i]!,
        requiredReason: reasonOf[i]!,
        decision,
        prepare: r.prepare === null ? null : errnoName(r.prepare),
        enable: r.enable === null ? null : errnoName(r.enable),
        reasons,
      };
      for (const [k, v] of Object.entries(ats))
        if (v === null && k !== 'requiredReason' && k !== 'prepare' && k !== 'enable')
          unknown.add(`ats.${k}`);

      if (a.enabled === true && mf.untrusted) {
        warnings.push({
          code: 'ats-enabled-untrusted',
          message:
            'ATS is enabled on an untrusted function; the kernel never enables it there (translated requests bypass the IOMMU)',
        });
      }
      if (a.enabled === true && fn.pasid !== null && fn.pasid.enabled === false) {
        warnings.push({
          code: 'ats-without-pasid',
          message:
            'ATS is enabled while PASID is not: PASID must be enabled before ATS and disabled after it (PCIe 4.0 §10.5.1.3)',
        });
      }
      if (pf !== null) {
        if (pf.fn.ats === null && !pf.fn.unknown.includes('ats')) {
          warnings.push({
            code: 'vf-pf-no-ats',
            message: `its PF ${pf.fn.bdf} has no ATS capability, so the VF cannot get a valid STU`,
          });
        } else if (pf.fn.ats !== null && atsCapAfterInit[pf.index] === 0) {
          warnings.push({
            code: 'vf-pf-no-ats',
            message: `ATS is disabled on its PF ${pf.fn.bdf} (${pci_ats_disabled(ctx) ? 'pci=noats' : (ats_quirk_for(ctx.info(pf.index)) ?? 'quirk')}): ${supported[i]! ? 'the PF STU is never programmed, so pci_enable_ats() on the VF fails' : 'the VF is not supported either'}`,
          });
        } else if (supported[pf.index]! && ctx.dev(pf.index).atsStu !== ps) {
          warnings.push({
            code: 'vf-pf-stu-mismatch',
            message: `its PF ${pf.fn.bdf} STU (page shift ${ctx.dev(pf.index).atsStu}) differs from the IOMMU page shift ${ps}`,
          });
        }
      }
    }

    if (need !== null && !supported[i]!) {
      const why =
        fn.ats === null
          ? fn.unknown.includes('ats')
            ? 'its ATS capability is not shown'
            : 'it has no ATS capability'
          : mf.untrusted
            ? 'it is untrusted'
            : pci_ats_disabled(ctx)
              ? 'pci=noats'
              : atsCapAfterInit[i] === 0
                ? 'a quirk disabled ATS'
                : pf !== null
                  ? `its PF ${pf.fn.bdf} is not ATS-supported`
                  : 'pci_ats_supported() is false';
      warnings.push({
        code: 'ats-required-unavailable',
        message: `needs ATS (${need === 'cxl-cache' ? 'CXL.cache capable' : 'device-specific'}) but cannot get it: ${why}; the device will not work`,
      });
    } else if (need !== null && !required[i]!) {
      warnings.push({
        code: 'ats-required-unknown-to-kernel',
        message: `needs ATS (${need === 'cxl-cache' ? 'CXL.cache capable' : 'device-specific'}) but kernel ${kernel.preset} has no pci_ats_required(): ATS is only on demand, so in an identity domain the device cannot reach host memory`,
      });
    }

    const flrCapable = fn.express !== null ? fn.express.flrCapable : fn.capabilities !== null ? false : null;
    if (flrCapable === null) unknown.add('flrCapable');
    if (fn.header.vendorId === null) unknown.add('vendorId');
    if (fn.header.deviceId === null) unknown.add('deviceId');
    const type = functionType(fn);
    if (type === 'unknown') unknown.add('type');

    return {
      bdf: fn.bdf,
      vendorId: fn.header.vendorId,
      deviceId: fn.header.deviceId,
      revision: fn.header.revision,
      type,
      driver: fn.driver,
      parent: mf.parent === null ? null : machine.functions[mf.parent]!.fn.bdf,
      isVirtfn: mf.isVirtfn,
      physfn: pf === null ? null : pf.fn.bdf,
      untrusted: mf.untrusted,
      externalFacing: mf.externalFacing,
      flrCapable,
      ats,
      pasid:
        fn.pasid === null
          ? null
          : {
              offset: fn.pasid.offset,
              width: fn.pasid.width,
              exec: fn.pasid.exec,
              priv: fn.pasid.priv,
              enabled: fn.pasid.enabled,
            },
      pri: fn.pri === null ? null : { offset: fn.pri.offset, enabled: fn.pri.enabled },
      sriov:
        fn.sriov === null
          ? null
          : {
              offset: fn.sriov.offset,
              totalVFs: fn.sriov.totalVFs,
              numVFs: fn.sriov.numVFs,
              vfEnable: fn.sriov.vfEnable,
              firstVfOffset: fn.sriov.firstVfOffset,
              vfStride: fn.sriov.vfStride,
              vfDeviceId: fn.sriov.vfDeviceId,
            },
      cxl:
        fn.cxl === null
          ? null
          : {
              cacheCapable: fn.cxl.cacheCapable,
              ioCapable: fn.cxl.ioCapable,
              memCapable: fn.cxl.memCapable,
              hdmCount: fn.cxl.hdmCount,
            },
      warnings,
      unknown: [...unknown].sort(),
    };
  });

  const iommuOut: InspectReport['iommu'] =
    iommu.driver === 'vtd'
      ? { driver: 'vtd', vtd: { ...DEFAULT_VTD, ...iommu.vtd } }
      : iommu.driver === 'amd'
        ? { driver: 'amd', amd: { ...DEFAULT_AMD, ...iommu.amd } }
        : { driver: 'smmuv3' };
  return {
    kernel: kernel.preset,
    iommu: iommuOut,
    switches: switchesOn(kernel.switches),
    cmdline: kernel.cmdline.raw,
    pageShift: ps,
    functions,
    diagnostics: topLevel,
  };
}

/** A short human label for a function: `8086:1452`. */
export function idLabel(f: InspectFunction): string {
  return `${hex4(f.vendorId)}:${hex4(f.deviceId)}`;
}
