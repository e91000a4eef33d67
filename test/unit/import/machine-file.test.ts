import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/diagnostics.js';
import {
  isMachineFileText,
  machineFileJsonSchema,
  parseMachineFile,
} from '../../../src/import/machine-file.js';
import { MachineBuilder } from '../../../src/pci/builder.js';
import type { Machine, MachineFunction } from '../../../src/pci/topology.js';
import { corpusDir, repoRoot, requireShared } from '../../helpers/paths.js';

const examplePath = join(repoRoot, 'examples', 'machine.yaml');
const exampleText = readFileSync(examplePath, 'utf8');

function at(m: Machine, bdf: string): MachineFunction {
  const i = m.byBdf.get(bdf);
  if (i === undefined) throw new Error(`${bdf} is not in the machine`);
  return m.functions[i]!;
}

/** The InputError a parse throws (fails the test when it does not throw one). */
function errorOf(text: string, file = 'm.yaml'): InputError {
  try {
    parseMachineFile(text, file);
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error('expected an InputError');
}

/** 1-based line and column of the first occurrence of `needle` in `text`. */
function positionOf(text: string, needle: string): { line: number; column: number } {
  const i = text.indexOf(needle);
  if (i < 0) throw new Error(`'${needle}' not in text`);
  const before = text.slice(0, i).split('\n');
  return { line: before.length, column: before[before.length - 1]!.length + 1 };
}

describe('the example machine', () => {
  const m = parseMachineFile(exampleText, 'examples/machine.yaml');

  it('parses without diagnostics and names where each function came from', () => {
    expect(m.diagnostics).toEqual([]);
    const nic = at(m, '0000:02:00.0').fn;
    expect(nic.sourceKind).toBe('machine-file');
    expect(nic.source).toEqual({
      file: 'examples/machine.yaml',
      ...positionOf(exampleText, 'bdf: 0000:02:00.0'),
    });
  });

  it('has a CXL.cache Type-2 accelerator with ATS', () => {
    const cxl = m.functions.filter((f) => f.fn.cxl?.cacheCapable === true);
    expect(cxl).toHaveLength(1);
    expect(cxl[0]!.fn.cxl).toMatchObject({ ioCapable: true, memCapable: true });
    expect(cxl[0]!.fn.ats).not.toBeNull();
  });

  it('has an SR-IOV NIC with ATS on the PF and its 4 VFs', () => {
    const pf = at(m, '0000:02:00.0');
    expect(pf.fn.header).toMatchObject({ vendorId: 0x15b3, deviceId: 0x101d });
    expect(pf.fn.ats).not.toBeNull();
    expect(pf.vfs).toHaveLength(4);
    for (const i of pf.vfs) {
      const vf = m.functions[i]!;
      expect(vf.isVirtfn).toBe(true);
      expect(vf.fn.header).toMatchObject({ vendorId: 0x15b3, deviceId: 0x101e });
      expect(vf.fn.ats).not.toBeNull();
    }
  });

  it('has an NVMe drive without ATS', () => {
    const nvme = m.functions.filter((f) => f.fn.header.classCode === 0x010802);
    expect(nvme).toHaveLength(1);
    expect(nvme[0]!.fn.ats).toBeNull();
    expect(nvme[0]!.fn.header).toMatchObject({ vendorId: 0x144d, deviceId: 0xa80a });
  });

  it('has an external-facing root port, trusted, with an untrusted ATS device behind it', () => {
    const ports = m.functions.filter((f) => f.externalFacing);
    expect(ports).toHaveLength(1);
    expect(ports[0]!.fn.express?.portType).toBe(4);
    expect(ports[0]!.untrusted).toBe(false);
    const below = m.functions.filter((f) => f.untrusted && f.fn.ats !== null);
    expect(below.length).toBeGreaterThan(0);
    // Two levels below the port at least (through a switch).
    const depth = (f: MachineFunction): number => (f.parent === null ? 0 : 1 + depth(m.functions[f.parent]!));
    expect(Math.max(...below.map(depth))).toBeGreaterThanOrEqual(3);
  });

  it('has an RCiEP with ATS, PASID and PRI on bus 0', () => {
    const rciep = m.functions.filter((f) => f.fn.express?.portType === 9);
    expect(rciep).toHaveLength(1);
    const f = rciep[0]!;
    expect(f.fn.bdf.startsWith('0000:00:')).toBe(true);
    expect(f.parent).toBeNull();
    expect(f.fn.header).toMatchObject({ vendorId: 0x8086, deviceId: 0x0b25 });
    expect(f.fn.ats).not.toBeNull();
    expect(f.fn.pasid).not.toBeNull();
    expect(f.fn.pri).not.toBeNull();
  });

  it('has an Intel E2000 PF below revision 0x20 with ATS and 2 VFs (0x1889) with ATS', () => {
    const ipu = m.functions.filter((f) => f.fn.header.vendorId === 0x8086 && f.fn.header.deviceId === 0x1452);
    expect(ipu).toHaveLength(1);
    const pf = ipu[0]!;
    expect(pf.fn.header.revision).toBeLessThan(0x20);
    expect(pf.fn.ats).not.toBeNull();
    expect(pf.vfs).toHaveLength(2);
    for (const i of pf.vfs) {
      expect(m.functions[i]!.fn.header.deviceId).toBe(0x1889);
      expect(m.functions[i]!.fn.ats).not.toBeNull();
    }
  });

  it('is what the builder makes from the same description', () => {
    const b = new MachineBuilder().function('0000:02:00.0', {
      vendorId: 0x15b3,
      deviceId: 0x101d,
      classCode: 0x020000,
      subsystemVendorId: 0x15b3,
      subsystemId: 0x0016,
      flr: true,
      driver: 'mlx5_core',
      ats: { queueDepth: 32, enabled: false },
      sriov: {
        totalVFs: 8,
        numVFs: 4,
        vfEnable: true,
        firstVfOffset: 1,
        vfStride: 1,
        vfDeviceId: 0x101e,
        vf: { ats: { queueDepth: 32 }, flr: true },
      },
    });
    for (const f of b.toPciFunctions()) expect(at(m, f.bdf).fn.config!.bytes).toEqual(f.config!.bytes);
  });
});

describe('docs/machine-format.md', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'machine-format.md'), 'utf8');
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((b) => b[1]!);

  it('has an example that parses to what the text says', () => {
    expect(blocks.length).toBeGreaterThan(0);
    const m = parseMachineFile(blocks[0]!, 'docs/machine-format.md');
    expect(m.diagnostics).toEqual([]);
    // "This gives six functions: the root port, the PF, its two VFs ..., and the RCiEP."
    expect(m.functions.map((f) => f.fn.bdf)).toEqual(
      ['0000:00:01.0', '0000:00:02.0', '0000:01:00.0', '0000:01:00.1', '0000:01:00.2'].sort(),
    );
    expect(at(m, '0000:01:00.0').vfs).toHaveLength(2);
    expect(isMachineFileText(blocks[0]!)).toBe(true);
  });

  it('documents every key of the schema, at every depth', () => {
    const keys = new Set<string>();
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node !== null && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (k === 'properties' && v !== null && typeof v === 'object')
            for (const p of Object.keys(v)) keys.add(p);
          walk(v);
        }
      }
    };
    walk(machineFileJsonSchema());
    expect(keys.size).toBeGreaterThan(40);
    for (const key of keys) expect(doc, key).toContain(`\`${key}\``);
  });
});

