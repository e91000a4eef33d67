/**
 * Synthetic machines. The builder writes real configuration space with the capability encoders
 * in ./caps and then decodes it with decodeFunction(), so a built machine and an imported one
 * are the same model, down to capability offsets.
 *
 * Layout of every function (4096-byte config space):
 * - header type 0 (endpoints) or 1 (bridges, with primary/secondary/subordinate bus numbers);
 * - standard list: PCI Express at 0x40, Power Management at 0x80;
 * - extended chain from 0x100 in this order, each entry 16-byte aligned: ACS, ATS, PRI, PASID,
 *   SR-IOV, CXL Device DVSEC.
 *
 * VFs of a PF whose VF Enable is set are generated as functions of their own at the routing IDs
 * of pci_iov_virtfn_bus()/pci_iov_virtfn_devfn() (drivers/pci/iov.c). Their ID registers carry
 * the PF's vendor ID and the VF Device ID, which is what the kernel reports for a VF
 * (virtfn_add); real VFs read 0xffff there. VFs get no SR-IOV, PRI or PASID capability, and
 * their ATS STU is left at 0 (hardwired for VFs).
 */
import { InputError, type FileLocation } from '../diagnostics.js';
import {
  canonicalBdf,
  formatBdf,
  fromRoutingId,
  parseBdf,
  routingId,
  type Bdf,
  type BdfParts,
} from './bdf.js';
import {
  PCI_CAP_ID_EXP,
  PCI_CAP_ID_PM,
  PCI_EXT_CAP_ID_ACS,
  PCI_EXT_CAP_ID_ATS,
  PCI_EXT_CAP_ID_DVSEC,
  PCI_EXT_CAP_ID_PASID,
  PCI_EXT_CAP_ID_PRI,
  PCI_EXT_CAP_ID_SRIOV,
} from './capability-ids.js';
import { ACS_BITS, PCI_ACS, encodeAcs, type AcsBit } from './caps/acs.js';
import { PCI_ATS_MAX_QDEP, PCI_ATS_MIN_STU, encodeAts } from './caps/ats.js';
import { CXL_DEVICE_DVSEC_LENGTH, encodeCxlDevice } from './caps/dvsec.js';
import { PCI_CAP_EXP_SIZEOF, PCI_EXP_TYPE, encodeExpress } from './caps/express.js';
import { encodePasid } from './caps/pasid.js';
import { encodePri } from './caps/pri.js';
import { PCI_EXT_CAP_SRIOV_SIZEOF, encodeSriov, type SriovFields } from './caps/sriov.js';
import { ConfigSpace, PCI_CFG_SPACE_EXP_SIZE } from './config-space.js';
import { decodeFunction } from './decode.js';
import type { PciFunction, PciSourceKind } from './function.js';
import { buildMachine, type BuildMachineOptions, type Machine } from './topology.js';

/** PCI Express Device/Port Type, by name. */
export const PORT_TYPES = {
  endpoint: PCI_EXP_TYPE.ENDPOINT,
  'legacy-endpoint': PCI_EXP_TYPE.LEG_END,
  'root-port': PCI_EXP_TYPE.ROOT_PORT,
  'upstream-port': PCI_EXP_TYPE.UPSTREAM,
  'downstream-port': PCI_EXP_TYPE.DOWNSTREAM,
  'pcie-to-pci-bridge': PCI_EXP_TYPE.PCI_BRIDGE,
  'pci-to-pcie-bridge': PCI_EXP_TYPE.PCIE_BRIDGE,
  'rc-integrated-endpoint': PCI_EXP_TYPE.RC_END,
  'rc-event-collector': PCI_EXP_TYPE.RC_EC,
} as const;
export type PortType = keyof typeof PORT_TYPES;
export const PORT_TYPE_NAMES = Object.keys(PORT_TYPES) as PortType[];

/** Port types that are PCI-to-PCI bridges (header type 1). */
export function isBridgePortType(t: PortType): boolean {
  return (
    t === 'root-port' ||
    t === 'upstream-port' ||
    t === 'downstream-port' ||
    t === 'pcie-to-pci-bridge' ||
    t === 'pci-to-pcie-bridge'
  );
}

