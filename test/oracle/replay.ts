/**
 * Replaying a guest run in atsim: the guest's own configuration dumps, read with atsim's lspci
 * importer, are the machine; the scenario plays the steps the guest performed (guest/init.sh) with
 * the VT-d driver in the mode QEMU emulated and the kernel's preset; then, per function and step,
 * what the guest recorded is compared with the model's state after the same step.
 */
import { buildMachine, parseLspci, type Machine, type PciFunction } from '../../src/index.js';
import { bindScenario } from '../../src/scenario/bind.js';
import { parseScenario } from '../../src/scenario/parse.js';
import { runScenario, type Trace } from '../../src/scenario/run.js';
import type { Snapshot } from '../../src/scenario/snapshot.js';
import { lspciText, type GuestLog, type StepRecord } from './console.js';
import type { VtdMode } from './qemu.js';

/** The guest's steps, in order, as guest/init.sh runs them; each names the ops it made. */
export const ORACLE_STEPS = [
  { name: 'boot', guestOp: null, what: 'the kernel booted and virtio-pci bound' },
  { name: 'unbind', guestOp: 'unbind', what: 'the driver unbinds' },
  { name: 'bind', guestOp: 'bind', what: 'the driver binds again' },
  {
    name: 'unbind-again',
    guestOp: 'unbind',
    what: 'the driver unbinds (a group type can change only without one)',
  },
  { name: 'identity', guestOp: 'set-group-type:identity', what: 'the group type is set to identity' },
  { name: 'dma', guestOp: 'set-group-type:DMA', what: 'the group type is set back to DMA' },
  { name: 'reset', guestOp: 'reset', what: 'a function reset (FLR), ATS Control cleared before it' },
] as const;

export type OracleStepName = (typeof ORACLE_STEPS)[number]['name'];

/** The scenario step (YAML text) that replays a guest step on one function. */
function scenarioOps(step: OracleStepName, bdf: string): string[] {
  switch (step) {
    case 'boot':
      return [];
    case 'unbind':
    case 'unbind-again':
      return [`unbind: ${bdf}`];
    case 'bind':
      return [`bind: { bdf: ${bdf}, kind: dma }`];
    case 'identity':
      return [`set-group-type: { bdf: ${bdf}, type: identity }`];
    case 'dma':
      return [`set-group-type: { bdf: ${bdf}, type: dma }`];
    case 'reset':
      return [`flr: ${bdf}`];
  }
}

/** The lspci -xxxx text of every function in a step's dump. */
export function stepLspci(step: StepRecord): string {
  return step.functions.map(lspciText).join('\n');
}

/** A step's dump decoded by atsim's importer, by BDF. */
export function decodeStep(step: StepRecord, file: string): Map<string, PciFunction> {
  const parsed = parseLspci(stepLspci(step), file);
  return new Map(parsed.functions.map((f) => [f.bdf, f]));
}

export function findStep(log: GuestLog, name: string): StepRecord {
  const s = log.steps.find((x) => x.name === name);
  if (s === undefined)
    throw new Error(
      `the guest did not record step '${name}' (recorded: ${log.steps.map((x) => x.name).join(', ') || 'none'})`,
    );
  return s;
}

/**
 * The ATSR the guest's firmware gave, from the kernel's "DMAR: ATSR flags: 0x.." line
 * (drivers/iommu/intel/dmar.c, dmar_parse_one_atsr() via dmar_table_print_dmar_entry()): flag 1
 * is ALL_PORTS. Without the line there is no ATSR at all. A port list is not printed, so an ATSR
 * without ALL_PORTS cannot be replayed.
 */
export function guestAtsr(log: GuestLog): 'all' | [] {
  const lines = log.dmesg.filter((l) => /DMAR: ATSR flags: 0x[0-9a-f]+/i.test(l));
  if (lines.length === 0) return [];
  for (const l of lines) {
    const flags = parseInt(/ATSR flags: 0x([0-9a-f]+)/i.exec(l)![1]!, 16);
    if ((flags & 1) === 0)
      throw new Error(`the guest's ATSR is not ALL_PORTS (${l.trim()}); its port list is not recorded`);
  }
  return 'all';
}

/**
 * The kernel command line that gives the model the guest's default DMA domain policy. Debian
 * builds with CONFIG_IOMMU_DEFAULT_DMA_LAZY; the kernel says which policy it took in
 * iommu_subsys_init() (drivers/iommu/iommu.c): "DMA domain TLB invalidation policy: lazy mode" or
 * "strict mode". The model's default is strict, so lazy becomes iommu.strict=0.
 */
