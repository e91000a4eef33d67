/**
 * Building a World and its initial state from a machine, a kernel and an IOMMU configuration.
 * The initial state is the machine just after PCI enumeration (quirks, pci_ats_init, PRI/PASID
 * init), before any IOMMU probe: run the `boot` operation to probe.
 */
import type { KernelConfig } from '../kernel/config.js';
import { InputError } from '../diagnostics.js';
import { formatBdf, fromRoutingId, parseBdf, routingId, type Bdf } from '../pci/bdf.js';
import type { PciFunction } from '../pci/function.js';
import { bdfOrder, initialPciDevs, pciDevInfoFromMachine, pci_enumerate_device } from '../pci/pci-dev.js';
import { inferredVf, type Machine, type MachineFunction } from '../pci/topology.js';
import type { IommuDriverOps } from '../iommu/driver-ops.js';
import { withFingerprint } from './fingerprint.js';
import type { DeviceState, Group, GroupDev, SystemState, ThreadState } from './state.js';
import { Tx } from './tx.js';
import type { AmdConfig, IommuDriverName, IommuFeatures, VtdConfig, World, WorldGroup } from './world.js';

export const DEFAULT_IOMMU_FEATURES: IommuFeatures = {
  ats: true,
  stage1: true,
  stage2: true,
  ssidBits: 20,
  pageShift: 12,
  msiThroughIommu: true,
};

/** VT-d defaults: scalable mode, one ATSR with ALL_PORTS. */
export const DEFAULT_VTD: VtdConfig = { mode: 'scalable', atsr: 'all' };
/** AMD-Vi defaults: remote IOTLBs supported. */
export const DEFAULT_AMD: AmdConfig = { iotlb: true };

/**
 * The IOMMU features a driver starts from. On x86 (VT-d, AMD-Vi) MSIs go through interrupt
 * remapping, not the DMA domain; VT-d has PASIDs only in scalable mode; the page shift is 12
 * (VTD_PAGE_SHIFT, AMD's PAGE_SHIFT).
 */
export function driverFeatureDefaults(
  driver: IommuDriverName,
  vtd: VtdConfig,
  amd: AmdConfig,
): IommuFeatures {
  if (driver === 'smmuv3') return DEFAULT_IOMMU_FEATURES;
  return {
    ...DEFAULT_IOMMU_FEATURES,
    ats: driver === 'amd' ? amd.iotlb : true,
    ssidBits: driver === 'vtd' && vtd.mode === 'scalable' ? 20 : 0,
    pageShift: 12,
    msiThroughIommu: false,
  };
}

export interface WorldOptions {
  readonly kernel: KernelConfig;
  readonly ops: IommuDriverOps;
  /** The IOMMU driver the ops table belongs to (default smmuv3). */
  readonly driver?: IommuDriverName;
  readonly vtd?: Partial<VtdConfig>;
  readonly amd?: Partial<AmdConfig>;
  readonly features?: Partial<IommuFeatures>;
  /** IOMMU groups that hold more than one function (by BDF); every other function gets its own. */
  readonly groups?: readonly (readonly Bdf[])[];
  /** Functions with RMRs (require_direct). */
  readonly requireDirect?: readonly Bdf[];
  readonly physPages?: number;
  readonly iovaPages?: number;
  /**
   * VF slots per SR-IOV PF whose VF Enable is off in the machine: up to min(TotalVFs, vfSlots) VF
   * functions are added (absent until `sriov-enable`). Default 2.
   */
  readonly vfSlots?: number;
}

/** Default number of VF slots per PF (WorldOptions.vfSlots). */
export const DEFAULT_VF_SLOTS = 2;

/**
 * A VF slot of a PF whose VF Enable is off in the machine, built the way topology.ts infers VFs
 * (PF's vendor, SR-IOV VF Device ID, unknown config space), plus an ATS capability when the PF has
 * one: at the PF's ATS offset, with the PF's capability bits, disabled, STU field 0 (a VF's STU is
 * its PF's). No PASID/PRI (VFs share the PF's) and no Express capability (unknown).
 */
