/**
 * Parsing a scenario file (docs/scenario-format.md): text in, a ScenarioDoc out. Pure. Every
 * problem is an InputError naming `file:line:col`, the field, and what was expected. Inline
 * machines are built here; `example:` and `import:` machines are loaded by the caller
 * (src/node/load-scenario.ts), and BDFs are checked against the machine by bind.ts.
 */
import * as z from 'zod';
import { InputError } from '../diagnostics.js';
import { parseCmdline } from '../kernel/cmdline.js';
import { PRESET_IDS, isPresetId, type PresetId } from '../kernel/presets.js';
import { SWITCH_IDS, isSwitchId, type SwitchId } from '../kernel/switches.js';
import type { MachineFileFunction } from '../import/machine-file.js';
import type { IommuDriverName } from '../model/world.js';
import { parseIommuConfig, type IommuConfigInput } from '../import/iommu-config.js';
import type { OpName } from '../model/ops.js';
import { canonicalBdf, type Bdf } from '../pci/bdf.js';
import { MachineBuilder, bridgeDefaultIds, isBridgePortType, type FunctionSpec } from '../pci/builder.js';
import {
  ArmFaultSchema,
  DeviceFaultSchema,
  ErrnoText,
  ExampleMachineSchema,
  ImportMachineSchema,
  InlineMachineSchema,
  IOMMU_DRIVER_NAMES,
  OP_SYNTAX,
  PHASES,
  CHOICE_KEYS,
  ChoiceMaxSchema,
  THREAD_STEP_KEYS,
  RetExpectSchema,
  STEP_KEYS,
  STEP_OPS,
  SWITCH_VALUE_ERROR,
  ThreadSchema,
  TOP_SHAPE,
  VerdictSchema,
  isStepOp,
  type Phase,
} from './schema.js';
import type {
  BdfRef,
  BdfRefLike,
  MachineSpec,
  PerPreset,
  ScenarioChoice,
  ScenarioDoc,
  ScenarioStep,
  Verdict,
} from './types.js';
import { YamlSource, describeValue, type PathSeg } from '../import/yaml-source.js';

const CODE = 'scenario-invalid';

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Parses `schema` at `path` of the document, or throws an InputError there. */
function check<S extends z.ZodType>(
  src: YamlSource,
  schema: S,
  path: readonly PathSeg[],
  value: unknown,
): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw src.zodError(CODE, path, value, r.error);
  return r.data;
}

function bdfOf(text: string): Bdf {
  return canonicalBdf(text)!;
}

