import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..', 'src');
/** Adapters around the core: the only places allowed to use Node's modules. */
const ADAPTERS = ['cli', 'node'];

function* tsFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* tsFiles(p);
    else if (p.endsWith('.ts')) yield p;
  }
}

describe('the core runs in a browser', () => {
  it('imports no node: module outside src/cli and src/node', () => {
    const offenders: string[] = [];
    for (const file of tsFiles(root)) {
      const rel = relative(root, file);
      if (ADAPTERS.some((a) => rel.startsWith(a + '/'))) continue;
      const text = readFileSync(file, 'utf8');
      if (/from\s+['"](node:|fs['"]|path['"]|os['"]|child_process|worker_threads)/.test(text))
        offenders.push(rel);
      if (/\bprocess\.|\bBuffer\./.test(text)) offenders.push(rel);
    }
    expect(offenders).toEqual([]);
  });
});
