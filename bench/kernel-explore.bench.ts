/**
 * The kernel model under the explorer: bench/explore-kernel.yaml (four threads mapping, unmapping
 * and resetting ATS functions of the example ARM server, two ATC-fill choices; about 107,000
 * distinct states) explored exhaustively, breadth-first, on one core, every invariant checked
 * after every step. Each run is timed twice and the faster counts (the first warms the JIT up).
 * Goal: >= 100,000 distinct states/s. Then the same on 1 and on 2 worker threads (`atsim explore
 * --workers N`: each worker builds the model from the file), timed twice too; 2 workers against
 * the one-core figure and against one worker. Each run also reports the cores it kept busy (CPU
 * seconds of the process over the wall clock: V8's garbage-collector threads work beside a search
 * thread) and, on one thread, the garbage collector's pauses; the cores one worker keeps busy bound
 * what 2 workers can gain on this machine (bench/cpu-time.ts). Last, scaling on a run long enough
 * for the workers' start-up and compilation not to decide it: bench/explore-kernel-large.yaml
 * (about 680,000 states) once on one core, on 1 worker and on 2.
 * Run: npm run bench -- kernel-explore
 */
import { join } from 'node:path';
import { loadScenarioFile } from '../src/node/load-scenario.js';
import { exploreScenarioOnWorkers } from '../src/node/scenario-model.js';
import { exploreScenario } from '../src/scenario/explore.js';
import { type CpuTime, MACHINE_CORES, withCpuTime } from './cpu-time.js';
import { repoRoot } from './repo-root.js';

const SCENARIO = 'bench/explore-kernel.yaml';
/** The same with larger choice budgets (about 680,000 states), for the scaling figures. */
const LARGE = 'bench/explore-kernel-large.yaml';

/** What 2 workers could gain over one that keeps `cores` busy: the cores they can use, over those. */
function twoWorkerBound(cores: number): number {
  return +(Math.min(2, MACHINE_CORES) / Math.max(1, cores)).toFixed(2);
}

/** One breadth-first search of a scenario on this thread, measured; it must explore to a verdict of holds. */
async function onOneCore(
  root: string,
  scenario: string,
): Promise<{ r: ReturnType<typeof exploreScenario>; cpu: CpuTime }> {
  const path = join(root, scenario);
  const { value: r, cpu } = await withCpuTime(() =>
    exploreScenario(loadScenarioFile(path, scenario), { strategy: 'bfs', preset: 'v7.3' }),
  );
  if (r.result.stopReason !== 'exhausted' || !r.met)
    throw new Error(`kernel-explore bench: ${scenario} did not explore to a verdict of holds`);
  return { r, cpu };
}

