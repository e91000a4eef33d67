/**
 * Writes scenarios/README.md from the library's scenario files, formatted by Prettier as the
 * repository's Markdown is. Run: npx tsx scripts/gen-scenarios-readme.ts (--check: fail when stale).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { format, resolveConfig } from 'prettier';
import { libraryDocs, libraryDir } from '../src/node/load-scenario.js';
import { renderLibraryReadme } from '../src/scenario/library-readme.js';

export const readmePath = join(libraryDir, 'README.md');

export async function libraryReadmeText(): Promise<string> {
  const { docs, errors } = libraryDocs();
  if (errors.length > 0) throw new Error(`library scenarios do not parse:\n${errors.join('\n')}`);
  const config = (await resolveConfig(readmePath)) ?? {};
  return format(renderLibraryReadme(docs), { ...config, parser: 'markdown' });
}

if (process.argv[1]?.endsWith('gen-scenarios-readme.ts') === true) {
  const text = await libraryReadmeText();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(readmePath, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (current !== text) {
      console.error('scenarios/README.md is stale: run npx tsx scripts/gen-scenarios-readme.ts');
      process.exit(1);
    }
  } else {
    writeFileSync(readmePath, text);
    console.log('wrote scenarios/README.md');
  }
}
