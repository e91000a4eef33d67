/** The `atsim` command line. Exit codes: 0 ok, 1 expectation not met / findings, 2 bad input. */
import { Command } from '@commander-js/extra-typings';

export function buildProgram(): Command {
  const program = new Command('atsim')
    .description('An executable, checkable model of the Linux PCI ATS and IOMMU stack')
    .version('0.1.0')
    .showHelpAfterError();
  return program;
}

export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  await program.parseAsync([...argv]);
  return 0;
}