describe('errors name file:line:col, the field and what was expected', () => {
  it('a wrong type', () => {
    const text = 'functions:\n  - bdf: 0000:01:00.0\n    vendorId: 0x8086\n    deviceId: nope\n';
    const e = errorOf(text);
    expect(e.diagnostic.code).toBe('machine-file-invalid');
    expect(e.diagnostic.where).toEqual({ file: 'm.yaml', ...positionOf(text, 'nope') });
    expect(e.message).toContain('functions[0].deviceId (0000:01:00.0)');
    expect(e.message).toMatch(/expected an integer in 0\.\.0xffff/);
    expect(e.message).toContain("got 'nope'");
  });

  it('an unknown key, however deep', () => {
    const text =
      'functions:\n  - bdf: 0000:01:00.0\n    vendorId: 1\n    deviceId: 2\n    ats:\n      enabled: true\n      queueDepht: 4\n';
    const e = errorOf(text);
    expect(e.diagnostic.where).toEqual({ file: 'm.yaml', ...positionOf(text, 'queueDepht') });
    expect(e.message).toContain("functions[0].ats.queueDepht (0000:01:00.0): unknown key 'queueDepht'");
  });

  it('an unknown key at the top level', () => {
    const text = 'functions: []\nfunctoins: []\n';
    const e = errorOf(text);
    expect(e.diagnostic.where).toEqual({ file: 'm.yaml', line: 2, column: 1 });
    expect(e.message).toContain("unknown key 'functoins'");
  });

  it('a bad BDF', () => {
    const text = 'functions:\n  - bdf: 0000:01:20.0\n    vendorId: 1\n    deviceId: 2\n';
    const e = errorOf(text);
    expect(e.diagnostic.where).toEqual({ file: 'm.yaml', ...positionOf(text, '0000:01:20.0') });
    expect(e.message).toContain('functions[0].bdf');
    expect(e.message).toContain('expected a PCI address');
  });

  it('a duplicate BDF, at the second one', () => {
    const text = [
      'functions:',
      '  - bdf: 0000:01:00.0',
      '    vendorId: 1',
      '    deviceId: 2',
      '  - bdf: 01:00.0',
      '    vendorId: 1',
      '    deviceId: 2',
      '',
    ].join('\n');
    const e = errorOf(text);
    expect(e.diagnostic.where).toEqual({ file: 'm.yaml', line: 5, column: 10 });
    expect(e.message).toContain('duplicate BDF 0000:01:00.0: functions[0] already has it');
  });

  it('a missing required field, at its mapping', () => {
    const text = 'functions:\n  - bdf: 0000:01:00.0\n    deviceId: 2\n';
    const e = errorOf(text);
    expect(e.diagnostic.where).toEqual({ file: 'm.yaml', line: 2, column: 5 });
    expect(e.message).toContain('functions[0].vendorId (0000:01:00.0): required field is missing');
  });

  it('rules across fields: SR-IOV counts and bridge buses', () => {
    const sriov =
      'functions:\n  - bdf: 01:00.0\n    vendorId: 1\n    deviceId: 2\n    sriov: {totalVFs: 2, numVFs: 3, firstVfOffset: 1, vfStride: 1, vfDeviceId: 3}\n';
    const e1 = errorOf(sriov);
    expect(e1.message).toContain('functions[0].sriov.numVFs (0000:01:00.0): expected at most totalVFs (2)');
    expect(e1.diagnostic.where).toEqual({ file: 'm.yaml', ...positionOf(sriov, '3, firstVfOffset') });
    const bridge =
      'functions:\n  - bdf: 02:00.0\n    portType: root-port\n    secondaryBus: 1\n    subordinateBus: 1\n';
    const e2 = errorOf(bridge);
    expect(e2.message).toContain(
      "functions[0].secondaryBus (0000:02:00.0): expected a bus above the bridge's own bus 2",
    );
  });

  it('a VF that lands on a listed function, at the PF', () => {
    const text = [
      'functions:',
      '  - bdf: 01:00.0',
      '    vendorId: 1',
      '    deviceId: 2',
      '    sriov: {totalVFs: 2, numVFs: 2, vfEnable: true, firstVfOffset: 1, vfStride: 1, vfDeviceId: 3}',
      '  - bdf: 01:00.2',
      '    vendorId: 1',
      '    deviceId: 2',
      '',
    ].join('\n');
    const e = errorOf(text);
    expect(e.diagnostic.code).toBe('duplicate-bdf');
    expect(e.diagnostic.where).toEqual({ file: 'm.yaml', line: 2, column: 5 });
  });

  it('YAML syntax errors and non-mappings', () => {
    const e = errorOf('functions: [\n');
    expect(e.diagnostic.code).toBe('machine-file-syntax');
    expect(e.diagnostic.where).toMatchObject({ file: 'm.yaml' });
    expect(errorOf('').message).toContain("expected a mapping with a 'functions' list");
    expect(errorOf('- 1\n- 2\n').message).toContain("expected a mapping with a 'functions' list");
    expect(errorOf('functions: 3\n').message).toContain('functions: expected a list of functions, got 3');
    expect(errorOf('functions: []\nfunctions: []\n').diagnostic.code).toBe('machine-file-syntax');
  });
});

