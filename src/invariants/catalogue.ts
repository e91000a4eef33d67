/**
 * The invariant catalogue: every invariant the model checks after each step, in the order of
 * section g of the reference notes (kernel-semantics.md), then the functional failures. Each
 * checker is O(state) and allocates nothing while its invariant holds. Every modelled WARN_ON is a
 * violation too (`warn:<kernel function>`), added by checkInvariants(); WARN_SITES lists the ones
 * the invariants rely on. docs/invariants.md is generated from here (renderInvariantsDoc()).
 */
import type { Invariant } from './invariant.js';
import {
  atsCtrlAgrees,
  atsImpliesEats,
  atsRequiredOn,
  blockedAtsOff,
  nrAtsMasters,
  pasidBeforeAts,
  pasidKeepsAts,
  smmuPciAtsAgree,
} from './ats.js';
import { failedAttachIntact } from './attach.js';
import {
  atsRequiredButOff,
  invalidationTimeout,
  msiDoorbellUnmapped,
  noStaleTranslation,
} from './functional.js';
import { dmaOwnership, oneRidDomainPerGroup, requireDirectNotBlocked } from './groups.js';
import { atcInvTarget, invsCoverAttachments, iotlbTagsClean, noStaleCacheEntry } from './invalidation.js';
import { pasidAllocation } from './pasid.js';
import { resetDepthBalance, resetFenced, resetFencing } from './reset.js';
import {
  atsCapStable,
  stuProgrammedAtProbe,
  untrustedNoAts,
  untrustedPropagates,
  vfAtsFollowsPf,
  vfStuFollowsPf,
} from './trust.js';

export const INVARIANTS: readonly Invariant[] = [
  nrAtsMasters,
  smmuPciAtsAgree,
  atsCtrlAgrees,
  untrustedNoAts,
  untrustedPropagates,
  vfStuFollowsPf,
  vfAtsFollowsPf,
  atsCapStable,
  failedAttachIntact,
  stuProgrammedAtProbe,
  atsImpliesEats,
  atcInvTarget,
  invsCoverAttachments,
  iotlbTagsClean,
  blockedAtsOff,
  atsRequiredOn,
  pasidKeepsAts,
  resetFencing,
  resetDepthBalance,
  resetFenced,
  requireDirectNotBlocked,
  oneRidDomainPerGroup,
  dmaOwnership,
  pasidAllocation,
  pasidBeforeAts,
  noStaleCacheEntry,
  atsRequiredButOff,
  msiDoorbellUnmapped,
  invalidationTimeout,
  noStaleTranslation,
];

const BY_ID = new Map(INVARIANTS.map((i) => [i.id, i]));

/** The invariant with this id, or undefined. */
export function invariantById(id: string): Invariant | undefined {
  return BY_ID.get(id);
}

/** The kernel invariants (kind 'kernel') and the functional failures (kind 'functional'). */
export const KERNEL_INVARIANTS: readonly Invariant[] = INVARIANTS.filter((i) => i.kind === 'kernel');
export const FUNCTIONAL_INVARIANTS: readonly Invariant[] = INVARIANTS.filter((i) => i.kind === 'functional');

/** A modelled WARN_ON that the catalogue relies on: it reports as the violation `warn:<site>`. */
export interface WarnSite {
  readonly site: string;
  /** The section-g invariant it guards. */
  readonly ref: number;
  readonly condition: string;
}

