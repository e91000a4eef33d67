import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/diagnostics.js';
import {
  MachineBuilder,
  PORT_TYPES,
  isBridgePortType,
  type AcsSpec,
  type FunctionSpec,
  type PortType,
} from '../../../src/pci/builder.js';
import { ACS_BITS, acsMask } from '../../../src/pci/caps/acs.js';
import { atsQueueDepth } from '../../../src/pci/caps/ats.js';
import type { PciFunction } from '../../../src/pci/function.js';

const u = (bits: number) => fc.integer({ min: 0, max: 2 ** bits - 1 });
const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

const acsArb: fc.Arbitrary<AcsSpec> = fc.record({
  capability: fc.subarray(ACS_BITS),
  control: opt(fc.subarray(ACS_BITS)),
});

const endpointTypes: PortType[] = [
  'endpoint',
  'legacy-endpoint',
  'rc-integrated-endpoint',
  'rc-event-collector',
];

/** Any endpoint spec the builder accepts, SR-IOV without enabled VFs (VFs are tested below). */
const endpointSpecArb: fc.Arbitrary<FunctionSpec> = fc.record(
  {
    vendorId: u(16),
    deviceId: u(16),
    revision: opt(u(8)),
    classCode: opt(u(24)),
    subsystemVendorId: opt(u(16)),
    subsystemId: opt(u(16)),
    portType: fc.constantFrom(...endpointTypes),
    multiFunction: opt(fc.boolean()),
    flr: opt(fc.boolean()),
    eeTlpPrefix: opt(fc.boolean()),
    ats: opt(
      fc.record({
        queueDepth: opt(fc.integer({ min: 1, max: 32 })),
        pageAligned: opt(fc.boolean()),
        globalInvalidate: opt(fc.boolean()),
        enabled: opt(fc.boolean()),
        stu: opt(fc.integer({ min: 12, max: 43 })),
      }),
    ),
    pasid: opt(
      fc.record({
        width: fc.integer({ min: 0, max: 20 }),
        exec: opt(fc.boolean()),
        priv: opt(fc.boolean()),
        enabled: opt(fc.boolean()),
        execEnabled: opt(fc.boolean()),
        privEnabled: opt(fc.boolean()),
      }),
    ),
    pri: opt(
      fc.record({
        capacity: opt(u(32)),
        allocation: opt(u(32)),
        enabled: opt(fc.boolean()),
        stopped: opt(fc.boolean()),
        pasidRequired: opt(fc.boolean()),
      }),
    ),
    acs: opt(acsArb),
    cxl: opt(
      fc.record({
        cacheCapable: fc.boolean(),
        ioCapable: opt(fc.boolean()),
        memCapable: opt(fc.boolean()),
        hdmCount: opt(fc.integer({ min: 0, max: 2 })),
        cacheEnabled: opt(fc.boolean()),
        revision: opt(fc.integer({ min: 0, max: 15 })),
      }),
    ),
    sriov: opt(
      fc.integer({ min: 0, max: 0xffff }).chain((totalVFs) =>
        fc.record({
          totalVFs: fc.constant(totalVFs),
          numVFs: opt(fc.integer({ min: 0, max: totalVFs })),
          initialVFs: opt(fc.integer({ min: 0, max: totalVFs })),
          vfEnable: fc.constant(false),
          ariHierarchy: opt(fc.boolean()),
          firstVfOffset: u(16),
          vfStride: u(16),
          vfDeviceId: u(16),
        }),
      ),
    ),
    externalFacing: opt(fc.boolean()),
    driver: opt(fc.constantFrom('mlx5_core', 'nvme', 'idxd')),
  },
  { requiredKeys: ['vendorId', 'deviceId'] },
);

function only(fns: PciFunction[]): PciFunction {
  expect(fns).toHaveLength(1);
  return fns[0]!;
}

