/**
 * The reader of a whole lspci output file: any mix of device lines (`00:02.0 VGA ...`, with a
 * domain from `-D`, IDs from `-nn`, or a bridge path from `-P`/`-PP`), their indented
 * `-v`/`-vv`/`-vvv` text, and their `-x`/`-xxx`/`-xxxx` hex rows. A file may also be a bare hex
 * dump with no device line at all.
 *
 * Where a function has both text and hex, the hex decode wins and every field both show is
 * compared; each disagreement is a `text-hex-mismatch` warning. The text's driver is kept.
 *
 * Diagnostics: each function's own warnings (its hex rows, its capability walk, its text, the
 * mismatches) are in its `diagnostics`; the `diagnostics` returned beside the functions hold
 * every warning of the file: those about no single function, then each function's in order.
 */
import { InputError, type Diagnostic, type FileLocation } from '../diagnostics.js';
import { formatBdf, type Bdf } from '../pci/bdf.js';
import type { CapabilityRef } from '../pci/capabilities.js';
import { decodeFunction } from '../pci/decode.js';
import type { PciFunction } from '../pci/function.js';
import { HexDumpBuilder, isLspciHexLine, type HexDump } from './lspci-hex.js';
import { parseLspciTextBlock, type TextLine } from './lspci-text.js';

export interface LspciParse {
  readonly functions: PciFunction[];
  readonly diagnostics: Diagnostic[];
}

/** The BDF given to a bare hex dump that has no device line. */
export const ANONYMOUS_BDF: Bdf = '0000:00:00.0';

/** One device block as read: its device line, indented text lines and hex rows. */
interface Block {
  readonly bdf: Bdf;
  /** 1-based line of the device line, or of the first hex row when there is none. */
  readonly line: number;
  /** The device line, or null for a bare hex dump. */
  readonly device: TextLine | null;
  readonly text: TextLine[];
  hex: HexDump | null;
  readonly diagnostics: Diagnostic[];
}

/** What is known of one BDF once its block(s) are read. */
interface Entry {
  readonly bdf: Bdf;
  readonly line: number;
  readonly device: TextLine | null;
  readonly text: readonly TextLine[];
  readonly textFn: PciFunction | null;
  readonly hex: HexDump | null;
  readonly diagnostics: Diagnostic[];
}

/** A device line's address: `[dddd:]bb:dd.f`, then `/bb:dd.f` (-PP) or `/dd.f` (-P) per bridge. */
const DEVICE_RE =
  /^(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])((?:\/(?:[0-9a-fA-F]{2}:)?[0-9a-fA-F]{2}\.[0-7])*)(?=[ \t]|$)/;
const PATH_PART_RE = /^(?:([0-9a-fA-F]{2}):)?([0-9a-fA-F]{2})\.([0-7])$/;

const SAMPLE = 8192;

function isBinary(text: string): boolean {
  if (text.includes('\u0000')) return true;
  const n = Math.min(text.length, SAMPLE);
  let odd = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if ((c < 32 && c !== 9 && c !== 10 && c !== 13) || (c >= 0x7f && c < 0xa0) || c === 0xfffd) odd++;
  }
  return odd * 10 > n;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function show(v: unknown): string {
  if (typeof v === 'number') return `${v} (0x${v.toString(16)})`;
  if (typeof v === 'boolean') return v ? '+' : '-';
  return JSON.stringify(v);
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'object' && typeof b === 'object') return JSON.stringify(a) === JSON.stringify(b);
  return false;
}

/** Line of the block's `Capabilities: [off` text, for pointing a mismatch at it. */
function capLine(entry: Entry, offset: number): number {
  const tag = `Capabilities: [${hex2(offset)}`;
  for (const l of entry.text) {
    const i = l.text.indexOf(tag);
    if (i >= 0) {
      const c = l.text.charCodeAt(i + tag.length);
      if (c === 93 /* ] */ || c === 32) return l.line;
    }
  }
  return entry.line;
}

/**
 * Compares what the text and the hex both show of one function; a warning per disagreement.
 * Fields the text could not show are null there and are not compared.
 */
