/**
 * The oracle's host-side pieces, without booting: the initramfs writer (checked with busybox's
 * cpio), module ordering, the console reader and its hex rows through atsim's lspci importer.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sysfsTypeName } from './compare.js';
import { ConsoleError, parseConsole } from './console.js';
import { writeCpio } from './cpio.js';
import { BUSYBOX, isStaticElf, moduleLoadOrder } from './kernel.js';
import { presetForRelease } from './oracle.js';
import { decodeStep, guestAtsr, guestCmdline } from './replay.js';

describe('initramfs', () => {
  it('writes a newc archive that busybox cpio unpacks to the same files, folders and links', () => {
    const dir = mkdtempSync(join(tmpdir(), 'atsim-cpio-test-'));
    try {
      const data = Buffer.from('#!/bin/sh\necho hello\n');
      const odd = Buffer.from([1, 2, 3, 4, 5]);
      const archive = writeCpio([
        { name: 'bin', kind: 'dir', mode: 0o755 },
        { name: 'bin/sh', kind: 'symlink', mode: 0o777, data: Buffer.from('busybox') },
        { name: 'init', kind: 'file', mode: 0o755, data },
        { name: 'bin/odd-length-name', kind: 'file', mode: 0o644, data: odd },
      ]);
      const list = execFileSync(BUSYBOX, ['cpio', '-t'], {
        input: archive,
        encoding: 'utf8',
        stdio: ['pipe', 'pipe', 'ignore'],
      });
      expect(list.trim().split('\n')).toEqual(['bin', 'bin/sh', 'init', 'bin/odd-length-name']);
      execFileSync(BUSYBOX, ['cpio', '-i', '-d'], {
        input: archive,
        cwd: dir,
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      expect(readFileSync(join(dir, 'init'))).toEqual(data);
      expect(readFileSync(join(dir, 'bin', 'odd-length-name'))).toEqual(odd);
      expect(readlinkSync(join(dir, 'bin', 'sh'))).toBe('busybox');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tells a static binary (busybox-static) from a dynamic one (node)', () => {
    expect(isStaticElf(readFileSync(BUSYBOX))).toBe(true);
    expect(isStaticElf(readFileSync(process.execPath))).toBe(false);
  });
});

describe('module load order from modules.dep', () => {
  const dep = [
    'kernel/drivers/virtio/virtio_pci.ko.xz: kernel/drivers/virtio/virtio_pci_modern_dev.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz',
    'kernel/drivers/virtio/virtio_pci_modern_dev.ko.xz:',
    'kernel/drivers/virtio/virtio_ring.ko.xz: kernel/drivers/virtio/virtio.ko.xz',
    'kernel/drivers/virtio/virtio.ko.xz:',
    'kernel/drivers/char/hw_random/virtio-rng.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz kernel/drivers/virtio/virtio.ko.xz',
    '',
  ].join('\n');

  it('puts each module after its dependencies, once, and matches - with _', () => {
    const order = moduleLoadOrder(dep, '', ['virtio_pci', 'virtio-rng']);
    expect(order.map((p) => p.split('/').pop())).toEqual([
      'virtio_pci_modern_dev.ko.xz',
      'virtio.ko.xz',
      'virtio_ring.ko.xz',
      'virtio_pci.ko.xz',
      'virtio-rng.ko.xz',
    ]);
  });

  it('skips built-in modules and refuses unknown ones', () => {
    expect(moduleLoadOrder(dep, 'kernel/drivers/virtio/virtio_balloon.ko\n', ['virtio_balloon'])).toEqual([]);
    expect(() => moduleLoadOrder(dep, '', ['virtio_balloon'])).toThrow(
      /virtio_balloon .* neither in modules.dep nor built in/,
    );
  });
});

/** A console as guest/init.sh prints it: one step, one function with an ATS capability at 0x100. */
function consoleWith(atsCtrl: string): string {
  const zero = ' 00'.repeat(16);
  return [
    'SeaBIOS (version 1.16.3)',
    'ATSIM:BEGIN 6.12.95+deb12-amd64',
    'ATSIM:TARGETS 0000:01:00.0',
    'ATSIM:STEP boot',
    'ATSIM:FN 0000:01:00.0 driver=virtio-pci group=5 size=4096',
    // Header: vendor 1af4 device 1044, status with a capability list, capabilities at 0x40.
    'ATSIM:H 000: f4 1a 44 10 07 04 10 00 01 00 ff 00 00 00 00 00',
    `ATSIM:H 010:${zero}`,
    'ATSIM:H *',
    'ATSIM:H 030: 00 00 00 00 40 00 00 00 00 00 00 00 00 00 00 00',
    // PCI Express capability (an endpoint), which gives the function its extended config space.
    'ATSIM:H 040: 10 00 02 00 00 00 00 00 00 00 00 00 00 00 00 00',
    `ATSIM:H 050:${zero}`,
    'ATSIM:H *',
    // ATS extended capability (0x000f, version 1, no next) at 0x100; capability 0x0020, control.
    `ATSIM:H 100: 0f 00 01 00 20 00 ${atsCtrl} 00 00 00 00 00 00 00 00`,
    `ATSIM:H 110:${zero}`,
    'ATSIM:H *',
    'ATSIM:GROUP 5 type=DMA-FQ devices=0000:01:00.0 ',
    'ATSIM:END boot',
    'ATSIM:DMESG',
    'ATSIM:K [    0.016000] DMAR: ATSR flags: 0x1',
    'ATSIM:K [    1.717165] iommu: DMA domain TLB invalidation policy: lazy mode',
    'ATSIM:DONE',
  ].join('\r\n');
}

