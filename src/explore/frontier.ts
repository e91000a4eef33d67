/**
 * The breadth-first queue and the depth-first stack: a deque of states, each with up to two
 * integer tags (the state's id and depth). With a codec the states are packed into chunks of
 * 32-bit words (tags + codec words per entry); without one they stay objects in chunked arrays.
 * Chunks are charged to the memory budget as they are allocated and released as they empty.
 */
import type { Budget } from './limits.js';
import type { StateCodec } from './model.js';

const ENTRIES_PER_CHUNK = 1 << 14;
/** Bytes charged per object state in a frontier without a codec (the reference, not the object). */
export const OBJECT_ENTRY_BYTES = 8;

export class StateDeque<S> {
  private readonly words: Uint32Array[] = [];
  private readonly objects: S[][] = [];
  private readonly tags: Float64Array[] = [];
  private readonly entryWords: number;
  private readonly chunkBytes: number;
  /** Entry index of the first entry in the first chunk. */
  private head = 0;
  /** Entries in the last chunk. */
  private tail = ENTRIES_PER_CHUNK;
  private count = 0;
  private heldBytes = 0;
  private peakBytes = 0;
  /** The tags of the entry last popped. */
  tag0 = 0;
  tag1 = 0;

  constructor(
    private readonly budget: Budget,
    private readonly codec: StateCodec<S> | undefined,
    private readonly tagCount: 0 | 1 | 2,
  ) {
    this.entryWords = codec ? tagCount + codec.words : 0;
    this.chunkBytes = codec
      ? ENTRIES_PER_CHUNK * this.entryWords * 4
      : ENTRIES_PER_CHUNK * (OBJECT_ENTRY_BYTES + tagCount * 8);
  }

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.heldBytes;
  }

  /** The most bytes this deque has held at once. */
  get peak(): number {
    return this.peakBytes;
  }

  /** Appends a state; false if the budget refuses a new chunk. */
  push(s: S, t0: number, t1: number): boolean {
    if (this.tail === ENTRIES_PER_CHUNK) {
      if (!this.budget.tryCharge(this.chunkBytes)) return false;
      this.heldBytes += this.chunkBytes;
      if (this.heldBytes > this.peakBytes) this.peakBytes = this.heldBytes;
      if (this.codec) this.words.push(new Uint32Array(ENTRIES_PER_CHUNK * this.entryWords));
      else {
        this.objects.push(new Array<S>(ENTRIES_PER_CHUNK));
        if (this.tagCount > 0) this.tags.push(new Float64Array(ENTRIES_PER_CHUNK * this.tagCount));
      }
      this.tail = 0;
    }
    const e = this.tail++;
    this.count++;
    if (this.codec) {
      const c = this.words[this.words.length - 1]!;
      let at = e * this.entryWords;
      if (this.tagCount > 0) c[at++] = t0;
      if (this.tagCount > 1) c[at++] = t1;
      this.codec.encode(s, c, at);
    } else {
      this.objects[this.objects.length - 1]![e] = s;
      if (this.tagCount > 0) {
        const t = this.tags[this.tags.length - 1]!;
        t[e * this.tagCount] = t0;
        if (this.tagCount > 1) t[e * this.tagCount + 1] = t1;
      }
    }
    return true;
  }

  /** Removes and returns the oldest entry (FIFO); its tags go to `tag0`/`tag1`. */
  shift(): S {
    if (this.count === 0) throw new Error('StateDeque: empty');
    const e = this.head++;
    this.count--;
    let s: S;
    if (this.codec) {
      const c = this.words[0]!;
      let at = e * this.entryWords;
      if (this.tagCount > 0) this.tag0 = c[at++]!;
      if (this.tagCount > 1) this.tag1 = c[at++]!;
      s = this.codec.decode(c, at);
    } else {
      const c = this.objects[0]!;
      s = c[e]!;
      c[e] = undefined as S;
      if (this.tagCount > 0) {
        const t = this.tags[0]!;
        this.tag0 = t[e * this.tagCount]!;
        if (this.tagCount > 1) this.tag1 = t[e * this.tagCount + 1]!;
      }
    }
    const chunks = this.codec ? this.words.length : this.objects.length;
    if (this.count === 0) this.clear();
    else if (this.head === ENTRIES_PER_CHUNK && chunks > 1) {
      this.dropFirst();
      this.head = 0;
    }
    return s;
  }

  /** Removes and returns the newest entry (LIFO); its tags go to `tag0`/`tag1`. */
  pop(): S {
    if (this.count === 0) throw new Error('StateDeque: empty');
    const e = --this.tail;
    this.count--;
    let s: S;
    if (this.codec) {
      const c = this.words[this.words.length - 1]!;
      let at = e * this.entryWords;
      if (this.tagCount > 0) this.tag0 = c[at++]!;
      if (this.tagCount > 1) this.tag1 = c[at++]!;
      s = this.codec.decode(c, at);
    } else {
      const c = this.objects[this.objects.length - 1]!;
      s = c[e]!;
      c[e] = undefined as S;
      if (this.tagCount > 0) {
        const t = this.tags[this.tags.length - 1]!;
        this.tag0 = t[e * this.tagCount]!;
        if (this.tagCount > 1) this.tag1 = t[e * this.tagCount + 1]!;
      }
    }
    if (this.count === 0) this.clear();
    else if (this.tail === 0) {
      this.dropLast();
      this.tail = ENTRIES_PER_CHUNK;
    }
    return s;
  }

  /** Releases every chunk. */
  clear(): void {
    const chunks = this.codec ? this.words.length : this.objects.length;
    this.budget.release(chunks * this.chunkBytes);
    this.heldBytes = 0;
    this.words.length = 0;
    this.objects.length = 0;
    this.tags.length = 0;
    this.head = 0;
    this.tail = ENTRIES_PER_CHUNK;
    this.count = 0;
  }

  private dropFirst(): void {
    if (this.codec) this.words.shift();
    else {
      this.objects.shift();
      if (this.tagCount > 0) this.tags.shift();
    }
    this.budget.release(this.chunkBytes);
    this.heldBytes -= this.chunkBytes;
  }

  private dropLast(): void {
    if (this.codec) this.words.pop();
    else {
      this.objects.pop();
      if (this.tagCount > 0) this.tags.pop();
    }
    this.budget.release(this.chunkBytes);
    this.heldBytes -= this.chunkBytes;
  }
}
