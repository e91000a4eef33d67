/**
 * Differential test of the lspci text importer against pciutils' lspci: lspci decodes each
 * corpus dump at several verbosities and naming options; every field the importer reports known
 * from that text must equal atsim's hex decode of the same function, and every field it reports
 * unknown must really be missing from that output.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parseLspciTextBlock } from '../../src/import/lspci-text.js';
import { ConfigSpace } from '../../src/pci/config-space.js';
import { decodeFunction } from '../../src/pci/decode.js';
import type { PciFunction } from '../../src/pci/function.js';
import { configOf, expectKnownFieldsMatch, splitBlocks } from '../helpers/lspci-text-compare.js';
import { lspciDecode } from '../helpers/oracle.js';
import { corpusDir, requireShared } from '../helpers/paths.js';

requireShared();

const ARGS: readonly (readonly string[])[] = [
  ['-v'],
  ['-vv'],
  ['-vvv'],
  ['-vvv', '-nn'],
  ['-vvv', '-D'],
  ['-vvv', '-nn', '-D'],
  ['-PP', '-vvv'],
];

// File 16 is a bare 4096-byte config space with no device line: lspci -F cannot read it, so it
// has no lspci text to compare (the hex importer's tests cover it).
const files = readdirSync(corpusDir).filter((f) => /^\d\d-.*\.txt$/.test(f) && !f.startsWith('16-'));

const tmp = mkdtempSync(join(tmpdir(), 'atsim-'));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** A section of the block text between `from` and the next `to` (or the end). */
function section(text: string, from: string, to: string): string | null {
  const i = text.indexOf(from);
  if (i < 0) return null;
  const j = text.indexOf(to, i + from.length);
  return text.slice(i, j < 0 ? undefined : j);
}

/**
 * lspci omits a zero revision and prog-if; the importer reads their absence as zero only when the
 * device line cannot have lost its tail to a mail wrap: it is short, or the block's Control line
 * (lspci -vv and up) is whole and longer.
 */
function unwrapped(t: string, device: string): boolean {
  const control = t.split('\n').find((l) => /^\s+Control:.*(?:DisINTx|FastB2B)[+-]$/.test(l));
  return device.length < 60 || (control !== undefined && control.length >= device.length + 10);
}

/** The first CXL Device DVSEC's lines (the one the kernel and the decoder read). */
function cxlSection(t: string): string {
  return section(t, 'Vendor=1e98 ID=0000', 'Capabilities:') ?? '';
}

const EXT_PRINTED = /Capabilities: \[[0-9a-f]{3}[\] ]/;

/**
 * Whether lspci's output for one block shows a field (its value, or for a whole capability its
 * presence or absence). Fields with no entry here are never printed by lspci.
 */
