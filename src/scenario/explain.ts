/**
 * `atsim explain`: what an invariant says, where it comes from, and which scenarios exercise it
 * (those whose expectation names it, for some preset). Pure: the caller passes the parsed library.
 */
import { INVARIANTS, invariantById } from '../invariants/catalogue.js';
import { PRESET_IDS, presetModelsDriver, type PresetId } from '../kernel/presets.js';
import { InputError } from '../diagnostics.js';
import { forPreset, type ScenarioDoc } from './types.js';

export interface Explanation {
  readonly id: string;
  readonly kind: 'kernel' | 'functional' | 'warn';
  /** The number in section g of the reference notes, when it is one of those. */
  readonly ref: number | null;
  readonly statement: string;
  readonly source: string;
  /** Library scenarios whose expectation names the id, with the presets where it does. */
  readonly scenarios: readonly {
    readonly file: string;
    readonly name: string;
    readonly presets: readonly PresetId[];
  }[];
}

/** The presets under which `doc` expects `id` to be violated with its own IOMMU driver (presets that model it). */
export function presetsExpecting(doc: ScenarioDoc, id: string): PresetId[] {
  const e = doc.expect;
  if (e === null) return [];
  return PRESET_IDS.filter((p) => {
    if (!presetModelsDriver(p, doc.driver)) return false;
    const v = forPreset(e, p, doc.driver);
    return v !== null && v.kind === 'violates' && v.ids.includes(id);
  });
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

export function explainInvariant(id: string, library: readonly ScenarioDoc[]): Explanation {
  const scenarios = library
    .map((doc) => ({ file: doc.file, name: doc.name, presets: presetsExpecting(doc, id) }))
    .filter((s) => s.presets.length > 0);
  const warn = /^warn:([A-Za-z_][A-Za-z0-9_]*)$/.exec(id);
  if (warn !== null)
    return {
      id,
      kind: 'warn',
      ref: null,
      statement: `a WARN_ON in ${warn[1]!} fired: the kernel reports a bug in itself`,
      source: `${warn[1]!} (kernel WARN_ON); every modelled WARN_ON is a violation`,
      scenarios,
    };
  const inv = invariantById(id);
  if (inv === undefined) {
    const near = INVARIANTS.map((i) => ({ id: i.id, d: editDistance(i.id, id) }))
      .sort((a, b) => a.d - b.d)
      .filter((x) => x.d <= Math.max(3, Math.floor(id.length / 3)))
      .slice(0, 3)
      .map((x) => x.id);
    throw new InputError({
      code: 'unknown-invariant',
      message: `unknown invariant '${id}'${near.length > 0 ? `; did you mean ${near.join(', ')}?` : ''} (atsim explain lists them all)`,
    });
  }
  return {
    id,
    kind: inv.kind,
    ref: inv.ref ?? null,
    statement: inv.statement,
    source: inv.source,
    scenarios,
  };
}

export function formatExplanation(e: Explanation): string {
  const out: string[] = [];
  const kind =
    e.kind === 'warn'
      ? 'kernel WARN_ON'
      : `${e.kind} invariant${e.ref === null ? '' : `, no. ${e.ref} of section g`}`;
  out.push(`${e.id} (${kind})`);
  out.push(`  ${e.statement}`);
  out.push(`  Source: ${e.source}`);
  out.push('');
  if (e.scenarios.length === 0) out.push('No library scenario expects it to be violated.');
  else {
    out.push('Library scenarios that exercise it (expected violated under):');
    const w = Math.max(...e.scenarios.map((s) => s.file.length));
    for (const s of e.scenarios) {
      const presets = s.presets.length === PRESET_IDS.length ? 'every preset' : s.presets.join(', ');
      out.push(`  ${s.file.padEnd(w)}  ${presets}`);
    }
  }
  return out.join('\n') + '\n';
}

/** Every invariant, one line each. */
export function formatInvariantList(): string {
  const w = Math.max(...INVARIANTS.map((i) => i.id.length));
  const lines = INVARIANTS.map((i) => `  ${i.id.padEnd(w)}  ${i.statement}`);
  return (
    ['Invariants (atsim explain ID for one; every WARN_ON is also warn:<kernel function>):', ...lines].join(
      '\n',
    ) + '\n'
  );
}
