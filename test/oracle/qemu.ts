/**
 * Boots the guest under QEMU's software emulation (TCG): a q35 machine with an emulated Intel
 * VT-d IOMMU that offers device-IOTLBs (ATS), in legacy or scalable mode, and virtio functions
 * each on its own PCIe root port: two with ATS, one control function without. No network, no
 * disk; the serial console is the guest's only output.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GuestKernel } from './kernel.js';

export type VtdMode = 'legacy' | 'scalable';
export const VTD_MODES: readonly VtdMode[] = ['legacy', 'scalable'];

export const QEMU = 'qemu-system-x86_64';

/** The PCI functions QEMU is given, each below its own root port. */
export const GUEST_DEVICES = [
  { id: 'rng', device: 'virtio-rng-pci', ats: true },
  { id: 'balloon', device: 'virtio-balloon-pci', ats: true },
  { id: 'control', device: 'virtio-rng-pci', ats: false },
] as const;

export interface BootOptions {
  readonly mode: VtdMode;
  /** Milliseconds before the guest is killed; default 15 minutes. */
  readonly timeoutMs?: number;
  /** vCPUs; default 1. */
  readonly smp?: number;
}

export interface BootResult {
  readonly args: readonly string[];
  /** Everything the serial console printed. */
  readonly console: string;
  readonly stderr: string;
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  readonly seconds: number;
}

/** `qemu-system-x86_64 --version`'s first line; throws when QEMU is not installed. */
export function qemuVersion(): string {
  const r = spawnSync(QEMU, ['--version'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0)
    throw new Error(
      `${QEMU} is not available (${r.error?.message ?? r.stderr.trim()}): install qemu-system-x86 from bookworm-backports (scripts/setup.sh does)`,
    );
  return r.stdout.split('\n')[0]!.trim();
}

export function qemuArgs(kernel: string, initrd: string, opts: BootOptions): string[] {
  const iommu = [
    'intel-iommu',
    'intremap=on',
    'device-iotlb=on',
    ...(opts.mode === 'scalable' ? ['x-scalable-mode=on'] : []),
  ];
  const args = [
    '-M',
    'q35',
    '-accel',
    'tcg',
    '-smp',
    String(opts.smp ?? 1),
    '-m',
    '512M',
    '-nodefaults',
    '-display',
    'none',
    '-nic',
    'none',
    '-serial',
    'stdio',
    '-no-reboot',
    '-device',
    iommu.join(','),
  ];
  GUEST_DEVICES.forEach((d, i) => {
    args.push(
      '-device',
      `pcie-root-port,id=rp${i + 1},chassis=${i + 1},bus=pcie.0,addr=0x${(i + 2).toString(16)}`,
    );
    const ats = d.ats ? ',ats=on' : '';
    args.push('-device', `${d.device},bus=rp${i + 1},id=${d.id}${ats},iommu_platform=on,disable-legacy=on`);
  });
  // no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer check (check_timer() in
  // arch/x86/kernel/apic/io_apic.c) can miss its ticks and panic ("timer doesn't work through
  // Interrupt-remapped IO-APIC"); seen here with two guests at once on two busy cores.
  args.push(
    '-kernel',
    kernel,
    '-initrd',
    initrd,
    '-append',
    'console=ttyS0 intel_iommu=on rdinit=/init panic=-1 loglevel=4 no_timer_check',
  );
  return args;
}

/** Boots once and returns the console log; never throws for a guest that fails, only reports. */
export async function bootGuest(kernel: GuestKernel, opts: BootOptions): Promise<BootResult> {
  const dir = mkdtempSync(join(tmpdir(), 'atsim-oracle-boot-'));
  const initrd = join(dir, 'initramfs.cpio');
  writeFileSync(initrd, kernel.initramfs);
  const args = qemuArgs(kernel.vmlinuz, initrd, opts);
  const started = Date.now();
  try {
    return await new Promise<BootResult>((resolve) => {
      const child = spawn(QEMU, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const timer = setTimeout(
        () => {
          timedOut = true;
          child.kill('SIGKILL');
        },
        opts.timeoutMs ?? 15 * 60_000,
      );
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      const finish = (exitCode: number | null, extra = ''): void => {
        clearTimeout(timer);
        resolve({
          args,
          console: Buffer.concat(out).toString('latin1'),
          stderr: Buffer.concat(err).toString('utf8') + extra,
          exitCode,
          timedOut,
          seconds: (Date.now() - started) / 1000,
        });
      };
      child.on('error', (e) => {
        finish(null, `\n${e.message}`);
      });
      child.on('close', (code) => {
        finish(code);
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
