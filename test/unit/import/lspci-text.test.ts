import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/diagnostics.js';
import { parseLspciTextBlock, type TextLine } from '../../../src/import/lspci-text.js';
import { decodeFunction } from '../../../src/pci/decode.js';
import type { PciFunction } from '../../../src/pci/function.js';
import {
  configOf,
  expectKnownFieldsMatch,
  splitBlocks,
  type RawBlock,
} from '../../helpers/lspci-text-compare.js';
import { corpusDir, repoRoot, requireShared } from '../../helpers/paths.js';

requireShared();
const corpusFiles = readdirSync(corpusDir).filter((f) => /^\d\d-.*\.txt$/.test(f));
const fixtureDir = join(repoRoot, 'test', 'fixtures', 'lspci-text');

function corpusBlocks(name: string): RawBlock[] {
  return splitBlocks(readFileSync(join(corpusDir, name), 'utf8'));
}

/** Every corpus block that has decoded text (not only a device line). */
const textBlocks: { name: string; block: RawBlock }[] = corpusFiles.flatMap((name) =>
  corpusBlocks(name)
    .filter((b) => b.lines.length > 1)
    .map((block) => ({ name, block })),
);

function parse(lines: readonly string[], file = 'test.txt'): PciFunction {
  return parseLspciTextBlock(
    lines.map((text, i) => ({ text, line: i + 1 })),
    file,
  );
}

/** Fields a parse knows, with their values: `unknown` names excluded. */
function knownFacts(fn: PciFunction): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const unknown = new Set(fn.unknown);
  const records = ['header', 'express', 'ats', 'sriov', 'pasid', 'pri', 'acs', 'cxl'] as const;
  for (const r of records) {
    const rec = fn[r] as Record<string, unknown> | null;
    if (unknown.has(r)) continue;
    out.set(r, rec === null ? null : 'present');
    if (rec === null) continue;
    for (const [k, v] of Object.entries(rec)) if (!unknown.has(`${r}.${k}`)) out.set(`${r}.${k}`, v);
  }
  if (!unknown.has('driver')) out.set('driver', fn.driver);
  return out;
}

/** A parse is internally consistent: whatever it calls unknown is null. */
function expectConsistent(fn: PciFunction): void {
  expect(new Set(fn.unknown).size).toBe(fn.unknown.length);
  for (const u of fn.unknown) {
    const [head, sub] = u.split('.');
    const rec = (fn as unknown as Record<string, unknown>)[head!];
    if (sub === undefined) {
      if (head === 'dvsecs') continue;
      if (rec !== undefined && !Array.isArray(rec) && head !== 'capabilities') expect(rec, u).toBeNull();
      continue;
    }
    if (rec !== null && typeof rec === 'object' && !Array.isArray(rec))
      expect((rec as Record<string, unknown>)[sub], u).toBeNull();
  }
  for (const d of fn.diagnostics) {
    expect(d.where, `${d.code} names where`).toBeDefined();
    expect(d.where && 'file' in d.where && d.where.line >= 1).toBe(true);
  }
}