function vfSlotFunction(pf: PciFunction, bdf: Bdf, vfDeviceId: number | null): PciFunction {
  const vf = inferredVf(pf, bdf, vfDeviceId);
  const a = pf.ats;
  if (a === null) return vf;
  return {
    ...vf,
    ats: {
      offset: a.offset,
      queueDepthRaw: a.queueDepthRaw,
      pageAligned: a.pageAligned,
      globalInvalidate: a.globalInvalidate,
      enabled: false,
      stuRaw: 0,
    },
    unknown: vf.unknown.filter((u) => u !== 'ats'),
  };
}

/** End of the bus range a PF's VFs may use: its upstream bridge's subordinate bus, 0xff on a root bus. */
function busEnd(machine: Machine, mf: MachineFunction): number {
  if (mf.parent === null) return 0xff;
  const h = machine.functions[mf.parent]!.fn.header;
  return Math.max(h.subordinateBus ?? 0, h.secondaryBus ?? 0);
}

/**
 * The machine with VF slots added (iov.c pci_iov_virtfn_bus()/_devfn() placement, stopping at the
 * PF's bus range or a taken address), or the machine itself when there are none to add. The slots
 * are appended after the input's functions, so every function of the input keeps its index (a
 * scenario bound to the input machine stays valid); Machine.functions is then in BDF order only up
 * to the slots. A slot's topology is its PF's (pci_upstream_bridge() of a VF is the PF's, and so is
 * its untrusted bit).
 */
export function withVfSlots(machine: Machine, slots: number): Machine {
  let functions: MachineFunction[] | null = null;
  let byBdf: Map<Bdf, number> | null = null;
  for (const mf of machine.functions) {
    const s = mf.fn.sriov;
    if (mf.isVirtfn || s === null || s.vfEnable === true) continue;
    const k = Math.min(s.totalVFs ?? 0, slots);
    const off = s.firstVfOffset;
    const stride = s.vfStride;
    if (k <= 0 || off === null || stride === null || off === 0 || (k > 1 && stride === 0)) continue;
    const parts = parseBdf(mf.fn.bdf);
    if (parts === null) continue;
    const end = busEnd(machine, mf);
    const added: number[] = [];
    for (let n = 0; n < k; n++) {
      const rid = routingId(parts) + off + n * stride;
      if (rid > 0xffff || rid >> 8 > end) break;
      const bdf = formatBdf(fromRoutingId(parts.segment, rid));
      functions ??= machine.functions.slice();
      byBdf ??= new Map(machine.byBdf);
      if (byBdf.has(bdf)) break;
      const index = functions.length;
      functions.push({
        fn: vfSlotFunction(mf.fn, bdf, s.vfDeviceId),
        index,
        parent: mf.parent,
        isVirtfn: true,
        physfn: mf.index,
        vfs: [],
        externalFacing: false,
        untrusted: mf.untrusted,
      });
      byBdf.set(bdf, index);
      added.push(index);
    }
    if (added.length !== 0) functions![mf.index] = { ...mf, vfs: [...mf.vfs, ...added] };
  }
  if (functions === null || byBdf === null) return machine;
  return { functions, byBdf, diagnostics: machine.diagnostics };
}

/** Function f is a VF slot: a VF whose PF has VF Enable off in the machine (absent until sriov-enable). */
export function isVfSlot(world: World, f: number): boolean {
  const info = world.infos[f]!;
  if (!info.isVirtfn || info.physfn < 0) return false;
  return world.machine.functions[info.physfn]!.fn.sriov?.vfEnable !== true;
}

function indexOf(machine: Machine, bdf: Bdf, what: string): number {
  const i = machine.byBdf.get(bdf);
  if (i === undefined)
    throw new InputError({ code: 'unknown-bdf', message: `${what}: no function ${bdf} in the machine` });
  return i;
}

