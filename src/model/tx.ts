/**
 * A transaction: one kernel entry point (or one step of a split one) applied to a state. It reads
 * through to the base state and copies a record only when it is first written (copy-on-write),
 * collects the events, and on commit yields the new state with its fingerprint updated for just
 * the records that changed. It is also the PciCtx the PCI functions (src/pci/) take.
 */
import type { KernelConfig } from '../kernel/config.js';
import type { KernelEvent } from '../kernel/events.js';
import { clonePciDev, type PciCtx, type PciDev, type PciDevInfo } from '../pci/pci-dev.js';
import type { DomainType } from '../iommu/domain-type.js';
import { canonicalize } from './canonical.js';
import { Coll, FingerprintEditor, fingerprintFull, rebaseFingerprint } from './fingerprint.js';
import type {
  ArmedFault,
  DeviceState,
  Domain,
  DriverRecord,
  Group,
  GroupDev,
  MemoryState,
  SystemState,
  ThreadState,
} from './state.js';
import type { World } from './world.js';

export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface Changed {
  coll: Coll;
  index: number;
  old: unknown;
}

/*
 * Copies of the records the model defines, field by field in the order they are built (so a copy
 * keeps the key order contentHash() walks). One object spread for every collection is a
 * megamorphic site V8 serves through its slow generic path; it measured as a tenth of a step.
 * A field added to one of these records must be added here too (the fingerprint tests, which
 * compare every record of random walks with its typed hash, fail otherwise).
 */
function cloneDevice(r: DeviceState): DeviceState {
  return {
    present: r.present,
    driver: r.driver,
    msiInUse: r.msiInUse,
    resetting: r.resetting,
    unresponsive: r.unresponsive,
    holdAtc: r.holdAtc,
    atc: r.atc,
    pendingInv: r.pendingInv,
  };
}

/** The fields sameDevice() compares; the check below fails to type when DeviceState gains one it does not. */
type SameDeviceField =
  'present' | 'driver' | 'msiInUse' | 'resetting' | 'unresponsive' | 'holdAtc' | 'atc' | 'pendingInv';
const _sameDeviceCoversEveryField: [Exclude<keyof DeviceState, SameDeviceField>] extends [never]
  ? true
  : never = true;

/** Whether a copied device record ended the transaction as it began (a request issued and completed in one). */
function sameDevice(a: DeviceState, b: DeviceState): boolean {
  return (
    a.present === b.present &&
    a.driver === b.driver &&
    a.msiInUse === b.msiInUse &&
    a.resetting === b.resetting &&
    a.unresponsive === b.unresponsive &&
    a.holdAtc === b.holdAtc &&
    a.atc === b.atc &&
    a.pendingInv === b.pendingInv
  );
}

function cloneGdev(r: GroupDev): GroupDev {
  return { probed: r.probed, blocked: r.blocked, resetDepth: r.resetDepth };
}

export function cloneGroup(r: Group): Group {
  return {
    domain: r.domain,
    defaultDomain: r.defaultDomain,
    blockingDomain: r.blockingDomain,
    owner: r.owner,
    ownerCnt: r.ownerCnt,
    recoveryCnt: r.recoveryCnt,
    pasids: r.pasids,
  };
}

function cloneDomain(r: Domain): Domain {
  return {
    type: r.type,
    pt: r.pt,
    iotlb: r.iotlb,
    fq: r.fq,
    msiDoorbell: r.msiDoorbell,
    allocator: r.allocator,
    drv: r.drv,
  };
}

function cloneThread(r: ThreadState): ThreadState {
  return { pc: r.pc, cont: r.cont };
}

function cloneRecord(c: Coll, r: object): object {
  switch (c) {
    case Coll.Pci:
      return clonePciDev(r as PciDev);
    case Coll.Dev:
      return cloneDevice(r as DeviceState);
    case Coll.Gdev:
      return cloneGdev(r as GroupDev);
    case Coll.Group:
      return cloneGroup(r as Group);
    case Coll.Domain:
      return cloneDomain(r as Domain);
    case Coll.Thread:
      return cloneThread(r as ThreadState);
    default:
      // The driver's own records (masters): the driver defines their fields.
      return { ...r };
  }
}

/** The editor incremental() moves a fingerprint with (one per module: commits do not nest). */
const EDITOR = new FingerprintEditor(0, 0);

