import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { atsim } from '../helpers/cli.js';
import { repoRoot } from '../helpers/paths.js';

/** Every `$ atsim ...` line in a ```console block of the README and docs/ is run; it must exit 0 unless it says `# exit N`. */
function examples(): { file: string; line: number; command: string; exit: number }[] {
  const files = [
    'README.md',
    ...readdirSync(join(repoRoot, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  const out: { file: string; line: number; command: string; exit: number }[] = [];
  for (const file of files) {
    const lines = readFileSync(join(repoRoot, file), 'utf8').split('\n');
    let inConsole = false;
    lines.forEach((text, i) => {
      if (/^```console\s*$/.test(text)) inConsole = true;
      else if (/^```/.test(text)) inConsole = false;
      else if (inConsole && text.startsWith('$ atsim ')) {
        const m = /#\s*exit\s+(\d+)\s*$/.exec(text);
        out.push({
          file,
          line: i + 1,
          command: text.slice(2).replace(/#.*$/, '').trim(),
          exit: m ? Number(m[1]) : 0,
        });
      }
    });
  }
  return out;
}

/** Splits a command line on spaces, honouring "double" and 'single' quotes. */
function words(s: string): string[] {
  return [...s.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

describe('documented examples run', () => {
  const cases = examples();
  it('there are examples to run', () => {
    expect(cases.length).toBeGreaterThan(3);
  });
  it.each(cases.map((c) => [`${c.file}:${c.line} ${c.command}`, c] as const))('%s', async (_name, c) => {
    const prev = process.cwd();
    process.chdir(repoRoot);
    try {
      const r = await atsim(...words(c.command).slice(1));
      expect(r.code, r.stderr).toBe(c.exit);
    } finally {
      process.chdir(prev);
    }
  });
});
