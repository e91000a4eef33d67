/**
 * The explorer on worker threads, and shard result files.
 *
 * `exploreWithWorkers(ref, { workers: N })` runs a level-synchronous breadth-first search on N
 * worker threads that partition the fingerprint space by owner (`ownerOf(fp, N)`): each keeps the
 * states it owns in its own fingerprint set and queue, and routes successors it does not own, in
 * batches over MessagePorts, to their owners (see explore-worker.ts). This thread runs the level
 * barrier (after each level it decides on limits, violations and an empty frontier) and, at the
 * end, rebuilds counterexamples by asking the workers for parent pointers and re-executing the
 * model here. The model travels as a `ModelRef` (module URL, factory, params) since functions
 * cannot be posted to a worker; it must have a codec. The memory budget is split evenly between
 * the workers.
 *
 * (A shared lock-free table in a SharedArrayBuffer, every worker inserting with compare-and-swap,
 * was measured too: on this project's 2-vCPU machine both designs gave 1.05-1.3x one thread on
 * D=3 P=4, the shared table losing to cache lines written by both cores, this one to the traffic;
 * this one is simpler, needs no stop-the-world table growth and keeps each worker's budget its own.)
 *
 * Shards: `runShardToFile` runs `shard i/n` (explore/shard.ts) and writes its JSON result file;
 * `mergeShardFiles` reads n of them and merges.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { MessagePort } from 'node:worker_threads';
import { MessageChannel, Worker } from 'node:worker_threads';
import { DEFAULT_MEMORY_BUDGET, nowMs, PROGRESS_PERIOD_MS } from '../explore/limits.js';
import type { StopReason } from '../explore/limits.js';
import type { Model, ModelRef } from '../explore/model.js';
import type { ExploreOptions } from '../explore/options.js';
import type { ExploreResult, Violation } from '../explore/result.js';
import { collisionEstimate, coverageOf } from '../explore/result.js';
import type { MergedShards, ShardOptions, ShardResult, ShardSpec } from '../explore/shard.js';
import { mergeShards, runShard } from '../explore/shard.js';
import { replay } from '../explore/trace.js';
import { NO_PARENT } from '../explore/fingerprint-set.js';

/** Layout of the shared control array: [0, N) wake counters, then the stop code and the stored count. */
export const MAX_WORKERS = 256;
export const CTRL_STOP = MAX_WORKERS;
export const CTRL_COUNT = MAX_WORKERS + 16;
const CTRL_WORDS = MAX_WORKERS + 32;
/** Workers add to the shared stored count in batches of this many states. */
export const COUNT_BATCH = 64;

export const STOP_CODES = {
  violation: 1,
  'max-states': 2,
  time: 3,
  memory: 4,
  cancelled: 5,
  error: 6,
} as const;

const STOP_NAMES: Record<number, StopReason> = {
  1: 'violation',
  2: 'max-states',
  3: 'time',
  4: 'memory',
  5: 'cancelled',
};

export interface WorkerInit {
  readonly ref: ModelRef;
  readonly me: number;
  readonly workers: number;
  readonly ctrl: SharedArrayBuffer;
  readonly control: MessagePort;
  /** peers[j]: the port to worker j (null at me). */
  readonly peers: readonly (MessagePort | null)[];
  /** Bytes for this worker's fingerprint set and queue. */
  readonly memoryBudget: number;
  /** States this worker expects to own (sizes its first table; 0: default). */
  readonly expectedStates: number;
  readonly maxStates: number;
  readonly violations: 'first' | 'all';
  readonly maxViolations: number;
  readonly progressPeriodMs: number;
}

export interface FoundReport {
  readonly invariant: number;
  readonly depth: number;
  readonly fingerprint: string;
  readonly gid: number;
}

/** Between workers: a batch of successors (fingerprint, parent's global id, action, codec words each), or the end of a level. */
export type PeerMessage = { t: 'b'; buf: ArrayBufferLike; n: number } | { t: 'e'; depth: number };

export type ControlMessage = { t: 'go' } | { t: 'stop' } | { t: 'parent'; gid: number };

