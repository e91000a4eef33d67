/**
 * Kernel presets: named kernel releases, each the set of switches (switches.ts) it has on.
 * Presets are cumulative: each lists what it adds to (or removes from) the previous one.
 * Alternatives (unmerged patches) are in no preset; turn them on with an override.
 */
import {
  SWITCHES,
  SWITCH_IDS,
  formatSwitchSource,
  switchesWith,
  type SwitchId,
  type Switches,
} from './switches.js';
import type { IommuDriverName } from '../model/world.js';

/** Every driver, for presets that model them all. */
const ALL_DRIVERS: readonly IommuDriverName[] = ['smmuv3', 'vtd', 'amd'];

export const PRESET_IDS = ['v6.1', 'v6.12', 'v7.0', 'v7.2', 'v7.3'] as const;
export type PresetId = (typeof PRESET_IDS)[number];

/** The newest preset. */
export const DEFAULT_PRESET: PresetId = 'v7.3';

interface PresetStep {
  readonly id: PresetId;
  /** One line: what this release changed in the modelled stack. */
  readonly description: string;
  readonly adds: readonly SwitchId[];
  readonly removes?: readonly SwitchId[];
  /** The IOMMU drivers whose release this preset models (default all). */
  readonly drivers?: readonly IommuDriverName[];
}

const STEPS: readonly PresetStep[] = [
  {
    id: 'v6.1',
    description:
      'VT-d only (Debian 12): no pci_prepare_ats(); VT-d has no blocking domain (the core blocks with an empty paging domain) and enables PASID and ATS at every attach. The SMMUv3 and AMD-Vi drivers of v6.1 are not modelled',
    adds: [],
    drivers: ['vtd'],
  },
  {
    id: 'v6.12',
    description:
      'pci_prepare_ats() exists (2665d975db35); pci_ats_supported() is ats_cap && !untrusted; VF prepare skips the STU check; pci_enable_pasid() needs ACS RR+UF on the path (201007ef707a, v6.2); VT-d blocking domain, PASID at probe, ATS enabled at attach in both modes, cache tags removed before ATS is disabled (6.12 stable). SMMUv3 as before August 2025, when 6.12.y took the nr_ats_masters fix 685ca577b408 as 77e06acd8f66 (`--set smmu-nr-ats-masters-fix=on` gives the later 6.12.y)',
    adds: [
      'pci-prepare-ats',
      'pasid-acs-path',
      'vtd-blocking-domain',
      'vtd-pasid-at-probe',
      'vtd-cache-tag-fence',
    ],
  },
  {
    id: 'v7.0',
    description:
      'PCI resets park the device on the blocking domain (pci_dev_reset_iommu_prepare/done) with the 2026 fixes; nr_ats_masters decrement fix; VT-d scalable mode enables ATS at probe (5518f239aff1, v6.15)',
    adds: [
      'vtd-sm-ats-at-probe',
      'reset-hooks',
      'reset-per-gdev-blocked',
      'reset-depth-nesting',
      'reset-nofail-skips-blocked',
      'smmu-nr-ats-masters-fix',
    ],
  },
  {
    id: 'v7.2',
    description:
      'pci_ats_required() for CXL.cache-capable and pre-CXL devices, and SMMUv3 ATS always on for them (iommu-updates-v7.2)',
    adds: ['ats-required', 'smmu-ats-always-on'],
  },
  {
    id: 'v7.3',
    description:
      'ATS robustness: PF-aware pci_ats_supported(), VF STU check in pci_prepare_ats(), SMMUv3 and VT-d fail probe on a prepare error and WARN on a runtime enable failure',
    adds: [
      'vtd-fail-probe-on-prepare-error',
      'ats-supported-pf-aware',
      'prepare-ats-vf-stu-check',
      'smmu-warn-on-enable-failure',
      'smmu-fail-probe-on-prepare-error',
    ],
  },
];

export interface PresetDef {
  readonly id: PresetId;
  readonly description: string;
  /** The IOMMU drivers whose release this preset models. */
  readonly drivers: readonly IommuDriverName[];
  /** The switches this preset has on, in registry order. */
  readonly on: readonly SwitchId[];
  readonly switches: Switches;
}