export interface AtsSpec {
  /** Invalidate Queue Depth, 1..32. Default 32. */
  readonly queueDepth?: number;
  readonly pageAligned?: boolean;
  readonly globalInvalidate?: boolean;
  readonly enabled?: boolean;
  /** Smallest Translation Unit as a page shift, 12..43. Default 12. */
  readonly stu?: number;
}

export interface PasidSpec {
  /** Max PASID Width, 0..20. */
  readonly width: number;
  readonly exec?: boolean;
  readonly priv?: boolean;
  readonly enabled?: boolean;
  readonly execEnabled?: boolean;
  readonly privEnabled?: boolean;
}

export interface PriSpec {
  /** Outstanding Page Request Capacity. Default 0x200. */
  readonly capacity?: number;
  readonly allocation?: number;
  readonly enabled?: boolean;
  /** PRI Status "Stopped". Default true (an idle, disabled PRI interface). */
  readonly stopped?: boolean;
  /** PRG Response PASID Required. */
  readonly pasidRequired?: boolean;
}

export interface AcsSpec {
  readonly capability: readonly AcsBit[];
  readonly control?: readonly AcsBit[];
}

export interface CxlSpec {
  readonly cacheCapable: boolean;
  /** Default true: every CXL device speaks CXL.io. */
  readonly ioCapable?: boolean;
  readonly memCapable?: boolean;
  /** HDM_Count, 0..2. */
  readonly hdmCount?: number;
  readonly cacheEnabled?: boolean;
  /** DVSEC revision, 0..15. Default 1 (CXL 2.0). */
  readonly revision?: number;
}

export interface VfSpec {
  /** ATS on each VF; the STU is the PF's, so it is not given here. */
  readonly ats?: Omit<AtsSpec, 'stu'>;
  readonly flr?: boolean;
  readonly acs?: AcsSpec;
}

/** The SR-IOV capability's fields (as the encoder takes them, page sizes defaulted), and the VFs' contents. */
export interface SriovSpec extends Omit<SriovFields, 'supportedPageSizes' | 'systemPageSize'> {
  /** What each generated VF carries. */
  readonly vf?: VfSpec;
}

export interface FunctionSpec {
  readonly vendorId: number;
  readonly deviceId: number;
  readonly revision?: number;
  /** 24-bit class code. Default 0x060400 for bridges, 0xff0000 (unassigned) otherwise. */
  readonly classCode?: number;
  /** Type-0 functions only. */
  readonly subsystemVendorId?: number;
  readonly subsystemId?: number;
  /** Default 'endpoint'. */
  readonly portType?: PortType;
  /** Bridges only (and required for them). */
  readonly secondaryBus?: number;
  readonly subordinateBus?: number;
  /** Express "Slot Implemented" (root and downstream ports). */
  readonly slot?: boolean;
  /** Header type bit 7. Default: true when another listed function shares the device number. */
  readonly multiFunction?: boolean;
  /** Function Level Reset capable (DevCap bit 28). */
  readonly flr?: boolean;
  /** End-End TLP Prefix supported (DevCap2 bit 21). Default: true when PASID is given. */
  readonly eeTlpPrefix?: boolean;
  readonly ats?: AtsSpec;
  readonly pasid?: PasidSpec;
  readonly pri?: PriSpec;
  readonly acs?: AcsSpec;
  readonly cxl?: CxlSpec;
  readonly sriov?: SriovSpec;
  /** Firmware marks this port external-facing (ACPI ExternalFacingPort). */
  readonly externalFacing?: boolean;
  /** The bound kernel driver, if any. */
  readonly driver?: string;
}

/** Options of the bridge shorthands; IDs default to real parts. */
export type BridgeSpec = Omit<
  FunctionSpec,
  'portType' | 'vendorId' | 'deviceId' | 'secondaryBus' | 'subordinateBus'
> & {
  readonly vendorId?: number;
  readonly deviceId?: number;
  readonly secondaryBus: number;
  readonly subordinateBus: number;
};

export interface BuilderOptions {
  /** Recorded in every PciFunction; the machine-file importer passes 'machine-file'. */
  readonly sourceKind?: PciSourceKind;
}

interface Listed {
  readonly bdf: Bdf;
  readonly parts: BdfParts;
  readonly spec: FunctionSpec;
  readonly source: FileLocation | null;
}

