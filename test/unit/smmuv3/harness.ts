/**
 * Drives the SMMUv3 driver the way the IOMMU core does, without the core: probe sets
 * gdev->probed and allocates the group's blocking domain, an attach calls ops->attach_dev with the
 * effective old domain and moves group->domain only on success, a PASID attach keeps the group's
 * pasid_array. Each call is one transaction; `events` holds the last one's events.
 */
import '../../../src/model/handlers.js';
import { smmuv3Ops } from '../../../src/drivers/smmuv3/ops.js';
import { getSmmuDomain, type SmmuDomain } from '../../../src/drivers/smmuv3/domain.js';
import { getMaster, sidDomain, type SmmuMaster } from '../../../src/drivers/smmuv3/master.js';
import { IOMMU_DOMAIN_BLOCKED, type DomainType } from '../../../src/iommu/domain-type.js';
import { resolveKernel, type SwitchOverride } from '../../../src/kernel/config.js';
import type { KernelEvent, KernelEventKind } from '../../../src/kernel/events.js';
import { tuplePut, tupleRemoveWhere, tupleGet } from '../../../src/model/flat.js';
import type { Op } from '../../../src/model/ops.js';
import type { SystemState } from '../../../src/model/state.js';
import { step, type StepResult } from '../../../src/model/step.js';
import { Tx } from '../../../src/model/tx.js';
import { createWorld, initialState, type WorldOptions } from '../../../src/model/world-builder.js';
import type { IommuFeatures, World } from '../../../src/model/world.js';
import { canonicalBdf } from '../../../src/pci/bdf.js';
import { MachineBuilder, type AcsSpec, type FunctionSpec } from '../../../src/pci/builder.js';
import type { PciDev } from '../../../src/pci/pci-dev.js';
import type { Machine } from '../../../src/pci/topology.js';

export const RP = '0000:00:01.0';
const RP_ACS: AcsSpec = { capability: ['SV', 'RR', 'CR', 'UF'], control: ['SV', 'RR', 'CR', 'UF'] };

/** A root port (bus 1 below it, ACS and End-End TLP prefixes) and the given endpoints. */
export function machine(endpoints: Readonly<Record<string, FunctionSpec>>): Machine {
  const b = new MachineBuilder().rootPort(RP, {
    secondaryBus: 1,
    subordinateBus: 1,
    eeTlpPrefix: true,
    acs: RP_ACS,
  });
  for (const [bdf, spec] of Object.entries(endpoints)) b.function(bdf, spec);
  return b.build();
}

export const A = '0000:01:00.0';
export const B = '0000:01:01.0';
/** An ATS endpoint with PASID (width 8). */
export const EP_PASID: FunctionSpec = { vendorId: 0x15b3, deviceId: 0x1021, ats: {}, pasid: { width: 8 } };
/** An ATS endpoint without PASID. */
export const EP_ATS: FunctionSpec = { vendorId: 0x15b3, deviceId: 0x1022, ats: {} };
/** A CXL.cache-capable ATS endpoint: pci_ats_required() from v7.2. */
export const EP_CXL: FunctionSpec = {
  vendorId: 0x1e98,
  deviceId: 0x0001,
  ats: {},
  cxl: { cacheCapable: true },
};
/** An SR-IOV PF whose own ATS an IPU E2000 quirk removes (revision < 0x20), with two VFs that have ATS. */
export const EP_QUIRKED_PF: FunctionSpec = {
  vendorId: 0x8086,
  deviceId: 0x1452,
  revision: 0x10,
  ats: {},
  sriov: {
    totalVFs: 2,
    numVFs: 2,
    vfEnable: true,
    firstVfOffset: 1,
    vfStride: 1,
    vfDeviceId: 0x155c,
    vf: { ats: {} },
  },
};
export const VF0 = '0000:01:00.1';

export interface SimOptions {
  readonly preset?: string;
  readonly switches?: Readonly<Record<string, SwitchOverride>>;
  readonly cmdline?: string;
  readonly features?: Partial<IommuFeatures>;
  readonly threads?: number;
  readonly world?: Partial<Omit<WorldOptions, 'kernel' | 'ops' | 'features'>>;
}

export class Sim {
  readonly world: World;
  state: SystemState;
  events: KernelEvent[] = [];
  constructor(m: Machine, opts: SimOptions = {}) {
    this.world = createWorld(m, {
      kernel: resolveKernel(opts.preset ?? 'v7.3', opts.switches, opts.cmdline),
      ops: smmuv3Ops,
      ...(opts.features === undefined ? {} : { features: opts.features }),
      ...opts.world,
    });
    this.state = initialState(this.world, opts.threads ?? 1);
  }

  fn(bdf: string): number {
    const i = this.world.machine.byBdf.get(canonicalBdf(bdf)!);
    if (i === undefined) throw new Error(`no function ${bdf}`);
    return i;
  }

