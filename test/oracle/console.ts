/**
 * Reading the guest's serial console (guest/init.sh): every line meant for the host starts with
 * `ATSIM:`; anything else (firmware, a kernel message that reached the console) is ignored.
 * Problems are errors naming the console line.
 */

/** One hex row of a function's config dump, as the guest's hexdump printed it. */
export interface HexRow {
  /** 1-based line of the console log. */
  readonly line: number;
  /** `000: 86 80 ...`, or `*` (the rows up to the next one repeat the previous one). */
  readonly text: string;
}

export interface FunctionRecord {
  readonly bdf: string;
  readonly line: number;
  /** The bound driver's name, null without one. */
  readonly driver: string | null;
  /** The IOMMU group number, null without a group. */
  readonly group: number | null;
  /** Size of the sysfs config file (256 or 4096). */
  readonly size: number;
  readonly rows: HexRow[];
}

export interface GroupRecord {
  readonly group: number;
  /** The group's type as /sys/kernel/iommu_groups/N/type reads: DMA, DMA-FQ, identity, blocked... */
  readonly type: string;
  readonly devices: readonly string[];
}

/** What the guest recorded before the first step (`boot`) and after each step. */
export interface StepRecord {
  readonly name: string;
  readonly line: number;
  readonly functions: FunctionRecord[];
  readonly groups: GroupRecord[];
}

/** One write the guest made for a step: `ok`, or the error the shell reported. */
export interface OpRecord {
  readonly step: string;
  readonly bdf: string;
  readonly ok: boolean;
  readonly error: string | null;
  readonly line: number;
}

export interface GuestLog {
  /** `uname -r` of the guest. */
  readonly release: string | null;
  readonly cmdline: string | null;
  readonly modules: { readonly name: string; readonly ok: boolean; readonly error: string | null }[];
  /** The functions the steps act on (virtio-pci bound at boot). */
  readonly targets: string[];
  /** Per function: `reset_method` and the like. */
  readonly attrs: Map<string, Map<string, string>>;
  readonly steps: StepRecord[];
  readonly ops: OpRecord[];
  /**
   * Functions whose ATS Control was cleared before the reset: the ATS capability's offset the
   * guest found, and the ATS Control register read back after the clear.
   */
  readonly atsCleared: Map<string, { readonly offset: number; readonly ctrl: number }>;
  readonly dmesg: string[];
  /** The guest reached its end (DONE) before powering off. */
  readonly done: boolean;
}

export class ConsoleError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`console line ${line}: ${message}`);
  }
}

const BDF_RE = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;

function kv(words: readonly string[], line: number): Map<string, string> {
  const m = new Map<string, string>();
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new ConsoleError(line, `expected key=value, found '${w}'`);
    m.set(w.slice(0, eq), w.slice(eq + 1));
  }
  return m;
}

function bdfAt(word: string | undefined, line: number): string {
  if (word === undefined || !BDF_RE.test(word))
    throw new ConsoleError(line, `expected a PCI address, found '${word ?? ''}'`);
  return word;
}

function intAt(word: string | undefined, what: string, line: number): number {
  if (word === undefined || !/^\d+$/.test(word))
    throw new ConsoleError(line, `${what}: expected a number, found '${word ?? ''}'`);
  return Number(word);
}

