/**
 * A reader of `lspci -vvv [-nn] [-D]` output, pciutils 3.9.0 wording (older and newer wordings
 * where they are known), used only as the differential oracle's reader in tests. It extracts
 * what atsim also decodes: the capability list, ATS, SR-IOV, PASID, PRI, DVSEC/CXL, the PCI
 * Express port type and FLR, ACS, and the IDs on an `-nn` device line.
 *
 * Wording sources: pciutils ls-caps.c (standard capabilities, cap_express()), ls-ecaps.c
 * (show_ext_caps(), cap_ats(), cap_sriov(), cap_pasid(), cap_pri(), cap_acs(), cap_dvsec_cxl()).
 * Names lspci prints for each ID were read from lspci 3.9.0 itself on a dump with every ID.
 */
import { canonicalBdf } from '../../src/pci/bdf.js';

export interface LspciCap {
  readonly offset: number;
  readonly space: 'std' | 'ext';
  /** Extended capabilities print `[off vN]`. */
  readonly version: number | null;
  /** IDs the printed name stands for (lspci prints "Virtual Channel" for both 0x02 and 0x09). Empty: unknown name. */
  readonly ids: readonly number[];
  readonly name: string;
  /** 1-based line in the lspci output. */
  readonly line: number;
}

export interface LspciAts {
  readonly queueDepthRaw: number | null;
  readonly enabled: boolean | null;
  readonly stuRaw: number | null;
}

export interface LspciSriov {
  readonly vfEnable: boolean | null;
  readonly vfMse: boolean | null;
  readonly ariHierarchy: boolean | null;
  readonly initialVFs: number | null;
  readonly totalVFs: number | null;
  readonly numVFs: number | null;
  readonly funcDependencyLink: number | null;
  readonly firstVfOffset: number | null;
  readonly vfStride: number | null;
  readonly vfDeviceId: number | null;
}

export interface LspciPasid {
  readonly width: number | null;
  readonly exec: boolean | null;
  readonly priv: boolean | null;
  readonly enabled: boolean | null;
  readonly execEnabled: boolean | null;
  readonly privEnabled: boolean | null;
}

export interface LspciPri {
  readonly enabled: boolean | null;
  readonly reset: boolean | null;
  readonly responseFailure: boolean | null;
  readonly unexpectedPrgIndex: boolean | null;
  readonly stopped: boolean | null;
  /** Printed only by pciutils ≥ 3.11. */
  readonly pasidRequired: boolean | null;
  readonly capacity: number | null;
  readonly allocation: number | null;
}

export interface LspciDvsec {
  readonly offset: number;
  readonly vendor: number;
  readonly id: number;
  readonly revision: number;
  readonly length: number;
  /** From a `CXLCap:` line, when lspci printed one. */
  readonly cxl: {
    readonly cacheCapable: boolean;
    readonly ioCapable: boolean;
    readonly memCapable: boolean;
    readonly hdmCount: number;
  } | null;
}

export interface LspciExpress {
  readonly offset: number;
  readonly version: number | null;
  readonly portType: number;
  /** `(Slot±)`, printed for root ports, downstream ports and PCI-to-PCIe bridges. */
  readonly slotImplemented: boolean | null;
  /** DevCap `FLReset±`, printed for endpoint types only. */
  readonly flrCapable: boolean | null;
  /** DevCtl `FLReset±`, printed only when DevCap has FLR. */
  readonly initiateFlr: boolean | null;
}

export interface LspciAcs {
  readonly capability: number | null;
  readonly control: number | null;
}

export interface LspciDevice {
  readonly bdf: string;
  readonly line: number;
  readonly vendorId: number | null;
  readonly deviceId: number | null;
  readonly revision: number | null;
  /** 24-bit class code, when `-nn` printed the class and IDs. */
  readonly classCode: number | null;
  readonly caps: LspciCap[];
  /** lspci printed `<chain looped>`, `<chain broken>` or `<access denied>` in the capability list. */
  readonly capListNote: string | null;
  ats: LspciAts | null;
  sriov: LspciSriov | null;
  pasid: LspciPasid | null;
  pri: LspciPri | null;
  dvsecs: LspciDvsec[];
  express: LspciExpress | null;
  acs: LspciAcs | null;
}