export async function kernelExploreBench(log: (s: string) => void): Promise<unknown> {
  const root = repoRoot(import.meta.dirname);
  const runs: {
    states: number;
    transitions: number;
    seconds: number;
    statesPerSecond: number;
    statesPerCpuSecond: number;
    cores: number;
    gcPauseMs: number;
  }[] = [];
  for (let i = 0; i < 2; i++) {
    const { r, cpu } = await onOneCore(root, SCENARIO);
    runs.push({
      states: r.result.states,
      transitions: r.result.transitions,
      seconds: +(r.result.elapsedMs / 1000).toFixed(2),
      statesPerSecond: Math.round(r.result.statesPerSecond),
      // The whole call (loading included) per CPU second of this process: a busy shared machine
      // disturbs it less than the wall clock.
      statesPerCpuSecond: Math.round(r.result.states / cpu.cpuSeconds),
      // The garbage collector's helper threads run beside the search: "one core" is one thread.
      cores: cpu.cores,
      gcPauseMs: cpu.gcPauseMs,
    });
  }
  const best = runs.reduce((a, b) => (b.statesPerSecond > a.statesPerSecond ? b : a));
  log(
    `kernel model under the explorer (${SCENARIO}, v7.3, BFS, one core): ${best.states.toLocaleString('en-US')} states, ` +
      `${best.transitions.toLocaleString('en-US')} transitions, ${best.seconds} s, ` +
      `${best.statesPerSecond.toLocaleString('en-US')} states/s (goal >= 100,000; runs: ${runs.map((r) => r.statesPerSecond.toLocaleString('en-US')).join(', ')}; ` +
      `per CPU second: ${runs.map((r) => r.statesPerCpuSecond.toLocaleString('en-US')).join(', ')}; ` +
      `cores busy: ${runs.map((r) => r.cores).join(', ')}; GC pauses: ${runs.map((r) => `${r.gcPauseMs} ms`).join(', ')})`,
  );
  interface WorkerRun {
    seconds: number;
    statesPerSecond: number;
    cpuSeconds: number;
    cores: number;
  }
  /** `atsim explore --workers n` on a scenario, `times` runs (each starts its workers afresh). */
  const onWorkers = async (
    n: number,
    scenario = SCENARIO,
    states = best.states,
    times = 2,
  ): Promise<WorkerRun[]> => {
    const path = join(root, scenario);
    const out: WorkerRun[] = [];
    for (let i = 0; i < times; i++) {
      const { value: r, cpu } = await withCpuTime(() =>
        exploreScenarioOnWorkers(path, scenario, loadScenarioFile(path, scenario), {
          preset: 'v7.3',
          workers: n,
        }),
      );
      if (r.result.stopReason !== 'exhausted' || !r.met || r.result.states !== states)
        throw new Error(
          `kernel-explore bench: ${n} workers did not explore the same ${states} states of ${scenario}`,
        );
      out.push({
        seconds: cpu.wallSeconds,
        statesPerSecond: Math.round(r.result.statesPerSecond),
        cpuSeconds: cpu.cpuSeconds,
        cores: cpu.cores,
      });
    }
    return out;
  };
  const fastest = (rs: WorkerRun[]): WorkerRun =>
    rs.reduce((a, b) => (b.statesPerSecond > a.statesPerSecond ? b : a));
  const line = (rs: WorkerRun[]): string =>
    `runs: ${rs.map((r) => r.statesPerSecond.toLocaleString('en-US')).join(', ')}; ` +
    `wall, worker start-up included: ${rs.map((r) => `${r.seconds} s`).join(', ')}; ` +
    `CPU: ${rs.map((r) => `${r.cpuSeconds} s`).join(', ')}; cores busy: ${rs.map((r) => r.cores).join(', ')}`;
  const w1 = await onWorkers(1);
  const best1 = fastest(w1);
  log(`  on 1 worker thread: ${best1.statesPerSecond.toLocaleString('en-US')} states/s (${line(w1)})`);
  const w2 = await onWorkers(2);
  const bestW = fastest(w2);
  // Two workers can keep at most min(2, cores) cores busy: if a state cost them the CPU it costs
  // one worker, that would bound their speed-up (an estimate, not a measurement).
  const ceiling = twoWorkerBound(best1.cores);
  log(
    `  on 2 worker threads: ${bestW.statesPerSecond.toLocaleString('en-US')} states/s ` +
      `(${(bestW.statesPerSecond / best.statesPerSecond).toFixed(2)}x one core, ` +
      `${(bestW.statesPerSecond / best1.statesPerSecond).toFixed(2)}x one worker; ${line(w2)})`,
  );
  log(
    `  one worker keeps ${best1.cores} of this machine's ${MACHINE_CORES} cores busy: ` +
      `at the CPU per state of one worker, 2 workers could reach at most about ${ceiling}x one worker here`,
  );

  // Scaling on a run long enough that the workers' start-up and compilation do not decide it.
  const { r: lr, cpu: lcpu } = await onOneCore(root, LARGE);
  const large = {
    scenario: LARGE,
    states: lr.result.states,
    transitions: lr.result.transitions,
    seconds: +(lr.result.elapsedMs / 1000).toFixed(2),
    statesPerSecond: Math.round(lr.result.statesPerSecond),
    cores: lcpu.cores,
  };
  const [l1] = await onWorkers(1, LARGE, large.states, 1);
  const [l2] = await onWorkers(2, LARGE, large.states, 1);
  const largeCeiling = twoWorkerBound(l1!.cores);
  log(
    `kernel model, ${LARGE} (v7.3, BFS): ${large.states.toLocaleString('en-US')} states, ` +
      `${large.transitions.toLocaleString('en-US')} transitions; one core ${large.statesPerSecond.toLocaleString('en-US')} states/s ` +
      `(${large.seconds} s, ${large.cores} cores busy); 1 worker ${l1!.statesPerSecond.toLocaleString('en-US')} ` +
      `(${l1!.cores} cores busy); 2 workers ${l2!.statesPerSecond.toLocaleString('en-US')} ` +
      `(${l2!.cores} cores busy): ${(l2!.statesPerSecond / l1!.statesPerSecond).toFixed(2)}x one worker ` +
      `(at most about ${largeCeiling}x here), ${(l2!.statesPerSecond / large.statesPerSecond).toFixed(2)}x one core`,
  );
  return {
    scenario: SCENARIO,
    ...best,
    runs,
    workers1: { ...best1, runs: w1 },
    workers2: { ...bestW, runs: w2 },
    machineCores: MACHINE_CORES,
    twoWorkerCeiling: ceiling,
    large: { ...large, workers1: l1, workers2: l2, twoWorkerCeiling: largeCeiling },
  };
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`)
  await kernelExploreBench((l) => process.stderr.write(l + '\n'));
