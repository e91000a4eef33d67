import { describe, expect, it } from 'vitest';
import { resolveKernel } from '../../../src/kernel/config.js';
import { pci_ats_supported } from '../../../src/pci/ats.js';
import { PCI_ACS } from '../../../src/pci/caps/acs.js';
import { PCI_EXP_TYPE } from '../../../src/pci/caps/express.js';
import type { PciFunction } from '../../../src/pci/function.js';
import {
  bdfOrder,
  createPciCtx,
  initialPciDevs,
  pciDevInfoFromMachine,
  type PciMachine,
  type PciMachineFunction,
} from '../../../src/pci/pci-dev.js';

interface FnOpts {
  readonly vendor?: number | null;
  readonly device?: number | null;
  readonly revision?: number | null;
  readonly multiFunction?: boolean;
  readonly portType?: number | null;
  readonly ee?: boolean | null;
  readonly acs?: { readonly cap: number; readonly ctrl: number } | null;
  readonly ats?: Partial<NonNullable<PciFunction['ats']>> | null;
  readonly pasid?: Partial<NonNullable<PciFunction['pasid']>> | null;
  readonly pri?: Partial<NonNullable<PciFunction['pri']>> | null;
  readonly cxlCache?: boolean | null;
}

/** A PciFunction record written by hand (no builder): only what pci-dev.ts reads is meaningful. */
function fnRecord(bdf: string, o: FnOpts): PciFunction {
  return {
    bdf,
    sourceKind: 'builder',
    source: null,
    config: null,
    header: {
      vendorId: o.vendor === undefined ? 0x15b3 : o.vendor,
      deviceId: o.device === undefined ? 0x1021 : o.device,
      revision: o.revision === undefined ? 0 : o.revision,
      classCode: 0x020000,
      headerLayout: 0,
      multiFunction: o.multiFunction ?? false,
      subsystemVendorId: 0,
      subsystemId: 0,
      secondaryBus: null,
      subordinateBus: null,
    },
    capabilities: null,
    extCapsReadable: true,
    express:
      o.portType === null
        ? null
        : {
            offset: 0x40,
            version: 2,
            portType: o.portType ?? PCI_EXP_TYPE.ENDPOINT,
            slotImplemented: false,
            flrCapable: true,
            initiateFlr: false,
            eeTlpPrefix: o.ee === undefined ? true : o.ee,
          },
    ats:
      o.ats === undefined || o.ats === null
        ? null
        : {
            offset: 0x100,
            queueDepthRaw: 0,
            pageAligned: false,
            globalInvalidate: false,
            enabled: false,
            stuRaw: 0,
            ...o.ats,
          },
    sriov: null,
    pasid:
      o.pasid === undefined || o.pasid === null
        ? null
        : {
            offset: 0x110,
            width: 20,
            exec: false,
            priv: false,
            enabled: false,
            execEnabled: false,
            privEnabled: false,
            ...o.pasid,
          },
    pri:
      o.pri === undefined || o.pri === null
        ? null
        : {
            offset: 0x120,
            enabled: false,
            reset: false,
            responseFailure: false,
            unexpectedPrgIndex: false,
            stopped: true,
            pasidRequired: false,
            capacity: 0x200,
            allocation: 0,
            ...o.pri,
          },
    acs:
      o.acs === undefined || o.acs === null
        ? null
        : { offset: 0x140, capability: o.acs.cap, control: o.acs.ctrl },
    dvsecs: [],
    cxl:
      o.cxlCache === undefined
        ? null
        : {
            offset: 0x200,
            revision: 1,
            cacheCapable: o.cxlCache,
            ioCapable: true,
            memCapable: false,
            hdmCount: 0,
            cacheEnabled: false,
          },
    externalFacing: null,
    driver: null,
    physfnHint: null,
    unknown: [],
    diagnostics: [],
  };
}

interface Node {
  readonly bdf: string;
  readonly parent: number | null;
  readonly o: FnOpts;
  readonly vfOf?: number;
  readonly untrusted?: boolean;
  readonly externalFacing?: boolean;
}

function machineOf(nodes: readonly Node[]): PciMachine {
  const functions: PciMachineFunction[] = nodes.map((n, index) => ({
    fn: fnRecord(n.bdf, n.o),
    index,
    parent: n.parent,
    isVirtfn: n.vfOf !== undefined,
    physfn: n.vfOf ?? null,
    externalFacing: n.externalFacing ?? false,
    untrusted: n.untrusted ?? false,
  }));
  return { functions };
}

