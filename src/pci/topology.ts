/**
 * The machine as the kernel sees its PCI topology once enumeration is done: every function with
 * its upstream bridge, SR-IOV PF/VF links, the firmware "external-facing" marking and the
 * `untrusted` bit the kernel derives from it.
 *
 * Kernel references (behaviour rewritten here, not copied):
 * - `pci_upstream_bridge()` (include/linux/pci.h): a function's upstream bridge is the bridge
 *   whose secondary bus is the function's bus (`bus->self`); for a VF the kernel first goes to
 *   the PF (`pci_physfn()`), so a VF on a bus crossed into by its RID has the PF's bridge.
 * - `set_pcie_untrusted()` (drivers/pci/probe.c): a function is untrusted when its upstream
 *   bridge is untrusted or external-facing. The external-facing port itself stays trusted.
 * - `pci_iov_virtfn_bus()` / `pci_iov_virtfn_devfn()` (drivers/pci/iov.c): VF n sits at
 *   PF routing ID + First VF Offset + n * VF Stride, carried into the bus number.
 * - `sriov_enable()` (drivers/pci/iov.c): VFs are refused when the last VF's bus is past the end
 *   of the PF bus's bus-number range; `sriov_init()` rejects offset 0 or stride 0 with >1 VF.
 * - `pci_iov_add_virtfn()` → `virtfn_add` (drivers/pci/iov.c): the kernel gives a VF the PF's
 *   vendor ID and the SR-IOV "VF Device ID", whatever the VF's own ID registers read (0xffff on
 *   real hardware).
 */
import { InputError, type Diagnostic } from '../diagnostics.js';
import { bdfSortKey, formatBdf, fromRoutingId, parseBdf, routingId, type Bdf, type BdfParts } from './bdf.js';
import type { PciFunction } from './function.js';

export interface MachineFunction {
  readonly fn: PciFunction;
  /** Position in Machine.functions (sorted by BDF). */
  readonly index: number;
  /** pci_upstream_bridge(): the bridge whose secondary bus is this bus (the PF's, for a VF). */
  readonly parent: number | null;
  readonly isVirtfn: boolean;
  /** The PF, for VFs. */
  readonly physfn: number | null;
  /** The VFs, for PFs (in VF-number order). */
  readonly vfs: readonly number[];
  /** Firmware marking (the function's own flag or the builder option). */
  readonly externalFacing: boolean;
  /** set_pcie_untrusted(). */
  readonly untrusted: boolean;
}

export interface Machine {
  readonly functions: readonly MachineFunction[];
  readonly byBdf: ReadonlyMap<Bdf, number>;
  /**
   * Problems with the topology (duplicates, VF links, bus numbers) plus whatever the caller
   * passed in. Each function's own decode diagnostics stay in `fn.diagnostics`.
   */
  readonly diagnostics: readonly Diagnostic[];
}

export interface BuildMachineOptions {
  /** Ports to treat as firmware-marked external-facing (ACPI ExternalFacingPort). */
  readonly externalFacing?: readonly Bdf[];
}

/** Names of the fields an inferred VF cannot know: the input never showed its config space. */
export const INFERRED_VF_UNKNOWN: readonly string[] = [
  'config',
  'revision',
  'classCode',
  'multiFunction',
  'subsystemVendorId',
  'subsystemId',
  'capabilities',
  'express',
  'ats',
  'sriov',
  'pasid',
  'pri',
  'acs',
  'dvsecs',
  'cxl',
  'externalFacing',
  'driver',
];

interface Entry {
  fn: PciFunction;
  readonly parts: BdfParts;
  readonly key: number;
  /** The PF, once linked. */
  physfn: Entry | null;
  vfs: Entry[];
  /** VF number n (for ordering a PF's VFs), when known. */
  vfNumber: number;
}

/** Map key: segment and routing ID in one number. */
function keyOf(p: BdfParts): number {
  return bdfSortKey(p);
}

