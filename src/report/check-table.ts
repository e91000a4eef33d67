/**
 * The `atsim check` table: one row per scenario, one column per preset. A cell says holds,
 * violated (ids) or error; a cell that differs from the expectation is marked with ✗ and
 * explained under the table.
 */
import type { CheckCell, CheckResult } from '../scenario/check.js';
import { PLAIN, padVisible, type Style } from './style.js';
import { verdictText } from './text.js';

export function cellText(c: CheckCell): string {
  const mark = c.met ? '' : '✗ ';
  switch (c.status) {
    case 'holds':
      return `${mark}holds`;
    case 'violated':
      return `${mark}violated (${c.violated.join(', ')})`;
    case 'error':
      return `${mark}error`;
    case 'n/a':
      return '-';
  }
}

/** Display names of the drivers. */
const DRIVER_LABEL: Readonly<Record<string, string>> = { smmuv3: 'SMMUv3', vtd: 'VT-d', amd: 'AMD-Vi' };

function rowLabel(file: string): string {
  const base = file.split(/[\\/]/).pop() ?? file;
  return base.replace(/\.(ya?ml|json)$/, '');
}

/** One table: a row per scenario, a column per preset, for the cells of one driver. */
function driverTable(r: CheckResult, driver: string, st: Style, out: string[]): void {
  const rows = r.rows
    .map((row) => ({ row, cells: row.cells.filter((c) => c.driver === driver) }))
    .filter((x) => x.cells.some((c) => c.status !== 'n/a'));
  const head = ['scenario', ...r.presets];
  const texts = rows.map((x) => [rowLabel(x.row.file), ...x.cells.map(cellText)]);
  const widths = head.map((h, i) => Math.max(h.length, ...texts.map((t) => t[i]!.length)));
  out.push(
    st.bold(
      head
        .map((h, i) => padVisible(h, widths[i]!))
        .join('  ')
        .trimEnd(),
    ),
  );
  rows.forEach((x, ri) => {
    const cells = texts[ri]!.map((text, i) => {
      const padded = padVisible(text, widths[i]!);
      if (i === 0) return padded;
      const c = x.cells[i - 1]!;
      if (c.status === 'n/a') return st.dim(padded);
      return c.met ? (c.status === 'holds' ? st.green(padded) : padded) : st.red(padded);
    });
    out.push(cells.join('  ').trimEnd());
  });
}

/**
 * The check table. With one driver: a row per scenario and a column per preset. With several: a
 * table per driver (SMMUv3, VT-d, AMD-Vi), each with its rows (the scenarios that list the driver)
 * and a column per preset; a preset that does not model the driver shows `-`.
 */
export function formatCheckTable(r: CheckResult, st: Style = PLAIN): string {
  const out: string[] = [];
  if (r.drivers.length === 1) driverTable(r, r.drivers[0]!, st, out);
  else
    r.drivers.forEach((d, i) => {
      if (i > 0) out.push('');
      out.push(st.bold(`IOMMU driver: ${DRIVER_LABEL[d] ?? d} (${d})`));
      driverTable(r, d, st, out);
    });
  const diffs: string[] = [];
  for (const row of r.rows)
    for (const c of row.cells) {
      if (c.met) continue;
      const at = `${rowLabel(row.file)} @ ${r.drivers.length > 1 ? `${c.driver} ` : ''}${c.preset}`;
      if (c.status === 'error') diffs.push(`${at}: error: ${c.error ?? 'unknown'}`);
      else {
        const got = c.status === 'holds' ? 'holds' : `violated ${c.violated.join(', ')}`;
        const verdictDiffers =
          got !== (c.expected.kind === 'holds' ? 'holds' : `violated ${c.expected.ids.join(', ')}`);
        if (verdictDiffers) diffs.push(`${at}: expected ${verdictText(c.expected)}, got ${got}`);
        for (const m of c.retMismatches)
          diffs.push(
            `${at}: step #${m.n}${m.line === null ? '' : ` (line ${m.line})`} returned ${m.got}, expected ${m.expected}`,
          );
      }
    }
  out.push('');
  const cells = r.rows.reduce((n, row) => n + row.cells.filter((c) => c.status !== 'n/a').length, 0);
  if (diffs.length === 0) out.push(st.green(`${cells} cells, all as expected`));
  else {
    out.push(st.red(`${r.differing} of ${cells} cells differ from the expectation:`));
    for (const d of diffs) out.push(st.red(`  ✗ ${d}`));
  }
  return out.join('\n') + '\n';
}
