/**
 * A scenario's kernel model named by a `ModelRef` (src/explore/model.ts), so that worker threads
 * rebuild it: each one reads the scenario file, runs its setup and builds the model exactly as
 * `prepareExploration` does on the main thread (src/scenario/explore.ts). The parameters are plain
 * data (a worker gets a structured clone): the file, the name it is shown by, the preset, the
 * switches changed, and the invariants checked by id.
 *
 * `exploreScenarioOnWorkers` is `exploreScenario` (src/scenario/explore.ts) with the breadth-first
 * search on worker threads (exploreWithWorkers, src/node/explore-workers.ts).
 */
import { resolve } from 'node:path';
import type { ModelRef } from '../explore/model.js';
import type { BoundScenario } from '../scenario/bind.js';
import type { KernelModel } from '../explore/models/kernel.js';
import { invariantById } from '../invariants/catalogue.js';
import type { Invariant } from '../invariants/invariant.js';
import {
  exploreScenarioWith,
  prepareExploration,
  type ScenarioExploreOptions,
  type ScenarioExploreResult,
} from '../scenario/explore.js';
import { exploreWithWorkers } from './explore-workers.js';
import { loadScenarioFile } from './load-scenario.js';

export interface ScenarioModelParams {
  /** The scenario file (made absolute by `scenarioModelRef`: a worker may not share the caller's notion of it). */
  readonly file: string;
  /** The name the file is shown by in messages and traces (default: `file`). */
  readonly shownAs?: string;
  readonly preset?: string;
  readonly overrides?: Readonly<Record<string, 'on' | 'off'>>;
  /** Ids of the catalogue's invariants to check (default: all of them). */
  readonly invariants?: readonly string[];
}

function invariantsOf(ids: readonly string[]): Invariant[] {
  return ids.map((id) => {
    const inv = invariantById(id);
    if (inv === undefined) throw new Error(`scenario model: no invariant ${id} in the catalogue`);
    return inv;
  });
}

/** The `ModelRef` factory: the scenario's kernel model, as `prepareExploration` builds it. */
export function createScenarioKernelModel(p: ScenarioModelParams): KernelModel {
  const bound = loadScenarioFile(p.file, p.shownAs ?? p.file);
  return prepareExploration(bound, {
    ...(p.preset === undefined ? {} : { preset: p.preset }),
    ...(p.overrides === undefined ? {} : { overrides: p.overrides }),
    ...(p.invariants === undefined ? {} : { invariants: invariantsOf(p.invariants) }),
  }).model;
}

/** The `ModelRef` of a scenario's kernel model. */
export function scenarioModelRef(p: ScenarioModelParams): ModelRef {
  const params: ScenarioModelParams = { ...p, file: resolve(p.file), shownAs: p.shownAs ?? p.file };
  return { module: import.meta.url, factory: 'createScenarioKernelModel', params };
}

/**
 * Explores `bound` (read from `file`, shown as `shownAs`) breadth-first on `workers` threads: each
 * builds the model from the file (`scenarioModelRef`); the verdict and the counterexample come out
 * as from `exploreScenario`.
 */
export function exploreScenarioOnWorkers(
  file: string,
  shownAs: string,
  bound: BoundScenario,
  opts: ScenarioExploreOptions & { readonly workers: number },
): Promise<ScenarioExploreResult> {
  const { preset, overrides, invariants, strategy, split, collectFingerprints, workers, ...limits } = opts;
  if ((strategy ?? 'bfs') !== 'bfs' || split !== undefined || collectFingerprints === true)
    throw new Error('workers: breadth-first search only, without split or collected fingerprints');
  const ref = scenarioModelRef({
    file,
    shownAs,
    ...(preset === undefined ? {} : { preset }),
    ...(overrides === undefined ? {} : { overrides }),
    ...(invariants === undefined ? {} : { invariants: invariants.map((i) => i.id) }),
  });
  return exploreScenarioWith(bound, opts, (model) => exploreWithWorkers(ref, { ...limits, workers, model }));
}
