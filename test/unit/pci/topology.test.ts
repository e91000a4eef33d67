import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/diagnostics.js';
import { MachineBuilder, type FunctionSpec } from '../../../src/pci/builder.js';
import { PCI_SRIOV_CTRL, PCI_SRIOV_CTRL_VFE } from '../../../src/pci/caps/sriov.js';
import { decodeFunction } from '../../../src/pci/decode.js';
import type { PciFunction } from '../../../src/pci/function.js';
import { buildMachine, type Machine, type MachineFunction } from '../../../src/pci/topology.js';

const NIC: FunctionSpec = { vendorId: 0x15b3, deviceId: 0x101d, classCode: 0x020000, ats: {} };

function at(m: Machine, bdf: string): MachineFunction {
  const i = m.byBdf.get(bdf);
  if (i === undefined) throw new Error(`${bdf} is not in the machine`);
  return m.functions[i]!;
}

function bdfOf(m: Machine, i: number | null): string | null {
  return i === null ? null : m.functions[i]!.fn.bdf;
}

function codes(m: Machine): string[] {
  return m.diagnostics.map((d) => d.code);
}

/** A PF with SR-IOV enabled, as the builder writes it, minus the VFs the builder generates. */
function pfOnly(
  bdf: string,
  sriov: { numVFs: number; firstVfOffset: number; vfStride: number; totalVFs?: number },
  bridges: (b: MachineBuilder) => MachineBuilder = (b) => b,
): PciFunction[] {
  const fns = bridges(new MachineBuilder())
    .function(bdf, {
      ...NIC,
      sriov: { totalVFs: sriov.totalVFs ?? 256, vfEnable: true, vfDeviceId: 0x101e, ...sriov },
    })
    .toPciFunctions();
  return fns.filter((f) => f.physfnHint === null);
}

describe('parents (pci_upstream_bridge)', () => {
  it('links each function to the bridge whose secondary bus is its bus, and root buses to none', () => {
    const m = new MachineBuilder()
      .rootPort('0000:00:01.0', { secondaryBus: 1, subordinateBus: 3 })
      .switchUpstreamPort('0000:01:00.0', { secondaryBus: 2, subordinateBus: 3 })
      .switchDownstreamPort('0000:02:00.0', { secondaryBus: 3, subordinateBus: 3 })
      .switchDownstreamPort('0000:02:01.0', { secondaryBus: 4, subordinateBus: 4 })
      .function('0000:03:00.0', NIC)
      .function('0000:04:00.0', NIC)
      .function('0000:00:02.0', { ...NIC, portType: 'rc-integrated-endpoint' })
      .function('0001:00:00.0', NIC)
      .build();
    expect(bdfOf(m, at(m, '0000:00:01.0').parent)).toBeNull();
    expect(bdfOf(m, at(m, '0000:00:02.0').parent)).toBeNull();
    expect(bdfOf(m, at(m, '0000:01:00.0').parent)).toBe('0000:00:01.0');
    expect(bdfOf(m, at(m, '0000:02:00.0').parent)).toBe('0000:01:00.0');
    expect(bdfOf(m, at(m, '0000:03:00.0').parent)).toBe('0000:02:00.0');
    expect(bdfOf(m, at(m, '0000:04:00.0').parent)).toBe('0000:02:01.0');
    // Another segment's bus 0 is its own root bus.
    expect(bdfOf(m, at(m, '0001:00:00.0').parent)).toBeNull();
  });

  it('sorts functions by segment, bus, devfn and indexes them', () => {
    const m = new MachineBuilder()
      .function('0001:00:00.0', NIC)
      .function('0000:05:00.1', NIC)
      .function('0000:05:00.0', NIC)
      .function('0000:00:1f.0', NIC)
      .build();
    expect(m.functions.map((f) => f.fn.bdf)).toEqual([
      '0000:00:1f.0',
      '0000:05:00.0',
      '0000:05:00.1',
      '0001:00:00.0',
    ]);
    m.functions.forEach((f, i) => {
      expect(f.index).toBe(i);
      expect(m.byBdf.get(f.fn.bdf)).toBe(i);
    });
  });

  it('treats a bus without a bridge as a root bus, warning only when a bridge range covers it', () => {
    const quiet = new MachineBuilder().function('0000:40:00.0', NIC).build();
    expect(at(quiet, '0000:40:00.0').parent).toBeNull();
    expect(codes(quiet)).not.toContain('bus-without-bridge');

    const covered = new MachineBuilder()
      .rootPort('0000:00:01.0', { secondaryBus: 1, subordinateBus: 5 })
      .function('0000:03:00.0', NIC)
      .build();
    expect(at(covered, '0000:03:00.0').parent).toBeNull();
    expect(codes(covered)).toContain('bus-without-bridge');
  });
});