function buildPresets(): readonly PresetDef[] {
  const on = new Set<SwitchId>();
  return STEPS.map((s) => {
    for (const id of s.adds) on.add(id);
    for (const id of s.removes ?? []) on.delete(id);
    const switches = switchesWith(on);
    return {
      id: s.id,
      description: s.description,
      drivers: s.drivers ?? ALL_DRIVERS,
      on: SWITCH_IDS.filter((id) => switches[id]),
      switches,
    };
  });
}

/** Every preset, oldest first. */
export const PRESETS: readonly PresetDef[] = buildPresets();

export function isPresetId(text: string): text is PresetId {
  return (PRESET_IDS as readonly string[]).includes(text);
}

export function presetDef(id: PresetId): PresetDef {
  const p = PRESETS.find((d) => d.id === id);
  if (p === undefined) throw new Error(`internal: preset ${id} missing`);
  return p;
}

export function presetSwitches(id: PresetId): Switches {
  return presetDef(id).switches;
}

/** Whether preset `id` models the given IOMMU driver's release. */
export function presetModelsDriver(id: PresetId, driver: IommuDriverName): boolean {
  return presetDef(id).drivers.includes(driver);
}

/** The first preset that has the switch on, or null (alternatives, or switches no release has). */
export function presetIntroducing(id: SwitchId): PresetId | null {
  return PRESETS.find((p) => p.switches[id])?.id ?? null;
}

/** The text of docs/kernel-presets.md, generated from the registries so it never drifts. */
export function renderPresetsDoc(): string {
  const lines: string[] = [];
  lines.push('# Kernel presets and switches');
  lines.push('');
  lines.push('<!-- Generated by scripts/gen-kernel-presets-doc.ts from src/kernel/switches.ts and');
  lines.push('     src/kernel/presets.ts. Do not edit by hand: a test fails when this file drifts. -->');
  lines.push('');
  lines.push('atsim models several kernel versions at once. Each behaviour that changed between');
  lines.push('releases, or that a posted but unmerged patch would change, is a **switch**. A **preset**');
  lines.push('is the set of switches a kernel release has on. A run picks one preset (default');
  lines.push(`\`${DEFAULT_PRESET}\`, the newest) and may turn single switches on or off. Kinds:`);
  lines.push('');
  lines.push('- `release`: merged upstream; on from the preset that first shipped it.');
  lines.push('- `alternative`: posted on the mailing list but not merged; off in every preset, so a');
  lines.push('  run can compare the merged kernel with the road not taken.');
  lines.push('');
  lines.push('## Switches by preset');
  lines.push('');
  lines.push(`| switch | kind | ${PRESET_IDS.join(' | ')} |`);
  lines.push(`| --- | --- | ${PRESET_IDS.map(() => ':---:').join(' | ')} |`);
  for (const s of SWITCHES) {
    const cells = PRESETS.map((p) => (p.switches[s.id] ? 'on' : '-'));
    lines.push(`| \`${s.id}\` | ${s.kind} | ${cells.join(' | ')} |`);
  }
  lines.push('');
  lines.push('## Switches');
  lines.push('');
  for (const s of SWITCHES) {
    lines.push(`### \`${s.id}\``);
    lines.push('');
    lines.push(s.description + '.');
    lines.push('');
    lines.push(`- Kind: ${s.kind}`);
    const first = presetIntroducing(s.id);
    lines.push(`- On from: ${first === null ? 'no preset' : `\`${first}\``}`);
    lines.push(`- Source: ${formatSwitchSource(s.source)}`);
    if (s.source.kind === 'thread' && s.source.url !== undefined) lines.push(`- Link: <${s.source.url}>`);
    lines.push('');
  }
  lines.push('## Presets');
  lines.push('');
  lines.push('| preset | drivers | switches on | what changed |');
  lines.push('| --- | --- | --- | --- |');
  for (const p of PRESETS) {
    const on = p.on.length === 0 ? '(none)' : p.on.map((id) => `\`${id}\``).join(', ');
    lines.push(`| \`${p.id}\` | ${p.drivers.join(', ')} | ${on} | ${p.description} |`);
  }
  lines.push('');
  return lines.join('\n');
}
