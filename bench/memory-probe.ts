/**
 * The machine's own limit on two threads, for the explorer bench: the same number of random
 * probes into one 64 MiB shared table of 32-bit words, on one thread and split between two. A
 * probe reads a random slot and, when it is empty, claims it by compare-and-swap, as the
 * explorer's shared visited set does (shared-fingerprint-table.ts); the table fills as the run
 * goes on, so most probes late in a run are reads. It measures the machine, not atsim: when two
 * threads each take longer per probe than one thread alone, a search that spends its time probing
 * its visited set gains less than 2x from a second thread. Each thread is timed from a common
 * start signal to the end of its own loop, so starting the threads is not counted; each
 * configuration runs three times and the fastest counts.
 */
import { Worker } from 'node:worker_threads';

const TABLE_BYTES = 64 * 2 ** 20;
const PROBES = 40_000_000;

/*
 * The probing thread, as source evaluated by the Worker (`eval: true`: no file to find, whether
 * the bench runs built or under tsx). xorshift32 gives each thread its own slot sequence. It
 * reports 'ready', waits for the start word to turn 1, probes, and reports its own milliseconds.
 */
const PROBE_THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const { sab, ctrl, seed, probes } = workerData;
const table = new Int32Array(sab);
const start = new Int32Array(ctrl);
const mask = table.length - 2;
let x = Math.imul(seed, 0x9e3779b1) | 1;
let found = 0;
parentPort.postMessage('ready');
Atomics.wait(start, 0, 0);
const t0 = performance.now();
for (let i = 0; i < probes; i++) {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  const slot = (x >>> 0) & mask;
  const v = Atomics.load(table, slot);
  if (v === 0) {
    if (Atomics.compareExchange(table, slot, 0, x | 1) === 0) table[slot + 1] = i;
  } else if (v === (x | 1)) found++;
}
parentPort.postMessage({ ms: performance.now() - t0, found });
`;

export interface MemoryProbeResult {
  /** Wall-clock ns per probe, on one thread and on two (from the start signal to the last thread's end). */
  readonly oneThreadNs: number;
  readonly twoThreadsNs: number;
  /** How much longer each of two threads takes per probe than one thread alone. */
  readonly perProbeRatio: number;
  /** Wall-clock speed-up of two threads over one. */
  readonly speedup: number;
}

/** One configuration: the slowest thread's ms and the threads' summed ms. */
async function probeRun(
  sab: SharedArrayBuffer,
  threads: number,
): Promise<{ wallMs: number; busyMs: number }> {
  // Emptied before the clock starts; the table's memory was touched already (see memoryProbe).
  new Int32Array(sab).fill(0);
  const ctrl = new SharedArrayBuffer(4);
  const workers: Worker[] = [];
  const ready: Promise<void>[] = [];
  const done: Promise<number>[] = [];
  for (let i = 0; i < threads; i++) {
    const w = new Worker(PROBE_THREAD, {
      eval: true,
      workerData: { sab, ctrl, seed: i + 1, probes: PROBES / threads },
    });
    workers.push(w);
    let onReady!: () => void;
    ready.push(new Promise<void>((r) => (onReady = r)));
    done.push(
      new Promise<number>((resolve, reject) => {
        w.on('message', (m: 'ready' | { ms: number }) => {
          if (m === 'ready') onReady();
          else resolve(m.ms);
        });
        w.once('error', reject);
        w.once('exit', (code) => {
          reject(new Error(`memory probe: a probing thread exited (code ${code}) before it reported`));
        });
      }),
    );
  }
  await Promise.all(ready);
  const start = new Int32Array(ctrl);
  Atomics.store(start, 0, 1);
  Atomics.notify(start, 0);
  const ms = await Promise.all(done);
  await Promise.all(workers.map((w) => w.terminate()));
  return { wallMs: Math.max(...ms), busyMs: ms.reduce((a, b) => a + b, 0) };
}

export async function memoryProbe(): Promise<MemoryProbeResult> {
  // One table for every run, written through once before any is timed: the first touch of fresh
  // memory (page faults, and on a virtual machine the host backing the pages) is not what this
  // measures, and it made the first timed runs several times slower.
  const sab = new SharedArrayBuffer(TABLE_BYTES);
  new Int32Array(sab).fill(1);
  const best = async (threads: number): Promise<{ wallMs: number; busyMs: number }> => {
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await probeRun(sab, threads));
    return runs.reduce((a, b) => (b.wallMs < a.wallMs ? b : a));
  };
  const one = await best(1);
  const two = await best(2);
  return {
    oneThreadNs: +((one.wallMs * 1e6) / PROBES).toFixed(1),
    twoThreadsNs: +((two.wallMs * 1e6) / PROBES).toFixed(1),
    perProbeRatio: +(two.busyMs / one.busyMs).toFixed(2),
    speedup: +(one.wallMs / two.wallMs).toFixed(2),
  };
}