interface Planned {
  readonly bdf: Bdf;
  readonly cs: ConfigSpace;
  readonly source: FileLocation | null;
  readonly externalFacing: boolean;
  readonly driver: string | null;
  readonly physfnHint: Bdf | null;
}

const PCI_COMMAND = 0x04;
const PCI_STATUS = 0x06;
const PCI_STATUS_CAP_LIST = 0x10;
const PCI_CAPABILITY_LIST = 0x34;
const PCI_EXP_OFFSET = 0x40;
const PCI_PM_OFFSET = 0x40 + 0x40;
const PCI_PM_PMC = 2;
const PCI_EXT_CAP_ATS_SIZEOF = 8;
const PCI_EXT_CAP_PASID_SIZEOF = 8;
const PCI_EXT_CAP_PRI_SIZEOF = 16;
const PCI_EXT_CAP_ACS_SIZEOF = 8;
/** The Egress Control Vector that follows ACS when EC is supported: 256 bits when the size field is 0. */
const PCI_ACS_EGRESS_VECTOR_BYTES = 32;

function fail(bdf: string, message: string): never {
  throw new InputError({ code: 'builder-invalid', message: `${bdf}: ${message}`, where: { bdf } });
}

function checkInt(bdf: string, path: string, v: unknown, min: number, max: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    fail(bdf, `${path} must be an integer in ${fmtRange(min, max)}, got ${show(v)}`);
}

function fmtRange(min: number, max: number): string {
  return max > 255 ? `0x${min.toString(16)}..0x${max.toString(16)}` : `${min}..${max}`;
}

function checkBool(bdf: string, path: string, v: unknown): void {
  if (v !== undefined && typeof v !== 'boolean') fail(bdf, `${path} must be true or false, got ${show(v)}`);
}

/** A value for an error message, without relying on an object's toString(). */
function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v == null) return String(v);
  return Array.isArray(v) ? 'a list' : `a value of type ${typeof v}`;
}

function checkOptInt(bdf: string, path: string, v: unknown, min: number, max: number): void {
  if (v !== undefined) checkInt(bdf, path, v, min, max);
}

function checkAts(bdf: string, path: string, a: AtsSpec): void {
  checkOptInt(bdf, `${path}.queueDepth`, a.queueDepth, 1, PCI_ATS_MAX_QDEP);
  checkOptInt(bdf, `${path}.stu`, a.stu, PCI_ATS_MIN_STU, PCI_ATS_MIN_STU + 31);
  for (const k of ['pageAligned', 'globalInvalidate', 'enabled'] as const)
    checkBool(bdf, `${path}.${k}`, a[k]);
}

function checkAcs(bdf: string, path: string, a: AcsSpec): void {
  const lists: [string, unknown][] = [
    ['capability', a.capability],
    ['control', a.control ?? []],
  ];
  for (const [name, list] of lists) {
    if (!Array.isArray(list))
      fail(bdf, `${path}.${name} must be a list of ACS bits (${ACS_BITS.join(', ')})`);
    for (const b of list as unknown[])
      if (typeof b !== 'string' || !Object.hasOwn(PCI_ACS, b))
        fail(bdf, `${path}.${name}: ${show(b)} is not an ACS bit (${ACS_BITS.join(', ')})`);
  }
}

