/**
 * Small machines for the IOMMU core and PCI flow tests, built with the MachineBuilder:
 *  - 00:01.0 root port -> 01:00.0 "dsa": ATS, PASID width 8 (max_pasids 256), FLR;
 *  - 00:02.0 root port -> 02:00.0 / 02:00.1 "nic0"/"nic1": two ATS functions, FLR (a group of two
 *    when the test asks for it);
 *  - 00:03.0 external-facing root port -> 03:00.0 "ext": untrusted, with ATS;
 *  - 00:04.0 root port -> 04:00.0 "pf": SR-IOV PF (TotalVFs 4, VF Enable off, offset 1, stride 1)
 *    with ATS: the world adds VF slots 04:00.1, 04:00.2.
 */
import { MachineBuilder } from '../../../src/pci/builder.js';
import type { Machine } from '../../../src/pci/topology.js';

export const DSA = '0000:01:00.0';
export const NIC0 = '0000:02:00.0';
export const NIC1 = '0000:02:00.1';
export const PORT2 = '0000:00:02.0';
export const EXT = '0000:03:00.0';
export const PF = '0000:04:00.0';
export const VF0 = '0000:04:00.1';
export const VF1 = '0000:04:00.2';

export function testMachine(): Machine {
  return new MachineBuilder()
    .rootPort('00:01.0', { secondaryBus: 1, subordinateBus: 1 })
    .function('01:00.0', {
      vendorId: 0x8086,
      deviceId: 0x0b25,
      flr: true,
      ats: {},
      pasid: { width: 8, priv: true },
    })
    .rootPort('00:02.0', { secondaryBus: 2, subordinateBus: 2 })
    .function('02:00.0', { vendorId: 0x15b3, deviceId: 0x101d, flr: true, ats: {} })
    .function('02:00.1', { vendorId: 0x15b3, deviceId: 0x101d, flr: true, ats: {} })
    .rootPort('00:03.0', { secondaryBus: 3, subordinateBus: 3, externalFacing: true })
    .function('03:00.0', { vendorId: 0x10de, deviceId: 0x2684, flr: true, ats: {} })
    .rootPort('00:04.0', { secondaryBus: 4, subordinateBus: 4 })
    .function('04:00.0', {
      vendorId: 0x15b3,
      deviceId: 0x101d,
      flr: true,
      ats: {},
      sriov: { totalVFs: 4, firstVfOffset: 1, vfStride: 1, vfDeviceId: 0x101e },
    })
    .build();
}