describe('lspci text importer on the corpus text sections', () => {
  for (const name of corpusFiles) {
    it(`${name}: every field the text shows equals the hex decode`, () => {
      const blocks = corpusBlocks(name);
      let compared = 0;
      for (const b of blocks) {
        const text = parseLspciTextBlock(b.lines, name);
        expect(text.source).toEqual({ file: name, line: b.lines[0]!.line });
        const hex = decodeFunction(configOf(b), text.bdf, { sourceKind: 'lspci-hex' });
        compared += expectKnownFieldsMatch(text, hex, `${name} ${text.bdf}`);
        expectConsistent(text);
      }
      // File 16 is a bare config space with no device line: there is no text to read.
      if (name.startsWith('16-')) expect(blocks).toEqual([]);
      else expect(compared).toBeGreaterThan(blocks.length);
    });
  }

  it('keeps the pre-2020 "CXL Designated Vendor-Specific" DVSEC (file 04, Intel vendor) out of CXL', () => {
    const [b] = corpusBlocks('04-pciutils-cap-dvsec-cxl-2020-04-rev.txt');
    const fn = parseLspciTextBlock(b!.lines, 'f04');
    const hex = decodeFunction(configOf(b!), fn.bdf, { sourceKind: 'lspci-hex' });
    // The hex shows vendor 8086: not the CXL Device DVSEC the kernel looks for.
    expect(hex.dvsecs[0]!.vendor).toBe(0x8086);
    expect(hex.cxl).toBeNull();
    // The text cannot show the vendor: the CXL record is unknown, never invented from CXLCap.
    expect(fn.cxl).toBeNull();
    expect(fn.unknown).toContain('cxl');
    expect(fn.dvsecs).toEqual([{ offset: 0xe00, vendor: null, revision: null, length: null, id: null }]);
    expect(fn.diagnostics.map((d) => d.code)).toContain('lspci-text-old-cxl-dvsec');
  });

  it('reads the old comma wording of PASID and PRI (file 01)', () => {
    const [b] = corpusBlocks('01-pciutils-cap-pasid-pri.txt');
    const fn = parseLspciTextBlock(b!.lines, 'f01');
    expect(b!.lines.some((l) => l.text.includes('PASIDCap: Exec+, Priv-,'))).toBe(true);
    expect(fn.pasid).toMatchObject({ exec: true, priv: false, width: 0x14, enabled: true });
    expect(fn.pri).toMatchObject({ enabled: false, stopped: false, pasidRequired: null });
    expect(fn.unknown).toContain('pri.pasidRequired');
  });
});

describe('device line forms', () => {
  it('reads -nn IDs and class, -D domain and (rev)/(prog-if)', () => {
    const fn = parse([
      '0002:65:00.1 VGA compatible controller [0300]: Intel Corporation HD Graphics 530 [8086:191b] (rev 06) (prog-if 00 [VGA controller])',
      '\tSubsystem: Dell Device [1028:06e4]',
      '\tFlags: bus master, fast devsel, latency 0, IRQ 129',
      '\tCapabilities: [40] Vendor Specific Information: Len=0c <?>',
    ]);
    expect(fn.bdf).toBe('0002:65:00.1');
    expect(fn.header).toMatchObject({
      vendorId: 0x8086,
      deviceId: 0x191b,
      revision: 6,
      classCode: 0x030000,
      headerLayout: 0,
      subsystemVendorId: 0x1028,
      subsystemId: 0x06e4,
    });
  });

  it('reads -n numeric output and the no-pci.ids fallbacks', () => {
    expect(parse(['00:02.0 0300: 8086:191e (rev 07)']).header).toMatchObject({
      vendorId: 0x8086,
      deviceId: 0x191e,
      revision: 7,
      classCode: null,
    });
    expect(parse(['df:00.0 Class 0502: Device 8086:0d93 (rev 01) (prog-if 10)']).header).toMatchObject({
      vendorId: 0x8086,
      deviceId: 0x0d93,
      classCode: 0x050210,
    });
  });

  it('treats names as names: no IDs without -n', () => {
    const fn = parse(['00:1f.3 Audio device: Intel Corporation Cannon Lake PCH cAVS (rev 10)']);
    expect(fn.header.vendorId).toBeNull();
    expect(fn.header.deviceId).toBeNull();
    expect(fn.unknown).toEqual(
      expect.arrayContaining(['header.vendorId', 'header.deviceId', 'header.classCode']),
    );
    expect(fn.header.revision).toBe(0x10);
  });

  it('takes the last component of a -PP path, with the domain of the first', () => {
    expect(parse(['00:1c.0/02:00.0 Ethernet controller: Intel Corporation I211 (rev 03)']).bdf).toBe(
      '0000:02:00.0',
    );
    expect(parse(['0001:00:03.0/02:00.0/03:02.0 PCI bridge: NVIDIA Corporation NF200']).bdf).toBe(
      '0001:03:02.0',
    );
  });

  it('warns that a -P path (buses omitted) cannot be resolved from one block', () => {
    const fn = parse(['00:1c.0/00.0 Ethernet controller: Intel Corporation I211 (rev 03)']);
    expect(fn.diagnostics.map((d) => d.code)).toContain('lspci-text-unresolved-path');
  });

  it('throws InputError for a device line with no PCI address', () => {
    expect(() => parse(['VGA compatible controller: Intel'])).toThrow(InputError);
    expect(() => parse(['00:32.0 bad device number'])).toThrow(InputError);
    expect(() => parseLspciTextBlock([], 'empty.txt')).toThrow(InputError);
  });

  it('does not read a missing (rev ..) as zero when a mail wrap could have taken it', () => {
    const long = '04:00.1 Audio device: Advanced Micro Devices, Inc. [AMD/ATI] Device 1637';
    const short = '04:00.1 Audio device: AMD Device 1637';
    const rest = ['\tSubsystem: Lenovo Device 5097', '\tFlags: bus master, fast devsel, latency 0, IRQ 70'];
    expect(parse([long, ...rest]).header.revision).toBeNull();
    expect(parse([short, ...rest]).header.revision).toBe(0);
    // A longer line in the block shows the text was not wrapped that narrow.
    const control =
      '\tControl: I/O- Mem+ BusMaster+ SpecCycle- MemWINV- VGASnoop- ParErr- Stepping- SERR- FastB2B- DisINTx+';
    expect(parse([long, '\tSubsystem: Lenovo Device 5097', control]).header.revision).toBe(0);
  });
});

