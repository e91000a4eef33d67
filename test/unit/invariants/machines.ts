/** Small machines for checker tests: a root port with ACS and End-End TLP prefixes, endpoints below it. */
import { MachineBuilder, type AcsSpec, type FunctionSpec } from '../../../src/pci/builder.js';
import type { Machine } from '../../../src/pci/topology.js';

export const RP = '0000:00:01.0';
const RP_ACS: AcsSpec = { capability: ['SV', 'RR', 'CR', 'UF'], control: ['SV', 'RR', 'CR', 'UF'] };

/** A root port (bus 1 below it) and the given endpoints on bus 1. */
export function machine(
  endpoints: Readonly<Record<string, FunctionSpec>>,
  opts: { readonly externalFacing?: boolean; readonly rootPortAcs?: AcsSpec } = {},
): Machine {
  const b = new MachineBuilder().rootPort(RP, {
    secondaryBus: 1,
    subordinateBus: 1,
    eeTlpPrefix: true,
    acs: opts.rootPortAcs ?? RP_ACS,
    externalFacing: opts.externalFacing ?? false,
  });
  for (const [bdf, spec] of Object.entries(endpoints)) b.function(bdf, spec);
  return b.build();
}

/** An ATS endpoint with PASID (width 8). */
export const EP_PASID: FunctionSpec = { vendorId: 0x15b3, deviceId: 0x1021, ats: {}, pasid: { width: 8 } };
/** An ATS endpoint without PASID. */
export const EP_ATS: FunctionSpec = { vendorId: 0x15b3, deviceId: 0x1022, ats: {} };
/** An endpoint without ATS. */
export const EP_PLAIN: FunctionSpec = { vendorId: 0x8086, deviceId: 0x10d3 };
/** A CXL.cache-capable ATS endpoint (needs ATS to reach host memory). */
export const EP_CXL: FunctionSpec = {
  vendorId: 0x1e98,
  deviceId: 0x0001,
  ats: {},
  cxl: { cacheCapable: true },
};

export const A = '0000:01:00.0';
export const B = '0000:01:01.0';
export const C = '0000:01:02.0';

/** Root port, A (ATS + PASID), B (ATS), C (no ATS). */
export function basicMachine(): Machine {
  return machine({ [A]: EP_PASID, [B]: EP_ATS, [C]: EP_PLAIN });
}

/** An SR-IOV PF at 01:00.0 with two VFs (01:00.1, 01:00.2) that have ATS. */
export function sriovMachine(pf: Partial<FunctionSpec> = {}): Machine {
  return machine({
    [A]: {
      vendorId: 0x15b3,
      deviceId: 0x101d,
      ats: {},
      sriov: {
        totalVFs: 4,
        numVFs: 2,
        vfEnable: true,
        firstVfOffset: 1,
        vfStride: 1,
        vfDeviceId: 0x101e,
        vf: { ats: {} },
      },
      ...pf,
    },
  });
}
export const VF0 = '0000:01:00.1';
export const VF1 = '0000:01:00.2';