export class Tx implements PciCtx {
  readonly events: KernelEvent[] = [];
  private readonly changes: Changed[] = [];
  // The collections as this transaction sees them: the base's arrays until the first write to
  // one, then this transaction's copy (bit c of `owned`). The records written are listed in
  // `changes` (a transaction writes few, so a short list beats a per-collection bitmap).
  private pciArr!: readonly PciDev[];
  private devArr!: readonly DeviceState[];
  private gdevArr!: readonly GroupDev[];
  private groupArr!: readonly Group[];
  private domainArr!: readonly (Domain | null)[];
  private masterArr!: readonly DriverRecord[];
  private threadArr!: readonly ThreadState[];
  private owned = 0;
  private drvRec!: DriverRecord;
  private pasids!: readonly number[];
  private memRec!: MemoryState;
  private faultList!: readonly ArmedFault[];
  private singlesChanged = 0;
  private domainsReshaped = false;
  /** Pages written through setPage() (null: none, or the whole pool was replaced by setMem()). */
  private pagesChanged: number[] | null = null;
  private pagesOwned = false;

  constructor(
    readonly world: World,
    readonly base: SystemState,
  ) {
    this.readFrom(base);
  }

  /** Sees every collection and single record of `state` as it is (nothing owned yet). */
  private readFrom(state: SystemState): void {
    this.pciArr = state.pci;
    this.devArr = state.devs;
    this.gdevArr = state.gdevs;
    this.groupArr = state.groups;
    this.domainArr = state.domains;
    this.masterArr = state.masters;
    this.threadArr = state.threads;
    this.drvRec = state.drv;
    this.pasids = state.globalPasids;
    this.memRec = state.mem;
    this.faultList = state.faults;
  }

  /**
   * Points a transaction used only for reading at another state, so that a read-only view (the
   * invariants' `view`) is one object reused from check to check rather than one per check. A
   * view that was written through is a model bug.
   */
  rebaseView(state: SystemState): this {
    if (
      this.owned !== 0 ||
      this.changes.length !== 0 ||
      this.singlesChanged !== 0 ||
      this.events.length !== 0
    )
      throw new Error('model bug: a read-only view of the state was written through');
    (this as { base: SystemState }).base = state;
    this.readFrom(state);
    return this;
  }

  private collectionOf(c: Coll): readonly unknown[] {
    switch (c) {
      case Coll.Pci:
        return this.pciArr;
      case Coll.Dev:
        return this.devArr;
      case Coll.Gdev:
        return this.gdevArr;
      case Coll.Group:
        return this.groupArr;
      case Coll.Domain:
        return this.domainArr;
      case Coll.Master:
        return this.masterArr;
      default:
        return this.threadArr;
    }
  }

  /** This transaction's own copy of collection c (copied on the first write). */
  private own(c: Coll): unknown[] {
    if ((this.owned & (1 << c)) !== 0) return this.collectionOf(c) as unknown[];
    const a = this.collectionOf(c).slice();
    switch (c) {
      case Coll.Pci:
        this.pciArr = a as PciDev[];
        break;
      case Coll.Dev:
        this.devArr = a as DeviceState[];
        break;
      case Coll.Gdev:
        this.gdevArr = a as GroupDev[];
        break;
      case Coll.Group:
        this.groupArr = a as Group[];
        break;
      case Coll.Domain:
        this.domainArr = a as (Domain | null)[];
        break;
      case Coll.Master:
        this.masterArr = a as DriverRecord[];
        break;
      default:
        this.threadArr = a as ThreadState[];
    }
    this.owned |= 1 << c;
    return a;
  }

  /** Whether record i of collection c is written for the first time in this transaction. */
  private firstWrite(c: Coll, i: number): boolean {
    const ch = this.changes;
    for (let k = 0; k < ch.length; k++) if (ch[k]!.index === i && ch[k]!.coll === c) return false;
    return true;
  }

  /** The record for writing: copied on first write. */
  private mutRec(c: Coll, i: number): unknown {
    const a = this.own(c);
    if (this.firstWrite(c, i)) {
      const old = a[i];
      this.changes.push({ coll: c, index: i, old });
      a[i] = cloneRecord(c, old as object);
    }
    return a[i];
  }

  /** Replaces the record (e.g. null for a freed domain). */
  private setRec(c: Coll, i: number, v: unknown): void {
    const a = this.own(c);
    if (this.firstWrite(c, i)) this.changes.push({ coll: c, index: i, old: a[i] });
    a[i] = v;
  }

  private pushRec(c: Coll, v: unknown): number {
    const a = this.own(c);
    const i = a.length;
    this.changes.push({ coll: c, index: i, old: undefined });
    a.push(v);
    return i;
  }

  // --- PciCtx ---
  get kernel(): KernelConfig {
    return this.world.kernel;
  }
  info(i: number): PciDevInfo {
    return this.world.infos[i]!;
  }
  dev(i: number): Readonly<PciDev> {
    return this.pciArr[i]!;
  }
  mut(i: number): PciDev {
    return this.mutRec(Coll.Pci, i) as PciDev;
  }
  emit(ev: KernelEvent): void {
    this.events.push(ev);
  }

