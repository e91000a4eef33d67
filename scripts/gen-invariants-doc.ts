/**
 * Writes docs/invariants.md from the invariant catalogue.
 * Run: npx tsx scripts/gen-invariants-doc.ts (add --check to fail instead of writing when stale).
 */
import { renderInvariantsDoc } from '../src/invariants/catalogue.js';
import { writeGenerated } from './generated-file.js';

writeGenerated('docs/invariants.md', renderInvariantsDoc(), 'gen-invariants-doc.ts');
