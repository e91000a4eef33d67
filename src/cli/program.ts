/** The `atsim` command line. Exit codes are in exit-codes.ts and the README. */
import { Command, CommanderError } from '@commander-js/extra-typings';
import { InputError } from '../diagnostics.js';
import { exploreCommand } from './commands/explore.js';
import { inspectCommand } from './commands/inspect.js';
import { mergeCommand } from './commands/merge.js';
import { scenarioCommands } from './commands/scenario-commands.js';
import { EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK } from './exit-codes.js';
import { processIo, type CliIo } from './io.js';

export const VERSION = '0.1.0';

export function buildProgram(io: CliIo): Command {
  const program = new Command('atsim')
    .description('An executable, checkable model of the Linux PCI ATS and IOMMU stack')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => {
        io.out(s);
      },
      writeErr: (s) => {
        io.err(s);
      },
    });
  const sub = [inspectCommand(io), ...scenarioCommands(io), exploreCommand(io), mergeCommand(io)];
  for (const c of sub) {
    c.exitOverride()
      .configureOutput({
        writeOut: (s) => {
          io.out(s);
        },
        writeErr: (s) => {
          io.err(s);
        },
      })
      .showHelpAfterError();
    program.addCommand(c);
  }
  return program;
}

/** Runs the CLI and returns the exit code; never throws. */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv]);
    return io.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors are bad input.
      return e.exitCode === 0 ? EXIT_OK : EXIT_BAD_INPUT;
    }
    if (e instanceof InputError) {
      io.err(`atsim: ${e.message}\n`);
      return EXIT_BAD_INPUT;
    }
    io.err(`atsim: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return EXIT_INTERNAL;
  }
}
