/** `atsim explore FILE`: explore a scenario's threads and choices in every interleaving (docs/explorer.md). */
import { writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { InputError } from '../../diagnostics.js';
import type { ExploreOptions } from '../../explore/options.js';
import type { Progress } from '../../explore/result.js';
import { resultToJson } from '../../explore/result.js';
import { MAX_WORKERS } from '../../node/explore-workers.js';
import { loadScenarioFile, loadScenarioMachine } from '../../node/load-scenario.js';
import { exploreScenarioOnWorkers } from '../../node/scenario-model.js';
import { formatMermaid } from '../../report/mermaid.js';
import { PLAIN, type Style } from '../../report/style.js';
import { formatTextReport, verdictText } from '../../report/text.js';
import { counterexampleFile } from '../../scenario/counterexample.js';
import {
  actionTrace,
  exploreScenario,
  prepareExploration,
  runActions,
  type ScenarioExploreResult,
} from '../../scenario/explore.js';
import { fullReduction } from '../../scenario/reduce.js';
import type { BoundScenario } from '../../scenario/bind.js';
import { parseShard, runShard, type ShardSpec } from '../../explore/shard.js';
import type { Trace } from '../../scenario/run.js';
import { shrinkCounterexample, type Shrunk } from '../../scenario/shrink.js';
import { isExploreScenario } from '../../scenario/types.js';
import { EXIT_FINDINGS, EXIT_OK } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { scenarioKernelOption, switchOverrideOption } from '../options.js';
import { switchOverrides } from './run.js';
import { isTty, styleFor } from './terminal.js';

export const EXPLORE_FORMAT = 'atsim-explore';

/** Writes a file the user named; failure is bad input. */
export function writeOutput(file: string, text: string): void {
  try {
    writeFileSync(file, text);
  } catch (e) {
    throw new InputError({
      code: 'output-unwritable',
      message: `cannot write ${file}: ${e instanceof Error ? e.message : String(e)}`,
    });
  }
}

function positiveInt(what: string): (v: string) => number {
  return (v: string): number => {
    if (!/^[0-9]+$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v)))
      throw new InvalidArgumentError(`expected ${what} (a whole number, 1 or more)`);
    return Number(v);
  };
}

function workerCount(v: string): number {
  if (!/^[0-9]+$/.test(v) || Number(v) < 1 || Number(v) > MAX_WORKERS)
    throw new InvalidArgumentError(`expected a number of worker threads, 1 to ${MAX_WORKERS}`);
  return Number(v);
}

function nonNegInt(v: string): number {
  if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(Number(v)))
    throw new InvalidArgumentError('expected a whole number, 0 or more');
  return Number(v);
}

function seconds(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError('expected a number of seconds, more than 0');
  return n;
}

