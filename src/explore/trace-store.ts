/**
 * Per stored state, in insertion order (the state's id): its parent's id (4 bytes) and the action
 * id that reached it (1, 2 or 4 bytes after the model's action count), in fixed chunks of 65,536
 * so nothing is copied as the store grows. Chunks are charged to the memory budget as they are
 * allocated. The fingerprint set keeps one; so does each worker thread, for the states it stored.
 */
import type { Budget } from './limits.js';

const CHUNK_BITS = 16;
const CHUNK = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK - 1;

type ActionChunk = Uint8Array | Uint16Array | Uint32Array;

export class TraceStore {
  private readonly parents: Uint32Array[] = [];
  private readonly actions: ActionChunk[] = [];
  private readonly actionBytes: 1 | 2 | 4;
  private count = 0;
  private held = 0;

  constructor(
    private readonly budget: Budget,
    actionCount: number,
  ) {
    this.actionBytes = actionCount <= 256 ? 1 : actionCount <= 65536 ? 2 : 4;
  }

  /** Records stored. */
  get size(): number {
    return this.count;
  }

  /** Bytes held by the chunks. */
  get bytes(): number {
    return this.held;
  }

  get bytesPerState(): number {
    return 4 + this.actionBytes;
  }

  /** Room for the next record: allocates its chunk when one starts there. False if the budget refuses it. */
  reserve(): boolean {
    const c = this.count >>> CHUNK_BITS;
    if (this.parents.length > c) return true;
    const bytes = CHUNK * (4 + this.actionBytes);
    if (!this.budget.tryCharge(bytes)) return false;
    this.held += bytes;
    this.parents.push(new Uint32Array(CHUNK));
    this.actions.push(
      this.actionBytes === 1
        ? new Uint8Array(CHUNK)
        : this.actionBytes === 2
          ? new Uint16Array(CHUNK)
          : new Uint32Array(CHUNK),
    );
    return true;
  }

  /** Appends a record (after `reserve()` said yes) and returns its id. */
  record(parent: number, action: number): number {
    const id = this.count++;
    const c = id >>> CHUNK_BITS;
    const o = id & CHUNK_MASK;
    this.parents[c]![o] = parent;
    this.actions[c]![o] = action;
    return id;
  }

  /** Appends a record, or returns -1 when the budget refuses its chunk. */
  add(parent: number, action: number): number {
    return this.reserve() ? this.record(parent, action) : -1;
  }

  parentOf(id: number): number {
    return this.parents[id >>> CHUNK_BITS]![id & CHUNK_MASK]!;
  }

  actionOf(id: number): number {
    return this.actions[id >>> CHUNK_BITS]![id & CHUNK_MASK]!;
  }

  /** Frees the chunks' charge on the budget. */
  dispose(): void {
    this.budget.release(this.held);
    this.held = 0;
    this.parents.length = 0;
    this.actions.length = 0;
  }
}
