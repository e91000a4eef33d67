import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { libraryReadmeText, readmePath } from '../../../scripts/gen-scenarios-readme.js';
import { scenarioSchemaText, schemaPath } from '../../../scripts/gen-scenario-schema.js';
import { PRESET_IDS } from '../../../src/kernel/presets.js';
import { loadScenarioFile, loadScenarioMachine, libraryFiles } from '../../../src/node/load-scenario.js';
import { formatCheckTable } from '../../../src/report/check-table.js';
import { PARTICIPANTS, formatMermaid, mermaidText } from '../../../src/report/mermaid.js';
import { formatTextReport } from '../../../src/report/text.js';
import type { Style } from '../../../src/report/style.js';
import { bindScenario } from '../../../src/scenario/bind.js';
import { checkCell, checkScenarios } from '../../../src/scenario/check.js';
import { parseScenario } from '../../../src/scenario/parse.js';
import { runScenario, type Trace } from '../../../src/scenario/run.js';
import { docScenarios } from '../../helpers/doc-scenarios.js';
import { join } from 'node:path';
import { repoRoot } from '../../helpers/paths.js';

const file001 = join(repoRoot, 'scenarios', '001-vf-quirked-pf-commit-failure.yaml');
const file020 = join(repoRoot, 'scenarios', '020-flr-during-unmap-invalidation.yaml');

function trace(file: string, preset: string): Trace {
  return runScenario(loadScenarioFile(file, 'scenarios/x.yaml'), { preset });
}

describe('the Mermaid sequence diagram', () => {
  const t = trace(file001, 'v7.2');
  const text = formatMermaid(t);
  const lines = text.trimEnd().split('\n');
  const ids = PARTICIPANTS.map(([id]) => id);

  it('declares the five participants first', () => {
    expect(lines[0]).toBe('sequenceDiagram');
    expect(lines.slice(1, 6)).toEqual([
      '  participant Drv as Driver/VFIO',
      '  participant Core as IOMMU core',
      '  participant SMMU as SMMU',
      '  participant PCI as PCI core',
      '  participant Dev as Device',
    ]);
  });

  it('has only messages between participants and notes, on one line each, without ; or #', () => {
    const msg = new RegExp(`^  (${ids.join('|')})(->>|-->>)(${ids.join('|')}): [^;#\\n]+$`);
    const note = new RegExp(`^  Note over (${ids.join('|')})(,(${ids.join('|')}))?: [^;#\\n]+$`);
    for (const l of lines.slice(6)) expect(msg.test(l) || note.test(l), l).toBe(true);
  });

  it('opens every step with a note and ends with the verdict', () => {
    for (const s of t.steps) expect(text).toContain(`Note over Drv,Dev: step ${s.n}: ${mermaidText(s.text)}`);
    expect(lines.at(-1)).toBe(`  Note over Drv,Dev: verdict: violated ${t.verdict.violated.join(', ')}`);
  });

  it('shows the WARN, the config writes to the device and the SMMU commands', () => {
    expect(text).toMatch(/Note over PCI: WARN WARNING: at pci_disable_ats: 0000:04:01\.0/);
    expect(text).toMatch(/PCI->>Dev: [0-9a-f:.]+: config write PCI_ATS_CTRL/);
    expect(text).toMatch(/SMMU->>Dev: CMD_ATC_INV 0000:04:01\.0/);
    expect(text).toContain('Note over Drv,Dev: VIOLATION warn:pci_disable_ats 0000:04:01.0');
  });

  it('escapes what Mermaid would read as syntax', () => {
    expect(mermaidText('a; b #1 -> <c>\nd')).toBe('a, b no. 1 → ‹c› d');
  });
});

