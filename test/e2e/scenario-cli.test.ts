import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import type { CliIo } from '../../src/cli/io.js';
import { libraryFiles } from '../../src/node/load-scenario.js';
import { atsim, atsimBin } from '../helpers/cli.js';
import { repoRoot } from '../helpers/paths.js';

const s001 = join(repoRoot, 'scenarios', '001-vf-quirked-pf-commit-failure.yaml');
const s010 = join(repoRoot, 'scenarios', '010-cxl-cache-identity-ats-required.yaml');
const s012 = join(repoRoot, 'scenarios', '012-untrusted-cxl-cache-never-ats.yaml');

let tmp = '';
let prevCwd = '';

/** Writes a file into the temporary folder and returns its path. */
function put(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

const SMALL = `name: small
machine:
  functions:
    - { bdf: 0000:00:02.0, portType: root-port, secondaryBus: 1, subordinateBus: 1 }
    - { bdf: 0000:01:00.0, vendorId: 0x8086, deviceId: 0x0ddb, flr: true, ats: {}, cxl: { cacheCapable: true } }
kernel: { cmdline: iommu.passthrough=1 }
steps:
  - bind: 0000:01:00.0
`;

/** A stack trace line, which bad input must never print. */
const STACK = /^\s+at .+:\d+:\d+\)?$/m;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'atsim-scenario-'));
  prevCwd = process.cwd();
});
afterAll(() => {
  process.chdir(prevCwd);
});

