/**
 * The guest's kernel: a Debian linux-image .deb, unpacked with `dpkg -x` into a temporary
 * folder, its modules.dep made with `depmod -b` (the package ships none: its postinst makes
 * it), and an initramfs holding busybox-static, the guest script and the virtio modules.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeCpio, type CpioEntry } from './cpio.js';

/** The modules the guest needs beyond what is built in: the virtio PCI transport and the
 * drivers of the devices QEMU is given (qemu.ts). */
export const GUEST_MODULES = ['virtio_pci', 'virtio-rng', 'virtio_balloon'] as const;

export const BUSYBOX = '/bin/busybox';

export interface GuestKernel {
  /** The .deb it came from. */
  readonly deb: string;
  /** Package name and version, from the .deb's control file. */
  readonly packageName: string;
  readonly packageVersion: string;
  /** `uname -r`: the folder name under lib/modules. */
  readonly release: string;
  readonly vmlinuz: string;
  readonly initramfs: Buffer;
  /** Modules in load order, paths relative to lib/modules/<release>. */
  readonly modules: readonly string[];
  /** Removes the temporary folder. */
  dispose(): void;
}

function run(cmd: string, args: readonly string[]): string {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 1 << 26,
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(err.stderr ?? '').trim() || err.message}`, {
      cause: e,
    });
  }
}

/** True when the ELF file has no program interpreter (PT_INTERP), i.e. is statically linked. */
export function isStaticElf(bytes: Uint8Array): boolean {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false;
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > b.length) return false;
    if (b.readUInt32LE(at) === 3 /* PT_INTERP */) return false;
  }
  return true;
}

/**
 * Module load order from modules.dep text: each wanted module after its dependencies, each
 * dependency's own line giving its dependencies in turn. `wanted` are module names (`-` and `_`
 * are the same); modules built into the kernel (in modules.builtin) are skipped.
 */
export function moduleLoadOrder(modulesDep: string, builtin: string, wanted: readonly string[]): string[] {
  const norm = (p: string): string =>
    basename(p)
      .replace(/\.ko(\.[a-z]+)?$/, '')
      .replace(/-/g, '_');
  const deps = new Map<string, { path: string; deps: string[] }>();
  for (const line of modulesDep.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    const ds = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter((d) => d !== '');
    deps.set(norm(path), { path, deps: ds.map(norm) });
  }
  const builtIn = new Set(
    builtin
      .split('\n')
      .filter((l) => l !== '')
      .map(norm),
  );
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string, from: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const e = deps.get(name);
    if (e === undefined) {
      if (builtIn.has(name)) return;
      throw new Error(`module ${name} (needed by ${from}) is neither in modules.dep nor built in`);
    }
    for (const d of e.deps) visit(d, name);
    order.push(e.path);
  };
  for (const w of wanted) visit(w.replace(/-/g, '_'), 'the guest');
  return order;
}

const GUEST_INIT = join(dirname(fileURLToPath(import.meta.url)), 'guest', 'init.sh');

/** Unpacks `deb` and builds the guest's initramfs. Throws with the reason when it cannot. */
export function prepareKernel(deb: string): GuestKernel {
  if (!existsSync(deb)) throw new Error(`kernel package ${deb} does not exist`);
  if (!existsSync(BUSYBOX))
    throw new Error(`${BUSYBOX} is missing: install busybox-static (scripts/setup.sh does)`);
  const busybox = readFileSync(BUSYBOX);
  if (!isStaticElf(busybox))
    throw new Error(`${BUSYBOX} is not statically linked: install busybox-static (scripts/setup.sh does)`);
  const fields = run('dpkg-deb', ['--show', '--showformat=${Package}\\n${Version}\\n', deb]).split('\n');
  const dir = mkdtempSync(join(tmpdir(), 'atsim-oracle-kernel-'));
  try {
    run('dpkg', ['-x', deb, dir]);
    const modRoot = existsSync(join(dir, 'lib', 'modules'))
      ? join(dir, 'lib', 'modules')
      : join(dir, 'usr', 'lib', 'modules');
    const releases = existsSync(modRoot) ? readdirSync(modRoot) : [];
    if (releases.length !== 1)
      throw new Error(`${deb}: expected one lib/modules/<release>, found ${releases.length}`);
    const release = releases[0]!;
    const vmlinuz = join(dir, 'boot', `vmlinuz-${release}`);
    if (!existsSync(vmlinuz)) throw new Error(`${deb}: no boot/vmlinuz-${release}`);
    const modDir = join(modRoot, release);
    if (!existsSync(join(modDir, 'modules.dep'))) run('depmod', ['-b', dirname(dirname(modRoot)), release]);
    const builtinPath = join(modDir, 'modules.builtin');
    const modules = moduleLoadOrder(
      readFileSync(join(modDir, 'modules.dep'), 'utf8'),
      existsSync(builtinPath) ? readFileSync(builtinPath, 'utf8') : '',
      GUEST_MODULES,
    );
    const entries: CpioEntry[] = [
      { name: 'bin', kind: 'dir', mode: 0o755 },
      { name: 'bin/busybox', kind: 'file', mode: 0o755, data: busybox },
      { name: 'bin/sh', kind: 'symlink', mode: 0o777, data: Buffer.from('busybox') },
      { name: 'init', kind: 'file', mode: 0o755, data: readFileSync(GUEST_INIT) },
      { name: 'oracle', kind: 'dir', mode: 0o755 },
      {
        name: 'oracle/modules',
        kind: 'file',
        mode: 0o644,
        data: Buffer.from(modules.map((m) => basename(m)).join('\n') + '\n'),
      },
      ...modules.map((m): CpioEntry => ({
        name: `oracle/${basename(m)}`,
        kind: 'file',
        mode: 0o644,
        data: readFileSync(join(modDir, m)),
      })),
    ];
    return {
      deb,
      packageName: fields[0] ?? '',
      packageVersion: fields[1] ?? '',
      release,
      vmlinuz,
      initramfs: writeCpio(entries),
      modules,
      dispose: () => {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
