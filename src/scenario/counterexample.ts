/**
 * Counterexample files: what `atsim explore --trace-out FILE` writes and `atsim run --trace FILE`
 * replays step by step (docs/explorer.md, "Counterexample files"). The file names the scenario
 * (relative to the file's folder), the kernel, the reduction a shrunk counterexample runs in
 * (reduce.ts), the actions by their labels, the invariant violated at the end, and the state
 * fingerprint after each action, so a replay notices a scenario or model that changed. Pure.
 */
import * as z from 'zod';
import { InputError } from '../diagnostics.js';
import { PRESET_IDS, isPresetId, type PresetId } from '../kernel/presets.js';
import type { Machine } from '../pci/topology.js';
import type { BoundScenario } from './bind.js';
import { actionTrace, prepareExploration, runActions, type Exploration } from './explore.js';
import { bindReduced, reductionProblem, type Reduction } from './reduce.js';
import type { Trace } from './run.js';

export const COUNTEREXAMPLE_FORMAT = 'atsim-counterexample';
export const COUNTEREXAMPLE_VERSION = 1;

export interface CounterexampleFile {
  readonly format: typeof COUNTEREXAMPLE_FORMAT;
  readonly version: typeof COUNTEREXAMPLE_VERSION;
  /** The scenario: its path relative to the counterexample file's folder, and its name. */
  readonly scenario: { readonly file: string; readonly name: string };
  /** The preset, and the switches set on the command line (the scenario's own come with it). */
  readonly kernel: { readonly preset: PresetId; readonly overrides: Readonly<Record<string, 'on' | 'off'>> };
  /** The invariant violated in the last state. */
  readonly invariant: string;
  /** The part of the scenario the counterexample runs in. */
  readonly reduction: Reduction;
  /** The explorer's actions after the setup, by label (`thread 1`, `choice 2 fires`, `choice 2 continues`). */
  readonly actions: readonly string[];
  /** The state fingerprint after each action. */
  readonly fingerprints: readonly string[];
}

/** The file for a counterexample: `actions` are action ids of `x.model`. */
export function counterexampleFile(
  x: Exploration,
  reduction: Reduction,
  actions: readonly number[],
  invariant: string,
  scenarioPath: string,
  overrides: Readonly<Record<string, 'on' | 'off'>>,
): CounterexampleFile {
  const ran = runActions(x, actions);
  return {
    format: COUNTEREXAMPLE_FORMAT,
    version: COUNTEREXAMPLE_VERSION,
    scenario: { file: scenarioPath, name: x.bound.doc.name },
    kernel: { preset: x.setup.preset, overrides: { ...overrides } },
    invariant,
    reduction,
    actions: actions.map((a) => x.model.actionLabel(a)),
    fingerprints: ran.fingerprints,
  };
}

const Index = z.number().int().min(0);
const FileSchema = z.strictObject({
  format: z.literal(COUNTEREXAMPLE_FORMAT),
  version: z.literal(COUNTEREXAMPLE_VERSION),
  scenario: z.strictObject({ file: z.string().min(1), name: z.string() }),
  kernel: z.strictObject({
    preset: z.string().refine(isPresetId, { message: `expected one of ${PRESET_IDS.join(', ')}` }),
    overrides: z.record(z.string(), z.enum(['on', 'off'])),
  }),
  invariant: z.string().min(1),
  reduction: z.strictObject({
    steps: z.array(Index),
    threads: z.array(z.strictObject({ index: Index, steps: z.array(Index) })),
    choices: z.array(z.strictObject({ index: Index, max: z.number().int().min(1) })),
    functions: z.array(z.string()).nullable(),
  }),
  actions: z.array(z.string()),
  fingerprints: z.array(z.string().regex(/^[0-9a-f]{16}$/)),
});

/** Parses a counterexample file's text; problems are InputErrors naming the file and the field. */
export function parseCounterexample(text: string, file: string): CounterexampleFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new InputError({
      code: 'trace-syntax',
      message: `${file}: not JSON (${e instanceof Error ? e.message : String(e)}); expected an atsim-counterexample file written by atsim explore --trace-out`,
    });
  }
  const r = FileSchema.safeParse(data);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const at = issue.path.length === 0 ? '' : ` at ${issue.path.join('.')}`;
    throw new InputError({
      code: 'trace-invalid',
      message: `${file}${at}: ${issue.message} (an atsim-counterexample file, version ${COUNTEREXAMPLE_VERSION}, as atsim explore --trace-out writes it)`,
    });
  }
  return r.data;
}

