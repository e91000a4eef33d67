import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError, type Diagnostic, type Location } from '../../../src/diagnostics.js';
import { writeLspciDump } from '../../../src/export/lspci-dump.js';
import { ANONYMOUS_BDF, parseLspci, type LspciParse } from '../../../src/import/lspci.js';
import { parseBdf } from '../../../src/pci/bdf.js';
import type { ConfigSpace } from '../../../src/pci/config-space.js';
import type { PciFunction } from '../../../src/pci/function.js';
import { corpusDir } from '../../helpers/paths.js';

const CORPUS = readdirSync(corpusDir)
  .filter((f) => f.endsWith('.txt'))
  .sort();

function corpus(name: string): string {
  return readFileSync(join(corpusDir, name), 'utf8');
}

/** The corpus file without its two `#` header lines. */
function stripped(name: string): string {
  return corpus(name).split('\n').slice(2).join('\n');
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

function codes(ds: readonly Diagnostic[]): string[] {
  return ds.map((d) => d.code);
}

function find(ds: readonly Diagnostic[], code: string): Diagnostic {
  const d = ds.find((x) => x.code === code);
  if (d === undefined) throw new Error(`no ${code} among ${codes(ds).join(', ')}`);
  return d;
}

function only(r: LspciParse): PciFunction {
  expect(r.functions).toHaveLength(1);
  return r.functions[0]!;
}

/** Device line and hex rows of file 01 (Skylake iGPU), `rows` rows of hex. */
function skylake(deviceLine: string, rows: number): string {
  const lines = stripped('01-pciutils-cap-pasid-pri.txt').split('\n');
  const hex = lines.filter((l) => /^[0-9a-f]{2,3}: /.test(l)).slice(0, rows);
  return [deviceLine, ...hex, ''].join('\n');
}

const SKL = '00:02.0 VGA compatible controller: Intel Corporation Sky Lake Integrated Graphics (rev 07)';

/** Parses corpus file 01, changes bytes of its config space, and writes it back out as a dump. */
function editedSkylake(edit: (cs: ConfigSpace) => void): string {
  const fn = only(parseLspci(stripped('01-pciutils-cap-pasid-pri.txt'), 'x'));
  const cs = fn.config!.clone();
  edit(cs);
  return writeLspciDump([{ bdf: fn.bdf, config: cs }]);
}

describe('parseLspci: formats', () => {
  it('-vvv text with -xxxx hex: the hex is decoded, the text gives the driver, they agree', () => {
    const r = parseLspci(corpus('01-pciutils-cap-pasid-pri.txt'), '01.txt');
    const fn = only(r);
    expect(fn.bdf).toBe('0000:00:02.0');
    expect(fn.sourceKind).toBe('lspci-hex');
    expect(fn.source).toEqual({ file: '01.txt', line: 3 });
    expect(fn.config?.size).toBe(4096);
    expect(fn.driver).toBe('i915');
    expect(fn.ats).toMatchObject({ offset: 0x200, enabled: true, stuRaw: 0, queueDepthRaw: 0 });
    expect(fn.pasid).toMatchObject({ width: 0x14, exec: true, priv: false, enabled: true });
    expect(codes(r.diagnostics)).not.toContain('text-hex-mismatch');
  });

  it('-x (64 bytes): the capability list and the extended capabilities are unknown', () => {
    const fn = only(parseLspci(skylake(SKL, 4), 'x.txt'));
    expect(fn.config?.size).toBe(64);
    expect(fn.unknown).toEqual(expect.arrayContaining(['capabilities', 'express', 'ats', 'pasid', 'pri']));
    expect(find(fn.diagnostics, 'cap-unreadable').where).toEqual({ bdf: '0000:00:02.0', offset: 0x40 });
    expect(find(fn.diagnostics, 'ext-caps-unreadable').where).toEqual({ bdf: '0000:00:02.0' });
  });

  it('-xxx (256 bytes): standard capabilities decode; ATS and the rest are unknown', () => {
    const r = parseLspci(skylake(SKL, 16), 'xxx.txt');
    const fn = only(r);
    expect(fn.config?.size).toBe(256);
    expect(fn.extCapsReadable).toBe(false);
    expect(fn.express?.portType).toBe(9);
    expect(fn.ats).toBeNull();
    expect(fn.unknown).toContain('ats');
    expect(find(r.diagnostics, 'ext-caps-unreadable').where).toEqual({ bdf: '0000:00:02.0' });
  });

  it('with and without a domain, and with a non-zero domain', () => {
    const plain = only(parseLspci(skylake(SKL, 256), 'a'));
    const withDomain = only(parseLspci(skylake(`0000:${SKL}`, 256), 'b'));
    const other = only(parseLspci(skylake(`002a:${SKL}`, 256), 'c'));
    expect([plain.bdf, withDomain.bdf, other.bdf]).toEqual(['0000:00:02.0', '0000:00:02.0', '002a:00:02.0']);
    expect(withDomain.config?.bytes).toEqual(plain.config?.bytes);
  });

  it('-nn device lines', () => {
    const line =
      '00:02.0 VGA compatible controller [0300]: Intel Corporation Sky Lake Integrated Graphics [8086:191e] (rev 07)';
    const fn = only(parseLspci(skylake(line, 256), 'nn'));
    expect(fn.bdf).toBe('0000:00:02.0');
    expect([fn.header.vendorId, fn.header.deviceId, fn.header.classCode]).toEqual([0x8086, 0x191e, 0x030000]);
  });

  it('-PP paths: the device is the last component', () => {
    const fn = only(parseLspci(skylake(`00:1c.0/3a:00.0 ${SKL.slice(8)}`, 256), 'pp'));
    expect(fn.bdf).toBe('0000:3a:00.0');
  });

  it('-P paths: the bus comes from the parent bridge in the file', () => {
    const bridge = only(parseLspci(stripped('09-pciutils-cap-aer-root.txt').split('\n\n')[0]!, 'x'));
    expect(bridge.header.secondaryBus).toBe(3);
    const text = `${stripped('09-pciutils-cap-aer-root.txt').split('\n\n')[0]!}\n\n${skylake(`00:02.0/00.0 ${SKL.slice(8)}`, 256)}`;
    const r = parseLspci(text, 'p');
    expect(r.functions.map((f) => f.bdf)).toEqual(['0000:00:02.0', '0000:03:00.0']);
    // Without the parent bridge in the file, the bus cannot be known: warned and skipped.
    const alone = parseLspci(`${skylake(`00:1c.0/00.0 ${SKL.slice(8)}`, 256)}\n${skylake(SKL, 256)}`, 'q');
    expect(alone.functions.map((f) => f.bdf)).toEqual(['0000:00:02.0']);
    expect(find(alone.diagnostics, 'unresolved-path').where).toEqual({ file: 'q', line: 1 });
  });

  it('a bare hex dump with no device line (corpus file 16)', () => {
    const r = parseLspci(corpus('16-pcics-8086_2030-config.txt'), '16.txt');
    const fn = only(r);
    expect(fn.bdf).toBe(ANONYMOUS_BDF);
    expect(fn.config?.size).toBe(4096);
    expect(fn.header.vendorId).toBe(0x8086);
    expect(find(r.diagnostics, 'no-device-line').where).toEqual({ file: '16.txt', line: 3 });
  });

  it('a text-only block keeps the text reading; a device line with hex only needs no text', () => {
    const text = corpus('01-pciutils-cap-pasid-pri.txt')
      .split('\n')
      .filter((l) => !/^[0-9a-f]{2,3}: /.test(l))
      .join('\n');
    const t = only(parseLspci(text, 't'));
    expect(t.sourceKind).toBe('lspci-text');
    expect(t.config).toBeNull();
    expect(t.ats?.enabled).toBe(true);
    const h = only(parseLspci(skylake(SKL, 256), 'h'));
    expect(h.sourceKind).toBe('lspci-hex');
    expect(h.driver).toBeNull();
  });

  it('`lspci -vvv` and `lspci -xxxx` output concatenated: one function per address', () => {
    const all = stripped('01-pciutils-cap-pasid-pri.txt').split('\n');
    const text = all.filter((l) => !/^[0-9a-f]{2,3}: /.test(l)).join('\n');
    const r = parseLspci(`${text}\n\n${skylake(SKL, 256)}`, 'cat');
    const fn = only(r);
    expect(fn.sourceKind).toBe('lspci-hex');
    expect(fn.driver).toBe('i915');
    expect(codes(r.diagnostics)).not.toContain('duplicate-bdf');
    expect(codes(r.diagnostics)).not.toContain('text-hex-mismatch');
  });

  it('reads CRLF files the same as LF files', () => {
    const lf = parseLspci(corpus('09-pciutils-cap-aer-root.txt'), 'f');
    const crlf = parseLspci(corpus('09-pciutils-cap-aer-root.txt').replace(/\n/g, '\r\n'), 'f');
    expect(crlf.functions.map((f) => f.config?.bytes)).toEqual(lf.functions.map((f) => f.config?.bytes));
    expect(crlf.diagnostics).toEqual(lf.diagnostics);
  });

  it('every corpus file reads with no disagreement between its text and its hex', () => {
    for (const name of CORPUS) {
      const r = parseLspci(corpus(name), name);
      expect(r.functions.length, name).toBeGreaterThan(0);
      for (const fn of r.functions) expect(fn.config, `${name} ${fn.bdf}`).not.toBeNull();
      expect(codes(r.diagnostics), name).not.toContain('text-hex-mismatch');
    }
  });
});

describe('parseLspci: where text and hex disagree, the hex wins and each field is warned', () => {
  const lines = corpus('01-pciutils-cap-pasid-pri.txt').split('\n');
  const lineOf = (needle: string): number => lines.findIndex((l) => l.includes(needle)) + 1;

  it('ATS Enable and PASID width', () => {
    const text = corpus('01-pciutils-cap-pasid-pri.txt')
      .replace('ATSCtl:\tEnable+', 'ATSCtl:\tEnable-')
      .replace('Max PASID Width: 14', 'Max PASID Width: 10');
    const r = parseLspci(text, '01.txt');
    const fn = only(r);
    expect(fn.ats?.enabled).toBe(true);
    expect(fn.pasid?.width).toBe(0x14);
    const mism = r.diagnostics.filter((d) => d.code === 'text-hex-mismatch');
    expect(mism.map((d) => d.where)).toEqual([
      { file: '01.txt', line: lineOf('[200 v1] Address Translation Service') },
      { file: '01.txt', line: lineOf('[100 v1] Process Address Space ID') },
    ]);
    expect(mism[0]!.message).toContain('ats.enabled');
    expect(mism[1]!.message).toContain('pasid.width');
    expect(fn.diagnostics.filter((d) => d.code === 'text-hex-mismatch')).toHaveLength(2);
  });

  it('a capability the text lists at an offset where the hex has none', () => {
    const text = corpus('01-pciutils-cap-pasid-pri.txt').replace(
      'Capabilities: [ac] MSI',
      'Capabilities: [a8] MSI',
    );
    const r = parseLspci(text, '01.txt');
    const at = r.diagnostics
      .filter((d) => d.code === 'text-hex-mismatch')
      .map((d) => (d.where as { line: number }).line);
    expect(at).toContain(lineOf('Capabilities: [ac] MSI'));
  });
});

describe('parseLspci: bad capability pointers give diagnostics naming BDF+offset', () => {
  const bdf = '0000:00:02.0';
  const diag = (text: string, code: string): Location | undefined =>
    find(only(parseLspci(text, 'cap.txt')).diagnostics, code).where;

  it('a standard list that loops', () => {
    // PM at 0xd0 is last; point it back at the first capability (0x40).
    expect(
      diag(
        editedSkylake((cs) => {
          cs.write8(0xd1, 0x40);
        }),
        'cap-loop',
      ),
    ).toEqual({ bdf, offset: 0x40 });
  });
  it('a pointer into the header', () => {
    expect(
      diag(
        editedSkylake((cs) => {
          cs.write8(0x34, 0x20);
        }),
        'cap-out-of-range',
      ),
    ).toEqual({ bdf, offset: 0x20 });
  });
  it('a misaligned pointer', () => {
    expect(
      diag(
        editedSkylake((cs) => {
          cs.write8(0x34, 0x41);
        }),
        'cap-misaligned',
      ),
    ).toEqual({ bdf, offset: 0x41 });
  });
  it('an extended chain that loops', () => {
    // ATS at 0x200 points on to 0x300 (PRI); make PRI point back at 0x100.
    const text = editedSkylake((cs) => {
      cs.write32(0x300, (cs.read32(0x300) & 0xfffff) | (0x100 << 20));
    });
    expect(diag(text, 'ext-cap-loop')).toEqual({ bdf, offset: 0x100 });
  });
  it('an extended pointer below 0x100', () => {
    const text = editedSkylake((cs) => {
      cs.write32(0x100, (cs.read32(0x100) & 0xfffff) | (0x80 << 20));
    });
    expect(diag(text, 'ext-cap-out-of-range')).toEqual({ bdf, offset: 0x100 });
  });
});

describe('parseLspci: bad files', () => {
  it('an empty or blank file', () => {
    for (const t of ['', '\n\n', '  \t\n']) {
      const e = inputError(() => parseLspci(t, 'empty.txt'));
      expect(e.diagnostic.code).toBe('empty-input');
      expect(e.diagnostic.where).toEqual({ file: 'empty.txt', line: 1 });
    }
  });

  it('a binary file', () => {
    const nul = inputError(() => parseLspci(`00:00.0 Host bridge\u0000\u0001`, 'bin'));
    expect(nul.diagnostic.code).toBe('binary-input');
    expect(nul.diagnostic.where).toEqual({ file: 'bin', line: 1 });
    const bytes = Uint8Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) & 0xff).filter((b) => b !== 0);
    const garbage = new TextDecoder().decode(bytes);
    expect(inputError(() => parseLspci(garbage, 'bin')).diagnostic.code).toBe('binary-input');
  });

  it('text with no device line and no hex', () => {
    const e = inputError(() => parseLspci('# just a comment\nhello world\n\tindented\n', 'none.txt'));
    expect(e.diagnostic.code).toBe('no-devices');
    expect(e.diagnostic.where).toEqual({ file: 'none.txt', line: 1 });
  });

  it('a malformed hex row names its line in the file', () => {
    const text = skylake(SKL, 16).replace('30: 00 00 00 00 40', '30: 00 00 00 00 4g');
    const e = inputError(() => parseLspci(text, 'bad.txt'));
    expect(e.diagnostic.code).toBe('hex-non-hex');
    expect(e.diagnostic.where).toEqual({ file: 'bad.txt', line: 5, column: 18 });
  });

  it('truncated and odd-length hex', () => {
    const text = skylake(SKL, 16);
    const cut = parseLspci(text.slice(0, text.indexOf('a0: ') + 12), 'cut.txt');
    expect(only(cut).config?.size).toBe(0xa3);
    expect(find(cut.diagnostics, 'hex-short-line').where).toEqual({ file: 'cut.txt', line: 12 });
    const odd = inputError(() => parseLspci(text.replace('40: 09 70', '40: 9 70'), 'odd.txt'));
    expect(odd.diagnostic.code).toBe('hex-token-length');
    expect(odd.diagnostic.where).toEqual({ file: 'odd.txt', line: 6, column: 5 });
  });

  it('duplicate addresses: the first is kept, both lines are named', () => {
    const one = skylake(SKL, 256);
    const two = skylake(SKL.replace('(rev 07)', '(rev 08)'), 256).replace(
      '00: 86 80 1e 19',
      '00: 86 80 ff ff',
    );
    const r = parseLspci(`${one}\n${two}`, 'dup.txt');
    const fn = only(r);
    expect(fn.header.deviceId).toBe(0x191e);
    const d = find(r.diagnostics, 'duplicate-bdf');
    expect(d.where).toEqual({ file: 'dup.txt', line: 259 });
    expect(d.message).toContain('line 1');
  });

  it('stray lines are warned once per run and skipped', () => {
    const r = parseLspci(`\tstray text\n\tmore\nnot lspci\nnor this\n${skylake(SKL, 16)}`, 's.txt');
    expect(only(r).config?.size).toBe(256);
    expect(r.diagnostics.filter((d) => d.code === 'orphan-text').map((d) => d.where)).toEqual([
      { file: 's.txt', line: 1 },
    ]);
    expect(r.diagnostics.filter((d) => d.code === 'unrecognized-line').map((d) => d.where)).toEqual([
      { file: 's.txt', line: 3 },
    ]);
  });
});

