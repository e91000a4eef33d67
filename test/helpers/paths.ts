import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository root. */
export const repoRoot = resolve(import.meta.dirname, '..', '..');
/** `../shared` beside the repository, as CI lays it out. */
export const sharedDir = resolve(repoRoot, '..', 'shared');
export const corpusDir = join(sharedDir, 'corpus', 'pci-dumps');

export function requireShared(): void {
  if (!existsSync(corpusDir))
    throw new Error(`the shared corpus is missing: expected ${corpusDir} beside the repository`);
}
