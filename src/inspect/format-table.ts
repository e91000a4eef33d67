/** The human-readable tables of `atsim inspect`. */
import type { CompareReport } from './compare.js';
import type { InspectFunction, InspectReport } from './inspect.js';
import { idLabel } from './inspect.js';

function pad(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

function atsCell(f: InspectFunction): string {
  const a = f.ats;
  if (a === null) return f.unknown.includes('ats') ? '?' : '-';
  const en = a.enabled === null ? 'en?' : a.enabled ? 'en+' : 'en-';
  const stu = a.stu === null ? 'stu?' : `stu=${a.stu}`;
  const qd = a.queueDepth === null ? 'qd?' : `qd=${a.queueDepth}`;
  return `${en} ${stu} ${qd}`;
}

function yn(v: boolean | undefined): string {
  return v === undefined ? '-' : v ? 'yes' : 'no';
}

function flags(f: InspectFunction): string {
  const out: string[] = [];
  if (f.isVirtfn) out.push(`vf of ${f.physfn ?? '?'}`);
  if (f.externalFacing) out.push('external-facing');
  if (f.untrusted) out.push('untrusted');
  if (f.cxl?.cacheCapable === true) out.push('cxl.cache');
  if (f.pasid !== null) out.push('pasid');
  if (f.pri !== null) out.push('pri');
  return out.join(', ');
}

/** `VT-d scalable, ATSR 0000:00:02.0; ` for a VT-d or AMD-Vi report, nothing for SMMUv3 (the default). */
function iommuText(r: InspectReport): string {
  const i = r.iommu;
  if (i.driver === 'vtd' && i.vtd !== undefined)
    return `VT-d ${i.vtd.mode}, ATSR ${i.vtd.atsr === 'all' ? 'all ports' : i.vtd.atsr.join(',') || 'none'}; `;
  if (i.driver === 'amd' && i.amd !== undefined) return `AMD-Vi${i.amd.iotlb ? '' : ' without iotlb_sup'}; `;
  return '';
}

export function formatInspectTable(r: InspectReport): string {
  const rows: string[][] = [
    ['BDF', 'ID', 'TYPE', 'ATS CAP', 'SUPPORTED', 'REQUIRED', 'KERNEL WILL', 'NOTES'],
  ];
  for (const f of r.functions) {
    rows.push([
      f.bdf,
      idLabel(f),
      f.type,
      atsCell(f),
      yn(f.ats?.supported),
      yn(f.ats?.required),
      f.ats?.decision ?? '-',
      flags(f),
    ]);
  }
  const lines = [
    `kernel ${r.kernel}${r.cmdline === '' ? '' : ` (${r.cmdline})`}, ${iommuText(r)}IOMMU page shift ${r.pageShift}`,
    '',
    ...pad(rows),
  ];
  const why: string[] = [];
  for (const f of r.functions) {
    if (f.ats !== null && f.ats.decision !== 'on-demand')
      for (const reason of f.ats.reasons) why.push(`  ${f.bdf}: ${reason}`);
  }
  if (why.length > 0) lines.push('', 'why:', ...why);
  const warns: string[] = [];
  for (const f of r.functions) for (const w of f.warnings) warns.push(`  ${f.bdf}: ${w.code}: ${w.message}`);
  for (const w of r.diagnostics) warns.push(`  ${w.where ?? 'input'}: ${w.code}: ${w.message}`);
  if (warns.length > 0) lines.push('', 'warnings:', ...warns);
  return lines.join('\n') + '\n';
}

export function formatCompareTable(c: CompareReport): string {
  if (c.changes.length === 0) return `no function's ATS answer differs between ${c.from} and ${c.to}\n`;
  const rows: string[][] = [['BDF', 'FIELD', c.from, c.to]];
  for (const ch of c.changes) rows.push([ch.bdf, ch.field, String(ch.from), String(ch.to)]);
  return `ATS changes from ${c.from} to ${c.to}:\n\n${pad(rows).join('\n')}\n`;
}