const SHOWN: Readonly<Record<string, (t: string, device: string) => boolean>> = {
  'header.vendorId': (_t, d) => /\[[0-9a-f]{4}:[0-9a-f]{4}\]/.test(d),
  'header.deviceId': (_t, d) => /\[[0-9a-f]{4}:[0-9a-f]{4}\]|Device [0-9a-f]{4}(?: |$)/.test(d),
  'header.revision': (t, d) => /\(rev [0-9a-f]{2}\)/.test(d) || (t.includes('\n') && unwrapped(t, d)),
  'header.classCode': (t, d) =>
    /\[[0-9a-f]{4}\]:/.test(d) &&
    /\n\s+(?:Flags|Control):/.test(t) &&
    (/\(prog-if/.test(d) || unwrapped(t, d)),
  'header.secondaryBus': (t) => t.includes('Bus: primary=') && t.includes('behind bridge'),
  'header.subordinateBus': (t) => t.includes('Bus: primary=') && t.includes('behind bridge'),
  capabilities: (t) => /\n\s+(?:Flags|Control):/.test(t),
  express: (t) => /\n\s+(?:Flags|Control):/.test(t),
  'express.version': (t) => /Express \(v\d+\)/.test(t),
  'express.slotImplemented': (t) => /Express.*\(Slot[+-]\)/.test(t),
  'express.flrCapable': (t) => /FLReset[+-]/.test(section(t, 'DevCap:', 'DevCtl:') ?? ''),
  'express.initiateFlr': (t) => /(?:FLReset|BrConfRtry)[+-]/.test(section(t, 'DevCtl:', 'DevSta:') ?? ''),
  'express.eeTlpPrefix': (t) =>
    /Express \(v1\)/.test(t) || /EETLPPrefix[+-]/.test(section(t, 'DevCap2:', 'DevCtl2:') ?? ''),
  ats: (t) => t.includes('Address Translation Service') || EXT_PRINTED.test(t),
  'ats.queueDepthRaw': (t) => t.includes('ATSCap:'),
  'ats.enabled': (t) => t.includes('ATSCtl:'),
  'ats.stuRaw': (t) => t.includes('ATSCtl:'),
  sriov: (t) => t.includes('(SR-IOV)') || EXT_PRINTED.test(t),
  'sriov.vfEnable': (t) => t.includes('IOVCtl:'),
  'sriov.vfMse': (t) => t.includes('IOVCtl:'),
  'sriov.ariHierarchy': (t) => t.includes('IOVCtl:'),
  'sriov.initialVFs': (t) => t.includes('Initial VFs:'),
  'sriov.totalVFs': (t) => t.includes('Total VFs:'),
  'sriov.numVFs': (t) => t.includes('Number of VFs:'),
  'sriov.funcDependencyLink': (t) => t.includes('Function Dependency Link:'),
  'sriov.firstVfOffset': (t) => t.includes('VF offset:'),
  'sriov.vfStride': (t) => t.includes('stride:'),
  'sriov.vfDeviceId': (t) => /VF offset:.*Device ID:/.test(t),
  'sriov.supportedPageSizes': (t) => t.includes('Supported Page Size:'),
  'sriov.systemPageSize': (t) => t.includes('System Page Size:'),
  pasid: (t) => t.includes('(PASID)') || EXT_PRINTED.test(t),
  'pasid.width': (t) => t.includes('PASIDCap:'),
  'pasid.exec': (t) => t.includes('PASIDCap:'),
  'pasid.priv': (t) => t.includes('PASIDCap:'),
  'pasid.enabled': (t) => t.includes('PASIDCtl:'),
  'pasid.execEnabled': (t) => t.includes('PASIDCtl:'),
  'pasid.privEnabled': (t) => t.includes('PASIDCtl:'),
  pri: (t) => t.includes('(PRI)') || EXT_PRINTED.test(t),
  'pri.enabled': (t) => t.includes('PRICtl:'),
  'pri.reset': (t) => t.includes('PRICtl:'),
  'pri.responseFailure': (t) => t.includes('PRISta:'),
  'pri.unexpectedPrgIndex': (t) => t.includes('PRISta:'),
  'pri.stopped': (t) => t.includes('PRISta:'),
  'pri.pasidRequired': (t) => /PRISta:.*PASID[+-]/.test(t),
  'pri.capacity': (t) => t.includes('Page Request Capacity:'),
  'pri.allocation': (t) => t.includes('Page Request Allocation:'),
  acs: (t) => t.includes('Access Control Services') || EXT_PRINTED.test(t),
  'acs.capability': (t) => t.includes('ACSCap:'),
  'acs.control': (t) => t.includes('ACSCtl:'),
  cxl: (t) => t.includes('Vendor=1e98 ID=0000') || (EXT_PRINTED.test(t) && !t.includes('Vendor-Specific')),
  'cxl.cacheCapable': (t) => cxlSection(t).includes('CXLCap:'),
  'cxl.ioCapable': (t) => cxlSection(t).includes('CXLCap:'),
  'cxl.memCapable': (t) => cxlSection(t).includes('CXLCap:'),
  'cxl.hdmCount': (t) => cxlSection(t).includes('CXLCap:'),
  'cxl.cacheEnabled': (t) => cxlSection(t).includes('CXLCtl:'),
  driver: (t) => t.includes('Kernel driver in use:'),
};

function hexFunctions(name: string): Map<string, PciFunction> {
  const out = new Map<string, PciFunction>();
  for (const b of splitBlocks(readFileSync(join(corpusDir, name), 'utf8'))) {
    if (b.hex.length === 0) continue;
    const bdf = parseLspciTextBlock(b.lines.slice(0, 1), name).bdf;
    out.set(bdf, decodeFunction(configOf(b), bdf, { sourceKind: 'lspci-hex' }));
  }
  return out;
}

/** Parses each block of lspci's output and checks it against the hex decode of its function. */
function checkOutput(out: string, hex: ReadonlyMap<string, PciFunction>, label: string): number {
  const blocks = splitBlocks(out);
  expect(blocks.length, `${label}: lspci printed every function`).toBe(hex.size);
  let compared = 0;
  for (const b of blocks) {
    const fn = parseLspciTextBlock(b.lines, 'lspci-output');
    const h = hex.get(fn.bdf);
    expect(h, `${label}: ${fn.bdf} is in the dump`).toBeDefined();
    compared += expectKnownFieldsMatch(fn, h!, `${label} ${fn.bdf}`);
    const device = b.lines[0]!.text;
    const blockText = b.lines.map((l) => l.text).join('\n');
    for (const u of fn.unknown) {
      const shown = SHOWN[u];
      if (shown !== undefined)
        expect(shown(blockText, device), `${label} ${fn.bdf}: ${u} is unknown but lspci shows it`).toBe(
          false,
        );
    }
    expect(
      fn.diagnostics.filter((d) => d.code !== 'lspci-text-unknown-capability'),
      `${label} ${fn.bdf}: lspci's own output reads without warnings`,
    ).toEqual([]);
  }
  return compared;
}

describe('lspci text importer against lspci', () => {
  for (const name of files) {
    const stripped = join(tmp, name);
    writeFileSync(stripped, readFileSync(join(corpusDir, name), 'utf8').split('\n').slice(2).join('\n'));
    const hex = hexFunctions(name);
    for (const args of ARGS) {
      it(`${name} lspci ${args.join(' ')}`, () => {
        const out = lspciDecode(stripped, args);
        const compared = checkOutput(out, hex, `${name} lspci ${args.join(' ')}`);
        expect(compared).toBeGreaterThan(hex.size * 3);
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Generated functions: random headers and capability registers, written as an lspci -xxxx dump,
// decoded by lspci, read back by the importer and compared with atsim's own hex decode.

interface ExtCapSpec {
  readonly id: number;
  readonly version: number;
  readonly body: readonly number[];
}

interface FnSpec {
  readonly bridge: boolean;
  readonly header: readonly number[];
  readonly express: { flags: number; devcap: number; devctl: number; devcap2: number } | null;
  readonly ext: readonly ExtCapSpec[];
}

const bytes = (n: number): fc.Arbitrary<number[]> => fc.array(fc.nat(255), { minLength: n, maxLength: n });

/** A DVSEC body: CXL or Intel vendor, CXL Device or other IDs, lengths around lspci's limits. */
const dvsecBody = fc
  .record({
    vendor: fc.constantFrom(0x1e98, 0x8086),
    rev: fc.nat(2),
    len: fc.constantFrom(0x38, 0x3c, 0x24, 0x0c),
    id: fc.constantFrom(0, 0, 5, 8),
    rest: bytes(0x34),
  })
  .map(({ vendor, rev, len, id, rest }) => {
    const h1 = (vendor | (rev << 16) | (len << 20)) >>> 0;
    // The CXL range registers (DVSEC+0x18 on) stay zero: lspci 3.9 indexes its type and class
    // name tables with their 3-bit fields unchecked and crashes on values past the table.
    const regs = rest.map((b, i) => (i + 10 < 0x18 ? b : 0));
    return [h1 & 0xff, (h1 >> 8) & 0xff, (h1 >> 16) & 0xff, h1 >>> 24, id & 0xff, id >> 8, ...regs];
  });

const extCap: fc.Arbitrary<ExtCapSpec> = fc.oneof(
  fc.record({ id: fc.constant(0x0f), version: fc.constant(1), body: bytes(4) }),
  fc.record({ id: fc.constant(0x10), version: fc.constant(1), body: bytes(0x3c) }),
  fc.record({ id: fc.constant(0x13), version: fc.constant(1), body: bytes(12) }),
  fc.record({ id: fc.constant(0x1b), version: fc.constant(1), body: bytes(4) }),
  fc.record({ id: fc.constant(0x0d), version: fc.constant(1), body: bytes(4) }),
  fc.record({ id: fc.constant(0x23), version: fc.constant(1), body: dvsecBody }),
  fc.record({ id: fc.constantFrom(0x01, 0x03, 0x0e, 0x18, 0x19, 0x1e), version: fc.nat(3), body: bytes(8) }),
);

const fnSpec: fc.Arbitrary<FnSpec> = fc.record({
  bridge: fc.boolean(),
  header: bytes(64),
  express: fc.option(
    fc.record({
      flags: fc.nat(0xffff),
      devcap: fc.nat(0xffffffff),
      devctl: fc.nat(0xffff),
      devcap2: fc.nat(0xffffffff),
    }),
    { freq: 5 },
  ),
  ext: fc.array(extCap, { maxLength: 6 }),
});

function buildConfig(spec: FnSpec): ConfigSpace {
  const cs = new ConfigSpace(4096);
  spec.header.forEach((b, i) => {
    cs.write8(i, b);
  });
  const vendor = cs.read16(0);
  if (vendor === 0xffff || vendor === 0) cs.write16(0, 0x1af4);
  cs.write8(0x0e, (cs.read8(0x0e) & 0x80) | (spec.bridge ? 1 : 0));
  if (spec.bridge) cs.write16(0x0a, 0x0604);
  cs.write16(0x06, cs.read16(0x06) | 0x10);
  cs.write8(0x34, 0x40);
  if (spec.express === null) {
    // A Power Management capability only: a conventional PCI function.
    cs.write16(0x40, 0x0001);
    cs.write16(0x42, 0x0003);
  } else {
    cs.write16(0x40, 0x0010);
    cs.write16(0x42, spec.express.flags);
    cs.write32(0x44, spec.express.devcap);
    cs.write16(0x48, spec.express.devctl);
    cs.write32(0x64, spec.express.devcap2);
  }
  spec.ext.forEach((cap, i) => {
    const at = 0x100 + i * 0x100;
    const next = i + 1 < spec.ext.length ? at + 0x100 : 0;
    cs.write32(at, (cap.id | (cap.version << 16) | (next << 20)) >>> 0);
    cap.body.forEach((b, j) => {
      cs.write8(at + 4 + j, b);
    });
  });
  return cs;
}

function dumpText(configs: readonly ConfigSpace[]): string {
  const out: string[] = [];
  configs.forEach((cs, n) => {
    out.push(`0${(n >> 5).toString(16)}:${(n & 31).toString(16).padStart(2, '0')}.0 generated`);
    for (let row = 0; row < 4096; row += 16) {
      const cells = [];
      for (let i = 0; i < 16; i++)
        cells.push(
          cs
            .read8(row + i)
            .toString(16)
            .padStart(2, '0'),
        );
      out.push(`${row.toString(16).padStart(row < 0x100 ? 2 : 3, '0')}: ${cells.join(' ')}`);
    }
    out.push('');
  });
  return out.join('\n');
}

describe('lspci text importer against lspci on generated functions', () => {
  it('reads back what lspci prints of random capability registers', () => {
    let run = 0;
    fc.assert(
      fc.property(fc.array(fnSpec, { minLength: 4, maxLength: 24 }), (specs) => {
        const configs = specs.map(buildConfig);
        const file = join(tmp, `generated-${run++}.txt`);
        writeFileSync(file, dumpText(configs));
        const hex = new Map<string, PciFunction>();
        configs.forEach((cs, n) => {
          const bdf = `0000:0${(n >> 5).toString(16)}:${(n & 31).toString(16).padStart(2, '0')}.0`;
          hex.set(bdf, decodeFunction(cs, bdf, { sourceKind: 'lspci-hex' }));
        });
        for (const args of [['-vvv'], ['-v'], ['-vv', '-nn']])
          checkOutput(lspciDecode(file, args), hex, `generated lspci ${args.join(' ')}`);
      }),
      { numRuns: 40 },
    );
  });
});
