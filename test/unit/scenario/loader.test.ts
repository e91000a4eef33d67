import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/diagnostics.js';
import { bindScenario } from '../../../src/scenario/bind.js';
import { parseScenario } from '../../../src/scenario/parse.js';
import { OP_SYNTAX, STEP_OPS, scenarioJsonSchema } from '../../../src/scenario/schema.js';
import type { ScenarioDoc } from '../../../src/scenario/types.js';
import { errnoValue } from '../../../src/kernel/errno.js';

/** A small inline machine: a root port, an SR-IOV PF with 2 of 8 VFs enabled, a PASID device. */
const MACHINE = `machine:
  functions:
    - bdf: 0000:00:01.0
      portType: root-port
      secondaryBus: 1
      subordinateBus: 1
    - bdf: 0000:01:00.0
      vendorId: 0x15b3
      deviceId: 0x101d
      flr: true
      ats: { queueDepth: 32 }
      sriov: { totalVFs: 8, numVFs: 2, vfEnable: true, firstVfOffset: 1, vfStride: 1, vfDeviceId: 0x101e, vf: { ats: {} } }
    - bdf: 0000:00:02.0
      portType: rc-integrated-endpoint
      vendorId: 0x8086
      deviceId: 0x0b25
      ats: {}
      pasid: { width: 20 }
  groups: [[0000:00:01.0, 0000:01:00.0]]
  requireDirect: [0000:00:02.0]
`;

/** Every field of the format at least once. */
const FULL = `name: everything
description: every field of the format
thread: { seed: 4, subject: 'ATS robustness', message: 'Pranjal, v3 3/3', url: 'https://example.org/x' }
claim: a claim
${MACHINE}iommu: { ats: true, stage1: true, stage2: false, ssidBits: 16, pageSize: 64K, msiThroughIommu: false }
kernel:
  preset: v7.2
  switches: { smmu-ats-prepared-gate: on, reset-hooks: off, ats-required: true }
  cmdline: "pci=noats iommu.strict=0"
faults:
  - { fn: pci_enable_ats, bdf: 0000:01:00.1, nth: 2, errno: -EINVAL }
  - { fn: pci_prepare_ats }
  - { bdf: 0000:01:00.0, fault: hold-atc }
steps:
  - probe: 0000:01:00.1
  - bind: 0000:01:00.0
  - bind: { bdf: 0000:00:01.0, kind: msi-only, msi: true }
  - unbind: 0000:00:01.0
  - vfio-claim: 01:00.1
    expect: -EBUSY
  - vfio-release: 0000:01:00.1
  - attach: { bdf: 0000:01:00.1, domain: identity }
  - detach: 0000:01:00.1
  - set-group-type: { bdf: 0000:01:00.0, type: dma-fq }
  - pasid-attach: { bdf: 0000:00:02.0, domain: dma }
    expect: { v6.12: -EOPNOTSUPP, default: 0 }
  - pasid-attach: { bdf: 0000:00:02.0, pasid: 5, domain: sva }
  - pasid-detach: { bdf: 0000:00:02.0, pasid: 5 }
  - dma-map: { bdf: 0000:00:02.0, pasid: 1 }
  - dma-map: 0000:01:00.0
  - dma-unmap: { bdf: 0000:01:00.0, iova: 0, phase: begin }
  - flr: { bdf: 0000:01:00.0, phase: begin }
    note: the reset starts while the unmap waits
  - dma-unmap: { bdf: 0000:01:00.0, phase: end }
  - flr: { bdf: 0000:01:00.0, phase: step }
  - flr: { bdf: 0000:01:00.0, phase: end }
    expect: 0
  - fq-flush
  - boot
  - device-dma: { bdf: 0000:01:00.0, iova: 3, translated: true }
  - atc-fill: { bdf: 0000:01:00.0, iova: 2, pasid: 0 }
  - cxl-reset: 0000:01:00.0
  - sriov-enable: { bdf: 0000:01:00.0, numVfs: 2 }
  - sriov-disable: 0000:01:00.0
  - hot-unplug: 0000:01:00.1
  - device-fault: { bdf: 0000:01:00.0, fault: stop-answering }
  - arm-fault: { fn: iommu_attach_device_pasid, errno: ENOMEM }
  - { fq-flush: null, expect: 0 }
expect:
  v6.12: { violates: [nr-ats-masters, warn:pci_disable_ats] }
  v7.0: holds
  default: { violates: [blocked-ats-off] }
`;

