/**
 * The scenario file format (docs/scenario-format.md), as zod schemas. Two uses:
 *  - parse.ts validates a document piece by piece with these schemas, so every error names the
 *    field it is about (a step's operation is found by its key first, then its arguments are
 *    checked against that operation's schema);
 *  - `scenarioJsonSchema()` publishes the whole format as JSON Schema (schema/scenario.schema.json,
 *    written by scripts/gen-scenario-schema.ts), for editors.
 * Every step operation maps 1:1 onto the model's `Op` union (src/model/ops.ts), by BDF instead of
 * function index.
 */
import * as z from 'zod';
import { errnoValue } from '../kernel/errno.js';
import { PRESET_IDS } from '../kernel/presets.js';
import { SWITCH_IDS, type SwitchId } from '../kernel/switches.js';
import { IOMMU_DRIVER_NAMES, IommuSchema } from '../import/iommu-config.js';
import { MachineFileSchema } from '../import/machine-file.js';
import type { OpName } from '../model/ops.js';
import { canonicalBdf } from '../pci/bdf.js';

export const BDF_ERROR = 'expected a PCI address such as 0000:03:00.0';

export const BdfText = z
  .string({ error: BDF_ERROR })
  .refine((t) => canonicalBdf(t) !== null, { error: `${BDF_ERROR} (hex bus:device.function)` })
  .meta({ id: 'Bdf', description: 'a PCI address, [ssss:]bb:dd.f' });

const ERRNO_ERROR = 'expected 0 or an errno name such as -EBUSY';

/** A kernel return value: 0, an errno name (`-EBUSY`, `EBUSY`) or a negative number. Output: the number. */
export const ErrnoText = z
  .union([z.int({ error: ERRNO_ERROR }).max(0, { error: ERRNO_ERROR }), z.string({ error: ERRNO_ERROR })], {
    error: ERRNO_ERROR,
  })
  .transform((v, ctx) => {
    if (typeof v === 'number') return v;
    if (v === '0') return 0;
    const n = errnoValue(v.startsWith('-') ? v : `-${v}`);
    if (n === null) {
      ctx.addIssue({ code: 'custom', message: `${ERRNO_ERROR}; '${v}' is not a known errno name` });
      return z.NEVER;
    }
    return n;
  })
  .meta({ id: 'Errno', description: '0, or an errno name such as -EBUSY' });

const bool = z.boolean({ error: 'expected true or false' });
const nonNegInt = (what: string) =>
  z.int({ error: `expected ${what}` }).min(0, { error: `expected ${what}` });

export const PHASES = ['begin', 'step', 'end'] as const;
export type Phase = (typeof PHASES)[number];
const PhaseSchema = z
  .enum(PHASES, { error: `expected one of ${PHASES.join(', ')}` })
  .describe(
    'run the operation phase by phase on a background thread: begin (first phase), step (one more), end (to completion)',
  );

const pasid = nonNegInt('a PASID (0 or more)').describe('the PASID (absent: the RID, no PASID)');
const iova = nonNegInt('an IOVA page number (0 or more)').describe('IOVA page number');

function bdfArgs<S extends z.ZodRawShape>(shape: S) {
  return z.strictObject(
    { bdf: BdfText, ...shape, phase: PhaseSchema.optional() },
    { error: 'expected a mapping of arguments (bdf: ...)' },
  );
}

export const BIND_KINDS = ['dma', 'managed', 'msi-only'] as const;
export const ATTACH_DOMAINS = ['unmanaged', 'identity', 'blocked'] as const;
export const GROUP_TYPES = ['identity', 'dma', 'dma-fq'] as const;
export const PASID_DOMAINS = ['dma', 'sva', 'unmanaged'] as const;
export const DEVICE_FAULTS = ['stop-answering', 'hold-atc'] as const;

const enumOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `expected one of ${values.join(', ')}` });

/** Making a named kernel call fail: `{fn, bdf?, nth?, errno?}`. */
export const ArmFaultSchema = z
  .strictObject(
    {
      fn: z
        .string({ error: 'expected a kernel function name such as pci_enable_ats' })
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
          error: 'expected a kernel function name such as pci_enable_ats',
        })
        .describe('the kernel function to fail'),
      bdf: BdfText.optional().describe('the function it fails for (absent: any)'),
      nth: z
        .int({ error: 'expected a call number, 1 or more' })
        .min(1, { error: 'expected a call number, 1 or more' })
        .optional()
        .describe('which of its next calls fails (default 1, the next one)'),
      errno: ErrnoText.optional().describe('what it returns (default -EINVAL)'),
    },
    { error: 'expected a mapping {fn, bdf, nth, errno}' },
  )
  .meta({ id: 'KernelCallFault', description: 'a kernel call that fails' });

