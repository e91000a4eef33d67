/** `atsim check`: scenarios × kernel presets, each cell compared with the scenario's expectation. */
import { Command, Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { InputError } from '../../diagnostics.js';
import { PRESET_IDS, isPresetId, type PresetId } from '../../kernel/presets.js';
import { expandScenarioPaths, libraryFiles, loadScenarioFile } from '../../node/load-scenario.js';
import { formatCheckTable } from '../../report/check-table.js';
import { checkDrivers, checkScenarios, type CheckInput } from '../../scenario/check.js';
import { IOMMU_DRIVERS, type IommuDriverName } from '../../model/world.js';
import { EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { collect } from '../options.js';
import { isTty, styleFor } from './terminal.js';

export const CHECK_FORMAT = 'atsim-check';

/** `--kernel v6.12 --kernel v7.2,v7.3` → presets in registry order, each once. */
export function presetList(items: readonly string[]): PresetId[] {
  if (items.length === 0) return [...PRESET_IDS];
  const want = new Set<string>();
  for (const item of items)
    for (const p of item
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')) {
      if (!isPresetId(p))
        throw new InputError({
          code: 'unknown-preset',
          message: `unknown kernel preset ${JSON.stringify(p)}; valid presets: ${PRESET_IDS.join(', ')}`,
        });
      want.add(p);
    }
  return PRESET_IDS.filter((p) => want.has(p));
}

/** `--driver vtd --driver amd,smmuv3` → drivers in registry order, each once. */
export function driverList(items: readonly string[]): IommuDriverName[] {
  const want = new Set<string>();
  for (const item of items)
    for (const d of item
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')) {
      if (!(IOMMU_DRIVERS as readonly string[]).includes(d))
        throw new InputError({
          code: 'bad-option',
          message: `unknown IOMMU driver ${JSON.stringify(d)}; valid drivers: ${IOMMU_DRIVERS.join(', ')}`,
        });
      want.add(d);
    }
  return IOMMU_DRIVERS.filter((d) => want.has(d));
}

export function checkCommand(io: CliIo): CommandUnknownOpts {
  return new Command('check')
    .description(
      'Run scenarios under kernel presets and compare every verdict with its expectation. With no files: the built-in seed-claim library under every preset.',
    )
    .argument('[paths...]', 'scenario files or folders of them (default: the built-in library)')
    .option(
      '--kernel <preset>',
      `only these presets (repeatable or comma-separated; default: ${PRESET_IDS.join(', ')})`,
      collect,
      [] as string[],
    )
    .option(
      '--driver <driver>',
      `only these IOMMU drivers (repeatable or comma-separated: ${IOMMU_DRIVERS.join(', ')}; default: every driver a scenario lists)`,
      collect,
      [] as string[],
    )
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['table', 'json'] as const)
        .default('table' as const),
    )
    .addHelpText(
      'after',
      `
Exit codes: 0 every cell is as expected, 1 some cell differs, 2 bad input (including a scenario
that cannot be loaded).

Examples:
  atsim check
  atsim check scenarios/ --kernel v7.2,v7.3
  atsim check --driver vtd --kernel v6.12,v7.3
  atsim check my-scenarios/ --format json`,
    )
    .action((paths, opts) => {
      const presets = presetList(opts.kernel);
      const files =
        paths.length === 0
          ? libraryFiles()
          : expandScenarioPaths(paths).map((file) => ({ file, shownAs: file }));
      const inputs: CheckInput[] = files.map(({ file, shownAs }) => {
        try {
          return { file: shownAs, bound: loadScenarioFile(file, shownAs) };
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
          return { file: shownAs, error: e.message };
        }
      });
      const loadFailed = inputs.some((i) => 'error' in i);
      const progress = isTty(io, 'err');
      const drivers = opts.driver.length === 0 ? checkDrivers(inputs) : driverList(opts.driver);
      const result = checkScenarios(
        inputs,
        presets,
        (done, total, file) => {
          if (progress) io.err(`\r\x1b[K[${done}/${total}] ${file}`);
        },
        drivers,
      );
      if (progress) io.err('\r\x1b[K');
      if (opts.format === 'json')
        io.out(JSON.stringify({ format: CHECK_FORMAT, version: 1, ...result }, null, 2) + '\n');
      else io.out(formatCheckTable(result, styleFor(io, false)));
      io.exitCode = loadFailed ? EXIT_BAD_INPUT : result.differing > 0 ? EXIT_FINDINGS : EXIT_OK;
    });
}
