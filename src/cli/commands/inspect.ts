/** `atsim inspect`: what the chosen kernel does with ATS on every function of a machine, and why. */
import { Command, Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { resolveKernel } from '../../kernel/config.js';
import { PRESET_IDS } from '../../kernel/presets.js';
import { compareReports } from '../../inspect/compare.js';
import { formatCompareTable, formatInspectTable } from '../../inspect/format-table.js';
import { inspectMachine, type InspectIommu } from '../../inspect/inspect.js';
import type { IommuConfigInput } from '../../import/iommu-config.js';
import { loadMachineAndIommu } from '../../node/load-machine.js';
import { canonicalBdf } from '../../pci/bdf.js';
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
    .option(
      '--page-size <size>',
      "the SMMU's smallest page size, programmed as the STU (VT-d and AMD-Vi: 4K)",
      parsePageSize,
      12,
    )
    .addOption(
      new Option(
        '--iommu <driver>',
        "the IOMMU whose driver decides: smmuv3, vtd or amd (default: the machine file's iommu.driver, else smmuv3)",
      ).choices(['smmuv3', 'vtd', 'amd'] as const),
    )
    .addOption(
      new Option('--vtd-mode <mode>', 'VT-d mode (default scalable)').choices([
        'legacy',
        'scalable',
      ] as const),
    )
    .option(
      '--atsr <ports>',
      'VT-d DMAR ATSR units: all (ALL_PORTS), or root-port BDFs, comma-separated (default all)',
    )
    .option('--no-amd-iotlb', 'AMD-Vi without remote IOTLB support (amd_iommu_iotlb_sup false)')
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
  atsim inspect dump.txt --iommu vtd --atsr 0000:00:02.0
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
      const { machine, iommu: fromFile } = loadMachineAndIommu({
        files,
        ...(sysfsRoot === undefined ? {} : { sysfsRoot }),
        externalFacing: opts.externalFacing,
      });
      const overrides = parseSwitchOverrides(opts.set);
      const kernel = resolveKernel(opts.kernel, overrides, opts.cmdline);
      const iommu = inspectIommu(fromFile, opts);
      const report = inspectMachine(machine, { kernel, pageShift: opts.pageSize, iommu });
      if (opts.compare !== undefined) {
        const other = inspectMachine(machine, {
          kernel: resolveKernel(opts.compare, overrides, opts.cmdline),
          pageShift: opts.pageSize,
          iommu,
        });
        const cmp = compareReports(report, other);
        io.out(opts.format === 'json' ? JSON.stringify(cmp, null, 2) + '\n' : formatCompareTable(cmp));
      } else {
        io.out(opts.format === 'json' ? JSON.stringify(report, null, 2) + '\n' : formatInspectTable(report));
      }
      io.exitCode = EXIT_OK;
    });
}

/** The IOMMU for inspect: the command line's choice over the machine file's `iommu:` mapping. */
function inspectIommu(
  fromFile: IommuConfigInput | null,
  opts: {
    readonly iommu?: 'smmuv3' | 'vtd' | 'amd';
    readonly vtdMode?: 'legacy' | 'scalable';
    readonly atsr?: string;
    readonly amdIotlb: boolean;
  },
): InspectIommu {
  const driver = opts.iommu ?? fromFile?.driver ?? 'smmuv3';
  const same = fromFile !== null && fromFile.driver === driver;
  const vtd = { ...(same ? fromFile.vtd : {}) };
  if (opts.vtdMode !== undefined) vtd.mode = opts.vtdMode;
  if (opts.atsr !== undefined) {
    if (opts.atsr.trim() === 'all') vtd.atsr = 'all';
    else
      vtd.atsr = opts.atsr
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '')
        .map((t) => {
          const b = canonicalBdf(t);
          if (b === null)
            throw new InputError({
              code: 'bad-option',
              message: `--atsr: ${JSON.stringify(t)} is not a PCI address such as 0000:00:02.0`,
            });
          return b;
        });
  }
  if ((opts.vtdMode !== undefined || opts.atsr !== undefined) && driver !== 'vtd')
    throw new InputError({
      code: 'bad-option',
      message: `--vtd-mode and --atsr are for --iommu vtd, not ${driver}`,
    });
  const amd = { ...(same ? fromFile.amd : {}) };
  if (!opts.amdIotlb) {
    if (driver !== 'amd')
      throw new InputError({
        code: 'bad-option',
        message: `--no-amd-iotlb is for --iommu amd, not ${driver}`,
      });
    amd.iotlb = false;
  }
  const ats = same ? fromFile.features.ats : undefined;
  return { driver, vtd, amd, ...(ats === undefined ? {} : { ats }) };
}
