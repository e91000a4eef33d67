/**
 * Machine description files (YAML, or JSON, which YAML 1.2 reads too): a list of functions in
 * the MachineBuilder's own terms. Pure: takes text, returns the Machine. Every problem is an
 * InputError naming `file:line:col`, the field path and what was expected; unknown keys are
 * errors. The format is documented in docs/machine-format.md.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import * as z from 'zod';
import { InputError, type FileLocation } from '../diagnostics.js';
import { canonicalBdf, parseBdf } from '../pci/bdf.js';
import {
  MachineBuilder,
  PORT_TYPE_NAMES,
  bridgeDefaultIds,
  isBridgePortType,
  type FunctionSpec,
  type PortType,
} from '../pci/builder.js';
import { ACS_BITS, type AcsBit } from '../pci/caps/acs.js';
import type { Machine } from '../pci/topology.js';

const HEX_RE = /^0[xX][0-9a-fA-F]{1,8}$/;

function fmtNum(n: number): string {
  return n > 255 ? `0x${n.toString(16)}` : String(n);
}

/** An integer register value, written in decimal or as a `0x` hex string (JSON has no hex). */
function int(min: number, max: number) {
  const error = `expected an integer in ${fmtNum(min)}..${fmtNum(max)} (decimal, or hex written 0x...)`;
  return z
    .union(
      [
        z.int({ error }).min(min, { error }).max(max, { error }),
        z.string({ error }).regex(HEX_RE, { error }),
      ],
      {
        error,
      },
    )
    .transform((v) => (typeof v === 'string' ? parseInt(v, 16) : v))
    .pipe(z.int({ error }).min(min, { error }).max(max, { error }));
}

const bool = z.boolean({ error: 'expected true or false' });
const acsBit = z.enum(ACS_BITS as [AcsBit, ...AcsBit[]], {
  error: `expected an ACS bit: one of ${ACS_BITS.join(', ')}`,
});

const atsShape = {
  queueDepth: int(1, 32).optional().describe('Invalidate Queue Depth, 1..32 (default 32)'),
  pageAligned: bool.optional(),
  globalInvalidate: bool.optional(),
  enabled: bool.optional().describe('ATS Control Enable'),
};

const AtsSchema = z.strictObject({
  ...atsShape,
  stu: int(12, 43).optional().describe('Smallest Translation Unit as a page shift (default 12 = 4 KiB)'),
});
const VfAtsSchema = z.strictObject(atsShape);

const PasidSchema = z.strictObject({
  width: int(0, 20).describe('Max PASID Width'),
  exec: bool.optional(),
  priv: bool.optional(),
  enabled: bool.optional(),
  execEnabled: bool.optional(),
  privEnabled: bool.optional(),
});

const PriSchema = z.strictObject({
  capacity: int(0, 0xffffffff).optional().describe('Outstanding Page Request Capacity (default 0x200)'),
  allocation: int(0, 0xffffffff).optional(),
  enabled: bool.optional(),
  stopped: bool.optional().describe('PRI Status Stopped (default true)'),
  pasidRequired: bool.optional().describe('PRG Response PASID Required'),
});

const AcsSchema = z.strictObject({
  capability: z.array(acsBit, { error: 'expected a list of ACS bits' }),
  control: z.array(acsBit, { error: 'expected a list of ACS bits' }).optional(),
});

const CxlSchema = z.strictObject({
  cacheCapable: bool.describe('CXL Device DVSEC Cache_Capable'),
  ioCapable: bool.optional().describe('default true'),
  memCapable: bool.optional(),
  hdmCount: int(0, 2).optional(),
  cacheEnabled: bool.optional(),
  revision: int(0, 15).optional().describe('DVSEC revision (default 1)'),
});

const VfSchema = z.strictObject({
  ats: VfAtsSchema.optional(),
  flr: bool.optional(),
  acs: AcsSchema.optional(),
});

