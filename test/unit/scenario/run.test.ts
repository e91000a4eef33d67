import { describe, expect, it } from 'vitest';
import { bindScenario, type BoundScenario } from '../../../src/scenario/bind.js';
import { checkScenarios } from '../../../src/scenario/check.js';
import { parseScenario } from '../../../src/scenario/parse.js';
import { runScenario } from '../../../src/scenario/run.js';
import { PRESET_IDS } from '../../../src/kernel/presets.js';

/** A root port and a CXL.cache accelerator with ATS and FLR, alone in its group. */
const MACHINE = `machine:
  functions:
    - bdf: 0000:00:02.0
      portType: root-port
      secondaryBus: 0x01
      subordinateBus: 0x01
      acs: { capability: [SV, TB, RR, CR, UF], control: [SV, RR, CR, UF] }
    - bdf: 0000:01:00.0
      vendorId: 0x8086
      deviceId: 0x0ddb
      flr: true
      ats: { queueDepth: 32 }
      pasid: { width: 8 }
      cxl: { cacheCapable: true, memCapable: true }
`;

function bound(text: string): BoundScenario {
  const doc = parseScenario(text, 't.yaml');
  if (doc.machine.kind !== 'inline') throw new Error('inline machines only');
  return bindScenario(doc, doc.machine.machine);
}

function scenario(steps: string, extra = ''): BoundScenario {
  return bound(`name: t\n${MACHINE}${extra}steps:\n${steps}`);
}