describe('JSON', () => {
  it('reads the same format as JSON, with hex strings', () => {
    const text = JSON.stringify({
      functions: [{ bdf: '0000:01:00.0', vendorId: '0x15b3', deviceId: 4125, ats: { enabled: true } }],
    });
    expect(isMachineFileText(text)).toBe(true);
    const m = parseMachineFile(text, 'm.json');
    expect(m.functions[0]!.fn.header).toMatchObject({ vendorId: 0x15b3, deviceId: 0x101d });
    expect(m.functions[0]!.fn.ats?.enabled).toBe(true);
  });

  it('points at the column of a bad value in one-line JSON', () => {
    const text =
      '{"functions": [{"bdf": "0000:01:00.0", "vendorId": 1, "deviceId": 2, "pasid": {"width": 99}}]}';
    const e = errorOf(text, 'm.json');
    expect(e.diagnostic.where).toEqual({ file: 'm.json', ...positionOf(text, '99') });
    expect(e.message).toContain('functions[0].pasid.width');
  });

  it('exports a JSON Schema of the format', () => {
    const s = machineFileJsonSchema();
    const props = s.properties as Record<string, { items?: { properties?: Record<string, unknown> } }>;
    expect(Object.keys(props)).toEqual(expect.arrayContaining(['functions', 'name', 'description']));
    const fnProps = props.functions!.items!.properties!;
    expect(Object.keys(fnProps)).toEqual(expect.arrayContaining(['bdf', 'vendorId', 'ats', 'sriov', 'cxl']));
    expect(s.additionalProperties).toBe(false);
    expect(JSON.stringify(s)).toContain('0[xX][0-9a-fA-F]');
  });
});

