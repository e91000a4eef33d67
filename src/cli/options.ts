/** Option parsers shared by the commands. */
import { InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { PRESET_IDS } from '../kernel/presets.js';
import { canonicalBdf } from '../pci/bdf.js';

export function parseFormat<T extends string>(allowed: readonly T[]): (v: string) => T {
  return (v: string): T => {
    if ((allowed as readonly string[]).includes(v)) return v as T;
    throw new InvalidArgumentError(`expected one of ${allowed.join(', ')}`);
  };
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--set switch=on|off`, repeatable. */
export function parseSwitchOverrides(items: readonly string[]): Record<string, 'on' | 'off'> {
  const out: Record<string, 'on' | 'off'> = {};
  for (const item of items) {
    const m = /^([a-z0-9-]+)=(on|off)$/.exec(item);
    if (m === null) throw new InvalidArgumentError(`--set ${item}: expected switch=on or switch=off`);
    out[m[1]!] = m[2] as 'on' | 'off';
  }
  return out;
}

export function parseBdfOption(v: string, previous: string[] = []): string[] {
  const bdf = canonicalBdf(v);
  if (bdf === null) throw new InvalidArgumentError(`${v} is not a PCI address (expected [ssss:]bb:dd.f)`);
  return [...previous, bdf];
}

/** `--page-size 4K|16K|64K|<bytes>` → page shift. */
export function parsePageSize(v: string): number {
  const m = /^(\d+)([KkMm]?)$/.exec(v.trim());
  if (m === null) throw new InvalidArgumentError(`${v}: expected a page size such as 4K, 16K or 64K`);
  const bytes = Number(m[1]) * (m[2] === '' ? 1 : /k/i.test(m[2]!) ? 1024 : 1024 * 1024);
  const shift = Math.log2(bytes);
  if (!Number.isInteger(shift) || shift < 12 || shift > 31)
    throw new InvalidArgumentError(`${v}: the page size must be a power of two from 4K`);
  return shift;
}

/** `--kernel <preset>` for the scenario commands: the scenario's own preset unless given. */
export function scenarioKernelOption() {
  return new Option(
    '--kernel <preset>',
    `kernel preset (${PRESET_IDS.join(', ')}); default: the scenario's, else the newest`,
  );
}

/** `--set switch=on|off`, repeatable, on top of the scenario's switches. */
export function switchOverrideOption() {
  return new Option('--set <switch=on|off>', 'override one switch, on top of the scenario (repeatable)')
    .argParser(collect)
    .default([] as string[]);
}
