/** `atsim explain [ID]`: an invariant's statement, source, and the library scenarios that exercise it. */
import { Command, Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { libraryDocs } from '../../node/load-scenario.js';
import { explainInvariant, formatExplanation, formatInvariantList } from '../../scenario/explain.js';
import { EXIT_OK } from '../exit-codes.js';
import type { CliIo } from '../io.js';

export function explainCommand(io: CliIo): CommandUnknownOpts {
  return new Command('explain')
    .description(
      'What an invariant says, where it comes from, and which library scenarios exercise it. With no ID: list them.',
    )
    .argument('[id]', 'an invariant id (e.g. nr-ats-masters) or warn:<kernel function>')
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['text', 'json'] as const)
        .default('text' as const),
    )
    .addHelpText(
      'after',
      `
Examples:
  atsim explain
  atsim explain nr-ats-masters
  atsim explain warn:pci_disable_ats --format json`,
    )
    .action((id, opts) => {
      if (id === undefined) {
        io.out(formatInvariantList());
        io.exitCode = EXIT_OK;
        return;
      }
      const { docs, errors } = libraryDocs();
      for (const e of errors) io.err(`atsim: warning: skipping a library scenario: ${e}\n`);
      const e = explainInvariant(id, docs);
      io.out(opts.format === 'json' ? JSON.stringify(e, null, 2) + '\n' : formatExplanation(e));
      io.exitCode = EXIT_OK;
    });
}
