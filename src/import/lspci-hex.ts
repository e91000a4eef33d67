/**
 * lspci's hex dump of one function's configuration space: `lspci -x` (64 bytes), `-xxx` (256)
 * and `-xxxx` (4096) print rows like `00: 86 80 1e 19 ...` and `100: 1b 00 ...`, an offset, a
 * colon and 16 bytes (pciutils lspci.c show_hex_dump(); read back by lib/dump.c dump_init()).
 *
 * The bytes shown must run contiguously from offset 0; `ConfigSpace.size` is how many did.
 * Malformed rows (a token that is not one byte of hex, more than 16 bytes, an offset past
 * 0xff0 or not on a 16-byte row) are fatal InputErrors naming file:line:column. Rows that are
 * merely incomplete, repeated, out of order or past a gap are warnings naming file:line.
 *
 * Hot path: a 10,000-function `-xxxx` file is ~136 MB of hex, so rows are parsed in place from
 * the whole file's text with charCodeAt and a lookup table; no per-row substring or regex.
 */
import { InputError, type Diagnostic, type FileLocation } from '../diagnostics.js';
import { ConfigSpace, PCI_CFG_SPACE_EXP_SIZE, PCI_CFG_SPACE_SIZE } from '../pci/config-space.js';

export interface HexLine {
  readonly text: string;
  /** 1-based line number in the file. */
  readonly line: number;
}

export interface HexDump {
  readonly config: ConfigSpace;
  readonly diagnostics: Diagnostic[];
}

const ROW = 16;
const ROWS = PCI_CFG_SPACE_EXP_SIZE / ROW;
/** Sizes lspci prints: -x, -xxx, -xxxx. */
const LSPCI_SIZES: readonly number[] = [64, PCI_CFG_SPACE_SIZE, PCI_CFG_SPACE_EXP_SIZE];

/** Hex digit value per char code below 128, or -1. */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX_VALUE[65 + i] = 10 + i;
  HEX_VALUE[97 + i] = 10 + i;
}

/** The same for every UTF-16 code unit, so the hot loop needs no range check. */
const HEX_VALUE16 = new Int8Array(65536).fill(-1);
HEX_VALUE16.set(HEX_VALUE);

function hexValue(c: number): number {
  return c < 128 ? HEX_VALUE[c]! : -1;
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9 || c === 13;
}

/**
 * True when text[start, end) is a hex row: 2 to 4 hex digits at column 0, a colon, then a blank
 * or the end of the line. A device line (`00:02.0 ...`, `0000:00:02.0 ...`) never matches.
 */
export function isLspciHexLine(text: string, start: number, end: number): boolean {
  let p = start;
  while (p < end && p - start < 5 && hexValue(text.charCodeAt(p)) >= 0) p++;
  const digits = p - start;
  if (digits < 2 || digits > 4 || p >= end || text.charCodeAt(p) !== 58 /* : */) return false;
  return p + 1 === end || isBlank(text.charCodeAt(p + 1));
}

function hx(n: number): string {
  return n.toString(16);
}

/**
 * Collects one function's hex rows, then yields its ConfigSpace. One builder can be reused for
 * many functions: finish() resets it.
 */
export class HexDumpBuilder {
  private readonly file: string;
  private readonly scratch = new Uint8Array(PCI_CFG_SPACE_EXP_SIZE);
  /** File line of each 16-byte row shown, 0 when not shown. */
  private readonly rowLine = new Int32Array(ROWS);
  /** Bytes shown on each row (16, or fewer on a short row). */
  private readonly rowBytes = new Uint8Array(ROWS);
  private rows = 0;
  private lastRow = -1;
  private diagnostics: Diagnostic[] = [];
  private duplicates = 0;
  private firstDuplicateLine = 0;

  constructor(file: string) {
    this.file = file;
  }

  /** Number of rows added since the last finish(). */
  get rowCount(): number {
    return this.rows;
  }

  private at(line: number, column?: number): FileLocation {
    return column === undefined ? { file: this.file, line } : { file: this.file, line, column };
  }

  private fail(code: string, message: string, line: number, column: number): never {
    throw new InputError({ code, message, where: this.at(line, column) });
  }

