/**
 * One worker of `exploreWithWorkers` (explore-workers.ts): a level-synchronous breadth-first search
 * over its own queue, with the visited set shared by every worker (a lock-free fingerprint table in
 * a SharedArrayBuffer).
 *
 * Per level: pop the states of the level from the local queue (each tagged with its global id) and
 * expand them; a successor whose insert into the shared table is new is recorded here (parent's
 * global id and action, in a local TraceStore whose index is the local id) and pushed on this
 * worker's queue. No state leaves the worker while the level runs. At the end of the level the
 * worker reports to the main thread and waits; the main thread answers `go` with the number of
 * states to send to which peer (taken from the queue's tail) and to expect from peers, so every
 * queue starts the next level with its share, or `stop`.
 *
 * Table growth: the stored count is published to a shared word in batches; the worker whose batch
 * passes the growth mark raises the grow flag. Every worker checks the flag between two expansions
 * and in every wait, pauses (reporting `paused`) and waits for the main thread's `table` message,
 * which carries the new (or, when growth was not due, the same) table.
 *
 * A waiting worker sleeps in Atomics.wait on its counter in the control SharedArrayBuffer, which
 * every sender bumps after posting. Global id = local id * workers + worker index; after the search
 * the main thread follows parent pointers by asking each worker for a state's parent and action.
 */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { NO_PARENT } from '../explore/fingerprint-set.js';
import { StateDeque } from '../explore/frontier.js';
import { CLOCK_EVERY, nowMs, SharedMemoryBudget } from '../explore/limits.js';
import type { Model } from '../explore/model.js';
import { fpHex } from '../explore/model.js';
import { SharedFingerprintTable } from '../explore/shared-fingerprint-table.js';
import { SuccessorBatch } from '../explore/successor-batch.js';
import { TraceStore } from '../explore/trace-store.js';
import type {
  ControlMessage,
  FoundReport,
  PeerMessage,
  WorkerInit,
  WorkerReport,
} from './explore-workers.js';
import {
  COUNT_BATCH,
  CTRL_BUDGET,
  CTRL_COUNT,
  CTRL_DONE,
  CTRL_GROW,
  CTRL_GROW_AT,
  CTRL_HUNGRY,
  CTRL_STOP,
  STOP_CODES,
} from './explore-workers.js';

/** Expansions between two looks at the peers' requests for states. */
const SHARE_EVERY = 16;
/** Fewer states than this are not worth sending to a peer within a level. */
const MIN_SHARE = 2;

async function main(init: WorkerInit): Promise<void> {
  const t0 = nowMs();
  const mod = (await import(init.ref.module)) as Record<string, unknown>;
  const factory = mod[init.ref.factory];
  if (typeof factory !== 'function')
    throw new Error(`worker: ${init.ref.module} exports no function ${init.ref.factory}`);
  const model = await (factory as (p: unknown) => Model<unknown> | Promise<Model<unknown>>)(init.ref.params);
  search(init, model, nowMs() - t0);
}