describe('atsim run', () => {
  it('exits 0 when the expectation is met and prints the text report', async () => {
    const r = await atsim('run', s001, '--kernel', 'v7.2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('WARNING: at pci_disable_ats: 0000:04:01.0: ATS not enabled');
    expect(r.stdout).toContain('Expectation met');
    expect(r.stdout).not.toContain('\x1b[');
  });

  it('exits 1 when it is not (a --set switch on top of the preset)', async () => {
    const r = await atsim('run', s001, '--kernel', 'v7.2', '--set', 'ats-supported-pf-aware=on');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Verdict: holds');
    expect(r.stdout).toContain('Expectation NOT met');
  });

  it('without expect: exit 0 when nothing is violated, 1 otherwise', async () => {
    const f = put('small.yaml', SMALL);
    expect((await atsim('run', f, '--kernel', 'v7.2')).code).toBe(0);
    const r = await atsim('run', f, '--kernel', 'v7.0');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Expected (v7.0): holds (none stated)');
  });

  it('prints the same JSON trace, byte for byte, every time', async () => {
    const a = await atsim('run', s001, '--kernel', 'v7.2', '--format', 'json', '--snapshot', 'all');
    const b = await atsim('run', s001, '--kernel', 'v7.2', '--format', 'json', '--snapshot', 'all');
    expect(a.code).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    const t = JSON.parse(a.stdout);
    expect(t).toMatchObject({ format: 'atsim-trace', version: 1, met: true, error: null });
    expect(t.kernel.preset).toBe('v7.2');
    expect(t.steps.every((s: { snapshot?: unknown }) => s.snapshot !== undefined)).toBe(true);
    const last = await atsim('run', s001, '--kernel', 'v7.2', '--format', 'json');
    const steps = JSON.parse(last.stdout).steps as { snapshot?: unknown }[];
    expect(steps.map((s) => s.snapshot !== undefined)).toEqual(steps.map((_, i) => i === steps.length - 1));
  });

  it('writes to --out instead of stdout', async () => {
    const out = join(tmp, 'trace.json');
    const r = await atsim('run', s001, '--kernel', 'v7.3', '--format', 'json', '--out', out);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    const direct = await atsim('run', s001, '--kernel', 'v7.3', '--format', 'json');
    expect(readFileSync(out, 'utf8')).toBe(direct.stdout);
  });

  it('draws a Mermaid sequence diagram', async () => {
    const r = await atsim('run', s010, '--kernel', 'v7.0', '--format', 'mermaid');
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('sequenceDiagram\n  participant Drv as Driver/VFIO\n')).toBe(true);
    expect(r.stdout).toContain('VIOLATION ats-required-but-off 0000:01:00.0');
  });

  it('loads import: machines relative to the scenario file (machine files and lspci dumps)', async () => {
    copyFileSync(join(repoRoot, 'examples', 'machine.yaml'), join(tmp, 'm.yaml'));
    copyFileSync(
      join(repoRoot, 'test', 'fixtures', 'lspci-text', 'hns3-sriov-enabled-vv.txt'),
      join(tmp, 'hns3.txt'),
    );
    const m = put(
      'imp-m.yaml',
      'name: i\nmachine: { import: m.yaml }\nsteps: [{ vfio-claim: 0000:04:01.0 }]\nexpect: { v7.3: holds, default: { violates: [nr-ats-masters, smmu-pci-ats-agree, stu-programmed-at-probe, vf-ats-follows-pf, warn:pci_disable_ats] } }\n',
    );
    for (const k of ['v6.12', 'v7.3']) expect((await atsim('run', m, '--kernel', k)).code).toBe(0);
    const l = put(
      'imp-l.yaml',
      'name: l\nmachine: { import: hns3.txt }\nsteps: [{ bind: 7d:00.0 }, { flr: 7d:00.0 }]\n',
    );
    const r = await atsim('run', l, '--kernel', 'v7.3');
    expect(r.stdout).toContain('bind 0000:7d:00.0 kind=dma');
    expect(r.code, r.stdout).toBe(0);
    const missing = put('imp-x.yaml', 'name: x\nmachine: { import: nothing-here.txt }\nsteps: []\n');
    const e = await atsim('run', missing);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(
      /imp-x\.yaml:2:20: import-missing: machine\.import: no file or folder nothing-here\.txt/,
    );
  });

  it('bad input exits 2 with file:line:col and no stack trace', async () => {
    const f = put('bad.yaml', `${SMALL}  - vfio-clam: 0000:01:00.0\n`);
    const cases: [string[], RegExp][] = [
      [[f], /bad\.yaml:9:5: scenario-invalid: steps\[1\]: unknown step 'vfio-clam'/],
      [[join(tmp, 'absent.yaml')], /cannot read .*absent\.yaml/],
      [
        [s001, '--kernel', 'v9.9'],
        /unknown kernel preset "v9\.9"; valid presets: v6\.1, v6\.12, v7\.0, v7\.2, v7\.3/,
      ],
      [[s001, '--set', 'reset-hooks'], /--set reset-hooks: expected switch=on or switch=off/],
      [[s001, '--set', 'no-such-switch=on'], /unknown kernel switch "no-such-switch"/],
      [[s001, '--format', 'pdf'], /argument 'pdf' is invalid/],
      [[s001, '--snapshot', 'first'], /expected a step number/],
    ];
    for (const [args, msg] of cases) {
      const r = await atsim('run', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(msg);
      expect(r.stderr).not.toMatch(STACK);
    }
  });
});

describe('the inspect side of scenario 012', () => {
  it('atsim inspect warns that the untrusted CXL.cache function cannot get the ATS it needs', async () => {
    const r = await atsim('inspect', join(repoRoot, 'scenarios', 'machines', 'untrusted-cxl.yaml'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /0000:05:00\.0: ats-required-unavailable: needs ATS \(CXL\.cache capable\) but cannot get it: it is untrusted/,
    );
  });
});

describe('atsim check', () => {
  it('prints a table of scenarios × presets and exits 0 when every cell is as expected', async () => {
    const r = await atsim(
      'check',
      s010,
      s012,
      '--kernel',
      'v7.0',
      '--kernel',
      'v7.2,v7.3',
      '--driver',
      'smmuv3',
    );
    expect(r.code, r.stdout).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^scenario\s+v7\.0\s+v7\.2\s+v7\.3$/);
    expect(lines[1]).toMatch(
      /^010-cxl-cache-identity-ats-required\s+violated \(ats-required-but-off\)\s+holds\s+holds$/,
    );
    expect(lines[2]).toMatch(/^012-untrusted-cxl-cache-never-ats\s+holds\s+holds\s+holds$/);
    expect(r.stdout).toContain('6 cells, all as expected');
    expect(r.stderr).toBe('');
  });

  it('gives a table per IOMMU driver when the scenarios list several', async () => {
    const r = await atsim('check', s010, s012, '--kernel', 'v6.1,v7.3');
    expect(r.code, r.stdout).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('IOMMU driver: SMMUv3 (smmuv3)');
    expect(lines[1]).toMatch(/^scenario\s+v6\.1\s+v7\.3$/);
    // v6.1 models VT-d only.
    expect(lines[2]).toMatch(/^010-cxl-cache-identity-ats-required\s+-\s+holds$/);
    expect(r.stdout).toMatch(
      /IOMMU driver: VT-d \(vtd\)\nscenario\s+v6\.1\s+v7\.3\n012-untrusted-cxl-cache-never-ats\s+holds\s+holds\n/,
    );
    expect(r.stdout).toMatch(
      /IOMMU driver: AMD-Vi \(amd\)\nscenario\s+v6\.1\s+v7\.3\n012-untrusted-cxl-cache-never-ats\s+-\s+holds\n/,
    );
    expect(r.stdout).toContain('5 cells, all as expected');
    const j = JSON.parse((await atsim('check', s012, '--kernel', 'v7.3', '--format', 'json')).stdout);
    expect(j.drivers).toEqual(['smmuv3', 'vtd', 'amd']);
    expect(j.rows[0].cells.map((c: { driver: string; status: string }) => `${c.driver}:${c.status}`)).toEqual(
      ['smmuv3:holds', 'vtd:holds', 'amd:holds'],
    );
  });

  it('marks cells that differ and exits 1', async () => {
    const f = put('wrong.yaml', `${SMALL}expect: holds\n`);
    const r = await atsim('check', f);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /wrong\s+-\s+✗ violated \(ats-required-but-off\)\s+✗ violated \(ats-required-but-off\)\s+holds\s+holds/,
    );
    expect(r.stdout).toContain('2 of 4 cells differ from the expectation:');
    expect(r.stdout).toContain('✗ wrong @ v6.12: expected holds, got violated ats-required-but-off');
  });

  it('expands folders, shows a scenario that cannot be loaded as an error row, and then exits 2', async () => {
    const dir = mkdtempSync(join(tmp, 'dir-'));
    writeFileSync(
      join(dir, 'a.yaml'),
      SMALL.replace('name: small', 'name: a') +
        'expect: { v6.12: { violates: [ats-required-but-off] }, v7.0: { violates: [ats-required-but-off] }, default: holds }\n',
    );
    writeFileSync(
      join(dir, 'b.yaml'),
      'name: b\nmachine: { example: machine }\nsteps: [{ flr: 0000:09:00.0 }]\n',
    );
    writeFileSync(join(dir, 'notes.txt'), 'not a scenario');
    const r = await atsim('check', dir, '--format', 'json');
    expect(r.code).toBe(2);
    const j = JSON.parse(r.stdout);
    expect(j.format).toBe('atsim-check');
    expect(j.rows.map((x: { name: string | null }) => x.name)).toEqual(['a', null]);
    expect(j.rows[0].cells.every((c: { met: boolean }) => c.met)).toBe(true);
    expect(j.rows[0].cells[0]).toMatchObject({ driver: 'smmuv3', preset: 'v6.1', status: 'n/a' });
    expect(j.rows[1].cells[0].status).toBe('error');
    expect(j.rows[1].cells[0].error).toMatch(
      /b\.yaml:3:16: unknown-bdf: steps\[0\]\.flr: no function 0000:09:00\.0 in the machine/,
    );
    expect(j.differing).toBe(5);
  });

  it('with no files checks the built-in library under every preset, wherever it is run from', async () => {
    process.chdir(tmp);
    const r = await atsim('check', '--format', 'json');
    process.chdir(prevCwd);
    const j = JSON.parse(r.stdout);
    expect(j.presets).toEqual(['v6.1', 'v6.12', 'v7.0', 'v7.2', 'v7.3']);
    expect(j.drivers).toEqual(['smmuv3', 'vtd', 'amd']);
    expect(j.rows.map((x: { file: string }) => x.file)).toEqual(libraryFiles().map((f) => f.shownAs));
    expect(r.code).toBe(j.differing > 0 ? 1 : 0);
  });

  it('rejects paths that do not exist and unknown presets with exit 2', async () => {
    expect((await atsim('check', join(tmp, 'nowhere'))).code).toBe(2);
    const r = await atsim('check', s010, '--kernel', 'v7.1');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown kernel preset "v7.1"');
  });
});

