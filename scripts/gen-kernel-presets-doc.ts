/**
 * Writes docs/kernel-presets.md from the switch and preset registries.
 * Run: npx tsx scripts/gen-kernel-presets-doc.ts (add --check to fail instead of writing when stale).
 */
import { renderPresetsDoc } from '../src/kernel/presets.js';
import { writeGenerated } from './generated-file.js';

writeGenerated('docs/kernel-presets.md', renderPresetsDoc(), 'gen-kernel-presets-doc.ts');