function validate(bdf: Bdf, parts: BdfParts, s: FunctionSpec): void {
  checkInt(bdf, 'vendorId', s.vendorId, 0, 0xffff);
  checkInt(bdf, 'deviceId', s.deviceId, 0, 0xffff);
  checkOptInt(bdf, 'revision', s.revision, 0, 0xff);
  checkOptInt(bdf, 'classCode', s.classCode, 0, 0xffffff);
  const portType = s.portType ?? 'endpoint';
  if (!Object.hasOwn(PORT_TYPES, portType))
    fail(bdf, `portType ${show(portType)} is not one of ${PORT_TYPE_NAMES.join(', ')}`);
  const bridge = isBridgePortType(portType);
  if (bridge) {
    if (s.secondaryBus === undefined || s.subordinateBus === undefined)
      fail(bdf, `a ${portType} needs secondaryBus and subordinateBus`);
    checkInt(bdf, 'secondaryBus', s.secondaryBus, parts.bus + 1, 0xff);
    checkInt(bdf, 'subordinateBus', s.subordinateBus, s.secondaryBus, 0xff);
    if (s.subsystemVendorId !== undefined || s.subsystemId !== undefined)
      fail(bdf, 'subsystem IDs of a bridge live in a Subsystem capability the builder does not write');
    for (const k of ['sriov', 'cxl', 'pasid', 'pri'] as const)
      if (s[k] !== undefined) fail(bdf, `${k} is not supported on a ${portType}`);
  } else {
    if (s.secondaryBus !== undefined || s.subordinateBus !== undefined)
      fail(bdf, `secondaryBus/subordinateBus are for bridges, not a ${portType}`);
    checkOptInt(bdf, 'subsystemVendorId', s.subsystemVendorId, 0, 0xffff);
    checkOptInt(bdf, 'subsystemId', s.subsystemId, 0, 0xffff);
  }
  for (const k of ['slot', 'multiFunction', 'flr', 'eeTlpPrefix', 'externalFacing'] as const)
    checkBool(bdf, k, s[k]);
  if (s.driver !== undefined && (typeof s.driver !== 'string' || s.driver === ''))
    fail(bdf, 'driver must be a non-empty string');
  if (s.ats !== undefined) checkAts(bdf, 'ats', s.ats);
  if (s.pasid !== undefined) {
    checkInt(bdf, 'pasid.width', s.pasid.width, 0, 20);
    for (const k of ['exec', 'priv', 'enabled', 'execEnabled', 'privEnabled'] as const)
      checkBool(bdf, `pasid.${k}`, s.pasid[k]);
  }
  if (s.pri !== undefined) {
    checkOptInt(bdf, 'pri.capacity', s.pri.capacity, 0, 0xffffffff);
    checkOptInt(bdf, 'pri.allocation', s.pri.allocation, 0, 0xffffffff);
    for (const k of ['enabled', 'stopped', 'pasidRequired'] as const) checkBool(bdf, `pri.${k}`, s.pri[k]);
  }
  if (s.acs !== undefined) checkAcs(bdf, 'acs', s.acs);
  if (s.cxl !== undefined) {
    checkBool(bdf, 'cxl.cacheCapable', s.cxl.cacheCapable);
    if (typeof s.cxl.cacheCapable !== 'boolean') fail(bdf, 'cxl.cacheCapable must be true or false');
    checkOptInt(bdf, 'cxl.hdmCount', s.cxl.hdmCount, 0, 2);
    checkOptInt(bdf, 'cxl.revision', s.cxl.revision, 0, 15);
    for (const k of ['ioCapable', 'memCapable', 'cacheEnabled'] as const)
      checkBool(bdf, `cxl.${k}`, s.cxl[k]);
  }
  const v = s.sriov;
  if (v !== undefined) {
    checkInt(bdf, 'sriov.totalVFs', v.totalVFs, 0, 0xffff);
    checkOptInt(bdf, 'sriov.initialVFs', v.initialVFs, 0, v.totalVFs);
    checkOptInt(bdf, 'sriov.numVFs', v.numVFs, 0, v.totalVFs);
    checkInt(bdf, 'sriov.firstVfOffset', v.firstVfOffset, 0, 0xffff);
    checkInt(bdf, 'sriov.vfStride', v.vfStride, 0, 0xffff);
    checkInt(bdf, 'sriov.vfDeviceId', v.vfDeviceId, 0, 0xffff);
    for (const k of ['vfEnable', 'vfMse', 'ariHierarchy'] as const) checkBool(bdf, `sriov.${k}`, v[k]);
    const n = v.numVFs ?? 0;
    if (v.vfEnable === true && n > 0) {
      // sriov_init() (drivers/pci/iov.c) rejects these.
      if (v.firstVfOffset === 0) fail(bdf, 'sriov.firstVfOffset must be at least 1 when VFs are enabled');
      if (n > 1 && v.vfStride === 0)
        fail(bdf, 'sriov.vfStride must be at least 1 when more than one VF is enabled');
      const last = routingId(parts) + v.firstVfOffset + (n - 1) * v.vfStride;
      if (last > 0xffff)
        fail(bdf, `sriov: VF ${n - 1} would have routing ID 0x${last.toString(16)}, past bus ff`);
    }
    if (v.vf !== undefined) {
      if (v.vf.ats !== undefined) {
        if ('stu' in v.vf.ats) fail(bdf, "sriov.vf.ats.stu: a VF has no STU of its own (it uses the PF's)");
        checkAts(bdf, 'sriov.vf.ats', v.vf.ats);
      }
      checkBool(bdf, 'sriov.vf.flr', v.vf.flr);
      if (v.vf.acs !== undefined) checkAcs(bdf, 'sriov.vf.acs', v.vf.acs);
    }
  }
}

