/** `atsim run FILE`: run one scenario under one kernel and report the trace. */
import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { InputError } from '../../diagnostics.js';
import { loadScenarioFile } from '../../node/load-scenario.js';
import { formatMermaid } from '../../report/mermaid.js';
import { formatTextReport } from '../../report/text.js';
import { runScenario, type SnapshotChoice } from '../../scenario/run.js';
import { EXIT_FINDINGS, EXIT_INTERNAL, EXIT_OK } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { parseSwitchOverrides, scenarioKernelOption, switchOverrideOption } from '../options.js';
import { styleFor } from './terminal.js';

function parseSnapshot(v: string, previous: string[] = []): string[] {
  if (v !== 'all' && v !== 'last' && v !== 'none' && !/^[1-9][0-9]*$/.test(v))
    throw new InvalidArgumentError('expected a step number (1, 2, ...), last, all or none');
  return [...previous, v];
}

function snapshotChoice(items: readonly string[]): SnapshotChoice {
  if (items.length === 0) return 'last';
  if (items.includes('all')) return 'all';
  const nums = items.filter((i) => /^\d+$/.test(i)).map(Number);
  if (items.includes('last') && nums.length === 0) return 'last';
  if (items.includes('none') && nums.length === 0) return 'none';
  return nums;
}

/** `--set` items, with a bad one reported as bad input (exit 2) with its message. */
export function switchOverrides(items: readonly string[]): Record<string, 'on' | 'off'> {
  try {
    return parseSwitchOverrides(items);
  } catch (e) {
    if (e instanceof InvalidArgumentError) throw new InputError({ code: 'bad-option', message: e.message });
    throw e;
  }
}

export function runCommand(io: CliIo): CommandUnknownOpts {
  return new Command('run')
    .description(
      'Run one scenario under one kernel preset: every step, its kernel events, and every invariant checked after it.',
    )
    .argument('<file>', 'a scenario file (YAML or JSON; docs/scenario-format.md)')
    .addOption(scenarioKernelOption())
    .addOption(switchOverrideOption())
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['text', 'json', 'mermaid'] as const)
        .default('text' as const),
    )
    .option('--out <file>', 'write the report to a file instead of stdout')
    .option(
      '--snapshot <n>',
      'carry the state snapshot of step N in the JSON trace (repeatable; last, all, none)',
      parseSnapshot,
      [] as string[],
    )
    .addOption(
      new Option(
        '--driver <driver>',
        "the IOMMU driver, one of the scenario's drivers (default: its iommu.driver)",
      ).choices(['smmuv3', 'vtd', 'amd'] as const),
    )
    .option('--verbose', 'list the events of the implicit boot too')
    .addHelpText(
      'after',
      `
Exit codes: 0 the expectation is met (or nothing is violated when none is stated), 1 it is not,
2 bad input, 3 the model failed.

Examples:
  atsim run scenarios/001-vf-quirked-pf-commit-failure.yaml --kernel v7.2
  atsim run my.yaml --set smmu-ats-prepared-gate=on --format json --out trace.json
  atsim run my.yaml --format mermaid > run.mmd
  atsim run scenarios/050-vtd-scalable-blocked-ats-on.yaml --kernel v7.3 --driver vtd`,
    )
    .action((file, opts) => {
      const bound = loadScenarioFile(file);
      if (opts.driver !== undefined && !bound.doc.drivers.includes(opts.driver))
        throw new InputError({
          code: 'bad-option',
          message: `${file} applies to ${bound.doc.drivers.join(', ')} (its drivers:), not ${opts.driver}`,
        });
      const trace = runScenario(bound, {
        ...(opts.driver === undefined ? {} : { driver: opts.driver }),
        ...(opts.kernel === undefined ? {} : { preset: opts.kernel }),
        overrides: switchOverrides(opts.set),
        snapshots: snapshotChoice(opts.snapshot),
      });
      const toFile = opts.out !== undefined;
      let text: string;
      switch (opts.format) {
        case 'json':
          text = JSON.stringify(trace, null, 2) + '\n';
          break;
        case 'mermaid':
          text = formatMermaid(trace);
          break;
        case 'text':
          text = formatTextReport(trace, { style: styleFor(io, toFile), verboseBoot: opts.verbose === true });
          break;
      }
      if (opts.out !== undefined) {
        try {
          writeFileSync(opts.out, text);
        } catch (e) {
          throw new InputError({
            code: 'output-unwritable',
            message: `cannot write ${opts.out}: ${e instanceof Error ? e.message : String(e)}`,
          });
        }
      } else io.out(text);
      if (trace.error !== null) {
        io.err(`atsim: the model failed at step #${trace.error.n}: ${trace.error.message}\n`);
        io.exitCode = EXIT_INTERNAL;
      } else io.exitCode = trace.met ? EXIT_OK : EXIT_FINDINGS;
    });
}