function errorOf(text: string, file = 's.yaml'): InputError {
  try {
    const doc = parseScenario(text, file);
    if (doc.machine.kind === 'inline') bindScenario(doc, doc.machine.machine);
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error('expected an InputError');
}

/** 1-based line and column of the first occurrence of `needle` (after `after`, when given). */
function positionOf(text: string, needle: string, after = ''): { line: number; column: number } {
  const i = text.indexOf(needle, after === '' ? 0 : text.indexOf(after));
  if (i < 0) throw new Error(`'${needle}' not in text`);
  const before = text.slice(0, i).split('\n');
  return { line: before.length, column: before[before.length - 1]!.length + 1 };
}

function expectAt(e: InputError, text: string, needle: string, after = ''): void {
  expect(e.diagnostic.where).toEqual({ file: 's.yaml', ...positionOf(text, needle, after) });
}

/** A minimal valid scenario with `steps` (YAML lines, indented 2) and extra top-level text. */
function scenario(steps: string, extra = ''): string {
  return `name: t\n${MACHINE}${extra}steps:\n${steps}`;
}

describe('parsing every field', () => {
  const doc: ScenarioDoc = parseScenario(FULL, 's.yaml');

  it('reads the descriptive fields', () => {
    expect(doc.name).toBe('everything');
    expect(doc.description).toBe('every field of the format');
    expect(doc.thread).toEqual({
      seed: 4,
      subject: 'ATS robustness',
      message: 'Pranjal, v3 3/3',
      url: 'https://example.org/x',
    });
    expect(doc.claim).toBe('a claim');
  });

  it('builds the inline machine with its groups and RMR devices', () => {
    expect(doc.machine.kind).toBe('inline');
    if (doc.machine.kind !== 'inline') return;
    const m = doc.machine.machine;
    expect([...m.byBdf.keys()].sort()).toEqual(
      ['0000:00:01.0', '0000:00:02.0', '0000:01:00.0', '0000:01:00.1', '0000:01:00.2'].sort(),
    );
    expect(doc.groups.map((g) => g.map((r) => r.bdf))).toEqual([['0000:00:01.0', '0000:01:00.0']]);
    expect(doc.requireDirect.map((r) => r.bdf)).toEqual(['0000:00:02.0']);
  });

  it('reads the IOMMU features and the kernel', () => {
    expect(doc.iommu).toEqual({
      ats: true,
      stage1: true,
      stage2: false,
      ssidBits: 16,
      pageShift: 16,
      msiThroughIommu: false,
    });
    expect(doc.kernel).toEqual({
      preset: 'v7.2',
      switches: { 'smmu-ats-prepared-gate': 'on', 'reset-hooks': 'off', 'ats-required': 'on' },
      cmdline: 'pci=noats iommu.strict=0',
    });
  });

  it('reads faults: a kernel call (nth, errno, defaults) and a device fault', () => {
    expect(doc.faults.map((f) => [f.op, f.bdf, f.args])).toEqual([
      ['arm-fault', '0000:01:00.1', { fn: 'pci_enable_ats', nth: 2, errno: -22 }],
      ['arm-fault', null, { fn: 'pci_prepare_ats' }],
      ['device-fault', '0000:01:00.0', { fault: 'hold-atc' }],
    ]);
  });

  it('reads every step kind, shorthand BDFs canonicalised', () => {
    expect(new Set(doc.steps.map((s) => s.op))).toEqual(new Set(STEP_OPS));
    const claim = doc.steps[4]!;
    expect(claim).toMatchObject({
      op: 'vfio-claim',
      bdf: '0000:01:00.1',
      expect: { byPreset: {}, default: -16 },
    });
    expect(doc.steps[9]!.expect).toEqual({ byPreset: { 'v6.12': errnoValue('-EOPNOTSUPP') }, default: 0 });
    expect(doc.steps[15]).toMatchObject({
      op: 'flr',
      phase: 'begin',
      note: 'the reset starts while the unmap waits',
    });
    expect(doc.steps.at(-1)).toMatchObject({ op: 'fq-flush', expect: { default: 0 } });
    expect(doc.implicitBoot).toBe(false);
  });

  it('reads the per-preset expectation, ids sorted', () => {
    expect(doc.expect).toEqual({
      byPreset: {
        'v6.12': { kind: 'violates', ids: ['nr-ats-masters', 'warn:pci_disable_ats'] },
        'v7.0': { kind: 'holds' },
      },
      default: { kind: 'violates', ids: ['blocked-ats-off'] },
    });
  });

  it('binds: faults first, no implicit boot when steps list one, begun operations on background threads', () => {
    if (doc.machine.kind !== 'inline') throw new Error('inline');
    const b = bindScenario(doc, doc.machine.machine);
    expect(b.plan[0]!.op).toMatchObject({ op: 'arm-fault', fn: 'pci_enable_ats', skip: 1, errno: -22 });
    expect(b.plan[1]!.op).toEqual({ op: 'arm-fault', fn: 'pci_prepare_ats', f: -1, skip: 0, errno: -22 });
    const unmap = b.plan.filter((p) => p.op.op === 'dma-unmap');
    const flr = b.plan.filter((p) => p.op.op === 'flr' && p.phase !== null);
    expect(unmap.map((p) => [p.thread, p.phase])).toEqual([
      [1, 'begin'],
      [1, 'end'],
    ]);
    expect(flr.map((p) => [p.thread, p.phase])).toEqual([
      [2, 'begin'],
      [2, 'step'],
      [2, 'end'],
    ]);
    // The end step inherits the begin's arguments.
    expect(unmap[1]!.op).toEqual(unmap[0]!.op);
    expect(b.threads).toBe(3);
    expect(b.plan.filter((p) => p.op.op === 'boot')).toHaveLength(1);
  });

  it('adds an implicit boot after the faults when no step boots', () => {
    const d = parseScenario(
      scenario('  - flr: 0000:01:00.0\n', 'faults: [{fn: pci_enable_ats}]\n'),
      's.yaml',
    );
    if (d.machine.kind !== 'inline') throw new Error('inline');
    const b = bindScenario(d, d.machine.machine);
    expect(b.plan.map((p) => p.op.op)).toEqual(['arm-fault', 'boot', 'flr']);
    expect(b.plan[1]!.step).toBeNull();
  });

  it('accepts the same scenario written as JSON', () => {
    const json = JSON.stringify({
      name: 'j',
      machine: { example: 'machine' },
      steps: ['boot', { bind: { bdf: '0000:03:00.0', kind: 'dma' }, expect: '-EBUSY' }],
      expect: { violates: ['nr-ats-masters'] },
    });
    const d = parseScenario(json, 's.json');
    expect(d.machine).toEqual({ kind: 'example', name: 'machine' });
    expect(d.steps[1]).toMatchObject({
      op: 'bind',
      bdf: '0000:03:00.0',
      args: { kind: 'dma' },
      expect: { default: -16 },
    });
  });

  it('reads example and import machines', () => {
    const d = parseScenario(
      'name: i\nmachine: { import: dumps/x.txt, externalFacing: [00:07.0], groups: [[03:00.0]] }\nsteps: []\n',
      's.yaml',
    );
    expect(d.machine).toMatchObject({
      kind: 'import',
      path: 'dumps/x.txt',
      externalFacing: ['0000:00:07.0'],
    });
    expect(d.groups[0]![0]!.bdf).toBe('0000:03:00.0');
  });
});

describe('errors name file:line:col, the field and what was expected', () => {
  it('an unknown step', () => {
    const t = scenario('  - bind: 0000:01:00.0\n  - bnid: 0000:01:00.0\n');
    const e = errorOf(t);
    expect(e.message).toContain("steps[1]: unknown step 'bnid'; expected one of boot, probe, bind");
    expectAt(e, t, 'bnid');
  });

  it('a bare name that needs arguments, and arguments to a step that takes none', () => {
    const t = scenario('  - flr\n');
    expect(errorOf(t).message).toContain("'flr' needs arguments, e.g. - flr: 0000:03:00.0");
    const u = scenario('  - fq-flush: 0000:01:00.0\n');
    expect(errorOf(u).message).toContain(
      "steps[0].fq-flush: 'fq-flush' takes no arguments, got '0000:01:00.0'",
    );
  });

  it('two operations in one step', () => {
    const t = scenario('  - { flr: 0000:01:00.0, unbind: 0000:01:00.0 }\n');
    expect(errorOf(t).message).toContain('one operation per step, found flr and unbind');
  });

  it('a malformed BDF', () => {
    const t = scenario('  - bind: { bdf: 0000:01:0x.0 }\n');
    const e = errorOf(t);
    expect(e.message).toContain('steps[0].bind.bdf: expected a PCI address such as 0000:03:00.0');
    expectAt(e, t, '0000:01:0x.0');
  });

  it('a BDF not in the machine', () => {
    const t = scenario('  - bind: 0000:05:00.0\n');
    const e = errorOf(t);
    expect(e.diagnostic.code).toBe('unknown-bdf');
    expect(e.message).toContain(
      'steps[0].bind: no function 0000:05:00.0 in the machine (it has 0000:00:01.0',
    );
    expectAt(e, t, '0000:05:00.0');
  });

  it('a VF that is not enabled', () => {
    const t = scenario('  - vfio-claim: 0000:01:00.5\n');
    const e = errorOf(t);
    expect(e.message).toContain('0000:01:00.5 would be VF 5 of 0000:01:00.0, which has 2 of 8 VFs enabled');
    expectAt(e, t, '0000:01:00.5');
  });

  it('a type error', () => {
    const t = scenario('  - dma-unmap: { bdf: 0000:01:00.0, iova: zero }\n');
    const e = errorOf(t);
    expect(e.message).toContain(
      "steps[0].dma-unmap.iova: expected an IOVA page number (0 or more), got 'zero'",
    );
    expectAt(e, t, 'zero');
  });

  it('a missing argument', () => {
    const t = scenario('  - attach: { bdf: 0000:01:00.0 }\n');
    expect(errorOf(t).message).toContain('steps[0].attach.domain: required field is missing');
  });

  it('an unknown switch, with the valid ones', () => {
    const t = scenario('  - flr: 0000:01:00.0\n', 'kernel: { switches: { reset-hookz: on } }\n');
    const e = errorOf(t);
    expect(e.message).toContain(
      "kernel.switches.reset-hookz: unknown kernel switch 'reset-hookz'; valid switches: ats-required,",
    );
    expectAt(e, t, 'reset-hookz');
  });

  it('a bad switch value', () => {
    const t = scenario('  - flr: 0000:01:00.0\n', 'kernel: { switches: { reset-hooks: maybe } }\n');
    expect(errorOf(t).message).toContain("kernel.switches.reset-hooks: expected on or off, got 'maybe'");
  });

  it('an unknown preset, in kernel and in expect', () => {
    const t = scenario('  - flr: 0000:01:00.0\n', 'kernel: { preset: v6.13 }\n');
    const e = errorOf(t);
    expect(e.message).toContain(
      "kernel.preset: unknown kernel preset, got 'v6.13'; expected one of v6.1, v6.12, v7.0, v7.2, v7.3",
    );
    expectAt(e, t, 'v6.13');
    const u = `${scenario('  - flr: 0000:01:00.0\n')}expect: { v6.13: holds, default: holds }\n`;
    const f = errorOf(u);
    expect(f.message).toContain(
      "unknown preset 'v6.13'; expected one of v6.1, v6.12, v7.0, v7.2, v7.3, default, or a driver (smmuv3, vtd, amd)",
    );
    expectAt(f, u, 'v6.13');
  });

  it('a per-preset expectation that leaves presets out', () => {
    const u = `${scenario('  - flr: 0000:01:00.0\n')}expect: { v6.12: holds }\n`;
    expect(errorOf(u).message).toContain(
      'expect: no value for v6.1, v7.0, v7.2, v7.3: list every preset or add default',
    );
  });

  it('an unknown invariant id in expect', () => {
    const u = `${scenario('  - flr: 0000:01:00.0\n')}expect: { violates: [nr-ats-master] }\n`;
    const e = errorOf(u);
    expect(e.message).toContain("expect.violates[0]: unknown invariant 'nr-ats-master'");
    expectAt(e, u, 'nr-ats-master]');
  });

  it('an unknown errno name', () => {
    const t = scenario('  - flr: 0000:01:00.0\n    expect: -EWHATEVER\n');
    expect(errorOf(t).message).toContain(
      "steps[0].expect: expected 0 or an errno name such as -EBUSY; '-EWHATEVER' is not a known errno name",
    );
  });

  it('a bad command line', () => {
    const t = scenario('  - flr: 0000:01:00.0\n', 'kernel: { cmdline: "pci=" }\n');
    const e = errorOf(t);
    expect(e.message).toContain('kernel.cmdline: pci= needs a comma-separated list of options');
  });

  it('phases that do not pair up', () => {
    const t = scenario('  - flr: { bdf: 0000:01:00.0, phase: end }\n');
    expect(errorOf(t).message).toContain('phase end: no flr on 0000:01:00.0 was begun before this step');
    const u = scenario(
      '  - flr: { bdf: 0000:01:00.0, phase: begin }\n  - flr: { bdf: 0000:01:00.0, phase: begin }\n',
    );
    expect(errorOf(u).message).toContain('flr on 0000:01:00.0 is already begun at line');
    const v = scenario(
      '  - dma-unmap: { bdf: 0000:01:00.0, iova: 0, phase: begin }\n  - dma-unmap: { bdf: 0000:01:00.0, iova: 1, phase: end }\n',
    );
    expect(errorOf(v).message).toContain('steps[1].dma-unmap.iova: differs from the begin step at line');
  });

  it('unknown top-level keys, and threads that are not lists', () => {
    const t = `${scenario('  - flr: 0000:01:00.0\n')}threads: 2\n`;
    const e = errorOf(t);
    expect(e.message).toContain('threads: expected a list of threads, each a list of steps, got 2');
    expectAt(e, t, '2\n');
    const u = `${scenario('  - flr: 0000:01:00.0\n')}stesp: []\n`;
    expect(errorOf(u).message).toContain("unknown key 'stesp'; expected one of name,");
  });

  it('a machine that is none or two of inline, example and import', () => {
    expect(errorOf('name: x\nmachine: {}\nsteps: []\n').message).toContain(
      'machine: expected one of functions: [...] (an inline machine), example: machine, or import: <file>',
    );
    expect(errorOf('name: x\nmachine: { example: machine, import: a.txt }\nsteps: []\n').message).toContain(
      'give one of functions, example and import, not example and import',
    );
    expect(errorOf('name: x\nmachine: { example: laptop }\nsteps: []\n').message).toContain(
      "machine.example: expected one of machine, got 'laptop'",
    );
  });

  it('errors inside an inline machine use the machine-file schema, with positions', () => {
    const t = 'name: x\nmachine:\n  functions:\n    - bdf: 0000:01:00.0\n      deviceId: 1\nsteps: []\n';
    const e = errorOf(t);
    expect(e.message).toContain('machine.functions[0].vendorId: required field is missing');
    const u =
      'name: x\nmachine:\n  functions:\n    - { bdf: 0000:01:00.0, vendorId: 1, deviceId: 2 }\n    - { bdf: 01:00.0, vendorId: 1, deviceId: 2 }\nsteps: []\n';
    const f = errorOf(u);
    expect(f.message).toContain('duplicate BDF 0000:01:00.0: functions[0] already has it');
    expectAt(f, u, '01:00.0', '    - { bdf: 01:00.0');
  });

  it('a group member listed twice, and unknown group members', () => {
    const t =
      'name: x\nmachine:\n  functions:\n    - { bdf: 0000:01:00.0, vendorId: 1, deviceId: 2 }\n  groups: [[01:00.0], [01:00.0]]\nsteps: []\n';
    expect(errorOf(t).message).toContain('machine.groups[1][0]: 0000:01:00.0 is already in group 1');
    const u =
      'name: x\nmachine:\n  functions:\n    - { bdf: 0000:01:00.0, vendorId: 1, deviceId: 2 }\n  requireDirect: [02:00.0]\nsteps: []\n';
    expect(errorOf(u).message).toContain('machine.requireDirect[0]: no function 0000:02:00.0 in the machine');
  });

  it('YAML syntax errors and non-mapping documents', () => {
    const e = errorOf('name: x\n  bad: [\n');
    expect(e.diagnostic.code).toBe('scenario-syntax');
    expect(e.diagnostic.where).toMatchObject({ file: 's.yaml' });
    expect(errorOf('- a\n- b\n').message).toContain(
      'expected a mapping with name, machine and steps, got a list',
    );
    expect(errorOf('name: a\nname: b\n').diagnostic.code).toBe('scenario-syntax');
  });
});

describe('the JSON Schema', () => {
  it('describes every step operation and the top-level fields', () => {
    const s = scenarioJsonSchema();
    const text = JSON.stringify(s);
    for (const op of STEP_OPS) expect(text).toContain(`"${op}"`);
    const props = (s as { properties: Record<string, unknown> }).properties;
    expect(Object.keys(props)).toEqual([
      'name',
      'description',
      'thread',
      'claim',
      'machine',
      'iommu',
      'drivers',
      'kernel',
      'faults',
      'steps',
      'threads',
      'choices',
      'expect',
    ]);
    expect((s as { required: string[] }).required).toEqual(['name', 'machine', 'steps']);
  });

  it('has an argument schema or none for every operation of the model', () => {
    for (const op of STEP_OPS) expect(OP_SYNTAX[op]).toBeDefined();
  });
});

describe('fuzzing the loader', () => {
  /** Mutations of a valid scenario: delete, insert or replace a span with YAML-ish characters. */
  const pieces = [
    ':',
    ' ',
    '\n',
    '-',
    '{',
    '}',
    '[',
    ']',
    ',',
    '"',
    "'",
    '#',
    '&a',
    '*a',
    '!!int',
    '0x',
    '0000:01:00.0',
    'phase: end',
    'expect: ',
    '  ',
    'bdf',
    '999999999999',
    'null',
    '~',
    '|',
    '>',
    '%',
  ];
  const mutation = fc.record({
    at: fc.nat(),
    del: fc.nat({ max: 12 }),
    ins: fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string({ maxLength: 3 })), { maxLength: 3 }),
  });

  it('only ever throws InputError', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (muts) => {
        let text = FULL;
        for (const m of muts) {
          const at = m.at % (text.length + 1);
          text = text.slice(0, at) + m.ins.join('') + text.slice(at + m.del);
        }
        try {
          const doc = parseScenario(text, 'f.yaml');
          if (doc.machine.kind === 'inline') bindScenario(doc, doc.machine.machine);
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
          expect(e.diagnostic.where).toBeDefined();
        }
      }),
      { numRuns: 400, seed: 20260621 },
    );
  });
});