describe('runScenario', () => {
  it('runs the implicit boot, then each step, with a fingerprint after each', () => {
    const t = runScenario(scenario('  - bind: 0000:01:00.0\n  - vfio-claim: 0000:01:00.0\n'), {
      preset: 'v7.3',
    });
    expect(t.steps.map((s) => [s.origin, s.text])).toEqual([
      ['boot', 'boot'],
      ['step', 'bind 0000:01:00.0 kind=dma'],
      ['step', 'vfio-claim 0000:01:00.0'],
    ]);
    // vfio-pci cannot bind over a bound driver.
    expect(t.steps[2]!.retName).toBe('-EBUSY');
    for (const s of t.steps) expect(s.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(t.steps.map((s) => s.fingerprint)).size).toBeGreaterThan(1);
    expect(t.initialFingerprint).toMatch(/^[0-9a-f]{16}$/);
  });

  it('is deterministic: the same scenario and preset give byte-identical JSON', () => {
    const b = scenario('  - bind: 0000:01:00.0\n  - dma-map: 0000:01:00.0\n  - flr: 0000:01:00.0\n');
    for (const preset of PRESET_IDS.filter((p) => p !== 'v6.1')) {
      const a = JSON.stringify(runScenario(b, { preset, snapshots: 'all' }));
      const c = JSON.stringify(runScenario(b, { preset, snapshots: 'all' }));
      expect(c).toBe(a);
    }
  });

  it('uses the preset of the scenario unless told otherwise, and applies switch overrides', () => {
    const b = scenario(
      '  - bind: 0000:01:00.0\n',
      'kernel: { preset: v7.0, switches: { reset-hooks: off } }\n',
    );
    expect(runScenario(b).kernel.preset).toBe('v7.0');
    expect(runScenario(b).kernel.switchesOn).not.toContain('reset-hooks');
    const t = runScenario(b, {
      preset: 'v7.3',
      overrides: { 'reset-hooks': 'on', 'dma-pasid-per-domain': 'on' },
    });
    expect(t.kernel.preset).toBe('v7.3');
    expect(t.kernel.switchesOn).toContain('reset-hooks');
    expect(t.kernel.switchesOn).toContain('dma-pasid-per-domain');
    expect(t.kernel.overrides).toEqual({ 'reset-hooks': 'on', 'dma-pasid-per-domain': 'on' });
  });

  it('carries snapshots where asked', () => {
    const b = scenario('  - bind: 0000:01:00.0\n  - flr: 0000:01:00.0\n');
    const has = (choice: Parameters<typeof runScenario>[1]) =>
      runScenario(b, choice).steps.map((s) => s.snapshot !== undefined);
    expect(has({})).toEqual([false, false, true]);
    expect(has({ snapshots: 'none' })).toEqual([false, false, false]);
    expect(has({ snapshots: 'all' })).toEqual([true, true, true]);
    expect(has({ snapshots: [1, 3] })).toEqual([true, false, true]);
    const snap = runScenario(b).final.functions.find((f) => f.bdf === '0000:01:00.0')!;
    expect(snap).toMatchObject({ driver: 'dma', probed: true, ats: true, driverAts: true, nrAtsMasters: 1 });
  });

  it('runs begun operations on a background thread, phase by phase', () => {
    const t = runScenario(
      scenario(
        '  - bind: 0000:01:00.0\n  - flr: { bdf: 0000:01:00.0, phase: begin }\n' +
          '  - pasid-attach: { bdf: 0000:01:00.0, domain: dma }\n    expect: { v6.12: 0, default: -EBUSY }\n' +
          '  - flr: { bdf: 0000:01:00.0, phase: end }\n  - flr: { bdf: 0000:01:00.0, phase: begin }\n' +
          '  - flr: { bdf: 0000:01:00.0, phase: step }\n  - flr: { bdf: 0000:01:00.0, phase: end }\n',
      ),
      { preset: 'v7.3' },
    );
    const flr = t.steps.filter((s) => s.op.op === 'flr');
    expect(flr.map((s) => [s.thread, s.phase, s.waiting, s.skipped, s.retName])).toEqual([
      [1, 'begin', true, false, null],
      [1, 'end', false, false, '0'],
      [1, 'begin', true, false, null],
      [1, 'step', false, false, '0'],
      [1, 'end', false, true, null],
    ]);
    const attach = t.steps.find((s) => s.op.op === 'pasid-attach')!;
    expect(attach.thread).toBe(0);
    expect(attach.expect).toEqual({ value: -16, name: '-EBUSY', met: true });
    expect(t.met).toBe(true);
  });

  it('compares the verdict as an exact set, and step returns, with the expectation', () => {
    const steps = '  - bind: 0000:01:00.0\n  - vfio-claim: 0000:01:00.0\n    expect: 0\n';
    const t = runScenario(scenario(steps), { preset: 'v7.3' });
    expect(t.retMismatches).toEqual([
      { n: 3, line: expect.any(Number) as number, expected: '0', got: '-EBUSY' },
    ]);
    expect(t.met).toBe(false);
    const holds = runScenario(scenario('  - bind: 0000:01:00.0\n', 'expect: holds\n'), { preset: 'v7.3' });
    expect(holds.verdict).toEqual({ holds: true, violated: [] });
    expect(holds.met).toBe(true);
    // Expecting a violation that does not happen is not met either.
    const wrong = runScenario(
      bound(`name: t\n${MACHINE}steps:\n  - bind: 0000:01:00.0\nexpect: { violates: [nr-ats-masters] }\n`),
      { preset: 'v7.3' },
    );
    expect(wrong.expected).toEqual({ kind: 'violates', ids: ['nr-ats-masters'] });
    expect(wrong.met).toBe(false);
  });

  it('reports violations with their statement and source, and marks repeats as not new', () => {
    // Identity domain: before v7.2 ATS is off for a CXL.cache device, after every step.
    const t = runScenario(
      scenario(
        '  - bind: 0000:01:00.0\n  - dma-map: 0000:01:00.0\n',
        'kernel: { cmdline: iommu.passthrough=1 }\n',
      ),
      { preset: 'v7.0' },
    );
    expect(t.verdict.violated).toEqual(['ats-required-but-off']);
    const all = t.steps.flatMap((s) => s.violations.map((v) => ({ n: s.n, ...v })));
    expect(all[0]).toMatchObject({ id: 'ats-required-but-off', bdf: '0000:01:00.0', new: true });
    expect(all[0]!.statement.length).toBeGreaterThan(10);
    expect(all[0]!.source.length).toBeGreaterThan(5);
    expect(all.slice(1).every((v) => !v.new)).toBe(true);
    // From v7.2 the SMMU keeps ATS on in the identity domain.
    const later = scenario('  - bind: 0000:01:00.0\n', 'kernel: { cmdline: iommu.passthrough=1 }\n');
    expect(runScenario(later, { preset: 'v7.2' }).verdict.holds).toBe(true);
  });

  it('notes faults that never fired and operations still in progress', () => {
    const t = runScenario(
      scenario(
        '  - flr: { bdf: 0000:01:00.0, phase: begin }\n',
        'faults: [{ fn: no_such_function, bdf: 0000:01:00.0 }]\n',
      ),
      { preset: 'v7.3' },
    );
    expect(t.notes).toEqual([
      'the armed fault on no_such_function (0000:01:00.0, errno -EINVAL) never fired',
      'flr 0000:01:00.0 (thread 1) is still in progress at the end',
    ]);
  });

  it('fires armed faults: a failing pci_enable_ats leaves the driver believing ATS is on (v7.2)', () => {
    const b = scenario('  - bind: 0000:01:00.0\n', 'faults: [{ fn: pci_enable_ats, bdf: 0000:01:00.0 }]\n');
    const t = runScenario(b, { preset: 'v7.2' });
    expect(t.steps[0]!.op).toEqual({
      op: 'arm-fault',
      fn: 'pci_enable_ats',
      bdf: '0000:01:00.0',
      skip: 0,
      errno: -22,
    });
    expect(t.notes).toEqual([]);
    expect(t.verdict.violated).toContain('smmu-pci-ats-agree');
  });
});

