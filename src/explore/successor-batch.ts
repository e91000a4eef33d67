/**
 * The successors of one expanded state, fingerprinted and held until all are known, so that the
 * visited-set lookups for them are issued together: a first pass reads each fingerprint's home
 * slot (`touch`), which lets the processor overlap those cache misses, and the second pass does
 * the real lookups against slots already in cache. On a table larger than the cache this cut a
 * breadth-first search of the reference model by about a fifth (docs/explorer.md, Performance).
 *
 * The successors are handed on in the order the model yielded them, so a search that uses a
 * batch stores, numbers and checks states exactly as one that handles each successor at once.
 */
import type { Model } from './model.js';

/** A visited set whose home slot for a fingerprint can be read (the value only keeps the read). */
export interface TouchSlot {
  touch(hi: number, lo: number): number;
}

export class SuccessorBatch<S> {
  /** How many successors the batch holds. */
  size = 0;
  private readonly actions: number[] = [];
  private readonly states: S[] = [];
  private fps = new Int32Array(64);
  private readonly fp = new Uint32Array(2);
  /** The emit callback to give Model.successors(): fingerprints and keeps each successor. */
  readonly collect: (action: number, next: S) => void;

  constructor(private readonly model: Model<S>) {
    this.collect = (action: number, next: S): void => {
      const k = this.size++;
      this.model.fingerprint(next, this.fp);
      if (2 * k + 2 > this.fps.length) {
        const bigger = new Int32Array(2 * this.fps.length);
        bigger.set(this.fps);
        this.fps = bigger;
      }
      this.fps[2 * k] = this.fp[0]!;
      this.fps[2 * k + 1] = this.fp[1]!;
      this.actions[k] = action;
      this.states[k] = next;
    };
  }

  /** Empties the batch (before the next expansion). */
  clear(): void {
    // Dropping the references lets the states that turn out known be collected young.
    for (let k = 0; k < this.size; k++) this.states[k] = undefined as S;
    this.size = 0;
  }

  /** Reads every successor's home slot in the table, so that their misses overlap. */
  touchAll(table: TouchSlot): number {
    let sum = 0;
    const f = this.fps;
    for (let k = 0; k < this.size; k++) sum += table.touch(f[2 * k]!, f[2 * k + 1]!);
    return sum;
  }

  action(k: number): number {
    return this.actions[k]!;
  }
  state(k: number): S {
    return this.states[k]!;
  }
  /** High 32 bits of successor k's fingerprint (unsigned). */
  hi(k: number): number {
    return this.fps[2 * k]! >>> 0;
  }
  /** Low 32 bits of successor k's fingerprint (unsigned). */
  lo(k: number): number {
    return this.fps[2 * k + 1]! >>> 0;
  }
}