export const WARN_SITES: readonly WarnSite[] = [
  {
    site: 'pci_enable_ats',
    ref: 3,
    condition: 'WARN_ON(dev->ats_enabled): enabling ATS that is already on (-EBUSY)',
  },
  {
    site: 'pci_disable_ats',
    ref: 3,
    condition: 'WARN_ON(!dev->ats_enabled): disabling ATS that is off (thread 4)',
  },
  {
    site: 'arm_smmu_enable_ats',
    ref: 9,
    condition:
      'v7.3 (d23da7b8d63e): pci_enable_ats() failed in arm_smmu_attach_commit(), treated as a kernel bug',
  },
  {
    site: '__iommu_group_set_domain_nofail',
    ref: 9,
    condition: 'a MUST_SUCCEED domain change failed (the device fell back to the blocking domain)',
  },
  {
    site: '__iommu_group_set_domain_internal',
    ref: 9,
    condition: 'reverting the devices of a failed group attach to group->domain failed',
  },
  {
    site: 'pci_prepare_ats',
    ref: 10,
    condition: 'WARN_ON(dev->ats_enabled): programming the STU under enabled ATS',
  },
  {
    site: 'arm_smmu_invs_unref',
    ref: 13,
    condition: 'an invalidation-array entry to unreference is not in the array',
  },
  {
    site: 'pci_dev_reset_iommu_prepare',
    ref: 17,
    condition: 'a nested prepare without reset_depth (re-entry), or no group_device',
  },
  {
    site: 'pci_dev_reset_iommu_done',
    ref: 17,
    condition:
      'unbalanced done() (reset_depth or recovery_cnt already 0), or re-attaching after the reset failed',
  },
  {
    site: 'iommu_device_unuse_default_domain',
    ref: 21,
    condition: 'owner_cnt already 0, or PASIDs still attached when a kernel driver lets go',
  },
  {
    site: '__iommu_release_dma_ownership',
    ref: 21,
    condition: 'releasing ownership of a group that is not owned or still has PASIDs',
  },
  { site: 'iommu_free_global_pasid', ref: 22, condition: 'WARN_ON(pasid == IOMMU_PASID_INVALID)' },
  { site: 'pci_enable_pasid', ref: 23, condition: 'WARN_ON(pdev->pasid_enabled): enabling PASID twice' },
  {
    site: 'pci_disable_pasid',
    ref: 23,
    condition: 'WARN_ON(!pdev->pasid_enabled): disabling PASID that is off',
  },
];

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** docs/invariants.md, generated (scripts/gen-invariants-doc.ts writes it; a test compares). */
export function renderInvariantsDoc(): string {
  const lines: string[] = [
    '# Invariants',
    '',
    '<!-- Generated from src/invariants/catalogue.ts by `npx tsx scripts/gen-invariants-doc.ts`. Do not edit. -->',
    '',
    'After every step of the kernel model, `checkInvariants()` (`src/invariants/invariant.ts`) runs each',
    'checker of the catalogue (`INVARIANTS` in `src/invariants/catalogue.ts`) over the new state and the',
    "step's events. A violation names the invariant by its id, says what breaks it and, where one",
    'function is to blame, its BDF.',
    '',
    '- **kernel** invariants are what the kernel developers hold the code to. Most are numbered after',
    '  section g of the reference notes (`kernel-semantics.md`, "Invariants the developers clearly',
    '  care about"); the `g` column gives the number.',
    '- **functional** invariants are failures a user of the machine feels, whatever the kernel',
    '  believes: a device that cannot reach memory, lost interrupts, timeouts, corrupted memory.',
    '',
    'Checks that compare the IOMMU driver with the PCI function, or domains with their masters, run',
    'only at quiescent points: when no thread is in the middle of a split operation (a reset in',
    'progress, an unmap waiting for its CMD_SYNC).',
    '',
    'The checkers are incremental (`src/invariants/incremental.ts`): states are copy-on-write, so',
    'each invariant remembers its findings per function (or group) at the last state it checked and',
    'recomputes only where the records it reads were replaced since. A test checks that this finds',
    'exactly what a check from scratch finds.',
    '',
    '| id | g | kind | statement | source |',
    '|---|---|---|---|---|',
  ];
  for (const i of INVARIANTS)
    lines.push(`| \`${i.id}\` | ${i.ref ?? ''} | ${i.kind} | ${cell(i.statement)} | ${cell(i.source)} |`);
  const covered = new Set(INVARIANTS.map((i) => i.ref).filter((r) => r !== undefined));
  lines.push(
    '',
    `Section g items covered: ${[...covered].sort((a, b) => a - b).join(', ')}.`,
    '',
    '## WARN_ON sites: `warn:<site>`',
    '',
    'Every `WARN_ON` the model reaches is a `warn` event, and `checkInvariants()` reports each as the',
    'violation `warn:<site>`, where the site is the kernel function holding the `WARN_ON` (for example',
    '`warn:pci_disable_ats`, the warning of thread 4). No catalogue entry repeats them. The sites below',
    'guard section-g invariants; any other modelled `WARN_ON` reports the same way.',
    '',
    '| violation | g | condition |',
    '|---|---|---|',
  );
  for (const w of WARN_SITES) lines.push(`| \`warn:${w.site}\` | ${w.ref} | ${cell(w.condition)} |`);
  lines.push(
    '',
    '## Limits',
    '',
    '- `failed-attach-intact` sees the state after the step and its events, not the state before: it',
    "  checks that a failed attach leaves every function it touched on its RID domain's STE with ATS",
    '  where it was, but cannot see a failed attach that moved `group->domain` together with every STE.',
    '- `untrusted-propagates` is a property of the machine and is computed once per world.',
    '- `ats-required-but-off` asks whether the function needs ATS (its PF is CXL.cache-capable or a',
    '  pre-CXL coherent part, and ATS is supported), not whether the kernel knows it does, so it also',
    '  reports kernels before v7.2, which have no `pci_ats_required()`.',
    '',
  );
  return lines.join('\n');
}