describe('runScenario at the edges', () => {
  it('lets steps name VFs that a sriov-enable step creates', () => {
    const text = `name: vfs
machine:
  functions:
    - { bdf: 0000:00:03.0, portType: root-port, secondaryBus: 2, subordinateBus: 2 }
    - bdf: 0000:02:00.0
      vendorId: 0x15b3
      deviceId: 0x101d
      flr: true
      ats: {}
      sriov: { totalVFs: 8, firstVfOffset: 1, vfStride: 1, vfDeviceId: 0x101e, vf: { ats: {} } }
steps:
  - sriov-enable: { bdf: 0000:02:00.0, numVfs: 3 }
    expect: 0
  - vfio-claim: 0000:02:00.3
    expect: 0
`;
    const b = bound(text);
    expect(b.vfSlots).toBe(3);
    const t = runScenario(b, { preset: 'v7.3' });
    expect(t.met).toBe(true);
    expect(t.final.functions.find((f) => f.bdf === '0000:02:00.3')).toMatchObject({
      present: true,
      driver: 'vfio',
    });
    // VF 4 needs a larger sriov-enable.
    expect(() => bound(text.replace('0000:02:00.3', '0000:02:00.4'))).toThrow(
      /0000:02:00\.4 would be VF 4 of 0000:02:00\.0, which has 0 of 8 VFs enabled \(a sriov-enable step of 4 or more VFs adds it\)/,
    );
  });

  it('reports a main-thread step that waits forever on a begun operation as bad input, with its line', () => {
    const b = scenario('  - flr: { bdf: 0000:01:00.0, phase: begin }\n  - flr: 0000:01:00.0\n');
    expect(() => runScenario(b, { preset: 'v7.3' })).toThrow(
      /t\.yaml:\d+:\d+: scenario-deadlock: steps\[1\]: flr on thread 0 is still waiting after 64 phases/,
    );
  });

  it('records a failure of the model itself (a bug in atsim) as the trace error, and stops there', () => {
    const b = scenario('  - bind: 0000:01:00.0\n  - flr: 0000:01:00.0\n');
    const broken = {
      ...b,
      plan: [b.plan[0]!, { ...b.plan[1]!, op: { op: 'unbind', f: 99 } as const }, b.plan[2]!],
    };
    const t = runScenario(broken, { preset: 'v7.3' });
    expect(t.error).toEqual({ n: 2, message: expect.stringMatching(/model bug/) as string });
    expect(t.steps).toHaveLength(1);
    expect(t.met).toBe(false);
  });
});

describe('checkScenarios', () => {
  it('gives one cell per preset, compared with the expectation', () => {
    const b = scenario(
      '  - bind: 0000:01:00.0\n',
      'kernel: { cmdline: iommu.passthrough=1 }\nexpect: { v6.12: holds, default: { violates: [ats-required-but-off] } }\n',
    );
    const seen: number[] = [];
    const r = checkScenarios(
      [
        { file: 'a.yaml', bound: b },
        { file: 'b.yaml', error: 'b.yaml:1:1: broken' },
      ],
      PRESET_IDS,
      (done) => seen.push(done),
    );
    // v6.1 models the VT-d driver only: an SMMUv3 scenario has no cell there (and no progress tick).
    expect(r.rows[0]!.cells.map((c) => [c.preset, c.status, c.met])).toEqual([
      ['v6.1', 'n/a', true],
      ['v6.12', 'violated', false],
      ['v7.0', 'violated', true],
      ['v7.2', 'holds', false],
      ['v7.3', 'holds', false],
    ]);
    expect(r.drivers).toEqual(['smmuv3']);
    expect(r.rows[1]!.cells.every((c) => c.status === 'error' && c.error === 'b.yaml:1:1: broken')).toBe(
      true,
    );
    expect(r.differing).toBe(3 + 5);
    expect(seen).toEqual([1, 2, 3, 4, 9]);
  });
});