export const DeviceFaultSchema = z
  .strictObject(
    {
      bdf: BdfText,
      fault: enumOf(DEVICE_FAULTS).describe(
        'stop-answering: the function ignores invalidation requests; hold-atc: it completes them but keeps its ATC entries',
      ),
    },
    { error: 'expected a mapping {bdf, fault}' },
  )
  .meta({ id: 'DeviceFault', description: 'a device that misbehaves' });

/**
 * Per operation: its argument schema (a mapping), and whether a bare BDF may stand for the
 * arguments (`- flr: 0000:03:00.0`). `null` schema: the operation takes no arguments.
 */
interface OpSyntax {
  readonly args: z.ZodObject | null;
  readonly bdfShorthand: boolean;
  readonly summary: string;
}

const op = (args: z.ZodObject | null, bdfShorthand: boolean, summary: string): OpSyntax => ({
  args,
  bdfShorthand,
  summary,
});

export const OP_SYNTAX = {
  boot: op(
    null,
    false,
    'iommu_probe_device() for every present function, in BDF order (implicit unless listed)',
  ),
  probe: op(bdfArgs({}), true, 'iommu_probe_device() for one function'),
  bind: op(
    bdfArgs({
      kind: enumOf(BIND_KINDS)
        .optional()
        .describe('dma (default): DMA API driver; managed: driver_managed_dma; msi-only'),
      msi: bool.optional().describe('the driver uses MSIs through the IOMMU'),
    }),
    true,
    'a kernel driver binds',
  ),
  unbind: op(bdfArgs({}), true, 'the driver unbinds'),
  'vfio-claim': op(bdfArgs({}), true, 'vfio-pci binds and claims DMA ownership of the group'),
  'vfio-release': op(bdfArgs({}), true, 'VFIO releases DMA ownership'),
  attach: op(bdfArgs({ domain: enumOf(ATTACH_DOMAINS) }), false, 'the owner attaches a domain to the group'),
  detach: op(bdfArgs({}), true, 'the owner detaches (back to the blocking domain)'),
  'set-group-type': op(
    bdfArgs({ type: enumOf(GROUP_TYPES) }),
    false,
    'write /sys/kernel/iommu_groups/N/type',
  ),
  'pasid-attach': op(
    bdfArgs({
      pasid: pasid.optional().describe('the PASID; 0 or absent: allocate a global PASID'),
      domain: enumOf(PASID_DOMAINS),
    }),
    false,
    'iommu_attach_device_pasid()',
  ),
  'pasid-detach': op(bdfArgs({ pasid: pasid }), false, 'iommu_detach_device_pasid()'),
  'dma-map': op(bdfArgs({ pasid: pasid.optional() }), true, 'map a page for the device'),
  'dma-unmap': op(
    bdfArgs({ iova, pasid: pasid.optional() }),
    false,
    'unmap the page at iova (split at the CMD_SYNC)',
  ),
  'fq-flush': op(null, false, 'the flush-queue timer runs'),
  'device-dma': op(
    bdfArgs({
      iova,
      pasid: pasid.optional(),
      translated: bool.optional().describe('a translated request from the ATC (default false)'),
    }),
    false,
    'the device issues a DMA',
  ),
  'atc-fill': op(
    bdfArgs({ iova, pasid: pasid.optional() }),
    false,
    'the device fills its ATC by a Translation Request',
  ),
  flr: op(bdfArgs({}), true, 'Function Level Reset (split: the reset is in progress between phases)'),
  'cxl-reset': op(bdfArgs({}), true, 'CXL reset, nesting a bus reset (split)'),
  'sriov-enable': op(
    bdfArgs({
      numVfs: z
        .int({ error: 'expected a VF count, 1 or more' })
        .min(1, { error: 'expected a VF count, 1 or more' }),
    }),
    false,
    'enable VFs on a PF',
  ),
  'sriov-disable': op(bdfArgs({}), true, 'disable the VFs of a PF'),
  'hot-unplug': op(bdfArgs({}), true, 'surprise removal of the function'),
  'device-fault': op(DeviceFaultSchema, false, 'the device starts misbehaving'),
  'arm-fault': op(ArmFaultSchema, false, 'a kernel call fails at its nth next call'),
} as const satisfies Record<OpName, OpSyntax>;

export const STEP_OPS = Object.keys(OP_SYNTAX) as OpName[];

export function isStepOp(name: string): name is OpName {
  return Object.hasOwn(OP_SYNTAX, name);
}