function whereOf(fn: PciFunction): Diagnostic['where'] {
  return fn.source ?? { bdf: fn.bdf };
}

/** A VF the input does not list: the PF's vendor and VF Device ID, everything else unknown. */
export function inferredVf(pf: PciFunction, bdf: Bdf, vfDeviceId: number | null): PciFunction {
  return {
    bdf,
    sourceKind: 'sriov-inferred',
    source: pf.source,
    config: null,
    header: {
      vendorId: pf.header.vendorId,
      deviceId: vfDeviceId,
      revision: null,
      classCode: null,
      // SR-IOV VFs are always type 0 functions.
      headerLayout: 0,
      multiFunction: null,
      subsystemVendorId: null,
      subsystemId: null,
      secondaryBus: null,
      subordinateBus: null,
    },
    capabilities: null,
    extCapsReadable: null,
    express: null,
    ats: null,
    sriov: null,
    pasid: null,
    pri: null,
    acs: null,
    dvsecs: [],
    cxl: null,
    externalFacing: null,
    driver: null,
    physfnHint: pf.bdf,
    unknown: INFERRED_VF_UNKNOWN,
    diagnostics: [],
  };
}

/**
 * Builds the topology from the functions every importer produced. Never throws for problems in
 * the functions themselves (they become diagnostics); throws InputError only for a bad
 * `opts.externalFacing` entry, which is the caller's own request.
 */
