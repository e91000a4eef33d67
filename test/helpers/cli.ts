import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runCli } from '../../src/cli/program.js';
import type { CliIo } from '../../src/cli/io.js';
import { repoRoot } from './paths.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process (fast; same code as the binary). */
export async function atsim(...args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { out: (t) => (stdout += t), err: (t) => (stderr += t), exitCode: 0 };
  const code = await runCli(['node', 'atsim', ...args], io);
  return { code, stdout, stderr };
}

/** Runs the built binary as a user would (`npm test` builds first). */
export function atsimBin(args: readonly string[], opts: { cwd?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'atsim.js'), ...args], {
    encoding: 'utf8',
    cwd: opts.cwd ?? repoRoot,
    maxBuffer: 1 << 28,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
