import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository root: the nearest folder above `from` with a package.json (bench/ runs compiled from dist-bench/). */
export function repoRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = resolve(dir, '..');
    if (up === dir) throw new Error('bench: no package.json above ' + from);
    dir = up;
  }
  return dir;
}