/** Parses a scenario document. `file` is only used to name locations. */
export function parseScenario(text: string, file: string): ScenarioDoc {
  const src = YamlSource.parse(text, file, 'scenario-syntax');
  const data = src.data;
  if (!isRecord(data))
    throw src.error(
      CODE,
      [],
      `expected a mapping with name, machine and steps${describeValue(data)} (see docs/scenario-format.md)`,
    );

  for (const key of Object.keys(data)) {
    if (!Object.hasOwn(TOP_SHAPE, key))
      throw src.error(
        CODE,
        [],
        `unknown key '${key}'; expected one of ${Object.keys(TOP_SHAPE).join(', ')}`,
        key,
      );
  }
  for (const key of ['name', 'machine', 'steps'] as const)
    if (!Object.hasOwn(data, key)) throw src.error(CODE, [key], 'required field is missing');

  const name = check(src, TOP_SHAPE.name, ['name'], data.name);
  const description = check(src, TOP_SHAPE.description, ['description'], data.description) ?? null;
  const claim = check(src, TOP_SHAPE.claim, ['claim'], data.claim) ?? null;
  const thread = data.thread === undefined ? null : check(src, ThreadSchema, ['thread'], data.thread);
  const { machine, groups, requireDirect } = parseMachine(src, data.machine);
  const { features: iommu, driver, vtd, amd } = parseIommu(src, data.iommu);
  const drivers =
    data.drivers === undefined ? [driver] : [...check(src, TOP_SHAPE.drivers, ['drivers'], data.drivers)!];
  if (data.drivers !== undefined && !drivers.includes(driver))
    throw src.error(
      CODE,
      ['drivers'],
      `the scenario's own driver ${driver} (iommu.driver) must be one of the drivers it lists`,
    );
  const kernel = parseKernel(src, data.kernel);

  const faults: ScenarioStep[] = [];
  if (data.faults !== undefined) {
    if (!Array.isArray(data.faults))
      throw src.error(CODE, ['faults'], `expected a list of faults${describeValue(data.faults)}`);
    data.faults.forEach((f, i) => faults.push(parseFault(src, f, i)));
  }
  if (!Array.isArray(data.steps))
    throw src.error(CODE, ['steps'], `expected a list of steps${describeValue(data.steps)}`);
  const steps = data.steps.map((s, i) => parseStep(src, s, i));
  checkPhases(src, steps);
  const threads = parseThreads(src, data.threads);
  const choices = parseChoices(src, data.choices);
  if (threads.length > 0 || choices.length > 0) {
    const begun = steps.find((s) => s.phase !== null);
    if (begun !== undefined)
      throw src.error(
        CODE,
        [...begun.path, begun.op, 'phase'],
        'a scenario with threads or choices sets up with whole steps: put interleaved operations in threads:',
      );
  }

  const expectIds: BdfRefLike[] = [];
  const expect = data.expect === undefined ? null : parseExpect(src, data.expect, expectIds);

  return {
    file,
    source: src,
    name,
    description,
    thread: thread === null ? null : stripUndefined(thread),
    claim,
    machine,
    groups,
    requireDirect,
    iommu,
    driver,
    vtd,
    amd,
    drivers,
    kernel,
    faults,
    steps,
    threads,
    choices,
    implicitBoot: !steps.some((s) => s.op === 'boot'),
    expect,
    expectIds,
  };
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

// --- machine ---

function parseMachine(
  src: YamlSource,
  raw: unknown,
): { machine: MachineSpec; groups: BdfRef[][]; requireDirect: BdfRef[] } {
  const path = ['machine'];
  if (!isRecord(raw))
    throw src.error(
      CODE,
      path,
      `expected a mapping: functions: [...] (inline), example: machine, or import: <file>${describeValue(raw)}`,
    );
  const kinds = (['functions', 'example', 'import'] as const).filter((k) => Object.hasOwn(raw, k));
  if (kinds.length === 0)
    throw src.error(
      CODE,
      path,
      'expected one of functions: [...] (an inline machine), example: machine, or import: <file>',
    );
  if (kinds.length > 1)
    throw src.error(
      CODE,
      path,
      `give one of functions, example and import, not ${kinds.join(' and ')}`,
      kinds[1],
    );
  let machine: MachineSpec;
  let extras: { groups?: string[][] | undefined; requireDirect?: string[] | undefined };
  switch (kinds[0]!) {
    case 'functions': {
      const m = check(src, InlineMachineSchema, path, raw);
      extras = m;
      machine = { kind: 'inline', machine: buildInline(src, m.functions) };
      break;
    }
    case 'example': {
      const m = check(src, ExampleMachineSchema, path, raw);
      extras = m;
      machine = { kind: 'example', name: m.example };
      break;
    }
    case 'import': {
      const m = check(src, ImportMachineSchema, path, raw);
      extras = m;
      machine = {
        kind: 'import',
        path: m.import,
        externalFacing: (m.externalFacing ?? []).map(bdfOf),
        where: src.where([...path, 'import']),
      };
      break;
    }
  }
  const groups = (extras.groups ?? []).map((g, i) =>
    g.map((b, j) => ({ bdf: bdfOf(b), path: [...path, 'groups', i, j] })),
  );
  const requireDirect = (extras.requireDirect ?? []).map((b, j) => ({
    bdf: bdfOf(b),
    path: [...path, 'requireDirect', j],
  }));
  return { machine, groups, requireDirect };
}

/** The machine-file importer's mapping from a validated entry to the builder's spec. */
function specOf(f: MachineFileFunction): FunctionSpec {
  const portType = f.portType ?? 'endpoint';
  const ids = isBridgePortType(portType) ? bridgeDefaultIds(portType) : { vendorId: 0, deviceId: 0 };
  const { bdf: _bdf, name: _name, ...rest } = f;
  return { ...rest, vendorId: f.vendorId ?? ids.vendorId, deviceId: f.deviceId ?? ids.deviceId };
}

function buildInline(src: YamlSource, functions: readonly MachineFileFunction[]) {
  const first = new Map<string, number>();
  functions.forEach((f, i) => {
    const bdf = bdfOf(f.bdf);
    const j = first.get(bdf);
    if (j !== undefined)
      throw src.error(
        CODE,
        ['machine', 'functions', i, 'bdf'],
        `duplicate BDF ${bdf}: functions[${j}] already has it`,
      );
    first.set(bdf, i);
  });
  const builder = new MachineBuilder({ sourceKind: 'machine-file' });
  functions.forEach((f, i) => {
    const where = src.where(['machine', 'functions', i]);
    try {
      builder.function(f.bdf, specOf(f), where);
    } catch (e) {
      if (e instanceof InputError) throw new InputError({ ...e.diagnostic, where });
      throw e;
    }
  });
  try {
    return builder.build();
  } catch (e) {
    if (e instanceof InputError && e.diagnostic.where === undefined)
      throw new InputError({ ...e.diagnostic, where: src.where(['machine', 'functions']) });
    throw e;
  }
}

// --- iommu and kernel ---

function parseIommu(src: YamlSource, raw: unknown): IommuConfigInput {
  return parseIommuConfig(src, CODE, ['iommu'], raw);
}

function parseKernel(src: YamlSource, raw: unknown): ScenarioDoc['kernel'] {
  if (raw === undefined) return { preset: null, switches: {}, cmdline: '' };
  const path = ['kernel'];
  if (!isRecord(raw))
    throw src.error(CODE, path, `expected a mapping {preset, switches, cmdline}${describeValue(raw)}`);
  for (const key of Object.keys(raw))
    if (!['preset', 'switches', 'cmdline'].includes(key))
      throw src.error(CODE, path, `unknown key '${key}'; expected preset, switches or cmdline`, key);
  let preset: PresetId | null = null;
  if (raw.preset !== undefined) {
    if (typeof raw.preset !== 'string' || !isPresetId(raw.preset))
      throw src.error(
        CODE,
        [...path, 'preset'],
        `unknown kernel preset${describeValue(raw.preset)}; expected one of ${PRESET_IDS.join(', ')}`,
      );
    preset = raw.preset;
  }
  const switches: Partial<Record<SwitchId, 'on' | 'off'>> = {};
  if (raw.switches !== undefined) {
    const sp = [...path, 'switches'];
    if (!isRecord(raw.switches))
      throw src.error(CODE, sp, `expected a mapping of switch: on|off${describeValue(raw.switches)}`);
    for (const [id, v] of Object.entries(raw.switches)) {
      if (!isSwitchId(id))
        throw src.error(
          CODE,
          sp,
          `unknown kernel switch '${id}'; valid switches: ${SWITCH_IDS.join(', ')}`,
          id,
        );
      if (v === 'on' || v === true) switches[id] = 'on';
      else if (v === 'off' || v === false) switches[id] = 'off';
      else throw src.error(CODE, [...sp, id], `${SWITCH_VALUE_ERROR}${describeValue(v)}`);
    }
  }
  let cmdline = '';
  if (raw.cmdline !== undefined) {
    if (typeof raw.cmdline !== 'string')
      throw src.error(
        CODE,
        [...path, 'cmdline'],
        `expected a kernel command line${describeValue(raw.cmdline)}`,
      );
    try {
      parseCmdline(raw.cmdline);
    } catch (e) {
      if (e instanceof InputError) throw src.error(CODE, [...path, 'cmdline'], e.diagnostic.message);
      throw e;
    }
    cmdline = raw.cmdline;
  }
  return { preset, switches, cmdline };
}

// --- steps and faults ---

const EXAMPLE_ARGS: Readonly<Partial<Record<OpName, string>>> = {
  bind: '{bdf: 0000:03:00.0, kind: dma}',
  attach: '{bdf: 0000:03:00.0, domain: unmanaged}',
  'set-group-type': '{bdf: 0000:03:00.0, type: identity}',
  'pasid-attach': '{bdf: 0000:03:00.0, domain: dma}',
  'pasid-detach': '{bdf: 0000:03:00.0, pasid: 1}',
  'dma-unmap': '{bdf: 0000:03:00.0, iova: 0}',
  'device-dma': '{bdf: 0000:03:00.0, iova: 0, translated: true}',
  'atc-fill': '{bdf: 0000:03:00.0, iova: 0}',
  'sriov-enable': '{bdf: 0000:03:00.0, numVfs: 2}',
  'device-fault': '{bdf: 0000:03:00.0, fault: hold-atc}',
  'arm-fault': '{fn: pci_enable_ats, bdf: 0000:03:00.0, nth: 1, errno: -EINVAL}',
};

function exampleOf(op: OpName): string {
  return EXAMPLE_ARGS[op] ?? '0000:03:00.0';
}

function unknownStep(src: YamlSource, path: readonly PathSeg[], name: string, key?: string): InputError {
  return src.error(CODE, path, `unknown step '${name}'; expected one of ${STEP_OPS.join(', ')}`, key, false);
}

function parseThreads(src: YamlSource, raw: unknown): ScenarioStep[][] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw))
    throw src.error(
      CODE,
      ['threads'],
      `expected a list of threads, each a list of steps${describeValue(raw)}`,
    );
  return raw.map((t, i) => {
    const path = ['threads', i];
    if (!Array.isArray(t))
      throw src.error(CODE, path, `expected a list of steps (one thread)${describeValue(t)}`);
    if (t.length === 0) throw src.error(CODE, path, 'a thread needs at least one step');
    return t.map((x, j) => parseStep(src, x, j, { base: path, origin: 'thread', keys: THREAD_STEP_KEYS }));
  });
}