/** Standard capability names as lspci prints them (ls-caps.c show_caps()), longest first where one prefixes another. */
const STD_NAMES: readonly (readonly [string, number])[] = [
  ['Null', 0x00],
  ['Power Management version', 0x01],
  ['AGP version', 0x02],
  ['AGP3', 0x0e],
  ['Vital Product Data', 0x03],
  ['Slot ID', 0x04],
  ['MSI-X', 0x11],
  ['MSI', 0x05],
  ['CompactPCI hot-swap', 0x06],
  ['CompactPCI central resource control', 0x0b],
  ['PCI-X', 0x07],
  ['HyperTransport', 0x08],
  ['Vendor Specific Information', 0x09],
  ['Debug port', 0x0a],
  ['Hot-plug capable', 0x0c],
  ['Subsystem', 0x0d],
  ['Secure device', 0x0f],
  ['Express', 0x10],
  ['SATA HBA', 0x12],
  ['PCI Advanced Features', 0x13],
  ['Enhanced Allocation (EA)', 0x14],
  ['Flattening Portal Bridge', 0x15],
];

/** Extended capability names (ls-ecaps.c show_ext_caps()). */
const EXT_NAMES: readonly (readonly [string, readonly number[]])[] = [
  ['Null', [0x00]],
  ['Advanced Error Reporting', [0x01]],
  ['Virtual Channel', [0x02, 0x09]],
  ['Device Serial Number', [0x03]],
  ['Power Budgeting', [0x04]],
  ['Root Complex Link', [0x05]],
  ['Root Complex Internal Link', [0x06]],
  ['Root Complex Event Collector Endpoint Association', [0x07]],
  ['Multi-Function Virtual Channel', [0x08]],
  ['Root Complex Register Block', [0x0a]],
  ['Vendor Specific Information', [0x0b]],
  ['Access Control Services', [0x0d]],
  ['Alternative Routing-ID Interpretation (ARI)', [0x0e]],
  ['Address Translation Service (ATS)', [0x0f]],
  ['Single Root I/O Virtualization (SR-IOV)', [0x10]],
  ['Multi-Root I/O Virtualization', [0x11]],
  ['Multicast', [0x12]],
  ['Page Request Interface (PRI)', [0x13]],
  ['Physical Resizable BAR', [0x15]],
  ['Dynamic Power Allocation', [0x16]],
  ['Transaction Processing Hints', [0x17]],
  ['Latency Tolerance Reporting', [0x18]],
  ['Secondary PCI Express', [0x19]],
  ['Protocol Multiplexing', [0x1a]],
  ['Process Address Space ID (PASID)', [0x1b]],
  ['LN Requester', [0x1c]],
  ['Downstream Port Containment', [0x1d]],
  ['L1 PM Substates', [0x1e]],
  ['Precision Time Measurement', [0x1f]],
  ['PCI Express over M_PHY', [0x20]],
  ['FRS Queueing', [0x21]],
  ['Readiness Time Reporting', [0x22]],
  ['Designated Vendor-Specific', [0x23]],
  ['Virtual Resizable BAR', [0x24]],
  ['Data Link Feature', [0x25]],
  ['Physical Layer 16.0 GT/s', [0x26]],
  ['Lane Margining at the Receiver', [0x27]],
  ['Hierarchy ID', [0x28]],
  ['Native PCIe Enclosure Management', [0x29]],
  ['Physical Layer 32.0 GT/s', [0x2a]],
  ['Alternate Protocol', [0x2b]],
  ['System Firmware Intermediary', [0x2c]],
  ['Data Object Exchange', [0x2e]],
  ['Device 3', [0x2f]],
  ['Integrity & Data Encryption', [0x30]],
  ['Physical Layer 64.0 GT/s', [0x31]],
];

