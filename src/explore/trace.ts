/**
 * Counterexamples. The fingerprint set keeps, per state, its parent's id and the action that
 * reached it; `pathTo` follows those pointers back to an initial state, and `replay` re-executes
 * the action sequence from that initial state with the model's successor function to rebuild the
 * states along it, checking at the end that it reached the fingerprint the search saw.
 */
import type { FingerprintSet } from './fingerprint-set.js';
import { NO_PARENT } from './fingerprint-set.js';
import type { Model } from './model.js';
import { fpHex } from './model.js';
import type { TraceStep } from './result.js';

/** A path as the search recorded it: which initial state, then the action ids. */
export interface Path {
  readonly initial: number;
  readonly actions: readonly number[];
}

/** Follows parent pointers from state `id` back to its initial state. */
export function pathTo(set: FingerprintSet, id: number): Path {
  const actions: number[] = [];
  let cur = id;
  for (;;) {
    const parent = set.parentOf(cur);
    if (parent === NO_PARENT) {
      actions.reverse();
      return { initial: set.actionOf(cur), actions };
    }
    actions.push(set.actionOf(cur));
    if (actions.length > set.size) throw new Error('pathTo: the parent pointers form a cycle');
    cur = parent;
  }
}

/**
 * Re-executes `path` from its initial state. Throws if an action is not enabled where the path takes
 * it, if a state has two successors with the same action id (the model breaks the interface's
 * determinism rule), or if the last state's fingerprint is not `expectFingerprint`.
 */
export function replay<S>(model: Model<S>, path: Path, expectFingerprint?: string): TraceStep<S>[] {
  const init = model.initialStates()[path.initial];
  if (init === undefined) throw new Error(`replay: no initial state ${path.initial}`);
  const fp = new Uint32Array(2);
  const hex = (s: S): string => {
    model.fingerprint(s, fp);
    return fpHex(fp[0]!, fp[1]!);
  };
  const steps: TraceStep<S>[] = [{ action: null, label: 'initial', state: init, fingerprint: hex(init) }];
  let s = init;
  for (const a of path.actions) {
    let next: S | undefined;
    let found = 0;
    model.successors(s, (action, t) => {
      if (action === a) {
        found++;
        next = t;
      }
    });
    if (found === 0 || next === undefined)
      throw new Error(`replay: action ${model.actionLabel(a)} is not enabled at step ${steps.length}`);
    if (found > 1)
      throw new Error(`replay: action ${model.actionLabel(a)} has ${found} successors (must be one)`);
    s = next;
    steps.push({ action: a, label: model.actionLabel(a), state: s, fingerprint: hex(s) });
  }
  const last = steps[steps.length - 1]!;
  if (expectFingerprint !== undefined && last.fingerprint !== expectFingerprint)
    throw new Error(`replay: reached ${last.fingerprint}, the search saw ${expectFingerprint}`);
  return steps;
}
