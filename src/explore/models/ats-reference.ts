/**
 * The reference ATS/ATC model (anchors.md, Appendix A): D devices x P pages.
 *
 * The kernel unmaps page p (sends an ATC invalidation to every device with ATS enabled), waits
 * until no invalidation for p is pending (sync) and frees it, and later maps it again. A device
 * with ATS enabled translates a mapped page into its ATC, processes a pending invalidation (drops
 * the entry), goes through FLR (ATS off, ATC and pending invalidations dropped), and gets ATS
 * enabled again. Invariant: no device holds an ATC entry for a freed page. The bug variant
 * `flr-keeps-atc` is "FLR drops pending invalidations but keeps the ATC": the kernel's sync then
 * passes while a stale entry survives, and breadth-first search finds the shortest such run (depth
 * 4 + (D - 1): translate, unmap, FLR, the other devices' invalidations, free).
 *
 * The state is packed into one number below 2^53, as two 32-bit words:
 *  - low word: kst[p] (2 bits each: 0 mapped, 1 unmapped and invalidating, 2 freed), then ats[d],
 *    then atc[d][p];
 *  - high word: pend[d][p].
 * `mapped[p]` and `freed[p]` of the Promela model are kst[p] == 0 and kst[p] == 2, so the state space
 * is the same (Spin's "states stored" is ours + 1, for its pre-initialisation state). That needs
 * 2P + D + DP <= 32 and DP <= 21: e.g. 3x5 (more than 60 M states) or 4x4.
 *
 * Actions, in the Promela generator's order: per page p: unmap, sync-free, remap, then per device d
 * translate and invalidate; then per device: flr, enable-ats.
 */
import type { Model, StateCodec } from '../model.js';
import { NO_VIOLATIONS } from '../model.js';

export interface AtsReferenceParams {
  readonly devices: number;
  readonly pages: number;
  /** The seeded bug: FLR keeps the ATC but drops pending invalidations. */
  readonly bug?: 'flr-keeps-atc';
}

export interface AtsReferenceState {
  readonly pages: readonly ('mapped' | 'invalidating' | 'freed')[];
  readonly ats: readonly boolean[];
  /** atc[d][p] */
  readonly atc: readonly (readonly boolean[])[];
  /** pend[d][p] */
  readonly pend: readonly (readonly boolean[])[];
}

const TWO32 = 4294967296;

function fmix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return x ^ (x >>> 16);
}

/** The model's packed state: `hi * 2^32 + lo`. */
export type AtsPacked = number;

export class AtsReference implements Model<AtsPacked> {
  readonly name: string;
  readonly actionCount: number;
  readonly invariants = ['no-atc-entry-for-freed-page'] as const;
  readonly codec: StateCodec<AtsPacked> = {
    words: 2,
    encode(s, out, at) {
      out[at] = s >>> 0;
      out[at + 1] = (s / TWO32) >>> 0;
    },
    decode(buf, at) {
      return buf[at + 1]! * TWO32 + buf[at]!;
    },
  };
  readonly D: number;
  readonly P: number;
  private readonly bug: boolean;
  private readonly perPage: number;
  private readonly atsBit: Int32Array;
  private readonly atcBit: Int32Array;
  private readonly pendBit: Int32Array;
  private readonly pendCol: Int32Array;
  private readonly atcCol: Int32Array;
  private readonly atcRow: Int32Array;
  private readonly pendRow: Int32Array;
  private readonly labels: string[] = [];
  private readonly init: AtsPacked;

