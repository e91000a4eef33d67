/** The scenario commands (run, check, explain), added to the program together. */
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import type { CliIo } from '../io.js';
import { checkCommand } from './check.js';
import { explainCommand } from './explain.js';
import { runCommand } from './run.js';

export function scenarioCommands(io: CliIo): CommandUnknownOpts[] {
  return [runCommand(io), checkCommand(io), explainCommand(io)];
}
