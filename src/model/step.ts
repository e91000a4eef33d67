/**
 * Applying operations: `step` runs one step of one thread (an operation, or the next phase of a
 * split one) as a transaction; `runOp` runs an operation to completion, resuming its phases
 * back to back, as a single thread would.
 */
import type { KernelEvent } from '../kernel/events.js';
import type { Op, OpName, OpOf } from './ops.js';
import type { Continuation, SystemState } from './state.js';
import { Tx } from './tx.js';
import type { World } from './world.js';

export interface StepOutcome {
  /** The entry point's return value (0 or a negative errno), null for void ones or while split. */
  readonly ret: number | null;
  /** Non-null when the operation waits: resume it with another step of the same thread. */
  readonly cont: Continuation | null;
}

export type OpHandler<K extends OpName> = (
  tx: Tx,
  op: OpOf<K>,
  cont: Continuation | null,
  thread: number,
) => StepOutcome;
export type OpHandlers = { readonly [K in OpName]?: OpHandler<K> };

const handlers: Partial<Record<OpName, OpHandler<OpName>>> = {};

/** Entry-point modules register their handlers (see src/model/handlers.ts). */
export function registerHandlers(h: OpHandlers): void {
  for (const k of Object.keys(h) as OpName[]) handlers[k] = h[k] as OpHandler<OpName>;
}

export function hasHandler(op: OpName): boolean {
  return handlers[op] !== undefined;
}

export interface StepResult {
  readonly state: SystemState;
  readonly events: readonly KernelEvent[];
  readonly ret: number | null;
  /** True when the operation is split and waits for another step of this thread. */
  readonly waiting: boolean;
}

/**
 * One step of thread `t`: starts `op`, or resumes the thread's pending continuation of it. With
 * `advance`, an operation that finishes in this step also moves the thread's pc to its next
 * operation, in the same transition (as a thread running a list of operations does).
 */
export function step(world: World, state: SystemState, op: Op, t = 0, advance = false): StepResult {
  const h = handlers[op.op];
  if (h === undefined) throw new Error(`model bug: no handler registered for operation '${op.op}'`);
  const tx = new Tx(world, state);
  const th = t < state.threads.length ? state.threads[t]! : null;
  const cont = th !== null && th.cont !== null && th.cont.op === op.op ? th.cont : null;
  const out = h(tx, op, cont, t);
  if (th !== null) {
    const done = out.cont === null;
    if (advance && done) tx.setThread(t, { pc: th.pc + 1, cont: cont !== null ? null : th.cont });
    else if (!done || cont !== null) tx.setThread(t, { pc: th.pc, cont: out.cont });
  }
  return { state: tx.commit(), events: tx.events, ret: out.ret, waiting: out.cont !== null };
}

/** Runs `op` to completion on thread t, collecting the events of every phase. */
export function runOp(world: World, state: SystemState, op: Op, t = 0): StepResult {
  let r = step(world, state, op, t);
  const events = [...r.events];
  let guard = 0;
  while (r.waiting) {
    if (++guard > 64) throw new Error(`model bug: operation '${op.op}' did not finish in 64 phases`);
    r = step(world, r.state, op, t);
    events.push(...r.events);
  }
  return { ...r, events };
}
