/**
 * The lspci text importer: one device block of `lspci -v`, `-vv` or `-vvv` output (with or
 * without `-n`/`-nn`, `-D`, `-PP`) read into a PciFunction. Only what the text shows is known;
 * every other field is null and named in `unknown`. The wording followed is pciutils' own
 * (lspci.c show_terse/show_verbose, ls-caps.c show_caps/cap_express, ls-ecaps.c show_ext_caps),
 * including the older wordings still found in bug reports.
 *
 * Input is treated as untrusted: odd indentation, CRLF, tabs or spaces and mail-wrapped lines are
 * tolerated. A recognised line with a malformed value gives a warning naming `file:line` and the
 * field stays unknown. Only a device line that names no PCI address throws (InputError).
 */
import { InputError, type Diagnostic } from '../diagnostics.js';
import { formatBdf, parseBdf, type Bdf, type BdfParts } from '../pci/bdf.js';
import type { CapabilityRef } from '../pci/capabilities.js';
import {
  PCI_CAP_ID_EXP,
  PCI_EXT_CAP_ID_ACS,
  PCI_EXT_CAP_ID_ATS,
  PCI_EXT_CAP_ID_DVSEC,
  PCI_EXT_CAP_ID_PASID,
  PCI_EXT_CAP_ID_PRI,
  PCI_EXT_CAP_ID_SRIOV,
  extCapName,
  stdCapName,
} from '../pci/capability-ids.js';
import { PCI_ACS, type AcsBit, type AcsCap } from '../pci/caps/acs.js';
import type { AtsCap } from '../pci/caps/ats.js';
import {
  PCI_DVSEC_CXL_DEVICE,
  PCI_VENDOR_ID_CXL,
  type CxlDeviceDvsec,
  type DvsecHeader,
} from '../pci/caps/dvsec.js';
import type { ExpressCap } from '../pci/caps/express.js';
import type { PasidCap } from '../pci/caps/pasid.js';
import type { PriCap } from '../pci/caps/pri.js';
import type { SriovCap } from '../pci/caps/sriov.js';
import type { PciFunction, PciHeader } from '../pci/function.js';

export interface TextLine {
  readonly text: string;
  /** 1-based line in the file. */
  readonly line: number;
}

/** A device line shorter than this cannot have lost its `(rev ..)` to a mail client's wrap. */
const WRAP_SAFE = 60;
/** Longer than the first word of a wrapped-away tail (` (prog-if`). */
const WRAP_WORD = 10;
/** Longest line read; lspci's are a few hundred characters at most. */
const MAX_LINE = 1024;
/** Longest entry (a line and its continuation lines) read. */
const MAX_ENTRY = 4 * MAX_LINE;
/** Standard config space ends here; lspci prints extended capabilities at [100] and above. */
const EXT_CAP_START = 0x100;

// ---------------------------------------------------------------------------------------------
// Capability names as lspci prints them (ls-caps.c show_caps, ls-ecaps.c show_ext_caps), with
// the older wordings of earlier pciutils releases. A name matches when the header text starts
// with it and the next character is the end, a space or a colon.

const STD_NAMES: readonly (readonly [string, number])[] = [
  ['Power Management version', 0x01],
  ['AGP version', 0x02],
  ['Vital Product Data', 0x03],
  ['Slot ID', 0x04],
  ['MSI', 0x05],
  ['Message Signalled Interrupts', 0x05],
  ['CompactPCI hot-swap', 0x06],
  ['PCI-X', 0x07],
  ['HyperTransport', 0x08],
  ['Vendor Specific Information', 0x09],
  ['Debug port', 0x0a],
  ['CompactPCI central resource control', 0x0b],
  ['Hot-plug capable', 0x0c],
  ['Subsystem', 0x0d],
  ['AGP3', 0x0e],
  ['Secure device', 0x0f],
  ['Express', 0x10],
  ['MSI-X', 0x11],
  ['SATA HBA', 0x12],
  ['PCI Advanced Features', 0x13],
  ['PCIe advanced features', 0x13],
  ['Enhanced Allocation', 0x14],
];

/** `Virtual Channel` is deliberately absent: lspci prints it for both IDs 0x02 and 0x09. */
const EXT_NAMES: readonly (readonly [string, number])[] = [
  ['Null', 0x00],
  ['Advanced Error Reporting', 0x01],
  ['Device Serial Number', 0x03],
  ['Power Budgeting', 0x04],
  ['Root Complex Link', 0x05],
  ['Root Complex Internal Link', 0x06],
  ['Root Complex Event Collector Endpoint Association', 0x07],
  ['Root Complex Event Collector', 0x07],
  ['Multi-Function Virtual Channel', 0x08],
  ['Root Complex Register Block', 0x0a],
  ['Vendor Specific Information', 0x0b],
  ['Access Control Services', 0x0d],
  ['Alternative Routing-ID Interpretation (ARI)', 0x0e],
  ['Address Translation Service (ATS)', 0x0f],
  ['Single Root I/O Virtualization (SR-IOV)', 0x10],
  ['Multi-Root I/O Virtualization', 0x11],
  ['Multicast', 0x12],
  ['Page Request Interface (PRI)', 0x13],
  ['Physical Resizable BAR', 0x15],
  ['Resizable BAR', 0x15],
  ['Dynamic Power Allocation', 0x16],
  ['Transaction Processing Hints', 0x17],
  ['Latency Tolerance Reporting', 0x18],
  ['Secondary PCI Express', 0x19],
  ['Protocol Multiplexing', 0x1a],
  ['Process Address Space ID (PASID)', 0x1b],
  ['LN Requester', 0x1c],
  ['Downstream Port Containment', 0x1d],
  ['L1 PM Substates', 0x1e],
  ['Precision Time Measurement', 0x1f],
  ['PCI Express over M_PHY', 0x20],
  ['FRS Queueing', 0x21],
  ['Readiness Time Reporting', 0x22],
  ['Designated Vendor-Specific', 0x23],
  ['CXL Designated Vendor-Specific', 0x23],
  ['Virtual Resizable BAR', 0x24],
  ['VF Resizable BAR', 0x24],
  ['Data Link Feature', 0x25],
  ['Physical Layer 16.0 GT/s', 0x26],
  ['Lane Margining at the Receiver', 0x27],
  ['Hierarchy ID', 0x28],
  ['Native PCIe Enclosure Management', 0x29],
  ['Physical Layer 32.0 GT/s', 0x2a],
  ['Data Object Exchange', 0x2e],
  ['Device 3', 0x2f],
  ['Integrity & Data Encryption', 0x30],
  ['Physical Layer 64.0 GT/s', 0x31],
];

const byLength = (a: readonly [string, number], b: readonly [string, number]): number =>
  b[0].length - a[0].length;
const STD_SORTED = [...STD_NAMES].sort(byLength);
const EXT_SORTED = [...EXT_NAMES].sort(byLength);

