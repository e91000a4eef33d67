/**
 * Shards: `shard i/n` runs slice i (0-based) of n independent searches that share nothing while
 * they run (no cluster manager, no messages): each writes a result file, and `mergeShards`
 * combines the files.
 *
 * Two kinds of slice:
 *  - `split` (default, exhaustive): every slice runs the same breadth-first prefix up to the first
 *    level with at least 64 n states, expands only the states of that level whose fingerprint it
 *    owns, and everything reachable from them (see `ExploreOptions.split`). The union of the
 *    slices' states is the whole state space; states reachable from several slices' subtrees are
 *    explored more than once (the merge reports the duplication when the files carry fingerprints).
 *  - `swarm` (bug hunting, in the manner of Spin's swarm): every slice runs a depth-first search in
 *    its own seeded random order under the limits, so n slices with a time limit cover more
 *    different ground early than one search n times as long.
 */
import { FingerprintSet } from './fingerprint-set.js';
import { MemoryBudget } from './limits.js';
import type { Model, ModelRef } from './model.js';
import { explore } from './explore.js';
import type { ExploreOptions } from './options.js';
import type { ActionCoverage, ExploreResultJson } from './result.js';
import { resultToJson } from './result.js';

export type ShardMode = 'split' | 'swarm';

export interface ShardSpec {
  /** 0-based. */
  readonly index: number;
  readonly count: number;
  readonly mode?: ShardMode;
}

export const SHARD_FORMAT = 'atsim-explore-shard/1';

/** What one shard writes. */
export interface ShardResult {
  readonly format: typeof SHARD_FORMAT;
  readonly shard: { readonly index: number; readonly count: number; readonly mode: ShardMode };
  readonly model: string;
  readonly modelRef?: ModelRef;
  readonly seed: number;
  readonly result: ExploreResultJson;
  /** The slice's sorted fingerprints, 8 big-endian bytes each, base64 (with `fingerprints: true`). */
  readonly fingerprints?: string;
}

/** Parses `i/n` (0 <= i < n). */
export function parseShard(text: string, mode: ShardMode = 'split'): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new Error(`shard: expected i/n, got "${text}"`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index >= count) throw new Error(`shard: ${text}: need 0 <= i < n`);
  return { index, count, mode };
}

export interface ShardOptions extends ExploreOptions {
  /** Put the slice's fingerprints in the result (to count the union exactly at merge). */
  readonly fingerprints?: boolean;
  readonly modelRef?: ModelRef;
}

/** Runs slice `spec` of `model`. */
export function runShard<S>(model: Model<S>, spec: ShardSpec, options: ShardOptions = {}): ShardResult {
  const mode = spec.mode ?? 'split';
  if (!(
    Number.isInteger(spec.index) &&
    Number.isInteger(spec.count) &&
    spec.index >= 0 &&
    spec.index < spec.count
  ))
    throw new Error(`shard: bad slice ${spec.index}/${spec.count}`);
  const baseSeed = options.seed ?? 1;
  const seed = mode === 'swarm' ? (baseSeed + Math.imul(spec.index, 0x9e3779b9)) >>> 0 : baseSeed;
  const { fingerprints, modelRef, ...rest } = options;
  const r =
    mode === 'split'
      ? explore(model, {
          ...rest,
          strategy: 'bfs',
          split: { index: spec.index, count: spec.count },
          collectFingerprints: fingerprints === true,
        })
      : explore(model, { ...rest, strategy: 'dfs', shuffle: true, seed });
  return {
    format: SHARD_FORMAT,
    shard: { index: spec.index, count: spec.count, mode },
    model: model.name,
    ...(modelRef ? { modelRef } : {}),
    seed,
    result: resultToJson(model, r),
    ...(r.fingerprints ? { fingerprints: encodeFingerprints(r.fingerprints) } : {}),
  };
}

export interface MergedShards {
  readonly model: string;
  readonly count: number;
  readonly mode: ShardMode;
  /** Slice indices with no result. */
  readonly missing: readonly number[];
  readonly perShard: readonly {
    readonly index: number;
    readonly states: number;
    readonly transitions: number;
    readonly stopReason: string;
    readonly elapsedMs: number;
  }[];
  /** Sum over slices (states explored by several slices count once per slice). */
  readonly statesSum: number;
  readonly transitionsSum: number;
  /** Distinct states over all slices (only when every slice carries its fingerprints). */
  readonly distinctUnion?: number;
  /** statesSum / distinctUnion. */
  readonly duplication?: number;
  /** Split slices: all present and each explored its slice to the end. */
  readonly complete: boolean;
  /** Violations of all slices, one per (invariant, state), the shortest trace kept. */
  readonly violations: ExploreResultJson['violations'];
  /** Every invariant some slice's stored state violates (the union of their `invariantsViolated`). */
  readonly invariantsViolated: readonly string[];
  readonly coverage: readonly ActionCoverage[];
  /** Actions no slice ever fired. */
  readonly neverFired: readonly string[];
}

