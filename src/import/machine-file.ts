/**
 * Machine description files (YAML, or JSON, which YAML 1.2 reads too): a list of functions in
 * the MachineBuilder's own terms. Pure: takes text, returns the Machine. Every problem is an
 * InputError naming `file:line:col`, the field path and what was expected; unknown keys are
 * errors. The format is documented in docs/machine-format.md.
 */
import { pathText, YamlSource, type PathSeg } from './yaml-source.js';
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
import { IommuSchema, parseIommuConfig, type IommuConfigInput } from './iommu-config.js';

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
      iommu: IommuSchema.optional().describe(
        'the IOMMU and its Linux driver (smmuv3, vtd, amd) with its settings, as in a scenario; atsim inspect uses it',
      ),
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
  // A machine description says what it is near its top: sniff the first 64 KiB only, so that a
  // 400 MB lspci dump is not scanned twice.
  const head = text.length > 65536 ? text.slice(0, 65536) : text;
  for (const raw of head.split('\n', 200)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line === '---' || line.startsWith('%')) continue;
    if (line.startsWith('{')) return true;
    break;
  }
  return TOP_KEY_RE.test(head);
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
  const src = YamlSource.parse(text, file, 'machine-file-syntax');
  const data = src.data;
  const parsed = MachineFileSchema.safeParse(data);
  if (!parsed.success) {
    throw src.zodError('machine-file-invalid', [], data, parsed.error, (path) => describePath(data, path));
  }

  const builder = new MachineBuilder({ sourceKind: 'machine-file' });
  parsed.data.functions.forEach((f, i) => {
    const source = src.where(['functions', i]);
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

/**
 * The machine file's `iommu:` mapping (the IOMMU driver and its settings), or null when it has
 * none. Errors name the file, line and key.
 */
export function readMachineFileIommu(text: string, file: string): IommuConfigInput | null {
  const src = YamlSource.parse(text, file, 'machine-file-syntax');
  const data = src.data;
  if (data === null || typeof data !== 'object' || !('iommu' in data)) return null;
  return parseIommuConfig(src, 'machine-file-invalid', ['iommu'], data.iommu);
}

function relocate(e: InputError, where: FileLocation): InputError {
  return new InputError({ ...e.diagnostic, where });
}
