/**
 * What a timed run cost in CPU, for the scaling figures: the CPU seconds of this whole process
 * (every thread: workers and V8's garbage-collector helpers too) against the wall clock, and the
 * pauses the garbage collector took on this thread.
 */
import { availableParallelism } from 'node:os';
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

export interface CpuTime {
  /** Wall-clock seconds of the run. */
  readonly wallSeconds: number;
  /** CPU seconds of the process during the run (user + system, every thread). */
  readonly cpuSeconds: number;
  /** cpuSeconds / wallSeconds: how many cores the run kept busy on average. */
  readonly cores: number;
  /** Garbage-collector pauses on this thread during the run, in ms (every kind V8 reports as a `gc` entry). */
  readonly gcPauseMs: number;
}

/** The cores this machine offers to Node (os.availableParallelism()). */
export const MACHINE_CORES = availableParallelism();

/** Runs `fn` and measures it (the GC pauses are read after it returns, when V8 has reported them). */
export async function withCpuTime<T>(fn: () => T | Promise<T>): Promise<{ value: T; cpu: CpuTime }> {
  const entries: PerformanceEntry[] = [];
  const obs = new PerformanceObserver((list) => {
    entries.push(...list.getEntries());
  });
  obs.observe({ entryTypes: ['gc'] });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const t1 = performance.now();
  const c = process.cpuUsage(c0);
  // GC entries reach the observer asynchronously: let them arrive, then keep those of the run.
  await new Promise((r) => setTimeout(r, 20));
  entries.push(...obs.takeRecords());
  obs.disconnect();
  let gc = 0;
  for (const e of entries) if (e.startTime >= t0 && e.startTime <= t1) gc += e.duration;
  const wallSeconds = (t1 - t0) / 1000;
  const cpuSeconds = (c.user + c.system) / 1e6;
  return {
    value,
    cpu: {
      wallSeconds: +wallSeconds.toFixed(2),
      cpuSeconds: +cpuSeconds.toFixed(2),
      cores: +(cpuSeconds / wallSeconds).toFixed(2),
      gcPauseMs: Math.round(gc),
    },
  };
}