export function buildMachine(functions: readonly PciFunction[], opts: BuildMachineOptions = {}): Machine {
  const diagnostics: Diagnostic[] = [];
  const byKey = new Map<number, Entry>();
  const entries: Entry[] = [];

  // 1. Canonical BDFs, first one wins on duplicates.
  for (const fn of functions) {
    const parts = parseBdf(fn.bdf);
    if (parts === null) {
      diagnostics.push({
        code: 'invalid-bdf',
        message: `function address '${fn.bdf}' is not a BDF; function ignored`,
        ...(fn.source === null ? {} : { where: fn.source }),
      });
      continue;
    }
    const canonical = formatBdf(parts);
    const key = keyOf(parts);
    const first = byKey.get(key);
    if (first !== undefined) {
      const firstFrom =
        first.fn.source === null ? '' : ` (first seen at ${first.fn.source.file}:${first.fn.source.line})`;
      diagnostics.push({
        code: 'duplicate-bdf',
        message: `${canonical} appears more than once; keeping the first${firstFrom}`,
        where: whereOf(fn),
      });
      continue;
    }
    const entry: Entry = {
      fn: canonical === fn.bdf ? fn : { ...fn, bdf: canonical },
      parts,
      key,
      physfn: null,
      vfs: [],
      vfNumber: -1,
    };
    byKey.set(key, entry);
    entries.push(entry);
  }

  // 2. Bridges: secondary bus -> bridge (per segment).
  const bridgeOf = new Map<number, Entry>();
  const bridgesBySegment = new Map<number, Entry[]>();
  for (const e of entries) {
    const h = e.fn.header;
    if (h.headerLayout !== 1 || h.secondaryBus === null) continue;
    const sec = h.secondaryBus;
    const sub = h.subordinateBus ?? sec;
    if (sec <= e.parts.bus) {
      diagnostics.push({
        code: 'bridge-bus-invalid',
        message: `bridge ${e.fn.bdf} has secondary bus ${hex2(sec)}, not above its own bus ${hex2(e.parts.bus)}; nothing is placed below it`,
        where: { bdf: e.fn.bdf, offset: 0x19 },
      });
      continue;
    }
    if (sub < sec) {
      diagnostics.push({
        code: 'bridge-bus-invalid',
        message: `bridge ${e.fn.bdf} has subordinate bus ${hex2(sub)} below its secondary bus ${hex2(sec)}`,
        where: { bdf: e.fn.bdf, offset: 0x1a },
      });
    }
    const k = e.parts.segment * 0x100 + sec;
    const other = bridgeOf.get(k);
    if (other !== undefined) {
      diagnostics.push({
        code: 'bus-conflict',
        message: `bridges ${other.fn.bdf} and ${e.fn.bdf} both claim secondary bus ${hex2(sec)}; using ${other.fn.bdf}`,
        where: { bdf: e.fn.bdf, offset: 0x19 },
      });
      continue;
    }
    bridgeOf.set(k, e);
    let list = bridgesBySegment.get(e.parts.segment);
    if (list === undefined) bridgesBySegment.set(e.parts.segment, (list = []));
    list.push(e);
  }
  const busParent = (segment: number, bus: number): Entry | null =>
    bridgeOf.get(segment * 0x100 + bus) ?? null;
  /** End of the bus-number range of the PF's bus: its bridge's subordinate bus, or 0xff on a root bus. */
  const busEnd = (e: Entry): number => {
    const p = busParent(e.parts.segment, e.parts.bus);
    if (p === null) return 0xff;
    return Math.max(p.fn.header.subordinateBus ?? 0, p.fn.header.secondaryBus ?? 0);
  };

  // 3. VFs the input names explicitly (sysfs physfn links, builder VFs).
  for (const e of entries) {
    const hint = e.fn.physfnHint;
    if (hint === null) continue;
    const hp = parseBdf(hint);
    const pf = hp === null ? undefined : byKey.get(keyOf(hp));
    if (pf === undefined || pf === e) {
      diagnostics.push({
        code: 'vf-without-pf',
        message: `${e.fn.bdf} is a VF of ${hint}, which is not in the input; treated as an independent function`,
        where: whereOf(e.fn),
      });
      continue;
    }
    if (pf.fn.sriov === null && !pf.fn.unknown.includes('sriov')) {
      diagnostics.push({
        code: 'physfn-not-sriov',
        message: `${e.fn.bdf} names ${pf.fn.bdf} as its PF, but ${pf.fn.bdf} shows no SR-IOV capability`,
        where: whereOf(e.fn),
      });
    }
    linkVf(pf, e, vfNumberOf(pf, e));
  }

  // 4. VFs from SR-IOV arithmetic.
  const created: Entry[] = [];
  for (const pf of entries) {
    const s = pf.fn.sriov;
    if (s === null || s.vfEnable !== true || s.numVFs === null || s.numVFs === 0) continue;
    const numVFs = s.numVFs;
    const offset = s.firstVfOffset;
    const stride = s.vfStride;
    if (offset === null || stride === null) continue;
    const where = { bdf: pf.fn.bdf, offset: s.offset };
    if (offset === 0 || (numVFs > 1 && stride === 0)) {
      diagnostics.push({
        code: 'sriov-invalid-offset',
        message: `${pf.fn.bdf}: VF Enable is set with First VF Offset ${offset} and VF Stride ${stride}; the kernel rejects these (sriov_init), so no VFs are placed`,
        where,
      });
      continue;
    }
    if (s.totalVFs !== null && numVFs > s.totalVFs) {
      diagnostics.push({
        code: 'sriov-numvfs-exceeds-total',
        message: `${pf.fn.bdf}: NumVFs ${numVFs} exceeds TotalVFs ${s.totalVFs}`,
        where,
      });
    }
    const pfRid = routingId(pf.parts);
    const lastRid = pfRid + offset + (numVFs - 1) * stride;
    const end = busEnd(pf);
    if (lastRid > 0xffff || lastRid >> 8 > end) {
      diagnostics.push({
        code: 'vf-bus-out-of-range',
        message: `${pf.fn.bdf}: VF ${numVFs - 1} would be at bus ${(lastRid >> 8).toString(16)}, past the end of the bus range (${hex2(end)}); the kernel refuses to enable these VFs (sriov_enable), so none are placed`,
        where,
      });
      continue;
    }
    for (let n = 0; n < numVFs; n++) {
      const parts = fromRoutingId(pf.parts.segment, pfRid + offset + n * stride);
      const key = keyOf(parts);
      const listed = byKey.get(key);
      if (listed === undefined) {
        const vf: Entry = {
          fn: inferredVf(pf.fn, formatBdf(parts), s.vfDeviceId),
          parts,
          key,
          physfn: null,
          vfs: [],
          vfNumber: -1,
        };
        byKey.set(key, vf);
        created.push(vf);
        linkVf(pf, vf, n);
        continue;
      }
      if (listed.physfn === pf) {
        listed.vfNumber = n;
        continue;
      }
      if (listed.physfn !== null) {
        diagnostics.push({
          code: 'vf-conflict',
          message: `${listed.fn.bdf} is VF ${n} of ${pf.fn.bdf} by SR-IOV arithmetic but is linked to ${listed.physfn.fn.bdf}`,
          where: whereOf(listed.fn),
        });
        continue;
      }
      if (listed === pf || listed.fn.sriov !== null || listed.fn.header.headerLayout === 1) {
        diagnostics.push({
          code: 'vf-conflict',
          message: `VF ${n} of ${pf.fn.bdf} would be at ${listed.fn.bdf}, which the input shows as ${listed === pf ? 'the PF itself' : listed.fn.sriov !== null ? 'a PF' : 'a bridge'}; not linked`,
          where,
        });
        continue;
      }
      linkVf(pf, listed, n);
    }
  }
  for (const vf of created) entries.push(vf);

  // 5. Sort and index.
  entries.sort((a, b) => a.key - b.key);
  const indexOf = new Map<Entry, number>();
  const byBdf = new Map<Bdf, number>();
  entries.forEach((e, i) => {
    indexOf.set(e, i);
    byBdf.set(e.fn.bdf, i);
  });

  // 6. External-facing marks from the caller.
  const forcedExternal = new Set<number>();
  for (const text of opts.externalFacing ?? []) {
    const p = parseBdf(text);
    if (p === null)
      throw new InputError({
        code: 'bad-bdf',
        message: `external-facing port '${text}' is not a BDF (ssss:bb:dd.f)`,
      });
    const e = byKey.get(keyOf(p));
    if (e === undefined)
      throw new InputError({
        code: 'unknown-bdf',
        message: `external-facing port ${formatBdf(p)} is not in the input`,
      });
    forcedExternal.add(indexOf.get(e)!);
  }

  // 7. Parents, then untrusted in index order (a parent sorts before its children: its bus is lower).
  const parents = new Array<number | null>(entries.length);
  const orphanBuses = new Map<number, Entry>();
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const anchor = e.physfn ?? e;
    const p = busParent(anchor.parts.segment, anchor.parts.bus);
    parents[i] = p === null ? null : indexOf.get(p)!;
    if (p === null && e.physfn === null) {
      const k = e.parts.segment * 0x100 + e.parts.bus;
      if (!orphanBuses.has(k)) orphanBuses.set(k, e);
    }
  }
  warnCoveredRootBuses(orphanBuses, bridgesBySegment, diagnostics);

  const external = new Array<boolean>(entries.length);
  const untrusted = new Array<boolean>(entries.length);
  const result: MachineFunction[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const isExternal = e.fn.externalFacing === true || forcedExternal.has(i);
    const p = parents[i] ?? null;
    const isUntrusted = p !== null && (untrusted[p]! || external[p]!);
    external[i] = isExternal;
    untrusted[i] = isUntrusted;
    if (isExternal && e.fn.header.headerLayout !== 1 && e.fn.header.headerLayout !== null) {
      diagnostics.push({
        code: 'external-facing-not-bridge',
        message: `${e.fn.bdf} is marked external-facing but is not a bridge; firmware marks root or downstream ports, and nothing sits below this function`,
        where: whereOf(e.fn),
      });
    }
    const fn = e.physfn === null ? e.fn : withKernelVfIds(e.fn, e.physfn.fn, diagnostics);
    result.push({
      fn,
      index: i,
      parent: p,
      isVirtfn: e.physfn !== null,
      physfn: e.physfn === null ? null : indexOf.get(e.physfn)!,
      vfs: [...e.vfs].sort((a, b) => a.vfNumber - b.vfNumber || a.key - b.key).map((v) => indexOf.get(v)!),
      externalFacing: isExternal,
      untrusted: isUntrusted,
    });
  }
  return { functions: result, byBdf, diagnostics };
}

