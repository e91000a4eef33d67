/** Capability IDs (include/uapi/linux/pci_regs.h) and the names lspci prints for them. */

export const PCI_CAP_ID_PM = 0x01;
export const PCI_CAP_ID_MSI = 0x05;
export const PCI_CAP_ID_PCIX = 0x07;
export const PCI_CAP_ID_VNDR = 0x09;
export const PCI_CAP_ID_EXP = 0x10;
export const PCI_CAP_ID_MSIX = 0x11;

export const PCI_EXT_CAP_ID_ERR = 0x01;
export const PCI_EXT_CAP_ID_DSN = 0x03;
export const PCI_EXT_CAP_ID_VNDR = 0x0b;
export const PCI_EXT_CAP_ID_ACS = 0x0d;
export const PCI_EXT_CAP_ID_ARI = 0x0e;
export const PCI_EXT_CAP_ID_ATS = 0x0f;
export const PCI_EXT_CAP_ID_SRIOV = 0x10;
export const PCI_EXT_CAP_ID_PRI = 0x13;
export const PCI_EXT_CAP_ID_PASID = 0x1b;
export const PCI_EXT_CAP_ID_DVSEC = 0x23;

export const STD_CAP_NAMES: Readonly<Record<number, string>> = {
  0x01: 'Power Management',
  0x02: 'AGP',
  0x03: 'Vital Product Data',
  0x04: 'Slot Identification',
  0x05: 'MSI',
  0x06: 'CompactPCI hot-swap',
  0x07: 'PCI-X',
  0x08: 'HyperTransport',
  0x09: 'Vendor Specific Information',
  0x0a: 'Debug port',
  0x0b: 'CompactPCI central resource control',
  0x0c: 'PCI Standard Hot-Plug Controller',
  0x0d: 'Subsystem',
  0x0e: 'AGP3',
  0x0f: 'Secure device',
  0x10: 'Express',
  0x11: 'MSI-X',
  0x12: 'SATA HBA',
  0x13: 'PCI Advanced Features',
  0x14: 'PCI Enhanced Allocation',
  0x15: 'Flattening Portal Bridge',
};

export const EXT_CAP_NAMES: Readonly<Record<number, string>> = {
  0x00: 'Null',
  0x01: 'Advanced Error Reporting',
  0x02: 'Virtual Channel',
  0x03: 'Device Serial Number',
  0x04: 'Power Budgeting',
  0x05: 'Root Complex Link',
  0x06: 'Root Complex Internal Link Control',
  0x07: 'Root Complex Event Collector',
  0x08: 'Multi-Function Virtual Channel',
  0x09: 'Virtual Channel',
  0x0a: 'Root Complex Register Block',
  0x0b: 'Vendor Specific Information',
  0x0c: 'Configuration Access Correlation',
  0x0d: 'Access Control Services',
  0x0e: 'Alternative Routing-ID Interpretation (ARI)',
  0x0f: 'Address Translation Service (ATS)',
  0x10: 'Single Root I/O Virtualization (SR-IOV)',
  0x11: 'Multi-Root I/O Virtualization (MR-IOV)',
  0x12: 'Multicast',
  0x13: 'Page Request Interface (PRI)',
  0x15: 'Resizable BAR',
  0x16: 'Dynamic Power Allocation',
  0x17: 'TPH Requester',
  0x18: 'Latency Tolerance Reporting',
  0x19: 'Secondary PCI Express',
  0x1a: 'Protocol Multiplexing',
  0x1b: 'Process Address Space ID (PASID)',
  0x1c: 'LN Requester',
  0x1d: 'Downstream Port Containment',
  0x1e: 'L1 PM Substates',
  0x1f: 'Precision Time Measurement',
  0x20: 'PCI-M-PCIe',
  0x21: 'FRS Queueing',
  0x22: 'Readiness Time Reporting',
  0x23: 'Designated Vendor-Specific',
  0x24: 'VF Resizable BAR',
  0x25: 'Data Link Feature',
  0x26: 'Physical Layer 16.0 GT/s',
  0x27: 'Lane Margining at the Receiver',
  0x28: 'Hierarchy ID',
  0x29: 'Native PCIe Enclosure Management',
  0x2a: 'Physical Layer 32.0 GT/s',
  0x2b: 'Alternate Protocol',
  0x2c: 'System Firmware Intermediary',
  0x2d: 'Shadow Functions',
  0x2e: 'Data Object Exchange',
  0x2f: 'Device 3',
  0x30: 'Integrity & Data Encryption',
  0x31: 'Physical Layer 64.0 GT/s',
};

export function stdCapName(id: number): string {
  return STD_CAP_NAMES[id] ?? `Unknown capability 0x${id.toString(16).padStart(2, '0')}`;
}

export function extCapName(id: number): string {
  return EXT_CAP_NAMES[id] ?? `Unknown extended capability 0x${id.toString(16).padStart(4, '0')}`;
}
