/**
 * One worker of `exploreWithWorkers` (explore-workers.ts): a level-synchronous breadth-first search
 * over the states whose fingerprint this worker owns (`ownerOf(fp, workers) === me`), in its own
 * private fingerprint set and queue.
 *
 * Per level: expand the local queue; a successor owned here is looked up (and stored) at once; one
 * owned by worker j is packed (fingerprint, parent's global id, action, codec words) into a batch
 * for j and sent over a MessagePort when the batch is full (the buffer is transferred, not
 * copied). A lossy cache of fingerprints already sent to j skips most duplicates. Between
 * expansions, and at the end of the level, the worker takes in the batches sent to it. At the end
 * of the level it sends every peer an end marker, takes in batches until it has every peer's
 * marker (ports are FIFO, so it then has all of that level's states), reports to the main thread
 * and blocks until told to go on or stop. A blocked worker sleeps in Atomics.wait on its counter
 * in the control SharedArrayBuffer, which every sender bumps after posting.
 *
 * No table is shared, so no cache line is written by two threads; the cost is the traffic of the
 * successors owned elsewhere (about (N-1)/N of them, less the cache hits).
 *
 * Ids: states get local ids in the order they are stored, and every state of depth d is stored
 * before any of depth d + 1 (a peer can only send depth d + 2 after this worker passed the barrier
 * of level d), so the FIFO queue pops states in id order and the id of the state being expanded is
 * a counter. Global id = local id * workers + worker index; parent pointers cross workers and the
 * main thread follows them by asking each worker (after the search) for a state's parent and action.
 */
import type { MessagePort } from 'node:worker_threads';
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { FingerprintSet, FULL, NO_PARENT } from '../explore/fingerprint-set.js';
import { StateDeque } from '../explore/frontier.js';
import { CLOCK_EVERY, MemoryBudget, nowMs } from '../explore/limits.js';
import type { Model } from '../explore/model.js';
import { fpHex } from '../explore/model.js';
import { ownerOf } from '../explore/options.js';
import type {
  ControlMessage,
  FoundReport,
  PeerMessage,
  WorkerInit,
  WorkerReport,
} from './explore-workers.js';
import { COUNT_BATCH, CTRL_COUNT, CTRL_STOP, STOP_CODES } from './explore-workers.js';

/** Successors per batch sent to a peer. */
const BATCH = 2048;
/** Entries (2^bits) of the per-peer cache of fingerprints already sent. */
const SENT_CACHE_BITS = 16;
/** Expansions between two looks at the peer ports. */
const DRAIN_EVERY = 256;

async function main(init: WorkerInit): Promise<void> {
  const mod = (await import(init.ref.module)) as Record<string, unknown>;
  const factory = mod[init.ref.factory];
  if (typeof factory !== 'function')
    throw new Error(`worker: ${init.ref.module} exports no ${init.ref.factory}`);
  const model = (factory as (p: unknown) => Model<unknown>)(init.ref.params);
  search(init, model);
}

