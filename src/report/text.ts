/**
 * The text report of a run: the scenario and kernel, each step with its events (config writes,
 * STE/CD writes, SMMU commands, ATC fills and drops, returns, WARNs) and the violations it
 * introduced (statement and source), then a brief final state and the verdict against the
 * expectation. Meant to be read at a glance; the JSON trace (docs/trace-format.md) has everything.
 */
import { formatKernelEvent, type KernelEvent } from '../kernel/events.js';
import type { Trace, TraceStep } from '../scenario/run.js';
import type { FunctionSnapshot, Snapshot } from '../scenario/snapshot.js';
import type { Verdict } from '../scenario/types.js';
import { PLAIN, padVisible, wrap, type Style } from './style.js';

export interface TextReportOptions {
  readonly style?: Style;
  /** Also list the events of the implicit boot (default: summarised in one line). */
  readonly verboseBoot?: boolean;
}

export function verdictText(v: Verdict | null): string {
  if (v === null || v.kind === 'holds') return 'holds';
  return `violates ${v.ids.join(', ')}`;
}

function eventLine(ev: KernelEvent, st: Style): string {
  const text = formatKernelEvent(ev);
  switch (ev.kind) {
    case 'warn':
      return st.red(st.bold(text));
    case 'return':
      return typeof ev.value === 'number' && ev.value < 0 ? st.yellow(text) : text;
    case 'dma':
      return ev.outcome === 'stale' ? st.red(text) : ev.outcome === 'fault' ? st.yellow(text) : text;
    case 'smmu-cmd':
    case 'iommu-cmd':
      return ev.result === 'timeout' ? st.red(text) : st.cyan(text);
    case 'info':
      return ev.level === 'err' || ev.level === 'warn' ? st.yellow(text) : st.dim(text);
    case 'config-write':
    case 'iommu':
    case 'ste-write':
    case 'cd-write':
    case 'dev-entry':
    case 'atc':
      return text;
  }
}

function stepHeader(s: TraceStep, st: Style): string {
  const n = `#${s.n}`.padStart(4);
  const where = s.line === null ? '(implicit)' : `line ${s.line}`;
  let result = '';
  if (s.skipped) result = st.dim('  (already finished)');
  else if (s.waiting) result = st.dim(`  ... waiting (thread ${s.thread})`);
  else if (s.retName !== null)
    result = `  = ${s.ret !== null && s.ret < 0 ? st.yellow(s.retName) : s.retName}`;
  let expect = '';
  if (s.expect !== null)
    expect = s.expect.met
      ? st.green(`  expect ${s.expect.name} ok`)
      : st.red(`  expect ${s.expect.name} NOT MET`);
  const thread = s.thread === 0 || s.waiting ? '' : st.dim(` [thread ${s.thread}]`);
  return `${n}  ${st.bold(s.text)}${thread}${result}${expect}  ${st.dim(where)}`;
}

function stepLines(s: TraceStep, st: Style, opts: TextReportOptions): string[] {
  const out = [stepHeader(s, st)];
  if (s.note !== null) out.push(...wrap(s.note, 100, '        ').map((l) => st.dim(l)));
  if (s.origin === 'boot' && opts.verboseBoot !== true && s.events.length > 0) {
    const warns = s.events.filter((e) => e.kind === 'warn');
    out.push(st.dim(`        (${s.events.length} events; --verbose shows them)`));
    for (const w of warns) out.push(`        ${eventLine(w, st)}`);
  } else for (const ev of s.events) out.push(`        ${eventLine(ev, st)}`);
  const fresh = s.violations.filter((v) => v.new);
  for (const v of fresh) {
    out.push(
      `      ${st.red('✗')} ${st.red(st.bold(v.id))}${v.bdf === undefined ? '' : ` ${v.bdf}`}: ${v.statement}`,
    );
    out.push(...wrap(v.detail, 100, '          '));
    out.push(st.dim(`          source: ${v.source}`));
  }
  const still = [...new Set(s.violations.filter((v) => !v.new).map((v) => v.id))];
  if (still.length > 0) out.push(st.dim(`      still violated: ${still.join(', ')}`));
  return out;
}

function domainText(f: FunctionSnapshot): string {
  if (f.domain === null) return '-';
  return `${f.domain.type}(d${f.domain.slot})${f.blocked ? ' parked' : ''}`;
}