  constructor(params: AtsReferenceParams) {
    const D = params.devices;
    const P = params.pages;
    if (!Number.isInteger(D) || !Number.isInteger(P) || D < 1 || P < 1)
      throw new Error('ats-reference: devices and pages must be positive integers');
    if (2 * P + D + D * P > 32 || D * P > 21)
      throw new Error(`ats-reference: ${D}x${P} does not fit the packed state (2P+D+DP <= 32, DP <= 21)`);
    this.D = D;
    this.P = P;
    this.bug = params.bug === 'flr-keeps-atc';
    this.name = `ats-reference D=${D} P=${P}${this.bug ? ' bug=flr-keeps-atc' : ''}`;
    this.perPage = 3 + 2 * D;
    this.actionCount = P * this.perPage + 2 * D;
    this.atsBit = new Int32Array(D);
    this.atcBit = new Int32Array(D * P);
    this.pendBit = new Int32Array(D * P);
    this.pendCol = new Int32Array(P);
    this.atcCol = new Int32Array(P);
    this.atcRow = new Int32Array(D);
    this.pendRow = new Int32Array(D);
    for (let d = 0; d < D; d++) {
      this.atsBit[d] = 1 << (2 * P + d);
      for (let p = 0; p < P; p++) {
        const a = 1 << (2 * P + D + d * P + p);
        const q = 1 << (d * P + p);
        this.atcBit[d * P + p] = a;
        this.pendBit[d * P + p] = q;
        this.pendCol[p]! |= q;
        this.atcCol[p]! |= a;
        this.atcRow[d]! |= a;
        this.pendRow[d]! |= q;
      }
    }
    for (let p = 0; p < P; p++) {
      this.labels.push(`unmap p${p}`, `sync-free p${p}`, `remap p${p}`);
      for (let d = 0; d < D; d++) this.labels.push(`translate d${d} p${p}`, `invalidate d${d} p${p}`);
    }
    for (let d = 0; d < D; d++) this.labels.push(`flr d${d}`, `enable-ats d${d}`);
    let lo = 0;
    for (let d = 0; d < D; d++) lo |= this.atsBit[d]!;
    this.init = lo >>> 0;
  }

  initialStates(): readonly AtsPacked[] {
    return [this.init];
  }

  successors(s: AtsPacked, emit: (action: number, next: AtsPacked) => void): void {
    const lo = s >>> 0;
    const hi = (s / TWO32) >>> 0;
    const D = this.D;
    const P = this.P;
    const atsBit = this.atsBit;
    const atcBit = this.atcBit;
    const pendBit = this.pendBit;
    let base = 0;
    for (let p = 0; p < P; p++) {
      const sh = 2 * p;
      const k = (lo >>> sh) & 3;
      const clear = lo & ~(3 << sh);
      if (k === 0) {
        let nh = hi;
        for (let d = 0; d < D; d++) if ((lo & atsBit[d]!) !== 0) nh |= pendBit[d * P + p]!;
        emit(base, (nh >>> 0) * TWO32 + ((clear | (1 << sh)) >>> 0));
      } else if (k === 1) {
        if ((hi & this.pendCol[p]!) === 0) emit(base + 1, hi * TWO32 + ((clear | (2 << sh)) >>> 0));
      } else emit(base + 2, hi * TWO32 + (clear >>> 0));
      for (let d = 0; d < D; d++) {
        const a = atcBit[d * P + p]!;
        const q = pendBit[d * P + p]!;
        if (k === 0 && (lo & atsBit[d]!) !== 0 && (lo & a) === 0)
          emit(base + 3 + 2 * d, hi * TWO32 + ((lo | a) >>> 0));
        if ((hi & q) !== 0) emit(base + 4 + 2 * d, ((hi & ~q) >>> 0) * TWO32 + ((lo & ~a) >>> 0));
      }
      base += this.perPage;
    }
    for (let d = 0; d < D; d++) {
      const b = atsBit[d]!;
      if ((lo & b) !== 0) {
        const nl = this.bug ? lo & ~b : lo & ~b & ~this.atcRow[d]!;
        emit(base, ((hi & ~this.pendRow[d]!) >>> 0) * TWO32 + (nl >>> 0));
      } else emit(base + 1, hi * TWO32 + ((lo | b) >>> 0));
      base += 2;
    }
  }

  violations(s: AtsPacked): readonly number[] {
    const lo = s >>> 0;
    for (let p = 0; p < this.P; p++) {
      if (((lo >>> (2 * p)) & 3) === 2 && (lo & this.atcCol[p]!) !== 0) return VIOLATED;
    }
    return NO_VIOLATIONS;
  }

  /** A bijective mix of the two words (a 4-round Feistel network): distinct states never collide. */
  fingerprint(s: AtsPacked, out: Uint32Array): void {
    let l = s >>> 0;
    let r = (s / TWO32) >>> 0;
    l ^= fmix((r + 0x9e3779b9) | 0);
    r ^= fmix((l + 0x7f4a7c15) | 0);
    l ^= fmix((r + 0x85ebca6b) | 0);
    r ^= fmix((l + 0x2545f491) | 0);
    out[0] = r;
    out[1] = l;
  }