describe('on a terminal', () => {
  /** Runs the CLI with an io that says both streams are terminals. */
  async function onTty(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const io: CliIo & { tty: { out: boolean; err: boolean } } = {
      out: (t) => (stdout += t),
      err: (t) => (stderr += t),
      exitCode: 0,
      tty: { out: true, err: true },
    };
    const saved = process.env.NO_COLOR;
    delete process.env.NO_COLOR;
    try {
      const code = await runCli(['node', 'atsim', ...args], io);
      return { code, stdout, stderr };
    } finally {
      if (saved !== undefined) process.env.NO_COLOR = saved;
    }
  }

  it('colours the reports and shows check progress on stderr', async () => {
    const r = await onTty('check', s010, s012, '--kernel', 'v7.3');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('\x1b[');
    // s010 runs under SMMUv3, s012 under all three drivers.
    expect(r.stderr).toContain('[4/4] ');
    expect(r.stderr).toContain(s012);
    const run = await onTty('run', s010, '--kernel', 'v7.3');
    expect(run.stdout).toContain('\x1b[1m');
    // JSON and --out never carry colour.
    const json = await onTty('run', s010, '--kernel', 'v7.3', '--format', 'json');
    expect(json.stdout).not.toContain('\x1b[');
  });

  it('keeps progress off stderr and colour off stdout when they are not terminals', async () => {
    const r = await atsim('check', s010, '--kernel', 'v7.3');
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toContain('\x1b[');
  });
});

