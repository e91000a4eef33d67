/**
 * Applying operations: `step` runs one step of one thread (an operation, or the next phase of a
 * split one) as a transaction; `runOp` runs an operation to completion, resuming its phases
 * back to back, as a single thread would.
 */
import { InputError } from '../diagnostics.js';
import type { KernelEvent } from '../kernel/events.js';
import type { Op, OpName, OpOf } from './ops.js';
import type { Continuation, PendingPhase, SystemState, ThreadState } from './state.js';
import { Tx } from './tx.js';
import type { World } from './world.js';

export interface StepOutcome {
  /** The entry point's return value (0 or a negative errno), null for void ones or while split. */
  readonly ret: number | null;
  /** Non-null when the operation waits: resume it with another step of the same thread. */
  readonly cont: PendingPhase | null;
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

function mixString(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h;
}

/**
 * A 32-bit hash of an operation's fields (undefined ones left out): each field hashes on its own
 * (FNV-1a over its name and value) and the fields add up, so equal operations built in any key
 * order get the same key.
 */
export function opKey(op: Op): number {
  const o = op as unknown as Record<string, unknown>;
  let sum = 0;
  for (const k in o) {
    const v = o[k];
    if (v === undefined) continue;
    let h = mixString(0x811c9dc5, k);
    h = Math.imul(h ^ 0x3d, 0x01000193);
    if (typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= 0x7fffffff) {
      h = Math.imul(h ^ (v & 0xffff), 0x01000193);
      h = Math.imul(h ^ (v >>> 16), 0x01000193);
    } else h = mixString(h, typeof v === 'string' ? v : JSON.stringify(v));
    h ^= h >>> 15;
    sum = (sum + Math.imul(h, 0x2c1b3c6d)) | 0;
  }
  return sum >>> 0;
}

/**
 * One step of thread `t`: starts `op`, or resumes the thread's pending continuation of it. With
 * `advance`, an operation that finishes in this step also moves the thread's pc to its next
 * operation, in the same transition (as a thread running a list of operations does). A thread
 * that waits in one operation cannot start another: that is an InputError naming both.
 */
export function step(world: World, state: SystemState, op: Op, t = 0, advance = false): StepResult {
  const h = handlerOf(op);
  const th = t < state.threads.length ? state.threads[t]! : null;
  const cont = pendingOf(th, op, t);
  const tx = new Tx(world, state);
  const out = h(tx, op, cont, t);
  if (th !== null) {
    const next: Continuation | null = out.cont === null ? null : withKey(out.cont, opKey(op));
    if (advance && next === null) tx.setThread(t, { pc: th.pc + 1, cont: null });
    else if (next !== null || cont !== null) tx.setThread(t, { pc: th.pc, cont: next });
  }
  return { state: tx.commit(), events: tx.events, ret: out.ret, waiting: out.cont !== null };
}

/** The continuation of a pending phase, stamped with its operation's key (built field by field: an object spread here is a slow generic copy). */
function withKey(p: PendingPhase, key: number): Continuation {
  return { op: p.op, phase: p.phase, args: p.args, domainArgs: p.domainArgs, key };
}

function handlerOf(op: Op): OpHandler<OpName> {
  const h = handlers[op.op];
  if (h === undefined) throw new Error(`model bug: no handler registered for operation '${op.op}'`);
  return h;
}

/** The thread's pending continuation of `op`; an InputError when it waits in another operation. */
function pendingOf(th: ThreadState | null, op: Op, t: number): Continuation | null {
  const cont = th === null ? null : th.cont;
  if (cont !== null && cont.key !== opKey(op))
    throw new InputError({
      code: 'thread-busy',
      message: `thread ${t} waits in ${cont.op} (phase ${cont.phase}); it resumes that operation before it can run ${JSON.stringify(op)}`,
    });
  return cont;
}

/** Phases an operation may take before it counts as waiting forever (for another thread). */
const MAX_PHASES = 64;

/**
 * Runs `op` to completion on thread t: its phases back to back in one transaction, as the
 * thread would run them with no other thread in between (the events of every phase, in order).
 * The result is the state step() by step() reaches; only the intermediate states are not built.
 */
export function runOp(world: World, state: SystemState, op: Op, t = 0): StepResult {
  const h = handlerOf(op);
  const th = t < state.threads.length ? state.threads[t]! : null;
  const pending = pendingOf(th, op, t);
  const tx = new Tx(world, state);
  let cont = pending;
  let out = h(tx, op, cont, t);
  for (let phase = 1; out.cont !== null; phase++) {
    if (phase > MAX_PHASES)
      throw new InputError({
        code: 'operation-blocked',
        message: `${op.op} on thread ${t} still waits after ${MAX_PHASES} phases: it waits for an operation in progress on another thread (a reset, or a flush an attach is fenced against); step that one first`,
      });
    cont = withKey(out.cont, 0);
    out = h(tx, op, cont, t);
  }
  if (th !== null && pending !== null) tx.setThread(t, { pc: th.pc, cont: null });
  return { state: tx.commit(), events: tx.events, ret: out.ret, waiting: false };
}
