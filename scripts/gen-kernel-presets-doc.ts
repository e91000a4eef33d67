/**
 * Writes docs/kernel-presets.md from the switch and preset registries.
 * Run: npx tsx scripts/gen-kernel-presets-doc.ts (add --check to fail instead of writing when stale).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { renderPresetsDoc } from '../src/kernel/presets.js';

const target = join(resolve(import.meta.dirname, '..'), 'docs', 'kernel-presets.md');
const text = renderPresetsDoc();

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // missing counts as stale
  }
  if (current !== text) {
    console.error('docs/kernel-presets.md is stale: run npx tsx scripts/gen-kernel-presets-doc.ts');
    process.exit(1);
  }
} else {
  writeFileSync(target, text);
  console.log('wrote docs/kernel-presets.md');
}