/** Checks every decoded field against what the spec asked for. */
function expectDecodesTo(f: PciFunction, s: FunctionSpec): void {
  const portType = s.portType ?? 'endpoint';
  const bridge = isBridgePortType(portType);
  expect(f.diagnostics).toEqual([]);
  expect(f.unknown).toEqual([]);
  expect(f.config?.size).toBe(4096);
  expect(f.extCapsReadable).toBe(true);
  const h = f.header;
  expect(h.vendorId).toBe(s.vendorId);
  expect(h.deviceId).toBe(s.deviceId);
  expect(h.revision).toBe(s.revision ?? 0);
  expect(h.classCode).toBe(s.classCode ?? (bridge ? 0x060400 : 0xff0000));
  expect(h.headerLayout).toBe(bridge ? 1 : 0);
  if (s.multiFunction !== undefined) expect(h.multiFunction).toBe(s.multiFunction);
  if (bridge) {
    expect(h.secondaryBus).toBe(s.secondaryBus);
    expect(h.subordinateBus).toBe(s.subordinateBus);
  } else {
    expect(h.subsystemVendorId).toBe(s.subsystemVendorId ?? 0);
    expect(h.subsystemId).toBe(s.subsystemId ?? 0);
  }
  expect(f.express?.offset).toBe(0x40);
  expect(f.express?.portType).toBe(PORT_TYPES[portType]);
  expect(f.express?.flrCapable).toBe(s.flr ?? false);
  expect(f.express?.eeTlpPrefix).toBe(s.eeTlpPrefix ?? s.pasid !== undefined);

  if (s.ats === undefined) expect(f.ats).toBeNull();
  else {
    expect(atsQueueDepth(f.ats!.queueDepthRaw!)).toBe(s.ats.queueDepth ?? 32);
    expect(f.ats!.pageAligned).toBe(s.ats.pageAligned ?? false);
    expect(f.ats!.globalInvalidate).toBe(s.ats.globalInvalidate ?? false);
    expect(f.ats!.enabled).toBe(s.ats.enabled ?? false);
    expect(f.ats!.stuRaw).toBe((s.ats.stu ?? 12) - 12);
  }
  if (s.pasid === undefined) expect(f.pasid).toBeNull();
  else
    expect(f.pasid).toMatchObject({
      width: s.pasid.width,
      exec: s.pasid.exec ?? false,
      priv: s.pasid.priv ?? false,
      enabled: s.pasid.enabled ?? false,
      execEnabled: s.pasid.execEnabled ?? false,
      privEnabled: s.pasid.privEnabled ?? false,
    });
  if (s.pri === undefined) expect(f.pri).toBeNull();
  else
    expect(f.pri).toMatchObject({
      capacity: s.pri.capacity ?? 0x200,
      allocation: s.pri.allocation ?? 0,
      enabled: s.pri.enabled ?? false,
      stopped: s.pri.stopped ?? true,
      pasidRequired: s.pri.pasidRequired ?? false,
    });
  if (s.acs === undefined) expect(f.acs).toBeNull();
  else {
    expect(f.acs!.capability).toBe(acsMask(s.acs.capability));
    expect(f.acs!.control).toBe(acsMask(s.acs.control ?? []));
  }
  if (s.cxl === undefined) {
    expect(f.cxl).toBeNull();
    expect(f.dvsecs).toEqual([]);
  } else
    expect(f.cxl).toMatchObject({
      cacheCapable: s.cxl.cacheCapable,
      ioCapable: s.cxl.ioCapable ?? true,
      memCapable: s.cxl.memCapable ?? false,
      hdmCount: s.cxl.hdmCount ?? 0,
      cacheEnabled: s.cxl.cacheEnabled ?? false,
      revision: s.cxl.revision ?? 1,
    });
  if (s.sriov === undefined) expect(f.sriov).toBeNull();
  else
    expect(f.sriov).toMatchObject({
      totalVFs: s.sriov.totalVFs,
      numVFs: s.sriov.numVFs ?? 0,
      initialVFs: s.sriov.initialVFs ?? s.sriov.totalVFs,
      vfEnable: s.sriov.vfEnable ?? false,
      ariHierarchy: s.sriov.ariHierarchy ?? false,
      firstVfOffset: s.sriov.firstVfOffset,
      vfStride: s.sriov.vfStride,
      vfDeviceId: s.sriov.vfDeviceId,
    });
  expect(f.externalFacing).toBe(s.externalFacing ?? false);
  expect(f.driver).toBe(s.driver ?? null);

  // The capability lists: Express then PM; the extended chain in the documented order.
  const caps = f.capabilities!;
  expect(caps.filter((c) => c.space === 'std').map((c) => [c.id, c.offset])).toEqual([
    [0x10, 0x40],
    [0x01, 0x80],
  ]);
  const ext = caps.filter((c) => c.space === 'ext');
  const wanted = [
    [0x0d, s.acs],
    [0x0f, s.ats],
    [0x13, s.pri],
    [0x1b, s.pasid],
    [0x10, s.sriov],
    [0x23, s.cxl],
  ]
    .filter(([, v]) => v !== undefined)
    .map(([id]) => id);
  expect(ext.map((c) => c.id)).toEqual(wanted);
  if (ext.length > 0) expect(ext[0]!.offset).toBe(0x100);
  for (let i = 1; i < ext.length; i++) expect(ext[i]!.offset).toBeGreaterThan(ext[i - 1]!.offset);
  for (const c of ext) expect(c.version).toBe(1);
}

