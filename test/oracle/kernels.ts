/**
 * The kernels scripts/oracle-kernels.sh (run by scripts/setup.sh) fetched: .cache/oracle/kernels.txt,
 * one line per kernel, `<series> <deb file>` with the file relative to the repository.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const KERNELS_FILE = join(REPO_ROOT, '.cache', 'oracle', 'kernels.txt');

export interface CachedKernel {
  /** `6.1`, `6.12`. */
  readonly series: string;
  readonly deb: string;
}

/** The fetched kernels; throws, saying how to fetch them, when there are none. */
export function cachedKernels(): CachedKernel[] {
  if (!existsSync(KERNELS_FILE))
    throw new Error(
      `no kernels fetched (${KERNELS_FILE} is missing): run scripts/setup.sh, or bash scripts/oracle-kernels.sh`,
    );
  const out: CachedKernel[] = [];
  for (const [i, line] of readFileSync(KERNELS_FILE, 'utf8').split('\n').entries()) {
    if (line.trim() === '') continue;
    const m = /^(\S+) (.+)$/.exec(line.trim());
    if (m === null) throw new Error(`${KERNELS_FILE}:${i + 1}: expected '<series> <deb file>'`);
    const deb = resolve(REPO_ROOT, m[2]!);
    if (!existsSync(deb))
      throw new Error(`${KERNELS_FILE}:${i + 1}: ${m[2]!} is missing: run bash scripts/oracle-kernels.sh`);
    out.push({ series: m[1]!, deb });
  }
  if (out.length === 0)
    throw new Error(`${KERNELS_FILE} lists no kernel: run bash scripts/oracle-kernels.sh`);
  return out;
}
