/**
 * Diagnostics: every problem with an input names where it is, either a file and line or a
 * function (BDF) and a config-space offset. Parsers return warnings; fatal input errors are
 * thrown as InputError and turned into exit code 2 by the CLI.
 */

export interface FileLocation {
  readonly file: string;
  readonly line: number;
  readonly column?: number;
}

export interface ConfigLocation {
  readonly bdf: string;
  readonly offset?: number;
}

export type Location = FileLocation | ConfigLocation;

export interface Diagnostic {
  /** Stable machine-readable code, e.g. `cap-loop`, `ext-caps-unreadable`. */
  readonly code: string;
  readonly message: string;
  readonly where?: Location;
}

export function formatLocation(where: Location | undefined): string {
  if (where === undefined) return '';
  if ('file' in where)
    return where.column === undefined
      ? `${where.file}:${where.line}`
      : `${where.file}:${where.line}:${where.column}`;
  return where.offset === undefined ? where.bdf : `${where.bdf}+0x${where.offset.toString(16)}`;
}

export function formatDiagnostic(d: Diagnostic): string {
  const loc = formatLocation(d.where);
  return loc === '' ? `${d.code}: ${d.message}` : `${loc}: ${d.code}: ${d.message}`;
}

/** A fatal problem with user input. The CLI prints it without a stack trace and exits 2. */
export class InputError extends Error {
  readonly diagnostic: Diagnostic;
  constructor(diagnostic: Diagnostic) {
    super(formatDiagnostic(diagnostic));
    this.name = 'InputError';
    this.diagnostic = diagnostic;
  }
}

export function hex(n: number, width = 0): string {
  return n.toString(16).padStart(width, '0');
}
