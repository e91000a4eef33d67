/** Where a command writes, so tests can run the CLI in-process. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  exitCode: number;
  /** Whether standard output / error are terminals (colours, progress). Absent: not terminals. */
  readonly tty?: { readonly out: boolean; readonly err: boolean };
}

export function processIo(): CliIo {
  return {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    exitCode: 0,
    tty: { out: process.stdout.isTTY, err: process.stderr.isTTY },
  };
}