describe('capability lines', () => {
  const block = (caps: string[]): PciFunction =>
    parse([
      '00:00.0 Host bridge: Example',
      '\tControl: I/O- Mem- BusMaster-',
      '\tStatus: Cap+ 66MHz-',
      ...caps,
    ]);

  it('maps every lspci port type name, and "Unknown type N"', () => {
    // The names are lspci's (ls-caps.c cap_express); each must give its Device/Port Type value.
    const names: [string, number][] = [
      ['Endpoint', 0],
      ['Legacy Endpoint', 1],
      ['Root Port (Slot+)', 4],
      ['Upstream Port', 5],
      ['Downstream Port (Slot-)', 6],
      ['PCI-Express to PCI/PCI-X Bridge', 7],
      ['PCI/PCI-X to PCI-Express Bridge (Slot-)', 8],
      ['Root Complex Integrated Endpoint', 9],
      ['Root Complex Event Collector', 10],
      ['Unknown type 13', 13],
    ];
    for (const [name, type] of names) {
      const fn = block([`\tCapabilities: [40] Express (v2) ${name}, MSI 00`]);
      expect(fn.express?.portType, name).toBe(type);
      expect(fn.express?.slotImplemented, name).toBe(name.includes('Slot') ? name.includes('Slot+') : null);
    }
  });

  it('knows only presence at -v (no version, no detail lines)', () => {
    const fn = parse([
      '00:02.0 VGA compatible controller: Intel Corporation HD Graphics 515 (rev 07)',
      '\tFlags: bus master, fast devsel, latency 0, IRQ 255',
      '\tCapabilities: [70] Express Root Complex Integrated Endpoint, MSI 00',
      '\tCapabilities: [100] Process Address Space ID (PASID)',
      '\tCapabilities: [200] Address Translation Service (ATS)',
    ]);
    expect(fn.ats).toEqual({
      offset: 0x200,
      queueDepthRaw: null,
      pageAligned: null,
      globalInvalidate: null,
      enabled: null,
      stuRaw: null,
    });
    expect(fn.unknown).toEqual(expect.arrayContaining(['ats.enabled', 'ats.stuRaw', 'capabilities.version']));
    expect(fn.sriov).toBeNull();
    expect(fn.unknown).not.toContain('sriov');
    expect(fn.express).toMatchObject({ portType: 9, version: null, flrCapable: null });
  });

  it('leaves out, with a warning, a capability whose name does not determine its ID', () => {
    const fn = block(['\tCapabilities: [100 v1] Virtual Channel', '\tCapabilities: [200 v1] Flit Logging']);
    expect(fn.capabilities).toEqual([]);
    expect(fn.unknown).toContain('capabilities.id');
    expect(fn.diagnostics.filter((d) => d.code === 'lspci-text-unknown-capability')).toHaveLength(2);
  });

  it('reads #xx and "Extended Capability ID" forms as IDs', () => {
    const fn = block([
      '\tCapabilities: [68] #00 [0080]',
      '\tCapabilities: [250 v1] #19',
      '\tCapabilities: [300 v1] Extended Capability ID 0x38',
    ]);
    expect(fn.capabilities?.map((c) => [c.space, c.id, c.offset])).toEqual([
      ['std', 0, 0x68],
      ['ext', 0x19, 0x250],
      ['ext', 0x38, 0x300],
    ]);
  });

  it('marks everything unknown when lspci could not read the capabilities', () => {
    const fn = block(['\tCapabilities: <access denied>']);
    expect(fn.capabilities).toBeNull();
    expect(fn.unknown).toEqual(expect.arrayContaining(['capabilities', 'express', 'ats', 'sriov', 'cxl']));
  });

  it('knows no capabilities at all from Status: Cap-', () => {
    const fn = parse(['00:00.0 Host bridge: Example', '\tControl: I/O- Mem-', '\tStatus: Cap- 66MHz-']);
    expect(fn.capabilities).toEqual([]);
    expect(fn.express).toBeNull();
    expect(fn.unknown).not.toContain('express');
    // lspci prints no extended list here, so whether one exists in config space is not shown.
    expect(fn.unknown).toContain('ats');
  });
});

