/**
 * A readable snapshot of a model state for traces: per function (driver, RID domain, ATS at the
 * PCI function and in the IOMMU driver, nr_ats_masters of its domain, ATC, reset state), per group
 * and per domain. Part of the trace contract (docs/trace-format.md); the driver's own records
 * (`master`, `driver`) are included as the model holds them.
 */
import { domainTypeName } from '../iommu/domain-type.js';
import {
  DRIVER_DMA_API,
  DRIVER_MANAGED,
  DRIVER_MSI_ONLY,
  DRIVER_NONE,
  DRIVER_VFIO,
  type DriverKind,
  type DriverRecord,
  type SystemState,
} from '../model/state.js';
import { fingerprintHex } from '../model/hash.js';
import { Tx } from '../model/tx.js';
import type { World } from '../model/world.js';
import type { Bdf } from '../pci/bdf.js';

export type DriverName = 'none' | 'dma' | 'managed' | 'msi-only' | 'vfio';

export function driverName(k: DriverKind): DriverName {
  switch (k) {
    case DRIVER_NONE:
      return 'none';
    case DRIVER_DMA_API:
      return 'dma';
    case DRIVER_MANAGED:
      return 'managed';
    case DRIVER_MSI_ONLY:
      return 'msi-only';
    case DRIVER_VFIO:
      return 'vfio';
  }
}

export interface DomainRef {
  readonly slot: number;
  readonly type: ReturnType<typeof domainTypeName>;
}

export interface FunctionSnapshot {
  readonly bdf: Bdf;
  readonly present: boolean;
  readonly driver: DriverName;
  /** Index of its IOMMU group, -1 without an IOMMU. */
  readonly group: number;
  /** iommu_probe_device() succeeded. */
  readonly probed: boolean;
  /** The domain its RID translates through: the blocking domain while parked for a reset, else group->domain. */
  readonly domain: DomainRef | null;
  /** gdev->blocked (parked for a reset) and gdev->reset_depth. */
  readonly blocked: boolean;
  readonly resetDepth: number;
  /** pdev->ats_enabled, and the STU the kernel programmed (pdev->ats_stu). */
  readonly ats: boolean;
  readonly atsStu: number;
  /** The IOMMU driver's belief (master->ats_enabled); null before probe. */
  readonly driverAts: boolean | null;
  /** nr_ats_masters of its RID domain, when the driver keeps one. */
  readonly nrAtsMasters: number | null;
  readonly pasidEnabled: boolean;
  /** The device's ATC: [pasid, iova page, phys page] triples. */
  readonly atc: readonly (readonly [number, number, number])[];
  readonly resetting: boolean;
  readonly unresponsive: boolean;
  readonly holdAtc: boolean;
  readonly msiInUse: boolean;
  /** The IOMMU driver's record for the function (SMMUv3: struct arm_smmu_master and its STE). */
  readonly master: DriverRecord;
}

export interface GroupSnapshot {
  readonly index: number;
  readonly members: readonly Bdf[];
  readonly domain: DomainRef | null;
  readonly defaultDomain: DomainRef | null;
  readonly blockingDomain: DomainRef | null;
  /** 0: kernel drivers (DMA API); otherwise a user-space owner (1 = VFIO). */
  readonly owner: number;
  readonly ownerCnt: number;
  readonly recoveryCnt: number;
  /** [pasid, domain slot] pairs of group->pasid_array. */
  readonly pasids: readonly (readonly [number, number])[];
}

export interface DomainSnapshot {
  readonly slot: number;
  readonly type: ReturnType<typeof domainTypeName>;
  /** 0 core, 1 VFIO/iommufd, 2 DMA-API PASID user, 3 SVA. */
  readonly allocator: number;
  /** [iova page, phys page] pairs. */
  readonly pt: readonly (readonly [number, number])[];
  readonly iotlb: readonly (readonly [number, number])[];
  readonly fq: readonly (readonly [number, number])[];
  readonly msiDoorbell: boolean;
  /** The IOMMU driver's record (SMMUv3: stage, nr_ats_masters, devices, invs). */
  readonly driver: DriverRecord;
}

