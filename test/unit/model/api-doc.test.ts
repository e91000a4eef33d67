/**
 * docs/api.md: every ```ts example runs against the library as `'atsim'` (src/index.ts) and prints
 * exactly the ```text block that follows it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { repoRoot } from '../../helpers/paths.js';

interface Example {
  readonly line: number;
  readonly code: string;
  readonly output: string;
}

function examples(): Example[] {
  const lines = readFileSync(join(repoRoot, 'docs', 'api.md'), 'utf8').split('\n');
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```ts') continue;
    const start = i + 1;
    let j = start;
    while (lines[j] !== '```') j++;
    const code = lines.slice(start, j).join('\n');
    let k = j + 1;
    while (lines[k] === '') k++;
    if (lines[k] !== '```text')
      throw new Error(`docs/api.md:${start}: a ts example without a text block after it`);
    let m = k + 1;
    while (lines[m] !== '```') m++;
    out.push({ line: start, code, output: lines.slice(k + 1, m).join('\n') });
    i = m;
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'atsim-api-doc-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('docs/api.md examples', () => {
  const all = examples();
  it('there are examples, and every one imports only from the package root', () => {
    expect(all.length).toBeGreaterThanOrEqual(6);
    for (const e of all)
      expect(e.code.match(/from '([^']+)'/g)?.every((s) => s === "from 'atsim'")).toBe(true);
  });

  it('uses only names the package root exports', async () => {
    const api = (await import(pathToFileURL(join(repoRoot, 'src', 'index.ts')).href)) as Record<
      string,
      unknown
    >;
    const used = new Set<string>();
    for (const e of all)
      for (const m of e.code.matchAll(/import \{([^}]*)\} from 'atsim'/g))
        for (const name of m[1]!.split(',').map((x) => x.trim()))
          if (name !== '' && !name.startsWith('type ')) used.add(name);
    expect([...used].filter((n) => !(n in api)).sort(), 'exports missing from src/index.ts').toEqual([]);
  });

  it.each(all.map((e) => [`docs/api.md:${e.line}`, e] as const))(
    '%s prints what the page says',
    async (_name, e) => {
      const entry = pathToFileURL(join(repoRoot, 'src', 'index.ts')).href;
      const file = join(dir, `example-${e.line}.ts`);
      writeFileSync(file, e.code.replaceAll("from 'atsim'", `from '${entry}'`));
      const printed: string[] = [];
      const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
        printed.push(args.map(String).join(' '));
      });
      try {
        await import(pathToFileURL(file).href);
      } finally {
        spy.mockRestore();
      }
      expect(printed.join('\n')).toBe(e.output);
    },
  );
});
