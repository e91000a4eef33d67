/**
 * Search limits and the memory budget. Every typed array the engine allocates (the fingerprint
 * table, the parent/action chunks, the frontier or stack) is charged to one `MemoryBudget` before it
 * is allocated, so a search that would pass its budget stops cleanly instead of running out of
 * memory. Object states of a model without a codec are charged at the model's estimate.
 */

/** Why a search stopped. */
export type StopReason =
  /** Every reachable state (within the depth limit) was explored. */
  | 'exhausted'
  /** A violation was found and the search was asked to stop at the first. */
  | 'violation'
  /** The maximum number of distinct states was reached. */
  | 'max-states'
  /** Every state above the depth limit was explored; states at the limit were not expanded. */
  | 'max-depth'
  /** The time limit was reached. */
  | 'time'
  /** The memory budget would have been passed. */
  | 'memory'
  /** All random walks were run. */
  | 'walks-done'
  /** The caller cancelled the search. */
  | 'cancelled';

export interface Limits {
  /** Stop after this many distinct states (default: none). */
  readonly maxStates?: number;
  /** Expand no state at this depth or deeper (initial states are at depth 0; default: none). */
  readonly maxDepth?: number;
  /** Stop after this many milliseconds (default: none). */
  readonly timeLimitMs?: number;
  /** Bytes the engine may allocate for its tables, frontier and stack (default: 1 GiB). */
  readonly memoryBudget?: number;
}

export const DEFAULT_MEMORY_BUDGET = 1 << 30;

/** What the engine's arrays charge their bytes to (one thread's `MemoryBudget`, or a `SharedMemoryBudget`). */
export interface Budget {
  readonly limit: number;
  /** Charges `bytes` if they fit under the limit; false (and nothing charged) otherwise. */
  tryCharge(bytes: number): boolean;
  /** Charges `bytes` whatever the limit (for structures that cannot be refused, e.g. the roots). */
  charge(bytes: number): void;
  release(bytes: number): void;
  readonly bytes: number;
  readonly peak: number;
}

/** Bytes charged against a limit; `tryCharge` refuses what would pass it. */
export class MemoryBudget implements Budget {
  private used = 0;
  private peakUsed = 0;

  constructor(readonly limit: number = DEFAULT_MEMORY_BUDGET) {}

  /** Charges `bytes` if they fit under the limit; false (and nothing charged) otherwise. */
  tryCharge(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    if (this.used > this.peakUsed) this.peakUsed = this.used;
    return true;
  }

  /** Charges `bytes` whatever the limit (for structures that cannot be refused, e.g. the roots). */
  charge(bytes: number): void {
    this.used += bytes;
    if (this.used > this.peakUsed) this.peakUsed = this.used;
  }

  release(bytes: number): void {
    this.used -= bytes;
  }

  get bytes(): number {
    return this.used;
  }

  get peak(): number {
    return this.peakUsed;
  }
}

/** Words of an Int32Array a `SharedMemoryBudget` uses: the KiB in use, then the peak. */
export const SHARED_BUDGET_WORDS = 2;

/**
 * One budget shared by several threads: the bytes in use and the peak live in two words of a
 * shared Int32Array, counted in KiB (rounded up per charge) and updated with atomics, so worker
 * threads and the thread that owns the shared fingerprint table charge the same limit. Charges
 * are per chunk or per table (tens of KiB and up), so the atomics are rare.
 */
export class SharedMemoryBudget implements Budget {
  constructor(
    private readonly words: Int32Array,
    private readonly at: number,
    readonly limit: number,
  ) {}

  private static kib(bytes: number): number {
    return Math.ceil(bytes / 1024);
  }

  tryCharge(bytes: number): boolean {
    const k = SharedMemoryBudget.kib(bytes);
    const max = Math.floor(this.limit / 1024);
    for (;;) {
      const used = Atomics.load(this.words, this.at);
      if (used + k > max) return false;
      if (Atomics.compareExchange(this.words, this.at, used, used + k) === used) {
        this.notePeak(used + k);
        return true;
      }
    }
  }

  charge(bytes: number): void {
    const k = SharedMemoryBudget.kib(bytes);
    this.notePeak(Atomics.add(this.words, this.at, k) + k);
  }

  release(bytes: number): void {
    Atomics.sub(this.words, this.at, SharedMemoryBudget.kib(bytes));
  }

  get bytes(): number {
    return Atomics.load(this.words, this.at) * 1024;
  }

  get peak(): number {
    return Atomics.load(this.words, this.at + 1) * 1024;
  }

  private notePeak(used: number): void {
    for (;;) {
      const p = Atomics.load(this.words, this.at + 1);
      if (used <= p || Atomics.compareExchange(this.words, this.at + 1, p, used) === p) return;
    }
  }
}

/** A monotonic clock in milliseconds (the browser's and Node's global `performance`). */
export function nowMs(): number {
  return performance.now();
}

/** How often (in expanded states) the engine looks at the clock, for progress and the time limit. */
export const CLOCK_EVERY = 1024;
/** The progress callback's period. */
export const PROGRESS_PERIOD_MS = 500;