export interface Snapshot {
  readonly functions: readonly FunctionSnapshot[];
  readonly groups: readonly GroupSnapshot[];
  readonly domains: readonly DomainSnapshot[];
  readonly globalPasids: readonly number[];
  /** [page, owner] pairs of the physical pages in use (owner: 1 + the domain slot). */
  readonly pages: readonly (readonly [number, number])[];
  /** Kernel-call faults still armed. */
  readonly armedFaults: readonly {
    readonly fn: string;
    readonly bdf: Bdf | null;
    readonly skip: number;
    readonly errno: number;
  }[];
  /** The state fingerprint, 16 hex digits. */
  readonly fingerprint: string;
}

function pairs(a: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i + 1 < a.length; i += 2) out.push([a[i]!, a[i + 1]!]);
  return out;
}

function triples(a: readonly number[]): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let i = 0; i + 2 < a.length; i += 3) out.push([a[i]!, a[i + 1]!, a[i + 2]!]);
  return out;
}

function domainRef(state: SystemState, d: number): DomainRef | null {
  if (d < 0) return null;
  const dom = state.domains[d];
  if (dom === null || dom === undefined) return null;
  return { slot: d, type: domainTypeName(dom.type) };
}

export function snapshotOf(world: World, state: SystemState): Snapshot {
  const view = new Tx(world, state);
  const functions = world.infos.map((info, f): FunctionSnapshot => {
    const g = world.groupOf[f] ?? -1;
    const gdev = state.gdevs[f]!;
    const dev = state.devs[f]!;
    const pci = state.pci[f]!;
    const group = g < 0 ? null : state.groups[g]!;
    const d = group === null ? -1 : gdev.blocked ? group.blockingDomain : group.domain;
    const domain = domainRef(state, d);
    const drv = d >= 0 ? state.domains[d]?.drv : undefined;
    const nr = drv?.nr_ats_masters;
    return {
      bdf: info.bdf,
      present: dev.present,
      driver: driverName(dev.driver),
      group: g,
      probed: gdev.probed,
      domain,
      blocked: gdev.blocked,
      resetDepth: gdev.resetDepth,
      ats: pci.atsEnabled,
      atsStu: pci.atsStu,
      driverAts: gdev.probed ? world.ops.ats_enabled(view, f) : null,
      nrAtsMasters: typeof nr === 'number' ? nr : null,
      pasidEnabled: pci.pasidEnabled,
      atc: triples(dev.atc),
      resetting: dev.resetting,
      unresponsive: dev.unresponsive,
      holdAtc: dev.holdAtc,
      msiInUse: dev.msiInUse,
      master: state.masters[f]!,
    };
  });
  const groups = state.groups.map((g, i): GroupSnapshot => ({
    index: i,
    members: (world.groups[i]?.members ?? []).map((f) => world.infos[f]!.bdf),
    domain: domainRef(state, g.domain),
    defaultDomain: domainRef(state, g.defaultDomain),
    blockingDomain: domainRef(state, g.blockingDomain),
    owner: g.owner,
    ownerCnt: g.ownerCnt,
    recoveryCnt: g.recoveryCnt,
    pasids: pairs(g.pasids),
  }));
  const domains: DomainSnapshot[] = [];
  state.domains.forEach((dom, slot) => {
    if (dom === null) return;
    domains.push({
      slot,
      type: domainTypeName(dom.type),
      allocator: dom.allocator,
      pt: pairs(dom.pt),
      iotlb: pairs(dom.iotlb),
      fq: pairs(dom.fq),
      msiDoorbell: dom.msiDoorbell,
      driver: dom.drv,
    });
  });
  const pages: [number, number][] = [];
  state.mem.pages.forEach((owner, page) => {
    if (owner !== 0) pages.push([page, owner]);
  });
  return {
    functions,
    groups,
    domains,
    globalPasids: state.globalPasids,
    pages,
    armedFaults: state.faults.map((a) => ({
      fn: a.fn,
      bdf: a.f < 0 ? null : (world.infos[a.f]?.bdf ?? null),
      skip: a.skip,
      errno: a.errno,
    })),
    fingerprint: fingerprintHex({ hi: state.fpHi, lo: state.fpLo }),
  };
}