  /** One transaction: runs `body`, commits, keeps its events. */
  run<T>(body: (tx: Tx) => T): T {
    const tx = new Tx(this.world, this.state);
    const r = body(tx);
    this.state = tx.commit();
    this.events = tx.events;
    return r;
  }

  /** Reads through a throwaway transaction. */
  view(): Tx {
    return new Tx(this.world, this.state);
  }

  /** One step of an operation on thread t (handlers from src/model/handlers.ts). */
  step(op: Op, t = 0): StepResult {
    const r = step(this.world, this.state, op, t);
    this.state = r.state;
    this.events = [...r.events];
    return r;
  }

  /** iommu_probe_device(), the part the driver sees: probe_device, then the group's blocking domain. */
  probe(f: number): number {
    return this.run((tx) => {
      const ret = tx.world.ops.probe_device(tx, f);
      if (ret !== 0) return ret;
      tx.mutGdev(f).probed = true;
      const g = tx.world.groupOf[f]!;
      if (tx.group(g).blockingDomain < 0)
        tx.mutGroup(g).blockingDomain = tx.allocDomain(IOMMU_DOMAIN_BLOCKED, 0);
      return 0;
    });
  }

  /**
   * Attaches f's group to the blocking domain, a fresh identity domain, or a fresh paging domain
   * of `type` (`asDefault`: also the group's default domain). group->domain moves on success only.
   */
  attach(f: number, type: DomainType, asDefault = false): number {
    return this.run((tx) => {
      const g = tx.world.groupOf[f]!;
      const group = tx.group(g);
      const d = type === IOMMU_DOMAIN_BLOCKED ? group.blockingDomain : tx.allocDomain(type, 0);
      const ret = tx.world.ops.attach_dev(tx, d, f, sidDomain(tx, f));
      if (ret !== 0) return ret;
      const w = tx.mutGroup(g);
      w.domain = d;
      if (asDefault) w.defaultDomain = d;
      return 0;
    });
  }

  /** iommu_attach_device_pasid() of a fresh domain of `type` (only this device in the group). */
  setPasid(f: number, pasid: number, type: DomainType): number {
    return this.run((tx) => {
      const g = tx.world.groupOf[f]!;
      const d = tx.allocDomain(type, 2);
      const ret = tx.world.ops.set_dev_pasid(tx, d, f, pasid, -1);
      if (ret !== 0) {
        tx.freeDomain(d);
        return ret;
      }
      tx.mutGroup(g).pasids = tuplePut(tx.group(g).pasids, 2, 1, [pasid, d]);
      return 0;
    });
  }

  /** iommu_detach_device_pasid(): the blocked domain's set_dev_pasid with the PASID's domain as old. */
  removePasid(f: number, pasid: number): number {
    return this.run((tx) => {
      const g = tx.world.groupOf[f]!;
      const group = tx.group(g);
      const d = tupleGet(group.pasids, 2, [pasid], 1, -1);
      const ret = tx.world.ops.set_dev_pasid(tx, group.blockingDomain, f, pasid, d);
      tx.mutGroup(g).pasids = tupleRemoveWhere(group.pasids, 2, (a, i) => a[i] === pasid);
      return ret;
    });
  }

  group(f: number): SystemState['groups'][number] {
    return this.state.groups[this.world.groupOf[f]!]!;
  }
  /** group->domain of f's group. */
  domainOf(f: number): number {
    return this.group(f).domain;
  }
  drv(d: number): SmmuDomain {
    return getSmmuDomain(this.view(), d);
  }
  master(f: number): SmmuMaster {
    return getMaster(this.view(), f);
  }
  pci(f: number): PciDev {
    return this.state.pci[f]!;
  }
  device(f: number): SystemState['devs'][number] {
    return this.state.devs[f]!;
  }
  /** Arms a kernel-call failure, as the arm-fault operation does. */
  arm(fn: string, f: number, errno: number, skip = 0): void {
    this.step({ op: 'arm-fault', fn, f, skip, errno });
  }
}

export function ofKind<K extends KernelEventKind>(
  events: readonly KernelEvent[],
  kind: K,
): Extract<KernelEvent, { kind: K }>[] {
  return events.filter((e): e is Extract<KernelEvent, { kind: K }> => e.kind === kind);
}

/** Index of the first event matching `pred`, -1 if none. */
export function indexOf(events: readonly KernelEvent[], pred: (e: KernelEvent) => boolean): number {
  return events.findIndex(pred);
}

export const isAtsCtrlWrite = (e: KernelEvent): boolean =>
  e.kind === 'config-write' && e.register === 'PCI_ATS_CTRL';
export const isSteWrite = (e: KernelEvent): boolean => e.kind === 'ste-write';