describe('untrusted (set_pcie_untrusted)', () => {
  const m = new MachineBuilder()
    .rootPort('0000:00:01.0', { secondaryBus: 1, subordinateBus: 3, externalFacing: true })
    .switchUpstreamPort('0000:01:00.0', { secondaryBus: 2, subordinateBus: 3 })
    .switchDownstreamPort('0000:02:00.0', { secondaryBus: 3, subordinateBus: 3 })
    .function('0000:03:00.0', NIC)
    .rootPort('0000:00:02.0', { secondaryBus: 4, subordinateBus: 4 })
    .function('0000:04:00.0', NIC)
    .build();

  it('keeps the external-facing port itself trusted', () => {
    expect(at(m, '0000:00:01.0').externalFacing).toBe(true);
    expect(at(m, '0000:00:01.0').untrusted).toBe(false);
  });

  it('marks everything below it untrusted, transitively', () => {
    for (const bdf of ['0000:01:00.0', '0000:02:00.0', '0000:03:00.0']) {
      expect(at(m, bdf).untrusted, bdf).toBe(true);
      expect(at(m, bdf).externalFacing, bdf).toBe(false);
    }
  });

  it('leaves other ports and their devices trusted', () => {
    expect(at(m, '0000:00:02.0').untrusted).toBe(false);
    expect(at(m, '0000:04:00.0').untrusted).toBe(false);
  });

  it('takes external-facing ports from the options too', () => {
    const fns = new MachineBuilder()
      .rootPort('0000:00:02.0', { secondaryBus: 4, subordinateBus: 4 })
      .function('0000:04:00.0', NIC)
      .toPciFunctions();
    const plain = buildMachine(fns);
    expect(at(plain, '0000:04:00.0').untrusted).toBe(false);
    const marked = buildMachine(fns, { externalFacing: ['00:02.0'] });
    expect(at(marked, '0000:00:02.0').externalFacing).toBe(true);
    expect(at(marked, '0000:04:00.0').untrusted).toBe(true);
  });

  it('rejects an option naming a function that is not there, or not a BDF', () => {
    const fns = new MachineBuilder().function('0000:04:00.0', NIC).toPciFunctions();
    expect(() => buildMachine(fns, { externalFacing: ['0000:09:00.0'] })).toThrow(InputError);
    expect(() => buildMachine(fns, { externalFacing: ['not-a-bdf'] })).toThrow(InputError);
  });

  it('gives a VF behind an external-facing port the PF bridge, and so untrusted', () => {
    const vm = new MachineBuilder()
      .rootPort('0000:00:01.0', { secondaryBus: 1, subordinateBus: 1, externalFacing: true })
      .function('0000:01:00.0', {
        ...NIC,
        sriov: { totalVFs: 4, numVFs: 2, vfEnable: true, firstVfOffset: 1, vfStride: 1, vfDeviceId: 0x101e },
      })
      .build();
    expect(at(vm, '0000:01:00.1').untrusted).toBe(true);
    expect(bdfOf(vm, at(vm, '0000:01:00.1').parent)).toBe('0000:00:01.0');
  });
});

