import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../src/diagnostics.js';
import { detectFormat, loadMachine } from '../../../src/node/load-machine.js';
import { MachineBuilder } from '../../../src/pci/builder.js';
import { corpusDir, repoRoot, requireShared } from '../../helpers/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'atsim-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const example = join(repoRoot, 'examples', 'machine.yaml');

/** A corpus dump without its two `#` provenance lines, as lspci -F wants it. */
function corpusFile(name: string): string {
  requireShared();
  const text = readFileSync(join(corpusDir, name), 'utf8').split('\n').slice(2).join('\n');
  const out = join(dir, name);
  writeFileSync(out, text);
  return out;
}

describe('loadMachine', () => {
  it('tells machine files from lspci output by content', () => {
    expect(detectFormat(readFileSync(example, 'utf8'))).toBe('machine-file');
    expect(detectFormat(readFileSync(corpusFile('02-pciutils-pri-pasid.txt'), 'utf8'))).toBe('lspci');
  });

  it('merges a machine file, an lspci dump and a sysfs tree into one topology', () => {
    const dsa = corpusFile('02-pciutils-pri-pasid.txt');
    // A sysfs tree with one function on a bus nobody else uses.
    const root = join(dir, 'sys');
    const devices = join(root, 'bus', 'pci', 'devices');
    mkdirSync(devices, { recursive: true });
    const fnDir = join(root, 'devices', 'pci0000:80', '0000:80:00.0');
    mkdirSync(fnDir, { recursive: true });
    const [nic] = new MachineBuilder()
      .function('0000:80:00.0', { vendorId: 0x15b3, deviceId: 0x1017 })
      .toPciFunctions();
    writeFileSync(join(fnDir, 'config'), nic!.config!.bytes);
    symlinkSync(relative(devices, fnDir), join(devices, '0000:80:00.0'));

    const m = loadMachine({ files: [example, dsa], sysfsRoot: root });
    const kinds = new Map(m.functions.map((f) => [f.fn.bdf, f.fn.sourceKind]));
    expect(kinds.get('0000:02:00.0')).toBe('machine-file');
    expect(kinds.get('0000:6a:01.0')).toBe('lspci-hex');
    expect(kinds.get('0000:80:00.0')).toBe('sysfs');
    // The machine file's VFs come through as functions and are linked again.
    const pf = m.functions[m.byBdf.get('0000:02:00.0')!]!;
    expect(pf.vfs).toHaveLength(4);
  });

  it('keeps the first input when two show the same BDF, and says so', () => {
    const m = loadMachine({ files: [example, example] });
    expect(m.functions).toHaveLength(19);
    expect(m.diagnostics.filter((d) => d.code === 'duplicate-bdf')).toHaveLength(19);
  });

  it('passes external-facing ports on to the topology', () => {
    const m = loadMachine({ files: [example], externalFacing: ['0000:00:03.0'] });
    expect(m.functions[m.byBdf.get('0000:02:00.0')!]!.untrusted).toBe(true);
  });

  it('names a file it cannot read', () => {
    const missing = join(dir, 'no-such-file.txt');
    expect(() => loadMachine({ files: [missing] })).toThrow(InputError);
    expect(() => loadMachine({ files: [missing] })).toThrow(missing);
  });

  it('refuses a binary file, naming it', () => {
    const bin = join(dir, 'config.bin');
    writeFileSync(bin, new Uint8Array([0x86, 0x80, 0x00, 0x00, 0x01]));
    expect(() => loadMachine({ files: [bin] })).toThrow(/config\.bin is binary/);
  });

  it('lets machine-file errors through as InputErrors with their position', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'functions:\n  - bdf: 01:00.0\n    vendorId: 1\n    deviceId: 2\n    colour: blue\n');
    expect(() => loadMachine({ files: [bad] })).toThrow(`${bad}:5:5`);
  });
});