function lookupName(table: readonly (readonly [string, number])[], text: string): number | null {
  for (const [name, id] of table) {
    if (!text.startsWith(name)) continue;
    const next = text.charAt(name.length);
    if (next === '' || next === ' ' || next === ':' || next === '\t') return id;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Line patterns.

/** Lines lspci prints at the top level of a device block (lspci.c show_verbose and friends). */
const TOP_KEY_RE =
  /^(?:Subsystem:|DeviceName:|Physical Slot:|Flags:|Control:|Status:|Latency:|Interrupt:|BIST |Region \d|Memory at |I\/O ports at |\[virtual\]|Expansion ROM |Bus:|I\/O behind bridge|Memory behind bridge|Prefetchable memory behind bridge|Secondary status:|BridgeCtl:|Capabilities:|Kernel driver in use:|Kernel modules:|NUMA node:|IOMMU group:|!!! |Memory window \d|I\/O window \d|16-bit legacy interface|Module:|Device tree node:)/;

const CAP_RE = /^Capabilities:\s*\[([0-9a-fA-F]+)(?:\s+v(\d+))?\]\s*(.*)$/;
const CAP_DENIED_RE = /^Capabilities:\s*<access denied>/;

const EXPRESS_RE = /^Express(?:\s+\(v(\d+)\))?\s+(.+?)(?:,?\s+(?:MSI|IntMsgNum|IRQ)\s.*)?$/;
const SLOT_RE = /^(.*?)\s+\(Slot([+-])\)$/;
/** ls-caps.c cap_express: the Device/Port Type names. */
const PORT_TYPES: ReadonlyMap<string, number> = new Map([
  ['Endpoint', 0x0],
  ['Legacy Endpoint', 0x1],
  ['Root Port', 0x4],
  ['Upstream Port', 0x5],
  ['Downstream Port', 0x6],
  ['PCI-Express to PCI/PCI-X Bridge', 0x7],
  ['PCI/PCI-X to PCI-Express Bridge', 0x8],
  ['Root Complex Integrated Endpoint', 0x9],
  ['Root Complex Event Collector', 0xa],
]);

const DVSEC_RE =
  /^Designated Vendor-Specific:\s*Vendor=([0-9a-fA-F]+)\s+ID=([0-9a-fA-F]+)\s+Rev=(\d+)\s+Len=(\d+)(?::\s*CXL|\s*<\?>)?\s*$/;
const DVSEC_UNREADABLE_RE = /^Designated Vendor-Specific:\s*<unreadable>/;
const OLD_CXL_DVSEC_RE = /^CXL Designated Vendor-Specific:?\s*$/;

const BUS_RE =
  /^Bus:\s*primary=([0-9a-fA-F]+),\s*secondary=([0-9a-fA-F]+),\s*subordinate=([0-9a-fA-F]+),\s*sec-latency=\d+\s*$/;
const TYPE1_MARK_RE =
  /^(?:I\/O behind bridge|Memory behind bridge|Prefetchable memory behind bridge|!!! Unknown (?:I\/O|memory|prefetchable memory) range types|Secondary status: 66MHz|BridgeCtl:.*NoISA)/;
const CARDBUS_MARK_RE = /^(?:Memory window \d|I\/O window \d|16-bit legacy interface|BridgeCtl:.*16bInt)/;
const REGION_RE = /^Region (\d+):/;

const DETAIL_RES: Readonly<Record<string, RegExp>> = {
  'ATSCap:': /^ATSCap:\s*Invalidate Queue Depth:\s*([0-9a-fA-F]+)\s*$/,
  'ATSCtl:': /^ATSCtl:\s*Enable([+-]),?\s+Smallest Translation Unit:\s*([0-9a-fA-F]+)\s*$/,
  'IOVCtl:':
    /^IOVCtl:\s*Enable([+-]),?\s+Migration([+-]),?\s+Interrupt([+-]),?\s+MSE([+-]),?\s+ARIHierarchy([+-])(?:,?\s+10BitTagReq[+-])?\s*$/,
  'Initial VFs:':
    /^Initial VFs:\s*(\d+),\s*Total VFs:\s*(\d+),\s*Number of VFs:\s*(\d+),\s*Function Dependency Link:\s*([0-9a-fA-F]+)\s*$/,
  'VF offset:': /^VF offset:\s*(\d+),\s*stride:\s*(\d+),\s*Device ID:\s*([0-9a-fA-F]+)\s*$/,
  'Supported Page Size:': /^Supported Page Size:\s*([0-9a-fA-F]+),\s*System Page Size:\s*([0-9a-fA-F]+)\s*$/,
  'PASIDCap:': /^PASIDCap:\s*Exec([+-]),?\s+Priv([+-]),\s*Max PASID Width:\s*([0-9a-fA-F]+)\s*$/,
  'PASIDCtl:': /^PASIDCtl:\s*Enable([+-]),?\s+Exec([+-]),?\s+Priv([+-])\s*$/,
  'PRICtl:': /^PRICtl:\s*Enable([+-]),?\s+Reset([+-])\s*$/,
  'PRISta:': /^PRISta:\s*RF([+-]),?\s+UPRGI([+-]),?\s+Stopped([+-])(?:,?\s+PASID([+-]))?\s*$/,
  'Page Request Capacity:':
    /^Page Request Capacity:\s*([0-9a-fA-F]+),\s*Page Request Allocation:\s*([0-9a-fA-F]+)\s*$/,
  'ACSCap:':
    /^ACSCap:\s*SrcValid([+-]),?\s+TransBlk([+-]),?\s+ReqRedir([+-]),?\s+CmpltRedir([+-]),?\s+UpstreamFwd([+-]),?\s+EgressCtrl([+-]),?\s+DirectTrans([+-])\s*$/,
  'ACSCtl:':
    /^ACSCtl:\s*SrcValid([+-]),?\s+TransBlk([+-]),?\s+ReqRedir([+-]),?\s+CmpltRedir([+-]),?\s+UpstreamFwd([+-]),?\s+EgressCtrl([+-]),?\s+DirectTrans([+-])\s*$/,
  'CXLCap:':
    /^CXLCap:\s*Cache([+-])\s+IO([+-])\s+Mem([+-])\s+(?:Mem HW Init|MemHWInit)([+-])\s+HDMCount\s+(\d+)\s+Viral([+-])\s*$/,
  'CXLCtl:':
    /^CXLCtl:\s*Cache([+-])\s+IO([+-])\s+Mem([+-])\s+(?:Cache SF Cov|CacheSFCov)\s+\d+\s+(?:Cache SF Gran|CacheSFGran)\s+\d+\s+(?:Cache Clean|CacheClean)([+-])\s+Viral([+-])\s*$/,
};
const DETAIL_KEYS = Object.keys(DETAIL_RES);

function detailKey(text: string): string | null {
  for (const k of DETAIL_KEYS) if (text.startsWith(k)) return k;
  return null;
}

/** `Name+` / `Name-` anywhere in a line, as lspci's FLAG() prints it. */
function flagIn(text: string, name: string): boolean | null {
  let from = 0;
  for (;;) {
    const i = text.indexOf(name, from);
    if (i < 0) return null;
    const before = i === 0 ? ' ' : text.charAt(i - 1);
    const sign = text.charAt(i + name.length);
    const after = text.charAt(i + name.length + 1);
    if (
      (before === ' ' || before === '\t' || before === ',' || before === ':') &&
      (sign === '+' || sign === '-') &&
      (after === '' || after === ' ' || after === '\t' || after === ',')
    )
      return sign === '+';
    from = i + 1;
  }
}

const plus = (s: string | undefined): boolean => s === '+';

// ---------------------------------------------------------------------------------------------
// Physical lines and the block's entry tree.

interface Phys {
  /** Leading whitespace in columns, tabs expanded to multiples of 8. */
  readonly indent: number;
  /** Characters up to the last non-blank one (a tab counts one, as mail clients count it). */
  readonly length: number;
  readonly text: string;
  readonly line: number;
}

interface Entry {
  readonly line: number;
  readonly parts: string[];
  text: string;
  readonly children: Entry[];
}

function toPhys(l: TextLine): Phys {
  const raw = l.text;
  let col = 0;
  let i = 0;
  for (; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 9) col = (Math.floor(col / 8) + 1) * 8;
    else if (c === 32 || c === 0xa0) col++;
    else if (c !== 13) break;
  }
  // lspci lines are far shorter; the cap bounds the regular expressions' work on hostile input.
  let end = Math.min(raw.length, i + MAX_LINE);
  while (end > i) {
    const c = raw.charCodeAt(end - 1);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 0xa0) break;
    end--;
  }
  return { indent: col, length: end, text: raw.slice(i, end), line: l.line };
}

