import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bfs } from '../../../src/explore/bfs.js';
import { AtsReference } from '../../../src/explore/models/ats-reference.js';
import {
  decodeFingerprints,
  encodeFingerprints,
  mergeShards,
  parseShard,
  runShard,
} from '../../../src/explore/shard.js';
import { mergeShardFiles, readShardFile, runShardToFile } from '../../../src/node/explore-workers.js';
import { repoRoot } from '../../helpers/paths.js';

const ats = (devices: number, pages: number, bug = false): AtsReference =>
  new AtsReference({ devices, pages, ...(bug ? { bug: 'flr-keeps-atc' as const } : {}) });

describe('shards', () => {
  it('parses i/n', () => {
    expect(parseShard('2/5')).toEqual({ index: 2, count: 5, mode: 'split' });
    expect(parseShard(' 0 / 1 ', 'swarm')).toEqual({ index: 0, count: 1, mode: 'swarm' });
    expect(() => parseShard('5/5')).toThrow(/0 <= i < n/);
    expect(() => parseShard('1of2')).toThrow(/i\/n/);
  });

  it('round-trips fingerprints through base64', () => {
    const w = new Uint32Array([0, 0, 0xffffffff, 1, 0x80000000, 0x7fffffff, 12345, 67890]);
    expect(decodeFingerprints(encodeFingerprints(w))).toEqual(w);
    expect(decodeFingerprints(encodeFingerprints(new Uint32Array(0)))).toEqual(new Uint32Array(0));
  });

  it('split slices: their union is exactly the single run, whatever the number of slices', () => {
    const single = bfs(ats(3, 3), { collectFingerprints: true });
    const all = new Set<string>();
    const fps = single.fingerprints!;
    for (let i = 0; i < fps.length; i += 2) all.add(`${fps[i]}:${fps[i + 1]}`);
    for (const n of [1, 2, 5]) {
      const shards = Array.from({ length: n }, (_, i) =>
        runShard(ats(3, 3), { index: i, count: n }, { fingerprints: true }),
      );
      const union = new Set<string>();
      for (const s of shards) {
        const f = decodeFingerprints(s.fingerprints!);
        for (let i = 0; i < f.length; i += 2) union.add(`${f[i]}:${f[i + 1]}`);
      }
      expect(union).toEqual(all);
      const m = mergeShards(shards);
      expect(m.distinctUnion).toBe(55_563);
      expect(m.complete).toBe(true);
      expect(m.missing).toEqual([]);
      expect(m.statesSum).toBeGreaterThanOrEqual(55_563);
      expect(m.duplication).toBeCloseTo(m.statesSum / 55_563, 10);
      expect(m.neverFired).toEqual([]);
      if (n > 1) {
        // Each slice did part of the work, not all of it.
        for (const s of shards) expect(s.result.states).toBeLessThan(55_563);
        expect(shards.every((s) => (s.result.split?.skipped ?? 0) > 0)).toBe(true);
      }
    }
  });

  it('merge: a missing slice makes the result incomplete; slices of different runs are refused', () => {
    const a = runShard(ats(2, 2), { index: 0, count: 2 });
    const b = runShard(ats(2, 2), { index: 1, count: 2 });
    const m = mergeShards([a]);
    expect(m.missing).toEqual([1]);
    expect(m.complete).toBe(false);
    expect(m.distinctUnion).toBeUndefined();
    expect(mergeShards([b, a]).perShard.map((s) => s.index)).toEqual([0, 1]);
    expect(() => mergeShards([a, a])).toThrow(/twice/);
    expect(() => mergeShards([a, runShard(ats(2, 2), { index: 0, count: 3 })])).toThrow(/different runs/);
    expect(() => mergeShards([a, runShard(ats(2, 3), { index: 1, count: 2 })])).toThrow(/models differ/);
  });

  it('split slices find the bug; the merge keeps one violation per state, the shortest trace', () => {
    const shards = [0, 1, 2].map((i) =>
      runShard(ats(3, 3, true), { index: i, count: 3 }, { violations: 'all' }),
    );
    const m = mergeShards(shards);
    expect(m.violations.length).toBeGreaterThan(0);
    expect(m.violations[0]!.depth).toBe(6);
    expect(new Set(m.violations.map((v) => v.fingerprint)).size).toBe(m.violations.length);
    // The union of the slices' own lists, which name every invariant they saw violated.
    const union = [...new Set(shards.flatMap((s) => s.result.invariantsViolated))].sort();
    expect(union.length).toBeGreaterThan(0);
    expect(m.invariantsViolated).toEqual(union);
    expect(m.invariantsViolated).toEqual([...new Set(m.violations.map((v) => v.invariant))].sort());
    // A slice file from before the field existed: its recorded violations name the invariants.
    const old = shards.map((s) => {
      const { invariantsViolated: _dropped, ...rest } = s.result;
      return { ...s, result: rest as typeof s.result };
    });
    expect(mergeShards(old).invariantsViolated).toEqual(union);
  });

  it('swarm slices: diversified seeded depth-first orders, each finds the bug', () => {
    const shards = [0, 1, 2, 3].map((i) => runShard(ats(3, 3, true), { index: i, count: 4, mode: 'swarm' }));
    expect(new Set(shards.map((s) => s.seed)).size).toBe(4);
    for (const s of shards) expect(s.result.stopReason).toBe('violation');
    const m = mergeShards(shards);
    expect(m.mode).toBe('swarm');
    expect(m.complete).toBe(false);
    expect(m.violations.length).toBeGreaterThan(0);
  });

  it('writes result files and merges them from disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atsim-shards-'));
    try {
      const ref = {
        module: pathToFileURL(join(repoRoot, 'src/explore/models/ats-reference.ts')).href,
        factory: 'createAtsReference',
        params: { devices: 2, pages: 3 },
      };
      const files: string[] = [];
      for (let i = 0; i < 3; i++) {
        const f = join(dir, `shard-${i}.json`);
        await runShardToFile(ref, { index: i, count: 3 }, f, { fingerprints: true });
        files.push(f);
      }
      const r = readShardFile(files[0]!);
      expect(r.format).toBe('atsim-explore-shard/1');
      expect(r.modelRef).toEqual(ref);
      const m = mergeShardFiles(files);
      expect(m.distinctUnion).toBe(bfs(ats(2, 3)).states);
      expect(m.complete).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
