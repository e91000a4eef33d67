import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { atsim, atsimBin } from '../helpers/cli.js';
import { corpusDir, repoRoot } from '../helpers/paths.js';

const example = join(repoRoot, 'examples', 'machine.yaml');

interface Fn {
  bdf: string;
  type: string;
  isVirtfn: boolean;
  physfn: string | null;
  untrusted: boolean;
  ats: null | {
    supported: boolean;
    required: boolean;
    requiredReason: string | null;
    decision: string;
    stu: number | null;
    queueDepth: number | null;
  };
  warnings: { code: string; message: string }[];
  unknown: string[];
}

async function inspectJson(...args: string[]): Promise<{ kernel: string; functions: Fn[] }> {
  const r = await atsim('inspect', ...args, '--format', 'json');
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { kernel: string; functions: Fn[] };
}

describe('atsim inspect on the example machine', () => {
  it('runs as a binary and prints a table', () => {
    const r = atsimBin(['inspect', example]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^kernel v7\.3/);
    expect(r.stdout).toContain('0000:04:00.0');
  });

  it('answers per function from the modelled kernel functions', async () => {
    const rep = await inspectJson(example);
    expect(rep.kernel).toBe('v7.3');
    const byType = (t: string) => rep.functions.filter((f) => f.type === t);
    expect(byType('rc-integrated-endpoint').length).toBeGreaterThan(0);
    const cxl = rep.functions.find((f) => f.ats?.requiredReason === 'cxl-cache');
    expect(cxl?.ats?.required).toBe(true);
    // Untrusted functions never get ATS, and are never "required".
    for (const f of rep.functions.filter((x) => x.untrusted && x.ats !== null)) {
      expect(f.ats!.supported).toBe(false);
      expect(f.ats!.required).toBe(false);
    }
    // Every VF names its PF, and the PF is in the report.
    for (const f of rep.functions.filter((x) => x.isVirtfn))
      expect(rep.functions.some((p) => p.bdf === f.physfn)).toBe(true);
  });

  it('--compare v7.2 v7.3: the VFs of a quirked E2000 PF lose ATS support in v7.3', async () => {
    const r = await atsim('inspect', example, '--kernel', 'v7.2', '--compare', 'v7.3', '--format', 'json');
    expect(r.code).toBe(0);
    const cmp = JSON.parse(r.stdout) as {
      changes: { bdf: string; field: string; from: unknown; to: unknown }[];
    };
    const rep = await inspectJson(example, '--kernel', 'v7.2');
    const e2000 = rep.functions.find((f) => f.bdf === '0000:04:00.0')!;
    expect(e2000.ats?.supported).toBe(false);
    const vfs = rep.functions.filter((f) => f.physfn === '0000:04:00.0');
    expect(vfs.length).toBe(2);
    for (const vf of vfs) {
      expect(vf.ats?.supported).toBe(true); // v7.2: the VF's own ats_cap is untouched by the PF's quirk
      expect(vf.ats?.decision).toBe('enable-fails'); // ...but pci_enable_ats() fails: the PF STU was never set
      expect(cmp.changes).toContainEqual({ bdf: vf.bdf, field: 'supported', from: true, to: false });
    }
    // Nothing else loses support.
    expect(
      cmp.changes
        .filter((c) => c.field === 'supported')
        .map((c) => c.bdf)
        .sort(),
    ).toEqual(vfs.map((v) => v.bdf).sort());
  });

  it('pci=noats turns every function unsupported and says why', async () => {
    const rep = await inspectJson(example, '--cmdline', 'pci=noats');
    const withAts = rep.functions.filter((f) => f.ats !== null);
    expect(withAts.length).toBeGreaterThan(3);
    for (const f of withAts) expect(f.ats!.supported).toBe(false);
    const cxl = rep.functions.find((f) => f.warnings.some((w) => w.code === 'ats-required-unavailable'));
    expect(cxl).toBeDefined();
  });

  it('before v7.2 a CXL.cache device is only on demand, with a warning', async () => {
    const rep = await inspectJson(example, '--kernel', 'v7.0');
    const cxl = rep.functions.find((f) =>
      f.warnings.some((w) => w.code === 'ats-required-unknown-to-kernel'),
    );
    expect(cxl?.ats?.required).toBe(false);
    expect(cxl?.ats?.decision).toBe('on-demand');
  });

  it('--external-facing makes everything below a port untrusted, and an untrusted CXL.cache device loses ATS', async () => {
    const base = await inspectJson(example);
    const cxl = base.functions.find((f) => f.ats?.requiredReason === 'cxl-cache')!;
    expect(cxl.untrusted).toBe(false);
    const rep = await inspectJson(example, '--external-facing', '0000:00:02.0');
    const after = rep.functions.find((f) => f.bdf === cxl.bdf)!;
    expect(after.untrusted).toBe(true);
    expect(after.ats).toMatchObject({ supported: false, required: false, decision: 'unsupported' });
    expect(after.warnings.map((w) => w.code)).toContain('ats-required-unavailable');
    // The port itself stays trusted.
    expect(rep.functions.find((f) => f.bdf === '0000:00:02.0')!.untrusted).toBe(false);
  });
});

describe('atsim inspect on real dumps', () => {
  const files = readdirSync(corpusDir).filter((f) => f.endsWith('.txt'));
  it.each(files)('%s gives a report', async (name) => {
    const rep = await inspectJson(join(corpusDir, name));
    expect(rep.functions.length).toBeGreaterThan(0);
    for (const f of rep.functions) expect(f.bdf).toMatch(/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/);
  });

  it('decodes the ATS capability of the Skylake iGPU (corpus 01)', async () => {
    const rep = await inspectJson(join(corpusDir, '01-pciutils-cap-pasid-pri.txt'));
    const f = rep.functions[0]!;
    expect(f.type).toBe('rc-integrated-endpoint');
    expect(f.ats).toMatchObject({ queueDepth: 32, stu: 12, supported: true });
  });

  it('lists this machine from live sysfs', async () => {
    const rep = await inspectJson('--sysfs');
    expect(rep.functions.length).toBeGreaterThan(0);
  });
});

describe('atsim inspect errors', () => {
  it('exits 2 with a message for a missing file, a bad preset, a bad BDF, no input', async () => {
    for (const args of [
      ['missing.txt'],
      [example, '--kernel', 'v9'],
      [example, '--external-facing', 'zz'],
      [example, '--set', 'nope=on'],
      [],
    ]) {
      const r = await atsim('inspect', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/atsim|error/);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  });
  it('--help documents the options', async () => {
    const r = await atsim('inspect', '--help');
    expect(r.code).toBe(0);
    for (const opt of ['--sysfs', '--kernel', '--cmdline', '--external-facing', '--format', '--compare'])
      expect(r.stdout).toContain(opt);
  });
});