function parseChoices(src: YamlSource, raw: unknown): ScenarioChoice[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw))
    throw src.error(CODE, ['choices'], `expected a list of choices${describeValue(raw)}`);
  return raw.map((c, i) => {
    const path = ['choices', i];
    if (!isRecord(c))
      throw src.error(
        CODE,
        path,
        `expected an operation with a budget, such as device-dma: {bdf: 0000:03:00.0, iova: 0, translated: true} with max: 1${describeValue(c)}`,
      );
    if (!Object.hasOwn(c, 'max'))
      throw src.error(CODE, path, 'a choice needs max: (how many times the explorer may fire it)');
    const max = check(src, ChoiceMaxSchema, [...path, 'max'], c.max);
    const step = parseStep(src, c, i, { base: ['choices'], origin: 'choice', keys: CHOICE_KEYS });
    return { step, max };
  });
}

interface StepListSpec {
  readonly base: readonly PathSeg[];
  readonly origin: 'step' | 'thread' | 'choice';
  readonly keys: readonly string[];
}

const STEPS_LIST: StepListSpec = { base: ['steps'], origin: 'step', keys: STEP_KEYS };

function parseStep(src: YamlSource, raw: unknown, i: number, list: StepListSpec = STEPS_LIST): ScenarioStep {
  const path = [...list.base, i];
  const where = src.where(path);
  const origin = list.origin;
  if (typeof raw === 'string') {
    if (!isStepOp(raw)) throw unknownStep(src, path, raw);
    if (OP_SYNTAX[raw].args !== null)
      throw src.error(CODE, path, `'${raw}' needs arguments, e.g. - ${raw}: ${exampleOf(raw)}`);
    return {
      origin,
      index: i,
      path,
      where,
      op: raw,
      bdf: null,
      bdfPath: path,
      args: {},
      phase: null,
      expect: null,
      note: null,
    };
  }
  if (!isRecord(raw))
    throw src.error(
      CODE,
      path,
      `expected an operation: a name such as boot, or a mapping such as bind: {bdf: 0000:03:00.0, kind: dma}${describeValue(raw)}`,
    );
  const keys = Object.keys(raw);
  if (origin !== 'step' && Object.hasOwn(raw, 'expect'))
    throw src.error(
      CODE,
      [...path, 'expect'],
      `no expect in ${origin === 'thread' ? 'a thread' : 'a choice'}: the explorer checks invariants, not return values`,
      'expect',
    );
  const opKeys = keys.filter((k) => !list.keys.includes(k));
  if (opKeys.length === 0)
    throw src.error(CODE, path, `no operation in this step; expected one of ${STEP_OPS.join(', ')}`);
  const bad = opKeys.find((k) => !isStepOp(k));
  if (bad !== undefined) throw unknownStep(src, path, bad, bad);
  if (opKeys.length > 1)
    throw src.error(CODE, path, `one operation per step, found ${opKeys.join(' and ')}`, opKeys[1]);
  const name = opKeys[0] as OpName;
  const body = parseOpBody(src, [...path, name], name, raw[name]);
  if (body.phase !== null && origin !== 'step')
    throw src.error(
      CODE,
      [...path, name, 'phase'],
      `no phase in ${origin === 'thread' ? 'a thread' : 'a choice'}: the explorer runs every operation phase by phase`,
    );
  const expect = raw.expect === undefined ? null : parseRetExpect(src, [...path, 'expect'], raw.expect);
  let note: string | null = null;
  if (raw.note !== undefined) {
    if (typeof raw.note !== 'string')
      throw src.error(CODE, [...path, 'note'], `expected text${describeValue(raw.note)}`);
    note = raw.note;
  }
  return { origin, index: i, path, where, op: name, ...body, expect, note };
}