function newEntry(p: Phys): Entry {
  return { line: p.line, parts: [p.text], text: p.text, children: [] };
}

/** Whether a (joined) line of a kind this reader decodes is whole; unknown kinds count as whole. */
function isComplete(text: string, isCapHeader: boolean): boolean {
  if (isCapHeader) return capHeaderComplete(text);
  const k = detailKey(text);
  if (k !== null) return DETAIL_RES[k]!.test(text);
  if (text.startsWith('Bus:')) return BUS_RE.test(text);
  if (text.startsWith('Kernel driver in use:')) return text.slice(21).trim() !== '';
  return true;
}

/**
 * A mail-wrapped line: the tail of `e` landed on the next line without the deeper indentation
 * lspci would give a continuation. Joined only when that makes `e` whole.
 */
function absorb(e: Entry, p: Phys, isCapHeader: boolean): boolean {
  if (e.text.length + p.text.length > MAX_ENTRY || isComplete(e.text, isCapHeader)) return false;
  for (const sep of [' ', '']) {
    const joined = e.parts.join(' ') + sep + p.text;
    if (isComplete(joined, isCapHeader)) {
      e.parts.push(p.text);
      e.text = joined;
      return true;
    }
  }
  return false;
}

function appendContinuation(e: Entry, p: Phys): void {
  // No lspci entry runs this long: the rest is not lspci's and is dropped.
  if (e.text.length + p.text.length > MAX_ENTRY) return;
  e.parts.push(p.text);
  e.text = `${e.text} ${p.text}`;
}

// ---------------------------------------------------------------------------------------------
// Capability headers.

interface CapHeader {
  readonly offset: number;
  readonly version: number | null;
  readonly body: string;
}

/** `Capabilities: [off vN] body`; null when the line is not of that form. */
function parseCapHeader(text: string): CapHeader | null {
  const m = CAP_RE.exec(text);
  if (m === null || m[1]!.length > 4 || (m[2] !== undefined && m[2].length > 3)) return null;
  return {
    offset: parseInt(m[1]!, 16),
    version: m[2] === undefined ? null : parseInt(m[2], 10),
    body: m[3]!,
  };
}

/** Whether a capability header reads whole: its name maps to an ID and its data parses. */
function capHeaderComplete(text: string): boolean {
  if (CAP_DENIED_RE.test(text)) return true;
  const h = parseCapHeader(text);
  if (h === null) return !text.startsWith('Capabilities:');
  if (h.body.startsWith('<')) return true;
  const space = h.offset < EXT_CAP_START ? 'std' : 'ext';
  const id = capIdOf(space, h.body);
  if (id === null) return false;
  if (space === 'std' && id === PCI_CAP_ID_EXP) return parseExpressHeader(h.body) !== null;
  if (space === 'ext' && id === PCI_EXT_CAP_ID_DVSEC) return parseDvsecHeaderText(h.body) !== 'incomplete';
  return true;
}

/** The ID a capability header names, or null when lspci's wording does not determine it. */
function capIdOf(space: 'std' | 'ext', body: string): number | null {
  if (space === 'std') {
    // Unknown standard IDs: `#15 [0000]`.
    const u = /^#([0-9a-fA-F]{1,2})(?:\s+\[[0-9a-fA-F]+\])?$/.exec(body);
    if (u !== null) return parseInt(u[1]!, 16);
    return lookupName(STD_SORTED, body);
  }
  // Unknown extended IDs: `#19` (older lspci) or `Extended Capability ID 0x38`.
  const u = /^#([0-9a-fA-F]{1,4})$/.exec(body) ?? /^Extended Capability ID (?:0x)?([0-9a-fA-F]+)$/.exec(body);
  if (u !== null) {
    const id = parseInt(u[1]!, 16);
    return id <= 0xffff ? id : null;
  }
  return lookupName(EXT_SORTED, body);
}

interface ExpressHeader {
  readonly version: number | null;
  readonly portType: number;
  readonly slot: boolean | null;
}

function parseExpressHeader(body: string): ExpressHeader | null {
  const m = EXPRESS_RE.exec(body);
  if (m === null) return null;
  const version = m[1] === undefined ? null : parseInt(m[1], 10);
  if (version !== null && version > 15) return null;
  let typeText = m[2]!;
  let slot: boolean | null = null;
  const s = SLOT_RE.exec(typeText);
  if (s !== null) {
    typeText = s[1]!;
    slot = plus(s[2]);
  }
  const u = /^Unknown type (\d+)$/.exec(typeText);
  if (u !== null) {
    const t = parseInt(u[1]!, 10);
    return t <= 15 ? { version, portType: t, slot } : null;
  }
  const t = PORT_TYPES.get(typeText);
  return t === undefined ? null : { version, portType: t, slot };
}

type DvsecText =
  | { readonly vendor: number; readonly id: number; readonly revision: number; readonly length: number }
  | 'unreadable'
  | 'old-cxl'
  | 'incomplete';

function parseDvsecHeaderText(body: string): DvsecText {
  if (DVSEC_UNREADABLE_RE.test(body)) return 'unreadable';
  if (OLD_CXL_DVSEC_RE.test(body)) return 'old-cxl';
  const m = DVSEC_RE.exec(body);
  if (m === null) return 'incomplete';
  return {
    vendor: parseInt(m[1]!, 16),
    id: parseInt(m[2]!, 16),
    revision: parseInt(m[3]!, 10),
    length: parseInt(m[4]!, 10),
  };
}

// ---------------------------------------------------------------------------------------------
// The device line.

