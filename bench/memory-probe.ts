/**
 * What this machine allows two threads to gain on a search bound by its visited set: the same
 * number of random probes into one 64 MiB shared hash table (memory-probe-worker.ts), on one
 * thread and split between two, each timed three times (the fastest counts). It measures the
 * machine, not atsim: when two threads each probe slower than one alone (they share caches,
 * memory bandwidth and the coherence of the table's lines), no search that spends its time
 * probing a visited set reaches 2x on two threads. The explorer bench reports it beside its
 * `--workers 2` figure.
 */
import { Worker } from 'node:worker_threads';

const TABLE_BYTES = 64 * 2 ** 20;
const PROBES = 40_000_000;

export interface MemoryProbeResult {
  /** Wall-clock ns per probe, on one thread and on two. */
  readonly oneThreadNs: number;
  readonly twoThreadsNs: number;
  /** CPU ns per probe on two threads over one: how much slower each probe is when both run. */
  readonly cpuPerProbeRatio: number;
  /** Wall-clock speed-up of two threads over one. */
  readonly speedup: number;
}

async function probeRun(sab: SharedArrayBuffer, threads: number): Promise<{ wallNs: number; cpuNs: number }> {
  // Emptied before the clock starts; the table's memory was touched already (see memoryProbe).
  new Int32Array(sab).fill(0);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const url = new URL('./memory-probe-worker.js', import.meta.url);
  await Promise.all(
    Array.from(
      { length: threads },
      (_, i) =>
        new Promise<void>((resolve, reject) => {
          const w = new Worker(url, { workerData: { sab, seed: i + 1, probes: PROBES / threads } });
          w.once('message', () => {
            resolve();
          });
          w.once('error', reject);
        }),
    ),
  );
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wallNs: (wall * 1e6) / PROBES, cpuNs: ((c.user + c.system) * 1e3) / PROBES };
}

export async function memoryProbe(): Promise<MemoryProbeResult> {
  // One table for every run, written through once before any is timed: the first touch of fresh
  // memory (page faults, and on a virtual machine the host backing the pages) is not what this
  // measures, and it made the first timed runs several times slower.
  const sab = new SharedArrayBuffer(TABLE_BYTES);
  new Int32Array(sab).fill(1);
  const best = async (threads: number): Promise<{ wallNs: number; cpuNs: number }> => {
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await probeRun(sab, threads));
    return runs.reduce((a, b) => (b.wallNs < a.wallNs ? b : a));
  };
  const one = await best(1);
  const two = await best(2);
  return {
    oneThreadNs: +one.wallNs.toFixed(1),
    twoThreadsNs: +two.wallNs.toFixed(1),
    cpuPerProbeRatio: +(two.cpuNs / one.cpuNs).toFixed(2),
    speedup: +(one.wallNs / two.wallNs).toFixed(2),
  };
}