  /** Adds the row text[start, end) (no newline) found on 1-based file line `line`. */
  addLine(text: string, start: number, end: number, line: number): void {
    let p = start;
    let offset = 0;
    let c: number;
    while (p < end && (c = text.charCodeAt(p)) !== 58 /* : */) {
      const v = hexValue(c);
      if (v < 0) this.fail('hex-non-hex', `offset has a non-hex character`, line, p - start + 1);
      offset = offset * 16 + v;
      if (offset > 0xfffffff) break;
      p++;
    }
    if (p >= end || p === start)
      this.fail('hex-malformed', 'a hex row starts with its offset and a colon', line, 1);
    if (offset >= PCI_CFG_SPACE_EXP_SIZE)
      this.fail(
        'hex-offset-range',
        `offset 0x${hx(offset)} is past the 4096-byte (0xfff) configuration space`,
        line,
        1,
      );
    if (offset % ROW !== 0)
      this.fail('hex-offset-misaligned', `offset 0x${hx(offset)} does not start a 16-byte row`, line, 1);
    p++; // the colon

    const row = offset / ROW;
    if (this.rowLine[row] !== 0) {
      // Keep the first copy of a row; the rest of this line is still checked for form below.
      if (this.duplicates === 0) this.firstDuplicateLine = line;
      this.duplicates++;
    }
    const keep = this.rowLine[row] === 0;
    const dst = this.scratch;
    let n = 0;
    // Fast path: the row exactly as lspci prints it, " xx" sixteen times.
    if (keep && end - p === ROW * 3) {
      let q = p;
      for (; n < ROW; n++, q += 3) {
        const hi = HEX_VALUE16[text.charCodeAt(q + 1)]!;
        const lo = HEX_VALUE16[text.charCodeAt(q + 2)]!;
        if (text.charCodeAt(q) !== 32 || (hi | lo) < 0) break;
        dst[offset + n] = (hi << 4) | lo;
      }
      if (n === ROW) p = end;
      else p = q;
    }
    for (;;) {
      while (p < end && isBlank(text.charCodeAt(p))) p++;
      if (p >= end) break;
      const tokenStart = p;
      const hi = hexValue(text.charCodeAt(p));
      const lo = p + 1 < end ? hexValue(text.charCodeAt(p + 1)) : -1;
      if (hi >= 0 && lo >= 0 && (p + 2 >= end || isBlank(text.charCodeAt(p + 2)))) {
        if (n >= ROW)
          this.fail(
            'hex-byte-count',
            `more than 16 bytes on the row at offset 0x${hx(offset)}`,
            line,
            tokenStart - start + 1,
          );
        if (keep) dst[offset + n] = (hi << 4) | lo;
        n++;
        p += 2;
        continue;
      }
      // Not a byte: find the whole token to say what is wrong with it.
      while (p < end && !isBlank(text.charCodeAt(p))) p++;
      let bad = -1;
      for (let q = tokenStart; q < p; q++)
        if (hexValue(text.charCodeAt(q)) < 0) {
          bad = q;
          break;
        }
      const token = text.slice(tokenStart, Math.min(p, tokenStart + 12));
      if (bad >= 0) this.fail('hex-non-hex', `"${token}" is not hex`, line, bad - start + 1);
      this.fail(
        'hex-token-length',
        (p - tokenStart) % 2 === 1
          ? `"${token}" has an odd number of hex digits; each byte is two`
          : `"${token}" is not one byte; each byte is two hex digits`,
        line,
        tokenStart - start + 1,
      );
    }

    if (!keep) return;
    this.rowLine[row] = line;
    this.rowBytes[row] = n;
    this.rows++;
    if (n < ROW)
      this.diagnostics.push({
        code: 'hex-short-line',
        message: `the row at offset 0x${hx(offset)} has ${n} of 16 bytes (truncated dump?)`,
        where: this.at(line),
      });
    if (row < this.lastRow)
      this.diagnostics.push({
        code: 'hex-offset-order',
        message: `offset 0x${hx(offset)} comes after offset 0x${hx(this.lastRow * ROW)}; rows are placed by their offsets`,
        where: this.at(line),
      });
    this.lastRow = row;
  }

  /** The ConfigSpace of the rows added so far, and the warnings about them; resets the builder. */
  finish(): HexDump {
    const diagnostics = this.diagnostics;
    if (this.duplicates > 0)
      diagnostics.push({
        code: 'hex-duplicate-offset',
        message:
          this.duplicates === 1
            ? 'this offset was already shown; the first row is kept'
            : `this offset was already shown, as were ${this.duplicates - 1} more rows after it; the first rows are kept`,
        where: this.at(this.firstDuplicateLine),
      });
    let size = 0;
    let row = 0;
    let short = false;
    while (row < ROWS && this.rowLine[row] !== 0) {
      const n = this.rowBytes[row]!;
      size += n;
      row++;
      if (n < ROW) {
        short = true;
        break;
      }
    }
    let gap = false;
    for (let r = row; r < ROWS; r++) {
      if (this.rowLine[r] === 0) continue;
      gap = true;
      diagnostics.push({
        code: 'hex-gap',
        message: `the bytes shown stop at 0x${hx(size)}; the row at offset 0x${hx(r * ROW)} and later ones are not contiguous from 0 and are ignored`,
        where: this.at(this.rowLine[r]!),
      });
      break;
    }
    if (!short && !gap && size > 0 && !LSPCI_SIZES.includes(size)) {
      const lastLine = this.rowLine[row - 1]!;
      diagnostics.push({
        code: 'hex-truncated',
        message: `the dump ends at 0x${hx(size)}; lspci -x, -xxx and -xxxx show 64, 256 and 4096 bytes (truncated dump?)`,
        where: this.at(lastLine),
      });
    }
    const config = new ConfigSpace(size, this.scratch.subarray(0, size));
    this.rowLine.fill(0);
    this.rowBytes.fill(0);
    this.rows = 0;
    this.lastRow = -1;
    this.diagnostics = [];
    this.duplicates = 0;
    this.firstDuplicateLine = 0;
    return { config, diagnostics };
  }
}

/**
 * One function's hex rows (each with its 1-based file line) as a ConfigSpace whose `size` is
 * the number of bytes shown contiguously from 0. Throws InputError for a malformed row.
 */
export function parseLspciHex(lines: readonly HexLine[], file: string): HexDump {
  const b = new HexDumpBuilder(file);
  for (const l of lines) {
    let end = l.text.length;
    while (end > 0 && isBlank(l.text.charCodeAt(end - 1))) end--;
    b.addLine(l.text, 0, end, l.line);
  }
  return b.finish();
}
