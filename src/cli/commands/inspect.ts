/** `atsim inspect`: what the chosen kernel does with ATS on every function of a machine, and why. */
import { Command, Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { resolveKernel } from '../../kernel/config.js';
import { PRESET_IDS } from '../../kernel/presets.js';
import { compareReports } from '../../inspect/compare.js';
import { formatCompareTable, formatInspectTable } from '../../inspect/format-table.js';
import { inspectMachine } from '../../inspect/inspect.js';
import { loadMachine } from '../../node/load-machine.js';
import { InputError } from '../../diagnostics.js';
import { EXIT_OK } from '../exit-codes.js';
import { collect, parseBdfOption, parsePageSize, parseSwitchOverrides } from '../options.js';
import type { CliIo } from '../io.js';

export function inspectCommand(io: CliIo): CommandUnknownOpts {
  return new Command('inspect')
    .description(
      'For every PCI function of a machine (lspci dumps, machine files, live sysfs), say what the chosen kernel does with ATS and why.',
    )
    .argument(
      '[files...]',
      'lspci output (-x/-xxx/-xxxx hex and/or -v/-vv/-vvv text) or machine files (YAML/JSON)',
    )
    .option('--sysfs [root]', 'read the live machine from sysfs (ROOT defaults to /sys)')
    .addOption(new Option('--kernel <preset>', `kernel preset (${PRESET_IDS.join(', ')})`).default('v7.3'))
    .option(
      '--set <switch=on|off>',
      'override one switch of the preset (repeatable)',
      collect,
      [] as string[],
    )
    .option('--cmdline <text>', 'kernel command line, e.g. "pci=noats"', '')
    .option(
      '--external-facing <bdf>',
      'mark a port external-facing, as firmware would (repeatable)',
      parseBdfOption,
      [] as string[],
    )
    .option('--page-size <size>', "the IOMMU's smallest page size, programmed as the STU", parsePageSize, 12)
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['table', 'json'] as const)
        .default('table' as const),
    )
    .option('--compare <preset>', 'show which functions change between --kernel and this preset')
    .addHelpText(
      'after',
      `
Examples:
  atsim inspect examples/machine.yaml
  atsim inspect dump.txt --kernel v7.2 --compare v7.3
  atsim inspect --sysfs --format json
  lspci -vvv -xxxx > dump.txt && atsim inspect dump.txt --cmdline pci=noats`,
    )
    .action((files, opts) => {
      const sysfsRoot = opts.sysfs === undefined ? undefined : opts.sysfs === true ? '/sys' : opts.sysfs;
      if (files.length === 0 && sysfsRoot === undefined) {
        throw new InputError({
          code: 'no-input',
          message:
            'give an lspci dump or machine file, or --sysfs (try: atsim inspect examples/machine.yaml)',
        });
      }
      const machine = loadMachine({
        files,
        ...(sysfsRoot === undefined ? {} : { sysfsRoot }),
        externalFacing: opts.externalFacing,
      });
      const overrides = parseSwitchOverrides(opts.set);
      const kernel = resolveKernel(opts.kernel, overrides, opts.cmdline);
      const report = inspectMachine(machine, { kernel, pageShift: opts.pageSize });
      if (opts.compare !== undefined) {
        const other = inspectMachine(machine, {
          kernel: resolveKernel(opts.compare, overrides, opts.cmdline),
          pageShift: opts.pageSize,
        });
        const cmp = compareReports(report, other);
        io.out(opts.format === 'json' ? JSON.stringify(cmp, null, 2) + '\n' : formatCompareTable(cmp));
      } else {
        io.out(opts.format === 'json' ? JSON.stringify(report, null, 2) + '\n' : formatInspectTable(report));
      }
      io.exitCode = EXIT_OK;
    });
}