interface DeviceLine {
  readonly bdf: Bdf;
  readonly classBaseSub: number | null;
  readonly progIf: number | null;
  readonly revision: number | null;
  readonly vendorId: number | null;
  readonly deviceId: number | null;
  /** The line parsed without damage. */
  readonly clean: boolean;
  /** The line ends in its `(prog-if ..)` group, so nothing before it was wrapped away. */
  readonly endsWithProgIf: boolean;
}

const ADDRESS_RE = /^(\S+)(?:\s+(.*))?$/;
const PATH_PART_RE = /^(?:([0-9a-fA-F]{1,4}):)?(?:([0-9a-fA-F]{1,2}):)?([0-9a-fA-F]{1,2})\.([0-7])$/;

function hexIn(s: string | undefined, max: number): number | null {
  if (s === undefined || !/^[0-9a-fA-F]+$/.test(s) || s.length > 8) return null;
  const v = parseInt(s, 16);
  return v <= max ? v : null;
}

function decIn(s: string | undefined, max: number): number | null {
  if (s === undefined || !/^\d+$/.test(s) || s.length > 10) return null;
  const v = parseInt(s, 10);
  return v <= max ? v : null;
}

function parseAddress(token: string, warn: (code: string, message: string) => void): BdfParts | null {
  const direct = parseBdf(token);
  if (direct !== null) return direct;
  if (!token.includes('/')) return null;
  // `-PP`: `00:1c.0/02:00.0`, the device is the last component; `-P` (`00:1c.0/00.0`) omits
  // the bus of every component after the first, which the text of one block cannot resolve.
  const parts = token.split('/');
  const first = parseBdf(parts[0]!);
  if (first === null) return null;
  const last = PATH_PART_RE.exec(parts[parts.length - 1]!);
  if (last === null) return null;
  if (last[2] === undefined && last[1] !== undefined) {
    // `bb:dd.f` was captured as domain:device; re-read it as bus:device.
    const p = parseBdf(`${last[1]}:${last[3]!}.${last[4]!}`);
    if (p === null) return null;
    return { ...p, segment: first.segment };
  }
  if (last[2] === undefined) {
    warn(
      'lspci-text-unresolved-path',
      `the -P path ${token} does not give the bus of its last component; the first component's address is used (read lspci -PP output instead)`,
    );
    return first;
  }
  const device = parseInt(last[3]!, 16);
  if (device > 31) return null;
  return {
    segment: last[1] === undefined ? first.segment : parseInt(last[1], 16),
    bus: parseInt(last[2], 16),
    device,
    fn: parseInt(last[4]!, 10),
  };
}

