/** Terminal facts for the scenario commands: colours and progress only on a TTY. */
import pc from 'picocolors';
import { PLAIN, type Style } from '../../report/style.js';
import type { CliIo } from '../io.js';

/** Whether a CliIo stream is a terminal (an io without `tty`, such as a test's, is not). */
export function isTty(io: CliIo, stream: 'out' | 'err'): boolean {
  return io.tty?.[stream] === true;
}

/** Colours for the text reports: only on a TTY, and never with NO_COLOR set. */
export function styleFor(io: CliIo, toFile: boolean): Style {
  if (toFile || !isTty(io, 'out') || (process.env.NO_COLOR ?? '') !== '') return PLAIN;
  const c = pc.createColors(true);
  return { bold: c.bold, dim: c.dim, red: c.red, green: c.green, yellow: c.yellow, cyan: c.cyan };
}