/** Device/Port Type names after `Express (vN) ` (ls-caps.c cap_express()). */
const PORT_TYPES: readonly (readonly [string, number])[] = [
  ['Legacy Endpoint', 0x1],
  ['Endpoint', 0x0],
  ['Root Port', 0x4],
  ['Upstream Port', 0x5],
  ['Downstream Port', 0x6],
  ['PCI-Express to PCI/PCI-X Bridge', 0x7],
  ['PCI/PCI-X to PCI-Express Bridge', 0x8],
  ['Root Complex Integrated Endpoint', 0x9],
  ['Root Complex Event Collector', 0xa],
];

function startsWithName(text: string, name: string): boolean {
  if (!text.startsWith(name)) return false;
  const next = text.charAt(name.length);
  return next === '' || next === ' ' || next === ':' || next === ',';
}

function capIds(space: 'std' | 'ext', name: string): number[] {
  const unknown = (
    space === 'std' ? /^Capability ID 0x([0-9a-f]+)/ : /^Extended Capability ID 0x([0-9a-f]+)/
  ).exec(name);
  if (unknown !== null) return [parseInt(unknown[1]!, 16)];
  if (space === 'std') {
    for (const [n, id] of STD_NAMES) if (startsWithName(name, n)) return [id];
  } else {
    for (const [n, ids] of EXT_NAMES) if (startsWithName(name, n)) return [...ids];
  }
  return [];
}

const pm = (s: string | undefined): boolean | null => (s === undefined ? null : s === '+');
const int = (s: string | undefined, radix: number): number | null =>
  s === undefined ? null : parseInt(s, radix);

const DEVICE_RE = /^((?:[0-9a-f]{4,5}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) /;
const NN_TAIL_RE =
  / \[([0-9a-f]{4}):([0-9a-f]{4})\](?: \(rev ([0-9a-f]{2})\))?(?: \(prog-if ([0-9a-f]{2})(?: \[[^\]]*\])?\))?$/;