describe('the guest console', () => {
  it("reads a step's dump, writes out the repeated rows and decodes ATS with atsim's importer", () => {
    for (const [ctrl, enabled, stu] of [
      ['00 80', true, 0],
      ['01 00', false, 1],
    ] as const) {
      const log = parseConsole(consoleWith(ctrl));
      expect(log.release).toBe('6.12.95+deb12-amd64');
      expect(log.done).toBe(true);
      const step = log.steps[0]!;
      expect(step.groups).toEqual([{ group: 5, type: 'DMA-FQ', devices: ['0000:01:00.0'] }]);
      const f = decodeStep(step, 'boot.lspci').get('0000:01:00.0')!;
      expect(f.config?.size).toBe(4096);
      expect([f.ats?.offset, f.ats?.enabled, f.ats?.stuRaw]).toEqual([0x100, enabled, stu]);
      expect(guestAtsr(log)).toBe('all');
      expect(guestCmdline(log)).toBe('iommu.strict=0');
    }
  });

  it('names the console line of a malformed record', () => {
    const bad = consoleWith('00 80').replace('group=5', 'group=five');
    expect(() => parseConsole(bad)).toThrow(ConsoleError);
    expect(() => parseConsole(bad)).toThrow(/^console line 5: group: expected a number, found 'five'/);
    const rows = consoleWith('00 80').replace('ATSIM:H 010:', 'ATSIM:H 020:');
    expect(() => decodeStep(parseConsole(rows).steps[0]!, 'x')).toThrow(
      /console line 7: 0000:01:00.0: row at 0x20, expected 0x10/,
    );
  });
});

describe('presets and names', () => {
  it("takes the preset from the kernel's version and says when there is none", () => {
    expect(presetForRelease('6.12.95+deb12-amd64')).toBe('v6.12');
    expect(() => presetForRelease('5.10.0-30-amd64')).toThrow(
      /no atsim preset for kernel 5\.10\.0-30-amd64 .*--preset/,
    );
  });

  it("names a default domain as the group's sysfs type file does", () => {
    expect(['DMA', 'DMA_FQ', 'IDENTITY', 'BLOCKED', 'UNMANAGED'].map(sysfsTypeName)).toEqual([
      'DMA',
      'DMA-FQ',
      'identity',
      'blocked',
      'unmanaged',
    ]);
  });
});
