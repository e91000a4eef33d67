/**
 * A PCI function as atsim knows it from its input: identity, header, capabilities, and what the
 * input could not show. Every importer (lspci hex, lspci text, sysfs, machine files, the builder)
 * produces this same record. A field the input cannot show is null and its name is listed in
 * `unknown`; nothing is invented.
 */
import type { Diagnostic, FileLocation } from '../diagnostics.js';
import type { Bdf } from './bdf.js';
import type { CapabilityRef } from './capabilities.js';
import type { ConfigSpace } from './config-space.js';
import type { AcsCap } from './caps/acs.js';
import type { AtsCap } from './caps/ats.js';
import type { CxlDeviceDvsec, DvsecHeader } from './caps/dvsec.js';
import type { ExpressCap } from './caps/express.js';
import type { PasidCap } from './caps/pasid.js';
import type { PriCap } from './caps/pri.js';
import type { SriovCap } from './caps/sriov.js';

export interface PciHeader {
  readonly vendorId: number | null;
  readonly deviceId: number | null;
  readonly revision: number | null;
  /** 24-bit class code: base class << 16 | subclass << 8 | prog-if. */
  readonly classCode: number | null;
  /** Header layout (0 normal, 1 bridge, 2 CardBus), bit 7 stripped. */
  readonly headerLayout: number | null;
  readonly multiFunction: boolean | null;
  readonly subsystemVendorId: number | null;
  readonly subsystemId: number | null;
  /** Bridges only (header layout 1). */
  readonly secondaryBus: number | null;
  readonly subordinateBus: number | null;
}

/** How the record was obtained, for error messages and the "hex wins" merge. */
export type PciSourceKind =
  'lspci-hex' | 'lspci-text' | 'sysfs' | 'machine-file' | 'builder' | 'sriov-inferred';

export interface PciFunction {
  readonly bdf: Bdf;
  readonly sourceKind: PciSourceKind;
  readonly source: FileLocation | null;
  /** Raw config space when the input had bytes; null for text-only input. */
  readonly config: ConfigSpace | null;
  readonly header: PciHeader;
  /** Every capability found, in list order; null when the input could not show the list. */
  readonly capabilities: readonly CapabilityRef[] | null;
  /** False when the input did not include extended config space (a 64/256-byte dump). */
  readonly extCapsReadable: boolean | null;
  readonly express: ExpressCap | null;
  readonly ats: AtsCap | null;
  readonly sriov: SriovCap | null;
  readonly pasid: PasidCap | null;
  readonly pri: PriCap | null;
  readonly acs: AcsCap | null;
  readonly dvsecs: readonly DvsecHeader[];
  readonly cxl: CxlDeviceDvsec | null;
  /** Firmware marking (ACPI ExternalFacingPort, DT external-facing). Null: the input cannot show it. */
  readonly externalFacing: boolean | null;
  /** The kernel driver bound, when the input says (lspci "Kernel driver in use", sysfs driver link). */
  readonly driver: string | null;
  /** A VF listed explicitly by the input, linked to its PF (sysfs physfn). Null: derive from SR-IOV. */
  readonly physfnHint: Bdf | null;
  /** Names of fields the input could not show. */
  readonly unknown: readonly string[];
  readonly diagnostics: readonly Diagnostic[];
}