describe('the text report', () => {
  const mark: Style = {
    bold: (s) => `<b>${s}</b>`,
    dim: (s) => s,
    red: (s) => `<r>${s}</r>`,
    green: (s) => `<g>${s}</g>`,
    yellow: (s) => s,
    cyan: (s) => s,
  };

  it('lists each step with its events, violations with statement and source, the final state and the verdict', () => {
    const t = trace(file020, 'v6.12');
    const text = formatTextReport(t);
    expect(text).toContain('Scenario flr-during-unmap-invalidation  (scenarios/x.yaml)');
    expect(text).toContain('Kernel v6.12');
    expect(text).toMatch(
      /#6 {2}dma-unmap 0000:02:00\.0 iova=0 \(begin\) {2}\.\.\. waiting \(thread 1\) {2}line \d+/,
    );
    expect(text).toContain('CMD_SYNC timeout');
    expect(text).toMatch(/✗ invalidation-timeout 0000:02:00\.0: Invalidation timed out/);
    expect(text).toContain('source: arm-smmu-v3 CERROR_ATC_INV');
    expect(text).toMatch(/function\s+driver\s+domain\s+ATS\s+IOMMU ATS\s+nr_ats_masters\s+ATC/);
    expect(text).toMatch(/0000:02:00\.0 {2}dma {5}DMA\(d\d+\)/);
    expect(text).toContain(
      'Verdict: violated invalidation-timeout, no-stale-cache-entry, no-stale-translation, reset-fenced',
    );
    expect(text).toContain(
      'Expected (v6.12): violates invalidation-timeout, no-stale-cache-entry, no-stale-translation, reset-fenced',
    );
    expect(text.trimEnd().endsWith('Expectation met')).toBe(true);
    // Plain unless styled: no escape codes.
    expect(text).not.toContain('\x1b[');
  });

  it('summarises the implicit boot unless verbose, and styles through the Style it is given', () => {
    const t = trace(file001, 'v7.2');
    expect(formatTextReport(t)).toMatch(
      /#1 {2}boot {2}= 0 {2}\(implicit\)\n {8}\(\d+ events; --verbose shows them\)/,
    );
    expect(formatTextReport(t, { verboseBoot: true })).toContain('pci_prepare_ats');
    const styled = formatTextReport(t, { style: mark });
    expect(styled).toContain('<r><b>warn:pci_disable_ats</b></r>');
    expect(styled).toContain('<g><b>Expectation met</b></g>');
  });
});

describe('the check table', () => {
  it('marks every cell that differs and explains it under the table', () => {
    const b = loadScenarioFile(file001, 'scenarios/001-vf-quirked-pf-commit-failure.yaml');
    const r = checkScenarios(
      [{ file: 'scenarios/001-vf-quirked-pf-commit-failure.yaml', bound: b }],
      PRESET_IDS,
    );
    const ok = formatCheckTable(r);
    expect(ok).toMatch(/^scenario\s+v6\.1\s+v6\.12\s+v7\.0\s+v7\.2\s+v7\.3\n/);
    expect(ok).toMatch(
      /001-vf-quirked-pf-commit-failure\s+-\s+violated \(nr-ats-masters, .*\)\s+.*\s+holds\n/,
    );
    // v6.1 models VT-d only: the SMMUv3 scenario's v6.1 cell is n/a and not counted.
    expect(ok).toContain('4 cells, all as expected');
    // The same scenario with v7.3's PF-aware check on everywhere: v6.12..v7.2 now differ.
    const cells = PRESET_IDS.map((p) => checkCell(b, p));
    expect(cells.every((c) => c.met)).toBe(true);
    const doc = parseScenario(
      readFileSync(file001, 'utf8').replace(
        'machine:\n  example: machine\n',
        'machine:\n  example: machine\nkernel: { switches: { ats-supported-pf-aware: on } }\n',
      ),
      'scenarios/001-modified.yaml',
    );
    const b2 = bindScenario(doc, loadScenarioMachine(doc, join(repoRoot, 'scenarios')));
    const r2 = checkScenarios([{ file: 'scenarios/001-modified.yaml', bound: b2 }], PRESET_IDS);
    const bad = formatCheckTable(r2);
    expect(r2.differing).toBe(3);
    expect(bad).toMatch(/001-modified\s+-\s+✗ holds\s+✗ holds\s+✗ holds\s+holds\n/);
    expect(bad).toContain('3 of 4 cells differ from the expectation:');
    expect(bad).toContain('✗ 001-modified @ v7.2: expected violates nr-ats-masters, smmu-pci-ats-agree');
  });
});

describe('generated files', () => {
  it('schema/scenario.schema.json is current (run npx tsx scripts/gen-scenario-schema.ts)', async () => {
    expect(readFileSync(schemaPath, 'utf8')).toBe(await scenarioSchemaText());
  });

  it('scenarios/README.md is current (run npx tsx scripts/gen-scenarios-readme.ts)', async () => {
    const text = await libraryReadmeText();
    expect(readFileSync(readmePath, 'utf8')).toBe(text);
    for (const { shownAs } of libraryFiles())
      expect(text).toContain(`(${shownAs.replace('scenarios/', '')})`);
  });
});

describe('the scenarios in docs/scenario-format.md', () => {
  const cases = docScenarios('docs/scenario-format.md');
  it('there are several', () => {
    expect(cases.length).toBeGreaterThanOrEqual(3);
  });
  it.each(cases.map((c) => [c.line, c] as const))(
    'the one at line %i meets its expectation under every preset',
    (_l, c) => {
      const doc = parseScenario(c.text, `docs/scenario-format.md:${c.line}`);
      const b = bindScenario(doc, loadScenarioMachine(doc, join(repoRoot, 'docs')));
      for (const p of PRESET_IDS) {
        const cell = checkCell(b, p);
        expect(cell.met, `${p}: ${cell.status} ${cell.violated.join(', ')} ${cell.error ?? ''}`).toBe(true);
      }
    },
  );
});