function compareTextHex(hexFn: PciFunction, textFn: PciFunction, entry: Entry, file: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const at = (line: number): FileLocation => ({ file, line });
  const mismatch = (what: string, hexV: unknown, textV: unknown, line: number): void => {
    out.push({
      code: 'text-hex-mismatch',
      message: `${entry.bdf} ${what}: the hex says ${show(hexV)}, the text says ${show(textV)}; the hex is used`,
      where: at(line),
    });
  };
  const compareRecord = (name: string, hexRec: object | null, textRec: object | null, line: number): void => {
    if (hexRec === null || textRec === null) return;
    const h = hexRec as Readonly<Record<string, unknown>>;
    for (const [key, tv] of Object.entries(textRec)) {
      if (key === 'offset' || tv === null || tv === undefined) continue;
      const hv = h[key];
      if (hv === null || hv === undefined) continue;
      if (!sameValue(hv, tv)) mismatch(`${name}.${key}`, hv, tv, line);
    }
  };

  compareRecord('header', hexFn.header, textFn.header, entry.line);

  const textCaps = textFn.capabilities;
  const hexCaps = hexFn.capabilities;
  if (textCaps !== null && hexCaps !== null && !textFn.unknown.includes('capabilities')) {
    const spaces: ('std' | 'ext')[] = [];
    if (!hexFn.unknown.includes('capabilities')) spaces.push('std');
    if (hexFn.extCapsReadable === true && !textFn.unknown.includes('ext-capabilities')) spaces.push('ext');
    for (const space of spaces) {
      const inHex = new Map<number, CapabilityRef>();
      for (const c of hexCaps) if (c.space === space) inHex.set(c.offset, c);
      const inText = new Map<number, CapabilityRef>();
      for (const c of textCaps) if (c.space === space) inText.set(c.offset, c);
      for (const [off, tc] of inText) {
        const hc = inHex.get(off);
        const line = capLine(entry, off);
        if (hc === undefined) {
          mismatch(`capability at [${hex2(off)}]`, 'none', tc.name, line);
        } else if (Number.isInteger(tc.id) && tc.id >= 0 && tc.id !== hc.id) {
          mismatch(`capability ID at [${hex2(off)}]`, hc.id, tc.id, line);
        }
      }
      // The text leaves out capabilities whose lspci name does not determine an ID.
      if (!textFn.unknown.includes('capabilities.id'))
        for (const [off, hc] of inHex)
          if (!inText.has(off)) mismatch(`capability at [${hex2(off)}]`, hc.name, 'none', entry.line);
    }
  }

  const line = (rec: { offset: number } | null): number =>
    rec === null ? entry.line : capLine(entry, rec.offset);
  compareRecord('express', hexFn.express, textFn.express, line(hexFn.express));
  compareRecord('ats', hexFn.ats, textFn.ats, line(hexFn.ats));
  compareRecord('sriov', hexFn.sriov, textFn.sriov, line(hexFn.sriov));
  compareRecord('pasid', hexFn.pasid, textFn.pasid, line(hexFn.pasid));
  compareRecord('pri', hexFn.pri, textFn.pri, line(hexFn.pri));
  compareRecord('acs', hexFn.acs, textFn.acs, line(hexFn.acs));
  compareRecord('cxl', hexFn.cxl, textFn.cxl, line(hexFn.cxl));
  for (const td of textFn.dvsecs) {
    const hd = hexFn.dvsecs.find((d) => d.offset === td.offset);
    if (hd !== undefined) compareRecord('dvsec', hd, td, capLine(entry, td.offset));
  }
  return out;
}

/**
 * Reads a whole lspci output file. Throws InputError for an empty or binary file, a malformed
 * hex row, or a file that holds no device line and no hex.
 */
