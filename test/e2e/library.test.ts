/**
 * Every scenario of the seed-claim library under every preset and every IOMMU driver it lists: the
 * verdict the model gives must equal the scenario's `expect` for that driver and preset (and every
 * step's expected return value). A preset that does not model a driver (v6.1 models VT-d only)
 * gives an n/a cell.
 *
 * KNOWN_MODEL_DISAGREEMENTS lists cells where the claim (and so `expect`) stands but the model does
 * not yet agree; each is reported to the lead with its trace. They run as `it.fails`, so the test
 * goes red the day the model agrees and the entry must be removed.
 */
import { describe, expect, it } from 'vitest';
import { PRESET_IDS, presetModelsDriver } from '../../src/kernel/presets.js';
import { libraryFiles, loadScenarioFile } from '../../src/node/load-scenario.js';
import { checkCell } from '../../src/scenario/check.js';
import { isExploreScenario } from '../../src/scenario/types.js';

const KNOWN_MODEL_DISAGREEMENTS: Readonly<Record<string, string>> = {};

const files = libraryFiles();

describe('the seed-claim library', () => {
  it('has a scenario for each seed thread, numbered and citing its thread', () => {
    expect(files.length).toBeGreaterThanOrEqual(20);
    const seeds = new Set<number>();
    for (const f of files) {
      expect(f.shownAs).toMatch(/^scenarios\/(explore\/)?\d{3}-[a-z0-9-]+\.yaml$/);
      const b = loadScenarioFile(f.file, f.shownAs);
      expect(b.doc.thread, f.shownAs).not.toBeNull();
      expect(b.doc.claim, f.shownAs).not.toBeNull();
      expect(b.doc.expect, f.shownAs).not.toBeNull();
      seeds.add(b.doc.thread!.seed);
    }
    expect([...seeds].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('lists no known disagreement for a cell that does not exist', () => {
    const cells = new Set(files.flatMap((f) => PRESET_IDS.map((p) => `${f.shownAs.slice(10, -5)}@${p}`)));
    for (const k of Object.keys(KNOWN_MODEL_DISAGREEMENTS)) expect(cells.has(k), k).toBe(true);
  });

  for (const f of files) {
    const name = f.shownAs.slice('scenarios/'.length, -'.yaml'.length);
    const bound = loadScenarioFile(f.file, f.shownAs);
    for (const driver of bound.doc.drivers)
      for (const preset of PRESET_IDS) {
        const key = driver === bound.doc.driver ? `${name}@${preset}` : `${name}@${driver}@${preset}`;
        const known = KNOWN_MODEL_DISAGREEMENTS[key];
        const run = (): void => {
          const c = checkCell(bound, preset, driver);
          if (!presetModelsDriver(preset, driver)) {
            expect(c.status, key).toBe('n/a');
            return;
          }
          const got =
            c.status === 'error'
              ? `error: ${c.error ?? ''}`
              : c.status === 'holds'
                ? 'holds'
                : `violated ${c.violated.join(', ')}`;
          const want = c.expected.kind === 'holds' ? 'holds' : `violated ${c.expected.ids.join(', ')}`;
          if (isExploreScenario(bound.doc) && c.expected.kind !== 'holds') {
            // An exploration stops at its first (shortest) counterexample: its ids must be expected ones.
            expect(c.status, key).toBe('violated');
            for (const id of c.violated) expect(c.expected.ids, key).toContain(id);
          } else expect(got, key).toBe(want);
          expect(c.retMismatches, key).toEqual([]);
          expect(c.met).toBe(true);
        };
        if (known === undefined) it(key, run);
        else it.fails(`${key} (known model disagreement: ${known})`, run);
      }
  }
});