  // --- device side ---
  device(f: number): DeviceState {
    return this.devArr[f]!;
  }
  mutDevice(f: number): Mutable<DeviceState> {
    return this.mutRec(Coll.Dev, f) as Mutable<DeviceState>;
  }

  // --- IOMMU core ---
  gdev(f: number): GroupDev {
    return this.gdevArr[f]!;
  }
  mutGdev(f: number): Mutable<GroupDev> {
    return this.mutRec(Coll.Gdev, f) as Mutable<GroupDev>;
  }
  group(g: number): Group {
    return this.groupArr[g]!;
  }
  mutGroup(g: number): Mutable<Group> {
    return this.mutRec(Coll.Group, g) as Mutable<Group>;
  }
  get domainCount(): number {
    return this.domainArr.length;
  }
  /** The live domain in slot d; throws on a free slot (a model bug, not a kernel one). */
  domain(d: number): Domain {
    const r = d >= 0 ? (this.domainArr[d] ?? null) : null;
    if (r === null) throw new Error(`model bug: domain slot ${d} is free`);
    return r;
  }
  domainOrNull(d: number): Domain | null {
    return d < 0 ? null : (this.domainArr[d] ?? null);
  }
  mutDomain(d: number): Mutable<Domain> {
    this.domain(d);
    return this.mutRec(Coll.Domain, d) as Mutable<Domain>;
  }
  /** Allocates a domain in the lowest free slot (the state is renumbered canonically at commit). */
  allocDomain(type: DomainType, allocator: number): number {
    const rec: Domain = {
      type,
      pt: [],
      iotlb: [],
      fq: [],
      msiDoorbell: false,
      allocator,
      drv: this.world.ops.initialDomain(this.world, type),
    };
    this.domainsReshaped = true;
    const free = this.domainArr.indexOf(null);
    if (free >= 0) {
      this.setRec(Coll.Domain, free, rec);
      return free;
    }
    return this.pushRec(Coll.Domain, rec);
  }
  freeDomain(d: number): void {
    this.domain(d);
    this.domainsReshaped = true;
    this.setRec(Coll.Domain, d, null);
  }

  // --- IOMMU driver ---
  master(f: number): DriverRecord {
    return this.masterArr[f]!;
  }
  mutMaster<T extends DriverRecord>(f: number): Mutable<T> {
    return this.mutRec(Coll.Master, f) as Mutable<T>;
  }
  drv(): DriverRecord {
    return this.drvRec;
  }
  setDrv(r: DriverRecord): void {
    this.drvRec = r;
    this.singlesChanged |= 1;
  }

  // --- global PASIDs, memory, threads, faults ---
  globalPasids(): readonly number[] {
    return this.pasids;
  }
  setGlobalPasids(p: readonly number[]): void {
    this.pasids = p;
    this.singlesChanged |= 2;
  }
  mem(): MemoryState {
    return this.memRec;
  }
  setMem(m: MemoryState): void {
    this.memRec = m;
    this.singlesChanged |= 4;
    this.pagesChanged = null;
    this.pagesOwned = false;
  }
  /** Sets one physical page's owner (0 free, 1 + domain slot), copying the pool once per transaction. */
  setPage(p: number, owner: number): void {
    if (this.memRec.pages[p] === owner) return;
    if (!this.pagesOwned) {
      const whole = (this.singlesChanged & 4) !== 0;
      this.memRec = { pages: this.memRec.pages.slice() };
      this.singlesChanged |= 4;
      this.pagesOwned = true;
      // After a setMem() every page is compared at commit; otherwise only the listed ones.
      this.pagesChanged = whole ? null : [];
    }
    (this.memRec.pages as number[])[p] = owner;
    this.pagesChanged?.push(p);
  }
  get threadCount(): number {
    return this.threadArr.length;
  }
  thread(t: number): ThreadState {
    return this.threadArr[t]!;
  }
  setThread(t: number, s: ThreadState): void {
    this.setRec(Coll.Thread, t, s);
  }
  faults(): readonly ArmedFault[] {
    return this.faultList;
  }
  setFaults(f: readonly ArmedFault[]): void {
    this.faultList = f;
    this.singlesChanged |= 8;
  }

  /**
   * Fault injection: whether the named kernel function should fail now for function f. Consumes
   * the armed fault. Returns the errno to return (negative), or 0 to run normally.
   */
  injectedFailure(fn: string, f: number): number {
    const list = this.faultList;
    for (let i = 0; i < list.length; i++) {
      const a = list[i]!;
      if (a.fn !== fn || (a.f !== -1 && a.f !== f)) continue;
      const next = list.slice();
      if (a.skip > 0) {
        next[i] = { ...a, skip: a.skip - 1 };
        this.setFaults(next);
        return 0;
      }
      next.splice(i, 1);
      this.setFaults(next);
      return a.errno;
    }
    return 0;
  }

