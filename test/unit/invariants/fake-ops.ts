/**
 * A tiny IOMMU ops table for checker unit tests, independent of the SMMUv3 model: the master
 * record says what the IOMMU does for each stream (translation per SSID, EATS) and what the
 * driver believes (ats_enabled); domain records carry the SMMUv3 bookkeeping fields the
 * invariants read (nr_ats_masters, devices, invs). Tests build states by hand with `bootByHand`
 * and break one thing at a time through a Tx.
 */
import type { IommuDriverOps } from '../../../src/iommu/driver-ops.js';
import {
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_IDENTITY,
  isPagingDomain,
  type DomainType,
} from '../../../src/iommu/domain-type.js';
import type { KernelEvent } from '../../../src/kernel/events.js';
import { checkInvariants, type Invariant, type Violation } from '../../../src/invariants/invariant.js';
import {
  pci_ats_required,
  pci_ats_supported,
  pci_enable_ats,
  pci_prepare_ats,
} from '../../../src/pci/ats.js';
import { pci_enable_pasid, pci_pasid_features } from '../../../src/pci/pasid.js';
import type { Machine } from '../../../src/pci/topology.js';
import { tupleGet, tuplePut } from '../../../src/model/flat.js';
import type { DriverRecord, SystemState } from '../../../src/model/state.js';
import { Tx, type Mutable } from '../../../src/model/tx.js';
import { createWorld, initialState, type WorldOptions } from '../../../src/model/world-builder.js';
import type { World } from '../../../src/model/world.js';
import { resolveKernel } from '../../../src/kernel/config.js';

export interface FakeMaster extends DriverRecord {
  /** master->ats_enabled. */
  readonly ats_enabled: boolean;
  /** STE EATS=TRANS. */
  readonly eats: boolean;
  /** Where the RID goes: a domain slot, -1 abort, -2 bypass. */
  readonly rid: number;
  /** PASID translations: sorted flat pairs [pasid, domain slot]. */
  readonly pasidXlate: readonly number[];
}

export interface FakeDomain extends DriverRecord {
  readonly nr_ats_masters: number;
  readonly devices: readonly number[];
  readonly invs: readonly number[];
}

function unused(name: string): never {
  throw new Error(`fake ops: ${name} is not used by checker tests`);
}

export const fakeOps: IommuDriverOps = {
  name: 'fake',
  initialMaster: () => ({ ats_enabled: false, eats: false, rid: -1, pasidXlate: [] }) satisfies FakeMaster,
  initialGlobal: () => ({}),
  initialDomain: () => ({ nr_ats_masters: 0, devices: [], invs: [] }) satisfies FakeDomain,
  domainRefFields: { master: ['rid', 'pasidXlate:2:1'], global: [], domain: [] },
  hasBlockedDomain: true,
  hasIdentityDomain: true,
  probe_device: () => unused('probe_device'),
  release_device: () => unused('release_device'),
  def_domain_type: () => 0,
  attach_dev: () => unused('attach_dev'),
  set_dev_pasid: () => unused('set_dev_pasid'),
  remove_dev_pasid: () => unused('remove_dev_pasid'),
  iotlb_sync_issue: () => unused('iotlb_sync_issue'),
  iotlb_sync_wait: () => unused('iotlb_sync_wait'),
  translation_domain: (tx, f, pasid) => {
    const m = tx.master(f) as FakeMaster;
    return pasid === 0 ? m.rid : tupleGet(m.pasidXlate, 2, [pasid], 1, -1);
  },
  ats_allowed: (tx, f) => (tx.master(f) as FakeMaster).eats,
  ats_enabled: (tx, f) => (tx.master(f) as FakeMaster).ats_enabled,
};

export function mutFakeMaster(tx: Tx, f: number): Mutable<FakeMaster> {
  return tx.mutMaster<FakeMaster>(f);
}

export function fakeDomain(tx: Tx, d: number): FakeDomain {
  return tx.domain(d).drv as FakeDomain;
}

export function setFakeDomain(tx: Tx, d: number, patch: Partial<FakeDomain>): void {
  const next: FakeDomain = { ...fakeDomain(tx, d), ...patch } as FakeDomain;
  tx.mutDomain(d).drv = next;
}

export function fakeWorld(machine: Machine, opts: Partial<WorldOptions> & { preset?: string } = {}): World {
  return createWorld(machine, {
    kernel: opts.kernel ?? resolveKernel(opts.preset ?? 'v7.3'),
    ops: fakeOps,
    ...opts,
  });
}

/** What the IOMMU does for a RID attached to domain d. */
export function xlateOf(tx: Tx, d: number): number {
  const t = tx.domain(d).type;
  return t === IOMMU_DOMAIN_BLOCKED ? -1 : t === IOMMU_DOMAIN_IDENTITY ? -2 : d;
}

/** The driver's ATS decision for f on a RID domain of type `type`, as SMMUv3 makes it. */
function wantsAts(tx: Tx, f: number, type: DomainType, pasids: boolean): boolean {
  const ft = tx.world.iommu.features;
  if (!ft.ats || !pci_ats_supported(tx, f)) return false;
  if (isPagingDomain(type) || pasids) return true;
  return (
    type === IOMMU_DOMAIN_IDENTITY &&
    tx.world.kernel.switches['smmu-ats-always-on'] &&
    pci_ats_required(tx, f) &&
    ft.stage1 &&
    ft.ssidBits > 0
  );
}