const RR_UF = PCI_ACS.RR | PCI_ACS.UF;

// 0 RP -> 1 USP -> {2 DSP (ACS RR+UF), 5 DSP (ACS cap RR+UF, only RR on, no EE prefix), 7 DSP (cap RR only)}
const NODES: readonly Node[] = [
  {
    bdf: '0000:00:01.0',
    parent: null,
    o: { portType: PCI_EXP_TYPE.ROOT_PORT, acs: { cap: RR_UF | PCI_ACS.SV, ctrl: RR_UF | PCI_ACS.SV } },
    externalFacing: true,
  },
  { bdf: '0000:01:00.0', parent: 0, o: { portType: PCI_EXP_TYPE.UPSTREAM }, untrusted: true },
  {
    bdf: '0000:02:00.0',
    parent: 1,
    o: { portType: PCI_EXP_TYPE.DOWNSTREAM, acs: { cap: RR_UF, ctrl: RR_UF } },
    untrusted: true,
  },
  {
    bdf: '0000:03:00.0',
    parent: 2,
    untrusted: true,
    o: {
      ats: { offset: 0x180, queueDepthRaw: 4, pageAligned: true, enabled: true, stuRaw: 4 },
      pasid: { width: 16, exec: true, enabled: true, execEnabled: true },
      pri: { pasidRequired: true, stopped: null, enabled: true, capacity: 0x40, allocation: 0x20 },
    },
  },
  {
    bdf: '0000:03:00.1',
    parent: null,
    vfOf: 3,
    untrusted: true,
    o: { device: 0x101e, ats: { offset: 0x180 } },
  },
  {
    bdf: '0000:02:01.0',
    parent: 1,
    o: { portType: PCI_EXP_TYPE.DOWNSTREAM, ee: false, acs: { cap: RR_UF, ctrl: PCI_ACS.RR } },
  },
  { bdf: '0000:04:00.0', parent: 5, o: {} },
  {
    bdf: '0000:02:02.0',
    parent: 1,
    o: { portType: PCI_EXP_TYPE.DOWNSTREAM, acs: { cap: PCI_ACS.RR, ctrl: PCI_ACS.RR } },
  },
  { bdf: '0000:05:00.0', parent: 7, o: {} },
  { bdf: '0000:06:00.0', parent: 7, o: { multiFunction: true } },
  { bdf: '0000:07:00.0', parent: 7, o: { portType: null } },
  { bdf: '0000:00:02.0', parent: null, o: { portType: PCI_EXP_TYPE.RC_END, cxlCache: true } },
  {
    bdf: '0000:00:03.0',
    parent: null,
    o: { vendor: null, device: null, revision: null, ee: null, cxlCache: null },
  },
  {
    bdf: '0000:00:04.0',
    parent: null,
    o: { vendor: 0x19e5, device: 0xa250, revision: 0x21, portType: PCI_EXP_TYPE.RC_END },
  },
];

