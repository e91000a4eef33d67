/**
 * Building a World and its initial state from a machine, a kernel and an IOMMU configuration.
 * The initial state is the machine just after PCI enumeration (quirks, pci_ats_init, PRI/PASID
 * init), before any IOMMU probe: run the `boot` operation to probe.
 */
import type { KernelConfig } from '../kernel/config.js';
import { InputError } from '../diagnostics.js';
import type { Bdf } from '../pci/bdf.js';
import { bdfOrder, initialPciDevs, pciDevInfoFromMachine, pci_enumerate_device } from '../pci/pci-dev.js';
import type { Machine } from '../pci/topology.js';
import type { IommuDriverOps } from '../iommu/driver-ops.js';
import { withFingerprint } from './fingerprint.js';
import type { DeviceState, Group, GroupDev, SystemState, ThreadState } from './state.js';
import { Tx } from './tx.js';
import type { IommuFeatures, World, WorldGroup } from './world.js';

export const DEFAULT_IOMMU_FEATURES: IommuFeatures = {
  ats: true,
  stage1: true,
  stage2: true,
  ssidBits: 20,
  pageShift: 12,
  msiThroughIommu: true,
};

export interface WorldOptions {
  readonly kernel: KernelConfig;
  readonly ops: IommuDriverOps;
  readonly features?: Partial<IommuFeatures>;
  /** IOMMU groups that hold more than one function (by BDF); every other function gets its own. */
  readonly groups?: readonly (readonly Bdf[])[];
  /** Functions with RMRs (require_direct). */
  readonly requireDirect?: readonly Bdf[];
  readonly physPages?: number;
  readonly iovaPages?: number;
}

function indexOf(machine: Machine, bdf: Bdf, what: string): number {
  const i = machine.byBdf.get(bdf);
  if (i === undefined) throw new InputError({ code: 'unknown-bdf', message: `${what}: no function ${bdf} in the machine` });
  return i;
}

export function createWorld(machine: Machine, opts: WorldOptions): World {
  const infos = pciDevInfoFromMachine(machine);
  const features: IommuFeatures = { ...DEFAULT_IOMMU_FEATURES, ...opts.features };
  const n = machine.functions.length;
  const groupOf = new Array<number>(n).fill(-1);
  const groups: WorldGroup[] = [];
  for (const list of opts.groups ?? []) {
    const members = list.map((b) => indexOf(machine, b, 'group')).sort((a, b) => a - b);
    for (const m of members) {
      if (groupOf[m] !== -1) throw new InputError({ code: 'group-overlap', message: `${machine.functions[m]!.fn.bdf} is in two groups` });
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
    iommu: { driver: 'smmuv3', features },
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

/** The state after PCI enumeration, with `threads` idle threads. */
export function initialState(world: World, threads = 1): SystemState {
  const n = world.infos.length;
  const threadList: ThreadState[] = Array.from({ length: threads }, () => ({ pc: 0, cont: null }));
  const pre: SystemState = {
    pci: initialPciDevs(world.machine),
    devs: Array.from({ length: n }, () => INITIAL_DEVICE),
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
  for (const i of bdfOrder(world.infos)) pci_enumerate_device(tx, i);
  return withFingerprint(tx.commit());
}
