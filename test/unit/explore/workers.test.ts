import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ModelRef } from '../../../src/explore/model.js';
import { AtsReference } from '../../../src/explore/models/ats-reference.js';
import type { AtsReferenceParams } from '../../../src/explore/models/ats-reference.js';
import type { Progress } from '../../../src/explore/result.js';
import { replay } from '../../../src/explore/trace.js';
import { exploreWithWorkers } from '../../../src/node/explore-workers.js';
import { repoRoot } from '../../helpers/paths.js';

const ref = (params: AtsReferenceParams): ModelRef => ({
  module: pathToFileURL(join(repoRoot, 'src/explore/models/ats-reference.ts')).href,
  factory: 'createAtsReference',
  params,
});

describe('breadth-first search on worker threads', () => {
  it('2 and 3 workers find the same 55,563 states and 503,334 transitions as one thread (D=3, P=3)', async () => {
    for (const workers of [2, 3]) {
      const r = await exploreWithWorkers(ref({ devices: 3, pages: 3 }), { workers });
      expect(r.workers).toBe(workers);
      expect(r.states).toBe(55_563);
      expect(r.transitions).toBe(503_334);
      expect(r.stopReason).toBe('exhausted');
      expect(r.complete).toBe(true);
      expect(r.frontier).toBe(0);
      expect(r.maxDepth).toBe(r.depthCompleted);
      expect(r.coverage.reduce((n, c) => n + c.newStates, 0)).toBe(55_563 - 1);
    }
  });

  it('finds the bug at depth 6 with a trace that replays on the model', async () => {
    const params = { devices: 3, pages: 4, bug: 'flr-keeps-atc' } as const;
    const r = await exploreWithWorkers(ref(params), { workers: 2 });
    expect(r.stopReason).toBe('violation');
    const v = r.violations[0]!;
    expect(v.depth).toBe(6);
    expect(v.trace).toHaveLength(7);
    const model = new AtsReference(params);
    const steps = replay(
      model,
      { initial: 0, actions: v.trace.slice(1).map((t) => t.action!) },
      v.fingerprint,
    );
    expect(model.violations(steps[6]!.state)).toEqual([0]);
  });

  it('all violations, max states, max depth, memory and time stop cleanly', async () => {
    const all = await exploreWithWorkers(ref({ devices: 2, pages: 2, bug: 'flr-keeps-atc' }), {
      workers: 2,
      violations: 'all',
      maxViolations: 10_000,
    });
    expect(all.stopReason).toBe('exhausted');
    expect(all.violations.length).toBeGreaterThan(1);
    for (const v of all.violations) expect(v.trace).toHaveLength(v.depth + 1);

    const capped = await exploreWithWorkers(ref({ devices: 3, pages: 3 }), { workers: 2, maxStates: 5000 });
    expect(capped.stopReason).toBe('max-states');
    expect(capped.states).toBeGreaterThanOrEqual(5000);
    expect(capped.states).toBeLessThan(55_563);

    const shallow = await exploreWithWorkers(ref({ devices: 3, pages: 3 }), { workers: 2, maxDepth: 4 });
    expect(shallow.stopReason).toBe('max-depth');
    expect(shallow.depthCompleted).toBe(3);
    expect(shallow.maxDepth).toBe(4);

    const small = await exploreWithWorkers(ref({ devices: 3, pages: 4 }), {
      workers: 2,
      memoryBudget: 4 << 20,
    });
    expect(small.stopReason).toBe('memory');
    expect(small.states).toBeGreaterThan(50_000);
    expect(small.peakBytes).toBeLessThanOrEqual(4 << 20);

    // D=3 P=5 (about 60 M states) never finishes in the time given, however fast the machine; the
    // limit leaves a loaded machine time to start the workers (under tsx) and report progress.
    const seen: Progress[] = [];
    const timed = await exploreWithWorkers(ref({ devices: 3, pages: 5 }), {
      workers: 2,
      timeLimitMs: 5000,
      memoryBudget: 1 << 30,
      progressPeriodMs: 0,
      onProgress: (p) => {
        seen.push(p);
        return undefined;
      },
    });
    expect(timed.stopReason).toBe('time');
    expect(timed.states).toBeLessThan(60_397_977);
    expect(seen.length).toBeGreaterThan(0);
  });

  it('grows the shared table mid-search and still finds every state (D=3, P=4: 1,798,833)', async () => {
    // A 96 MiB budget starts the table at 2^21 slots (16 MiB, a quarter of the budget at most); it
    // grows to 2^22 at 3/4 load, holding both tables while it rehashes.
    const r = await exploreWithWorkers(ref({ devices: 3, pages: 4 }), { workers: 2, memoryBudget: 96 << 20 });
    expect(r.stopReason).toBe('exhausted');
    expect(r.states).toBe(1_798_833);
    // Without a growth the peak is about 44 MiB (the 32 MiB table of a bigger budget, the traces
    // and queues); with one, both tables are held while rehashing: about 59 MiB.
    expect(r.peakBytes).toBeGreaterThan(52 << 20);
    expect(r.peakBytes).toBeLessThanOrEqual(96 << 20);
  });

  it('runs a model without a codec through its transfer, from an async factory, with the same counts', async () => {
    const boxed: ModelRef = {
      module: pathToFileURL(join(repoRoot, 'test/fixtures/models/boxed-ats.ts')).href,
      factory: 'createBoxedAtsLater',
      params: { devices: 3, pages: 3 },
    };
    const r = await exploreWithWorkers(boxed, { workers: 2 });
    expect([r.states, r.transitions, r.stopReason]).toEqual([55_563, 503_334, 'exhausted']);
    const bug = await exploreWithWorkers(
      { ...boxed, params: { devices: 3, pages: 4, bug: 'flr-keeps-atc' } },
      { workers: 2 },
    );
    expect(bug.violations[0]!.depth).toBe(6);
    expect(bug.violations[0]!.invariantName).toBe(bug.invariantsViolated[0]);
  });

  it('names every invariant violated anywhere, past the kept violations', async () => {
    const all = await exploreWithWorkers(ref({ devices: 2, pages: 2, bug: 'flr-keeps-atc' }), {
      workers: 2,
      violations: 'all',
      maxViolations: 1,
    });
    expect(all.violations).toHaveLength(1);
    const model = new AtsReference({ devices: 2, pages: 2, bug: 'flr-keeps-atc' });
    expect(all.invariantsViolated).toEqual([model.invariants[0]]);
    expect(all.violations[0]!.invariant).toBe(0);
  });

  it('refuses a model without a codec, or a bad worker count', async () => {
    await expect(exploreWithWorkers(ref({ devices: 2, pages: 2 }), { workers: 0 })).rejects.toThrow(
      /workers/,
    );
    await expect(
      exploreWithWorkers({ module: ref({ devices: 1, pages: 1 }).module, factory: 'nope', params: {} }),
    ).rejects.toThrow(/exports no function nope/);
    await expect(
      exploreWithWorkers({
        module: pathToFileURL(join(repoRoot, 'test/fixtures/models/boxed-ats.ts')).href,
        factory: 'createBoxedAtsStuck',
        params: { devices: 1, pages: 1 },
      }),
    ).rejects.toThrow(/neither a codec nor a transfer/);
  });
});
