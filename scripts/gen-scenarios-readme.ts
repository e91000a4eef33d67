/**
 * Writes scenarios/README.md from the library's scenario files, formatted by Prettier as the
 * repository's Markdown is. Run: npx tsx scripts/gen-scenarios-readme.ts (--check: fail when stale).
 */
import { join } from 'node:path';
import { format, resolveConfig } from 'prettier';
import { writeGenerated } from './generated-file.js';
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
  writeGenerated('scenarios/README.md', text, 'gen-scenarios-readme.ts');
}