export function parseLspci(text: string, file: string): LspciParse {
  if (text.trim() === '')
    throw new InputError({
      code: 'empty-input',
      message: 'the file is empty; expected lspci output',
      where: { file, line: 1 },
    });
  if (isBinary(text))
    throw new InputError({
      code: 'binary-input',
      message: 'the file is binary, not lspci text output (for a raw config space use sysfs import)',
      where: { file, line: 1 },
    });

  const fileDiags: Diagnostic[] = [];
  const entries = new Map<Bdf, Entry>();
  const builder = new HexDumpBuilder(file);
  /**
   * The device block being read (a holder, as the helpers below replace it), and whether a block
   * is being skipped because its address is not usable (its text and hex are then ignored).
   */
  const cur: { block: Block | null; skipping: boolean } = { block: null, skipping: false };
  let orphanRun = false;
  let unknownRun = false;

  const secondaryBusOf = (bdf: Bdf): number | null => {
    const e = entries.get(bdf);
    if (e === undefined) return null;
    const cs = e.hex?.config;
    if (cs !== undefined && cs.has(0x1a) && (cs.read8(0x0e) & 0x7f) === 1) return cs.read8(0x19);
    return e.textFn?.header.secondaryBus ?? null;
  };

  const store = (b: Block): void => {
    const textFn =
      b.device !== null && (b.text.length > 0 || b.hex === null)
        ? parseLspciTextBlock([b.device, ...b.text], file)
        : null;
    const prev = entries.get(b.bdf);
    if (prev === undefined) {
      entries.set(b.bdf, {
        bdf: b.bdf,
        line: b.line,
        device: b.device,
        text: b.text,
        textFn,
        hex: b.hex,
        diagnostics: b.diagnostics,
      });
      return;
    }
    // `lspci -vvv` and `lspci -xxxx` output concatenated: one block has only text, the other only
    // hex. They are one function; merge them as `lspci -vvv -xxxx` would have printed it.
    const complementary =
      (prev.hex === null && prev.textFn !== null && b.hex !== null && b.text.length === 0) ||
      (prev.hex !== null && prev.text.length === 0 && b.hex === null && textFn !== null);
    if (complementary) {
      entries.set(b.bdf, {
        ...prev,
        text: prev.text.length > 0 ? prev.text : b.text,
        textFn: prev.textFn ?? textFn,
        hex: prev.hex ?? b.hex,
        diagnostics: [...prev.diagnostics, ...b.diagnostics],
      });
      return;
    }
    prev.diagnostics.push({
      code: 'duplicate-bdf',
      message: `${b.bdf} appears again here after line ${prev.line}; the first is kept`,
      where: { file, line: b.line },
    });
  };

  const close = (): void => {
    if (cur.skipping) {
      if (builder.rowCount > 0) builder.finish();
      cur.skipping = false;
    }
    const b = cur.block;
    if (b === null) return;
    if (builder.rowCount > 0) b.hex = builder.finish();
    store(b);
    cur.block = null;
  };

  /** Parses a device line; null when the line is not one (or is skipped with a warning). */
  const openDevice = (lineText: string, lineNo: number): boolean => {
    const m = DEVICE_RE.exec(lineText);
    if (m === null) return false;
    const domain = m[1] === undefined ? 0 : parseInt(m[1], 16);
    const device = parseInt(m[3]!, 16);
    if (device > 31) return false;
    close();
    if (domain > 0xffff) {
      fileDiags.push({
        code: 'unsupported-domain',
        message: `PCI domain ${m[1]!} is wider than 16 bits; this device is skipped`,
        where: { file, line: lineNo },
      });
      cur.skipping = true;
      return true;
    }
    let bdf = formatBdf({ segment: domain, bus: parseInt(m[2]!, 16), device, fn: parseInt(m[4]!, 10) });
    const token = m[0];
    const path = m[5]!;
    if (path !== '') {
      const parts = path.slice(1).split('/');
      let parent = bdf;
      for (const part of parts) {
        const p = PATH_PART_RE.exec(part)!;
        let bus: number | null = p[1] === undefined ? null : parseInt(p[1], 16);
        if (bus === null) bus = secondaryBusOf(parent);
        if (bus === null) {
          fileDiags.push({
            code: 'unresolved-path',
            message: `cannot tell the bus of ${part} in the -P path ${token}: the bridge ${parent} and its secondary bus are not in the file (use lspci -PP); this device is skipped`,
            where: { file, line: lineNo },
          });
          cur.skipping = true;
          return true;
        }
        parent = formatBdf({
          segment: domain,
          bus,
          device: parseInt(p[2]!, 16),
          fn: parseInt(p[3]!, 10),
        });
      }
      bdf = parent;
    }
    cur.block = {
      bdf,
      line: lineNo,
      device: { text: lineText, line: lineNo },
      text: [],
      hex: null,
      diagnostics: [],
    };
    return true;
  };

  const len = text.length;
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let lineNo = 0;
  while (pos <= len) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = len;
    let end = nl;
    lineNo++;
    while (end > pos) {
      const c = text.charCodeAt(end - 1);
      if (c !== 13 && c !== 32 && c !== 9) break;
      end--;
    }
    const start = pos;
    pos = nl + 1;
    if (start === end) {
      // A blank line ends a device block, as in lspci's own dump reader (lib/dump.c).
      close();
      orphanRun = false;
      unknownRun = false;
      continue;
    }
    const c0 = text.charCodeAt(start);
    if (c0 === 35 /* # */) continue;
    if (c0 === 9 || c0 === 32) {
      unknownRun = false;
      if (cur.skipping) continue;
      if (cur.block === null) {
        if (!orphanRun)
          fileDiags.push({
            code: 'orphan-text',
            message: 'indented text with no device line before it is ignored',
            where: { file, line: lineNo },
          });
        orphanRun = true;
        continue;
      }
      cur.block.text.push({ text: text.slice(start, end), line: lineNo });
      continue;
    }
    orphanRun = false;
    if (isLspciHexLine(text, start, end)) {
      unknownRun = false;
      if (cur.skipping) continue;
      if (cur.block === null) {
        cur.block = {
          bdf: ANONYMOUS_BDF,
          line: lineNo,
          device: null,
          text: [],
          hex: null,
          diagnostics: [
            {
              code: 'no-device-line',
              message: `hex rows with no device line before them: read as one function at ${ANONYMOUS_BDF}`,
              where: { file, line: lineNo },
            },
          ],
        };
      }
      builder.addLine(text, start, end, lineNo);
      continue;
    }
    if (openDevice(text.slice(start, end), lineNo)) {
      unknownRun = false;
      continue;
    }
    // Inside a device's text, a line at column 0 that is neither a device line nor hex is most
    // likely the tail of a line a mailer wrapped: the text parser rejoins or reports it.
    if (cur.block !== null && !cur.skipping && cur.block.text.length > 0 && cur.block.hex === null) {
      cur.block.text.push({ text: text.slice(start, end), line: lineNo });
      continue;
    }
    if (!unknownRun)
      fileDiags.push({
        code: 'unrecognized-line',
        message: `not a device line, indented text or a hex row: "${text.slice(start, Math.min(end, start + 40))}"; ignored`,
        where: { file, line: lineNo },
      });
    unknownRun = true;
  }
  close();

  if (entries.size === 0)
    throw new InputError({
      code: 'no-devices',
      message: 'no lspci device line and no hex dump found',
      where: { file, line: 1 },
    });

  const functions: PciFunction[] = [];
  const diagnostics: Diagnostic[] = [...fileDiags];
  for (const e of entries.values()) {
    const fn = buildFunction(e, file);
    functions.push(fn);
    diagnostics.push(...fn.diagnostics);
  }
  return { functions, diagnostics };
}

function buildFunction(e: Entry, file: string): PciFunction {
  const textFn = e.textFn;
  if (e.hex === null) {
    // Text only: the text reader's record, at the address this reader resolved.
    const fn = textFn!;
    return {
      ...fn,
      bdf: e.bdf,
      diagnostics: [...e.diagnostics, ...fn.diagnostics],
    };
  }
  const hexFn = decodeFunction(e.hex.config, e.bdf, {
    sourceKind: 'lspci-hex',
    source: { file, line: e.line },
    driver: textFn?.driver ?? null,
  });
  const mismatches = textFn === null ? [] : compareTextHex(hexFn, textFn, e, file);
  return {
    ...hexFn,
    diagnostics: [
      ...e.diagnostics,
      ...e.hex.diagnostics,
      ...hexFn.diagnostics,
      ...(textFn?.diagnostics ?? []),
      ...mismatches,
    ],
  };
}
