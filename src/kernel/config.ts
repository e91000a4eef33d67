/** The kernel a run models: a preset, switch overrides, and a command line. */
import { InputError } from '../diagnostics.js';
import { EMPTY_CMDLINE, parseCmdline, type Cmdline } from './cmdline.js';
import { DEFAULT_PRESET, PRESET_IDS, isPresetId, presetSwitches, type PresetId } from './presets.js';
import { SWITCH_IDS, isSwitchId, type SwitchId, type Switches } from './switches.js';

export interface KernelConfig {
  readonly preset: PresetId;
  readonly switches: Switches;
  readonly cmdline: Cmdline;
}

export type SwitchOverride = 'on' | 'off' | boolean;

function overrideValue(id: string, v: unknown): boolean {
  if (v === true || v === 'on') return true;
  if (v === false || v === 'off') return false;
  throw new InputError({
    code: 'bad-switch-value',
    message: `switch ${id}: value ${JSON.stringify(v)} is not on or off`,
  });
}

/**
 * Resolves a preset name (default: the newest), switch overrides and a command line into a
 * KernelConfig. Unknown presets or switches, and bad override values, are InputErrors that list
 * the valid names.
 */
export function resolveKernel(
  preset?: string,
  overrides?: Readonly<Record<string, SwitchOverride>>,
  cmdline?: string,
): KernelConfig {
  const id = preset ?? DEFAULT_PRESET;
  if (!isPresetId(id))
    throw new InputError({
      code: 'unknown-preset',
      message: `unknown kernel preset ${JSON.stringify(id)}; valid presets: ${PRESET_IDS.join(', ')}`,
    });
  const switches: Record<SwitchId, boolean> = { ...presetSwitches(id) };
  for (const [name, value] of Object.entries(overrides ?? {})) {
    if (!isSwitchId(name))
      throw new InputError({
        code: 'unknown-switch',
        message: `unknown kernel switch ${JSON.stringify(name)}; valid switches: ${SWITCH_IDS.join(', ')}`,
      });
    switches[name] = overrideValue(name, value);
  }
  return {
    preset: id,
    switches,
    cmdline: cmdline === undefined ? EMPTY_CMDLINE : parseCmdline(cmdline),
  };
}
