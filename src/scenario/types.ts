/** The data a parsed scenario is made of (parse.ts builds it, bind.ts and run.ts use it). */
import type { FileLocation } from '../diagnostics.js';
import type { PresetId } from '../kernel/presets.js';
import type { SwitchId } from '../kernel/switches.js';
import type { OpName } from '../model/ops.js';
import type { AmdConfig, IommuDriverName, IommuFeatures, VtdConfig } from '../model/world.js';
import type { Bdf } from '../pci/bdf.js';
import type { Machine } from '../pci/topology.js';
import type { Phase } from './schema.js';
import type { PathSeg, YamlSource } from '../import/yaml-source.js';

/** A value per preset: explicit presets, then `default`. */
export interface PerPreset<T> {
  readonly byPreset: Readonly<Partial<Record<PresetId, T>>>;
  readonly default: T | null;
  /**
   * Values for runs with one IOMMU driver, looked up first (its presets, then its default) before
   * the plain ones. Absent or empty: the same for every driver.
   */
  readonly byDriver?: Readonly<Partial<Record<IommuDriverName, PerPreset<T>>>>;
}

export type Verdict =
  { readonly kind: 'holds' } | { readonly kind: 'violates'; readonly ids: readonly string[] };

/** Where the machine comes from. */
export type MachineSpec =
  | { readonly kind: 'inline'; readonly machine: Machine }
  | { readonly kind: 'example'; readonly name: string }
  | {
      readonly kind: 'import';
      readonly path: string;
      readonly externalFacing: readonly Bdf[];
      readonly where: FileLocation;
    };

export interface BdfRef {
  readonly bdf: Bdf;
  readonly path: readonly PathSeg[];
}

/** One operation of a scenario, by BDF: from `faults:` or `steps:`. */
export interface ScenarioStep {
  /** Which list it comes from: faults, steps, a thread of `threads:`, or `choices:`. */
  readonly origin: 'fault' | 'step' | 'thread' | 'choice';
  /** Position in its list (faults, steps, its thread, choices), from 0. */
  readonly index: number;
  readonly path: readonly PathSeg[];
  readonly where: FileLocation;
  readonly op: OpName;
  /** The function it is about; null for boot, fq-flush and arm-fault without a BDF. */
  readonly bdf: Bdf | null;
  /** Where the BDF is written, for errors. */
  readonly bdfPath: readonly PathSeg[];
  /** The operation's other arguments, validated (numbers, strings, booleans). */
  readonly args: Readonly<Record<string, unknown>>;
  /** null: run to completion on the main thread. */
  readonly phase: Phase | null;
  readonly expect: PerPreset<number> | null;
  readonly note: string | null;
}

export interface ScenarioChoice {
  readonly step: ScenarioStep;
  readonly max: number;
}

/** Whether a scenario is for the explorer (it has threads or choices). */
export function isExploreScenario(doc: Pick<ScenarioDoc, 'threads' | 'choices'>): boolean {
  return doc.threads.length > 0 || doc.choices.length > 0;
}

export interface ScenarioDoc {
  readonly file: string;
  readonly source: YamlSource;
  readonly name: string;
  readonly description: string | null;
  readonly thread: {
    readonly seed: number;
    readonly subject?: string;
    readonly message: string;
    readonly url?: string;
  } | null;
  readonly claim: string | null;
  readonly machine: MachineSpec;
  readonly groups: readonly (readonly BdfRef[])[];
  readonly requireDirect: readonly BdfRef[];
  /** The IOMMU features the scenario sets (the driver's defaults fill the rest). */
  readonly iommu: Partial<IommuFeatures>;
  /** iommu.driver (default smmuv3) and its settings. */
  readonly driver: IommuDriverName;
  readonly vtd: Partial<VtdConfig>;
  readonly amd: Partial<AmdConfig>;
  /** The drivers atsim check runs the scenario under (default: [driver]). */
  readonly drivers: readonly IommuDriverName[];
  readonly kernel: {
    readonly preset: PresetId | null;
    readonly switches: Readonly<Partial<Record<SwitchId, 'on' | 'off'>>>;
    readonly cmdline: string;
  };
  readonly faults: readonly ScenarioStep[];
  readonly steps: readonly ScenarioStep[];
  /** For the explorer: step lists run interleaved after `steps` (empty: none). */
  readonly threads: readonly (readonly ScenarioStep[])[];
  /** For the explorer: operations it may fire at any point, each at most `max` times. */
  readonly choices: readonly ScenarioChoice[];
  /** A boot step runs after the faults unless the steps list one. */
  readonly implicitBoot: boolean;
  /** null: not stated (holds is expected). */
  readonly expect: PerPreset<Verdict> | null;
  /** Where each expected violation id is written, for checking ids against the catalogue. */
  readonly expectIds: readonly BdfRefLike[];
}

export interface BdfRefLike {
  readonly id: string;
  readonly path: readonly PathSeg[];
}

/** The value for `preset` (and `driver`, when given: its own values first). */
export function forPreset<T>(p: PerPreset<T>, preset: PresetId, driver?: IommuDriverName): T | null {
  const d = driver === undefined ? undefined : p.byDriver?.[driver];
  if (d !== undefined) {
    const v = d.byPreset[preset] ?? d.default;
    if (v !== null) return v;
  }
  return p.byPreset[preset] ?? p.default;
}