/** Allocates the extended capability chain from 0x100, linking each header to the next. */
class ExtChain {
  private next = 0x100;
  private last = -1;
  constructor(private readonly cs: ConfigSpace) {}

  add(id: number, size: number, version = 1): number {
    const at = this.next;
    if (at + size > PCI_CFG_SPACE_EXP_SIZE)
      throw new RangeError('extended capabilities do not fit in 4096 bytes');
    this.cs.write32(at, id | (version << 16));
    if (this.last >= 0) this.cs.write32(this.last, (this.cs.read32(this.last) & 0xfffff) | (at << 20));
    this.last = at;
    this.next = (at + size + 15) & ~15;
    return at;
  }
}

interface LayoutInput {
  readonly parts: BdfParts;
  readonly vendorId: number;
  readonly deviceId: number;
  readonly revision: number;
  readonly classCode: number;
  readonly headerLayout: 0 | 1;
  readonly multiFunction: boolean;
  readonly command: number;
  readonly subsystemVendorId: number;
  readonly subsystemId: number;
  readonly secondaryBus: number;
  readonly subordinateBus: number;
  readonly portType: number;
  readonly slot: boolean;
  readonly flr: boolean;
  readonly eeTlpPrefix: boolean;
  readonly acs?: AcsSpec | undefined;
  readonly ats?: AtsSpec | undefined;
  readonly pri?: PriSpec | undefined;
  readonly pasid?: PasidSpec | undefined;
  readonly sriov?: SriovSpec | undefined;
  readonly cxl?: CxlSpec | undefined;
}

function layOut(f: LayoutInput): ConfigSpace {
  const cs = new ConfigSpace(PCI_CFG_SPACE_EXP_SIZE);
  cs.write16(0x00, f.vendorId);
  cs.write16(0x02, f.deviceId);
  cs.write16(PCI_COMMAND, f.command);
  cs.write16(PCI_STATUS, PCI_STATUS_CAP_LIST);
  cs.write8(0x08, f.revision);
  cs.write8(0x09, f.classCode & 0xff);
  cs.write8(0x0a, (f.classCode >> 8) & 0xff);
  cs.write8(0x0b, (f.classCode >> 16) & 0xff);
  cs.write8(0x0e, f.headerLayout | (f.multiFunction ? 0x80 : 0));
  if (f.headerLayout === 1) {
    cs.write8(0x18, f.parts.bus);
    cs.write8(0x19, f.secondaryBus);
    cs.write8(0x1a, f.subordinateBus);
  } else {
    cs.write16(0x2c, f.subsystemVendorId);
    cs.write16(0x2e, f.subsystemId);
  }
  cs.write8(PCI_CAPABILITY_LIST, PCI_EXP_OFFSET);

  // Standard list: Express, then Power Management (version 3).
  cs.write8(PCI_EXP_OFFSET, PCI_CAP_ID_EXP);
  cs.write8(PCI_EXP_OFFSET + 1, PCI_PM_OFFSET);
  encodeExpress(cs, PCI_EXP_OFFSET, {
    portType: f.portType,
    version: 2,
    slotImplemented: f.slot,
    flrCapable: f.flr,
    eeTlpPrefix: f.eeTlpPrefix,
  });
  if (PCI_EXP_OFFSET + PCI_CAP_EXP_SIZEOF > PCI_PM_OFFSET)
    throw new RangeError('Express capability overlaps PM');
  cs.write8(PCI_PM_OFFSET, PCI_CAP_ID_PM);
  cs.write8(PCI_PM_OFFSET + 1, 0);
  cs.write16(PCI_PM_OFFSET + PCI_PM_PMC, 0x0003);

  const chain = new ExtChain(cs);
  if (f.acs !== undefined) {
    const ec = f.acs.capability.includes('EC');
    const o = chain.add(PCI_EXT_CAP_ID_ACS, PCI_EXT_CAP_ACS_SIZEOF + (ec ? PCI_ACS_EGRESS_VECTOR_BYTES : 0));
    encodeAcs(cs, o, { capability: f.acs.capability, control: f.acs.control ?? [] });
  }
  if (f.ats !== undefined) encodeAts(cs, chain.add(PCI_EXT_CAP_ID_ATS, PCI_EXT_CAP_ATS_SIZEOF), f.ats);
  if (f.pri !== undefined) encodePri(cs, chain.add(PCI_EXT_CAP_ID_PRI, PCI_EXT_CAP_PRI_SIZEOF), f.pri);
  if (f.pasid !== undefined)
    encodePasid(cs, chain.add(PCI_EXT_CAP_ID_PASID, PCI_EXT_CAP_PASID_SIZEOF), f.pasid);
  if (f.sriov !== undefined) {
    const s = f.sriov;
    encodeSriov(cs, chain.add(PCI_EXT_CAP_ID_SRIOV, PCI_EXT_CAP_SRIOV_SIZEOF), {
      totalVFs: s.totalVFs,
      ...(s.initialVFs === undefined ? {} : { initialVFs: s.initialVFs }),
      numVFs: s.numVFs ?? 0,
      vfEnable: s.vfEnable ?? false,
      vfMse: s.vfMse ?? s.vfEnable ?? false,
      ariHierarchy: s.ariHierarchy ?? false,
      firstVfOffset: s.firstVfOffset,
      vfStride: s.vfStride,
      vfDeviceId: s.vfDeviceId,
    });
  }
  if (f.cxl !== undefined)
    encodeCxlDevice(cs, chain.add(PCI_EXT_CAP_ID_DVSEC, CXL_DEVICE_DVSEC_LENGTH), f.cxl);
  return cs;
}

