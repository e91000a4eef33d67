/**
 * The generated files' common step: write `text` to `path` (relative to the repository), or with
 * `--check` on the command line fail when the committed file differs. Every gen-* script ends here.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '..');

export function writeGenerated(path: string, text: string, script: string): void {
  const target = join(repoRoot, path);
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(target, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (current !== text) {
      console.error(`${path} is stale: run npx tsx scripts/${script}`);
      process.exit(1);
    }
  } else {
    writeFileSync(target, text);
    console.log(`wrote ${path}`);
  }
}
