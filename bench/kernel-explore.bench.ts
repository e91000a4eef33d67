/**
 * The kernel model under the explorer: bench/explore-kernel.yaml (four threads mapping, unmapping
 * and resetting ATS functions of the example ARM server, two ATC-fill choices; about 107,000
 * distinct states) explored exhaustively, breadth-first, on one core, every invariant checked
 * after every step. Each run is timed twice and the faster counts (the first warms the JIT up).
 * Goal: >= 100,000 distinct states/s. Then the same on 1 and on 2 worker threads (`atsim explore
 * --workers N`: each worker builds the model from the file), timed twice too; 2 workers against
 * the one-core figure and against one worker.
 * Run: npm run bench -- kernel-explore
 */
import { join } from 'node:path';
import { loadScenarioFile } from '../src/node/load-scenario.js';
import { exploreScenarioOnWorkers } from '../src/node/scenario-model.js';
import { exploreScenario } from '../src/scenario/explore.js';
import { repoRoot } from './repo-root.js';

const SCENARIO = 'bench/explore-kernel.yaml';

export async function kernelExploreBench(log: (s: string) => void): Promise<unknown> {
  const file = join(repoRoot(import.meta.dirname), SCENARIO);
  const runs: {
    states: number;
    transitions: number;
    seconds: number;
    statesPerSecond: number;
    statesPerCpuSecond: number;
  }[] = [];
  for (let i = 0; i < 2; i++) {
    const c0 = process.cpuUsage();
    const r = exploreScenario(loadScenarioFile(file, SCENARIO), { strategy: 'bfs', preset: 'v7.3' });
    const cpu = process.cpuUsage(c0);
    if (r.result.stopReason !== 'exhausted' || !r.met)
      throw new Error(`kernel-explore bench: ${SCENARIO} did not explore to a verdict of holds`);
    runs.push({
      states: r.result.states,
      transitions: r.result.transitions,
      seconds: +(r.result.elapsedMs / 1000).toFixed(2),
      statesPerSecond: Math.round(r.result.statesPerSecond),
      // The whole call (loading included) per CPU second of this process: a busy shared machine
      // disturbs it less than the wall clock.
      statesPerCpuSecond: Math.round(r.result.states / ((cpu.user + cpu.system) / 1e6)),
    });
  }
  const best = runs.reduce((a, b) => (b.statesPerSecond > a.statesPerSecond ? b : a));
  log(
    `kernel model under the explorer (${SCENARIO}, v7.3, BFS, one core): ${best.states.toLocaleString('en-US')} states, ` +
      `${best.transitions.toLocaleString('en-US')} transitions, ${best.seconds} s, ` +
      `${best.statesPerSecond.toLocaleString('en-US')} states/s (goal >= 100,000; runs: ${runs.map((r) => r.statesPerSecond.toLocaleString('en-US')).join(', ')}; ` +
      `per CPU second: ${runs.map((r) => r.statesPerCpuSecond.toLocaleString('en-US')).join(', ')})`,
  );
  /** `atsim explore --workers n`, timed twice (each run starts its workers afresh). */
  const onWorkers = async (n: number): Promise<{ seconds: number; statesPerSecond: number }[]> => {
    const out: { seconds: number; statesPerSecond: number }[] = [];
    for (let i = 0; i < 2; i++) {
      const t0 = performance.now();
      const r = await exploreScenarioOnWorkers(file, SCENARIO, loadScenarioFile(file, SCENARIO), {
        preset: 'v7.3',
        workers: n,
      });
      const wall = (performance.now() - t0) / 1000;
      if (r.result.stopReason !== 'exhausted' || !r.met || r.result.states !== best.states)
        throw new Error(`kernel-explore bench: ${n} workers did not explore the same ${best.states} states`);
      out.push({ seconds: +wall.toFixed(2), statesPerSecond: Math.round(r.result.statesPerSecond) });
    }
    return out;
  };
  const fastest = (rs: { seconds: number; statesPerSecond: number }[]) =>
    rs.reduce((a, b) => (b.statesPerSecond > a.statesPerSecond ? b : a));
  const line = (rs: { seconds: number; statesPerSecond: number }[]): string =>
    `runs: ${rs.map((r) => r.statesPerSecond.toLocaleString('en-US')).join(', ')}; ` +
    `wall, worker start-up included: ${rs.map((r) => `${r.seconds} s`).join(', ')}`;
  const w1 = await onWorkers(1);
  const best1 = fastest(w1);
  log(`  on 1 worker thread: ${best1.statesPerSecond.toLocaleString('en-US')} states/s (${line(w1)})`);
  const w2 = await onWorkers(2);
  const bestW = fastest(w2);
  log(
    `  on 2 worker threads: ${bestW.statesPerSecond.toLocaleString('en-US')} states/s ` +
      `(${(bestW.statesPerSecond / best.statesPerSecond).toFixed(2)}x one core, ` +
      `${(bestW.statesPerSecond / best1.statesPerSecond).toFixed(2)}x one worker; ${line(w2)})`,
  );
  return {
    scenario: SCENARIO,
    ...best,
    runs,
    workers1: { ...best1, runs: w1 },
    workers2: { ...bestW, runs: w2 },
  };
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`)
  await kernelExploreBench((l) => process.stderr.write(l + '\n'));
