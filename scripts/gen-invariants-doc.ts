/**
 * Writes docs/invariants.md from the invariant catalogue.
 * Run: npx tsx scripts/gen-invariants-doc.ts (add --check to fail instead of writing when stale).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { renderInvariantsDoc } from '../src/invariants/catalogue.js';

const target = join(resolve(import.meta.dirname, '..'), 'docs', 'invariants.md');
const text = renderInvariantsDoc();

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // missing counts as stale
  }
  if (current !== text) {
    console.error('docs/invariants.md is stale: run npx tsx scripts/gen-invariants-doc.ts');
    process.exit(1);
  }
} else {
  writeFileSync(target, text);
  console.log('wrote docs/invariants.md');
}
