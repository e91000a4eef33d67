/**
 * Test helpers for the lspci text importer: a tiny reader of the corpus files (device lines,
 * indented text, hex rows) independent of src/import/lspci.ts, and the check that every field the
 * text reader reports known equals the hex decode of the same function.
 */
import { expect } from 'vitest';
import type { TextLine } from '../../src/import/lspci-text.js';
import type { CapabilityRef } from '../../src/pci/capabilities.js';
import { ConfigSpace } from '../../src/pci/config-space.js';
import type { PciFunction } from '../../src/pci/function.js';

export interface RawBlock {
  /** The device line and its indented text lines, as the importer receives them. */
  readonly lines: TextLine[];
  /** Hex rows in order (`offset: bytes`). */
  readonly hex: { offset: number; bytes: number[] }[];
}

const HEX_ROW_RE = /^([0-9a-f]{2,3}):((?: [0-9a-f]{2}){1,16})\s*$/;
const DEVICE_RE = /^(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7][/ ]/;

/**
 * Splits lspci output into blocks: a device line starts one (column 0), indented lines and hex
 * rows belong to it. `#` lines and blank lines are skipped; other column-0 lines are kept in the
 * current block (a mail-wrapped tail).
 */
export function splitBlocks(text: string): RawBlock[] {
  const blocks: RawBlock[] = [];
  let cur: RawBlock | null = null;
  text.split('\n').forEach((raw, i) => {
    const t = raw.replace(/\r$/, '');
    if (t.trim() === '' || t.startsWith('#')) return;
    const hex = HEX_ROW_RE.exec(t);
    if (hex !== null) {
      cur?.hex.push({
        offset: parseInt(hex[1]!, 16),
        bytes: hex[2]!
          .trim()
          .split(' ')
          .map((b) => parseInt(b, 16)),
      });
      return;
    }
    if (DEVICE_RE.test(t)) {
      cur = { lines: [{ text: t, line: i + 1 }], hex: [] };
      blocks.push(cur);
      return;
    }
    cur?.lines.push({ text: t, line: i + 1 });
  });
  return blocks;
}

/** The block's config space from its hex rows (size = the bytes shown). */
export function configOf(block: RawBlock): ConfigSpace {
  const bytes = new Uint8Array(4096);
  let size = 0;
  for (const row of block.hex) {
    row.bytes.forEach((b, j) => (bytes[row.offset + j] = b));
    size = Math.max(size, row.offset + row.bytes.length);
  }
  return new ConfigSpace(size, bytes);
}

function capsOf(fn: PciFunction, space: 'std' | 'ext', withVersion: boolean): string[] {
  return (fn.capabilities ?? [])
    .filter((c: CapabilityRef) => c.space === space)
    .map((c) => `${c.id.toString(16)}@${c.offset.toString(16)}${withVersion ? ` v${c.version}` : ''}`);
}

const RECORDS = ['express', 'ats', 'sriov', 'pasid', 'pri', 'acs', 'cxl'] as const;

/**
 * Every field `text` reports known must equal the hex decode `hex`. Returns how many fields were
 * compared, so a caller can check the comparison was not vacuous.
 */
export function expectKnownFieldsMatch(text: PciFunction, hex: PciFunction, label: string): number {
  const unknown = new Set(text.unknown);
  let compared = 0;
  const same = (what: string, t: unknown, h: unknown): void => {
    expect(t, `${label}: ${what}`).toEqual(h);
    compared++;
  };
  expect(text.sourceKind).toBe('lspci-text');
  expect(text.config).toBeNull();
  same('bdf', text.bdf, hex.bdf);
  for (const [k, v] of Object.entries(text.header)) {
    if (unknown.has(`header.${k}`)) {
      expect(v, `${label}: header.${k} is unknown, so null`).toBeNull();
      continue;
    }
    same(`header.${k}`, v, (hex.header as unknown as Record<string, unknown>)[k]);
  }
  if (!unknown.has('capabilities')) {
    expect(text.capabilities, `${label}: capabilities known`).not.toBeNull();
    const partial = unknown.has('capabilities.id');
    const std = capsOf(text, 'std', false);
    const hexStd = capsOf(hex, 'std', false);
    if (partial) for (const c of std) expect(hexStd, `${label}: std cap ${c}`).toContain(c);
    else same('std capabilities', std, hexStd);
    if (!unknown.has('ext-capabilities') && hex.extCapsReadable === true) {
      const withVersion = !unknown.has('capabilities.version');
      const ext = capsOf(text, 'ext', withVersion);
      const hexExt = capsOf(hex, 'ext', withVersion);
      if (partial) for (const c of ext) expect(hexExt, `${label}: ext cap ${c}`).toContain(c);
      else same('ext capabilities', ext, hexExt);
    }
  } else expect(text.capabilities, `${label}: capabilities unknown, so null`).toBeNull();
  if (!unknown.has('extCapsReadable')) same('extCapsReadable', text.extCapsReadable, hex.extCapsReadable);
  for (const name of RECORDS) {
    const t = text[name] as Record<string, unknown> | null;
    const h = hex[name] as Record<string, unknown> | null;
    if (unknown.has(name)) {
      expect(t, `${label}: ${name} unknown, so null`).toBeNull();
      continue;
    }
    if (t === null) {
      // Known absent. A 256-byte dump cannot show extended capabilities, so the hex decode does not
      // know either; the text reader may still know (a conventional PCI function has none).
      if (!hex.unknown.includes(name)) same(`${name} absent`, t, h);
      continue;
    }
    expect(h, `${label}: ${name} present in the hex`).not.toBeNull();
    for (const [k, v] of Object.entries(t)) {
      if (unknown.has(`${name}.${k}`)) {
        expect(v, `${label}: ${name}.${k} unknown, so null`).toBeNull();
        continue;
      }
      same(`${name}.${k}`, v, h![k]);
    }
  }
  if (!unknown.has('dvsecs') && !hex.unknown.includes('dvsecs')) {
    same(
      'dvsec offsets',
      text.dvsecs.map((d) => d.offset),
      hex.dvsecs.map((d) => d.offset),
    );
  }
  for (const d of text.dvsecs) {
    const hd = hex.dvsecs.find((x) => x.offset === d.offset);
    expect(hd, `${label}: DVSEC at ${d.offset.toString(16)} in the hex`).toBeDefined();
    for (const [k, v] of Object.entries(d)) {
      if (v === null)
        expect(unknown.has(`dvsecs.${k}`), `${label}: dvsecs.${k} null means unknown`).toBe(true);
      else same(`dvsec@${d.offset.toString(16)}.${k}`, v, (hd as unknown as Record<string, unknown>)[k]);
    }
  }
  return compared;
}