/** Attaches f's RID (and PASIDs) bookkeeping to domain d as the SMMUv3 driver would, ATS included. */
export function attachByHand(tx: Tx, f: number, d: number, pasids: readonly number[] = []): void {
  const dom = tx.domain(d);
  const ats = wantsAts(tx, f, dom.type, pasids.length > 0);
  const m = mutFakeMaster(tx, f);
  m.rid = xlateOf(tx, d);
  if (ats && !tx.dev(f).atsEnabled) {
    pci_enable_ats(tx, f, tx.world.iommu.features.pageShift);
  }
  m.ats_enabled = ats && tx.dev(f).atsEnabled;
  m.eats = m.ats_enabled;
  const link = (dd: number, ssid: number): void => {
    if (!isPagingDomain(tx.domain(dd).type)) return;
    const rec = fakeDomain(tx, dd);
    let invs = tuplePut(rec.invs, 4, 3, [0, 0, 0, 1 + tupleGet(rec.invs, 4, [0, 0, 0], 3, 0)]);
    if (m.ats_enabled) invs = tuplePut(invs, 4, 3, [3, f, ssid, 1 + tupleGet(invs, 4, [3, f, ssid], 3, 0)]);
    setFakeDomain(tx, dd, {
      nr_ats_masters: rec.nr_ats_masters + (m.ats_enabled ? 1 : 0),
      devices: tuplePut(rec.devices, 2, 2, [f, ssid]),
      invs,
    });
  };
  link(d, 0);
  for (let i = 0; i < pasids.length; i += 2) {
    m.pasidXlate = tuplePut(m.pasidXlate, 2, 1, [pasids[i]!, xlateOf(tx, pasids[i + 1]!)]);
    link(pasids[i + 1]!, pasids[i]!);
  }
}

export interface BootOptions {
  /** Default domain type of every group (default DMA). */
  readonly type?: DomainType;
}

/**
 * The state after a clean boot, built by hand: every function probed, PASID then STU programmed
 * as arm_smmu_probe_device() does, one default domain per group attached with the driver's ATS
 * decision. Every invariant holds in it.
 */
export function bootByHand(world: World, opts: BootOptions = {}): SystemState {
  const tx = new Tx(world, initialState(world));
  const ps = world.iommu.features.pageShift;
  const order = world.infos
    .map((_, f) => f)
    .sort((a, b) => Number(world.infos[a]!.isVirtfn) - Number(world.infos[b]!.isVirtfn));
  for (const f of order) {
    tx.mutGdev(f).probed = true;
    const info = world.infos[f]!;
    if (!info.isVirtfn && tx.dev(f).pasidCap !== 0 && world.iommu.features.ssidBits > 0)
      pci_enable_pasid(tx, f, pci_pasid_features(tx, f));
    if (world.iommu.features.ats && pci_ats_supported(tx, f)) pci_prepare_ats(tx, f, ps);
  }
  for (let g = 0; g < world.groups.length; g++) {
    const untrusted = world.groups[g]!.members.some((f) => world.infos[f]!.untrusted);
    const d = tx.allocDomain(untrusted ? IOMMU_DOMAIN_DMA : (opts.type ?? IOMMU_DOMAIN_DMA), 0);
    const grp = tx.mutGroup(g);
    grp.domain = d;
    grp.defaultDomain = d;
    for (const f of world.groups[g]!.members) attachByHand(tx, f, d);
  }
  return tx.commit();
}

/** Runs `fn` on a transaction over `state` and returns the committed state. */
export function edit(world: World, state: SystemState, fn: (tx: Tx) => void): SystemState {
  const tx = new Tx(world, state);
  fn(tx);
  return tx.commit();
}

/** Runs `fn` on a transaction over `state`: the committed state and the events it emitted. */
export function run(
  world: World,
  state: SystemState,
  fn: (tx: Tx) => void,
): { state: SystemState; events: readonly KernelEvent[] } {
  const tx = new Tx(world, state);
  fn(tx);
  return { state: tx.commit(), events: tx.events };
}

/** The violations of the given invariants only. */
export function check(
  world: World,
  state: SystemState,
  inv: Invariant | readonly Invariant[],
  events: readonly KernelEvent[] = [],
): Violation[] {
  return checkInvariants(world, state, events, 'check' in inv ? [inv] : inv);
}

/** [id, bdf] of each violation, for exact comparisons. */
export function idsAndBdfs(v: readonly Violation[]): [string, string | undefined][] {
  return v.map((x) => [x.id, x.bdf]);
}

/** Allocates a group's blocking domain (BLOCKED type) and returns it. */
export function blockingDomainOf(tx: Tx, g: number): number {
  const cur = tx.group(g).blockingDomain;
  if (cur >= 0) return cur;
  const d = tx.allocDomain(IOMMU_DOMAIN_BLOCKED, 0);
  tx.mutGroup(g).blockingDomain = d;
  return d;
}

/** The slot a freshly allocated domain gets, after commit's canonical renumbering, is found through the group. */
export function groupDomain(state: SystemState, g: number): number {
  return state.groups[g]!.domain;
}