describe('bad input', () => {
  const ats = (ctl: string, cap = '\t\tATSCap:\tInvalidate Queue Depth: 00'): PciFunction =>
    parse([
      '00:02.0 VGA compatible controller: Intel Corporation HD Graphics 515 (rev 07)',
      '\tControl: I/O+ Mem+',
      '\tCapabilities: [200 v1] Address Translation Service (ATS)',
      cap,
      ctl,
    ]);

  it('warns with file:line about a malformed value and leaves the field unknown', () => {
    const fn = ats('\t\tATSCtl:\tEnable?, Smallest Translation Unit: 00');
    expect(fn.ats?.enabled).toBeNull();
    expect(fn.unknown).toContain('ats.enabled');
    expect(fn.diagnostics).toContainEqual(
      expect.objectContaining({ code: 'lspci-text-malformed', where: { file: 'test.txt', line: 5 } }),
    );
  });

  it('reads only the first Express capability: a repeated line does not stand in for an unreadable first', () => {
    const caps = (first: string): PciFunction =>
      parse([
        '02:00.0 3D controller: Example',
        '\tControl: I/O- Mem+ BusMaster+',
        '\tStatus: Cap+ 66MHz-',
        first,
        '\tCapabilities: [78] Express (v2) Endpoint, MSI 00',
      ]);
    const broken = caps('\tCapabilities: [78] Express v2) Endpoint, MSI 00');
    expect(broken.express).toBeNull();
    expect(broken.unknown).toContain('express');
    expect(broken.diagnostics).toContainEqual(
      expect.objectContaining({ code: 'lspci-text-malformed', where: { file: 'test.txt', line: 4 } }),
    );
    const legacy = caps('\tCapabilities: [60] Express (v1) Legacy Endpoint, MSI 00');
    expect(legacy.express).toMatchObject({ offset: 0x60, version: 1 });
  });

  it('rejects numbers out of range', () => {
    const fn = ats(
      '\t\tATSCtl:\tEnable+, Smallest Translation Unit: 3f',
      '\t\tATSCap:\tInvalidate Queue Depth: 123',
    );
    expect(fn.ats).toMatchObject({ enabled: true, stuRaw: null, queueDepthRaw: null });
    expect(fn.diagnostics.filter((d) => d.code === 'lspci-text-out-of-range')).toHaveLength(2);
    const sriov = parse([
      '01:00.0 Ethernet controller: Example (rev 01)',
      '\tControl: I/O- Mem+',
      '\tCapabilities: [160 v1] Single Root I/O Virtualization (SR-IOV)',
      '\t\tInitial VFs: 8, Total VFs: 70000, Number of VFs: 1, Function Dependency Link: 100',
      '\t\tVF offset: 99999999999999999999, stride: 2, Device ID: 10ca',
    ]);
    expect(sriov.sriov).toMatchObject({
      initialVFs: 8,
      totalVFs: null,
      funcDependencyLink: null,
      vfStride: 2,
    });
    expect(sriov.sriov?.firstVfOffset).toBeNull();
    expect(sriov.diagnostics.filter((d) => d.code === 'lspci-text-out-of-range')).toHaveLength(3);
  });

  it('joins a mail-wrapped line whose tail lost its indentation or landed at column 0', () => {
    const wrapped = parse([
      '00:02.0 VGA compatible controller: Intel Corporation Sky Lake Integrated',
      'Graphics (rev 07) (prog-if 00 [VGA controller])',
      '\tControl: I/O+ Mem+',
      '\tCapabilities: [300 v1] Page Request',
      '\t\tInterface (PRI)',
      '\t\tPRICtl: Enable-, Reset-',
      '\t\tPRISta: RF-, UPRGI-,',
      'Stopped-',
      '\t\tPage Request Capacity: 00008000, Page Request',
      '\t\tAllocation: 00000000',
    ]);
    expect(wrapped.header.revision).toBe(7);
    expect(wrapped.pri).toMatchObject({ offset: 0x300, stopped: false, capacity: 0x8000, allocation: 0 });
    expect(wrapped.diagnostics).toEqual([]);
  });

  it('stays fast on hostile lines and blocks', () => {
    const start = performance.now();
    const spaces = ' '.repeat(200_000);
    const fn = parse([
      `00:00.0 x${spaces}(rev 01)`,
      '\tControl: I/O-',
      `\tCapabilities: [40] Express${spaces}x`,
      `\t\tDevCap:${spaces}`,
      ...Array.from({ length: 20_000 }, () => `\t\t\t,${spaces.slice(0, 500)}FLReset`),
      ...Array.from({ length: 5_000 }, () => '\t\tPage Request Capacity: 0'),
    ]);
    expect(performance.now() - start).toBeLessThan(2000);
    expect(fn.express).toBeNull();
    expect(fn.unknown).toContain('express');
  });

  it('joins a tail split inside a number', () => {
    const fn = parse([
      '01:00.0 Ethernet controller: Example (rev 01)',
      '\tControl: I/O- Mem+',
      '\tCapabilities: [160 v1] Single Root I/O Virtualization (SR-IOV)',
      '\t\tSupported Page Size: 00000553, System Page Size: 0000',
      '\t\t\t0001',
    ]);
    expect(fn.sriov?.systemPageSize).toBe(1);
  });

  it('reads tabs, spaces, 2-space or 4-space indentation and CRLF alike', () => {
    for (const { name, block } of textBlocks) {
      const base = parseLspciTextBlock(block.lines, name);
      for (const unit of ['    ', '  ', '\t', '        ']) {
        const redone: TextLine[] = block.lines.map((l) => {
          const m = /^([\t ]*)(.*)$/.exec(l.text)!;
          let cols = 0;
          for (const c of m[1]!) cols = c === '\t' ? (Math.floor(cols / 8) + 1) * 8 : cols + 1;
          return { text: `${unit.repeat(Math.round(cols / 8))}${m[2]!}\r`, line: l.line };
        });
        const fn = parseLspciTextBlock(redone, name);
        expect(knownFacts(fn), `${name} with indent ${JSON.stringify(unit)}`).toEqual(knownFacts(base));
      }
    }
  });
});