describe('parseLspci: fuzzing with mutated corpus text', () => {
  const texts = CORPUS.filter((n) => !n.startsWith('14-')).map(corpus);
  const lineChars = fc.constantFrom(...Array.from('0123456789abcdefABCDEF: .\t-+[]()#/xyz\r'));
  const randomLine = fc.oneof(
    fc.string({ unit: lineChars, maxLength: 60 }),
    fc
      .tuple(
        fc.integer({ min: 0, max: 0x1000 }),
        fc.array(fc.integer({ min: 0, max: 0x1ff }), { maxLength: 18 }),
      )
      .map(([o, bs]) => `${o.toString(16).padStart(2, '0')}: ${bs.map((b) => b.toString(16)).join(' ')}`),
    fc
      .tuple(
        fc.integer({ min: 0, max: 0xff }),
        fc.integer({ min: 0, max: 0x3f }),
        fc.integer({ min: 0, max: 9 }),
      )
      .map(
        ([b, d, f]) => `${b.toString(16).padStart(2, '0')}:${d.toString(16).padStart(2, '0')}.${f} Device x`,
      ),
  );
  type Mutation =
    | { kind: 'flip'; at: number; ch: string }
    | { kind: 'drop'; at: number }
    | { kind: 'insert'; at: number; line: string }
    | { kind: 'truncate'; at: number };
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({
      kind: fc.constant('flip' as const),
      at: fc.nat(),
      ch: fc.oneof(
        fc.string({ minLength: 1, maxLength: 1 }),
        fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
      ),
    }),
    fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), line: randomLine }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  );

  function mutate(text: string, ms: readonly Mutation[]): string {
    let t = text;
    for (const m of ms) {
      const lines = t.split('\n');
      switch (m.kind) {
        case 'flip': {
          const i = m.at % Math.max(1, t.length);
          t = t.slice(0, i) + m.ch + t.slice(i + 1);
          break;
        }
        case 'drop':
          lines.splice(m.at % lines.length, 1);
          t = lines.join('\n');
          break;
        case 'insert':
          lines.splice(m.at % (lines.length + 1), 0, m.line);
          t = lines.join('\n');
          break;
        case 'truncate':
          t = t.slice(0, m.at % (t.length + 1));
          break;
      }
    }
    return t;
  }

  function wellFormed(r: LspciParse, lineCount: number): void {
    const seen = new Set<string>();
    for (const fn of r.functions) {
      expect(parseBdf(fn.bdf)).not.toBeNull();
      expect(seen.has(fn.bdf)).toBe(false);
      seen.add(fn.bdf);
      if (fn.config !== null) {
        expect(fn.config.size).toBeGreaterThanOrEqual(0);
        expect(fn.config.size).toBeLessThanOrEqual(4096);
        expect(fn.sourceKind).toBe('lspci-hex');
      }
      for (const c of fn.capabilities ?? []) expect(c.offset).toBeLessThan(4096);
    }
    for (const d of r.diagnostics) {
      expect(d.code).toMatch(/^[a-z0-9-]+$/);
      if (d.where !== undefined && 'file' in d.where) {
        expect(d.where.line).toBeGreaterThanOrEqual(1);
        expect(d.where.line).toBeLessThanOrEqual(lineCount + 1);
      }
    }
  }

  it('never throws anything but InputError, and what it returns is well formed', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...texts),
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        (text, ms) => {
          const t = mutate(text, ms);
          let r: LspciParse;
          try {
            r = parseLspci(t, 'fuzz.txt');
          } catch (e) {
            expect(e).toBeInstanceOf(InputError);
            const w = (e as InputError).diagnostic.where;
            expect(w !== undefined && 'file' in w && w.file === 'fuzz.txt').toBe(true);
            return;
          }
          wellFormed(r, t.split('\n').length);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('mail-wrapped text at column 0', () => {
  it('hands the wrapped tail to the text parser, which rejoins it', () => {
    const lines = [
      '00:02.0 VGA compatible controller [0300]: Intel Corporation Device [8086:191e] (rev 07)',
      '\tCapabilities: [200 v1] Address Translation Service (ATS)',
      '\t\tATSCap:\tInvalidate Queue Depth: 00',
      '\t\tATSCtl:\tEnable+, Smallest Translation',
      'Unit: 05',
    ];
    const wrapped = parseLspci(lines.join('\n') + '\n', 'wrapped.txt');
    const f = wrapped.functions[0]!;
    expect(f.ats?.enabled).toBe(true);
    expect(f.ats?.stuRaw).toBe(5);
    expect(wrapped.diagnostics.map((d) => d.code)).not.toContain('unrecognized-line');
  });
});