export function createWorld(input: Machine, opts: WorldOptions): World {
  const machine = withVfSlots(input, opts.vfSlots ?? DEFAULT_VF_SLOTS);
  const infos = pciDevInfoFromMachine(machine);
  const driver = opts.driver ?? 'smmuv3';
  const vtd: VtdConfig = { ...DEFAULT_VTD, ...opts.vtd };
  const amd: AmdConfig = { ...DEFAULT_AMD, ...opts.amd };
  const features: IommuFeatures = { ...driverFeatureDefaults(driver, vtd, amd), ...opts.features };
  if (typeof vtd.atsr !== 'string') for (const b of vtd.atsr) indexOf(machine, b, 'vtd atsr');
  const n = machine.functions.length;
  const groupOf = new Array<number>(n).fill(-1);
  const groups: WorldGroup[] = [];
  for (const list of opts.groups ?? []) {
    const members = list.map((b) => indexOf(machine, b, 'group')).sort((a, b) => a - b);
    for (const m of members) {
      if (groupOf[m] !== -1)
        throw new InputError({
          code: 'group-overlap',
          message: `${machine.functions[m]!.fn.bdf} is in two groups`,
        });
      groupOf[m] = groups.length;
    }
    groups.push({ members });
  }
  for (const i of bdfOrder(infos)) {
    if (groupOf[i] !== -1) continue;
    groupOf[i] = groups.length;
    groups.push({ members: [i] });
  }
  const requireDirect = new Array<boolean>(n).fill(false);
  for (const b of opts.requireDirect ?? []) requireDirect[indexOf(machine, b, 'requireDirect')] = true;
  const maxPasids = infos.map((info) => {
    if (info.pasidCapOffset === 0 && !info.isVirtfn) return 0;
    // A VF uses its PF's PASID capability (pci_max_pasids() reads the PF).
    const pf = info.isVirtfn ? infos[info.physfn] : info;
    if (pf === undefined || pf.pasidCapOffset === 0) return 0;
    const width = (pf.pasidCapReg >> 8) & 0x1f;
    return Math.min(1 << features.ssidBits, 1 << width);
  });
  return {
    machine,
    infos,
    kernel: opts.kernel,
    iommu: { driver, features, vtd, amd },
    ops: opts.ops,
    groups,
    groupOf,
    requireDirect,
    maxPasids,
    physPages: opts.physPages ?? 8,
    iovaPages: opts.iovaPages ?? 8,
  };
}

export const INITIAL_DEVICE: DeviceState = {
  present: true,
  driver: 0,
  msiInUse: false,
  resetting: false,
  unresponsive: false,
  holdAtc: false,
  atc: [],
  pendingInv: 0,
};

export const INITIAL_GROUP: Group = {
  domain: -1,
  defaultDomain: -1,
  blockingDomain: -1,
  owner: 0,
  ownerCnt: 0,
  recoveryCnt: 0,
  pasids: [],
};

export const INITIAL_GDEV: GroupDev = { probed: false, blocked: false, resetDepth: 0 };

/** A function that is not (or no longer) there: a VF slot before sriov-enable, a hot-unplugged function. */
export const ABSENT_DEVICE: DeviceState = { ...INITIAL_DEVICE, present: false };

/** The state after PCI enumeration, with `threads` idle threads. VF slots are absent and not enumerated. */
export function initialState(world: World, threads = 1): SystemState {
  const n = world.infos.length;
  const threadList: ThreadState[] = Array.from({ length: threads }, () => ({ pc: 0, cont: null }));
  const pre: SystemState = {
    pci: initialPciDevs(world.machine),
    devs: Array.from({ length: n }, (_, f) => (isVfSlot(world, f) ? ABSENT_DEVICE : INITIAL_DEVICE)),
    gdevs: Array.from({ length: n }, () => INITIAL_GDEV),
    groups: world.groups.map(() => INITIAL_GROUP),
    domains: [],
    masters: world.infos.map((_, f) => world.ops.initialMaster(world, f)),
    drv: world.ops.initialGlobal(world),
    globalPasids: [],
    mem: { pages: new Array<number>(world.physPages).fill(0) },
    threads: threadList,
    faults: [],
    fpHi: 0,
    fpLo: 0,
  };
  const tx = new Tx(world, pre);
  for (const i of bdfOrder(world.infos)) if (!isVfSlot(world, i)) pci_enumerate_device(tx, i);
  return withFingerprint(tx.commit());
}