const SriovSchema = z
  .strictObject({
    totalVFs: int(0, 0xffff),
    initialVFs: int(0, 0xffff).optional(),
    numVFs: int(0, 0xffff).optional(),
    vfEnable: bool.optional(),
    vfMse: bool.optional(),
    ariHierarchy: bool.optional(),
    firstVfOffset: int(0, 0xffff),
    vfStride: int(0, 0xffff),
    vfDeviceId: int(0, 0xffff),
    vf: VfSchema.optional().describe('what each generated VF carries'),
  })
  .superRefine((s, ctx) => {
    if (s.numVFs !== undefined && s.numVFs > s.totalVFs)
      ctx.addIssue({
        code: 'custom',
        path: ['numVFs'],
        message: `expected at most totalVFs (${s.totalVFs})`,
      });
    if (s.initialVFs !== undefined && s.initialVFs > s.totalVFs)
      ctx.addIssue({
        code: 'custom',
        path: ['initialVFs'],
        message: `expected at most totalVFs (${s.totalVFs})`,
      });
    const n = s.numVFs ?? 0;
    if (s.vfEnable === true && n > 0 && s.firstVfOffset === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['firstVfOffset'],
        message: 'expected at least 1 when VFs are enabled',
      });
    if (s.vfEnable === true && n > 1 && s.vfStride === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['vfStride'],
        message: 'expected at least 1 when more than one VF is enabled',
      });
  });

const FunctionSchema = z
  .strictObject(
    {
      bdf: z
        .string({ error: 'expected a PCI address such as 0000:01:00.0' })
        .refine((t) => canonicalBdf(t) !== null, {
          error: 'expected a PCI address such as 0000:01:00.0 (hex)',
        }),
      name: z
        .string({ error: 'expected text' })
        .optional()
        .describe('a label for people; not part of the model'),
      portType: z
        .enum(PORT_TYPE_NAMES as [PortType, ...PortType[]], {
          error: `expected one of ${PORT_TYPE_NAMES.join(', ')}`,
        })
        .optional()
        .describe('PCI Express Device/Port Type (default endpoint)'),
      vendorId: int(0, 0xffff)
        .optional()
        .describe('required except for bridges, which default to real parts'),
      deviceId: int(0, 0xffff).optional(),
      revision: int(0, 0xff).optional(),
      classCode: int(0, 0xffffff).optional(),
      subsystemVendorId: int(0, 0xffff).optional(),
      subsystemId: int(0, 0xffff).optional(),
      secondaryBus: int(0, 0xff).optional(),
      subordinateBus: int(0, 0xff).optional(),
      slot: bool.optional(),
      multiFunction: bool.optional(),
      flr: bool.optional(),
      eeTlpPrefix: bool.optional(),
      externalFacing: bool
        .optional()
        .describe('firmware marks this port external-facing (ACPI ExternalFacingPort)'),
      driver: z
        .string({ error: 'expected a driver name' })
        .min(1, { error: 'expected a driver name' })
        .optional(),
      ats: AtsSchema.optional(),
      pasid: PasidSchema.optional(),
      pri: PriSchema.optional(),
      acs: AcsSchema.optional(),
      cxl: CxlSchema.optional(),
      sriov: SriovSchema.optional(),
    },
    { error: 'expected a mapping describing one function (bdf, vendorId, deviceId, ...)' },
  )
  .superRefine((f, ctx) => {
    const portType = f.portType ?? 'endpoint';
    const parts = parseBdf(f.bdf);
    if (isBridgePortType(portType)) {
      if (f.secondaryBus === undefined)
        ctx.addIssue({ code: 'custom', path: ['secondaryBus'], message: `a ${portType} needs secondaryBus` });
      if (f.subordinateBus === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['subordinateBus'],
          message: `a ${portType} needs subordinateBus`,
        });
      if (parts !== null && f.secondaryBus !== undefined && f.secondaryBus <= parts.bus)
        ctx.addIssue({
          code: 'custom',
          path: ['secondaryBus'],
          message: `expected a bus above the bridge's own bus ${fmtNum(parts.bus)}`,
        });
      if (f.secondaryBus !== undefined && f.subordinateBus !== undefined && f.subordinateBus < f.secondaryBus)
        ctx.addIssue({ code: 'custom', path: ['subordinateBus'], message: 'expected at least secondaryBus' });
      for (const k of ['subsystemVendorId', 'subsystemId', 'sriov', 'cxl', 'pasid', 'pri'] as const)
        if (f[k] !== undefined)
          ctx.addIssue({ code: 'custom', path: [k], message: `not allowed on a ${portType}` });
    } else {
      for (const k of ['vendorId', 'deviceId'] as const)
        if (f[k] === undefined)
          ctx.addIssue({ code: 'custom', path: [k], message: 'required field is missing' });
      for (const k of ['secondaryBus', 'subordinateBus'] as const)
        if (f[k] !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: [k],
            message: `only bridges have bus numbers, not a ${portType}`,
          });
    }
  });

