/**
 * The real-kernel oracle, end to end: unpack a Debian kernel, boot it under QEMU with an emulated
 * VT-d IOMMU (device-IOTLB on), read what the guest recorded, replay the same steps in atsim and
 * compare. docs/oracle.md describes it.
 */
import { isPresetId } from '../../src/kernel/presets.js';
import { parseConsole, type GuestLog } from './console.js';
import { compareRun, type Cell } from './compare.js';
import { prepareKernel, type GuestKernel } from './kernel.js';
import { bootGuest, qemuVersion, type BootResult, type VtdMode } from './qemu.js';
import { ORACLE_STEPS, replayGuest, type Replay } from './replay.js';

/** The atsim preset for a kernel release: `6.1.0-57-amd64` -> v6.1, `6.12.95+deb12-amd64` -> v6.12. */
export function presetForRelease(release: string): string {
  const m = /^(\d+)\.(\d+)/.exec(release);
  const id = m === null ? '' : `v${m[1]!}.${m[2]!}`;
  if (!isPresetId(id))
    throw new Error(`no atsim preset for kernel ${release} (tried '${id}'); give one with --preset`);
  return id;
}

export interface GuestRun {
  readonly kernel: Pick<GuestKernel, 'deb' | 'packageName' | 'packageVersion' | 'release' | 'modules'>;
  readonly qemu: string;
  readonly mode: VtdMode;
  readonly boot: BootResult;
  readonly log: GuestLog;
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * Checks that the guest ran every step: it booted, loaded its modules, found ATS functions and
 * the control function, recorded each step and reached its end. Throws with the console's tail.
 */
export function checkGuest(boot: BootResult, log: GuestLog): void {
  const fail = (why: string): never => {
    throw new Error(
      `the guest did not complete: ${why} (qemu exit ${boot.exitCode ?? 'none'}${boot.timedOut ? ', timed out' : ''}, ${boot.seconds.toFixed(1)} s)\n` +
        `qemu stderr: ${boot.stderr.trim() || '(empty)'}\nconsole tail:\n${tail(boot.console, 25)}`,
    );
  };
  if (log.release === null) fail('no ATSIM:BEGIN line; the kernel or its initramfs did not start');
  const bad = log.modules.filter((m) => !m.ok);
  if (bad.length > 0)
    fail(`modules failed to load: ${bad.map((m) => `${m.name} (${m.error ?? ''})`).join(', ')}`);
  if (log.targets.length === 0) fail('no function was bound to virtio-pci');
  for (const s of ORACLE_STEPS)
    if (!log.steps.some((x) => x.name === s.name)) fail(`step ${s.name} was not recorded`);
  if (!log.done) fail('the guest did not reach its end');
}

/** Boots an unpacked kernel in `mode` and returns the checked recording. */
export async function runPrepared(kernel: GuestKernel, mode: VtdMode, timeoutMs?: number): Promise<GuestRun> {
  const qemu = qemuVersion();
  const boot = await bootGuest(kernel, { mode, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
  const log = parseConsole(boot.console);
  checkGuest(boot, log);
  const { deb, packageName, packageVersion, release, modules } = kernel;
  return { kernel: { deb, packageName, packageVersion, release, modules }, qemu, mode, boot, log };
}

/** Unpacks `deb`, boots it in each of `modes` in turn, and returns the checked recordings. */
export async function runGuests(
  deb: string,
  modes: readonly VtdMode[],
  timeoutMs?: number,
): Promise<GuestRun[]> {
  qemuVersion();
  const kernel = prepareKernel(deb);
  try {
    const runs: GuestRun[] = [];
    for (const mode of modes) runs.push(await runPrepared(kernel, mode, timeoutMs));
    return runs;
  } finally {
    kernel.dispose();
  }
}

export interface OracleResult {
  readonly run: GuestRun;
  readonly preset: string;
  readonly replay: Replay;
  readonly cells: Cell[];
  readonly agree: boolean;
}

/** Replays a checked guest run in atsim and compares. */
export function judgeRun(run: GuestRun, preset?: string): OracleResult {
  const p = preset ?? presetForRelease(run.log.release ?? run.kernel.release);
  const replay = replayGuest(run.log, { mode: run.mode, preset: p });
  const cells = compareRun(run.log, replay);
  return { run, preset: p, replay, cells, agree: cells.every((c) => c.differ.length === 0) };
}