/** Parses a whole console log. Throws ConsoleError on a malformed ATSIM line. */
export function parseConsole(text: string): GuestLog {
  const log: GuestLog = {
    release: null,
    cmdline: null,
    modules: [],
    targets: [],
    attrs: new Map(),
    steps: [],
    ops: [],
    atsCleared: new Map(),
    dmesg: [],
    done: false,
  };
  let release: string | null = null;
  let cmdline: string | null = null;
  let done = false;
  let step: StepRecord | null = null;
  let fn: FunctionRecord | null = null;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const raw = lines[i]!.replace(/\r$/, '');
    const at = raw.indexOf('ATSIM:');
    if (at < 0) continue;
    const body = raw.slice(at + 6);
    const sp = body.indexOf(' ');
    const tag = sp < 0 ? body : body.slice(0, sp);
    const rest = sp < 0 ? '' : body.slice(sp + 1);
    const words = rest.split(' ').filter((w) => w !== '');
    switch (tag) {
      case 'BEGIN':
        release = rest.trim();
        break;
      case 'CMDLINE':
        cmdline = rest.trim();
        break;
      case 'MODULE':
        log.modules.push({
          name: words[0] ?? '',
          ok: words[1] === 'ok',
          error: words[1] === 'ok' ? null : words.slice(2).join(' '),
        });
        break;
      case 'TARGETS':
        for (const w of words) log.targets.push(bdfAt(w, n));
        break;
      case 'ATTR': {
        const bdf = bdfAt(words[0], n);
        const m = log.attrs.get(bdf) ?? new Map<string, string>();
        for (const [k, v] of kv(words.slice(1), n)) m.set(k, v);
        log.attrs.set(bdf, m);
        break;
      }
      case 'STEP':
        if (step !== null)
          throw new ConsoleError(n, `step '${rest}' starts before step '${step.name}' ended`);
        step = { name: rest.trim(), line: n, functions: [], groups: [] };
        fn = null;
        break;
      case 'FN': {
        if (step === null) throw new ConsoleError(n, 'FN outside a step');
        const m = kv(words.slice(1), n);
        const driver = m.get('driver') ?? '-';
        const group = m.get('group') ?? '-';
        fn = {
          bdf: bdfAt(words[0], n),
          line: n,
          driver: driver === '-' ? null : driver,
          group: group === '-' ? null : intAt(group, 'group', n),
          size: intAt(m.get('size'), 'size', n),
          rows: [],
        };
        step.functions.push(fn);
        break;
      }
      case 'H':
        if (fn === null) throw new ConsoleError(n, 'hex row outside a function');
        fn.rows.push({ line: n, text: rest.trim() });
        break;
      case 'GROUP': {
        if (step === null) throw new ConsoleError(n, 'GROUP outside a step');
        const m = kv(words.slice(1, 2), n);
        const devs = rest
          .slice(rest.indexOf('devices=') + 8)
          .split(' ')
          .filter((w) => w !== '');
        step.groups.push({
          group: intAt(words[0], 'group', n),
          type: m.get('type') ?? '',
          devices: devs.map((d) => bdfAt(d, n)),
        });
        fn = null;
        break;
      }
      case 'END':
        if (step?.name !== rest.trim())
          throw new ConsoleError(n, `END ${rest} does not close the current step`);
        log.steps.push(step);
        step = null;
        fn = null;
        break;
      case 'OP':
        log.ops.push({
          step: words[0] ?? '',
          bdf: bdfAt(words[1], n),
          ok: words[2] === 'ok',
          error: words[2] === 'ok' ? null : words.slice(3).join(' '),
          line: n,
        });
        break;
      case 'ATSCLEAR': {
        const ctrl = kv(words.slice(2), n).get('ctrl') ?? '';
        if (!/^[0-9a-f]{4}$/.test(ctrl))
          throw new ConsoleError(n, `ctrl: expected 4 hex digits, found '${ctrl}'`);
        log.atsCleared.set(bdfAt(words[0], n), {
          offset: intAt(words[1], 'offset', n),
          ctrl: parseInt(ctrl, 16),
        });
        break;
      }
      case 'DMESG':
        break;
      case 'K':
        log.dmesg.push(rest);
        break;
      case 'DONE':
        done = true;
        break;
      default:
        throw new ConsoleError(n, `unknown record '${tag}'`);
    }
  }
  return { ...log, release, cmdline, done };
}

/**
 * One function's dump as `lspci -xxxx` would print it: its device line, then every 16-byte row
 * from offset 0 to its config size, the guest's `*` (repeated rows) written out again.
 */
export function lspciText(f: FunctionRecord): string {
  const out: string[] = [`${f.bdf} Guest function`];
  let prev: string | null = null;
  let next = 0;
  const emitUpTo = (end: number, line: number): void => {
    if (prev === null) throw new ConsoleError(line, `${f.bdf}: '*' before any row`);
    for (; next < end; next += 16) out.push(`${next.toString(16).padStart(3, '0')}:${prev}`);
  };
  let repeat = false;
  for (const r of f.rows) {
    if (r.text === '*') {
      repeat = true;
      continue;
    }
    const m = /^([0-9a-f]+):((?: [0-9a-f]{2})*)\s*$/.exec(r.text);
    if (m === null) throw new ConsoleError(r.line, `${f.bdf}: malformed hex row '${r.text}'`);
    const offset = parseInt(m[1]!, 16);
    if (repeat) emitUpTo(offset, r.line);
    repeat = false;
    if (offset !== next)
      throw new ConsoleError(
        r.line,
        `${f.bdf}: row at 0x${offset.toString(16)}, expected 0x${next.toString(16)}`,
      );
    prev = m[2]!;
    out.push(`${m[1]!}:${prev}`);
    next += 16;
  }
  if (repeat) emitUpTo(f.size, f.line);
  return out.join('\n') + '\n';
}