export type WorkerReport =
  | {
      t: 'level';
      me: number;
      depth: number;
      stored: number;
      queue: number;
      transitions: number;
      found: number;
    }
  | { t: 'progress'; me: number; states: number; transitions: number; queue: number; depth: number }
  | {
      t: 'final';
      me: number;
      states: number;
      transitions: number;
      queue: number;
      depthCompleted: number;
      maxStored: number;
      peakBytes: number;
      fired: number[];
      fresh: number[];
      found: FoundReport[];
      /** Traffic and waiting, for tuning. */
      stats: Record<string, number>;
    }
  | { t: 'parent'; gid: number; parent: number; action: number }
  | { t: 'error'; me: number; message: string };

type FinalReport = Extract<WorkerReport, { t: 'final' }>;

export interface WorkerExploreOptions extends Omit<
  ExploreOptions,
  'strategy' | 'split' | 'collectFingerprints'
> {
  /** Worker threads (default 2). */
  readonly workers?: number;
  /** Override the worker script (a URL); by default the built entry, or the tsx shim under tsx. */
  readonly workerUrl?: URL;
}

/**
 * The worker script. From the build: dist/node/explore-worker.js. Under tsx (tests, development),
 * where Node 20 cannot start a .ts worker, a three-line ES module shim that loads the TypeScript
 * entry with tsx's `tsImport`, passed inline as a data: URL (no .mjs file for the linter to trip on).
 */
function defaultWorkerUrl(): URL {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new URL('./explore-worker.js', here);
  const api = import.meta.resolve('tsx/esm/api');
  const shim = [
    `import { tsImport } from ${JSON.stringify(api)};`,
    `await tsImport(${JSON.stringify(new URL('./explore-worker.ts', here).href)}, ${JSON.stringify(here)});`,
  ].join('\n');
  return new URL('data:text/javascript,' + encodeURIComponent(shim));
}

/** Loads the model a `ModelRef` names, in this thread. */
export async function loadModel(ref: ModelRef): Promise<Model<unknown>> {
  const mod = (await import(ref.module)) as Record<string, unknown>;
  const factory = mod[ref.factory];
  if (typeof factory !== 'function') throw new Error(`${ref.module} exports no function ${ref.factory}`);
  return (factory as (p: unknown) => Model<unknown>)(ref.params);
}