describe('pciDevInfoFromMachine', () => {
  const m = machineOf(NODES);
  const infos = pciDevInfoFromMachine(m);

  it('copies identity, trust and capability registers', () => {
    expect(infos[3]).toMatchObject({
      index: 3,
      bdf: '0000:03:00.0',
      vendor: 0x15b3,
      device: 0x1021,
      isVirtfn: false,
      physfn: -1,
      upstreamBridge: 2,
      untrusted: true,
      externalFacing: false,
      atsCapOffset: 0x180,
      atsCapReg: 4 | 0x20,
      pasidCapOffset: 0x110,
      pasidCapReg: (16 << 8) | 0x2,
      priCapOffset: 0x120,
      priMaxReqs: 0x40,
      priStatusPasidRequired: true,
      cxlCacheCapable: false,
    });
    expect(infos[0]).toMatchObject({
      externalFacing: true,
      upstreamBridge: -1,
      atsCapOffset: 0,
      pasidCapOffset: 0,
    });
    expect(infos[11]?.cxlCacheCapable).toBe(true);
  });

  it('links a VF to its PF and takes the PF upstream bridge', () => {
    expect(infos[4]).toMatchObject({ isVirtfn: true, physfn: 3, upstreamBridge: 2, device: 0x101e });
  });

  it('reads unknown IDs as all ones and unknown bits as clear', () => {
    expect(infos[12]).toMatchObject({
      vendor: 0xffff,
      device: 0xffff,
      revision: 0xff,
      cxlCacheCapable: false,
      eeTlpPrefix: false,
    });
  });

  it('computes the End-End TLP Prefix path like pci_configure_eetlp_prefix()', () => {
    expect(infos.map((f) => f.eeTlpPrefix)).toEqual([
      true, // root port with the bit
      true, // USP: bit + root port path
      true,
      true,
      true, // VF via the PF's bridge
      false, // DSP without the bit
      false, // endpoint with the bit below it
      true,
      true,
      true,
      false, // conventional PCI
      true, // RCiEP
      false, // unknown DevCap2
      true,
    ]);
  });

  it('computes pci_acs_path_enabled(dev, NULL, RR|UF) over the function and its bridges', () => {
    expect(infos.map((f) => f.acsPathRrUf)).toEqual([
      true, // root port with RR+UF on
      true, // upstream port: single function, no ACS needed
      true,
      true,
      true,
      false, // DSP with UF capable but off
      false, // below it
      true, // DSP without UF in its capability: hard-wired
      true, // single-function endpoint
      false, // multi-function endpoint without ACS
      false, // conventional PCI never has ACS
      true, // RCiEP alone on the root bus
      true,
      true,
    ]);
  });

  it('flags PASID without TLP prefixes for the Huawei quirk', () => {
    expect(infos.map((f) => f.pasidNoTlp)).toEqual(infos.map((_, i) => i === 13));
  });
});

describe('initialPciDevs', () => {
  it('clears the kernel fields and copies the registers the machine shows', () => {
    const devs = initialPciDevs(machineOf(NODES));
    expect(devs[3]).toEqual({
      atsCap: 0,
      noAts: false,
      atsEnabled: false,
      atsStu: 0,
      atsCtrl: 0x8004,
      priCap: 0,
      priEnabled: false,
      priReqsAlloc: 0,
      priCtrl: 1,
      priAllocReq: 0x20,
      priStopped: true, // unknown Stopped reads as set
      pasidRequired: false,
      pasidCap: 0,
      pasidEnabled: false,
      pasidFeatures: 0,
      pasidCtrl: 0x3,
    });
    expect(devs[0]?.atsCtrl).toBe(0);
  });
});

describe('createPciCtx', () => {
  it('enumerates every function: ATS, PRI and PASID offsets cached, kernel ATS off', () => {
    const ctx = createPciCtx(machineOf(NODES), resolveKernel());
    expect(ctx.dev(3)).toMatchObject({
      atsCap: 0x180,
      priCap: 0x120,
      pasidCap: 0x110,
      pasidRequired: true,
      atsEnabled: false,
    });
    expect(ctx.dev(0).atsCap).toBe(0);
    expect(pci_ats_supported(ctx, 3)).toBe(false); // untrusted below the external-facing root port
  });

  it('leaves ats_cap 0 everywhere under pci=noats', () => {
    const ctx = createPciCtx(machineOf(NODES), resolveKernel(undefined, undefined, 'pci=noats'));
    expect(ctx.devs.every((d) => d.atsCap === 0)).toBe(true);
    expect(ctx.dev(3).priCap).toBe(0x120);
  });

  it('runs in BDF order, not machine order', () => {
    const m = machineOf([
      { bdf: '0000:05:00.0', parent: null, o: { vendor: 0x1002, device: 0x6900, ats: {} } },
      { bdf: '0000:03:00.0', parent: null, o: { vendor: 0x1002, device: 0x98e4, ats: {} } },
      { bdf: '0000:04:00.0', parent: null, o: { ats: {} } },
    ]);
    expect(bdfOrder(pciDevInfoFromMachine(m))).toEqual([1, 2, 0]);
    const ctx = createPciCtx(m, resolveKernel());
    expect(ctx.events.flatMap((e) => (e.kind === 'info' ? [e.bdf] : []))).toEqual([
      '0000:03:00.0',
      '0000:05:00.0',
    ]);
    expect(ctx.devs.map((d) => d.atsCap)).toEqual([0, 0, 0x100]);
  });
});
