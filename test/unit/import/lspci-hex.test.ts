import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError, type Diagnostic, type FileLocation } from '../../../src/diagnostics.js';
import { writeLspciDump } from '../../../src/export/lspci-dump.js';
import {
  HexDumpBuilder,
  isLspciHexLine,
  parseLspciHex,
  type HexLine,
} from '../../../src/import/lspci-hex.js';
import { ConfigSpace } from '../../../src/pci/config-space.js';
import { corpusDir } from '../../helpers/paths.js';

const FILE = 'dump.txt';

/** Rows of `size` bytes in lspci's layout, numbered from line `first`. */
function rows(bytes: Uint8Array, size: number, first = 1): HexLine[] {
  const out: HexLine[] = [];
  for (let off = 0; off < size; off += 16) {
    const hexBytes = Array.from(bytes.subarray(off, Math.min(off + 16, size)), (b) =>
      b.toString(16).padStart(2, '0'),
    );
    out.push({ text: `${off.toString(16).padStart(2, '0')}: ${hexBytes.join(' ')}`, line: first + off / 16 });
  }
  return out;
}

function inputError(f: () => unknown): InputError {
  try {
    f();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error('expected an InputError');
}

function fileWhere(d: Diagnostic): FileLocation {
  const w = d.where;
  if (w === undefined || !('file' in w)) throw new Error(`diagnostic ${d.code} names no file:line`);
  return w;
}

/** The hex rows of a corpus file, read with a plain split as an independent check. */
function corpusRows(name: string): HexLine[] {
  const lines = readFileSync(join(corpusDir, name), 'utf8').split('\n');
  const out: HexLine[] = [];
  lines.forEach((text, i) => {
    if (/^[0-9a-f]{2,3}: /.test(text)) out.push({ text, line: i + 1 });
  });
  return out;
}

function plainBytes(lines: readonly HexLine[]): number[] {
  const out: number[] = [];
  for (const l of lines)
    for (const t of l.text
      .slice(l.text.indexOf(':') + 1)
      .trim()
      .split(/\s+/))
      out.push(parseInt(t, 16));
  return out;
}

describe('isLspciHexLine', () => {
  const is = (s: string): boolean => isLspciHexLine(s, 0, s.length);
  it('knows hex rows from device lines and text', () => {
    expect(is('00: 86 80 1e 19')).toBe(true);
    expect(is('100: 1b 00 01 20')).toBe(true);
    expect(is('ff0:')).toBe(true);
    expect(is('00:02.0 VGA compatible controller: Intel')).toBe(false);
    expect(is('0000:00:02.0 VGA compatible controller')).toBe(false);
    expect(is('00:1c.0/02:00.0 Network controller')).toBe(false);
    expect(is('\t00: 86 80')).toBe(false);
    expect(is('Slot:\t00:02.0')).toBe(false);
  });
});

describe('parseLspciHex: the three lspci sizes', () => {
  it('reads -x, -xxx and -xxxx of a real dump with its bytes unchanged', () => {
    const all = corpusRows('01-pciutils-cap-pasid-pri.txt');
    expect(all).toHaveLength(256);
    for (const size of [64, 256, 4096]) {
      const lines = all.slice(0, size / 16);
      const { config, diagnostics } = parseLspciHex(lines, FILE);
      expect(config.size).toBe(size);
      expect(Array.from(config.bytes.subarray(0, size))).toEqual(plainBytes(lines));
      expect(config.bytes.subarray(size).every((b) => b === 0)).toBe(true);
      expect(diagnostics).toEqual([]);
    }
  });

  it('round-trips any bytes through the dump writer, for every size lspci prints', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 4096, maxLength: 4096 }),
        fc.constantFrom(64, 256, 4096),
        (bytes, size) => {
          const cs = new ConfigSpace(size, bytes.subarray(0, size));
          const text = writeLspciDump([{ bdf: '0000:03:00.0', config: cs }]);
          const lines = text
            .split('\n')
            .map((t, i) => ({ text: t, line: i + 1 }))
            .filter((l) => isLspciHexLine(l.text, 0, l.text.length));
          const back = parseLspciHex(lines, FILE);
          expect(back.config.size).toBe(size);
          expect(back.config.bytes).toEqual(cs.bytes);
          expect(back.diagnostics).toEqual([]);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('accepts upper-case hex, extra blanks and a carriage return', () => {
    const lines = rows(new Uint8Array(64).fill(0xab), 64).map((l, i) => ({
      ...l,
      text: i === 0 ? l.text.toUpperCase().replace(/ /g, '  ') + ' \r' : l.text,
    }));
    const { config, diagnostics } = parseLspciHex(lines, FILE);
    expect(config.size).toBe(64);
    expect(config.read32(0)).toBe(0xabababab);
    expect(diagnostics).toEqual([]);
  });

  it('a reused builder does not carry bytes from one function to the next', () => {
    const b = new HexDumpBuilder(FILE);
    for (const l of rows(new Uint8Array(4096).fill(0xee), 4096)) b.addLine(l.text, 0, l.text.length, l.line);
    expect(b.finish().config.read8(0xfff)).toBe(0xee);
    for (const l of rows(new Uint8Array(64).fill(0x11), 64)) b.addLine(l.text, 0, l.text.length, l.line);
    const second = b.finish().config;
    expect(second.size).toBe(64);
    expect(second.read8(0x3f)).toBe(0x11);
    expect(second.bytes.subarray(64).every((x) => x === 0)).toBe(true);
  });
});

describe('parseLspciHex: malformed rows are InputErrors naming file:line:column', () => {
  const base = (): HexLine[] => rows(new Uint8Array(256).fill(0x5a), 256, 10);
  const edit = (row: number, text: string): HexLine[] => {
    const lines = base();
    lines[row] = { text, line: lines[row]!.line };
    return lines;
  };

  it('a non-hex byte', () => {
    const e = inputError(() =>
      parseLspciHex(edit(2, '20: 5a 5a zz 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a'), FILE),
    );
    expect(e.diagnostic.code).toBe('hex-non-hex');
    expect(e.diagnostic.where).toEqual({ file: FILE, line: 12, column: 11 });
    expect(e.message).toContain('dump.txt:12:11');
  });

  it('an odd-length byte', () => {
    const e = inputError(() =>
      parseLspciHex(edit(1, '10: 5a 5a 5 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a'), FILE),
    );
    expect(e.diagnostic.code).toBe('hex-token-length');
    expect(e.diagnostic.where).toEqual({ file: FILE, line: 11, column: 11 });
    const e3 = inputError(() => parseLspciHex(edit(1, '10: 5a 5a5 5a'), FILE));
    expect(e3.diagnostic.code).toBe('hex-token-length');
    expect(e3.diagnostic.message).toContain('odd');
  });

  it('more than 16 bytes on a row', () => {
    const e = inputError(() =>
      parseLspciHex(edit(0, '00: 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a 77'), FILE),
    );
    expect(e.diagnostic.code).toBe('hex-byte-count');
    expect(e.diagnostic.where).toEqual({ file: FILE, line: 10, column: 53 });
  });

  it('an offset beyond 0xfff', () => {
    const e = inputError(() => parseLspciHex([...base(), { text: '1000: 00 00', line: 99 }], FILE));
    expect(e.diagnostic.code).toBe('hex-offset-range');
    expect(e.diagnostic.where).toMatchObject({ file: FILE, line: 99 });
  });

  it('an offset that does not start a row', () => {
    const e = inputError(() => parseLspciHex(edit(3, '38: 00 00'), FILE));
    expect(e.diagnostic.code).toBe('hex-offset-misaligned');
    expect(e.diagnostic.where).toMatchObject({ file: FILE, line: 13 });
  });
});

describe('parseLspciHex: incomplete rows are warnings naming file:line', () => {
  const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);

  it('a short last row: the bytes shown are kept and the size is not a multiple of 16', () => {
    const lines = rows(bytes, 256, 1).slice(0, 5);
    lines[4] = { text: '40: 40 41 42', line: 5 };
    const { config, diagnostics } = parseLspciHex(lines, FILE);
    expect(config.size).toBe(0x43);
    expect(config.read8(0x42)).toBe(0x42);
    expect(diagnostics.map((d) => [d.code, fileWhere(d).line])).toEqual([['hex-short-line', 5]]);
  });

  it('a gap: the bytes stop before it', () => {
    const lines = rows(bytes, 256, 1);
    lines.splice(3, 1);
    const { config, diagnostics } = parseLspciHex(lines, FILE);
    expect(config.size).toBe(0x30);
    expect(config.has(0x40)).toBe(false);
    expect(diagnostics.map((d) => [d.code, fileWhere(d).line])).toEqual([['hex-gap', 5]]);
  });

  it('a truncated dump (not 64, 256 or 4096 bytes)', () => {
    const { config, diagnostics } = parseLspciHex(rows(bytes, 128), FILE);
    expect(config.size).toBe(128);
    expect(diagnostics.map((d) => [d.code, fileWhere(d).line])).toEqual([['hex-truncated', 8]]);
  });

  it('a repeated offset: the first row is kept', () => {
    const lines = rows(bytes, 64, 1);
    lines.push({ text: '10: ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff', line: 5 });
    const { config, diagnostics } = parseLspciHex(lines, FILE);
    expect(config.size).toBe(64);
    expect(config.read8(0x10)).toBe(0x10);
    expect(diagnostics.map((d) => [d.code, fileWhere(d).line])).toEqual([['hex-duplicate-offset', 5]]);
  });

  it('rows out of order: placed by their offsets, with a warning', () => {
    const lines = rows(bytes, 64, 1);
    const swapped = [lines[0]!, lines[2]!, lines[1]!, lines[3]!];
    const { config, diagnostics } = parseLspciHex(swapped, FILE);
    expect(config.size).toBe(64);
    expect(Array.from(config.bytes.subarray(0, 64))).toEqual(Array.from(bytes.subarray(0, 64)));
    expect(diagnostics.map((d) => [d.code, fileWhere(d).line])).toEqual([['hex-offset-order', 2]]);
  });
});