/** Breadth-first search on `workers` threads, each owning a share of the fingerprints. */
export async function exploreWithWorkers(
  ref: ModelRef,
  options: WorkerExploreOptions = {},
): Promise<ExploreResult<unknown>> {
  const N = options.workers ?? 2;
  if (!Number.isInteger(N) || N < 1 || N > MAX_WORKERS)
    throw new Error(`workers: ${N} is not in 1..${MAX_WORKERS}`);
  const model = await loadModel(ref);
  if (!model.codec) throw new Error(`workers: model ${model.name} has no codec`);
  const t0 = nowMs();
  const budget = options.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
  const ctrlSab = new SharedArrayBuffer(4 * CTRL_WORDS);
  const ctrl = new Int32Array(ctrlSab);
  const controls: MessagePort[] = [];
  const workers: Worker[] = [];
  const url = options.workerUrl ?? defaultWorkerUrl();
  const peerPorts: (MessagePort | null)[][] = [];
  for (let i = 0; i < N; i++) peerPorts.push(new Array<MessagePort | null>(N).fill(null));
  for (let i = 0; i < N; i++)
    for (let j = i + 1; j < N; j++) {
      const ch = new MessageChannel();
      peerPorts[i]![j] = ch.port1;
      peerPorts[j]![i] = ch.port2;
    }
  for (let i = 0; i < N; i++) {
    const ch = new MessageChannel();
    controls.push(ch.port1);
    const peers = peerPorts[i]!;
    const init: WorkerInit = {
      ref,
      me: i,
      workers: N,
      ctrl: ctrlSab,
      control: ch.port2,
      peers,
      memoryBudget: Math.floor(budget / N),
      expectedStates: Math.ceil((options.expectedStates ?? 0) / N),
      maxStates: options.maxStates ?? Infinity,
      violations: options.violations ?? 'first',
      maxViolations: options.maxViolations ?? 100,
      progressPeriodMs: options.progressPeriodMs ?? PROGRESS_PERIOD_MS,
    };
    const transfer = [ch.port2, ...peers.filter((p): p is MessagePort => p !== null)];
    workers.push(new Worker(url, { workerData: init, transferList: transfer }));
  }

  const wakeAll = (): void => {
    for (let j = 0; j < N; j++) {
      Atomics.add(ctrl, j, 1);
      Atomics.notify(ctrl, j);
    }
  };
  const stopWith = (reason: keyof typeof STOP_CODES): void => {
    if (Atomics.compareExchange(ctrl, CTRL_STOP, 0, STOP_CODES[reason]) === 0) wakeAll();
  };
  const send = (j: number, m: ControlMessage): void => {
    controls[j]!.postMessage(m);
    Atomics.add(ctrl, j, 1);
    Atomics.notify(ctrl, j);
  };

  const finals = new Array<FinalReport | undefined>(N);
  const progress = new Map<number, Extract<WorkerReport, { t: 'progress' }>>();
  const levels = new Map<number, Extract<WorkerReport, { t: 'level' }>[]>();
  let mainStop: StopReason | null = null;
  const parentWaiters = new Map<number, (r: { parent: number; action: number }) => void>();
  let lastProgress = t0;

  const timer =
    options.timeLimitMs === undefined
      ? undefined
      : setTimeout(() => {
          stopWith('time');
        }, options.timeLimitMs);

  try {
    await new Promise<void>((resolve, reject) => {
      let finalCount = 0;
      const fail = (e: Error): void => {
        stopWith('error');
        reject(e);
      };
      for (let i = 0; i < N; i++) {
        workers[i]!.on('error', fail);
        workers[i]!.on('exit', (code) => {
          if (finals[i] === undefined)
            fail(new Error(`worker ${i} exited with code ${code} before reporting`));
        });
        controls[i]!.on('message', (m: WorkerReport) => {
          switch (m.t) {
            case 'error':
              fail(new Error(`worker ${m.me}: ${m.message}`));
              return;
            case 'progress': {
              progress.set(m.me, m);
              const now = nowMs();
              if (
                options.onProgress &&
                now - lastProgress >= (options.progressPeriodMs ?? PROGRESS_PERIOD_MS)
              ) {
                lastProgress = now;
                let states = 0;
                let transitions = 0;
                let queue = 0;
                let depth = 0;
                for (const p of progress.values()) {
                  states += p.states;
                  transitions += p.transitions;
                  queue += p.queue;
                  depth = Math.max(depth, p.depth);
                }
                const elapsedMs = now - t0;
                const ok = options.onProgress({
                  states,
                  transitions,
                  statesPerSecond: elapsedMs > 0 ? (states * 1000) / elapsedMs : 0,
                  depth,
                  queue,
                  elapsedMs,
                });
                if (ok === false) stopWith('cancelled');
              }
              return;
            }
            case 'level': {
              const list = levels.get(m.depth) ?? [];
              list.push(m);
              levels.set(m.depth, list);
              if (list.length < N) return;
              levels.delete(m.depth);
              const stored = list.reduce((n, x) => n + x.stored, 0);
              const queue = list.reduce((n, x) => n + x.queue, 0);
              const found = list.reduce((n, x) => n + x.found, 0);
              let go = true;
              if (Atomics.load(ctrl, CTRL_STOP) !== 0 || queue === 0) go = false;
              else if (found > 0 && (options.violations ?? 'first') === 'first') {
                mainStop = 'violation';
                go = false;
              } else if (stored >= (options.maxStates ?? Infinity)) {
                mainStop = 'max-states';
                go = false;
              } else if (m.depth + 1 >= (options.maxDepth ?? Infinity)) {
                mainStop = 'max-depth';
                go = false;
              }
              for (let j = 0; j < N; j++) send(j, { t: go ? 'go' : 'stop' });
              return;
            }
            case 'final':
              finals[m.me] = m;
              if (++finalCount === N) resolve();
              return;
            case 'parent': {
              const w = parentWaiters.get(m.gid);
              parentWaiters.delete(m.gid);
              w?.({ parent: m.parent, action: m.action });
              return;
            }
          }
        });
      }
    });
    if (timer) clearTimeout(timer);
    const fs = finals as FinalReport[];
    const code = Atomics.load(ctrl, CTRL_STOP);
    const frontier = fs.reduce((n, f) => n + f.queue, 0);
    const stopReason: StopReason = STOP_NAMES[code] ?? mainStop ?? (frontier > 0 ? 'max-depth' : 'exhausted');

    const parentOf = (gid: number): Promise<{ parent: number; action: number }> =>
      new Promise((resolve) => {
        parentWaiters.set(gid, resolve);
        controls[gid % N]!.postMessage({ t: 'parent', gid } satisfies ControlMessage);
      });
    const all = fs.flatMap((f) => f.found).sort((a, b) => a.depth - b.depth);
    const keep =
      (options.violations ?? 'first') === 'first'
        ? all.slice(0, 1)
        : all.slice(0, options.maxViolations ?? 100);
    const violations: Violation<unknown>[] = [];
    for (const v of keep) {
      const actions: number[] = [];
      let gid = v.gid;
      let initial = 0;
      for (;;) {
        const r = await parentOf(gid);
        if (r.parent === NO_PARENT) {
          initial = r.action;
          break;
        }
        actions.push(r.action);
        gid = r.parent;
      }
      actions.reverse();
      violations.push({
        invariant: v.invariant,
        invariantName: model.invariants[v.invariant] ?? `#${v.invariant}`,
        depth: v.depth,
        fingerprint: v.fingerprint,
        trace: replay(model, { initial, actions }, v.fingerprint),
      });
    }

    const fired = new Float64Array(model.actionCount);
    const fresh = new Float64Array(model.actionCount);
    for (const f of fs)
      for (let a = 0; a < model.actionCount; a++) {
        fired[a]! += f.fired[a] ?? 0;
        fresh[a]! += f.fresh[a] ?? 0;
      }
    const states = fs.reduce((n, f) => n + f.states, 0);
    const transitions = fs.reduce((n, f) => n + f.transitions, 0);
    const peakBytes = fs.reduce((n, f) => n + f.peakBytes, 0);
    if (debug) console.error(fs.map((f) => f.stats));
    const elapsedMs = nowMs() - t0;
    const secs = elapsedMs / 1000;
    return {
      model: model.name,
      strategy: 'bfs',
      workers: N,
      stopReason,
      complete: stopReason === 'exhausted',
      states,
      transitions,
      depthCompleted: Math.min(...fs.map((f) => f.depthCompleted)),
      maxDepth: Math.max(...fs.map((f) => f.maxStored)),
      frontier,
      elapsedMs,
      statesPerSecond: secs > 0 ? states / secs : 0,
      transitionsPerSecond: secs > 0 ? transitions / secs : 0,
      peakBytes,
      bytesPerState: states > 0 ? peakBytes / states : 0,
      collision: collisionEstimate(states, transitions),
      violations,
      coverage: coverageOf(model, fired, fresh),
    };
  } finally {
    if (timer) clearTimeout(timer);
    for (const c of controls) c.close();
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

const debug = process.env.ATSIM_EXPLORE_DEBUG !== undefined;

/** Runs `shard` of the model `ref` names and writes its result file (JSON). */
export async function runShardToFile(
  ref: ModelRef,
  shard: ShardSpec,
  file: string,
  options: ShardOptions = {},
): Promise<ShardResult> {
  const model = await loadModel(ref);
  const result = runShard(model, shard, { ...options, modelRef: ref });
  writeShardFile(file, result);
  return result;
}

export function writeShardFile(file: string, result: ShardResult): void {
  writeFileSync(file, JSON.stringify(result) + '\n');
}

export function readShardFile(file: string): ShardResult {
  return JSON.parse(readFileSync(file, 'utf8')) as ShardResult;
}

/** Reads shard result files and merges them. */
export function mergeShardFiles(files: readonly string[]): MergedShards {
  return mergeShards(files.map(readShardFile));
}
