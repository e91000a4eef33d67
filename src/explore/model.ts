/**
 * The explorer's model interface, in the spirit of LTSmin's PINS ("partitioned next-state
 * interface"): the engine knows nothing of a model but its initial states, a successor function, a
 * list of invariants and a 64-bit fingerprint per state. Everything else (how a state looks, what
 * an action means) stays inside the model, so the same breadth-first, depth-first, random-walk,
 * worker and shard searches run on any model that implements it.
 *
 * Rules a model must keep:
 *  - States are values the engine never mutates; a successor must be a new value (or a primitive).
 *  - `successors` is deterministic: the same state yields the same (action, next) pairs in the same
 *    order, and at most one successor per action id. (A nondeterministic outcome is folded into the
 *    action id: "translate d0 p1 ok" and "translate d0 p1 fault" are two ids.) Traces store only
 *    the action id per step and re-execute the model to rebuild the states, so this is what makes
 *    a counterexample replayable.
 *  - `fingerprint` is a function of the state's value: equal states give equal fingerprints (two
 *    different states may collide with probability about 2^-64; the result reports the estimate).
 *  - Action ids are integers 0 .. actionCount-1; the engine stores one per state, in one byte when
 *    actionCount <= 256, two when <= 65,536.
 *
 * Optional parts: `codec` packs a state into a fixed number of 32-bit words so that the
 * breadth-first frontier, the depth-first stack and the workers' messages hold words, not objects
 * (a model without a codec keeps its state objects in the frontier and cannot run on workers);
 * `transfer` turns a state into a structured-clonable value and back, so a model without a codec can
 * still run on worker threads (states move between threads only to even out the workers' queues);
 * `describe` renders a state for traces and result files.
 */

/** A compact, fixed-size encoding of a state into 32-bit words. */
export interface StateCodec<S> {
  /** Words per state (at least 1). */
  readonly words: number;
  /** Writes `s` into `out[at .. at + words)`. */
  encode(s: S, out: Uint32Array, at: number): void;
  /** Reads back the state written at `buf[at]`. */
  decode(buf: Uint32Array, at: number): S;
}

/** Moves a state between threads as a value `structuredClone` can copy. */
export interface StateTransfer<S> {
  pack(s: S): unknown;
  unpack(x: unknown): S;
}

/** Called once per enabled transition of a state. */
export type Emit<S> = (action: number, next: S) => void;

export interface Model<S> {
  /** A short name, e.g. `ats-reference D=3 P=4`. */
  readonly name: string;
  /** Action ids are 0 .. actionCount-1. */
  readonly actionCount: number;
  /** Invariant names; `violations` returns indices into this list. */
  readonly invariants: readonly string[];
  /** The initial states (at least one). */
  initialStates(): readonly S[];
  /** Calls `emit(action, next)` for every enabled transition of `s`. */
  successors(s: S, emit: Emit<S>): void;
  /** Indices (into `invariants`) of the invariants `s` violates: an empty array when it violates none. */
  violations(s: S): readonly number[];
  /** Writes the state's 64-bit fingerprint: `out[0]` the high 32 bits, `out[1]` the low 32 bits. */
  fingerprint(s: S, out: Uint32Array): void;
  /** A readable label of an action id, for traces and coverage. */
  actionLabel(action: number): string;
  /** Optional compact encoding (needed for workers, saves memory in every search). */
  readonly codec?: StateCodec<S>;
  /**
   * Optional, for models without a codec: a structured-clonable form of a state (`pack`) and the
   * state back (`unpack`), with the same fingerprint. Workers need a codec or this.
   */
  readonly transfer?: StateTransfer<S>;
  /** Optional JSON-friendly rendering of a state for traces (default: the state itself). */
  describe?(s: S): unknown;
}

/**
 * How a worker thread or another process rebuilds a model: the URL of an ES module, the name of a
 * factory function it exports (returning the model or a promise of it), and the factory's
 * JSON-serialisable argument.
 */
export interface ModelRef {
  readonly module: string;
  readonly factory: string;
  readonly params: unknown;
}

/** A model factory as a module exports it for `ModelRef` (it may build the model asynchronously). */
export type ModelFactory = (params: never) => Model<unknown> | Promise<Model<unknown>>;

/** A frozen empty list, for `violations` to return when a state violates nothing. */
export const NO_VIOLATIONS: readonly number[] = Object.freeze([]);

/** A 64-bit fingerprint as 16 hex digits. */
export function fpHex(hi: number, lo: number): string {
  return (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
}

/** The fingerprint of one state, as [hi, lo]. */
export function fingerprintOf<S>(model: Model<S>, s: S): [number, number] {
  const out = new Uint32Array(2);
  model.fingerprint(s, out);
  return [out[0]!, out[1]!];
}