function linkVf(pf: Entry, vf: Entry, n: number): void {
  vf.physfn = pf;
  vf.vfNumber = n;
  pf.vfs.push(vf);
}

/** VF number from the PF's SR-IOV offset/stride, or -1 when the RID does not fit. */
function vfNumberOf(pf: Entry, vf: Entry): number {
  const s = pf.fn.sriov;
  if (s === null || s.firstVfOffset === null || s.vfStride === null) return -1;
  if (pf.parts.segment !== vf.parts.segment) return -1;
  const d = routingId(vf.parts) - routingId(pf.parts) - s.firstVfOffset;
  if (d < 0) return -1;
  if (s.vfStride === 0) return d === 0 ? 0 : -1;
  return d % s.vfStride === 0 ? d / s.vfStride : -1;
}

/** virtfn_add(): the VF gets the PF's vendor ID and the SR-IOV VF Device ID. */
function withKernelVfIds(vf: PciFunction, pf: PciFunction, diagnostics: Diagnostic[]): PciFunction {
  const vendorId = pf.header.vendorId ?? vf.header.vendorId;
  const deviceId = pf.sriov?.vfDeviceId ?? vf.header.deviceId;
  if (vendorId === vf.header.vendorId && deviceId === vf.header.deviceId) return vf;
  const shown = (v: number | null): boolean => v !== null && v !== 0xffff;
  if (
    (shown(vf.header.vendorId) && vf.header.vendorId !== vendorId) ||
    (shown(vf.header.deviceId) && vf.header.deviceId !== deviceId)
  ) {
    diagnostics.push({
      code: 'vf-id-mismatch',
      message: `${vf.bdf} shows ID ${hex4(vf.header.vendorId)}:${hex4(vf.header.deviceId)}, but its PF ${pf.bdf} says ${hex4(vendorId)}:${hex4(deviceId)}; using the PF's (virtfn_add)`,
      where: whereOf(vf),
    });
  }
  return { ...vf, header: { ...vf.header, vendorId, deviceId } };
}