describe('fuzzing', () => {
  type Mutation = {
    kind: 'delete-char' | 'insert-char' | 'wrap' | 'truncate' | 'dup-line' | 'drop-line' | 'digit';
    at: number;
    pos: number;
    ch: string;
  };
  const mutation: fc.Arbitrary<Mutation> = fc.record({
    kind: fc.constantFrom('delete-char', 'insert-char', 'wrap', 'truncate', 'dup-line', 'drop-line', 'digit'),
    at: fc.nat(),
    pos: fc.nat(),
    ch: fc.constantFrom(
      '+',
      '-',
      ':',
      ',',
      ' ',
      '\t',
      '[',
      ']',
      '(',
      ')',
      '9',
      'f',
      'z',
      '\u00a0',
      '\u0000',
      'é',
    ),
  });

  function mutate(lines: TextLine[], m: Mutation): TextLine[] {
    const out = lines.slice();
    const i = 1 + (m.at % Math.max(1, out.length - 1));
    const l = out[i];
    if (l === undefined) return out;
    const p = m.pos % (l.text.length + 1);
    switch (m.kind) {
      case 'delete-char':
        out[i] = { ...l, text: l.text.slice(0, p) + l.text.slice(p + 1) };
        break;
      case 'insert-char':
        out[i] = { ...l, text: l.text.slice(0, p) + m.ch + l.text.slice(p) };
        break;
      case 'digit':
        out[i] = { ...l, text: l.text.replace(/[0-9a-f]{2}/, 'ffffffffff') };
        break;
      case 'wrap':
        out.splice(
          i,
          1,
          { ...l, text: l.text.slice(0, p) },
          { ...l, text: (m.ch === '\t' ? '\t\t\t' : '') + l.text.slice(p) },
        );
        break;
      case 'truncate':
        out.length = i;
        break;
      case 'dup-line':
        out.splice(i, 0, l);
        break;
      case 'drop-line':
        out.splice(i, 1);
        break;
    }
    return out;
  }

  it('never throws anything but InputError on mutated corpus text, and stays consistent', () => {
    const deviceLines = textBlocks.map((t) => t.block.lines[0]!);
    fc.assert(
      fc.property(
        fc.nat(textBlocks.length - 1),
        fc.array(mutation, { minLength: 1, maxLength: 8 }),
        fc.option(fc.string({ maxLength: 40 }), { freq: 4 }),
        (which, muts, junkDevice) => {
          const { block } = textBlocks[which]!;
          let lines = block.lines.slice();
          for (const m of muts) lines = mutate(lines, m);
          if (junkDevice !== null) lines[0] = { text: junkDevice, line: lines[0]!.line };
          let fn: PciFunction;
          try {
            fn = parseLspciTextBlock(lines, 'fuzz.txt');
          } catch (e) {
            expect(e).toBeInstanceOf(InputError);
            expect(deviceLines.map((d) => d.text)).not.toContain(lines[0]!.text);
            return;
          }
          expectConsistent(fn);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('keeps the known values of untouched capabilities when a block is cut short', () => {
    for (const { name, block } of textBlocks) {
      const full = knownFacts(parseLspciTextBlock(block.lines, name));
      for (let cut = 1; cut < block.lines.length; cut++) {
        const part = parseLspciTextBlock(block.lines.slice(0, cut), name);
        expectConsistent(part);
        for (const [k, v] of knownFacts(part)) {
          // A cut can only make a record look absent (its lines were cut away), never change a value.
          if (v === null && full.get(k) !== null) continue;
          if (full.has(k)) expect(v, `${name} cut at ${cut}: ${k}`).toEqual(full.get(k));
        }
      }
    }
  });
});

describe('real -vvv text from public reports', () => {
  function fixture(file: string): PciFunction[] {
    const text = readFileSync(join(fixtureDir, file), 'utf8');
    const head = text.split('\n').slice(0, 2);
    expect(head[0]).toMatch(/^# source: \S/);
    expect(head[1]).toMatch(/^# format: lspci -vvv text/);
    return splitBlocks(text).map((b) => parseLspciTextBlock(b.lines, file));
  }

  it('covers every fixture file', () => {
    expect(readdirSync(fixtureDir).sort()).toEqual([
      'amd-gfx-2021-10-lucienne-ats-pri-pasid.txt',
      'hns3-sriov-enabled-vv.txt',
      'linux-pci-2021-06-cxl-dvsec-qemu.txt',
    ]);
  });

  it('amd-gfx bug report (mail-wrapped): the Lucienne GPU has ATS enabled, PRI and PASID', () => {
    const [gpu, audio] = fixture('amd-gfx-2021-10-lucienne-ats-pri-pasid.txt');
    // The device line's tail was wrapped to column 0: (rev c1) and prog-if are still read.
    expect(gpu!.header).toMatchObject({ revision: 0xc1, classCode: null });
    expect(gpu!.express).toMatchObject({ portType: 1, version: 2, flrCapable: false, eeTlpPrefix: true });
    expect(gpu!.ats).toMatchObject({ offset: 0x2b0, enabled: true, stuRaw: 0, queueDepthRaw: 0 });
    expect(gpu!.pri).toMatchObject({
      offset: 0x2c0,
      enabled: false,
      stopped: true,
      capacity: 0x100,
      allocation: 0,
    });
    expect(gpu!.pasid).toMatchObject({ offset: 0x2d0, width: 0x10, exec: true, priv: true, enabled: false });
    expect(gpu!.sriov).toBeNull();
    expect(gpu!.driver).toBe('amdgpu');
    // The audio function lists its extended capabilities: ATS is known absent.
    expect(audio!.ats).toBeNull();
    expect(audio!.unknown).not.toContain('ats');
    // Its device line is as long as the wrap width: a missing (rev ..) proves nothing.
    expect(audio!.header.revision).toBeNull();
  });

  it('does not invent revision 0 when a file reader dropped the wrapped tail of the device line', () => {
    const text = readFileSync(join(fixtureDir, 'amd-gfx-2021-10-lucienne-ats-pri-pasid.txt'), 'utf8');
    const [gpu] = splitBlocks(text);
    // A whole-file reader keeps only indented lines in a block: the column-0 tails are gone.
    const indented = gpu!.lines.filter((l, i) => i === 0 || /^\s/.test(l.text));
    expect(indented.length).toBeLessThan(gpu!.lines.length);
    const fn = parseLspciTextBlock(indented, 'amd-gfx.txt');
    expect(fn.header.revision).toBeNull();
    expect(fn.unknown).toContain('header.revision');
    expect(fn.ats).toMatchObject({ enabled: true, stuRaw: 0 });
  });

  it('HNS3 NIC: SR-IOV enabled with 127 VFs at offset 8, stride 1; ACS all off; FLR', () => {
    const [nic] = fixture('hns3-sriov-enabled-vv.txt');
    expect(nic!.sriov).toEqual({
      offset: 0x200,
      vfEnable: true,
      vfMse: true,
      ariHierarchy: true,
      initialVFs: 127,
      totalVFs: 127,
      numVFs: 127,
      funcDependencyLink: 0,
      firstVfOffset: 8,
      vfStride: 1,
      vfDeviceId: 0xa22f,
      supportedPageSizes: 0x553,
      systemPageSize: 0x10,
    });
    expect(nic!.acs).toEqual({ offset: 0x100, capability: 0, control: 0 });
    expect(nic!.ats).toBeNull();
    expect(nic!.unknown).not.toContain('ats');
    expect(nic!.express).toMatchObject({ flrCapable: true, initiateFlr: false, eeTlpPrefix: false });
    expect(nic!.header.revision).toBe(0x21);
  });

  it('linux-pci CXL example (elided paste): a CXL Device DVSEC, not CXL.cache capable', () => {
    const [mem] = fixture('linux-pci-2021-06-cxl-dvsec-qemu.txt');
    expect(mem!.cxl).toEqual({
      offset: 0x100,
      revision: 1,
      cacheCapable: false,
      ioCapable: true,
      memCapable: true,
      hdmCount: 1,
      cacheEnabled: false,
    });
    expect(mem!.dvsecs.map((d) => [d.offset, d.vendor, d.id, d.revision, d.length])).toEqual([
      [0x100, 0x1e98, 0, 1, 56],
      [0x138, 0x1e98, 8, 0, 36],
    ]);
    // "<...>": the block is not whole, so what it does not show stays unknown.
    expect(mem!.capabilities).toBeNull();
    expect(mem!.unknown).toEqual(expect.arrayContaining(['capabilities', 'ats', 'sriov']));
    expect(mem!.header).toMatchObject({ deviceId: 0x0d93, vendorId: null, revision: 1, classCode: 0x050210 });
  });
});

describe('scale', () => {
  it('reads 10,000 functions of -vvv text (speed: npm run bench)', () => {
    const blocks: TextLine[][] = [];
    for (let n = 0; blocks.length < 10_000; n++) {
      const { block } = textBlocks[n % textBlocks.length]!;
      const bdf = `${((n >> 8) & 0xff).toString(16).padStart(2, '0')}:${((n >> 3) & 31).toString(16).padStart(2, '0')}.${n & 7}`;
      blocks.push([{ text: block.lines[0]!.text.replace(/^\S+/, bdf), line: 1 }, ...block.lines.slice(1)]);
    }
    let ats = 0;
    for (const b of blocks) if (parseLspciTextBlock(b, 'big.txt').ats !== null) ats++;
    expect(ats).toBeGreaterThan(0);
  });
});