describe('SR-IOV VFs', () => {
  it('places VF n at PF RID + offset + n * stride, crossing into the next bus', () => {
    const fns = pfOnly('0000:05:00.0', { numVFs: 4, firstVfOffset: 0xfe, vfStride: 1 }, (b) =>
      b.rootPort('0000:00:03.0', { secondaryBus: 5, subordinateBus: 6 }),
    );
    const m = buildMachine(fns);
    const pf = at(m, '0000:05:00.0');
    // RIDs 0x05fe, 0x05ff, 0x0600, 0x0601.
    expect(pf.vfs.map((i) => bdfOf(m, i))).toEqual([
      '0000:05:1f.6',
      '0000:05:1f.7',
      '0000:06:00.0',
      '0000:06:00.1',
    ]);
    for (const i of pf.vfs) {
      const vf = m.functions[i]!;
      expect(vf.isVirtfn).toBe(true);
      expect(vf.physfn).toBe(pf.index);
      // pci_upstream_bridge() goes to the PF first: the VF on bus 06 has the PF's bridge.
      expect(bdfOf(m, vf.parent)).toBe('0000:00:03.0');
    }
    expect(codes(m)).toEqual([]);
  });

  it('uses the stride between VFs', () => {
    const fns = pfOnly('0000:03:00.0', { numVFs: 3, firstVfOffset: 0x80, vfStride: 2 });
    const m = buildMachine(fns);
    expect(at(m, '0000:03:00.0').vfs.map((i) => bdfOf(m, i))).toEqual([
      '0000:03:10.0',
      '0000:03:10.2',
      '0000:03:10.4',
    ]);
  });

  it('infers VFs the input does not list, with what the PF says and nothing more', () => {
    const fns = pfOnly('0000:03:00.0', { numVFs: 2, firstVfOffset: 1, vfStride: 1 });
    const m = buildMachine(fns);
    const vf = at(m, '0000:03:00.2');
    expect(vf.isVirtfn).toBe(true);
    expect(bdfOf(m, vf.physfn)).toBe('0000:03:00.0');
    expect(vf.fn.sourceKind).toBe('sriov-inferred');
    expect(vf.fn.config).toBeNull();
    expect(vf.fn.header.vendorId).toBe(0x15b3);
    expect(vf.fn.header.deviceId).toBe(0x101e);
    expect(vf.fn.physfnHint).toBe('0000:03:00.0');
    expect(vf.fn.capabilities).toBeNull();
    expect(vf.fn.ats).toBeNull();
    for (const u of ['capabilities', 'ats', 'sriov', 'pasid', 'pri', 'acs', 'cxl'])
      expect(vf.fn.unknown).toContain(u);
  });

  it('links listed functions at VF addresses to their PF and gives them the kernel IDs (virtfn_add)', () => {
    const fns = new MachineBuilder()
      .function('0000:03:00.0', {
        ...NIC,
        sriov: {
          totalVFs: 4,
          numVFs: 2,
          vfEnable: true,
          firstVfOffset: 1,
          vfStride: 1,
          vfDeviceId: 0x101e,
          vf: { ats: {} },
        },
      })
      .toPciFunctions()
      .map((f) => {
        if (f.physfnHint === null) return f;
        // As a real dump shows a VF: no link to its PF, ID registers all ones.
        const config = f.config!.clone();
        config.write32(0, 0xffffffff);
        return {
          ...f,
          physfnHint: null,
          config,
          header: { ...f.header, vendorId: 0xffff, deviceId: 0xffff },
        };
      });
    const m = buildMachine(fns);
    const vf = at(m, '0000:03:00.1');
    expect(vf.isVirtfn).toBe(true);
    expect(vf.fn.sourceKind).toBe('builder');
    expect(vf.fn.ats).not.toBeNull();
    expect(vf.fn.header.vendorId).toBe(0x15b3);
    expect(vf.fn.header.deviceId).toBe(0x101e);
    expect(at(m, '0000:03:00.0').vfs).toEqual([m.byBdf.get('0000:03:00.1'), m.byBdf.get('0000:03:00.2')]);
    expect(codes(m)).toEqual([]);
  });

  it('honours physfn hints and says when the PF is missing', () => {
    const [nic] = new MachineBuilder().function('0000:03:00.4', NIC).toPciFunctions();
    const m = buildMachine([{ ...nic!, physfnHint: '0000:03:00.0' }]);
    expect(codes(m)).toContain('vf-without-pf');
    expect(at(m, '0000:03:00.4').isVirtfn).toBe(false);
    expect(at(m, '0000:03:00.4').physfn).toBeNull();
  });

  it('refuses VFs past the end of the bus range, as sriov_enable does', () => {
    const fns = pfOnly('0000:05:00.0', { numVFs: 4, firstVfOffset: 0xfe, vfStride: 1 }, (b) =>
      b.rootPort('0000:00:03.0', { secondaryBus: 5, subordinateBus: 5 }),
    );
    const m = buildMachine(fns);
    expect(codes(m)).toContain('vf-bus-out-of-range');
    expect(at(m, '0000:05:00.0').vfs).toEqual([]);
    expect(m.functions).toHaveLength(2);
  });

  it('refuses VF routing IDs past bus ff', () => {
    // The builder refuses such a PF, so write VF Enable into a disabled one's config space.
    const [pf] = new MachineBuilder()
      .function('0000:ff:00.0', {
        ...NIC,
        sriov: {
          totalVFs: 2,
          numVFs: 2,
          vfEnable: false,
          firstVfOffset: 0xff,
          vfStride: 1,
          vfDeviceId: 0x101e,
        },
      })
      .toPciFunctions();
    const cs = pf!.config!.clone();
    cs.write16(pf!.sriov!.offset + PCI_SRIOV_CTRL, PCI_SRIOV_CTRL_VFE);
    const m = buildMachine([decodeFunction(cs, pf!.bdf, { sourceKind: 'lspci-hex' })]);
    expect(codes(m)).toContain('vf-bus-out-of-range');
    expect(m.functions).toHaveLength(1);
  });

  it('places no VFs for First VF Offset 0, which sriov_init rejects', () => {
    const [pf] = new MachineBuilder()
      .function('0000:03:00.0', {
        ...NIC,
        sriov: { totalVFs: 2, numVFs: 2, vfEnable: false, firstVfOffset: 0, vfStride: 1, vfDeviceId: 0x101e },
      })
      .toPciFunctions();
    const cs = pf!.config!.clone();
    cs.write16(pf!.sriov!.offset + PCI_SRIOV_CTRL, PCI_SRIOV_CTRL_VFE);
    const m = buildMachine([decodeFunction(cs, pf!.bdf, { sourceKind: 'lspci-hex' })]);
    expect(codes(m)).toEqual(['sriov-invalid-offset']);
    expect(m.functions).toHaveLength(1);
  });

  it('does not take a bridge at a VF address as a VF', () => {
    const fns = [
      ...pfOnly('0000:03:00.0', { numVFs: 1, firstVfOffset: 8, vfStride: 1 }),
      ...new MachineBuilder()
        .switchDownstreamPort('0000:03:01.0', { secondaryBus: 4, subordinateBus: 4 })
        .toPciFunctions(),
    ];
    const m = buildMachine(fns);
    expect(codes(m)).toEqual(['vf-conflict']);
    expect(at(m, '0000:03:01.0').isVirtfn).toBe(false);
    expect(at(m, '0000:03:00.0').vfs).toEqual([]);
  });

  it('places no VFs when VF Enable is clear', () => {
    const fns = new MachineBuilder()
      .function('0000:03:00.0', {
        ...NIC,
        sriov: { totalVFs: 4, numVFs: 4, vfEnable: false, firstVfOffset: 1, vfStride: 1, vfDeviceId: 0x101e },
      })
      .toPciFunctions();
    const m = buildMachine(fns);
    expect(m.functions).toHaveLength(1);
    expect(at(m, '0000:03:00.0').vfs).toEqual([]);
  });
});