/** A step's expected return: one value, or one per preset with a default. */
export const RetExpectSchema = z.union([
  ErrnoText,
  z
    .partialRecord(z.enum([...PRESET_IDS, 'default']), ErrnoText)
    .describe('per preset, with an optional default'),
]);

/** Keys a step mapping may have besides its operation. */
export const STEP_KEYS = ['expect', 'note'] as const;

const stepExtras = {
  expect: RetExpectSchema.optional().describe(
    "the operation's return value: 0 or an errno name, or per preset",
  ),
  note: z.string({ error: 'expected text' }).optional().describe('a comment shown in reports'),
};

/** A choice's budget: how many times the explorer may fire it. */
export const ChoiceMaxSchema = z
  .int({ error: 'expected a budget, 1 or more' })
  .min(1, { error: 'expected a budget, 1 or more' })
  .max(255, { error: 'expected a budget, 1 or more (at most 255)' })
  .describe('how many times the explorer may fire this choice');

/**
 * The JSON Schema of one step: a bare operation name, or a mapping with one operation key. A
 * choice is a mapping with `max:` and without `phase` or `expect`. (Thread steps are published as
 * steps; the parser rejects their `phase` and `expect` with a message.)
 */
function publishedStepSchema(kind: 'step' | 'choice' = 'step') {
  const bare = z.enum(STEP_OPS.filter((n) => OP_SYNTAX[n].args === null) as [OpName, ...OpName[]]);
  const variants = STEP_OPS.map((name) => {
    const s = OP_SYNTAX[name];
    let args: z.ZodType =
      s.args === null
        ? z.union([z.null(), z.strictObject({})])
        : kind === 'step' || !Object.hasOwn(s.args.shape, 'phase')
          ? s.args
          : s.args.omit({ phase: true } as never);
    if (s.bdfShorthand) args = z.union([BdfText, args]);
    const extras = kind === 'step' ? stepExtras : { note: stepExtras.note, max: ChoiceMaxSchema };
    return z.strictObject({ [name]: args.describe(s.summary), ...extras });
  });
  return kind === 'choice' ? z.union(variants) : z.union([bare, ...variants]);
}

/** One step as published (shared by steps: and threads:). */
const PublishedStep = publishedStepSchema().meta({ id: 'Step', description: 'one kernel entry point' });

export const VerdictSchema = z
  .union([
    z.literal('holds').describe('no invariant is violated at any step'),
    z
      .strictObject({
        violates: z
          .array(z.string({ error: 'expected an invariant id' }), {
            error: 'expected a list of invariant ids',
          })
          .min(1, { error: 'expected at least one invariant id (or write holds)' }),
      })
      .describe('exactly these invariants are violated (ids, or warn:<kernel function>)'),
  ])
  .meta({ id: 'Verdict' });

const PerPresetVerdictSchema = z
  .partialRecord(z.enum([...PRESET_IDS, 'default']), VerdictSchema)
  .describe('per kernel preset; default covers the presets not listed');

export const ExpectSchema = z.union([
  VerdictSchema,
  z
    .partialRecord(
      z.enum([...PRESET_IDS, 'default', ...IOMMU_DRIVER_NAMES]),
      z.union([VerdictSchema, PerPresetVerdictSchema]),
    )
    .describe(
      'per kernel preset (default covers the presets not listed); under a driver name (smmuv3, vtd, amd), the same for runs with that driver, which take precedence',
    ),
]);

export const ThreadSchema = z.strictObject(
  {
    seed: z
      .int({ error: 'expected a seed thread number, 0..4' })
      .min(0, { error: 'expected a seed thread number, 0..4' })
      .max(4, { error: 'expected a seed thread number, 0..4' })
      .describe('which of the five seed threads'),
    subject: z.string({ error: 'expected text' }).optional(),
    message: z.string({ error: 'expected text' }).describe('which message: author, date, version'),
    url: z.string({ error: 'expected text' }).optional(),
  },
  { error: 'expected a mapping {seed, message}' },
);

const machineExtras = {
  groups: z
    .array(z.array(BdfText, { error: 'expected a list of PCI addresses' }).min(1), {
      error: 'expected a list of groups, each a list of PCI addresses',
    })
    .optional()
    .describe('IOMMU groups with more than one function; every other function is alone'),
  requireDirect: z
    .array(BdfText, { error: 'expected a list of PCI addresses' })
    .optional()
    .describe('functions with RMR/IOMMU_RESV_DIRECT regions: never blocked'),
};

