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

/** Display names of the drivers in the column headers. */
const DRIVER_LABEL: Readonly<Record<string, string>> = { smmuv3: 'SMMUv3', vtd: 'VT-d', amd: 'AMD-Vi' };

/** The header of a cell's column: the preset, with the driver when the table has several. */
function columnHead(r: CheckResult, c: CheckCell): string {
  return r.drivers.length > 1 ? `${DRIVER_LABEL[c.driver] ?? c.driver} ${c.preset}` : c.preset;
}

function rowLabel(file: string): string {
  const base = file.split(/[\\/]/).pop() ?? file;
  return base.replace(/\.(ya?ml|json)$/, '');
}

export function formatCheckTable(r: CheckResult, st: Style = PLAIN): string {
  const first =
    r.rows[0]?.cells ?? r.drivers.flatMap((driver) => r.presets.map((preset) => ({ driver, preset })));
  const head = ['scenario', ...first.map((c) => columnHead(r, c as CheckCell))];
  const rows = r.rows.map((row) => [rowLabel(row.file), ...row.cells.map(cellText)]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  const out: string[] = [];
  out.push(
    st.bold(
      head
        .map((h, i) => padVisible(h, widths[i]!))
        .join('  ')
        .trimEnd(),
    ),
  );
  r.rows.forEach((row, ri) => {
    const cells = rows[ri]!.map((text, i) => {
      const padded = padVisible(text, widths[i]!);
      if (i === 0) return padded;
      const c = row.cells[i - 1]!;
      if (c.status === 'n/a') return st.dim(padded);
      return c.met ? (c.status === 'holds' ? st.green(padded) : padded) : st.red(padded);
    });
    out.push(cells.join('  ').trimEnd());
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