function parseDeviceLine(
  text: string,
  where: { file: string; line: number },
  warn: (code: string, message: string) => void,
): DeviceLine {
  const m = ADDRESS_RE.exec(text);
  const addr = m === null ? null : parseAddress(m[1]!, warn);
  if (m === null || addr === null)
    throw new InputError({
      code: 'lspci-text-bad-device-line',
      message: `not an lspci device line (expected a PCI address such as 00:02.0): "${text.slice(0, 60)}"`,
      where,
    });
  const bdf = formatBdf(addr);
  let rest = (m[2] ?? '').trim();
  let clean = true;
  let progIf: number | null = null;
  let revision: number | null = null;
  let classBaseSub: number | null = null;
  let vendorId: number | null = null;
  let deviceId: number | null = null;

  const pi = /\s*\(prog-if\s+([0-9a-fA-F]+)(?:\s+\[.*\])?\)$/.exec(rest);
  if (pi !== null) {
    progIf = hexIn(pi[1], 0xff);
    if (progIf === null) {
      clean = false;
      warn('lspci-text-malformed', `prog-if "${pi[1]!}" is not a byte`);
    }
    rest = rest.slice(0, pi.index);
  }
  const rv = /\s*\(rev\s+([0-9a-fA-F]+)\)$/.exec(rest);
  if (rv !== null) {
    revision = hexIn(rv[1], 0xff);
    if (revision === null) {
      clean = false;
      warn('lspci-text-malformed', `revision "${rv[1]!}" is not a byte`);
    }
    rest = rest.slice(0, rv.index);
  } else if (/\(rev\b|\(prog-if\b/.test(rest)) {
    clean = false;
    warn('lspci-text-malformed', 'the device line has a damaged (rev ..) or (prog-if ..) part');
  }

  const colon = rest.indexOf(': ');
  const classPart = colon < 0 ? rest.replace(/:$/, '') : rest.slice(0, colon);
  const namePart = colon < 0 ? '' : rest.slice(colon + 2).trim();
  if (colon < 0) clean = false;

  // Class: `Name [0300]` (-nn, or a base-class-only name), `Class 0300` (no pci.ids), `0300` (-n).
  const cm =
    /\[([0-9a-fA-F]{4})\]$/.exec(classPart) ??
    /^Class\s+([0-9a-fA-F]{4})$/.exec(classPart) ??
    /^([0-9a-fA-F]{4})$/.exec(classPart);
  if (cm !== null) classBaseSub = parseInt(cm[1]!, 16);

  // IDs: `Name [8086:191e]` (-nn), `8086:191e` (-n), `Device 8086:191e` (no pci.ids), or
  // `Vendor Name Device 191e` (vendor known to pci.ids, device not: the device ID only).
  const ids =
    /\[([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\]$/.exec(namePart) ??
    /^(?:Device\s+)?([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$/.exec(namePart);
  if (ids !== null) {
    vendorId = parseInt(ids[1]!, 16);
    deviceId = parseInt(ids[2]!, 16);
  } else {
    const d = /\sDevice\s+([0-9a-fA-F]{4})$/.exec(namePart);
    if (d !== null) deviceId = parseInt(d[1]!, 16);
  }
  return { bdf, classBaseSub, progIf, revision, vendorId, deviceId, clean, endsWithProgIf: pi !== null };
}

/** `Subsystem:` value: the same forms as the device IDs. */
function parseSubsystemIds(value: string): { vendor: number | null; device: number | null } {
  const ids =
    /\[([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\]$/.exec(value) ??
    /^(?:Device\s+)?([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$/.exec(value);
  if (ids !== null) return { vendor: parseInt(ids[1]!, 16), device: parseInt(ids[2]!, 16) };
  const d = /\sDevice\s+([0-9a-fA-F]{4})$/.exec(value);
  return { vendor: null, device: d === null ? null : parseInt(d[1]!, 16) };
}

// ---------------------------------------------------------------------------------------------
// The block reader.

class BlockReader {
  readonly diagnostics: Diagnostic[] = [];
  readonly unknown = new Set<string>();

  constructor(readonly file: string) {}

  warn(code: string, message: string, line: number): void {
    this.diagnostics.push({ code, message, where: { file: this.file, line } });
  }

  /** A decoded detail line's regex match, or null with a warning when the line is malformed. */
  match(e: Entry | undefined, key: string): RegExpExecArray | null {
    if (e === undefined) return null;
    const re = DETAIL_RES[key]!;
    // A continuation split inside a token (mail wrap) reads back when joined without a space.
    const m = re.exec(e.text) ?? (e.parts.length > 1 ? re.exec(e.parts.join('')) : null);
    if (m === null)
      this.warn(
        'lspci-text-malformed',
        `cannot read "${e.text.slice(0, 80)}" as lspci's ${key} line`,
        e.line,
      );
    return m;
  }

  hex(e: Entry, s: string | undefined, max: number, what: string): number | null {
    const v = hexIn(s, max);
    if (v === null)
      this.warn(
        'lspci-text-out-of-range',
        `${what} "${s ?? ''}" is not hex in 0..0x${max.toString(16)}`,
        e.line,
      );
    return v;
  }

  dec(e: Entry, s: string | undefined, max: number, what: string): number | null {
    const v = decIn(s, max);
    if (v === null)
      this.warn('lspci-text-out-of-range', `${what} "${s ?? ''}" is not a number in 0..${max}`, e.line);
    return v;
  }

  /** Marks `prefix.key` unknown for every null field of a record. */
  nullsUnknown(prefix: string, rec: object): void {
    for (const [k, v] of Object.entries(rec)) if (v === null) this.unknown.add(`${prefix}.${k}`);
  }
}

function findChild(cap: Entry, key: string): Entry | undefined {
  return cap.children.find((c) => c.text.startsWith(key));
}

function readExpress(r: BlockReader, cap: Entry, offset: number, h: ExpressHeader): ExpressCap {
  // ls-caps.c cap_express_dev: `FLReset±` in DevCap (bit 28, printed for endpoint types by
  // current lspci, for every type by older ones) and in DevCtl (bit 15, printed only when DevCap
  // has FLR); `BrConfRtry±` is the same DevCtl bit 15 on a PCIe-to-PCI bridge.
  const devCap = findChild(cap, 'DevCap:');
  const devCtl = findChild(cap, 'DevCtl:');
  const devCap2 = findChild(cap, 'DevCap2:');
  const flrCapable = devCap === undefined ? null : flagIn(devCap.text, 'FLReset');
  const initiateFlr =
    devCtl === undefined ? null : (flagIn(devCtl.text, 'FLReset') ?? flagIn(devCtl.text, 'BrConfRtry'));
  // DevCap2 exists only from version 2 of the capability; for version 1 the bit reads as clear,
  // as decodeExpress() has it.
  let eeTlpPrefix: boolean | null = null;
  if (h.version !== null && h.version < 2) eeTlpPrefix = false;
  else if (devCap2 !== undefined) eeTlpPrefix = flagIn(devCap2.text, 'EETLPPrefix');
  const rec: ExpressCap = {
    offset,
    version: h.version,
    portType: h.portType,
    slotImplemented: h.slot,
    flrCapable,
    initiateFlr,
    eeTlpPrefix,
  };
  r.nullsUnknown('express', rec);
  return rec;
}

function readAts(r: BlockReader, cap: Entry, offset: number): AtsCap {
  const capE = findChild(cap, 'ATSCap:');
  const ctlE = findChild(cap, 'ATSCtl:');
  const capM = r.match(capE, 'ATSCap:');
  const ctlM = r.match(ctlE, 'ATSCtl:');
  // ls-ecaps.c cap_ats prints the raw Invalidate Queue Depth and STU fields; it never prints the
  // Page Aligned Request (bit 5) or Global Invalidate (bit 6) bits.
  const rec: AtsCap = {
    offset,
    queueDepthRaw: capM === null ? null : r.hex(capE!, capM[1], 0x1f, 'ATS queue depth'),
    pageAligned: null,
    globalInvalidate: null,
    enabled: ctlM === null ? null : plus(ctlM[1]),
    stuRaw: ctlM === null ? null : r.hex(ctlE!, ctlM[2], 0x1f, 'ATS STU'),
  };
  r.nullsUnknown('ats', rec);
  return rec;
}

function readSriov(r: BlockReader, cap: Entry, offset: number): SriovCap {
  const ctlE = findChild(cap, 'IOVCtl:');
  const vfsE = findChild(cap, 'Initial VFs:');
  const offE = findChild(cap, 'VF offset:');
  const pgE = findChild(cap, 'Supported Page Size:');
  const ctl = r.match(ctlE, 'IOVCtl:');
  const vfs = r.match(vfsE, 'Initial VFs:');
  const off = r.match(offE, 'VF offset:');
  const pg = r.match(pgE, 'Supported Page Size:');
  const rec: SriovCap = {
    offset,
    vfEnable: ctl === null ? null : plus(ctl[1]),
    vfMse: ctl === null ? null : plus(ctl[4]),
    ariHierarchy: ctl === null ? null : plus(ctl[5]),
    initialVFs: vfs === null ? null : r.dec(vfsE!, vfs[1], 0xffff, 'Initial VFs'),
    totalVFs: vfs === null ? null : r.dec(vfsE!, vfs[2], 0xffff, 'Total VFs'),
    numVFs: vfs === null ? null : r.dec(vfsE!, vfs[3], 0xffff, 'Number of VFs'),
    funcDependencyLink: vfs === null ? null : r.hex(vfsE!, vfs[4], 0xff, 'Function Dependency Link'),
    firstVfOffset: off === null ? null : r.dec(offE!, off[1], 0xffff, 'VF offset'),
    vfStride: off === null ? null : r.dec(offE!, off[2], 0xffff, 'VF stride'),
    vfDeviceId: off === null ? null : r.hex(offE!, off[3], 0xffff, 'VF Device ID'),
    supportedPageSizes: pg === null ? null : r.hex(pgE!, pg[1], 0xffffffff, 'Supported Page Size'),
    systemPageSize: pg === null ? null : r.hex(pgE!, pg[2], 0xffffffff, 'System Page Size'),
  };
  r.nullsUnknown('sriov', rec);
  return rec;
}

function readPasid(r: BlockReader, cap: Entry, offset: number): PasidCap {
  const capE = findChild(cap, 'PASIDCap:');
  const c = r.match(capE, 'PASIDCap:');
  const ctl = r.match(findChild(cap, 'PASIDCtl:'), 'PASIDCtl:');
  const rec: PasidCap = {
    offset,
    width: c === null ? null : r.hex(capE!, c[3], 0x1f, 'Max PASID Width'),
    exec: c === null ? null : plus(c[1]),
    priv: c === null ? null : plus(c[2]),
    enabled: ctl === null ? null : plus(ctl[1]),
    execEnabled: ctl === null ? null : plus(ctl[2]),
    privEnabled: ctl === null ? null : plus(ctl[3]),
  };
  r.nullsUnknown('pasid', rec);
  return rec;
}

function readPri(r: BlockReader, cap: Entry, offset: number): PriCap {
  const ctl = r.match(findChild(cap, 'PRICtl:'), 'PRICtl:');
  const sta = r.match(findChild(cap, 'PRISta:'), 'PRISta:');
  const reqE = findChild(cap, 'Page Request Capacity:');
  const req = r.match(reqE, 'Page Request Capacity:');
  // `PASID±` in PRISta (PRG Response PASID Required) is printed from pciutils v3.11.0 on.
  const rec: PriCap = {
    offset,
    enabled: ctl === null ? null : plus(ctl[1]),
    reset: ctl === null ? null : plus(ctl[2]),
    responseFailure: sta === null ? null : plus(sta[1]),
    unexpectedPrgIndex: sta === null ? null : plus(sta[2]),
    stopped: sta === null ? null : plus(sta[3]),
    pasidRequired: sta === null || sta[4] === undefined ? null : plus(sta[4]),
    capacity: req === null ? null : r.hex(reqE!, req[1], 0xffffffff, 'Page Request Capacity'),
    allocation: req === null ? null : r.hex(reqE!, req[2], 0xffffffff, 'Page Request Allocation'),
  };
  r.nullsUnknown('pri', rec);
  return rec;
}

const ACS_ORDER: readonly AcsBit[] = ['SV', 'TB', 'RR', 'CR', 'UF', 'EC', 'DT'];

function acsMaskOf(m: RegExpExecArray): number {
  let mask = 0;
  ACS_ORDER.forEach((bit, i) => {
    if (plus(m[i + 1])) mask |= PCI_ACS[bit];
  });
  return mask;
}

function readAcs(r: BlockReader, cap: Entry, offset: number): AcsCap {
  const c = r.match(findChild(cap, 'ACSCap:'), 'ACSCap:');
  const ctl = r.match(findChild(cap, 'ACSCtl:'), 'ACSCtl:');
  const rec: AcsCap = {
    offset,
    capability: c === null ? null : acsMaskOf(c),
    control: ctl === null ? null : acsMaskOf(ctl),
  };
  r.nullsUnknown('acs', rec);
  return rec;
}

function readCxl(r: BlockReader, cap: Entry, offset: number, revision: number | null): CxlDeviceDvsec {
  // ls-ecaps.c dvsec_cxl_device: CXLCap/CXLCtl (current lspci skips them for revision 0).
  const capE = findChild(cap, 'CXLCap:');
  const c = r.match(capE, 'CXLCap:');
  const ctl = r.match(findChild(cap, 'CXLCtl:'), 'CXLCtl:');
  const rec: CxlDeviceDvsec = {
    offset,
    revision,
    cacheCapable: c === null ? null : plus(c[1]),
    ioCapable: c === null ? null : plus(c[2]),
    memCapable: c === null ? null : plus(c[3]),
    hdmCount: c === null ? null : r.dec(capE!, c[5], 3, 'HDMCount'),
    cacheEnabled: ctl === null ? null : plus(ctl[1]),
  };
  r.nullsUnknown('cxl', rec);
  return rec;
}

/** Groups a block's lines (after the device line) into top-level entries and capability details. */
function groupEntries(body: readonly Phys[]): Entry[] {
  // The top level is the indentation of lspci's first top-level line (a tab, 8 spaces, or
  // whatever a mail client made of it); anything deeper belongs to the entry above it.
  const keyed = body.find((p) => p.indent > 0 && TOP_KEY_RE.test(p.text));
  let topIndent = keyed?.indent ?? 0;
  if (keyed === undefined)
    for (const p of body)
      if (p.indent > 0) topIndent = topIndent === 0 ? p.indent : Math.min(topIndent, p.indent);
  const tops: Entry[] = [];
  let cur: Entry | null = null;
  let child: Entry | null = null;
  let childIndent = 0;
  for (const p of body) {
    // lspci indents every line of a block, so a line at column 0 is the tail of the line before
    // it, wrapped by a mail client.
    if (p.indent === 0 && topIndent > 0 && cur !== null) {
      const target = child ?? cur;
      const asHeader = child === null && isCapEntry(cur);
      // Kept only if it does not spoil a line that already reads whole.
      const before = isComplete(target.text, asHeader);
      if (!before || isComplete(`${target.text} ${p.text}`, asHeader)) appendContinuation(target, p);
      continue;
    }
    if (cur === null || p.indent <= topIndent) {
      if (child !== null && absorb(child, p, false)) continue;
      if (cur !== null && child === null && absorb(cur, p, isCapEntry(cur))) continue;
      cur = newEntry(p);
      tops.push(cur);
      child = null;
      continue;
    }
    if (!isCapEntry(cur)) {
      appendContinuation(cur, p);
      continue;
    }
    if (child === null) {
      if (absorb(cur, p, true)) continue;
      child = newEntry(p);
      childIndent = p.indent;
      cur.children.push(child);
      continue;
    }
    if (p.indent > childIndent) {
      appendContinuation(child, p);
      continue;
    }
    if (absorb(child, p, false)) continue;
    child = newEntry(p);
    cur.children.push(child);
  }
  return tops;
}

function isCapEntry(e: Entry): boolean {
  return e.text.startsWith('Capabilities:');
}

/**
 * Reads one lspci text block: `lines[0]` is the device line, the rest its indented lines (no hex
 * rows). Throws InputError only when the device line names no PCI address.
 */
export function parseLspciTextBlock(lines: readonly TextLine[], file: string): PciFunction {
  const first = lines[0];
  if (first === undefined)
    throw new InputError({
      code: 'lspci-text-empty-block',
      message: 'an lspci text block needs at least its device line',
      where: { file, line: 1 },
    });
  const r = new BlockReader(file);
  const phys = lines.map(toPhys);

  // A device line wrapped by a mail client: its tail lands on the next line at column 0, or
  // starts with the `(rev ..)`, `(prog-if ..)` or `[vvvv:dddd]` part.
  let deviceText = phys[0]!.text;
  let next = 1;
  for (; next < phys.length; next++) {
    const p = phys[next]!;
    if (p.text === '') continue;
    if (TOP_KEY_RE.test(p.text)) break;
    const tailLike = /^(?:\(rev\s|\(prog-if\s|\[[0-9a-fA-F]{4}(?::[0-9a-fA-F]{4})?\])/.test(p.text);
    if ((p.indent !== 0 && !tailLike) || deviceText.length + p.text.length > MAX_LINE) break;
    deviceText = `${deviceText} ${p.text}`;
  }
  const dev = parseDeviceLine(deviceText, { file, line: first.line }, (code, message) => {
    r.warn(code, message, first.line);
  });
  const body = phys.slice(next).filter((p) => p.text !== '');
  const tops = groupEntries(body);
  // lspci prints ` (rev xx)` only for a nonzero revision and ` (prog-if xx)` (at -v and above)
  // only for a nonzero or named programming interface (lspci.c show_terse), so their absence
  // means zero, provided the line is whole: an lspci line must follow it, and a mail client
  // must not have wrapped its tail away (the file reader may drop a tail it cannot place). The
  // tail is safe when the line is shorter than any client wraps (WRAP_SAFE), when it ends in its
  // prog-if group, or when the block's Control line, the longest lspci prints, reaches its last
  // flag and is longer than this line: the text was then not wrapped this narrow. (Wrap widths
  // are not regular enough to trust other lines: a real report wrapped a 64-character device
  // line and kept a 77-character one.)
  const whole = dev.clean && (body.length === 0 || TOP_KEY_RE.test(body[0]!.text));
  const controlIntact = body.some(
    (p) =>
      p.text.startsWith('Control:') &&
      /(?:DisINTx|FastB2B)[+-]$/.test(p.text) &&
      p.length >= deviceText.length + WRAP_WORD,
  );
  const unwrapped = deviceText.length < WRAP_SAFE || controlIntact;
  const revZero = whole && (unwrapped || dev.endsWithProgIf);
  const progIfZero = whole && unwrapped;

  // -- Top-level facts. --
  let verbose = false;
  let statusCap: boolean | null = null;
  let deniedLine: number | null = null;
  let busEntry: Entry | null = null;
  let type1 = false;
  let cardbus = false;
  let lateItem = false;
  let highRegion = false;
  let unknownHeaderType = false;
  let subsystem: Entry | null = null;
  let driver: string | null = null;
  const capEntries: { entry: Entry; header: CapHeader }[] = [];
  for (const e of tops) {
    const t = e.text;
    if (t.startsWith('Flags:') || t.startsWith('Control:')) verbose = true;
    const st = /^Status:\s*Cap([+-])/.exec(t);
    if (st !== null) statusCap = plus(st[1]);
    if (t.startsWith('Bus:')) busEntry ??= e;
    if (TYPE1_MARK_RE.test(t)) type1 = true;
    if (CARDBUS_MARK_RE.test(t)) cardbus = true;
    if (t.startsWith('!!! Unknown header type')) unknownHeaderType = true;
    const reg = REGION_RE.exec(t);
    if (reg !== null && parseInt(reg[1]!, 10) >= 2) highRegion = true;
    if (
      t.startsWith('Capabilities:') ||
      t.startsWith('Expansion ROM') ||
      t.startsWith('Kernel driver in use:') ||
      t.startsWith('Kernel modules:')
    )
      lateItem = true;
    if (t.startsWith('Subsystem:')) subsystem ??= e;
    if (t.startsWith('Kernel driver in use:')) {
      const d = t.slice('Kernel driver in use:'.length).trim();
      if (/^\S+$/.test(d)) driver ??= d;
      else r.warn('lspci-text-malformed', `cannot read a driver name from "${t.slice(0, 80)}"`, e.line);
    }
    if (!isCapEntry(e)) continue;
    if (CAP_DENIED_RE.test(t)) {
      deniedLine ??= e.line;
      continue;
    }
    const h = parseCapHeader(t);
    if (h === null)
      r.warn('lspci-text-malformed', `cannot read the capability line "${t.slice(0, 80)}"`, e.line);
    else capEntries.push({ entry: e, header: h });
  }
  if (deniedLine !== null)
    r.warn('lspci-text-access-denied', 'lspci could not read the capabilities (not run as root)', deniedLine);

  // -- Header. lspci.c show_htype1/show_htype2 print `Bus:` for PCI and CardBus bridges only. --
  let headerLayout: number | null = null;
  if (busEntry !== null) {
    if (type1 && !cardbus) headerLayout = 1;
    else if (cardbus && !type1) headerLayout = 2;
  } else if (verbose && !unknownHeaderType && (lateItem || highRegion)) headerLayout = 0;
  let secondaryBus: number | null = null;
  let subordinateBus: number | null = null;
  if (busEntry !== null && headerLayout === 1) {
    const b = BUS_RE.exec(busEntry.text);
    if (b === null)
      r.warn('lspci-text-malformed', `cannot read "${busEntry.text.slice(0, 80)}"`, busEntry.line);
    else {
      secondaryBus = r.hex(busEntry, b[2], 0xff, 'secondary bus');
      subordinateBus = r.hex(busEntry, b[3], 0xff, 'subordinate bus');
    }
  }
  let subsystemVendorId: number | null = null;
  let subsystemId: number | null = null;
  if ((headerLayout === 0 || headerLayout === 2) && subsystem !== null) {
    const s = parseSubsystemIds(subsystem.text.slice('Subsystem:'.length).trim());
    subsystemVendorId = s.vendor;
    subsystemId = s.device;
  }
  const progIf = dev.progIf ?? (verbose && progIfZero ? 0 : null);
  const header: PciHeader = {
    vendorId: dev.vendorId,
    deviceId: dev.deviceId,
    revision: dev.revision ?? (revZero ? 0 : null),
    classCode: dev.classBaseSub === null || progIf === null ? null : (dev.classBaseSub << 8) | progIf,
    headerLayout,
    multiFunction: null,
    subsystemVendorId,
    subsystemId,
    secondaryBus,
    subordinateBus,
  };
  for (const [k, v] of Object.entries(header)) {
    if (v !== null) continue;
    // Fields the layout shown does not have are not unknown (decodeHeader leaves them null too).
    if ((k === 'secondaryBus' || k === 'subordinateBus') && (headerLayout === 0 || headerLayout === 2))
      continue;
    if ((k === 'subsystemVendorId' || k === 'subsystemId') && headerLayout === 1) continue;
    r.unknown.add(`header.${k}`);
  }

  // -- Capabilities. --
  const caps = readCapabilities(r, capEntries);

  // How far the list can be trusted. lspci walks the standard list when Status has Cap+, and
  // the extended list only for PCI Express and PCI-X functions (ls-caps.c show_caps). With no
  // extended line printed, the function may have none, lspci may not have looked (no Express
  // capability; the kernel would not either: drivers/pci/probe.c pci_cfg_space_size), or it could
  // not read them (a 256-byte dump): the extended list stays unknown. A block with no Flags or
  // Control line is not whole lspci -v output (a trimmed paste): its list is not taken as whole.
  const printed = caps.stdPrinted + caps.extPrinted;
  if (statusCap === false && printed > 0)
    r.warn('lspci-text-inconsistent', 'Status says Cap- but capabilities are listed', first.line);
  const stdKnown = verbose && deniedLine === null && !(statusCap === true && printed === 0) && !caps.broken;
  const extKnown = stdKnown && caps.extPrinted > 0;
  if (!stdKnown) r.unknown.add('capabilities');
  if (!stdKnown && caps.express === null) r.unknown.add('express');
  if (caps.skipped) r.unknown.add('capabilities.id');
  if (caps.versionless) r.unknown.add('capabilities.version');
  if (!extKnown) {
    r.unknown.add('ext-capabilities').add('dvsecs');
    if (caps.ats === null) r.unknown.add('ats');
    if (caps.sriov === null) r.unknown.add('sriov');
    if (caps.pasid === null) r.unknown.add('pasid');
    if (caps.pri === null) r.unknown.add('pri');
    if (caps.acs === null) r.unknown.add('acs');
  }
  if (caps.cxl === null && (!extKnown || caps.cxlUnsure)) r.unknown.add('cxl');
  if (caps.extPrinted === 0) r.unknown.add('extCapsReadable');
  r.unknown.add('externalFacing');
  if (driver === null) r.unknown.add('driver');

  return {
    bdf: dev.bdf,
    sourceKind: 'lspci-text',
    source: { file, line: first.line },
    config: null,
    header,
    capabilities: stdKnown ? caps.list : null,
    extCapsReadable: caps.extPrinted > 0 ? true : null,
    express: caps.express,
    ats: caps.ats,
    sriov: caps.sriov,
    pasid: caps.pasid,
    pri: caps.pri,
    acs: caps.acs,
    dvsecs: caps.dvsecs,
    cxl: caps.cxl,
    externalFacing: null,
    driver,
    physfnHint: null,
    unknown: [...r.unknown],
    diagnostics: r.diagnostics,
  };
}

interface CapsRead {
  readonly list: CapabilityRef[];
  express: ExpressCap | null;
  ats: AtsCap | null;
  sriov: SriovCap | null;
  pasid: PasidCap | null;
  pri: PriCap | null;
  acs: AcsCap | null;
  cxl: CxlDeviceDvsec | null;
  readonly dvsecs: DvsecHeader[];
  /** An Express capability line was met, readable or not. */
  expressSeen: boolean;
  /** A DVSEC whose vendor or ID the text does not show: it may be the CXL Device DVSEC. */
  cxlUnsure: boolean;
  stdPrinted: number;
  extPrinted: number;
  /** A capability left out because its name does not determine its ID. */
  skipped: boolean;
  /** An extended capability printed without its version (lspci -v). */
  versionless: boolean;
  /** lspci reported a broken or looped chain, or a capability header could not be read. */
  broken: boolean;
}

function readCapabilities(r: BlockReader, entries: readonly { entry: Entry; header: CapHeader }[]): CapsRead {
  const out: CapsRead = {
    list: [],
    express: null,
    expressSeen: false,
    ats: null,
    sriov: null,
    pasid: null,
    pri: null,
    acs: null,
    cxl: null,
    dvsecs: [],
    cxlUnsure: false,
    stdPrinted: 0,
    extPrinted: 0,
    skipped: false,
    versionless: false,
    broken: false,
  };
  for (const { entry, header: h } of entries) {
    const space = h.offset < EXT_CAP_START ? 'std' : 'ext';
    const at = `[${h.offset.toString(16)}]`;
    if (space === 'ext') out.extPrinted++;
    else out.stdPrinted++;
    if (h.offset > 0xffc || (space === 'ext' && (h.offset & 3) !== 0)) {
      r.warn('lspci-text-out-of-range', `capability offset ${at} is out of range`, entry.line);
      out.broken = true;
      continue;
    }
    if (h.body.startsWith('<')) {
      // `<chain broken>`, `<chain looped>`: lspci stopped walking here, as the walker does.
      r.warn('lspci-text-cap-chain', `lspci reports ${h.body.slice(0, 40)} at ${at}`, entry.line);
      continue;
    }
    if (h.version !== null && h.version > 15) {
      r.warn(
        'lspci-text-out-of-range',
        `capability version v${h.version} at ${at} does not fit 4 bits`,
        entry.line,
      );
      out.broken = true;
      continue;
    }
    const id = capIdOf(space, h.body);
    if (id === null) {
      out.skipped = true;
      r.warn(
        'lspci-text-unknown-capability',
        `the name "${h.body.slice(0, 60)}" at ${at} does not determine a capability ID; it is left out of the list`,
        entry.line,
      );
      continue;
    }
    if (space === 'ext' && h.version === null) out.versionless = true;
    out.list.push({
      space,
      id,
      version: space === 'std' ? null : h.version,
      offset: h.offset,
      name: space === 'std' ? stdCapName(id) : extCapName(id),
    });
    if (space === 'std') {
      // The first Express capability is the one pci_find_capability returns: a second one
      // never stands in for a first whose line cannot be read.
      if (id !== PCI_CAP_ID_EXP || out.expressSeen) continue;
      out.expressSeen = true;
      const eh = parseExpressHeader(h.body);
      if (eh === null) {
        r.warn(
          'lspci-text-malformed',
          `cannot read the Express capability line "${h.body.slice(0, 80)}"`,
          entry.line,
        );
        r.unknown.add('express');
      } else out.express = readExpress(r, entry, h.offset, eh);
      continue;
    }
    switch (id) {
      case PCI_EXT_CAP_ID_ATS:
        out.ats ??= readAts(r, entry, h.offset);
        break;
      case PCI_EXT_CAP_ID_SRIOV:
        out.sriov ??= readSriov(r, entry, h.offset);
        break;
      case PCI_EXT_CAP_ID_PASID:
        out.pasid ??= readPasid(r, entry, h.offset);
        break;
      case PCI_EXT_CAP_ID_PRI:
        out.pri ??= readPri(r, entry, h.offset);
        break;
      case PCI_EXT_CAP_ID_ACS:
        out.acs ??= readAcs(r, entry, h.offset);
        break;
      case PCI_EXT_CAP_ID_DVSEC:
        readDvsec(r, entry, h, out);
        break;
      default:
        break;
    }
  }
  return out;
}

function readDvsec(r: BlockReader, entry: Entry, h: CapHeader, out: CapsRead): void {
  const d = parseDvsecHeaderText(h.body);
  if (d === 'old-cxl')
    r.warn(
      'lspci-text-old-cxl-dvsec',
      'pre-2020 lspci wording "CXL Designated Vendor-Specific" does not show the DVSEC vendor; the kernel counts only vendor 0x1E98 as CXL, so the CXL fields stay unknown',
      entry.line,
    );
  else if (d === 'incomplete')
    r.warn('lspci-text-malformed', `cannot read the DVSEC header "${h.body.slice(0, 80)}"`, entry.line);
  if (typeof d === 'string') {
    out.dvsecs.push({ offset: h.offset, vendor: null, revision: null, length: null, id: null });
    r.unknown.add('dvsecs.vendor').add('dvsecs.revision').add('dvsecs.length').add('dvsecs.id');
    out.cxlUnsure = true;
    return;
  }
  const hd: DvsecHeader = {
    offset: h.offset,
    vendor: d.vendor <= 0xffff ? d.vendor : null,
    revision: d.revision <= 0xf ? d.revision : null,
    length: d.length <= 0xfff ? d.length : null,
    id: d.id <= 0xffff ? d.id : null,
  };
  if (hd.vendor === null || hd.revision === null || hd.length === null || hd.id === null)
    r.warn('lspci-text-out-of-range', 'a DVSEC header field does not fit its register', entry.line);
  r.nullsUnknown('dvsecs', hd);
  out.dvsecs.push(hd);
  if (hd.vendor === null || hd.id === null) out.cxlUnsure = true;
  // The kernel's CXL Device DVSEC is vendor 0x1E98, ID 0 (drivers/pci/ats.c pci_cxl_ats_required
  // via pci_find_dvsec_capability); the first one found is read, as decodeFunction does.
  else if (out.cxl === null && hd.vendor === PCI_VENDOR_ID_CXL && hd.id === PCI_DVSEC_CXL_DEVICE)
    out.cxl = readCxl(r, entry, h.offset, hd.revision);
}