/** Default IDs of the bridge shorthands: an Intel Sky Lake-E root port and a Broadcom/PLX PEX 8747 switch. */
const ROOT_PORT_IDS = { vendorId: 0x8086, deviceId: 0x2030 };
const SWITCH_PORT_IDS = { vendorId: 0x10b5, deviceId: 0x8747 };

/** IDs the bridge shorthands use when none are given. */
export function bridgeDefaultIds(t: PortType): { readonly vendorId: number; readonly deviceId: number } {
  return t === 'root-port' ? ROOT_PORT_IDS : SWITCH_PORT_IDS;
}

export class MachineBuilder {
  private readonly listed: Listed[] = [];
  private readonly byBdf = new Map<Bdf, Listed>();
  private readonly sourceKind: PciSourceKind;

  constructor(opts: BuilderOptions = {}) {
    this.sourceKind = opts.sourceKind ?? 'builder';
  }

  /** Adds a function. `source` records where a machine file described it. */
  function(bdfText: string, spec: FunctionSpec, source: FileLocation | null = null): this {
    const bdf = typeof bdfText === 'string' ? canonicalBdf(bdfText) : null;
    if (bdf === null)
      throw new InputError({
        code: 'bad-bdf',
        message: `${show(bdfText)} is not a PCI address (ssss:bb:dd.f or bb:dd.f, hex)`,
        ...(source === null ? {} : { where: source }),
      });
    if (this.byBdf.has(bdf))
      throw new InputError({
        code: 'duplicate-bdf',
        message: `${bdf} is listed twice`,
        where: source ?? { bdf },
      });
    const parts = parseBdf(bdf)!;
    try {
      validate(bdf, parts, spec);
    } catch (e) {
      if (e instanceof InputError && source !== null)
        throw new InputError({ ...e.diagnostic, where: source });
      throw e;
    }
    const entry: Listed = { bdf, parts, spec, source };
    this.listed.push(entry);
    this.byBdf.set(bdf, entry);
    return this;
  }

  rootPort(bdf: string, spec: BridgeSpec, source: FileLocation | null = null): this {
    return this.function(bdf, { ...ROOT_PORT_IDS, ...spec, portType: 'root-port' }, source);
  }

  switchUpstreamPort(bdf: string, spec: BridgeSpec, source: FileLocation | null = null): this {
    return this.function(bdf, { ...SWITCH_PORT_IDS, ...spec, portType: 'upstream-port' }, source);
  }