  actionLabel(action: number): string {
    return this.labels[action] ?? `action ${action}`;
  }

  describe(s: AtsPacked): AtsReferenceState {
    const lo = s >>> 0;
    const hi = (s / TWO32) >>> 0;
    const names = ['mapped', 'invalidating', 'freed'] as const;
    const pages: ('mapped' | 'invalidating' | 'freed')[] = [];
    for (let p = 0; p < this.P; p++) pages.push(names[(lo >>> (2 * p)) & 3] ?? 'freed');
    const ats: boolean[] = [];
    const atc: boolean[][] = [];
    const pend: boolean[][] = [];
    for (let d = 0; d < this.D; d++) {
      ats.push((lo & this.atsBit[d]!) !== 0);
      const a: boolean[] = [];
      const q: boolean[] = [];
      for (let p = 0; p < this.P; p++) {
        a.push((lo & this.atcBit[d * this.P + p]!) !== 0);
        q.push((hi & this.pendBit[d * this.P + p]!) !== 0);
      }
      atc.push(a);
      pend.push(q);
    }
    return { pages, ats, atc, pend };
  }
}

const VIOLATED: readonly number[] = Object.freeze([0]);

/** The factory a `ModelRef` names (workers and shards rebuild the model with it). */
export function createAtsReference(params: AtsReferenceParams): AtsReference {
  return new AtsReference(params);
}

/**
 * The same model in Promela (Appendix A's generator): check it with
 * `spin -a m.pml && gcc -O2 -DSAFETY -DNOREDUCE -DBFS -o pan pan.c && ./pan -m20000000`.
 */
export function atsReferencePromela(params: AtsReferenceParams): string {
  const D = params.devices;
  const P = params.pages;
  const bug = params.bug === 'flr-keeps-atc';
  const L: string[] = [];
  L.push(`#define D ${D}\n#define P ${P}`);
  L.push('bit mapped[P]; bit freed[P]; byte kst[P]; bit ats[D];');
  L.push('bit atc[D*P]; bit pend[D*P];\nbyte i;\nactive proctype M() {');
  L.push(
    '  d_step { i=0; do :: i<P -> mapped[i]=1; i++ :: else -> break od; i=0; do :: i<D -> ats[i]=1; i++ :: else -> break od; i=0 }',
  );
  L.push('  do');
  for (let p = 0; p < P; p++) {
    let s = `  :: d_step { kst[${p}]==0 -> mapped[${p}]=0; `;
    for (let d = 0; d < D; d++) s += `if :: ats[${d}] -> pend[${d * P + p}]=1 :: else -> skip fi; `;
    L.push(s + `kst[${p}]=1 }`);
    const cond = Array.from({ length: D }, (_, d) => `pend[${d * P + p}]==0`).join(' && ');
    L.push(`  :: d_step { kst[${p}]==1 && ${cond} -> kst[${p}]=2; freed[${p}]=1 }`);
    L.push(`  :: d_step { kst[${p}]==2 -> freed[${p}]=0; mapped[${p}]=1; kst[${p}]=0 }`);
    for (let d = 0; d < D; d++) {
      L.push(`  :: d_step { ats[${d}] && mapped[${p}] && atc[${d * P + p}]==0 -> atc[${d * P + p}]=1 }`);
      L.push(`  :: d_step { pend[${d * P + p}] -> atc[${d * P + p}]=0; pend[${d * P + p}]=0 }`);
    }
  }
  for (let d = 0; d < D; d++) {
    let s = `  :: d_step { ats[${d}] -> ats[${d}]=0; `;
    for (let p = 0; p < P; p++) s += (bug ? '' : `atc[${d * P + p}]=0; `) + `pend[${d * P + p}]=0; `;
    L.push(s + '}');
    L.push(`  :: d_step { ats[${d}]==0 -> ats[${d}]=1 }`);
  }
  L.push('  od\n}');
  const inv: string[] = [];
  for (let d = 0; d < D; d++) for (let p = 0; p < P; p++) inv.push(`!(atc[${d * P + p}] && freed[${p}])`);
  L.push(`ltl inv { [] (${inv.join(' && ')}) }`);
  return L.join('\n') + '\n';
}
