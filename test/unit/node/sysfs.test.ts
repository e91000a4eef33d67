import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../src/diagnostics.js';
import { readSysfs } from '../../../src/node/sysfs.js';
import { MachineBuilder } from '../../../src/pci/builder.js';
import type { PciFunction } from '../../../src/pci/function.js';
import { buildMachine } from '../../../src/pci/topology.js';

const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

interface FixtureDevice {
  /** Path below devices/, e.g. `pci0000:00/0000:00:01.0/0000:01:00.0`. */
  readonly path: string;
  readonly config: Uint8Array | null;
  readonly vendor?: number;
  readonly device?: number;
  readonly physfn?: string;
  readonly driver?: string;
  readonly removable?: string;
}

/** A sysfs tree laid out like the kernel's: devices/ hierarchy plus bus/pci/devices symlinks. */
function makeSysfs(
  devices: readonly FixtureDevice[],
  extra: (root: string) => void = () => undefined,
): string {
  const root = mkdtempSync(join(tmpdir(), 'atsim-'));
  temps.push(root);
  const busDir = join(root, 'bus', 'pci', 'devices');
  mkdirSync(busDir, { recursive: true });
  for (const d of devices) {
    const dir = join(root, 'devices', d.path);
    mkdirSync(dir, { recursive: true });
    const name = d.path.split('/').pop()!;
    symlinkSync(relative(busDir, dir), join(busDir, name));
    if (d.config !== null) writeFileSync(join(dir, 'config'), d.config);
    const hex4 = (n: number): string => `0x${n.toString(16).padStart(4, '0')}\n`;
    if (d.vendor !== undefined) writeFileSync(join(dir, 'vendor'), hex4(d.vendor));
    if (d.device !== undefined) writeFileSync(join(dir, 'device'), hex4(d.device));
    if (d.physfn !== undefined) symlinkSync(join('..', d.physfn), join(dir, 'physfn'));
    if (d.driver !== undefined) {
      const drv = join(root, 'bus', 'pci', 'drivers', d.driver);
      mkdirSync(drv, { recursive: true });
      symlinkSync(relative(dir, drv), join(dir, 'driver'));
    }
    if (d.removable !== undefined) writeFileSync(join(dir, 'removable'), `${d.removable}\n`);
  }
  extra(root);
  return root;
}

const built = new MachineBuilder()
  .rootPort('0000:00:01.0', { secondaryBus: 1, subordinateBus: 3 })
  .switchUpstreamPort('0000:01:00.0', { secondaryBus: 2, subordinateBus: 3 })
  .switchDownstreamPort('0000:02:00.0', { secondaryBus: 3, subordinateBus: 3 })
  .function('0000:03:00.0', { vendorId: 0x10de, deviceId: 0x2684, classCode: 0x030000, ats: {} })
  .rootPort('0000:00:02.0', { secondaryBus: 4, subordinateBus: 4 })
  .function('0000:04:00.0', {
    vendorId: 0x15b3,
    deviceId: 0x101d,
    ats: { enabled: true },
    sriov: {
      totalVFs: 4,
      numVFs: 1,
      vfEnable: true,
      firstVfOffset: 1,
      vfStride: 1,
      vfDeviceId: 0x101e,
      vf: { ats: {} },
    },
  })
  .toPciFunctions();

function bytesOf(bdf: string): Uint8Array {
  const f: PciFunction | undefined = built.find((x) => x.bdf === bdf);
  return f!.config!.bytes.slice();
}

/** A VF's config space as hardware shows it: ID registers read all ones. */
function vfBytes(bdf: string): Uint8Array {
  const b = bytesOf(bdf);
  b.fill(0xff, 0, 4);
  return b;
}