/** The brief per-function table: driver, domain type, ATS on/off, the driver's belief, nr_ats_masters. */
export function finalStateLines(snap: Snapshot, st: Style = PLAIN): string[] {
  const rows = snap.functions
    .filter((f) => f.group >= 0)
    .map((f) => [
      f.bdf,
      f.present ? f.driver : 'unplugged',
      domainText(f),
      f.ats ? 'on' : 'off',
      f.driverAts === null ? '-' : f.driverAts ? 'on' : 'off',
      f.nrAtsMasters === null ? '-' : String(f.nrAtsMasters),
      f.atc.length === 0 ? '-' : String(f.atc.length),
    ]);
  const head = ['function', 'driver', 'domain', 'ATS', 'IOMMU ATS', 'nr_ats_masters', 'ATC'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: readonly string[]): string =>
    '  ' +
    r
      .map((c, i) => padVisible(c, widths[i]!))
      .join('  ')
      .trimEnd();
  const lines = [st.bold(fmt(head))];
  for (const r of rows) {
    const disagree = r[3] !== r[4] && r[4] !== '-';
    lines.push(disagree ? st.yellow(fmt(r)) : fmt(r));
  }
  return lines;
}

export function formatTextReport(trace: Trace, opts: TextReportOptions = {}): string {
  const st = opts.style ?? PLAIN;
  const out: string[] = [];
  const sc = trace.scenario;
  out.push(`${st.bold('Scenario')} ${sc.name}  ${st.dim(`(${sc.file})`)}`);
  if (sc.thread !== null) {
    const subj = sc.thread.subject === undefined ? '' : ` "${sc.thread.subject}"`;
    out.push(`Thread ${sc.thread.seed}${subj}: ${sc.thread.message}`);
  }
  if (sc.claim !== null) out.push(...wrap(`Claim: ${sc.claim}`, 100, ''));
  const k = trace.kernel;
  const ov = Object.entries(k.overrides).map(([id, v]) => `${id}=${v}`);
  out.push(
    `Kernel ${st.bold(k.preset)}${ov.length === 0 ? '' : `  switches: ${ov.join(' ')}`}${k.cmdline === '' ? '' : `  cmdline: ${k.cmdline}`}`,
  );
  const f = trace.iommu;
  if (trace.driver === 'smmuv3') {
    const feats = [
      f.ats ? 'ats' : 'no-ats',
      f.stage1 ? 's1' : 'no-s1',
      f.stage2 ? 's2' : 'no-s2',
      `ssid-bits=${f.ssidBits}`,
      `page=${(1 << f.pageShift) / 1024}K`,
      f.msiThroughIommu ? 'msi-through-iommu' : 'msi-direct',
    ];
    out.push(`IOMMU SMMUv3 ${feats.join(' ')}`);
  } else if (trace.driver === 'vtd') {
    const v = trace.vtd;
    const atsr =
      v === undefined ? '' : v.atsr === 'all' ? ' atsr=all' : ` atsr=${v.atsr.join(',') || 'none'}`;
    out.push(
      `IOMMU VT-d ${v?.mode ?? ''} ${f.ats ? 'device-tlb' : 'no-device-tlb'} pasid-bits=${f.ssidBits}${atsr}`,
    );
  } else {
    out.push(`IOMMU AMD-Vi ${f.ats ? 'iotlb' : 'no-iotlb'}`);
  }
  out.push('');
  for (const s of trace.steps) out.push(...stepLines(s, st, opts));
  if (trace.error !== null) {
    out.push('');
    out.push(st.red(st.bold(`The model failed at step #${trace.error.n}: ${trace.error.message}`)));
  }
  out.push('');
  out.push(st.bold('Final state'));
  out.push(...finalStateLines(trace.final, st));
  if (trace.notes.length > 0) {
    out.push('');
    for (const n of trace.notes) out.push(st.yellow(`note: ${n}`));
  }
  out.push('');
  const v = trace.verdict;
  out.push(
    `${st.bold('Verdict')}: ${v.holds ? st.green('holds') : st.red(`violated ${v.violated.join(', ')}`)}`,
  );
  const exp = verdictText(trace.expected);
  const stated = trace.expected === null ? ' (none stated)' : '';
  out.push(`Expected (${k.preset}): ${exp}${stated}`);
  for (const m of trace.retMismatches)
    out.push(
      st.red(
        `Step #${m.n}${m.line === null ? '' : ` (line ${m.line})`}: expected ${m.expected}, got ${m.got}`,
      ),
    );
  out.push(trace.met ? st.green(st.bold('Expectation met')) : st.red(st.bold('Expectation NOT met')));
  return out.join('\n') + '\n';
}
