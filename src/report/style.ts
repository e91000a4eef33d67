/**
 * Text styling for reports. The core never decides about terminals: the CLI passes a Style made
 * with picocolors when the output is a TTY, and PLAIN otherwise.
 */
export interface Style {
  readonly bold: (s: string) => string;
  readonly dim: (s: string) => string;
  readonly red: (s: string) => string;
  readonly green: (s: string) => string;
  readonly yellow: (s: string) => string;
  readonly cyan: (s: string) => string;
}

const id = (s: string): string => s;

export const PLAIN: Style = { bold: id, dim: id, red: id, green: id, yellow: id, cyan: id };

/** Pads `s` to `width` columns, ignoring ANSI colour codes. */
export function padVisible(s: string, width: number): string {
  // eslint-disable-next-line no-control-regex
  const visible = s.replace(/\x1b\[[0-9;]*m/g, '').length;
  return visible >= width ? s : s + ' '.repeat(width - visible);
}

/** Wraps text at `width` columns, each line prefixed by `indent`. */
export function wrap(text: string, width: number, indent: string): string[] {
  const out: string[] = [];
  for (const para of text.split('\n')) {
    let line = '';
    for (const word of para.split(/\s+/).filter((w) => w !== '')) {
      if (line !== '' && indent.length + line.length + 1 + word.length > width) {
        out.push(indent + line);
        line = word;
      } else line = line === '' ? word : `${line} ${word}`;
    }
    if (line !== '') out.push(indent + line);
  }
  return out;
}