export interface ReplayOptions {
  /** Another preset than the file's (the replay then shows what that kernel does with the same steps). */
  readonly preset?: string;
  /** Switches on top of the file's. */
  readonly overrides?: Readonly<Record<string, 'on' | 'off'>>;
  /** The scenario's machine as loaded, for a reduction that drops functions. */
  readonly machine?: Machine;
}

export interface Replay {
  readonly trace: Trace;
  /** The invariant is violated in the last state and every action was enabled. */
  readonly reproduced: boolean;
  /** The first action that was not enabled (1-based), or null. */
  readonly divergedAt: number | null;
  /** The first action after which the fingerprint differs from the file's (1-based), or null. */
  readonly fingerprintDiffersAt: number | null;
}

/** Replays a counterexample file on its scenario (`bound`: the whole scenario, as loaded). */
export function replayCounterexample(
  bound: BoundScenario,
  cx: CounterexampleFile,
  opts: ReplayOptions = {},
): Replay {
  if (bound.doc.name !== cx.scenario.name)
    throw new InputError({
      code: 'trace-scenario-mismatch',
      message: `the counterexample is for the scenario '${cx.scenario.name}', but ${bound.doc.file} is '${bound.doc.name}'`,
    });
  const problem = reductionProblem(bound.doc, cx.reduction);
  if (problem !== null)
    throw new InputError({
      code: 'trace-invalid',
      message: `the counterexample's reduction does not fit ${bound.doc.file}: ${problem}`,
    });
  const reduced = bindReduced(bound, cx.reduction, opts.machine);
  const x = prepareExploration(reduced, {
    preset: opts.preset ?? cx.kernel.preset,
    overrides: { ...cx.kernel.overrides, ...(opts.overrides ?? {}) },
  });
  const byLabel = new Map<string, number>();
  for (let a = 0; a < x.model.actionCount; a++) byLabel.set(x.model.actionLabel(a), a);
  const ids = cx.actions.map((label, i) => {
    const a = byLabel.get(label);
    if (a === undefined)
      throw new InputError({
        code: 'trace-invalid',
        message: `action ${i + 1} '${label}' is not an action of the scenario (it has ${[...byLabel.keys()].join(', ')})`,
      });
    return a;
  });
  const ran = runActions(x, ids);
  const divergedAt = ran.taken < ids.length ? ran.taken + 1 : null;
  const sameKernel = x.setup.preset === cx.kernel.preset && opts.overrides === undefined;
  let fingerprintDiffersAt: number | null = null;
  if (sameKernel)
    for (let i = 0; i < ran.fingerprints.length; i++)
      if (ran.fingerprints[i] !== cx.fingerprints[i]) {
        fingerprintDiffersAt = i + 1;
        break;
      }
  const lastViolates = ran.last.viol.some((i) => x.model.invariants[i] === cx.invariant);
  const reproduced = divergedAt === null && lastViolates;
  const violated = new Set<string>();
  for (const s of ran.steps) for (const v of s.violations) violated.add(v.id);
  const ids2 = [...violated].sort();
  const reasons: string[] = [];
  if (x.setup.trace.error !== null) reasons.push(`the model failed at setup step #${x.setup.trace.error.n}`);
  if (divergedAt !== null)
    reasons.push(
      `action ${divergedAt} (${cx.actions[divergedAt - 1]!}) is not enabled here: the run diverges`,
    );
  else if (!lastViolates) reasons.push(`the last state does not violate ${cx.invariant}`);
  const trace = actionTrace(
    x,
    ran,
    { holds: ids2.length === 0, violated: ids2 },
    { kind: 'violates', ids: [cx.invariant] },
    reproduced && x.setup.trace.error === null,
    reasons,
  );
  const notes = [...trace.notes];
  if (fingerprintDiffersAt !== null)
    notes.push(
      `the state after action ${fingerprintDiffersAt} differs from the one the explorer saw: the scenario or the model changed since the file was written`,
    );
  return { trace: { ...trace, notes }, reproduced, divergedAt, fingerprintDiffersAt };
}
