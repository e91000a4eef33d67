/**
 * The explorer on worker threads, and shard result files.
 *
 * `exploreWithWorkers(ref, { workers: N })` runs a level-synchronous breadth-first search on N
 * worker threads (explore-worker.ts) that share one visited set: a lock-free fingerprint table in a
 * SharedArrayBuffer (explore/shared-fingerprint-table.ts). A worker expands the states of its own
 * queue; a successor that its insert finds new goes on the same worker's queue, so no state moves
 * between threads while a level runs. At the end of each level this thread runs the barrier: it
 * decides on limits, violations and an empty frontier, and evens out the queues by telling workers
 * with more than their share to send the surplus to those with less (packed by the model's codec,
 * or as structured clones of the model's `transfer` form). When the table passes 3/4 full, every
 * worker pauses at a safe point (between two expansions, or while it waits), this thread rehashes
 * into a table twice the size and hands it out. Each worker keeps the parent and action of the
 * states it stored (global id = local id * N + worker); at the end this thread rebuilds
 * counterexamples by asking the workers for parent pointers and re-executing the model here.
 *
 * The memory budget is one `SharedMemoryBudget` for the table and every worker's queue and trace
 * chunks. The model travels as a `ModelRef` (module URL, factory, params), since functions cannot
 * be posted to a worker; it needs a codec or a `transfer`.
 *
 * (An earlier design partitioned the fingerprints between workers by owner and sent each
 * successor to its owner: on this project's 2-vCPU machine it reached 1.1x one thread on D=3 P=4,
 * the traffic costing about what it saved.)
 *
 * Shards: `runShardToFile` runs `shard i/n` (explore/shard.ts) and writes its JSON result file;
 * `mergeShardFiles` reads n of them and merges.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { MessagePort } from 'node:worker_threads';
import { MessageChannel, Worker } from 'node:worker_threads';
import {
  DEFAULT_MEMORY_BUDGET,
  nowMs,
  PROGRESS_PERIOD_MS,
  SHARED_BUDGET_WORDS,
  SharedMemoryBudget,
} from '../explore/limits.js';
import type { StopReason } from '../explore/limits.js';
import type { Model, ModelRef } from '../explore/model.js';
import type { ExploreOptions } from '../explore/options.js';
import type { ExploreResult, Violation } from '../explore/result.js';
import { collisionEstimate, coverageOf } from '../explore/result.js';
import type { MergedShards, ShardOptions, ShardResult, ShardSpec } from '../explore/shard.js';
import { mergeShards, runShard } from '../explore/shard.js';
import { SharedFingerprintTable } from '../explore/shared-fingerprint-table.js';
import { replay } from '../explore/trace.js';
import { NO_PARENT } from '../explore/fingerprint-set.js';

/** Layout of the shared control array: [0, N) wake counters, then words on cache lines of their own. */
export const MAX_WORKERS = 256;
/** The stop code (STOP_CODES), 0 while the search runs. */
export const CTRL_STOP = MAX_WORKERS;
/** States stored by all workers (published in batches). */
export const CTRL_COUNT = MAX_WORKERS + 16;
/** 1 while a table change is asked for: every worker pauses at its next safe point. */
export const CTRL_GROW = MAX_WORKERS + 32;
/** The stored count at which a worker asks for a bigger table. */
export const CTRL_GROW_AT = MAX_WORKERS + 33;
/** The shared memory budget's words (KiB in use, peak). */
export const CTRL_BUDGET = MAX_WORKERS + 48;
/** Per worker: 1 while it has run out of states of the level and asks a peer for some of theirs. */
export const CTRL_HUNGRY = CTRL_BUDGET + SHARED_BUDGET_WORDS + 14;
/** Per worker: the number of levels whose own states it has expanded (depth + 1 after level depth). */
export const CTRL_DONE = CTRL_HUNGRY + MAX_WORKERS;
const CTRL_WORDS = CTRL_DONE + MAX_WORKERS;
/** Workers add to the shared stored count in batches of this many states. */
export const COUNT_BATCH = 64;
/** The table grows past this load, and never passes the hard one. */
const GROW_LOAD = 0.75;
const HARD_LOAD = 0.9;
/**
 * The table starts at 2^22 slots (32 MiB; the OS maps its pages as they are first written), or
 * less within a small budget: every growth stops all workers while this thread rehashes, and a
 * search of a few million states (the bench's 1.8 M) then needs none.
 */
