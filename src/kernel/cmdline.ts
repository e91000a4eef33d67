/**
 * The kernel command line, as far as the modelled stack reads it:
 *  - `pci=opt[,opt...]`: `noats` sets pcie_ats_disabled (drivers/pci/pci.c pci_setup(), which
 *    matches the option by its first five characters);
 *  - `iommu.passthrough=<bool>` (drivers/iommu/iommu.c iommu_set_def_domain_type());
 *  - `iommu.strict=<bool>` (drivers/iommu/iommu.c iommu_dma_setup()).
 * Booleans are parsed like lib/kstrtox.c kstrtobool(). Parameter names compare with `-` and `_`
 * equal (kernel/params.c parameq()); a later occurrence overrides an earlier one; everything after
 * a bare `--` belongs to init. Other parameters and `pci=` options are kept in `ignored`.
 * A known parameter with a value the kernel would reject is an InputError.
 */
import { InputError } from '../diagnostics.js';

export interface Cmdline {
  /** `pci=noats`: pci_ats_disabled() is true. */
  readonly pciNoAts: boolean;
  /** `iommu.passthrough=`: null when absent (the build-time default applies). */
  readonly iommuPassthrough: boolean | null;
  /** `iommu.strict=`: null when absent. */
  readonly iommuStrict: boolean | null;
  /** The command line as given. */
  readonly raw: string;
  /** Parameters and `pci=` options the model does not interpret, in order (e.g. `quiet`, `pci=realloc`). */
  readonly ignored: readonly string[];
}

export const EMPTY_CMDLINE: Cmdline = {
  pciNoAts: false,
  iommuPassthrough: null,
  iommuStrict: null,
  raw: '',
  ignored: [],
};

/** lib/kstrtox.c kstrtobool(): decides on the first one or two characters; null when rejected. */
export function kstrtobool(s: string | null): boolean | null {
  if (s === null || s.length === 0) return null;
  switch (s[0]) {
    case 'e':
    case 'E':
    case 'y':
    case 'Y':
    case 't':
    case 'T':
    case '1':
      return true;
    case 'd':
    case 'D':
    case 'n':
    case 'N':
    case 'f':
    case 'F':
    case '0':
      return false;
    case 'o':
    case 'O':
      if (s[1] === 'n' || s[1] === 'N') return true;
      if (s[1] === 'f' || s[1] === 'F') return false;
      return null;
    default:
      return null;
  }
}

interface Param {
  readonly name: string;
  readonly value: string | null;
  readonly text: string;
}

/** Splits like kernel/params.c next_arg(): whitespace separates, double quotes group and are dropped. */
function splitArgs(text: string): Param[] {
  const out: Param[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (i >= text.length) break;
    let inQuote = false;
    let tok = '';
    while (i < text.length && (inQuote || !/\s/.test(text[i]!))) {
      const c = text[i]!;
      if (c === '"') inQuote = !inQuote;
      else tok += c;
      i++;
    }
    const eq = tok.indexOf('=');
    out.push(
      eq < 0
        ? { name: tok, value: null, text: tok }
        : { name: tok.slice(0, eq), value: tok.slice(eq + 1), text: tok },
    );
  }
  return out;
}

function bad(message: string): InputError {
  return new InputError({ code: 'bad-cmdline', message });
}

function parseBool(p: Param): boolean {
  const v = kstrtobool(p.value);
  if (v === null)
    throw bad(
      `${p.name}=${p.value ?? ''}: not a boolean (the kernel accepts 0/1, y/n, on/off, true/false, enable/disable)`,
    );
  return v;
}

/** Parses a kernel command line. Throws InputError for a malformed value of a parameter it models. */
export function parseCmdline(text: string): Cmdline {
  let pciNoAts = false;
  let iommuPassthrough: boolean | null = null;
  let iommuStrict: boolean | null = null;
  const ignored: string[] = [];
  for (const p of splitArgs(text)) {
    if (p.name === '--' && p.value === null) break;
    const name = p.name.replace(/-/g, '_');
    switch (name) {
      case 'pci': {
        if (p.value === null || p.value === '') throw bad('pci= needs a comma-separated list of options');
        for (const opt of p.value.split(',')) {
          if (opt === '') continue;
          if (opt.startsWith('noats')) pciNoAts = true;
          else ignored.push(`pci=${opt}`);
        }
        break;
      }
      case 'iommu.passthrough':
        iommuPassthrough = parseBool(p);
        break;
      case 'iommu.strict':
        iommuStrict = parseBool(p);
        break;
      default:
        ignored.push(p.text);
    }
  }
  return { pciNoAts, iommuPassthrough, iommuStrict, raw: text, ignored };
}
