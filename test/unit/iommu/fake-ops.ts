/**
 * A test-only IOMMU driver: it records what the core asks of it (the RID domain and PASID domains
 * of each master, the number of attach calls) and never fails unless a scenario arms a fault:
 * `fake_probe_device`, `fake_attach_dev`, `fake_set_dev_pasid` (per function, see armFault()).
 * No ATS, no invalidations. Plus small helpers to build worlds and run operations in tests.
 */
import {
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_IDENTITY,
  type DomainType,
} from '../../../src/iommu/domain-type.js';
import type { IommuDriverOps } from '../../../src/iommu/driver-ops.js';
import '../../../src/iommu/entry-points.js';
import { resolveKernel, type SwitchOverride } from '../../../src/kernel/config.js';
import type { PresetId } from '../../../src/kernel/presets.js';
import type { KernelEvent } from '../../../src/kernel/events.js';
import { tupleGet, tuplePut, tupleRemoveWhere } from '../../../src/model/flat.js';
import type { Op } from '../../../src/model/ops.js';
import type { DriverRecord, SystemState } from '../../../src/model/state.js';
import { runOp, step, type StepResult } from '../../../src/model/step.js';
import { Tx } from '../../../src/model/tx.js';
import { createWorld, initialState, type WorldOptions } from '../../../src/model/world-builder.js';
import type { World } from '../../../src/model/world.js';
import type { Machine } from '../../../src/pci/topology.js';

export interface FakeMaster extends DriverRecord {
  readonly probed: boolean;
  /** The RID domain the driver last attached, -1 none. */
  readonly rid: number;
  /** Sorted flat pairs [pasid, domain]. */
  readonly pasids: readonly number[];
  readonly attaches: number;
}

export interface FakeOpsOptions {
  readonly hasBlockedDomain?: boolean;
  readonly hasIdentityDomain?: boolean;
  /** ops->def_domain_type() per function (0: no preference). */
  readonly defDomainType?: (f: number) => DomainType | 0;
  /** Domain types without set_dev_pasid. */
  readonly noSetDevPasid?: readonly DomainType[];
}

const INITIAL_MASTER: FakeMaster = { probed: false, rid: -1, pasids: [], attaches: 0 };

export function makeFakeOps(o: FakeOpsOptions = {}): IommuDriverOps {
  const master = (tx: Tx, f: number): FakeMaster => tx.master(f) as FakeMaster;
  return {
    name: 'fake',
    initialMaster: () => INITIAL_MASTER,
    initialGlobal: () => ({}),
    initialDomain: () => ({}),
    domainRefFields: { master: ['rid', 'pasids:2:1'], global: [], domain: [] },
    hasBlockedDomain: o.hasBlockedDomain ?? true,
    hasIdentityDomain: o.hasIdentityDomain ?? true,
    probe_device(tx, f) {
      const err = tx.injectedFailure('fake_probe_device', f);
      if (err !== 0) return err;
      tx.mutMaster<FakeMaster>(f).probed = true;
      return 0;
    },
    release_device(tx, f) {
      Object.assign(tx.mutMaster<FakeMaster>(f), INITIAL_MASTER);
    },
    def_domain_type: (_tx, f) => o.defDomainType?.(f) ?? 0,
    attach_dev(tx, d, f) {
      const err = tx.injectedFailure('fake_attach_dev', f);
      if (err !== 0) return err;
      const m = tx.mutMaster<FakeMaster>(f);
      m.rid = d;
      m.attaches = master(tx, f).attaches + 1;
      return 0;
    },
    domain_has_set_dev_pasid: (tx, d) => !(o.noSetDevPasid ?? []).includes(tx.domain(d).type),
    set_dev_pasid(tx, d, f, pasid) {
      const err = tx.injectedFailure('fake_set_dev_pasid', f);
      if (err !== 0) return err;
      const m = tx.mutMaster<FakeMaster>(f);
      m.pasids = tuplePut(master(tx, f).pasids, 2, 1, [pasid, d]);
      return 0;
    },
    remove_dev_pasid(tx, f, pasid) {
      const m = tx.mutMaster<FakeMaster>(f);
      m.pasids = tupleRemoveWhere(master(tx, f).pasids, 2, (a, i) => a[i] === pasid);
    },
    iotlb_sync_issue: () => [],
    iotlb_sync_wait: () => 0,
    translation_domain(tx, f, pasid) {
      const m = master(tx, f);
      const d = pasid === 0 ? m.rid : tupleGet(m.pasids, 2, [pasid], 1, -1);
      if (d < 0) return -1;
      const t = tx.domain(d).type;
      return t === IOMMU_DOMAIN_BLOCKED ? -1 : t === IOMMU_DOMAIN_IDENTITY ? -2 : d;
    },
    ats_allowed: () => false,
    ats_enabled: () => false,
  };
}

export const fakeOps = makeFakeOps();

export interface TestWorldOptions extends Omit<WorldOptions, 'kernel' | 'ops'> {
  readonly preset?: PresetId;
  readonly switches?: Readonly<Record<string, SwitchOverride>>;
  readonly cmdline?: string;
  readonly ops?: IommuDriverOps;
}

export function testWorld(machine: Machine, o: TestWorldOptions = {}): World {
  const { preset, switches, cmdline, ops, ...rest } = o;
  return createWorld(machine, {
    ...rest,
    kernel: resolveKernel(preset ?? 'v7.3', switches, cmdline),
    ops: ops ?? fakeOps,
  });
}

/** Function index of a BDF in the world (the world's machine may have VF slots added). */
export function fOf(w: World, bdf: string): number {
  const f = w.machine.byBdf.get(bdf);
  if (f === undefined) throw new Error(`no function ${bdf}`);
  return f;
}

/** A sequence of operations run to completion on thread 0, keeping every step's result. */
export class Run {
  state: SystemState;
  last: StepResult | null = null;
  constructor(
    readonly world: World,
    state?: SystemState,
  ) {
    this.state = state ?? initialState(world, 2);
  }
  /** Runs op to completion; returns its return value, keeps its events in `last`. */
  op(op: Op, t = 0): number | null {
    this.last = runOp(this.world, this.state, op, t);
    this.state = this.last.state;
    return this.last.ret;
  }
  /** One step of thread t (a phase of a split operation). */
  step(op: Op, t = 0): StepResult {
    this.last = step(this.world, this.state, op, t);
    this.state = this.last.state;
    return this.last;
  }
  get events(): readonly KernelEvent[] {
    return this.last?.events ?? [];
  }
  /** A read-only view with the model's accessors. */
  get view(): Tx {
    return new Tx(this.world, this.state);
  }
  /** Arms a kernel-call failure for function f (-1 any): `fn` fails with `errno` after `skip` calls. */
  armFault(fn: string, f: number, errno: number, skip = 0): void {
    const tx = new Tx(this.world, this.state);
    tx.setFaults([...tx.faults(), { fn, f, skip, errno }]);
    this.state = tx.commit();
  }
  /** Applies a direct state edit (calls into the kernel functions, states no operation reaches); returns its events. */
  edit(fn: (tx: Tx) => void): readonly KernelEvent[] {
    const tx = new Tx(this.world, this.state);
    fn(tx);
    this.state = tx.commit();
    return tx.events;
  }
  master(f: number): FakeMaster {
    return this.state.masters[f] as FakeMaster;
  }
  warns(): { site: string; message: string }[] {
    return this.events.flatMap((e) => (e.kind === 'warn' ? [{ site: e.site, message: e.message }] : []));
  }
  iommuFns(): string[] {
    return this.events.flatMap((e) => (e.kind === 'iommu' ? [e.fn] : []));
  }
}
