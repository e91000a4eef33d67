/**
 * Loading scenario files: read the text, parse it (src/scenario/parse.ts), load its machine
 * (`example:` from the installed package's examples/, `import:` relative to the scenario file:
 * an lspci dump, a machine file, or a sysfs snapshot directory), and bind it. Also finds the
 * built-in scenario library, relative to the installed package rather than the working directory.
 */
import { readTextFile } from './read-text-file.js';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { InputError } from '../diagnostics.js';
import { bindScenario, type BoundScenario } from '../scenario/bind.js';
import { parseScenario } from '../scenario/parse.js';
import type { ScenarioDoc } from '../scenario/types.js';
import type { Machine } from '../pci/topology.js';
import { loadMachine } from './load-machine.js';

/** The package root: src/node/ and dist/node/ are both two levels below it. */
export const packageRoot = resolve(import.meta.dirname, '..', '..');

/** The built-in scenario library. */
export const libraryDir = join(packageRoot, 'scenarios');

export function exampleMachinePath(name: string): string {
  return join(packageRoot, 'examples', `${name}.yaml`);
}

const SCENARIO_EXT = /\.(ya?ml|json)$/i;

function readText(file: string): string {
  return readTextFile(file, 'a scenario is YAML or JSON (docs/scenario-format.md)');
}

/** The machine a parsed scenario names; `baseDir` is the scenario file's folder. */
export function loadScenarioMachine(doc: ScenarioDoc, baseDir: string): Machine {
  const spec = doc.machine;
  switch (spec.kind) {
    case 'inline':
      return spec.machine;
    case 'example':
      return loadMachine({ files: [exampleMachinePath(spec.name)] });
    case 'import': {
      const p = join(baseDir, spec.path);
      if (!existsSync(p))
        throw new InputError({
          code: 'import-missing',
          message: `machine.import: no file or folder ${spec.path} (relative to the scenario file: ${p})`,
          where: spec.where,
        });
      const externalFacing = spec.externalFacing;
      if (statSync(p).isDirectory()) return loadMachine({ files: [], sysfsRoot: p, externalFacing });
      return loadMachine({ files: [p], externalFacing });
    }
  }
}

/** Reads, parses and binds one scenario. `shownAs` names the file in messages and traces. */
export function loadScenarioFile(file: string, shownAs: string = file): BoundScenario {
  const doc = parseScenario(readText(file), shownAs);
  return bindScenario(doc, loadScenarioMachine(doc, dirname(file)));
}

/**
 * The scenario files directly in a folder, sorted by name. Not recursive: sub-folders hold what
 * scenarios import (the library keeps its machine files in scenarios/machines/).
 */
function scenariosIn(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (SCENARIO_EXT.test(name) && statSync(p).isFile()) out.push(p);
  }
  return out;
}

/** The files named on the command line: files as given, folders expanded (not recursively). Missing paths are InputErrors. */
export function expandScenarioPaths(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (!existsSync(p)) throw new InputError({ code: 'input-unreadable', message: `no file or folder ${p}` });
    if (statSync(p).isDirectory()) {
      const found = scenariosIn(p);
      if (found.length === 0)
        throw new InputError({
          code: 'no-scenarios',
          message: `no scenario files (*.yaml, *.yml, *.json) in ${p}`,
        });
      out.push(...found);
    } else out.push(p);
  }
  return out;
}

/** The library's scenario files, each with the name it is shown by (`scenarios/001-....yaml`). */
export function libraryFiles(): { readonly file: string; readonly shownAs: string }[] {
  if (!existsSync(libraryDir))
    throw new InputError({
      code: 'no-library',
      message: `the scenario library is missing: expected ${libraryDir}`,
    });
  // The seed-claim scenarios, then the exploration scenarios (threads and choices).
  const exploreDir = join(libraryDir, 'explore');
  const files = [...scenariosIn(libraryDir), ...(existsSync(exploreDir) ? scenariosIn(exploreDir) : [])];
  return files.map((file) => ({
    file,
    shownAs: relative(packageRoot, file).split('\\').join('/'),
  }));
}

/** The library's scenarios, parsed (their machines are not loaded); files that fail to parse are listed apart. */
export function libraryDocs(): { readonly docs: ScenarioDoc[]; readonly errors: string[] } {
  const docs: ScenarioDoc[] = [];
  const errors: string[] = [];
  for (const { file, shownAs } of libraryFiles()) {
    try {
      docs.push(parseScenario(readText(file), shownAs));
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      errors.push(e.message);
    }
  }
  return { docs, errors };
}