describe('MachineBuilder: built config spaces decode back to the requested fields', () => {
  it('for every capability of random endpoints', () => {
    fc.assert(
      fc.property(endpointSpecArb, (spec) => {
        const f = only(new MachineBuilder().function('0000:3a:00.0', spec).toPciFunctions());
        expect(f.bdf).toBe('0000:3a:00.0');
        expect(f.sourceKind).toBe('builder');
        expectDecodesTo(f, spec);
      }),
      { numRuns: 300 },
    );
  });

  it('for bridges of every type, with bus numbers and ACS', () => {
    const bridgeTypes = (Object.keys(PORT_TYPES) as PortType[]).filter(isBridgePortType);
    fc.assert(
      fc.property(
        fc.constantFrom(...bridgeTypes),
        fc.integer({ min: 0, max: 0xfd }),
        fc.integer({ min: 1, max: 0xff }),
        fc.integer({ min: 0, max: 0xff }),
        opt(acsArb),
        fc.boolean(),
        (portType, bus, secOff, subOff, acs, slot) => {
          const secondaryBus = Math.min(bus + secOff, 0xff);
          if (secondaryBus <= bus) return;
          const subordinateBus = Math.min(secondaryBus + subOff, 0xff);
          const spec: FunctionSpec = {
            vendorId: 0x8086,
            deviceId: 0x2030,
            portType,
            secondaryBus,
            subordinateBus,
            slot,
            ...(acs === undefined ? {} : { acs }),
          };
          const bdf = `0000:${bus.toString(16).padStart(2, '0')}:01.0`;
          const f = only(new MachineBuilder().function(bdf, spec).toPciFunctions());
          expectDecodesTo(f, spec);
          expect(f.express?.slotImplemented).toBe(slot);
          // Primary bus number: the bridge's own bus.
          expect(f.config!.read8(0x18)).toBe(bus);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('writes the multi-function bit when a device number has several functions', () => {
    const fns = new MachineBuilder()
      .function('0000:05:00.0', { vendorId: 1, deviceId: 2 })
      .function('0000:05:00.1', { vendorId: 1, deviceId: 2 })
      .function('0000:05:01.0', { vendorId: 1, deviceId: 2 })
      .toPciFunctions();
    expect(fns.map((f) => [f.bdf, f.header.multiFunction])).toEqual([
      ['0000:05:00.0', true],
      ['0000:05:00.1', true],
      ['0000:05:01.0', false],
    ]);
  });
});

describe('MachineBuilder: SR-IOV VFs', () => {
  const spec: FunctionSpec = {
    vendorId: 0x8086,
    deviceId: 0x1452,
    revision: 0x10,
    classCode: 0x020000,
    ats: { enabled: true, stu: 16 },
    pasid: { width: 20 },
    pri: {},
    sriov: {
      totalVFs: 16,
      numVFs: 3,
      vfEnable: true,
      firstVfOffset: 8,
      vfStride: 2,
      vfDeviceId: 0x1889,
      vf: { ats: { queueDepth: 4, pageAligned: true }, flr: true, acs: { capability: ['SV', 'RR'] } },
    },
  };
  const fns = new MachineBuilder().function('0000:04:00.0', spec).toPciFunctions();

  it('generates each enabled VF at its routing ID, as a function with its own config space', () => {
    expect(fns.map((f) => f.bdf)).toEqual(['0000:04:00.0', '0000:04:01.0', '0000:04:01.2', '0000:04:01.4']);
    for (const vf of fns.slice(1)) {
      expect(vf.physfnHint).toBe('0000:04:00.0');
      expect(vf.config?.size).toBe(4096);
      expect(vf.diagnostics).toEqual([]);
      expect(vf.header).toMatchObject({
        vendorId: 0x8086,
        deviceId: 0x1889,
        revision: 0x10,
        classCode: 0x020000,
      });
      expect(vf.header.headerLayout).toBe(0);
      expect(vf.express?.flrCapable).toBe(true);
      expect(atsQueueDepth(vf.ats!.queueDepthRaw!)).toBe(4);
      expect(vf.ats!.pageAligned).toBe(true);
      // A VF's STU is hardwired to 0: the PF's applies.
      expect(vf.ats!.stuRaw).toBe(0);
      expect(vf.acs!.capability).toBe(acsMask(['SV', 'RR']));
      expect(vf.sriov).toBeNull();
      expect(vf.pasid).toBeNull();
      expect(vf.pri).toBeNull();
    }
  });

  it('links them when built into a machine', () => {
    const m = new MachineBuilder().function('0000:04:00.0', spec).build();
    const pf = m.functions[m.byBdf.get('0000:04:00.0')!]!;
    expect(pf.vfs.map((i) => m.functions[i]!.fn.bdf)).toEqual([
      '0000:04:01.0',
      '0000:04:01.2',
      '0000:04:01.4',
    ]);
    expect(m.diagnostics).toEqual([]);
  });

  it('refuses a VF address that a listed function already has', () => {
    const b = new MachineBuilder()
      .function('0000:04:00.0', spec)
      .function('0000:04:01.2', { vendorId: 1, deviceId: 2 });
    expect(() => b.toPciFunctions()).toThrow(/VF 1 would be at 0000:04:01.2/);
  });
});

describe('MachineBuilder: input validation', () => {
  const ok: FunctionSpec = { vendorId: 0x8086, deviceId: 0x1234 };
  const rejects = (f: () => unknown, code: string, text: RegExp): void => {
    let caught: unknown;
    try {
      f();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(InputError);
    expect((caught as InputError).diagnostic.code).toBe(code);
    expect((caught as InputError).message).toMatch(text);
  };

  it('rejects bad and duplicate BDFs', () => {
    rejects(() => new MachineBuilder().function('00:20.0', ok), 'bad-bdf', /not a PCI address/);
    rejects(() => new MachineBuilder().function('zz:00.0', ok), 'bad-bdf', /not a PCI address/);
    rejects(
      () => new MachineBuilder().function('0000:01:00.0', ok).function('01:00.0', ok),
      'duplicate-bdf',
      /0000:01:00.0 is listed twice/,
    );
  });

  it('rejects values out of register range', () => {
    const cases: [FunctionSpec, RegExp][] = [
      [{ ...ok, vendorId: 0x10000 }, /vendorId/],
      [{ ...ok, deviceId: -1 }, /deviceId/],
      [{ ...ok, revision: 256 }, /revision/],
      [{ ...ok, classCode: 1.5 }, /classCode/],
      [{ ...ok, ats: { queueDepth: 0 } }, /ats.queueDepth/],
      [{ ...ok, ats: { queueDepth: 33 } }, /ats.queueDepth/],
      [{ ...ok, ats: { stu: 11 } }, /ats.stu/],
      [{ ...ok, pasid: { width: 21 } }, /pasid.width/],
      [{ ...ok, pri: { capacity: 2 ** 32 } }, /pri.capacity/],
      [{ ...ok, cxl: { cacheCapable: true, hdmCount: 3 } }, /cxl.hdmCount/],
      [
        { ...ok, sriov: { totalVFs: 4, numVFs: 5, firstVfOffset: 1, vfStride: 1, vfDeviceId: 1 } },
        /sriov.numVFs/,
      ],
      [
        {
          ...ok,
          sriov: { totalVFs: 4, numVFs: 2, vfEnable: true, firstVfOffset: 0, vfStride: 1, vfDeviceId: 1 },
        },
        /firstVfOffset/,
      ],
      [
        {
          ...ok,
          sriov: { totalVFs: 4, numVFs: 2, vfEnable: true, firstVfOffset: 1, vfStride: 0, vfDeviceId: 1 },
        },
        /vfStride/,
      ],
      [{ ...ok, acs: { capability: ['XX' as never] } }, /not an ACS bit/],
      [{ ...ok, portType: 'bogus' as never }, /portType/],
      [{ ...ok, secondaryBus: 2, subordinateBus: 2 }, /for bridges/],
      [{ ...ok, portType: 'root-port' }, /needs secondaryBus/],
      [{ ...ok, portType: 'root-port', secondaryBus: 1, subordinateBus: 0 }, /subordinateBus/],
      [
        {
          ...ok,
          portType: 'root-port',
          secondaryBus: 1,
          subordinateBus: 1,
          sriov: undefined,
          subsystemId: 1,
        },
        /subsystem/,
      ],
    ];
    for (const [spec, text] of cases)
      rejects(() => new MachineBuilder().function('0000:00:01.0', spec), 'builder-invalid', text);
    // A bridge's secondary bus must be above its own bus.
    rejects(
      () => new MachineBuilder().rootPort('0000:05:00.0', { secondaryBus: 5, subordinateBus: 5 }),
      'builder-invalid',
      /secondaryBus/,
    );
  });
});