export const MachineFileSchema = z
  .strictObject(
    {
      name: z.string({ error: 'expected text' }).optional(),
      description: z.string({ error: 'expected text' }).optional(),
      functions: z.array(FunctionSchema, { error: 'expected a list of functions' }),
    },
    { error: "expected a mapping with a 'functions' list (see docs/machine-format.md)" },
  )
  .superRefine((m, ctx) => {
    const first = new Map<string, number>();
    m.functions.forEach((f, i) => {
      const bdf = canonicalBdf(f.bdf);
      if (bdf === null) return;
      const j = first.get(bdf);
      if (j === undefined) first.set(bdf, i);
      else
        ctx.addIssue({
          code: 'custom',
          path: ['functions', i, 'bdf'],
          message: `duplicate BDF ${bdf}: functions[${j}] already has it`,
        });
    });
  });

export type MachineFileInput = z.input<typeof MachineFileSchema>;
export type MachineFileData = z.output<typeof MachineFileSchema>;
export type MachineFileFunction = MachineFileData['functions'][number];

/** JSON Schema of the file format (input side: hex strings allowed where numbers are). */
export function machineFileJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(MachineFileSchema, { io: 'input', unrepresentable: 'any' });
}

const TOP_KEY_RE = /^(functions|name|description)\s*:/m;

/**
 * Cheap content sniffing: is this a machine description rather than lspci output? True for JSON
 * (first significant character `{`) and for YAML with a top-level `functions:`, `name:` or
 * `description:` key, none of which lspci ever prints at the start of a line.
 */
export function isMachineFileText(text: string): boolean {
  for (const raw of text.split('\n', 200)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line === '---' || line.startsWith('%')) continue;
    if (line.startsWith('{')) return true;
    break;
  }
  return TOP_KEY_RE.test(text);
}

type PathSeg = string | number | symbol;

function pathText(path: readonly PathSeg[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += s === '' ? String(p) : `.${String(p)}`;
  }
  return s === '' ? '(top level)' : s;
}

/** The node at `path`, or the deepest node on the way there; `key` asks for a map key's own node. */
function nodeAt(doc: Document, path: readonly PathSeg[], key?: string): Node | null {
  let node: unknown = doc.contents;
  let found: Node | null = isNodeLike(node) ? node : null;
  const segs = key === undefined ? path : [...path, key];
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value === seg : p.key === seg));
      if (pair === undefined) break;
      const last = i === segs.length - 1;
      if (last && key !== undefined) return isNodeLike(pair.key) ? pair.key : found;
      if (isNodeLike(pair.value)) {
        node = pair.value;
        found = pair.value;
      } else {
        return isNodeLike(pair.key) ? pair.key : found;
      }
    } else if (isSeq(node) && typeof seg === 'number') {
      const item: unknown = node.items[seg];
      if (!isNodeLike(item)) break;
      node = item;
      found = item;
    } else break;
  }
  return found;
}

function isNodeLike(v: unknown): v is Node {
  return isScalar(v) || isMap(v) || isSeq(v);
}

function locationOf(file: string, lc: LineCounter, node: Node | null): FileLocation {
  const offset = node?.range?.[0] ?? 0;
  const pos = lc.linePos(offset);
  return { file, line: pos.line, column: pos.col };
}