describe('input problems', () => {
  it('keeps the first of duplicate BDFs and warns', () => {
    const [a] = new MachineBuilder().function('0000:03:00.0', NIC).toPciFunctions();
    const [b] = new MachineBuilder().function('03:00.0', { ...NIC, deviceId: 0x1017 }).toPciFunctions();
    const m = buildMachine([a!, b!]);
    expect(m.functions).toHaveLength(1);
    expect(at(m, '0000:03:00.0').fn.header.deviceId).toBe(0x101d);
    expect(codes(m)).toEqual(['duplicate-bdf']);
  });

  it('ignores a bridge whose secondary bus is not above its own bus', () => {
    const [port] = new MachineBuilder()
      .rootPort('0000:00:01.0', { secondaryBus: 1, subordinateBus: 1 })
      .toPciFunctions();
    const cs = port!.config!.clone();
    cs.write8(0x19, 0);
    const [nic] = new MachineBuilder().function('0000:00:02.0', NIC).toPciFunctions();
    const m = buildMachine([decodeFunction(cs, port!.bdf, { sourceKind: 'lspci-hex' }), nic!]);
    expect(codes(m)).toEqual(['bridge-bus-invalid']);
    expect(at(m, '0000:00:02.0').parent).toBeNull();
  });

  it('warns about a non-bridge marked external-facing', () => {
    const m = new MachineBuilder().function('0000:03:00.0', { ...NIC, externalFacing: true }).build();
    expect(codes(m)).toContain('external-facing-not-bridge');
  });
});

type Tree = { external: boolean; children: Tree[] };

