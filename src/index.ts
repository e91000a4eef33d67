/** atsim's public library API. */
export * from './diagnostics.js';
export * from './pci/bdf.js';
export * from './pci/config-space.js';
export * from './pci/capability-ids.js';
export * from './pci/capabilities.js';
export * from './pci/function.js';
export * from './pci/decode.js';
export * from './pci/caps/express.js';
export * from './pci/caps/ats.js';
export * from './pci/caps/sriov.js';
export * from './pci/caps/pasid.js';
export * from './pci/caps/pri.js';
export * from './pci/caps/acs.js';
export * from './pci/caps/dvsec.js';