const NN_CLASS_RE = /^\S+ [^[]*?\[([0-9a-f]{4})\]: /;
const CAP_RE = /^\tCapabilities: \[([0-9a-f]+)(?: v(\d+))?\] (.*)$/;
const ACS_NAMES = [
  'SrcValid',
  'TransBlk',
  'ReqRedir',
  'CmpltRedir',
  'UpstreamFwd',
  'EgressCtrl',
  'DirectTrans',
];

function acsMask(line: string): number | null {
  let mask = 0;
  for (let i = 0; i < ACS_NAMES.length; i++) {
    const m = new RegExp(`${ACS_NAMES[i]!}([+-])`).exec(line);
    if (m === null) return null;
    if (m[1] === '+') mask |= 1 << i;
  }
  return mask;
}

/** Parses `lspci -vvv` output into one record per device, in output order. */
export function parseLspciVerbose(output: string): LspciDevice[] {
  const devices: LspciDevice[] = [];
  let dev: LspciDevice | null = null;
  let cap: LspciCap | null = null;
  /** The register block a continuation line belongs to (`DevCap`, `DevCtl`, ...). */
  let reg = '';
  const lines = output.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const lineNo = i + 1;
    const dm = DEVICE_RE.exec(line);
    if (dm !== null) {
      const bdf = canonicalBdf(dm[1]!);
      if (bdf === null) throw new Error(`lspci output line ${lineNo}: bad address ${dm[1]!}`);
      const tail = NN_TAIL_RE.exec(line);
      const cls = NN_CLASS_RE.exec(line);
      const progIf = tail?.[4];
      dev = {
        bdf,
        line: lineNo,
        vendorId: int(tail?.[1], 16),
        deviceId: int(tail?.[2], 16),
        revision: tail === null ? null : (int(tail[3], 16) ?? 0),
        classCode:
          cls === null
            ? null
            : (parseInt(cls[1]!, 16) << 8) | (progIf === undefined ? 0 : parseInt(progIf, 16)),
        caps: [],
        capListNote: null,
        ats: null,
        sriov: null,
        pasid: null,
        pri: null,
        dvsecs: [],
        express: null,
        acs: null,
      };
      devices.push(dev);
      cap = null;
      continue;
    }
    if (dev === null) continue;
    if (line.startsWith('\tCapabilities: <')) {
      (dev as { capListNote: string | null }).capListNote = line.trim();
      cap = null;
      continue;
    }
    const cm = CAP_RE.exec(line);
    if (cm !== null) {
      const offset = parseInt(cm[1]!, 16);
      const rest = cm[3]!;
      if (rest.startsWith('<')) {
        (dev as { capListNote: string | null }).capListNote = rest;
        cap = null;
        continue;
      }
      const space = cm[2] === undefined ? 'std' : 'ext';
      cap = { offset, space, version: int(cm[2], 10), ids: capIds(space, rest), name: rest, line: lineNo };
      dev.caps.push(cap);
      reg = '';
      if (space === 'std' && cap.ids[0] === 0x10) {
        const em = /^Express (?:\(v(\d+)\) )?(.*?)(?:, (?:MSI|IntMsgNum) [0-9a-f]+.*)?$/.exec(rest);
        if (em !== null) {
          const typeText = em[2]!;
          const unknownType = /^Unknown type (\d+)/.exec(typeText);
          const known = PORT_TYPES.find(([n]) => typeText.startsWith(n));
          const slot = /\(Slot([+-])\)/.exec(typeText);
          dev.express = {
            offset,
            version: int(em[1], 10),
            portType:
              unknownType !== null ? parseInt(unknownType[1]!, 10) : known !== undefined ? known[1] : -1,
            slotImplemented: pm(slot?.[1]),
            flrCapable: null,
            initiateFlr: null,
          };
        }
      }
      if (space === 'ext' && cap.ids[0] === 0x23) {
        const vm = /Vendor=([0-9a-f]+) ID=([0-9a-f]+) Rev=(\d+) Len=(\d+)/.exec(rest);
        if (vm !== null)
          dev.dvsecs.push({
            offset,
            vendor: parseInt(vm[1]!, 16),
            id: parseInt(vm[2]!, 16),
            revision: parseInt(vm[3]!, 10),
            length: parseInt(vm[4]!, 10),
            cxl: null,
          });
      }
      continue;
    }
    if (!line.startsWith('\t\t') || cap === null) {
      if (!line.startsWith('\t\t')) cap = null;
      continue;
    }
    // A line of the current capability's body.
    const body = line.trim();
    const rm = /^\t\t([A-Za-z0-9]+):/.exec(line);
    if (rm !== null) reg = rm[1]!;
    const id = cap.space === 'ext' ? cap.ids[0] : cap.ids[0] === 0x10 ? -0x10 : undefined;
    switch (id) {
      case -0x10: {
        const flr = /FLReset([+-])/.exec(body);
        if (flr !== null && dev.express !== null) {
          if (reg === 'DevCap') dev.express = { ...dev.express, flrCapable: pm(flr[1]) };
          if (reg === 'DevCtl') dev.express = { ...dev.express, initiateFlr: pm(flr[1]) };
        }
        break;
      }
      case 0x0f: {
        const a = dev.ats ?? { queueDepthRaw: null, enabled: null, stuRaw: null };
        const q = /Invalidate Queue Depth: ([0-9a-f]+)/.exec(body);
        const c = /Enable([+-]),? Smallest Translation Unit: ([0-9a-f]+)/.exec(body);
        dev.ats = {
          queueDepthRaw: q === null ? a.queueDepthRaw : parseInt(q[1]!, 16),
          enabled: c === null ? a.enabled : pm(c[1]),
          stuRaw: c === null ? a.stuRaw : parseInt(c[2]!, 16),
        };
        break;
      }
      case 0x10: {
        const s: LspciSriov = dev.sriov ?? {
          vfEnable: null,
          vfMse: null,
          ariHierarchy: null,
          initialVFs: null,
          totalVFs: null,
          numVFs: null,
          funcDependencyLink: null,
          firstVfOffset: null,
          vfStride: null,
          vfDeviceId: null,
        };
        const ctl = /^IOVCtl:\s*Enable([+-]) Migration[+-] Interrupt[+-] MSE([+-]) ARIHierarchy([+-])/.exec(
          body,
        );
        const counts =
          /Initial VFs: (\d+), Total VFs: (\d+), Number of VFs: (\d+), Function Dependency Link: ([0-9a-f]+)/.exec(
            body,
          );
        const vf = /VF offset: (\d+), stride: (\d+), Device ID: ([0-9a-f]+)/.exec(body);
        dev.sriov = {
          ...s,
          ...(ctl === null ? {} : { vfEnable: pm(ctl[1]), vfMse: pm(ctl[2]), ariHierarchy: pm(ctl[3]) }),
          ...(counts === null
            ? {}
            : {
                initialVFs: int(counts[1], 10),
                totalVFs: int(counts[2], 10),
                numVFs: int(counts[3], 10),
                funcDependencyLink: int(counts[4], 16),
              }),
          ...(vf === null
            ? {}
            : { firstVfOffset: int(vf[1], 10), vfStride: int(vf[2], 10), vfDeviceId: int(vf[3], 16) }),
        };
        break;
      }
      case 0x1b: {
        const p: LspciPasid = dev.pasid ?? {
          width: null,
          exec: null,
          priv: null,
          enabled: null,
          execEnabled: null,
          privEnabled: null,
        };
        const c = /^PASIDCap: Exec([+-]),? Priv([+-]), Max PASID Width: ([0-9a-f]+)/.exec(body);
        const t = /^PASIDCtl: Enable([+-]),? Exec([+-]),? Priv([+-])/.exec(body);
        dev.pasid = {
          ...p,
          ...(c === null ? {} : { exec: pm(c[1]), priv: pm(c[2]), width: int(c[3], 16) }),
          ...(t === null ? {} : { enabled: pm(t[1]), execEnabled: pm(t[2]), privEnabled: pm(t[3]) }),
        };
        break;
      }
      case 0x13: {
        const p: LspciPri = dev.pri ?? {
          enabled: null,
          reset: null,
          responseFailure: null,
          unexpectedPrgIndex: null,
          stopped: null,
          pasidRequired: null,
          capacity: null,
          allocation: null,
        };
        const c = /^PRICtl: Enable([+-]),? Reset([+-])/.exec(body);
        const s = /^PRISta: RF([+-]),? UPRGI([+-]),? Stopped([+-])(?:,? PASID([+-]))?/.exec(body);
        const r = /Page Request Capacity: ([0-9a-f]+), Page Request Allocation: ([0-9a-f]+)/.exec(body);
        dev.pri = {
          ...p,
          ...(c === null ? {} : { enabled: pm(c[1]), reset: pm(c[2]) }),
          ...(s === null
            ? {}
            : {
                responseFailure: pm(s[1]),
                unexpectedPrgIndex: pm(s[2]),
                stopped: pm(s[3]),
                pasidRequired: pm(s[4]),
              }),
          ...(r === null ? {} : { capacity: int(r[1], 16), allocation: int(r[2], 16) }),
        };
        break;
      }
      case 0x0d: {
        const a = dev.acs ?? { capability: null, control: null };
        if (body.startsWith('ACSCap:')) dev.acs = { ...a, capability: acsMask(body) };
        else if (body.startsWith('ACSCtl:')) dev.acs = { ...a, control: acsMask(body) };
        else dev.acs = a;
        break;
      }
      case 0x23: {
        const m =
          /^CXLCap:\s*Cache([+-]) IO([+-]) Mem([+-]) (?:Mem HW Init|MemHWInit)[+-] HDMCount (\d+)/.exec(body);
        const capOffset = cap.offset;
        const d = dev.dvsecs.find((x) => x.offset === capOffset);
        if (m !== null && d !== undefined) {
          dev.dvsecs = dev.dvsecs.map((x) =>
            x === d
              ? {
                  ...x,
                  cxl: {
                    cacheCapable: pm(m[1]) === true,
                    ioCapable: pm(m[2]) === true,
                    memCapable: pm(m[3]) === true,
                    hdmCount: parseInt(m[4]!, 10),
                  },
                }
              : x,
          );
        }
        break;
      }
      default:
        break;
    }
  }
  return devices;
}