const START_TABLE_BITS = 22;
const MIN_TABLE_BITS = 16;
const MAX_TABLE_BITS = 30;

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
  readonly table: SharedArrayBuffer;
  readonly control: MessagePort;
  /** peers[j]: the port to worker j (null at me). */
  readonly peers: readonly (MessagePort | null)[];
  /** The shared budget's limit in bytes. */
  readonly memoryBudget: number;
  readonly maxStates: number;
  readonly violations: 'first' | 'all';
  readonly maxViolations: number;
  readonly progressPeriodMs: number;
}

export interface FoundReport {
  readonly invariantName: string;
  readonly depth: number;
  readonly fingerprint: string;
  readonly gid: number;
}

/** How many states a worker sends to a peer at a level barrier. */
export interface Transfer {
  readonly to: number;
  readonly count: number;
}

/**
 * Between workers: states, each with its global id, packed by the codec (`words`: per state its id
 * then the codec's words) or as `transfer` values. At a level barrier they even out the queues
 * (`share: false`, queued for the next level); within a level they are states of that level given
 * to a worker that ran out (`share: true`, expanded at once).
 */
export type PeerMessage =
  | { t: 'words'; buf: ArrayBufferLike; n: number; share: boolean }
  | { t: 'values'; gids: number[]; values: unknown[]; share: boolean };

export type ControlMessage =
  | { t: 'go'; send: Transfer[]; recv: number }
  | { t: 'stop' }
  | { t: 'table'; buffer: SharedArrayBuffer }
  | { t: 'parent'; gid: number };

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
  | { t: 'paused'; me: number }
  | {
      t: 'final';
      me: number;
      states: number;
      transitions: number;
      queue: number;
      depthCompleted: number;
      maxStored: number;
      fired: number[];
      fresh: number[];
      found: FoundReport[];
      violated: string[];
      /** Traffic and waiting, for tuning. */
      stats: Record<string, number>;
    }
  | { t: 'parent'; gid: number; parent: number; action: number }
  | { t: 'error'; me: number; message: string };

type FinalReport = Extract<WorkerReport, { t: 'final' }>;
type LevelReport = Extract<WorkerReport, { t: 'level' }>;

export interface WorkerExploreOptions<S = unknown> extends Omit<
  ExploreOptions,
  'strategy' | 'split' | 'collectFingerprints'
> {
  /** Worker threads (default 2). */
  readonly workers?: number;
  /** Override the worker script (a URL); by default the built entry, or the tsx shim under tsx. */
  readonly workerUrl?: URL;
  /**
   * This thread's copy of the model `ref` names, when the caller already has one (it rebuilds the
   * counterexamples); by default it is loaded from `ref`.
   */
  readonly model?: Model<S>;
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
  return await (factory as (p: unknown) => Model<unknown> | Promise<Model<unknown>>)(ref.params);
}

/**
 * Who sends how many states to whom so that every queue holds its share (within `slack`): the
 * workers above their share give to those below, greedily. Empty when the queues are even enough.
 */
export function rebalancePlan(queues: readonly number[], slack: number): Transfer[][] {
  const N = queues.length;
  const total = queues.reduce((a, b) => a + b, 0);
  const share = (i: number): number => Math.floor(total / N) + (i < total % N ? 1 : 0);
  const plan: Transfer[][] = queues.map(() => []);
  if (!queues.some((q, i) => Math.abs(q - share(i)) > slack)) return plan;
  const need = queues.map((q, i) => share(i) - q);
  let r = 0;
  for (let d = 0; d < N; d++) {
    let surplus = -need[d]!;
    while (surplus > 0) {
      while (r < N && need[r]! <= 0) r++;
      if (r === N) break;
      const n = Math.min(surplus, need[r]!);
      plan[d]!.push({ to: r, count: n });
      need[r]! -= n;
      surplus -= n;
    }
  }
  return plan;
}