/** Combines shard results (of one model and one `n`). */
export function mergeShards(shards: readonly ShardResult[]): MergedShards {
  const first = shards[0];
  if (!first) throw new Error('merge: no shard results');
  const count = first.shard.count;
  const mode = first.shard.mode;
  const byIndex = new Map<number, ShardResult>();
  for (const s of shards) {
    const format: unknown = (s as { format?: unknown }).format;
    if (format !== SHARD_FORMAT) throw new Error(`merge: not a shard result (format ${String(format)})`);
    if (s.model !== first.model) throw new Error(`merge: models differ: ${first.model} and ${s.model}`);
    if (s.shard.count !== count || s.shard.mode !== mode)
      throw new Error(
        `merge: slices of different runs (${mode} 1/${count} and ${s.shard.mode} 1/${s.shard.count})`,
      );
    if (byIndex.has(s.shard.index)) throw new Error(`merge: slice ${s.shard.index} given twice`);
    byIndex.set(s.shard.index, s);
  }
  const missing: number[] = [];
  for (let i = 0; i < count; i++) if (!byIndex.has(i)) missing.push(i);
  const sorted = [...byIndex.values()].sort((a, b) => a.shard.index - b.shard.index);

  let distinctUnion: number | undefined;
  if (sorted.every((s) => s.fingerprints !== undefined)) {
    const budget = new MemoryBudget(Number.MAX_SAFE_INTEGER);
    const set = new FingerprintSet(budget, { trace: false });
    for (const s of sorted) {
      const fps = decodeFingerprints(s.fingerprints!);
      for (let i = 0; i < fps.length; i += 2) set.add(fps[i]!, fps[i + 1]!, 0, 0);
    }
    distinctUnion = set.size;
    set.dispose();
  }

  const violations = new Map<string, ExploreResultJson['violations'][number]>();
  for (const s of sorted)
    for (const v of s.result.violations) {
      const key = `${v.invariant}@${v.fingerprint}`;
      const old = violations.get(key);
      if (!old || v.depth < old.depth) violations.set(key, v);
    }

  // A slice file written before `invariantsViolated` existed names only its recorded violations.
  const violated = new Set<string>();
  for (const s of sorted)
    for (const id of (s.result as { invariantsViolated?: readonly string[] }).invariantsViolated ??
      s.result.violations.map((v) => v.invariant))
      violated.add(id);

  const cov = new Map<number, { action: number; label: string; fired: number; newStates: number }>();
  for (const s of sorted)
    for (const c of s.result.coverage) {
      const e = cov.get(c.action) ?? { action: c.action, label: c.label, fired: 0, newStates: 0 };
      e.fired += c.fired;
      e.newStates += c.newStates;
      cov.set(c.action, e);
    }
  const coverage = [...cov.values()].sort((a, b) => a.action - b.action);

  const statesSum = sorted.reduce((n, s) => n + s.result.states, 0);
  return {
    model: first.model,
    count,
    mode,
    missing,
    perShard: sorted.map((s) => ({
      index: s.shard.index,
      states: s.result.states,
      transitions: s.result.transitions,
      stopReason: s.result.stopReason,
      elapsedMs: s.result.elapsedMs,
    })),
    statesSum,
    transitionsSum: sorted.reduce((n, s) => n + s.result.transitions, 0),
    ...(distinctUnion === undefined
      ? {}
      : { distinctUnion, duplication: distinctUnion > 0 ? statesSum / distinctUnion : 1 }),
    complete:
      mode === 'split' &&
      missing.length === 0 &&
      sorted.every((s) => s.result.stopReason === 'exhausted' || s.result.stopReason === 'max-depth'),
    violations: [...violations.values()].sort((a, b) => a.depth - b.depth),
    invariantsViolated: [...violated].sort(),
    coverage,
    neverFired: coverage.filter((c) => c.fired === 0).map((c) => c.label),
  };
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Fingerprints [hi, lo, ...] as base64 of 8 big-endian bytes each. */
export function encodeFingerprints(words: Uint32Array): string {
  const bytes = new Uint8Array(words.length * 4);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    bytes[4 * i] = w >>> 24;
    bytes[4 * i + 1] = (w >>> 16) & 255;
    bytes[4 * i + 2] = (w >>> 8) & 255;
    bytes[4 * i + 3] = w & 255;
  }
  const out: string[] = [];
  let line = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i]!;
    const b = i + 1 < bytes.length ? bytes[i + 1]! : 0;
    const c = i + 2 < bytes.length ? bytes[i + 2]! : 0;
    line += B64[a >> 2]! + B64[((a & 3) << 4) | (b >> 4)]!;
    line += i + 1 < bytes.length ? B64[((b & 15) << 2) | (c >> 6)]! : '=';
    line += i + 2 < bytes.length ? B64[c & 63]! : '=';
    if (line.length >= 4096) {
      out.push(line);
      line = '';
    }
  }
  out.push(line);
  return out.join('');
}

export function decodeFingerprints(text: string): Uint32Array {
  const rev = new Int16Array(128).fill(-1);
  for (let i = 0; i < B64.length; i++) rev[B64.charCodeAt(i)] = i;
  const clean = text.replace(/=+$/, '');
  const bytes = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < clean.length; i++) {
    const v = rev[clean.charCodeAt(i)] ?? -1;
    if (v < 0) throw new Error('fingerprints: not base64');
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[o++] = (acc >> bits) & 255;
    }
  }
  if (o % 8 !== 0) throw new Error('fingerprints: not a whole number of 8-byte fingerprints');
  const words = new Uint32Array(o / 4);
  for (let i = 0; i < words.length; i++)
    words[i] =
      ((bytes[4 * i]! << 24) | (bytes[4 * i + 1]! << 16) | (bytes[4 * i + 2]! << 8) | bytes[4 * i + 3]!) >>>
      0;
  return words;
}