describe('readSysfs on a fixture tree', () => {
  const legacy = new Uint8Array(256);
  legacy.set(bytesOf('0000:03:00.0').subarray(0, 256));
  const root = makeSysfs(
    [
      { path: 'pci0000:00/0000:00:01.0', config: bytesOf('0000:00:01.0'), vendor: 0x8086, device: 0x2030 },
      {
        path: 'pci0000:00/0000:00:01.0/0000:01:00.0',
        config: bytesOf('0000:01:00.0'),
        removable: 'removable',
      },
      {
        path: 'pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:00.0',
        config: bytesOf('0000:02:00.0'),
        removable: 'removable',
      },
      {
        path: 'pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:00.0/0000:03:00.0',
        config: bytesOf('0000:03:00.0'),
        removable: 'removable',
      },
      { path: 'pci0000:00/0000:00:02.0', config: bytesOf('0000:00:02.0') },
      { path: 'pci0000:00/0000:00:02.0/0000:04:00.0', config: bytesOf('0000:04:00.0'), driver: 'mlx5_core' },
      {
        path: 'pci0000:00/0000:00:02.0/0000:04:00.1',
        config: vfBytes('0000:04:00.1'),
        vendor: 0x15b3,
        device: 0x101e,
        physfn: '0000:04:00.0',
        driver: 'mlx5_core',
      },
      { path: 'pci0000:00/0000:00:1f.0', config: legacy },
      { path: 'pci0000:00/0000:00:1e.0', config: null },
    ],
    (r) => {
      mkdirSync(join(r, 'bus', 'pci', 'devices', 'not-a-bdf'));
    },
  );
  const read = readSysfs(root);
  const byBdf = new Map(read.functions.map((f) => [f.bdf, f]));

  it('reads every function with a config file, decoded', () => {
    expect([...byBdf.keys()].sort()).toEqual([
      '0000:00:01.0',
      '0000:00:02.0',
      '0000:00:1f.0',
      '0000:01:00.0',
      '0000:02:00.0',
      '0000:03:00.0',
      '0000:04:00.0',
      '0000:04:00.1',
    ]);
    const pf = byBdf.get('0000:04:00.0')!;
    expect(pf.sourceKind).toBe('sysfs');
    expect(pf.config?.size).toBe(4096);
    expect(pf.header).toMatchObject({ vendorId: 0x15b3, deviceId: 0x101d });
    expect(pf.ats?.enabled).toBe(true);
    expect(pf.sriov).toMatchObject({ numVFs: 1, vfEnable: true, vfDeviceId: 0x101e });
  });

  it('names what it skipped, with the path', () => {
    const missing = read.diagnostics.find((d) => d.code === 'sysfs-config-missing');
    expect(missing?.message).toContain(join(root, 'bus', 'pci', 'devices', '0000:00:1e.0', 'config'));
    const junk = read.diagnostics.find((d) => d.code === 'sysfs-not-a-bdf');
    expect(junk?.message).toContain('not-a-bdf');
  });

  it('takes the PF from the physfn link and the IDs from the vendor/device attributes', () => {
    const vf = byBdf.get('0000:04:00.1')!;
    expect(vf.physfnHint).toBe('0000:04:00.0');
    expect(vf.config!.read16(0)).toBe(0xffff);
    expect(vf.header).toMatchObject({ vendorId: 0x15b3, deviceId: 0x101e });
    expect(vf.ats).not.toBeNull();
  });

  it('takes the driver from the driver link', () => {
    expect(byBdf.get('0000:04:00.0')!.driver).toBe('mlx5_core');
    expect(byBdf.get('0000:03:00.0')!.driver).toBeNull();
  });

  it('infers the external-facing port from the removable marks below it', () => {
    expect(byBdf.get('0000:00:01.0')!.externalFacing).toBe(true);
    expect(read.diagnostics.filter((d) => d.code === 'external-facing-inferred').map((d) => d.where)).toEqual(
      [{ bdf: '0000:00:01.0' }],
    );
    for (const bdf of ['0000:00:02.0', '0000:01:00.0', '0000:02:00.0', '0000:03:00.0', '0000:04:00.0']) {
      expect(byBdf.get(bdf)!.externalFacing, bdf).toBeNull();
      expect(byBdf.get(bdf)!.unknown, bdf).toContain('externalFacing');
    }
  });

  it('records a complete 256-byte config space as having no extended capabilities', () => {
    const f = byBdf.get('0000:00:1f.0')!;
    expect(f.config?.size).toBe(256);
    expect(f.extCapsReadable).toBe(true);
    expect(f.unknown).not.toContain('ats');
    expect(f.diagnostics.map((d) => d.code)).not.toContain('ext-caps-unreadable');
  });

  it('gives a topology with the VF linked and everything below the port untrusted', () => {
    const m = buildMachine(read.functions);
    const get = (bdf: string) => m.functions[m.byBdf.get(bdf)!]!;
    expect(get('0000:04:00.1').isVirtfn).toBe(true);
    expect(get('0000:04:00.1').physfn).toBe(m.byBdf.get('0000:04:00.0'));
    expect(get('0000:00:01.0').untrusted).toBe(false);
    for (const bdf of ['0000:01:00.0', '0000:02:00.0', '0000:03:00.0'])
      expect(get(bdf).untrusted, bdf).toBe(true);
    expect(get('0000:04:00.0').untrusted).toBe(false);
    expect(m.diagnostics).toEqual([]);
  });
});

describe('readSysfs errors', () => {
  it('throws InputError for a missing root', () => {
    const gone = join(mkdtempSync(join(tmpdir(), 'atsim-')), 'nope');
    temps.push(gone);
    expect(() => readSysfs(gone)).toThrow(InputError);
  });

  it('reports a root without bus/pci/devices as a diagnostic', () => {
    const root = mkdtempSync(join(tmpdir(), 'atsim-'));
    temps.push(root);
    const r = readSysfs(root);
    expect(r.functions).toEqual([]);
    expect(r.diagnostics.map((d) => d.code)).toEqual(['sysfs-unreadable']);
    expect(r.diagnostics[0]!.message).toContain(join(root, 'bus', 'pci', 'devices'));
  });
});

describe('readSysfs on this machine', () => {
  it('lists at least one function whose config decodes a vendor ID', () => {
    if (!existsSync('/sys/bus/pci/devices'))
      throw new Error('this test needs a live /sys/bus/pci/devices (a Linux machine with PCI)');
    const r = readSysfs('/sys');
    const decoded = r.functions.filter(
      (f) =>
        f.config !== null && f.config.has(0, 2) && f.config.read16(0) !== 0xffff && f.config.read16(0) !== 0,
    );
    expect(decoded.length).toBeGreaterThan(0);
    for (const f of decoded) expect(f.header.vendorId).toBe(f.config!.read16(0));
  });
});
