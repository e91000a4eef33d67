/**
 * An x86 test machine for the VT-d and AMD-Vi driver tests:
 *  - 00:02.0 root port (ACS RR/UF, End-End TLP Prefixes) -> 01:00.0 "nic": ATS (Page Aligned Request, queue depth 32), PASID width 8, FLR;
 *  - 00:03.0 root port -> 02:00.0 "blk": ATS (Page Aligned Request, queue depth 8), FLR;
 *  - 00:04.0 root port -> 03:00.0 "unaligned": ATS without Page Aligned Request;
 *  - 00:05.0 root port -> 05:00.0 PCIe-to-PCI bridge -> 06:00.0 "legacy": ATS behind a conventional PCI path.
 */
import { MachineBuilder } from '../../../src/pci/builder.js';
import type { Machine } from '../../../src/pci/topology.js';

export const NIC = '0000:01:00.0';
export const BLK = '0000:02:00.0';
export const UNALIGNED = '0000:03:00.0';
export const BEHIND_PCI = '0000:06:00.0';
export const PORT_NIC = '0000:00:02.0';

export function x86Machine(): Machine {
  return new MachineBuilder()
    .rootPort('00:02.0', {
      secondaryBus: 1,
      subordinateBus: 1,
      eeTlpPrefix: true,
      acs: { capability: ['SV', 'RR', 'CR', 'UF'], control: ['SV', 'RR', 'CR', 'UF'] },
    })
    .function('01:00.0', {
      vendorId: 0x1af4,
      deviceId: 0x1041,
      flr: true,
      ats: { pageAligned: true, queueDepth: 32 },
      pasid: { width: 8, priv: true },
    })
    .rootPort('00:03.0', { secondaryBus: 2, subordinateBus: 2 })
    .function('02:00.0', {
      vendorId: 0x1af4,
      deviceId: 0x1042,
      flr: true,
      ats: { pageAligned: true, queueDepth: 8 },
    })
    .rootPort('00:04.0', { secondaryBus: 3, subordinateBus: 3 })
    .function('03:00.0', { vendorId: 0x1af4, deviceId: 0x1045, flr: true, ats: { pageAligned: false } })
    .rootPort('00:05.0', { secondaryBus: 5, subordinateBus: 6 })
    .function('05:00.0', {
      portType: 'pcie-to-pci-bridge',
      vendorId: 0x1b36,
      deviceId: 0x000e,
      secondaryBus: 6,
      subordinateBus: 6,
    })
    .function('06:00.0', { vendorId: 0x1af4, deviceId: 0x1046, ats: { pageAligned: true } })
    .build();
}
