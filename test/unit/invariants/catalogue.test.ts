import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  FUNCTIONAL_INVARIANTS,
  INVARIANTS,
  WARN_SITES,
  invariantById,
  renderInvariantsDoc,
} from '../../../src/invariants/catalogue.js';
import { repoRoot } from '../../helpers/paths.js';

function* files(dir: string, ext: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p, ext);
    else if (p.endsWith(ext)) yield p;
  }
}

describe('the invariant catalogue', () => {
  it('has unique kebab-case ids, a statement and a source for each', () => {
    const ids = INVARIANTS.map((i) => i.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const i of INVARIANTS) {
      expect(i.id).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(i.statement.length).toBeGreaterThan(10);
      expect(i.source.length).toBeGreaterThan(5);
      expect(invariantById(i.id)).toBe(i);
    }
    expect(invariantById('no-such-invariant')).toBeUndefined();
  });

  it('covers every one of the 24 invariants of section g', () => {
    const refs = new Set(INVARIANTS.map((i) => i.ref));
    for (let g = 1; g <= 24; g++) expect(refs.has(g), `section g item ${g}`).toBe(true);
    for (const i of INVARIANTS) if (i.ref !== undefined) expect(i.ref).toBeGreaterThanOrEqual(1);
  });

  it('has the functional failures users feel', () => {
    expect(FUNCTIONAL_INVARIANTS.map((i) => i.id)).toEqual([
      'ats-required-but-off',
      'msi-doorbell-unmapped',
      'invalidation-timeout',
      'no-stale-translation',
    ]);
    expect(invariantById('ats-required-but-off')!.statement).toBe(
      'ATS required but off: the device cannot reach host memory',
    );
    expect(invariantById('msi-doorbell-unmapped')!.statement).toBe('MSI doorbell unmapped: interrupts lost');
  });

  it('names WARN sites that the model really has: the site is a string in a source file that calls WARN_ON', () => {
    const src = [...files(join(repoRoot, 'src'), '.ts')]
      .map((f) => readFileSync(f, 'utf8'))
      .filter((t) => /WARN_ON\(\s*(tx|ctx)\b/.test(t));
    for (const w of WARN_SITES)
      expect(
        src.some((t) => t.includes(`'${w.site}'`)),
        w.site,
      ).toBe(true);
  });

  it('has unit tests that name every invariant', () => {
    const tests = [...files(join(repoRoot, 'test', 'unit', 'invariants'), '.test.ts')]
      .filter((f) => !f.endsWith('catalogue.test.ts'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    for (const i of INVARIANTS) expect(tests, i.id).toContain(`'${i.id}'`);
  });
});

describe('docs/invariants.md', () => {
  it('equals the text generated from the catalogue (run npx tsx scripts/gen-invariants-doc.ts)', () => {
    const committed = readFileSync(join(repoRoot, 'docs', 'invariants.md'), 'utf8');
    expect(committed).toBe(renderInvariantsDoc());
  });

  it('has a row per invariant and per WARN site', () => {
    const text = renderInvariantsDoc();
    for (const i of INVARIANTS) expect(text).toContain(`| \`${i.id}\` | ${i.ref ?? ''} | ${i.kind} |`);
    for (const w of WARN_SITES) expect(text).toContain(`| \`warn:${w.site}\` | ${w.ref} |`);
  });
});
