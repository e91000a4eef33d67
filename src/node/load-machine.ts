/**
 * Loading a machine from the command line's inputs: any number of files (machine descriptions
 * or lspci output, told apart by content) and optionally a live sysfs tree, merged into one
 * topology. When two inputs show the same BDF the first one wins (buildMachine warns).
 */
import { readTextFile } from './read-text-file.js';
import type { Diagnostic } from '../diagnostics.js';
import { parseLspci } from '../import/lspci.js';
import { isMachineFileText, parseMachineFile, readMachineFileIommu } from '../import/machine-file.js';
import type { IommuConfigInput } from '../import/iommu-config.js';
import type { Bdf } from '../pci/bdf.js';
import type { PciFunction } from '../pci/function.js';
import { buildMachine, type Machine } from '../pci/topology.js';
import { readSysfs } from './sysfs.js';

export interface MachineInputs {
  readonly files: readonly string[];
  /** A sysfs root to read live functions from (`/sys` on a live system). */
  readonly sysfsRoot?: string;
  /** Ports to treat as firmware-marked external-facing. */
  readonly externalFacing?: readonly Bdf[];
}

export type InputFormat = 'machine-file' | 'lspci';

/** Which reader a file's text needs. */
export function detectFormat(text: string): InputFormat {
  return isMachineFileText(text) ? 'machine-file' : 'lspci';
}

function readInput(file: string): string {
  return readTextFile(
    file,
    'atsim reads lspci text (lspci -vvv -xxxx) or machine files (docs/machine-format.md)',
  );
}

export function loadMachine(inputs: MachineInputs): Machine {
  return loadMachineAndIommu(inputs).machine;
}

/**
 * The machine, and the `iommu:` mapping of the first machine file among the inputs that has one
 * (null if none does). Each file is read once: an lspci dump may be hundreds of megabytes.
 */
export function loadMachineAndIommu(inputs: MachineInputs): {
  readonly machine: Machine;
  readonly iommu: IommuConfigInput | null;
} {
  const functions: PciFunction[] = [];
  const diagnostics: Diagnostic[] = [];
  let iommu: IommuConfigInput | null = null;
  for (const file of inputs.files) {
    const text = readInput(file);
    if (detectFormat(text) === 'machine-file') {
      const m = parseMachineFile(text, file);
      for (const f of m.functions) functions.push(f.fn);
      diagnostics.push(...m.diagnostics);
      iommu ??= readMachineFileIommu(text, file);
    } else {
      const r = parseLspci(text, file);
      functions.push(...r.functions);
      diagnostics.push(...r.diagnostics);
    }
  }
  if (inputs.sysfsRoot !== undefined) {
    const r = readSysfs(inputs.sysfsRoot);
    functions.push(...r.functions);
    diagnostics.push(...r.diagnostics);
  }
  const machine = buildMachine(
    functions,
    inputs.externalFacing === undefined ? {} : { externalFacing: inputs.externalFacing },
  );
  return { machine: { ...machine, diagnostics: [...diagnostics, ...machine.diagnostics] }, iommu };
}