describe('isMachineFileText', () => {
  it('says yes to machine files and no to every lspci dump of the corpus', () => {
    requireShared();
    expect(isMachineFileText(exampleText)).toBe(true);
    const dumps = readdirSync(corpusDir).filter((f) => f.endsWith('.txt'));
    expect(dumps.length).toBeGreaterThan(10);
    for (const f of dumps) {
      const text = readFileSync(join(corpusDir, f), 'utf8');
      expect(isMachineFileText(text), f).toBe(false);
      expect(isMachineFileText(text.split('\n').slice(2).join('\n')), f).toBe(false);
    }
  });
});

type Mutation =
  | { readonly kind: 'delete'; readonly at: number; readonly len: number }
  | { readonly kind: 'insert'; readonly at: number; readonly text: string }
  | { readonly kind: 'swap'; readonly at: number; readonly from: number }
  | { readonly kind: 'number'; readonly at: number; readonly value: number };

describe('fuzz: mutated machine files give a Machine or an InputError, nothing else', () => {
  const lines = exampleText.split('\n');
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    // Delete a slice of characters.
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
    // Insert random text, YAML-significant characters included.
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      text: fc.stringMatching(/^[-:{}[\]#&*!|>'" \n\t0-9a-zA-Z.x]{1,12}$/),
    }),
    // Replace a line by another line of the file.
    fc.record({ kind: fc.constant('swap' as const), at: fc.nat(), from: fc.nat() }),
    // Replace a number by another (negative, huge, fractional).
    fc.record({
      kind: fc.constant('number' as const),
      at: fc.nat(),
      value: fc.oneof(fc.integer(), fc.double()),
    }),
  );

  const mutate = (text: string, ms: readonly Mutation[]): string => {
    let t = text;
    for (const m of ms) {
      switch (m.kind) {
        case 'delete': {
          const i = m.at % (t.length + 1);
          t = t.slice(0, i) + t.slice(i + m.len);
          break;
        }
        case 'insert': {
          const i = m.at % (t.length + 1);
          t = t.slice(0, i) + m.text + t.slice(i);
          break;
        }
        case 'swap': {
          const ls = t.split('\n');
          ls[m.at % ls.length] = lines[m.from % lines.length]!;
          t = ls.join('\n');
          break;
        }
        case 'number': {
          const nums = [...t.matchAll(/\b(0x[0-9a-f]+|\d+)\b/g)];
          if (nums.length === 0) break;
          const n = nums[m.at % nums.length]!;
          t = t.slice(0, n.index) + String(m.value) + t.slice(n.index + n[0].length);
          break;
        }
      }
    }
    return t;
  };

  it('never throws anything but InputError', () => {
    let parsed = 0;
    let rejected = 0;
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
        const text = mutate(exampleText, ms);
        try {
          parseMachineFile(text, 'fuzz.yaml');
          parsed++;
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
          expect(e.diagnostic.where).toMatchObject({ file: 'fuzz.yaml' });
          rejected++;
        }
      }),
      { numRuns: 400 },
    );
    // Both outcomes happen, so the fuzzer reaches past the YAML parser into the builder.
    expect(parsed).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });
});