  /** Events name domains by slot; after a canonical renumbering they must use the new slots. */
  private renumberEvents(map: (d: number) => number): void {
    const ev = this.events;
    for (let i = 0; i < ev.length; i++) {
      const e = ev[i]!;
      if ((e.kind === 'ste-write' || e.kind === 'cd-write') && e.domain !== null)
        ev[i] = { ...e, domain: map(e.domain) };
    }
  }

  /** The new state, fingerprinted. */
  commit(): SystemState {
    const b = this.base;
    // Every state this builds has the same keys in the same order (one hidden class for V8).
    const next: Mutable<SystemState> = {
      pci: this.pciArr,
      devs: this.devArr,
      gdevs: this.gdevArr,
      groups: this.groupArr,
      domains: this.domainArr,
      masters: this.masterArr,
      drv: this.drvRec,
      globalPasids: this.pasids,
      mem: this.memRec,
      threads: this.threadArr,
      faults: this.faultList,
      fpHi: b.fpHi,
      fpLo: b.fpLo,
    };
    if (this.domainsReshaped) {
      const c = canonicalize(this.world, next);
      if (c.map !== null) {
        this.renumberEvents(c.map);
        // From the base straight to the renumbered state: the positions whose record is not the
        // same object are hashed (old and new), a domain that only moved once.
        const h = rebaseFingerprint(b, c.state);
        const r = c.state;
        return {
          pci: r.pci,
          devs: r.devs,
          gdevs: r.gdevs,
          groups: r.groups,
          domains: r.domains,
          masters: r.masters,
          drv: r.drv,
          globalPasids: r.globalPasids,
          mem: r.mem,
          threads: r.threads,
          faults: r.faults,
          fpHi: h.hi,
          fpLo: h.lo,
        };
      }
    }
    if (this.changes.length === 0 && this.singlesChanged === 0) return next;
    this.incremental(b, next);
    return next;
  }

  /**
   * The fingerprint of `next` from the base's: for each record that changed, XOR out the hash of
   * its old record and XOR in its new one's.
   */
  private incremental(b: SystemState, next: Mutable<SystemState>): void {
    if (b.mem.pages.length !== next.mem.pages.length) {
      const h = fingerprintFull(next);
      next.fpHi = h.hi;
      next.fpLo = h.lo;
      return;
    }
    const e = EDITOR;
    e.hi = b.fpHi;
    e.lo = b.fpLo;
    const changes = this.changes;
    for (let k = 0; k < changes.length; k++) {
      const ch = changes[k]!;
      const i = ch.index;
      let rec: unknown;
      switch (ch.coll) {
        case Coll.Pci:
          rec = next.pci[i];
          break;
        case Coll.Dev:
          rec = next.devs[i];
          // Unchanged content hashes the same: skip hashing it twice.
          if (ch.old !== undefined && sameDevice(ch.old as DeviceState, rec as DeviceState)) {
            (next.devs as DeviceState[])[i] = ch.old as DeviceState; // the transaction's own array
            continue;
          }
          break;
        case Coll.Gdev:
          rec = next.gdevs[i];
          break;
        case Coll.Group:
          rec = next.groups[i];
          break;
        case Coll.Domain:
          rec = next.domains[i];
          break;
        case Coll.Master:
          rec = next.masters[i];
          break;
        default:
          rec = next.threads[i];
      }
      e.replace(ch.coll, i, ch.old, rec);
    }
    if ((this.singlesChanged & 4) !== 0 && b.mem !== next.mem) {
      // Pages are hashed one by one (fingerprint.ts): only the ones that changed move the fingerprint.
      const op = b.mem.pages;
      const np = next.mem.pages;
      const listed = this.pagesChanged;
      if (listed !== null) {
        // A page set twice is listed twice: count it once.
        for (let k = 0; k < listed.length; k++) {
          const p = listed[k]!;
          if (op[p] !== np[p] && listed.indexOf(p) === k) e.replace(Coll.Mem, p, op[p], np[p]);
        }
      } else {
        for (let p = 0; p < np.length; p++) if (op[p] !== np[p]) e.replace(Coll.Mem, p, op[p], np[p]);
      }
    }
    const sc = this.singlesChanged;
    if ((sc & 1) !== 0 && b.drv !== next.drv) e.replace(Coll.Drv, 0, b.drv, next.drv);
    if ((sc & 2) !== 0 && b.globalPasids !== next.globalPasids)
      e.replace(Coll.GlobalPasids, 0, b.globalPasids, next.globalPasids);
    if ((sc & 8) !== 0 && b.faults !== next.faults) e.replace(Coll.Faults, 0, b.faults, next.faults);
    next.fpHi = e.hi >>> 0;
    next.fpLo = e.lo >>> 0;
  }
}