const treeArb = fc.letrec<{ node: Tree }>((tie) => ({
  node: fc.record({
    external: fc.boolean(),
    children: fc.oneof(
      { maxDepth: 4, depthIdentifier: 'tree' },
      fc.constant<Tree[]>([]),
      fc.array(tie('node'), { maxLength: 2, depthIdentifier: 'tree' }),
    ),
  }),
})).node;

interface Placed {
  readonly bdf: string;
  readonly parent: string | null;
  readonly externalAncestor: boolean;
}

/** Lays a forest out as root ports on bus 0, bridges for inner nodes and endpoints for leaves. */
function layOut(roots: Tree[]): { builder: MachineBuilder; placed: Placed[] } {
  const builder = new MachineBuilder();
  const placed: Placed[] = [];
  let nextBus = 1;
  const hex = (n: number): string => n.toString(16).padStart(2, '0');
  const visit = (
    t: Tree,
    bus: number,
    device: number,
    parent: string | null,
    externalAncestor: boolean,
  ): void => {
    const bdf = `0000:${hex(bus)}:${hex(device)}.0`;
    placed.push({ bdf, parent, externalAncestor });
    if (t.children.length === 0) {
      builder.function(bdf, { ...NIC, externalFacing: t.external });
      return;
    }
    const secondary = nextBus++;
    t.children.forEach((c, i) => {
      visit(c, secondary, i, bdf, externalAncestor || t.external);
    });
    const spec = { secondaryBus: secondary, subordinateBus: nextBus - 1, externalFacing: t.external };
    if (parent === null) builder.rootPort(bdf, spec);
    else builder.switchDownstreamPort(bdf, spec);
  };
  roots.forEach((r, i) => {
    visit(r, 0, i + 1, null, false);
  });
  return { builder, placed };
}

describe('property: untrusted iff an ancestor is external-facing', () => {
  it('holds for random trees of bridges and endpoints', () => {
    fc.assert(
      fc.property(fc.array(treeArb, { minLength: 1, maxLength: 4 }), (roots) => {
        const { builder, placed } = layOut(roots);
        const m = builder.build();
        expect(m.functions).toHaveLength(placed.length);
        for (const p of placed) {
          const f = at(m, p.bdf);
          expect(bdfOf(m, f.parent)).toBe(p.parent);
          expect(f.untrusted).toBe(p.externalAncestor);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('scale', () => {
  it('builds 30,000 functions with inferred VFs and an external-facing port (speed: npm run bench)', () => {
    const template = new MachineBuilder()
      .function('0000:01:00.0', NIC)
      .function('0000:01:01.0', {
        ...NIC,
        sriov: { totalVFs: 7, numVFs: 7, vfEnable: true, firstVfOffset: 1, vfStride: 1, vfDeviceId: 0x101e },
      })
      .rootPort('0000:00:01.0', { secondaryBus: 1, subordinateBus: 1 })
      .toPciFunctions();
    const plain = template.find((f) => f.bdf === '0000:01:00.0')!;
    const pf = template.find((f) => f.bdf === '0000:01:01.0')!;
    const port = template.find((f) => f.bdf === '0000:00:01.0')!;
    const hex = (n: number): string => n.toString(16).padStart(2, '0');
    const fns: PciFunction[] = [];
    let count = 0;
    for (let bus = 1; count < 30_000; bus++) {
      const portBdf = `0000:00:${hex((bus - 1) >> 3)}.${(bus - 1) & 7}`;
      fns.push({ ...port, bdf: portBdf, header: { ...port.header, secondaryBus: bus, subordinateBus: bus } });
      count++;
      for (let dev = 0; dev < 32; dev++) {
        // Every other device is a PF with 7 VFs the topology infers.
        if (dev % 2 === 0) {
          fns.push({ ...pf, bdf: `0000:${hex(bus)}:${hex(dev)}.0` });
          count += 8;
        } else
          for (let fn = 0; fn < 8; fn++) {
            fns.push({ ...plain, bdf: `0000:${hex(bus)}:${hex(dev)}.${fn}` });
            count++;
          }
      }
    }
    const m = buildMachine(fns, { externalFacing: ['0000:00:00.0'] });
    expect(m.functions.length).toBeGreaterThanOrEqual(30_000);
    expect(m.diagnostics).toEqual([]);
    expect(m.functions.filter((f) => f.untrusted)).toHaveLength(256);
  });
});
