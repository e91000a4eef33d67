/**
 * Writes configuration spaces as an lspci hex dump that `lspci -F FILE` (pciutils lib/dump.c,
 * dump_init()) reads back, and that atsim's own lspci reader reads too:
 *
 *   0000:03:00.0 Class 0200: Device 8086:1452 (rev 10)
 *   00: 86 80 52 14 ...
 *   ...
 *   (blank line)
 *
 * lspci's dump reader needs the address followed by a space on the device line (it matches
 * `##:##.# ` or `####:##:##.# `), rows of `offset: bytes` with single spaces as lspci -x prints
 * them (lspci.c show_hex_dump()), lines shorter than 255 characters, and a blank line before
 * the next device. The text after the address is not read by lspci.
 *
 * Built as ASCII bytes in one buffer: 10,000 functions of 4 KiB are ~136 MB of text.
 */
import { parseBdf, type Bdf } from '../pci/bdf.js';
import type { ConfigSpace } from '../pci/config-space.js';

export interface DumpFunction {
  readonly bdf: Bdf;
  readonly config: ConfigSpace;
  /** Text after the address on the device line; a `Class cccc: Device vvvv:dddd` line by default. */
  readonly name?: string;
}

export interface LspciDumpOptions {
  /** Print the PCI domain (`0000:03:00.0`, as `lspci -D`). Default true; a non-zero domain is always printed. */
  readonly domain?: boolean;
}

/** lspci's dump reader rejects lines of 255 characters or more. */
const MAX_NAME = 180;

const HEX = '0123456789abcdef';
const HEX_CODES = new Uint8Array(16);
for (let i = 0; i < 16; i++) HEX_CODES[i] = HEX.charCodeAt(i);

function h(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** The device line's text after the address, as `lspci -n` would identify the function. */
function defaultName(cs: ConfigSpace): string {
  if (!cs.has(0, 4)) return 'Device';
  const ids = `${h(cs.read16(0), 4)}:${h(cs.read16(2), 4)}`;
  if (!cs.has(8, 4)) return `Device ${ids}`;
  const rev = cs.read8(8);
  const cls = (cs.read8(0x0b) << 8) | cs.read8(0x0a);
  return `Class ${h(cls, 4)}: Device ${ids}${rev === 0 ? '' : ` (rev ${h(rev, 2)})`}`;
}

function cleanName(name: string): string {
  // One line, and short enough for lspci's 255-character line buffer.
  // eslint-disable-next-line no-control-regex
  const one = name.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return one.length > MAX_NAME ? one.slice(0, MAX_NAME) : one;
}

/** Writes the functions, in the order given, as lspci `-x`/`-xxx`/`-xxxx` hex dump text. */
export function writeLspciDump(functions: readonly DumpFunction[], opts: LspciDumpOptions = {}): string {
  const withDomain = opts.domain ?? true;
  const encoder = new TextEncoder();
  const heads: Uint8Array[] = [];
  let total = 0;
  for (const f of functions) {
    const p = parseBdf(f.bdf);
    if (p === null) throw new RangeError(`"${f.bdf}" is not a PCI address`);
    const addr = `${withDomain || p.segment !== 0 ? `${h(p.segment, 4)}:` : ''}${h(p.bus, 2)}:${h(p.device, 2)}.${p.fn}`;
    const name = cleanName(f.name ?? defaultName(f.config));
    const head = encoder.encode(`${addr} ${name === '' ? 'Device' : name}\n`);
    heads.push(head);
    const size = f.config.size;
    const rows = Math.ceil(size / 16);
    // Each row: "xx:" (or "xxx:" from 0x100), " xx" per byte, newline; then the blank line.
    total += head.length + rows * 4 + Math.max(0, rows - 16) + size * 3 + 1;
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (let i = 0; i < functions.length; i++) {
    const head = heads[i]!;
    out.set(head, o);
    o += head.length;
    const cs = functions[i]!.config;
    const bytes = cs.bytes;
    const size = cs.size;
    for (let row = 0; row < size; row += 16) {
      if (row >= 0x100) out[o++] = HEX_CODES[row >> 8]!;
      out[o++] = HEX_CODES[(row >> 4) & 15]!;
      out[o++] = HEX_CODES[row & 15]!;
      out[o++] = 58; // :
      const stop = Math.min(row + 16, size);
      for (let b = row; b < stop; b++) {
        const v = bytes[b]!;
        out[o++] = 32;
        out[o++] = HEX_CODES[v >> 4]!;
        out[o++] = HEX_CODES[v & 15]!;
      }
      out[o++] = 10;
    }
    out[o++] = 10;
  }
  return new TextDecoder().decode(out.subarray(0, o));
}