interface OpBody {
  bdf: Bdf | null;
  bdfPath: readonly PathSeg[];
  args: Record<string, unknown>;
  phase: Phase | null;
}

function parseOpBody(src: YamlSource, path: readonly PathSeg[], name: OpName, value: unknown): OpBody {
  const syntax: { readonly args: z.ZodObject | null; readonly bdfShorthand: boolean } = OP_SYNTAX[name];
  if (syntax.args === null) {
    if (value === null || (isRecord(value) && Object.keys(value).length === 0))
      return { bdf: null, bdfPath: path, args: {}, phase: null };
    throw src.error(CODE, path, `'${name}' takes no arguments${describeValue(value)}`);
  }
  if (typeof value === 'string' && syntax.bdfShorthand) {
    const args = check(src, syntax.args, path, { bdf: value });
    return { bdf: bdfOf(value), bdfPath: path, args: withoutBdf(args), phase: null };
  }
  if (!isRecord(value)) {
    const shape = syntax.bdfShorthand
      ? `a PCI address or a mapping such as ${exampleOf(name)}`
      : `a mapping such as ${exampleOf(name)}`;
    throw src.error(CODE, path, `expected ${shape}${describeValue(value)}`);
  }
  const phaseRaw = value.phase;
  const continuing = phaseRaw === 'step' || phaseRaw === 'end';
  const schema = continuing ? syntax.args.partial() : syntax.args;
  const args: Record<string, unknown> = check(src, schema, path, value);
  if (continuing && typeof args.bdf !== 'string')
    throw src.error(
      CODE,
      [...path, 'bdf'],
      `required field is missing (${PHASES.join('/')} steps name the function)`,
    );
  const bdf = typeof args.bdf === 'string' ? bdfOf(args.bdf) : null;
  const phase = (args.phase as Phase | undefined) ?? null;
  const rest = withoutBdf(args);
  delete rest.phase;
  return { bdf, bdfPath: [...path, 'bdf'], args: rest, phase };
}