/** Breadth-first search on `workers` threads sharing one fingerprint table. */
export async function exploreWithWorkers<S = unknown>(
  ref: ModelRef,
  options: WorkerExploreOptions<S> = {},
): Promise<ExploreResult<S>> {
  const N = options.workers ?? 2;
  if (!Number.isInteger(N) || N < 1 || N > MAX_WORKERS)
    throw new Error(`workers: ${N} is not in 1..${MAX_WORKERS}`);
  const model = options.model ?? ((await loadModel(ref)) as Model<S>);
  if (!model.codec && !model.transfer)
    throw new Error(`workers: model ${model.name} has neither a codec nor a transfer`);
  const t0 = nowMs();
  const limit = options.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
  const ctrlSab = new SharedArrayBuffer(4 * CTRL_WORDS);
  const ctrl = new Int32Array(ctrlSab);
  const budget = new SharedMemoryBudget(ctrl, CTRL_BUDGET, limit);
  let bits = START_TABLE_BITS;
  const want = Math.ceil((options.expectedStates ?? 1 << 15) / GROW_LOAD);
  while (2 ** bits < want && bits < MAX_TABLE_BITS) bits++;
  while (bits > MIN_TABLE_BITS && SharedFingerprintTable.bytesFor(bits) > limit / 4) bits--;
  let table = SharedFingerprintTable.create(bits);
  budget.charge(table.byteLength);
  let hardAt = Math.floor(table.capacity * HARD_LOAD);
  Atomics.store(ctrl, CTRL_GROW_AT, Math.floor(table.capacity * GROW_LOAD));

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
      table: table.buffer,
      control: ch.port2,
      peers,
      memoryBudget: limit,
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

  /** Every worker has paused: grow the table if it is due (or stop when the budget forbids), then resume them. */
  let paused = 0;
  let grows = 0;
  const growAndResume = (): void => {
    const count = Atomics.load(ctrl, CTRL_COUNT);
    if (count >= Atomics.load(ctrl, CTRL_GROW_AT)) {
      const nb = table.bits + 1;
      if (nb <= MAX_TABLE_BITS && budget.tryCharge(SharedFingerprintTable.bytesFor(nb))) {
        const bigger = SharedFingerprintTable.create(nb);
        bigger.rehashFrom(table);
        budget.release(table.byteLength);
        table = bigger;
        grows++;
        hardAt = Math.floor(table.capacity * HARD_LOAD);
        Atomics.store(ctrl, CTRL_GROW_AT, Math.floor(table.capacity * GROW_LOAD));
      } else if (count >= hardAt) stopWith('memory');
      else Atomics.store(ctrl, CTRL_GROW_AT, hardAt);
    }
    Atomics.store(ctrl, CTRL_GROW, 0);
    for (let j = 0; j < N; j++) send(j, { t: 'table', buffer: table.buffer });
  };

  const finals = new Array<FinalReport | undefined>(N);
  const progress = new Map<number, Extract<WorkerReport, { t: 'progress' }>>();
  const levels = new Map<number, LevelReport[]>();
  let mainStop: StopReason | null = null;
  let moved = 0;
  const parentWaiters = new Map<number, (r: { parent: number; action: number }) => void>();
  let lastProgress = t0;

  /** All workers finished level `depth`: stop, or release the next level with a plan to even the queues. */
  const barrier = (list: readonly LevelReport[], depth: number): void => {
    const stored = list.reduce((n, x) => n + x.stored, 0);
    const found = list.reduce((n, x) => n + x.found, 0);
    const queues = new Array<number>(N).fill(0);
    for (const x of list) queues[x.me] = x.queue;
    const queue = queues.reduce((a, b) => a + b, 0);
    let go = true;
    if (Atomics.load(ctrl, CTRL_STOP) !== 0 || queue === 0) go = false;
    else if (found > 0 && (options.violations ?? 'first') === 'first') {
      mainStop = 'violation';
      go = false;
    } else if (stored >= (options.maxStates ?? Infinity)) {
      mainStop = 'max-states';
      go = false;
    } else if (depth + 1 >= (options.maxDepth ?? Infinity)) {
      mainStop = 'max-depth';
      go = false;
    }
    if (!go) {
      for (let j = 0; j < N; j++) send(j, { t: 'stop' });
      return;
    }
    const plan = rebalancePlan(queues, Math.max(16, Math.floor(queue / N / 16)));
    const recv = new Array<number>(N).fill(0);
    for (const sends of plan)
      for (const x of sends) {
        recv[x.to]! += x.count;
        moved += x.count;
      }
    for (let j = 0; j < N; j++) send(j, { t: 'go', send: plan[j]!, recv: recv[j]! });
  };

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
            case 'paused':
              if (++paused === N) {
                paused = 0;
                growAndResume();
              }
              return;
            case 'level': {
              const list = levels.get(m.depth) ?? [];
              list.push(m);
              levels.set(m.depth, list);
              if (list.length < N) return;
              levels.delete(m.depth);
              barrier(list, m.depth);
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
    const violations: Violation<S>[] = [];
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
      const trace = replay(model, { initial, actions }, v.fingerprint);
      violations.push({
        invariant: model.invariants.indexOf(v.invariantName),
        invariantName: v.invariantName,
        depth: v.depth,
        fingerprint: v.fingerprint,
        trace,
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
    const peakBytes = budget.peak;
    if (debug)
      console.error(
        { moved, grows, bits: table.bits },
        fs.map((f) => f.stats),
      );
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
      invariantsViolated: [...new Set(fs.flatMap((f) => f.violated))].sort(),
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