describe('atsim explain', () => {
  it('gives the statement, the source and the library scenarios that exercise an invariant', async () => {
    const r = await atsim('explain', 'nr-ats-masters');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^nr-ats-masters \(kernel invariant, no\. 1 of section g\)\n/);
    expect(r.stdout).toContain('Source: 685ca577b408');
    expect(r.stdout).toMatch(/scenarios\/001-vf-quirked-pf-commit-failure\.yaml\s+v6\.12, v7\.0, v7\.2\n/);
    expect(r.stdout).not.toContain('012-untrusted');
  });

  it('explains warn:<function> ids and prints JSON', async () => {
    const r = await atsim('explain', 'warn:pci_disable_ats', '--format', 'json');
    expect(r.code).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e).toMatchObject({ id: 'warn:pci_disable_ats', kind: 'warn' });
    expect(e.scenarios.map((s: { file: string }) => s.file)).toContain(
      'scenarios/002-vf-stu-mismatch-commit-failure.yaml',
    );
  });

  it('lists every invariant without an id, and suggests one for a typo (exit 2)', async () => {
    const all = await atsim('explain');
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^ {2}msi-doorbell-unmapped\s+MSI doorbell unmapped/m);
    const r = await atsim('explain', 'nr-ats-master');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown invariant 'nr-ats-master'; did you mean nr-ats-masters?");
  });
});

describe('the built binary', () => {
  it('finds the library relative to the package, not the working directory', () => {
    const r = atsimBin(['explain', 'msi-doorbell-unmapped'], { cwd: tmp });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('scenarios/015-port-driver-loses-msi-doorbell.yaml');
    const run = atsimBin(['run', s012, '--format', 'json'], { cwd: tmp });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).met).toBe(true);
  });
});