function withoutBdf(args: Record<string, unknown>): Record<string, unknown> {
  const { bdf: _bdf, ...rest } = args;
  return rest;
}

function parseFault(src: YamlSource, raw: unknown, i: number): ScenarioStep {
  const path = ['faults', i];
  const where = src.where(path);
  const base = { origin: 'fault' as const, index: i, path, where, phase: null, expect: null, note: null };
  if (isRecord(raw) && Object.hasOwn(raw, 'fn')) {
    const a = check(src, ArmFaultSchema, path, raw);
    return {
      ...base,
      op: 'arm-fault',
      bdf: a.bdf === undefined ? null : bdfOf(a.bdf),
      bdfPath: [...path, 'bdf'],
      args: withoutBdf(a),
    };
  }
  if (isRecord(raw) && Object.hasOwn(raw, 'fault')) {
    const d = check(src, DeviceFaultSchema, path, raw);
    return {
      ...base,
      op: 'device-fault',
      bdf: bdfOf(d.bdf),
      bdfPath: [...path, 'bdf'],
      args: { fault: d.fault },
    };
  }
  throw src.error(
    CODE,
    path,
    `expected {fn, bdf, nth, errno} (a kernel call that fails) or {bdf, fault} (a device that misbehaves)${describeValue(raw)}`,
  );
}