export const InlineMachineSchema = z.strictObject({
  name: z.string({ error: 'expected text' }).optional(),
  description: z.string({ error: 'expected text' }).optional(),
  functions: MachineFileSchema.shape.functions.meta({
    id: 'MachineFunctions',
    description: 'the machine-file format (docs/machine-format.md)',
  }),
  ...machineExtras,
});

export const EXAMPLE_MACHINES = ['machine'] as const;
export const ExampleMachineSchema = z.strictObject({
  example: enumOf(EXAMPLE_MACHINES).describe(
    'a machine shipped in examples/: machine = examples/machine.yaml',
  ),
  ...machineExtras,
});

export const ImportMachineSchema = z.strictObject({
  import: z
    .string({ error: 'expected a path' })
    .min(1, { error: 'expected a path' })
    .describe('an lspci dump, a sysfs snapshot directory or a machine file, relative to the scenario file'),
  externalFacing: z
    .array(BdfText, { error: 'expected a list of PCI addresses' })
    .optional()
    .describe('ports firmware marks external-facing'),
  ...machineExtras,
});

export const MachineSchema = z.union([InlineMachineSchema, ExampleMachineSchema, ImportMachineSchema]);

export { IOMMU_DRIVER_NAMES, IommuSchema, PAGE_SIZES, VTD_MODES } from '../import/iommu-config.js';

export const SWITCH_VALUE_ERROR = 'expected on or off';
export const SwitchValueSchema = z.union([z.enum(['on', 'off']), z.boolean()], { error: SWITCH_VALUE_ERROR });

export const KernelSchema = z.strictObject(
  {
    preset: enumOf(PRESET_IDS)
      .optional()
      .describe('the preset atsim run uses by default (atsim check runs every preset)'),
    switches: z
      .partialRecord(z.enum(SWITCH_IDS as [SwitchId, ...SwitchId[]]), SwitchValueSchema)
      .optional()
      .describe('switch overrides: id: on|off'),
    cmdline: z
      .string({ error: 'expected a kernel command line' })
      .optional()
      .describe('e.g. "pci=noats iommu.strict=0"'),
  },
  { error: 'expected a mapping {preset, switches, cmdline}' },
);

export const FaultSchema = z.union([ArmFaultSchema, DeviceFaultSchema]);

/** Keys a thread step may have besides its operation; a choice also has `max`. */
export const THREAD_STEP_KEYS = ['note'] as const;
export const CHOICE_KEYS = ['note', 'max'] as const;

/** The top-level fields; `steps` is checked step by step in parse.ts. */
export const TOP_SHAPE = {
  name: z.string({ error: 'expected text' }).min(1, { error: 'expected a name' }),
  description: z.string({ error: 'expected text' }).optional(),
  thread: ThreadSchema.optional().describe('the seed thread and message this scenario checks'),
  claim: z.string({ error: 'expected text' }).optional().describe('the claim, in words'),
  machine: MachineSchema,
  iommu: IommuSchema.optional(),
  drivers: z
    .array(enumOf(IOMMU_DRIVER_NAMES), { error: 'expected a list of drivers: smmuv3, vtd, amd' })
    .min(1, { error: 'expected at least one driver' })
    .optional()
    .describe(
      'the IOMMU drivers the claim applies to: atsim check runs the scenario under each (default: iommu.driver only)',
    ),
  kernel: KernelSchema.optional(),
  faults: z
    .array(FaultSchema, { error: 'expected a list of faults' })
    .optional()
    .describe('armed before the first step'),
  steps: z.array(PublishedStep, { error: 'expected a list of steps' }),
  threads: z
    .array(z.array(PublishedStep, { error: 'expected a list of steps' }), {
      error: 'expected a list of threads, each a list of steps',
    })
    .optional()
    .describe('for atsim explore: step lists run interleaved in every order, after steps: (which set up)'),
  choices: z
    .array(publishedStepSchema('choice'), { error: 'expected a list of choices' })
    .optional()
    .describe('for atsim explore: operations the explorer may fire at any point, each at most max times'),
  expect: ExpectSchema.optional().describe(
    'the verdict: holds, or violates: [ids]; per preset when it differs',
  ),
};

export const ScenarioFileSchema = z.strictObject(TOP_SHAPE, {
  error: 'expected a mapping with name, machine and steps (see docs/scenario-format.md)',
});

/** The JSON Schema of the scenario format (input side: names where numbers end up). */
export function scenarioJsonSchema(): Record<string, unknown> {
  const s = z.toJSONSchema(ScenarioFileSchema, { io: 'input', unrepresentable: 'any' });
  return {
    ...s,
    title: 'atsim scenario',
    description: 'A scenario for atsim run / atsim explore / atsim check (docs/scenario-format.md).',
  };
}