function search<S>(init: WorkerInit, model: Model<S>): void {
  const { me, workers: N, control, peers } = init;
  const codec = model.codec;
  if (!codec) throw new Error(`worker: model ${model.name} has no codec`);
  const ctrl = new Int32Array(init.ctrl);
  const budget = new MemoryBudget(init.memoryBudget);
  const inits = model.initialStates();
  const set = new FingerprintSet(budget, {
    actionCount: Math.max(model.actionCount, inits.length),
    ...(init.expectedStates > 0 ? { expected: init.expectedStates } : {}),
  });
  const queue = new StateDeque<S>(budget, codec, 0);
  const fp = new Uint32Array(2);
  const fired = new Float64Array(model.actionCount);
  const fresh = new Float64Array(model.actionCount);
  const found: FoundReport[] = [];
  const stopAtFirst = init.violations === 'first';
  const E = 4 + codec.words;
  const out: Uint32Array[] = [];
  const outN = new Int32Array(N);
  const sentCache: Int32Array[] = [];
  for (let j = 0; j < N; j++) {
    out.push(new Uint32Array(j === me ? 0 : BATCH * E));
    sentCache.push(new Int32Array(j === me ? 0 : 2 << SENT_CACHE_BITS));
  }
  const ends = new Int32Array(N).fill(-2);
  let transitions = 0;
  let depth = 0;
  let cur = 0;
  let maxStored = 0;
  let ticks = 0;
  let lastProgress = nowMs();
  let unpublished = 0;
  let sent = 0;
  let cacheHits = 0;
  let received = 0;
  let waitMs = 0;

  const stopped = (): boolean => Atomics.load(ctrl, CTRL_STOP) !== 0;
  const wake = (j: number): void => {
    Atomics.add(ctrl, j, 1);
    Atomics.notify(ctrl, j);
  };
  const setStop = (reason: keyof typeof STOP_CODES): void => {
    if (Atomics.compareExchange(ctrl, CTRL_STOP, 0, STOP_CODES[reason]) === 0)
      for (let j = 0; j < N; j++) wake(j);
  };
  const report = (m: WorkerReport): void => {
    control.postMessage(m);
  };

  /** A state just stored under `id` (fingerprint `hi`, `lo`), at depth `d`. */
  const stored = (s: S, id: number, hi: number, lo: number, action: number, d: number): void => {
    if (d > 0) fresh[action]!++;
    if (d > maxStored) maxStored = d;
    if (!queue.push(s, 0, 0)) setStop('memory');
    if (++unpublished >= COUNT_BATCH) {
      unpublished = 0;
      if (Atomics.add(ctrl, CTRL_COUNT, COUNT_BATCH) + COUNT_BATCH >= init.maxStates) setStop('max-states');
    }
    const v = model.violations(s);
    if (v.length > 0) {
      for (const inv of v)
        if (found.length < init.maxViolations)
          found.push({ invariant: inv, depth: d, fingerprint: fpHex(hi, lo), gid: id * N + me });
      if (stopAtFirst) setStop('violation');
    }
  };

  const flush = (j: number): void => {
    const n = outN[j]!;
    if (n === 0) return;
    const buf = out[j]!;
    peers[j]!.postMessage({ t: 'b', buf: buf.buffer, n } satisfies PeerMessage, [buf.buffer as ArrayBuffer]);
    wake(j);
    out[j] = new Uint32Array(BATCH * E);
    outN[j] = 0;
  };

  /** A successor owned by worker `owner` (its fingerprint is in `fp`): batch it for its owner. */
  const sendTo = (owner: number, t: S, parent: number, action: number): void => {
    const hi = fp[0]! | 0;
    const lo = fp[1]! | 0;
    const cache = sentCache[owner]!;
    const c = (Math.imul(hi ^ Math.imul(lo, 0x27d4eb2d), 0x165667b1) >>> (32 - SENT_CACHE_BITS)) << 1;
    if (cache[c] === hi && cache[c + 1] === lo) {
      cacheHits++;
      return;
    }
    cache[c] = hi;
    cache[c + 1] = lo;
    sent++;
    const buf = out[owner]!;
    const n = outN[owner]!;
    const at = n * E;
    buf[at] = hi;
    buf[at + 1] = lo;
    buf[at + 2] = parent;
    buf[at + 3] = action;
    codec.encode(t, buf, at + 4);
    outN[owner] = n + 1;
    if (n + 1 === BATCH) flush(owner);
  };

  let parentGid = 0;
  const emit = (action: number, t: S): void => {
    transitions++;
    fired[action]!++;
    model.fingerprint(t, fp);
    const owner = ownerOf(fp[0]!, fp[1]!, N);
    if (owner !== me) {
      sendTo(owner, t, parentGid, action);
      return;
    }
    const id = set.add(fp[0]!, fp[1]!, parentGid, action);
    if (id >= 0) stored(t, id, fp[0]!, fp[1]!, action, depth + 1);
    else if (id === FULL) setStop('memory');
  };

  /** Stores the states peers sent; returns whether any message came. */
  const drain = (): boolean => {
    let any = false;
    for (let j = 0; j < N; j++) {
      if (j === me) continue;
      for (;;) {
        const m = receivePeer(peers[j]!);
        if (!m) break;
        any = true;
        if (m.t === 'e') {
          ends[j] = m.depth;
          continue;
        }
        const buf = new Uint32Array(m.buf);
        received += m.n;
        for (let k = 0, at = 0; k < m.n; k++, at += E) {
          const hi = buf[at]!;
          const lo = buf[at + 1]!;
          const action = buf[at + 3]!;
          const id = set.add(hi, lo, buf[at + 2]!, action);
          if (id >= 0) stored(codec.decode(buf, at + 4), id, hi, lo, action, depth + 1);
          else if (id === FULL) {
            setStop('memory');
            return any;
          }
        }
      }
    }
    return any;
  };

  /** Waits (taking in peers' batches) until `done()` holds, a control message arrives (returned), or the search stops. */
  const waitFor = (done: () => boolean): ControlMessage | null => {
    const t0 = nowMs();
    try {
      for (;;) {
        const v = Atomics.load(ctrl, me);
        drain();
        const c = receiveControl(control);
        if (c) return c;
        if (stopped() || done()) return null;
        Atomics.wait(ctrl, me, v, 200);
      }
    } finally {
      waitMs += nowMs() - t0;
    }
  };

  /** Ends a level: sends the batches and an end marker to every peer, and waits for theirs. */
  const exchange = (level: number): void => {
    for (let j = 0; j < N; j++) {
      if (j === me) continue;
      flush(j);
      peers[j]!.postMessage({ t: 'e', depth: level } satisfies PeerMessage);
      wake(j);
    }
    const m = waitFor(() => {
      for (let j = 0; j < N; j++) if (j !== me && ends[j]! < level) return false;
      return true;
    });
    if (m) throw new Error(`worker ${me}: unexpected ${m.t} at the end of a level`);
  };

  // Roots: each worker stores the initial states it owns (depth 0).
  for (let i = 0; i < inits.length && !stopped(); i++) {
    const s = inits[i]!;
    model.fingerprint(s, fp);
    if (ownerOf(fp[0]!, fp[1]!, N) !== me) continue;
    const id = set.add(fp[0]!, fp[1]!, NO_PARENT, i);
    if (id >= 0) stored(s, id, fp[0]!, fp[1]!, i, 0);
  }
  // States of depth <= the level being expanded have ids below levelEnd.
  let levelEnd = set.size;
  let depthCompleted = -1;
  report({
    t: 'level',
    me,
    depth: -1,
    stored: set.size,
    queue: queue.size,
    transitions,
    found: found.length,
  });
  let cmd = stopped() ? ({ t: 'stop' } as const) : (waitFor(() => false) ?? { t: 'stop' });
  while (cmd.t === 'go' && !stopped()) {
    let sinceDrain = 0;
    while (cur < levelEnd) {
      if (stopped()) break;
      parentGid = cur * N + me;
      model.successors(queue.shift(), emit);
      cur++;
      if (++sinceDrain === DRAIN_EVERY) {
        sinceDrain = 0;
        drain();
      }
      if (++ticks >= CLOCK_EVERY) {
        ticks = 0;
        const now = nowMs();
        if (now - lastProgress >= init.progressPeriodMs) {
          lastProgress = now;
          report({ t: 'progress', me, states: set.size, transitions, queue: queue.size, depth });
        }
      }
    }
    if (stopped()) break;
    exchange(depth);
    if (stopped()) break;
    levelEnd = set.size;
    depthCompleted = depth;
    report({ t: 'level', me, depth, stored: set.size, queue: queue.size, transitions, found: found.length });
    depth++;
    cmd = waitFor(() => false) ?? { t: 'stop' };
  }

  report({
    t: 'final',
    me,
    states: set.size,
    transitions,
    queue: queue.size,
    depthCompleted,
    maxStored,
    peakBytes: budget.peak,
    fired: Array.from(fired),
    fresh: Array.from(fresh),
    found,
    stats: { sent, cacheHits, received, waitMs: Math.round(waitMs), levels: depth },
  });
  queue.clear();

  // Answer the main thread's questions about parents until it terminates this worker.
  control.on('message', (m: ControlMessage) => {
    if (m.t === 'parent') {
      const local = Math.floor(m.gid / N);
      control.postMessage({
        t: 'parent',
        gid: m.gid,
        parent: set.parentOf(local),
        action: set.actionOf(local),
      } satisfies WorkerReport);
    }
  });
}

/** The next message waiting on a peer port, without going through the event loop. */
function receivePeer(port: MessagePort): PeerMessage | undefined {
  const r: { message: unknown } | undefined = receiveMessageOnPort(port);
  return r?.message as PeerMessage | undefined;
}

/** The next message waiting on the control port, without going through the event loop. */
function receiveControl(port: MessagePort): ControlMessage | undefined {
  const r: { message: unknown } | undefined = receiveMessageOnPort(port);
  return r?.message as ControlMessage | undefined;
}

const data = workerData as WorkerInit;
main(data).catch((e: unknown) => {
  const ctrl = new Int32Array(data.ctrl);
  Atomics.store(ctrl, CTRL_STOP, STOP_CODES.error);
  for (let j = 0; j < data.workers; j++) {
    Atomics.add(ctrl, j, 1);
    Atomics.notify(ctrl, j);
  }
  data.control.postMessage({
    t: 'error',
    me: data.me,
    message: e instanceof Error ? (e.stack ?? e.message) : String(e),
  } satisfies WorkerReport);
});