/** begin/step/end must pair up: a continuing step needs a begun operation of the same kind and BDF. */
function checkPhases(src: YamlSource, steps: readonly ScenarioStep[]): void {
  const open = new Map<string, ScenarioStep>();
  for (const s of steps) {
    if (s.phase === null) continue;
    const key = `${s.op}@${s.bdf ?? ''}`;
    const begun = open.get(key);
    if (s.phase === 'begin') {
      if (begun !== undefined)
        throw src.error(
          CODE,
          s.path,
          `${s.op} on ${s.bdf ?? '(no function)'} is already begun at line ${begun.where.line}; end it first`,
        );
      open.set(key, s);
      continue;
    }
    if (begun === undefined)
      throw src.error(
        CODE,
        s.path,
        `phase ${s.phase}: no ${s.op} on ${s.bdf ?? '(no function)'} was begun before this step`,
      );
    for (const [k, v] of Object.entries(s.args))
      if (begun.args[k] !== v)
        throw src.error(
          CODE,
          [...s.path, s.op, k],
          `differs from the begin step at line ${begun.where.line} (leave it out: the arguments come from there)`,
        );
    if (s.phase === 'end') open.delete(key);
  }
}

// --- expectations ---

function perPreset<T>(
  src: YamlSource,
  path: readonly PathSeg[],
  map: Partial<Record<PresetId | 'default', T>>,
): PerPreset<T> {
  const byPreset = plainByPreset(map);
  const def = map.default ?? null;
  const missing = PRESET_IDS.filter((id) => map[id] === undefined);
  if (def === null && missing.length > 0)
    throw src.error(CODE, path, `no value for ${missing.join(', ')}: list every preset or add default`);
  return { byPreset, default: def };
}

function parseRetExpect(src: YamlSource, path: readonly PathSeg[], raw: unknown): PerPreset<number> {
  if (!isRecord(raw)) return { byPreset: {}, default: check(src, ErrnoText, path, raw) };
  return perPreset(
    src,
    path,
    check(src, RetExpectSchema, path, raw) as Partial<Record<PresetId | 'default', number>>,
  );
}

function isVerdictInput(x: unknown): x is z.output<typeof VerdictSchema> {
  return x === 'holds' || (isRecord(x) && Object.hasOwn(x, 'violates'));
}