function fmtRate(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Progress in words: states, states/s, depth, queue, time. */
export function progressLine(p: Progress): string {
  return `${fmtRate(p.states)} states, ${fmtRate(p.statesPerSecond)} states/s, depth ${p.depth}, queue ${fmtRate(p.queue)}, ${(p.elapsedMs / 1000).toFixed(1)} s`;
}

const BAR_WIDTH = 24;

/**
 * The terminal's progress bar: how far the search is towards the nearest limit it was given
 * (--max-states, --time-limit), else the share of the stored states already expanded (the queue
 * holds the rest), then the figures.
 */
export function progressBar(
  p: Progress,
  limits: { readonly maxStates?: number; readonly timeLimitMs?: number } = {},
): string {
  let frac: number;
  let what: string;
  const byStates = limits.maxStates === undefined ? -1 : p.states / limits.maxStates;
  const byTime = limits.timeLimitMs === undefined ? -1 : p.elapsedMs / limits.timeLimitMs;
  if (byStates >= 0 || byTime >= 0) {
    frac = Math.max(byStates, byTime);
    what = byStates >= byTime ? 'of --max-states' : 'of --time-limit';
  } else {
    frac = p.states === 0 ? 0 : (p.states - p.queue) / p.states;
    what = 'expanded';
  }
  frac = Math.min(1, Math.max(0, frac));
  const filled = Math.round(frac * BAR_WIDTH);
  const bar = '█'.repeat(filled) + '░'.repeat(BAR_WIDTH - filled);
  return `${bar} ${String(Math.floor(frac * 100)).padStart(3)}% ${what} | ${progressLine(p)}`;
}

/** The search's figures, one or two lines. */
export function searchSummary(r: ScenarioExploreResult, st: Style = PLAIN): string[] {
  const x = r.result;
  const secs = (x.elapsedMs / 1000).toFixed(2);
  const lines = [
    `${st.bold('Explored')} ${x.states} states, ${x.transitions} transitions in ${secs} s (${fmtRate(x.statesPerSecond)} states/s), ${x.strategy}${r.workers === 0 ? '' : ` on ${r.workers} worker thread${r.workers === 1 ? '' : 's'}`}, depth ${x.maxDepth}`,
    `Stopped: ${x.stopReason}${x.complete ? ' (complete)' : ` (not complete: ${x.frontier} states left unexpanded)`}`,
  ];
  if (x.walks !== undefined) lines.push(`Random walks: ${x.walks}`);
  return lines;
}

/** A shrunk counterexample as the report shows it. */
export interface ShownCounterexample {
  readonly shrunk: Shrunk | null;
  /** The run trace printed: the shrunk counterexample's, else the search's. */
  readonly trace: Trace;
}

function sizeText(a: number, b: number, what: string): string | null {
  return a === b ? null : `${what} ${a} → ${b}`;
}

/** One line: what shrinking removed. */
export function shrinkSummary(s: Shrunk): string {
  const b = s.before;
  const a = s.after;
  const parts = [
    sizeText(b.threads, a.threads, 'threads'),
    sizeText(b.threadSteps, a.threadSteps, 'thread steps'),
    sizeText(b.choices, a.choices, 'choices'),
    sizeText(b.budget, a.budget, 'choice budget'),
    sizeText(b.setupSteps, a.setupSteps, 'setup steps'),
    sizeText(b.functions, a.functions, 'functions'),
    sizeText(b.depth, a.depth, 'steps'),
  ].filter((x): x is string => x !== null);
  const labels = s.actions.map((x) => s.exploration.model.actionLabel(x));
  return `Shrunk (${s.invariant}): ${parts.length === 0 ? 'nothing to remove' : parts.join(', ')}; ${labels.length} step${labels.length === 1 ? '' : 's'} after the setup${labels.length === 0 ? '' : ` (${labels.join(', ')})`}; ${s.tries} candidates tried${s.timedOut ? ', stopped by the time budget' : ''}`;
}

/** The text report: the figures, then the counterexample as run steps, or "no violation in N states". */
export function formatExploreText(
  r: ScenarioExploreResult,
  st: Style = PLAIN,
  shown: ShownCounterexample = { shrunk: null, trace: r.trace },
): string {
  const out: string[] = [];
  const first = r.result.violations[0];
  if (first !== undefined) {
    out.push(...searchSummary(r, st));
    out.push(
      `Counterexample: ${first.depth} step${first.depth === 1 ? '' : 's'} after the setup (${first.trace
        .slice(1)
        .map((t) => t.label)
        .join(', ')})${r.result.strategy === 'bfs' ? ', a shortest one' : ''}`,
    );
    if (r.result.violations.length > 1) {
      out.push(
        `Violations recorded: ${r.result.violations.length} (--format json lists them); the first of each:`,
      );
      const seen = new Set<string>();
      for (const v of r.result.violations) {
        if (seen.has(v.invariantName)) continue;
        seen.add(v.invariantName);
        out.push(
          `  ${v.invariantName}: depth ${v.depth} (${v.trace
            .slice(1)
            .map((t) => t.label)
            .join(', ')})`,
        );
      }
    }
    if (shown.shrunk !== null) out.push(shrinkSummary(shown.shrunk));
    out.push('');
    out.push(formatTextReport(shown.trace, { style: st }).trimEnd());
    return out.join('\n') + '\n';
  }
  const sc = r.trace.scenario;
  out.push(`${st.bold('Scenario')} ${sc.name}  ${st.dim(`(${sc.file})`)}`);
  out.push(`Kernel ${st.bold(r.trace.kernel.preset)}`);
  out.push(...searchSummary(r, st));
  out.push(
    r.result.complete
      ? st.green(`no violation in ${r.result.states} states`)
      : st.yellow(`no violation in ${r.result.states} states (the search did not finish)`),
  );
  out.push('');
  out.push(`${st.bold('Verdict')}: ${st.green('holds')}`);
  out.push(
    `Expected (${r.trace.kernel.preset}): ${verdictText(r.expected)}${r.expected === null ? ' (none stated)' : ''}`,
  );
  for (const why of r.reasons) out.push(st.red(`  ${why}`));
  out.push(r.met ? st.green(st.bold('Expectation met')) : st.red(st.bold('Expectation NOT met')));
  return out.join('\n') + '\n';
}

export function exploreJson(
  r: ScenarioExploreResult,
  shown: ShownCounterexample = { shrunk: null, trace: r.trace },
): unknown {
  const search = resultToJson(r.model, r.result);
  const s = shown.shrunk;
  return {
    format: EXPLORE_FORMAT,
    version: 1,
    scenario: r.trace.scenario,
    kernel: r.trace.kernel,
    search: {
      ...search,
      violations: search.violations.map((v) => ({ ...v, trace: v.trace.map((t) => t.action) })),
    },
    verdict: { holds: r.violated.length === 0, violated: r.violated },
    expected: r.expected,
    met: r.met,
    reasons: r.reasons,
    shrunk:
      s === null
        ? null
        : {
            invariant: s.invariant,
            reduction: s.reduction,
            actions: s.actions.map((a) => s.exploration.model.actionLabel(a)),
            before: s.before,
            after: s.after,
            tries: s.tries,
            kept: s.kept,
            timedOut: s.timedOut,
          },
    counterexample: r.result.violations.length > 0 ? shown.trace : null,
  };
}

interface ShardCommandOptions {
  readonly swarm: boolean;
  readonly out: string | undefined;
  readonly fingerprints: boolean;
  readonly search: ExploreOptions;
  readonly explore: { readonly preset?: string; readonly overrides: Record<string, 'on' | 'off'> };
  readonly incompatible: readonly (string | null)[];
  readonly format: 'text' | 'json' | 'mermaid';
}

/** `atsim explore FILE --shard i/n --shard-out F`: one slice of the kernel model's state space, written as a shard result file. */
function runShardCommand(io: CliIo, bound: BoundScenario, text: string, o: ShardCommandOptions): void {
  const bad = o.incompatible.find((x): x is string => x !== null);
  if (bad !== undefined)
    throw new InputError({ code: 'bad-option', message: `--shard and ${bad} exclude each other` });
  if (o.out === undefined)
    throw new InputError({
      code: 'bad-option',
      message: '--shard needs --shard-out FILE (the result file atsim merge reads)',
    });
  if (o.format === 'mermaid')
    throw new InputError({
      code: 'bad-option',
      message: '--shard prints text or json (a slice has no single counterexample to draw)',
    });
  let spec: ShardSpec;
  try {
    spec = parseShard(text, o.swarm ? 'swarm' : 'split');
  } catch {
    throw new InputError({
      code: 'bad-option',
      message: `--shard ${text}: expected i/n with 0 <= i < n (slices are numbered from 0)`,
    });
  }
  const x = prepareExploration(bound, o.explore);
  const result = runShard(x.model, spec, {
    ...o.search,
    strategy: o.swarm ? 'dfs' : 'bfs',
    fingerprints: o.fingerprints,
  });
  writeOutput(o.out, JSON.stringify(result) + '\n');
  if (o.format === 'json') io.out(JSON.stringify(result.result, null, 2) + '\n');
  else {
    const r = result.result;
    io.out(
      [
        `Shard ${spec.index}/${spec.count} (${spec.mode}) of ${result.model}`,
        `Explored ${r.states} states, ${r.transitions} transitions in ${(r.elapsedMs / 1000).toFixed(2)} s, depth ${r.maxDepth}; stopped: ${r.stopReason}`,
        r.violations.length === 0
          ? 'No violation in this slice'
          : `Violations: ${[...new Set(r.violations.map((v) => v.invariant))].join(', ')}`,
        `Wrote ${o.out}`,
      ].join('\n') + '\n',
    );
  }
  io.exitCode = result.result.violations.length > 0 ? EXIT_FINDINGS : EXIT_OK;
}

export function exploreCommand(io: CliIo): CommandUnknownOpts {
  return new Command('explore')
    .description(
      "Explore a scenario's threads and choices in every interleaving (breadth-first: a shortest counterexample) and check every invariant after every step.",
    )
    .argument('<file>', 'a scenario file with threads: and/or choices: (docs/scenario-format.md)')
    .addOption(scenarioKernelOption())
    .addOption(switchOverrideOption())
    .option(
      '--workers <n>',
      `run the breadth-first search on N worker threads (1 to ${MAX_WORKERS}; default: none, one thread)`,
      workerCount,
    )
    .option('--dfs', 'depth-first instead of breadth-first')
    .option(
      '--random <walks>',
      'N seeded random walks instead of an exhaustive search',
      positiveInt('a number of walks'),
    )
    .option('--seed <seed>', 'seed of the random walks (default 1)', nonNegInt)
    .option('--max-states <n>', 'stop after this many distinct states', positiveInt('a number of states'))
    .option(
      '--max-depth <n>',
      'expand nothing deeper than this (the walk length with --random)',
      positiveInt('a depth'),
    )
    .option('--time-limit <seconds>', 'stop after this long', seconds)
    .option('--all', 'go on after the first violation and report every invariant violated anywhere')
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['text', 'json', 'mermaid'] as const)
        .default('text' as const),
    )
    .option('--no-shrink', 'print the counterexample as found, without shrinking it')
    .option(
      '--trace-out <file>',
      'write the (shrunk) counterexample to a file that atsim run --trace FILE replays',
    )
    .option(
      '--shard <i/n>',
      'run slice i (0-based) of n independent searches and write its result file (--shard-out); atsim merge combines them',
    )
    .option(
      '--swarm',
      'with --shard: a seeded depth-first search per slice (bug hunting) instead of a partition',
    )
    .option('--shard-out <file>', 'with --shard: the result file to write')
    .option(
      '--fingerprints',
      "with --shard: put the slice's fingerprints in the file, so atsim merge counts the union exactly",
    )
    .option('--quiet', 'no progress on standard error')
    .addHelpText(
      'after',
      `
Exit codes: 0 the result meets the scenario's expectation for the preset, 1 it does not, 2 bad
input, 3 the model failed.

Examples:
  atsim explore scenarios/explore/010-flr-vs-unmap.yaml --kernel v6.12
  atsim explore scenarios/explore/010-flr-vs-unmap.yaml --kernel v7.3 --all --format json
  atsim explore scenarios/explore/010-flr-vs-unmap.yaml --kernel v6.12 --trace-out cex.json
  atsim run --trace cex.json
  atsim explore scenarios/explore/070-untrusted-translated-dma.yaml --kernel v7.3 --workers 2
  atsim explore my.yaml --random 1000 --seed 7 --max-depth 50
  atsim explore my.yaml --kernel v6.12 --shard 0/4 --shard-out shard-0.json`,
    )
    .action(async (file, opts) => {
      if (opts.dfs === true && opts.random !== undefined)
        throw new InputError({ code: 'bad-option', message: '--dfs and --random exclude each other' });
      if (opts.workers !== undefined)
        for (const [flag, given] of [
          ['--dfs', opts.dfs],
          ['--random', opts.random],
          ['--shard', opts.shard],
        ] as const)
          if (given !== undefined)
            throw new InputError({
              code: 'bad-option',
              message: `--workers and ${flag} exclude each other (worker threads search breadth-first)`,
            });
      if (opts.seed !== undefined && opts.random === undefined)
        throw new InputError({ code: 'bad-option', message: '--seed goes with --random N' });
      const bound = loadScenarioFile(file);
      if (!isExploreScenario(bound.doc))
        throw new InputError({
          code: 'not-an-explore-scenario',
          message: `${file} has no threads: or choices: to explore; run it with atsim run ${file}`,
        });
      const tty = isTty(io, 'err');
      const quiet = opts.quiet === true;
      const progress = { shown: false };
      const limits = {
        ...(opts.maxStates === undefined ? {} : { maxStates: opts.maxStates }),
        ...(opts.timeLimit === undefined ? {} : { timeLimitMs: opts.timeLimit * 1000 }),
      };
      const onProgress = (p: Progress): boolean => {
        if (tty) {
          io.err(`\r\x1b[K${progressBar(p, limits)}`);
          progress.shown = true;
        } else io.err(`atsim explore: ${progressLine(p)}\n`);
        return true;
      };
      const search: ExploreOptions = {
        strategy: opts.random !== undefined ? 'random' : opts.dfs === true ? 'dfs' : 'bfs',
        violations: opts.all === true ? 'all' : 'first',
        ...(opts.random === undefined ? {} : { walks: opts.random, seed: opts.seed ?? 1 }),
        ...(opts.maxStates === undefined ? {} : { maxStates: opts.maxStates }),
        ...(opts.maxDepth === undefined ? {} : { maxDepth: opts.maxDepth }),
        ...(opts.timeLimit === undefined ? {} : { timeLimitMs: opts.timeLimit * 1000 }),
        ...(quiet ? {} : { onProgress, progressPeriodMs: tty ? 500 : 5000 }),
      };
      const overrides = switchOverrides(opts.set);
      const kernel = opts.kernel === undefined ? {} : { preset: opts.kernel };
      if (opts.shard !== undefined) {
        runShardCommand(io, bound, opts.shard, {
          swarm: opts.swarm === true,
          out: opts.shardOut,
          fingerprints: opts.fingerprints === true,
          search,
          explore: { ...kernel, overrides },
          incompatible: [
            opts.dfs === true ? '--dfs' : null,
            opts.random !== undefined ? '--random' : null,
            opts.traceOut !== undefined ? '--trace-out' : null,
          ],
          format: opts.format,
        });
        if (progress.shown) io.err('\r\x1b[K');
        return;
      }
      for (const [flag, given] of [
        ['--swarm', opts.swarm],
        ['--shard-out', opts.shardOut],
        ['--fingerprints', opts.fingerprints],
      ] as const)
        if (given !== undefined)
          throw new InputError({ code: 'bad-option', message: `${flag} goes with --shard i/n` });
      const scenarioOpts = { ...search, ...kernel, overrides };
      const r =
        opts.workers === undefined
          ? exploreScenario(bound, scenarioOpts)
          : await exploreScenarioOnWorkers(file, file, bound, { ...scenarioOpts, workers: opts.workers });
      if (progress.shown) io.err('\r\x1b[K');
      const first = r.result.violations[0];
      let shown: ShownCounterexample = { shrunk: null, trace: r.trace };
      if (first !== undefined && opts.shrink) {
        const machine = loadScenarioMachine(bound.doc, dirname(file));
        const s = shrinkCounterexample(r.exploration, r.actions, first.invariantName, {
          ...kernel,
          overrides,
          machine,
          ...(quiet
            ? {}
            : {
                onTry: (tries: number, kept: number): void => {
                  if (tty) {
                    io.err(`\r\x1b[Kshrinking: ${tries} candidates tried, ${kept} kept`);
                    progress.shown = true;
                  }
                },
              }),
        });
        if (progress.shown) io.err('\r\x1b[K');
        if (s !== null)
          shown = {
            shrunk: s,
            trace: actionTrace(
              s.exploration,
              runActions(s.exploration, s.actions),
              r.trace.verdict,
              r.expected,
              r.met,
              r.reasons,
            ),
          };
      }
      if (opts.traceOut !== undefined) {
        if (first === undefined)
          io.err(`atsim explore: no counterexample, so nothing written to ${opts.traceOut}\n`);
        else {
          const s = shown.shrunk;
          const cx = counterexampleFile(
            s?.exploration ?? r.exploration,
            s?.reduction ?? fullReduction(bound.doc),
            s?.actions ?? r.actions,
            s?.invariant ?? first.invariantName,
            relative(dirname(resolve(opts.traceOut)), resolve(file))
              .split('\\')
              .join('/'),
            overrides,
          );
          writeOutput(opts.traceOut, JSON.stringify(cx, null, 2) + '\n');
        }
      }
      switch (opts.format) {
        case 'json':
          io.out(JSON.stringify(exploreJson(r, shown), null, 2) + '\n');
          break;
        case 'mermaid':
          io.out(formatMermaid(shown.trace));
          break;
        case 'text':
          io.out(formatExploreText(r, styleFor(io, false), shown));
          break;
      }
      io.exitCode = r.met ? EXIT_OK : EXIT_FINDINGS;
    });
}