/**
 * A bus with functions but no bridge leading to it is a root bus. That is suspicious only when
 * some bridge's secondary..subordinate range covers it (the bridge leading to it is missing).
 */
function warnCoveredRootBuses(
  orphans: ReadonlyMap<number, Entry>,
  bridgesBySegment: ReadonlyMap<number, readonly Entry[]>,
  diagnostics: Diagnostic[],
): void {
  if (orphans.size === 0) return;
  const coverage = new Map<number, Int32Array>();
  for (const [segment, bridges] of bridgesBySegment) {
    const diff = new Int32Array(258);
    for (const b of bridges) {
      const sec = b.fn.header.secondaryBus!;
      const sub = Math.max(b.fn.header.subordinateBus ?? sec, sec);
      diff[sec]! += 1;
      diff[sub + 1]! -= 1;
    }
    for (let i = 1; i < 257; i++) diff[i]! += diff[i - 1]!;
    coverage.set(segment, diff);
  }
  for (const [k, e] of orphans) {
    const segment = Math.floor(k / 0x100);
    const bus = k % 0x100;
    const cov = coverage.get(segment);
    if (cov === undefined || cov[bus] === 0) continue;
    diagnostics.push({
      code: 'bus-without-bridge',
      message: `bus ${hex2(bus)} lies inside a bridge's bus range but no bridge in the input has it as its secondary bus; ${e.fn.bdf} and the rest of the bus are treated as a root bus`,
      where: whereOf(e.fn),
    });
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function hex4(n: number | null): string {
  return n === null ? '????' : n.toString(16).padStart(4, '0');
}
