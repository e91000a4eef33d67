import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PRESET_IDS, renderPresetsDoc } from '../../../src/kernel/presets.js';
import { SWITCHES, formatSwitchSource } from '../../../src/kernel/switches.js';
import { repoRoot } from '../../helpers/paths.js';

describe('docs/kernel-presets.md', () => {
  it('equals the text generated from the registries (run npx tsx scripts/gen-kernel-presets-doc.ts)', () => {
    const committed = readFileSync(join(repoRoot, 'docs', 'kernel-presets.md'), 'utf8');
    expect(committed).toBe(renderPresetsDoc());
  });

  it('has a table row per switch and a column per preset, with every source', () => {
    const text = renderPresetsDoc();
    const header = text.split('\n').find((l) => l.startsWith('| switch |'));
    expect(header).toBe(`| switch | kind | ${PRESET_IDS.join(' | ')} |`);
    for (const s of SWITCHES) {
      expect(text).toContain(`| \`${s.id}\` | ${s.kind} |`);
      expect(text).toContain(formatSwitchSource(s.source));
    }
  });
});