function search<S>(init: WorkerInit, model: Model<S>, loadMs: number): void {
  const { me, workers: N, control, peers } = init;
  const codec = model.codec;
  const transfer = model.transfer;
  if (!codec && !transfer) throw new Error(`worker: model ${model.name} has neither a codec nor a transfer`);
  const ctrl = new Int32Array(init.ctrl);
  const budget = new SharedMemoryBudget(ctrl, CTRL_BUDGET, init.memoryBudget);
  let table = new SharedFingerprintTable(init.table);
  const inits = model.initialStates();
  const trace = new TraceStore(budget, Math.max(model.actionCount, inits.length));
  const queue = new StateDeque<S>(budget, codec, 1);
  const fp = new Uint32Array(2);
  const fired = new Float64Array(model.actionCount);
  const fresh = new Float64Array(model.actionCount);
  const found: FoundReport[] = [];
  const violated = new Set<string>();
  const stopAtFirst = init.violations === 'first';
  let transitions = 0;
  let depth = 0;
  let maxStored = 0;
  let ticks = 0;
  let lastProgress = nowMs();
  let unpublished = 0;
  let paused = false;
  let pauses = 0;
  let sent = 0;
  let received = 0;
  let waitMs = 0;
  let moveMs = 0;
  let busyMs = 0;
  let shared = 0;

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

  /** Adds this worker's unpublished stores to the shared count; with `mayGrow`, asks for a bigger table when due. */
  const publish = (mayGrow: boolean): void => {
    if (unpublished === 0) return;
    const total = Atomics.add(ctrl, CTRL_COUNT, unpublished) + unpublished;
    unpublished = 0;
    if (total >= init.maxStates) setStop('max-states');
    if (mayGrow && total >= Atomics.load(ctrl, CTRL_GROW_AT))
      if (Atomics.compareExchange(ctrl, CTRL_GROW, 0, 1) === 0) for (let j = 0; j < N; j++) wake(j);
  };

  /** A state this worker just stored at depth `d`: its global id is `gid`. */
  const stored = (s: S, gid: number, hi: number, lo: number, action: number, d: number): void => {
    if (d > 0) fresh[action]!++;
    if (d > maxStored) maxStored = d;
    if (!queue.push(s, gid, 0)) setStop('memory');
    if (++unpublished >= COUNT_BATCH) publish(true);
    const v = model.violations(s);
    if (v.length > 0) {
      for (const inv of v) {
        const name = model.invariants[inv] ?? `#${inv}`;
        violated.add(name);
        if (found.length < init.maxViolations)
          found.push({ invariantName: name, depth: d, fingerprint: fpHex(hi, lo), gid });
      }
      if (stopAtFirst) setStop('violation');
    }
  };

  /** Records a new state (parent's global id, action); its global id, or -1 when the budget is spent. */
  const record = (parent: number, action: number): number => {
    const local = trace.add(parent, action);
    if (local < 0) {
      setStop('memory');
      return -1;
    }
    return local * N + me;
  };

  let parentGid = 0;
  // The successors of the state being expanded, looked up together (successor-batch.ts).
  const batch = new SuccessorBatch(model);
  const handleBatch = (): void => {
    batch.touchAll(table);
    for (let k = 0; k < batch.size; k++) {
      const action = batch.action(k);
      transitions++;
      fired[action]!++;
      const hi = batch.hi(k);
      const lo = batch.lo(k);
      if (!table.insert(hi, lo)) continue;
      const gid = record(parentGid, action);
      if (gid >= 0) stored(batch.state(k), gid, hi, lo, action, depth + 1);
    }
    batch.clear();
  };

  /** Handles a control message that may come at any time; returns the others. */
  const onControl = (m: ControlMessage): ControlMessage | null => {
    if (m.t === 'table') {
      if (m.buffer !== table.buffer) table = new SharedFingerprintTable(m.buffer);
      paused = false;
      return null;
    }
    return m;
  };

  /**
   * Waits until `done()` holds, a control message other than `table` arrives (returned), or the
   * search stops; pauses for the table whenever the grow flag is up. `poll` runs on every wake-up.
   */
  const idle = (done: () => boolean, poll?: () => void): ControlMessage | null => {
    const t0 = nowMs();
    try {
      for (;;) {
        const v = Atomics.load(ctrl, me);
        poll?.();
        for (;;) {
          const r: { message: unknown } | undefined = receiveMessageOnPort(control);
          if (!r) break;
          const m = onControl(r.message as ControlMessage);
          if (m) return m;
        }
        if (stopped()) return null;
        if (!paused && Atomics.load(ctrl, CTRL_GROW) !== 0) {
          paused = true;
          pauses++;
          publish(false);
          report({ t: 'paused', me });
          continue;
        }
        if (!paused && done()) return null;
        Atomics.wait(ctrl, me, v, 200);
      }
    } finally {
      waitMs += nowMs() - t0;
    }
  };

  /** Between two expansions: pause for a table change when one is asked for. */
  const safePoint = (): void => {
    if (Atomics.load(ctrl, CTRL_GROW) === 0) return;
    const m = idle(() => true);
    if (m) throw new Error(`worker ${me}: unexpected ${m.t} while paused`);
  };

  /**
   * Sends `count` states to worker `to`: from the queue's tail to even out the queues at a barrier,
   * or (`share`) from its head, states of the level being expanded, to a worker that ran out.
   */
  const sendStates = (to: number, count: number, share: boolean): void => {
    const t0 = nowMs();
    const next = (): S => (share ? queue.shift() : queue.pop());
    if (codec) {
      const E = 1 + codec.words;
      const buf = new Uint32Array(count * E);
      for (let k = 0, at = 0; k < count; k++, at += E) {
        const s = next();
        buf[at] = queue.tag0;
        codec.encode(s, buf, at + 1);
      }
      peers[to]!.postMessage({ t: 'words', buf: buf.buffer, n: count, share } satisfies PeerMessage, [
        buf.buffer,
      ]);
    } else {
      const gids: number[] = [];
      const values: unknown[] = [];
      for (let k = 0; k < count; k++) {
        values.push(transfer!.pack(next()));
        gids.push(queue.tag0);
      }
      peers[to]!.postMessage({ t: 'values', gids, values, share } satisfies PeerMessage);
    }
    sent += count;
    wake(to);
    moveMs += nowMs() - t0;
  };

  /** States of the current level a peer gave this worker, with their global ids, to expand at once. */
  const given: S[] = [];
  const givenGids: number[] = [];
  const take = (s: S, gid: number, share: boolean): void => {
    if (share) {
      given.push(s);
      givenGids.push(gid);
    } else if (!queue.push(s, gid, 0)) setStop('memory');
  };

  /** Takes in the states peers sent (queued, or kept in `given` when shared); returns how many. */
  const receiveStates = (): number => {
    const t0 = nowMs();
    let n = 0;
    for (let j = 0; j < N; j++) {
      if (j === me) continue;
      for (;;) {
        const r: { message: unknown } | undefined = receiveMessageOnPort(peers[j]!);
        if (!r) break;
        const m = r.message as PeerMessage;
        if (m.t === 'words') {
          const buf = new Uint32Array(m.buf);
          const E = 1 + codec!.words;
          for (let k = 0, at = 0; k < m.n; k++, at += E) take(codec!.decode(buf, at + 1), buf[at]!, m.share);
          n += m.n;
        } else {
          for (let k = 0; k < m.values.length; k++) take(transfer!.unpack(m.values[k]), m.gids[k]!, m.share);
          n += m.values.length;
        }
      }
    }
    received += n;
    moveMs += nowMs() - t0;
    return n;
  };

  /** Expands one state of the current level (global id `gid`). */
  const expand = (s: S, gid: number): void => {
    parentGid = gid;
    model.successors(s, batch.collect);
    handleBatch();
    safePoint();
    if (++ticks >= CLOCK_EVERY) {
      ticks = 0;
      const now = nowMs();
      if (now - lastProgress >= init.progressPeriodMs) {
        lastProgress = now;
        report({ t: 'progress', me, states: trace.size, transitions, queue: queue.size, depth });
      }
    }
  };

  /** Gives half of the level's `left` states to one peer that ran out; returns how many. */
  const shareWithHungry = (left: number): number => {
    const n = left >> 1;
    if (n < MIN_SHARE) return 0;
    for (let j = 0; j < N; j++) {
      if (j === me || Atomics.load(ctrl, CTRL_HUNGRY + j) === 0) continue;
      if (Atomics.compareExchange(ctrl, CTRL_HUNGRY + j, 1, 0) !== 1) continue;
      sendStates(j, n, true);
      shared += n;
      return n;
    }
    return 0;
  };

  // Roots: worker 0 stores the initial states (depth 0).
  if (me === 0)
    for (let i = 0; i < inits.length && !stopped(); i++) {
      const s = inits[i]!;
      model.fingerprint(s, fp);
      if (!table.insert(fp[0]!, fp[1]!)) continue;
      const gid = record(NO_PARENT, i);
      if (gid >= 0) stored(s, gid, fp[0]!, fp[1]!, i, 0);
    }
  publish(false);
  let depthCompleted = -1;
  report({
    t: 'level',
    me,
    depth: -1,
    stored: trace.size,
    queue: queue.size,
    transitions,
    found: found.length,
  });
  let cmd = idle(() => false) ?? ({ t: 'stop' } as const);
  while (cmd.t === 'go' && !stopped()) {
    for (const x of cmd.send) sendStates(x.to, x.count, false);
    let want = cmd.recv;
    if (want > 0) {
      const m = idle(
        () => want <= 0,
        () => {
          want -= receiveStates();
        },
      );
      if (m) throw new Error(`worker ${me}: unexpected ${m.t} while taking in states`);
      if (stopped()) break;
    }
    // The states of this level are the first `left` of the queue; successors go behind them.
    let left = queue.size;
    const tl = nowMs();
    let sinceShare = 0;
    while (left > 0) {
      if (stopped()) break;
      const s = queue.shift();
      left--;
      expand(s, queue.tag0);
      if (++sinceShare >= SHARE_EVERY) {
        sinceShare = 0;
        left -= shareWithHungry(left);
      }
    }
    busyMs += nowMs() - tl;
    // Own states done: say so, then help peers that still have some until every peer is done too.
    Atomics.store(ctrl, CTRL_DONE + me, depth + 1);
    for (let j = 0; j < N; j++) if (j !== me) wake(j);
    const allDone = (): boolean => {
      for (let j = 0; j < N; j++) if (j !== me && Atomics.load(ctrl, CTRL_DONE + j) <= depth) return false;
      return true;
    };
    while (!stopped()) {
      if (given.length === 0) {
        // A peer that gave states stored them before its done flag: take them in after seeing it.
        if (allDone() && receiveStates() === 0) break;
      }
      if (given.length === 0) {
        Atomics.store(ctrl, CTRL_HUNGRY + me, 1);
        const m = idle(
          () => given.length > 0 || allDone(),
          () => {
            receiveStates();
          },
        );
        Atomics.store(ctrl, CTRL_HUNGRY + me, 0);
        if (m) throw new Error(`worker ${me}: unexpected ${m.t} while asking for states`);
        continue;
      }
      const th = nowMs();
      for (let k = 0; k < given.length && !stopped(); k++) expand(given[k]!, givenGids[k]!);
      given.length = 0;
      givenGids.length = 0;
      busyMs += nowMs() - th;
    }
    publish(false);
    if (stopped()) break;
    depthCompleted = depth;
    report({
      t: 'level',
      me,
      depth,
      stored: trace.size,
      queue: queue.size,
      transitions,
      found: found.length,
    });
    depth++;
    cmd = idle(() => false) ?? { t: 'stop' };
  }
  publish(false);

  report({
    t: 'final',
    me,
    states: trace.size,
    transitions,
    queue: queue.size,
    depthCompleted,
    maxStored,
    fired: Array.from(fired),
    fresh: Array.from(fresh),
    found,
    violated: [...violated],
    stats: {
      sent,
      received,
      pauses,
      loadMs: Math.round(loadMs),
      waitMs: Math.round(waitMs),
      moveMs: Math.round(moveMs),
      busyMs: Math.round(busyMs),
      shared,
      levels: depth,
    },
  });
  queue.clear();

  // Answer the main thread's questions about parents until it terminates this worker.
  control.on('message', (m: ControlMessage) => {
    if (m.t === 'parent') {
      const local = Math.floor(m.gid / N);
      control.postMessage({
        t: 'parent',
        gid: m.gid,
        parent: trace.parentOf(local),
        action: trace.actionOf(local),
      } satisfies WorkerReport);
    }
  });
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