function parseExpect(src: YamlSource, raw: unknown, ids: BdfRefLike[]): PerPreset<Verdict> {
  const path = ['expect'];
  const toVerdict: ToVerdict = (v, at) => {
    if (v === 'holds') return { kind: 'holds' };
    const seen = new Set<string>();
    v.violates.forEach((id, k) => {
      if (seen.has(id)) throw src.error(CODE, [...at, 'violates', k], `'${id}' is listed twice`);
      seen.add(id);
      ids.push({ id, path: [...at, 'violates', k] });
    });
    return { kind: 'violates', ids: [...v.violates].sort() };
  };
  const r = readVerdicts(src, path, raw, toVerdict, true);
  if (r.map === null) return { byPreset: {}, default: r.single };
  const { map, byDriver } = r;
  // With driver-specific expectations the plain ones may leave presets out (the drivers cover them).
  const hasDrivers = Object.keys(byDriver).length > 0;
  const plain =
    hasDrivers && map.default === undefined && PRESET_IDS.some((id) => map[id] === undefined)
      ? { byPreset: plainByPreset(map), default: null }
      : perPreset(src, path, map);
  return hasDrivers ? { ...plain, byDriver } : plain;
}

function plainByPreset<T>(map: Partial<Record<PresetId | 'default', T>>): Partial<Record<PresetId, T>> {
  const out: Partial<Record<PresetId, T>> = {};
  for (const id of PRESET_IDS) if (map[id] !== undefined) out[id] = map[id];
  return out;
}

type ToVerdict = (v: z.output<typeof VerdictSchema>, at: readonly PathSeg[]) => Verdict;

/** expect: {<driver>: verdict | {<preset>: verdict, default: verdict}}. */
function parseDriverExpect(
  src: YamlSource,
  path: readonly PathSeg[],
  raw: unknown,
  toVerdict: ToVerdict,
): PerPreset<Verdict> {
  const r = readVerdicts(src, path, raw, toVerdict, false);
  if (r.map === null) return { byPreset: {}, default: r.single };
  return { byPreset: plainByPreset(r.map), default: r.map.default ?? null };
}

/**
 * One verdict, or a mapping {<preset>|default: verdict}; at the top level (`drivers`) the mapping
 * may also hold {<driver>: ...} entries, read by parseDriverExpect().
 */
function readVerdicts(
  src: YamlSource,
  path: readonly PathSeg[],
  raw: unknown,
  toVerdict: ToVerdict,
  drivers: boolean,
):
  | { readonly map: null; readonly single: Verdict }
  | {
      readonly map: Partial<Record<PresetId | 'default', Verdict>>;
      readonly byDriver: Partial<Record<IommuDriverName, PerPreset<Verdict>>>;
    } {
  if (isVerdictInput(raw))
    return { map: null, single: toVerdict(check(src, VerdictSchema, path, raw), path) };
  if (!isRecord(raw))
    throw src.error(
      CODE,
      path,
      `expected holds, {violates: [ids]}, or one of those per preset${describeValue(raw)}`,
    );
  const map: Partial<Record<PresetId | 'default', Verdict>> = {};
  const byDriver: Partial<Record<IommuDriverName, PerPreset<Verdict>>> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (drivers && (IOMMU_DRIVER_NAMES as readonly string[]).includes(k)) {
      byDriver[k as IommuDriverName] = parseDriverExpect(src, [...path, k], v, toVerdict);
      continue;
    }
    if (k !== 'default' && !isPresetId(k))
      throw src.error(
        CODE,
        path,
        drivers
          ? `unknown preset '${k}'; expected one of ${PRESET_IDS.join(', ')}, default, or a driver (${IOMMU_DRIVER_NAMES.join(', ')})`
          : `unknown preset '${k}'; expected one of ${PRESET_IDS.join(', ')} or default`,
        k,
      );
    map[k] = toVerdict(check(src, VerdictSchema, [...path, k], v), [...path, k]);
  }
  return { map, byDriver };
}
