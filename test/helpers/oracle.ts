import { execFileSync, spawnSync } from 'node:child_process';

/**
 * pciutils' lspci is the differential oracle. When it is missing the differential tests fail
 * (they never skip): CI installs it through .ci/run, developers with `apt-get install pciutils`.
 */
export function lspciPath(): string {
  const r = spawnSync('sh', ['-c', 'command -v lspci'], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || path === '') {
    throw new Error(
      'lspci (Debian package pciutils) is required for the differential tests: apt-get install pciutils',
    );
  }
  return path;
}

/** Runs `lspci -F FILE <args>` and returns its standard output. */
export function lspciDecode(file: string, args: readonly string[] = ['-vvv']): string {
  return execFileSync(lspciPath(), ['-F', file, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
