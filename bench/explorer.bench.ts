/**
 * Explorer benchmark, on the built JS (dist/; `npm run build` first):
 *  - the reference ATS/ATC model (anchors.md Appendix A) at D=3, P=4 (1,798,833 distinct states),
 *    breadth-first on one thread, on 1 worker thread and on 2: distinct states, transitions, time,
 *    states/s, bytes per stored state (peak bytes of the engine's arrays / states); 2 workers are
 *    compared with both the single thread and the one worker, and so is the CPU they used (all of
 *    the process's threads) for the same states; then the machine's own limit on that figure: random
 *    probes into a shared table on 1 and 2 threads (memory-probe.ts);
 *  - the same model in Promela through Spin, when `spin` and `gcc` are installed (`apt-get install
 *    spin`): `spin -a`, `gcc -O2 -DSAFETY -DNOREDUCE -DBFS`, `./pan -m20000000`, exhaustive; its
 *    states stored (ours + 1, its pre-init state), transitions, time and states/s;
 *  - with ATSIM_BENCH_LARGE=1: D=3, P=5 (62,103,219 states) on 2 workers within a 4 GiB memory
 *    budget, to the end (takes a few minutes).
 * Goals: at least 2x Spin's exhaustive states/s on one core, at most 40 bytes per stored state,
 * 1.7x with 2 workers.
 * Run alone: npx tsx bench/run.ts explorer (after the lead wires it in), or import explorerBench.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ExploreOptions } from '../src/explore/options.js';
import type { AtsReferenceParams } from '../src/explore/models/ats-reference.js';
import type { Model, ModelRef } from '../src/explore/model.js';
import type { ExploreResult } from '../src/explore/result.js';
import type { WorkerExploreOptions } from '../src/node/explore-workers.js';
import { type CpuTime, withCpuTime } from './cpu-time.js';
import { memoryProbe } from './memory-probe.js';
import { repoRoot } from './repo-root.js';

const repo = repoRoot(import.meta.dirname);
const dist = join(repo, 'dist');

interface Built {
  bfs: <S>(model: Model<S>, options?: ExploreOptions) => ExploreResult<S>;
  createAtsReference: (p: AtsReferenceParams) => Model<number>;
  atsReferencePromela: (p: AtsReferenceParams) => string;
  exploreWithWorkers: (ref: ModelRef, options?: WorkerExploreOptions) => Promise<ExploreResult<unknown>>;
  modelModule: string;
}

async function loadBuilt(): Promise<Built> {
  const explore = join(dist, 'explore', 'index.js');
  const workers = join(dist, 'node', 'explore-workers.js');
  if (!existsSync(explore) || !existsSync(workers))
    throw new Error('explorer bench: dist/ has no explorer; run `npm run build` first');
  const e = (await import(pathToFileURL(explore).href)) as Omit<Built, 'exploreWithWorkers' | 'modelModule'>;
  const w = (await import(pathToFileURL(workers).href)) as Pick<Built, 'exploreWithWorkers'>;
  return {
    ...e,
    exploreWithWorkers: w.exploreWithWorkers,
    modelModule: pathToFileURL(join(dist, 'explore', 'models', 'ats-reference.js')).href,
  };
}

interface Row {
  run: string;
  states: number;
  transitions: number;
  seconds: number;
  statesPerSecond: number;
  bytesPerState?: number;
  peakMiB?: number;
  stopReason?: string;
}

function row(run: string, r: ExploreResult<unknown>): Row {
  return {
    run,
    states: r.states,
    transitions: r.transitions,
    seconds: +(r.elapsedMs / 1000).toFixed(2),
    statesPerSecond: Math.round(r.statesPerSecond),
    bytesPerState: +r.bytesPerState.toFixed(1),
    peakMiB: +(r.peakBytes / 2 ** 20).toFixed(0),
    stopReason: r.stopReason,
  };
}

function fmt(r: Row): string {
  return (
    `${r.run}: ${r.states.toLocaleString('en-US')} states, ${r.transitions.toLocaleString('en-US')} transitions, ` +
    `${r.seconds} s, ${r.statesPerSecond.toLocaleString('en-US')} states/s` +
    (r.bytesPerState === undefined ? '' : `, ${r.bytesPerState} B/state`) +
    (r.peakMiB === undefined ? '' : `, peak ${r.peakMiB} MiB`) +
    (r.stopReason ? ` (${r.stopReason})` : '')
  );
}

/** Spin on the same model, or null when spin or gcc is missing. */
function spinRun(promela: string): Row | null {
  const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
  if (!has('spin') || !has('gcc')) return null;
  const dir = mkdtempSync(join(tmpdir(), 'atsim-spin-'));
  try {
    writeFileSync(join(dir, 'm.pml'), promela);
    execFileSync('spin', ['-a', 'm.pml'], { cwd: dir, stdio: 'pipe' });
    execFileSync('gcc', ['-O2', '-DSAFETY', '-DNOREDUCE', '-DBFS', '-o', 'pan', 'pan.c'], {
      cwd: dir,
      stdio: 'pipe',
    });
    const t0 = process.hrtime.bigint();
    const out = execFileSync('./pan', ['-m20000000'], { cwd: dir, encoding: 'utf8', maxBuffer: 1 << 26 });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? NaN);
    const states = num(/([\d.e+]+) states, stored/);
    const matched = num(/([\d.e+]+) states, matched/);
    const transitions = num(/([\d.e+]+) transitions \(= stored\+matched\)/);
    const elapsed = num(/pan: elapsed time ([\d.e+]+) seconds/);
    const mem = num(/([\d.]+)\s+total actual memory usage/);
    const seconds = Number.isFinite(elapsed) && elapsed > 0 ? elapsed : wall;
    return {
      run: 'Spin BFS (-O2 -DSAFETY -DNOREDUCE -DBFS)',
      states,
      transitions: Number.isFinite(transitions) ? transitions : states + matched,
      seconds: +seconds.toFixed(2),
      statesPerSecond: Math.round(states / seconds),
      ...(Number.isFinite(mem) ? { peakMiB: Math.round(mem) } : {}),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function explorerBench(log: (s: string) => void): Promise<unknown> {
  const b = await loadBuilt();
  const params = { devices: 3, pages: 4 };
  const results: Record<string, unknown> = {};

  const cpuText = (c: CpuTime): string => `${c.cpuSeconds} s CPU, ${c.cores} cores busy`;
  const { value: single, cpu: cpuSingle } = await withCpuTime(() => b.bfs(b.createAtsReference(params)));
  const one = row('explorer BFS, 1 thread, D=3 P=4', single);
  log(`${fmt(one)}; ${cpuText(cpuSingle)}`);
  results.single = { ...one, cpuSeconds: cpuSingle.cpuSeconds, cores: cpuSingle.cores };

  const ref: ModelRef = { module: b.modelModule, factory: 'createAtsReference', params };
  // The same engine on one worker: what `--workers 2` is measured against as well ("2 against 1").
  const { value: w1, cpu: cpu1 } = await withCpuTime(() => b.exploreWithWorkers(ref, { workers: 1 }));
  const oneWorker = row('explorer BFS, 1 worker, D=3 P=4', w1);
  log(`${fmt(oneWorker)}; ${cpuText(cpu1)}`);
  results.oneWorker = { ...oneWorker, cpuSeconds: cpu1.cpuSeconds, cores: cpu1.cores };
  const { value: par, cpu } = await withCpuTime(() => b.exploreWithWorkers(ref, { workers: 2 }));
  const two = row('explorer BFS, 2 workers, D=3 P=4', par);
  const speedup = +(single.elapsedMs / par.elapsedMs).toFixed(2);
  const speedupOverOneWorker = +(w1.elapsedMs / par.elapsedMs).toFixed(2);
  const cpuSeconds = cpu.cpuSeconds;
  // The same states cost this much more CPU on two workers than on one.
  const cpuOverOneWorker = +(cpu.cpuSeconds / cpu1.cpuSeconds).toFixed(2);
  log(
    `${fmt(two)}; ${speedup}x the single thread, ${speedupOverOneWorker}x one worker (goal >= 1.7x), ` +
      `${cpuText(cpu)}: ${cpuOverOneWorker}x one worker's CPU for the same states`,
  );
  results.workers = { ...two, speedup, speedupOverOneWorker, cpuSeconds, cores: cpu.cores, cpuOverOneWorker };
  const probe = await memoryProbe();
  log(
    `machine: random probes into a 64 MiB shared table, 2 threads against 1: ${probe.speedup}x ` +
      `(${probe.oneThreadNs} and ${probe.twoThreadsNs} ns/probe; each of two threads takes ${probe.perProbeRatio}x as long per probe as one alone)`,
  );
  results.memoryProbe = probe;

  const spin = spinRun(b.atsReferencePromela(params));
  if (spin) {
    log(fmt(spin));
    const ratio = +(one.statesPerSecond / spin.statesPerSecond).toFixed(2);
    log(`explorer / Spin states/s (one core): ${ratio}x (goal >= 2x)`);
    results.spin = { ...spin, explorerOverSpin: ratio };
  } else {
    log('Spin: not installed (apt-get install spin), skipped');
    results.spin = null;
  }

  if (process.env.ATSIM_BENCH_LARGE) {
    const budget = 4 * 2 ** 30;
    const big = await b.exploreWithWorkers(
      { ...ref, params: { devices: 3, pages: 5 } },
      {
        workers: 2,
        memoryBudget: budget,
        progressPeriodMs: 30_000,
        onProgress: (p) => {
          log(
            `  ${p.states.toLocaleString('en-US')} states, depth ${p.depth}, queue ${p.queue.toLocaleString('en-US')}`,
          );
          return undefined;
        },
      },
    );
    const large = row('explorer BFS, 2 workers, D=3 P=5, 4 GiB budget', big);
    log(fmt(large));
    results.large = { ...large, memoryBudget: budget };
  } else log('large run (D=3 P=5, 62 M states, 2 workers, 4 GiB budget): set ATSIM_BENCH_LARGE=1');
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  await explorerBench((s) => process.stderr.write(s + '\n'));