export function guestCmdline(log: GuestLog): string {
  const line = log.dmesg.find((l) => /DMA domain TLB invalidation policy: (lazy|strict) mode/.test(l));
  if (line === undefined)
    throw new Error("the guest's kernel log does not say its DMA domain TLB invalidation policy");
  return line.includes('lazy mode') ? 'iommu.strict=0' : 'iommu.strict=1';
}

export interface ReplayOptions {
  readonly mode: VtdMode;
  /** atsim's kernel preset, e.g. v6.1 or v6.12. */
  readonly preset: string;
  /** The name the machine file gets in the scenario (`import:`). */
  readonly machineFile?: string;
}

export interface Replay {
  /** The scenario replayed (YAML) and the machine it imports (lspci -xxxx text of the boot dump). */
  readonly scenarioText: string;
  readonly machineText: string;
  readonly machineFile: string;
  readonly machine: Machine;
  readonly trace: Trace;
  /** The model's state after each guest step. */
  readonly after: Map<OracleStepName, Snapshot>;
  /** The model's return value for each op of a guest step: `${step} ${bdf}` -> errno name. */
  readonly returns: Map<string, string | null>;
}

/** Builds the scenario for a guest run and plays it in atsim. */
export function replayGuest(log: GuestLog, opts: ReplayOptions): Replay {
  const boot = findStep(log, 'boot');
  const machineFile = opts.machineFile ?? `${log.release ?? 'guest'}-${opts.mode}.lspci`;
  const machineText = stepLspci(boot);
  const machine = buildMachine(parseLspci(machineText, machineFile).functions);
  const multi = boot.groups.filter((g) => g.devices.length > 1).map((g) => `[${g.devices.join(', ')}]`);
  const atsr = guestAtsr(log);
  const lines: string[] = [
    `name: oracle-${log.release ?? 'guest'}-${opts.mode}`,
    `description: >-`,
    `  Replays a run of the real-kernel oracle (docs/oracle.md): Linux ${log.release ?? '?'} under QEMU with an`,
    `  emulated VT-d IOMMU in ${opts.mode} mode. The machine is the guest's own configuration dump at boot.`,
    `machine:`,
    `  import: ${machineFile}`,
    ...(multi.length > 0 ? [`  groups: [${multi.join(', ')}]`] : []),
    `iommu: { driver: vtd, mode: ${opts.mode}, atsr: ${atsr === 'all' ? 'all' : '[]'} }`,
    `kernel: { preset: ${opts.preset}, cmdline: "${guestCmdline(log)}" }`,
    `steps:`,
    `  - boot`,
  ];
  // Which guest step each scenario step belongs to (index in steps:), and the op's function.
  const owner: { step: OracleStepName; bdf: string | null }[] = [{ step: 'boot', bdf: null }];
  for (const f of boot.functions) {
    if (f.driver === null) continue;
    lines.push(`  - bind: { bdf: ${f.bdf}, kind: dma }`, `    note: ${f.driver} bound at boot`);
    owner.push({ step: 'boot', bdf: null });
  }
  for (const s of ORACLE_STEPS) {
    if (s.name === 'boot') continue;
    for (const bdf of log.targets)
      for (const op of scenarioOps(s.name, bdf)) {
        lines.push(`  - ${op}`, `    note: oracle step ${s.name}`);
        owner.push({ step: s.name, bdf });
      }
  }
  const scenarioText = lines.join('\n') + '\n';
  const doc = parseScenario(scenarioText, `oracle-${opts.mode}.yaml`);
  const bound = bindScenario(doc, machine);
  const trace = runScenario(bound, { preset: opts.preset, snapshots: 'all' });
  if (trace.error !== null) throw new Error(`atsim failed at step ${trace.error.n}: ${trace.error.message}`);
  const after = new Map<OracleStepName, Snapshot>();
  const returns = new Map<string, string | null>();
  for (const t of trace.steps) {
    if (t.index === null) continue;
    const o = owner[t.index];
    if (o === undefined) continue;
    if (t.snapshot !== undefined) after.set(o.step, t.snapshot);
    if (o.bdf !== null) returns.set(`${o.step} ${o.bdf}`, t.retName);
  }
  return { scenarioText, machineText, machineFile, machine, trace, after, returns };
}
