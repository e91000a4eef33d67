/**
 * Per function and step: what the guest recorded against what atsim's model holds after the same
 * step. Compared: ATS Enable, the STU (as a page shift), the group's default domain type (what
 * /sys/kernel/iommu_groups/N/type shows), whether a driver is bound, and each write's result.
 */
import type { PciFunction } from '../../src/index.js';
import type { FunctionSnapshot, GroupSnapshot } from '../../src/scenario/snapshot.js';
import type { GuestLog } from './console.js';
import { decodeStep, findStep, ORACLE_STEPS, type OracleStepName, type Replay } from './replay.js';

/** One side's view of a function after a step. */
export interface Observed {
  /** ATS Enable; false for a function without an ATS capability. */
  readonly ats: boolean;
  /** The STU as a page shift (12 = 4 KiB); null without an ATS capability. */
  readonly stu: number | null;
  /** The group type as sysfs names it: DMA, DMA-FQ, identity, blocked, unmanaged. */
  readonly type: string | null;
  readonly driver: boolean;
  /** The step's write on this function: `ok` or the error; null when the step wrote nothing to it. */
  readonly ret: string | null;
}

export type Field = keyof Observed;
export const FIELDS: readonly Field[] = ['ats', 'stu', 'type', 'driver', 'ret'];

export interface Cell {
  readonly bdf: string;
  readonly step: OracleStepName;
  readonly guest: Observed;
  readonly atsim: Observed;
  /** The fields that differ; empty when they agree. */
  readonly differ: readonly Field[];
}

/** The name /sys/kernel/iommu_groups/N/type gives a default domain (drivers/iommu/iommu.c, iommu_group_show_type()). */
export function sysfsTypeName(t: string | null): string | null {
  switch (t) {
    case null:
      return null;
    case 'BLOCKED':
      return 'blocked';
    case 'IDENTITY':
      return 'identity';
    case 'UNMANAGED':
      return 'unmanaged';
    case 'DMA':
      return 'DMA';
    case 'DMA_FQ':
      return 'DMA-FQ';
    default:
      return 'unknown';
  }
}

function guestObserved(
  fn: PciFunction | undefined,
  type: string | null,
  driver: boolean,
  ret: string | null,
): Observed {
  const ats = fn?.ats ?? null;
  return {
    ats: ats?.enabled === true,
    stu: ats === null || ats.stuRaw === null ? null : 12 + ats.stuRaw,
    type,
    driver,
    ret,
  };
}

/**
 * The model's view. pdev->ats_stu is 0 until the kernel first enables ATS; until then the
 * register holds what the machine's dump showed (the model's config space is that dump).
 */
function modelObserved(
  f: FunctionSnapshot,
  g: GroupSnapshot | undefined,
  machineFn: PciFunction | undefined,
  ret: string | null | undefined,
): Observed {
  const cap = machineFn?.ats ?? null;
  return {
    ats: f.ats,
    stu: cap === null ? null : f.atsStu !== 0 ? f.atsStu : 12 + (cap.stuRaw ?? 0),
    type: sysfsTypeName(g?.defaultDomain?.type ?? null),
    driver: f.driver !== 'none',
    ret: ret === undefined ? null : ret === null || ret === '0' ? 'ok' : ret,
  };
}

/** Compares every target function at every step the guest recorded. */
export function compareRun(log: GuestLog, replay: Replay): Cell[] {
  const cells: Cell[] = [];
  for (const s of ORACLE_STEPS) {
    const rec = findStep(log, s.name);
    const decoded = decodeStep(rec, `guest-${s.name}.lspci`);
    const snap = replay.after.get(s.name);
    if (snap === undefined) throw new Error(`atsim has no state after step ${s.name}`);
    for (const bdf of log.targets) {
      const fr = rec.functions.find((f) => f.bdf === bdf);
      if (fr === undefined) throw new Error(`the guest's step ${s.name} has no record of ${bdf}`);
      const group = rec.groups.find((g) => g.devices.includes(bdf));
      const op =
        s.guestOp === null
          ? undefined
          : log.ops.find(
              (o) =>
                o.step === s.guestOp &&
                o.bdf === bdf &&
                o.line > (prevStepLine(log, s.name) ?? 0) &&
                o.line < rec.line,
            );
      const guestRet = op === undefined ? null : op.ok ? 'ok' : (op.error ?? 'error');
      const guest = guestObserved(decoded.get(bdf), group?.type ?? null, fr.driver !== null, guestRet);
      const mf = snap.functions.find((f) => f.bdf === bdf);
      if (mf === undefined) throw new Error(`atsim's machine has no function ${bdf}`);
      const mg = snap.groups.find((g) => g.index === mf.group);
      const modelRet = s.guestOp === null ? undefined : replay.returns.get(`${s.name} ${bdf}`);
      const machineFn = replay.machine.functions.find((x) => x.fn.bdf === bdf)?.fn;
      const atsim = modelObserved(mf, mg, machineFn, modelRet);
      const differ = FIELDS.filter((k) => guest[k] !== atsim[k]);
      cells.push({ bdf, step: s.name, guest, atsim, differ });
    }
  }
  return cells;
}

function prevStepLine(log: GuestLog, name: string): number | null {
  const i = log.steps.findIndex((x) => x.name === name);
  return i > 0 ? log.steps[i - 1]!.line : null;
}

function show(o: Observed): string {
  const stu = o.stu === null ? '-' : `${2 ** (o.stu - 10)}K`;
  return `${o.ats ? 'on ' : 'off'} ${stu.padEnd(4)} ${(o.type ?? '-').padEnd(8)} ${o.driver ? 'drv' : '-  '} ${o.ret ?? ''}`;
}

/** The table as text: one row per function and step. */
export function formatCells(cells: readonly Cell[]): string {
  const head = `${'function'.padEnd(13)} ${'step'.padEnd(13)} ${'guest: ATS STU type driver ret'.padEnd(34)} ${'atsim: ATS STU type driver ret'.padEnd(34)} agree`;
  const rows = cells.map(
    (c) =>
      `${c.bdf.padEnd(13)} ${c.step.padEnd(13)} ${show(c.guest).padEnd(34)} ${show(c.atsim).padEnd(34)} ${c.differ.length === 0 ? 'yes' : `NO (${c.differ.join(', ')})`}`,
  );
  return [head, ...rows].join('\n') + '\n';
}