/** `, got <value>` for a scalar found at `path` in the parsed data, else ''. */
function gotText(data: unknown, path: readonly PathSeg[]): string {
  let v: unknown = data;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return '';
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  if (typeof v === 'string') return `, got '${v.length > 40 ? `${v.slice(0, 40)}...` : v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return `, got ${String(v)}`;
  if (Array.isArray(v)) return ', got a list';
  return typeof v === 'object' ? ', got a mapping' : '';
}

/** True when the object at `path`'s parent has no such key (a required field is missing). */
function isMissing(data: unknown, path: readonly PathSeg[]): boolean {
  let v: unknown = data;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    if (v === null || typeof v !== 'object') return false;
    if (i === path.length - 1) return !Object.hasOwn(v, seg);
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return false;
}

/** `functions[3] (0000:01:00.0)` style context for a path inside a function entry. */
function describePath(data: unknown, path: readonly PathSeg[]): string {
  const text = pathText(path);
  if (path[0] !== 'functions' || typeof path[1] !== 'number' || data === null || typeof data !== 'object')
    return text;
  const entry: unknown = (data as { functions?: unknown }).functions;
  if (!Array.isArray(entry)) return text;
  const f: unknown = entry[path[1]];
  const bdf = f !== null && typeof f === 'object' ? (f as { bdf?: unknown }).bdf : undefined;
  const canon = typeof bdf === 'string' ? canonicalBdf(bdf) : null;
  return canon === null || path.length === 2 ? text : `${text} (${canon})`;
}

function specOf(f: MachineFileFunction): FunctionSpec {
  const portType = f.portType ?? 'endpoint';
  const ids = isBridgePortType(portType) ? bridgeDefaultIds(portType) : { vendorId: 0, deviceId: 0 };
  const { bdf: _bdf, name: _name, ...rest } = f;
  const spec: FunctionSpec = {
    ...rest,
    vendorId: f.vendorId ?? ids.vendorId,
    deviceId: f.deviceId ?? ids.deviceId,
  };
  return spec;
}

/** Parses a machine description. `file` is only used to name locations in errors. */
export function parseMachineFile(text: string, file: string): Machine {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, strict: true });
  const err = doc.errors[0];
  if (err !== undefined) {
    const pos = lc.linePos(err.pos[0]);
    throw new InputError({
      code: 'machine-file-syntax',
      message: `not valid YAML/JSON: ${err.message.split('\n')[0] ?? err.code}`,
      where: { file, line: pos.line, column: pos.col },
    });
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new InputError({
      code: 'machine-file-syntax',
      message: `cannot read the document: ${e instanceof Error ? e.message : String(e)}`,
      where: { file, line: 1, column: 1 },
    });
  }
  const parsed = MachineFileSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    let node: Node | null;
    let path: readonly PathSeg[] = issue.path;
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      const key = issue.keys[0] ?? '';
      node = nodeAt(doc, issue.path, key);
      path = [...issue.path, key];
      message = `unknown key '${key}'${issue.keys.length > 1 ? ` (and ${issue.keys.length - 1} more)` : ''}`;
    } else {
      node = nodeAt(doc, issue.path);
      if (issue.path.length > 0 && isMissing(data, issue.path) && issue.code !== 'custom')
        message = `required field is missing (${message})`;
      else if (issue.code !== 'custom') message += gotText(data, issue.path);
    }
    throw new InputError({
      code: 'machine-file-invalid',
      message: `${describePath(data, path)}: ${message}`,
      where: locationOf(file, lc, node),
    });
  }

  const builder = new MachineBuilder({ sourceKind: 'machine-file' });
  parsed.data.functions.forEach((f, i) => {
    const source = locationOf(file, lc, nodeAt(doc, ['functions', i]));
    try {
      builder.function(f.bdf, specOf(f), source);
    } catch (e) {
      if (e instanceof InputError) throw relocate(e, source);
      throw e;
    }
  });
  // A VF that collides with a listed function is reported at its PF's entry.
  return builder.build();
}

function relocate(e: InputError, where: FileLocation): InputError {
  return new InputError({ ...e.diagnostic, where });
}