  switchDownstreamPort(bdf: string, spec: BridgeSpec, source: FileLocation | null = null): this {
    return this.function(bdf, { ...SWITCH_PORT_IDS, ...spec, portType: 'downstream-port' }, source);
  }

  /** Every function (listed ones and generated VFs), decoded from the config space written. */
  toPciFunctions(): PciFunction[] {
    return this.plan().map((p) =>
      decodeFunction(p.cs, p.bdf, {
        sourceKind: this.sourceKind,
        source: p.source,
        externalFacing: p.externalFacing,
        driver: p.driver,
        physfnHint: p.physfnHint,
      }),
    );
  }

  build(opts?: BuildMachineOptions): Machine {
    return buildMachine(this.toPciFunctions(), opts);
  }

  private plan(): Planned[] {
    const devices = new Map<number, number>();
    for (const l of this.listed) {
      const k = l.parts.segment * 0x10000 + l.parts.bus * 0x100 + l.parts.device;
      devices.set(k, (devices.get(k) ?? 0) + 1);
    }
    const out: Planned[] = [];
    const taken = new Map<Bdf, string>(this.listed.map((l) => [l.bdf, 'a listed function']));
    for (const l of this.listed) {
      const s = l.spec;
      const portType = s.portType ?? 'endpoint';
      const bridge = isBridgePortType(portType);
      const k = l.parts.segment * 0x10000 + l.parts.bus * 0x100 + l.parts.device;
      const classCode = s.classCode ?? (bridge ? 0x060400 : 0xff0000);
      const cs = layOut({
        parts: l.parts,
        vendorId: s.vendorId,
        deviceId: s.deviceId,
        revision: s.revision ?? 0,
        classCode,
        headerLayout: bridge ? 1 : 0,
        multiFunction: s.multiFunction ?? (devices.get(k) ?? 0) > 1,
        command: 0x0006,
        subsystemVendorId: s.subsystemVendorId ?? 0,
        subsystemId: s.subsystemId ?? 0,
        secondaryBus: s.secondaryBus ?? 0,
        subordinateBus: s.subordinateBus ?? 0,
        portType: PORT_TYPES[portType],
        slot: s.slot ?? false,
        flr: s.flr ?? false,
        eeTlpPrefix: s.eeTlpPrefix ?? s.pasid !== undefined,
        acs: s.acs,
        ats: s.ats,
        pri: s.pri,
        pasid: s.pasid,
        sriov: s.sriov,
        cxl: s.cxl,
      });
      out.push({
        bdf: l.bdf,
        cs,
        source: l.source,
        externalFacing: s.externalFacing ?? false,
        driver: s.driver ?? null,
        physfnHint: null,
      });
      const v = s.sriov;
      const numVFs = v?.numVFs ?? 0;
      if (v === undefined || v.vfEnable !== true || numVFs === 0) continue;
      const pfRid = routingId(l.parts);
      for (let n = 0; n < numVFs; n++) {
        const parts = fromRoutingId(l.parts.segment, pfRid + v.firstVfOffset + n * v.vfStride);
        const bdf = formatBdf(parts);
        const clash = taken.get(bdf);
        if (clash !== undefined)
          throw new InputError({
            code: 'duplicate-bdf',
            message: `${l.bdf}: VF ${n} would be at ${bdf}, which is already ${clash}`,
            where: l.source ?? { bdf: l.bdf },
          });
        taken.set(bdf, `VF ${n} of ${l.bdf}`);
        const vcs = layOut({
          parts,
          vendorId: s.vendorId,
          deviceId: v.vfDeviceId,
          revision: s.revision ?? 0,
          classCode,
          headerLayout: 0,
          multiFunction: false,
          command: 0x0004,
          subsystemVendorId: s.subsystemVendorId ?? 0,
          subsystemId: s.subsystemId ?? 0,
          secondaryBus: 0,
          subordinateBus: 0,
          portType: PORT_TYPES[portType],
          slot: false,
          flr: v.vf?.flr ?? false,
          eeTlpPrefix: false,
          acs: v.vf?.acs,
          ats: v.vf?.ats,
        });
        out.push({ bdf, cs: vcs, source: l.source, externalFacing: false, driver: null, physfnHint: l.bdf });
      }
    }
    return out;
  }
}
