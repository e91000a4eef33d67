/**
 * Kernel behaviour switches. Each switch names one change to the kernel (a merged commit, or an
 * alternative that was posted but not merged) that the model can turn on or off. A preset
 * (presets.ts) is the set of switches a kernel release has on; overrides flip single switches.
 *
 * To add a switch: add an entry to SWITCH_DEFS (the id becomes part of `SwitchId`), then list it
 * in the preset that merged it (presets.ts `adds`). Alternatives are in no preset. Regenerate
 * docs/kernel-presets.md with `npx tsx scripts/gen-kernel-presets-doc.ts`.
 */

export type SwitchKind = 'release' | 'alternative';

export interface SwitchCommit {
  /** Abbreviated upstream commit id. */
  readonly id: string;
  /** The commit's subject line. */
  readonly subject: string;
}

/** Where a switch's behaviour comes from: merged commits, or a posted patch that was not merged. */
export type SwitchSource =
  | { readonly kind: 'commits'; readonly commits: readonly SwitchCommit[] }
  | {
      readonly kind: 'thread';
      /** The patch or thread subject. */
      readonly thread: string;
      /** Which message in the thread (author, version, date). */
      readonly message: string;
      readonly url?: string;
    };

interface SwitchBody {
  /** One line: what the kernel does when the switch is on. */
  readonly description: string;
  readonly kind: SwitchKind;
  readonly source: SwitchSource;
}

const SWITCH_DEFS = {
  'ats-required': {
    description:
      'pci_ats_required() exists (CXL.cache-capable or pre-CXL quirked functions) and IOMMU drivers consult it',
    kind: 'release',
    source: {
      kind: 'commits',
      commits: [
        { id: '91561e1dc94b', subject: 'PCI: Add pci_ats_required() for CXL.cache capable devices' },
        { id: '073e63812525', subject: 'PCI: Allow ATS to be always on for pre-CXL devices' },
      ],
    },
  },
  'pci-prepare-ats': {
    description:
      'pci_prepare_ats() exists and IOMMU drivers call it at probe to program a PF STU before ATS is enabled (before it, pci_enable_ats() programs the STU and a VF can enable ATS only after its PF did)',
    kind: 'release',
    source: {
      kind: 'commits',
      commits: [{ id: '2665d975db35', subject: 'iommu: Allow ATS to work on VFs when the PF uses IDENTITY' }],
    },
  },
  'ats-supported-pf-aware': {
    description: 'pci_ats_supported() on a VF also requires its PF to be ATS-supported',
    kind: 'release',
    source: {
      kind: 'commits',
      commits: [{ id: '4f2cd6091ac4', subject: 'PCI/ATS: Ensure pci_ats_supported() is PF-aware for VFs' }],
    },
  },
  'prepare-ats-vf-stu-check': {
    description: "pci_prepare_ats() on a VF fails with -EINVAL unless the PF's STU equals the page shift",
    kind: 'release',
    source: {
      kind: 'commits',
      commits: [{ id: '6fd7c5c81af2', subject: 'PCI/ATS: Validate STU for VFs in pci_prepare_ats()' }],
    },
  },
  'pasid-acs-path': {
    description:
      'pci_enable_pasid() fails with -EINVAL unless ACS Request Redirect and Upstream Forwarding are enabled on the whole path to the root (v6.2)',
    kind: 'release',
    source: {
      kind: 'commits',
      commits: [
        { id: '201007ef707a', subject: 'PCI: Enable PASID only when ACS RR & UF enabled on upstream path' },
      ],
    },
  },
  'ats-quirk-header-fixup': {
    description:
      'ATS quirks run as HEADER fixups and set no_ats before pci_ats_init(), instead of FINAL fixups zeroing ats_cap',
    kind: 'alternative',
    source: {
      kind: 'thread',
      thread: '[PATCH v3] PCI: Ensure ATS disabled via quirk before notifying IOMMU drivers',
      message: 'David Matlack, v3, 2026-04-03; pinged 2026-06-12; merge not verified',
      url: 'https://lkml.iu.edu/hypermail/linux/kernel/2606.1/12056.html',
    },
  },
  'reset-hooks': {
    description:
      'PCI resets call pci_dev_reset_iommu_prepare()/done(): the function is parked on the blocking domain (ATS off) for the reset',
    kind: 'release',
    source: {
      kind: 'commits',
      commits: [
        { id: 'c279e83953d9', subject: 'iommu: Introduce pci_dev_reset_iommu_prepare/done()' },
        { id: 'f5b16b802174', subject: 'PCI: Suspend iommu function prior to resetting a device' },
      ],
    },
  },
  'reset-per-gdev-blocked': {
    description:
      'A reset blocks only the resetting device (gdev->blocked, group->recovery_cnt) instead of a per-group resetting_domain',
    kind: 'release',
    source: {
      kind: 'commits',
      commits: [
        {
          id: 'b296ca1fb43a',
          subject: 'iommu: Replace per-group resetting_domain with per-gdev blocked flag',
        },
      ],
    },
  },
  'reset-depth-nesting': {
    description:
      'pci_dev_reset_iommu_prepare()/done() nest through gdev->reset_depth (cxl_reset_bus_function calls pci_reset_bus_function)',
    kind: 'release',
    source: {
      kind: 'commits',
      commits: [
        {
          id: '0d5fd7a9323c',
          subject:
            'from the v8 series "iommu: Fix pci_dev_reset_iommu_prepare/done()": re-entrant prepare/done (subject not verified)',
        },
      ],
    },
  },
  'reset-nofail-skips-blocked': {
    description:
      'MUST_SUCCEED domain changes during a reset update group->domain but skip the blocked device; done() attaches the new domain',
    kind: 'release',
    source: {
      kind: 'commits',
      commits: [
        {
          id: '5474e6e17a26',
          subject: 'iommu: Fix WARN_ON in __iommu_group_set_domain_nofail() due to reset',
        },
      ],
    },
  },
  'smmu-nr-ats-masters-fix': {
    description:
      'arm_smmu_attach_commit() decrements nr_ats_masters by the old ATS state (master->ats_enabled is updated after remove_master_domain)',
    kind: 'release',
    source: {
      kind: 'commits',
      commits: [
        { id: '685ca577b408', subject: 'iommu/arm-smmu-v3: Fix smmu_domain->nr_ats_masters decrement' },
      ],
    },
  },
  'smmu-ats-always-on': {
    description:
      'SMMUv3 keeps ATS on for pci_ats_required() masters in identity domains (CD table, S1DSS=BYPASS, EATS=TRANS), never under BLOCKED',
    kind: 'release',
    source: {
      kind: 'commits',
      commits: [{ id: '5ff98a0da6b4', subject: 'iommu/arm-smmu-v3: Allow ATS to be always on' }],
    },
  },
  'smmu-warn-on-enable-failure': {
    description:
      'A pci_enable_ats() failure in arm_smmu_attach_commit() WARNs (treated as a kernel bug) instead of dev_err',
    kind: 'release',
    source: {
      kind: 'commits',
      commits: [
        { id: 'd23da7b8d63e', subject: 'iommu/arm-smmu-v3: Standardize ATS enablement failure reporting' },
      ],
    },
  },
  'smmu-fail-probe-on-prepare-error': {
    description:
      'arm_smmu_probe_device() fails when pci_prepare_ats() fails on an ATS-supported master (thread 4 v4+; exact hunk inferred)',
    kind: 'release',
    source: {
      kind: 'commits',
      commits: [
        { id: 'd23da7b8d63e', subject: 'iommu/arm-smmu-v3: Standardize ATS enablement failure reporting' },
      ],
    },
  },
  'smmu-ats-prepared-gate': {
    description:
      'SMMUv3 predicts ATS in attach_prepare only if pci_prepare_ats() succeeded at probe (master->ats_prepared)',
    kind: 'alternative',
    source: {
      kind: 'thread',
      thread: '[PATCH v3 3/3] iommu/arm-smmu-v3: Fix ATS state tracking via ats_prepared gate',
      message: 'Pranjal Shrivastava, v3, 2026-05-19 (replaced by fail-at-probe in v4)',
    },
  },
  'smmu-invs-rollback': {
    description:
      'When pci_enable_ats() fails in commit, restore the old invalidation array and nr_ats_masters and fail the attach',
    kind: 'alternative',
    source: {
      kind: 'thread',
      thread: '[PATCH v3 3/3] iommu/arm-smmu-v3: Fix ATS state tracking via ats_prepared gate',
      message:
        'Jason Gunthorpe, 2026-05-20: keep the original invs, turn on ATS, and on failure put the pointer back',
    },
  },
  'vtd-blocking-domain': {
    description:
      'VT-d has a static blocking domain: attaching it clears the context/PASID entry and disables ATS (before it the core used an empty paging domain, which VT-d attaches like any other, ATS included)',
    kind: 'release',
    source: {
      kind: 'commits',
      commits: [{ id: '35a99c54dd60', subject: 'iommu/vt-d: Add blocking domain support' }],
    },
  },
  'vtd-pasid-at-probe': {
    description:
      'VT-d enables PCI PASID once at probe; before it iommu_enable_pci_caps() enabled PASID with ATS at every attach and device_block_translation() disabled both',
    kind: 'release',
    source: {
      kind: 'commits',
      commits: [{ id: 'ccb02b27bb50', subject: 'iommu/vt-d: Move PCI PASID enablement to probe path' }],
    },
  },
  'vtd-cache-tag-fence': {
    description:
      "VT-d's blocking path removes the function's cache tags (cache_tag_unassign_domain(), under domain->cache_lock) before it disables ATS, so an attach waits for a device-TLB flush in flight (cache_tag_flush_range() holds the lock until qi_submit_sync() returns); before it (v6.1) ATS went off first, with no lock the flush holds",
    kind: 'release',
    source: {
      kind: 'thread',
      thread: '[PATCH 1/1] iommu/vt-d: Remove cache tags before disabling ATS',
      message: 'Lu Baolu, 2024-11-29; merged for v6.13-rc3 and backported to 6.12 stable',
      url: 'https://lore.kernel.org/r/20241129020506.576413-1-baolu.lu@linux.intel.com',
    },
  },
  'vtd-sm-ats-at-probe': {
    description:
      'VT-d scalable mode enables ATS once, at probe_finalize, and keeps it on across domain changes, BLOCKED included; legacy mode enables it in domain_context_mapping() and disables it in domain_context_clear()',
    kind: 'release',
    source: {
      kind: 'commits',
      commits: [
        { id: '5518f239aff1', subject: 'iommu/vt-d: Move scalable mode ATS enablement to probe path' },
      ],
    },
  },
  'vtd-fail-probe-on-prepare-error': {
    description:
      'intel_iommu_probe_device() fails when pci_prepare_ats() fails on an ATS-supported device, and a runtime pci_enable_ats() failure WARNs (thread 4 v4+; the WARN hunk is inferred from the v4 cover letter)',
    kind: 'release',
    source: {
      kind: 'commits',
      commits: [{ id: 'eab000d501af', subject: 'iommu/vt-d: Fail probe on ATS configuration failure' }],
    },
  },
  'vtd-ats-follows-domain': {
    description:
      'VT-d scalable mode turns ATS on and off with the RID domain, as SMMUv3 does: off for BLOCKED and IDENTITY unless a PASID is attached, on for paging domains',
    kind: 'alternative',
    source: {
      kind: 'thread',
      thread: '[PATCH RFCv1 1/3] PCI: Allow ATS to be always on for CXL.cache capable devices',
      message:
        'Jason Gunthorpe, 2026-01 and 2026-05-20: VT-d "should follow ARM and have it dynamic during domain attach"',
      url: 'http://lists.infradead.org/pipermail/linux-arm-kernel/2026-January/1099383.html',
    },
  },
  'amd-fail-probe-on-prepare-error': {
    description:
      'amd_iommu_probe_device() calls pci_prepare_ats() only for ATS-supported devices and fails the probe when it fails',
    kind: 'alternative',
    source: {
      kind: 'thread',
      thread: '[PATCH v4] iommu/amd: Fail probe on ATS configuration failure (split out of thread 4)',
      message:
        'Pranjal Shrivastava, thread 4 v4+ (May 2026); split into a separate AMD series, not in the v7.3 merge',
    },
  },
  'driver-managed-dma-enum': {
    description:
      'driver_managed_dma becomes NORMAL / MANUAL / MSI-only; binding an MSI-only driver attaches an empty DMA domain so MSIs work',
    kind: 'alternative',
    source: {
      kind: 'thread',
      thread: '[PATCH RFCv1 1/3] PCI: Allow ATS to be always on for CXL.cache capable devices',
      message: 'Jason Gunthorpe, 2026-02-24',
      url: 'http://lists.infradead.org/pipermail/linux-arm-kernel/2026-February/1103758.html',
    },
  },
  'vfio-refuse-msi-only-groups': {
    description:
      'VFIO refuses to claim a multi-device group that holds a device whose driver needs MSIs through the IOMMU (ARM)',
    kind: 'alternative',
    source: {
      kind: 'thread',
      thread: '[PATCH RFCv1 1/3] PCI: Allow ATS to be always on for CXL.cache capable devices',
      message:
        'Jason Gunthorpe, 2026-02-24/26: teach VFIO to refuse multi-device groups with MSI-only members on ARM',
    },
  },
  'dma-pasid-per-domain': {
    description:
      'The 2022 design: a DMA-API PASID belongs to the domain (allocated per domain) rather than to a device attachment from the global allocator',
    kind: 'alternative',
    source: {
      kind: 'thread',
      thread: '[PATCH v4 1/6] iommu: Add a per domain PASID for DMA API',
      message: 'Jacob Pan / Baolu Lu, May 2022; not merged after Jason Gunthorpe objected',
    },
  },
  'reset-keep-blocked-on-failure': {
    description: 'pci_dev_reset_iommu_done() is not called when the reset fails, so the device stays blocked',
    kind: 'alternative',
    source: {
      kind: 'thread',
      thread: '[PATCH v2] iommu: Do not call pci_dev_reset_iommu_done() unless reset succeeds',
      message: 'March 2026; merge not verified',
      url: 'https://lkml.rescloud.iu.edu/2603.2/04319.html',
    },
  },
} as const satisfies Record<string, SwitchBody>;

export type SwitchId = keyof typeof SWITCH_DEFS;

/** The on/off value of every switch. */
export type Switches = Readonly<Record<SwitchId, boolean>>;

export interface SwitchDef extends SwitchBody {
  readonly id: SwitchId;
}

/** Every switch, in registry order. */
export const SWITCHES: readonly SwitchDef[] = (Object.keys(SWITCH_DEFS) as SwitchId[]).map((id) => ({
  id,
  ...SWITCH_DEFS[id],
}));

export const SWITCH_IDS: readonly SwitchId[] = SWITCHES.map((s) => s.id);

export function isSwitchId(text: string): text is SwitchId {
  return Object.prototype.hasOwnProperty.call(SWITCH_DEFS, text);
}

export function switchDef(id: SwitchId): SwitchDef {
  return { id, ...SWITCH_DEFS[id] };
}

/** A Switches record with exactly the given switches on. */
export function switchesWith(on: Iterable<SwitchId>): Switches {
  const set = new Set(on);
  const out = {} as Record<SwitchId, boolean>;
  for (const id of SWITCH_IDS) out[id] = set.has(id);
  return out;
}

/** The ids of the switches that are on, in registry order. */
export function switchesOn(sw: Switches): SwitchId[] {
  return SWITCH_IDS.filter((id) => sw[id]);
}

/** One-line text of a switch's source, e.g. `91561e1dc94b "PCI: Add ..."`. */
export function formatSwitchSource(src: SwitchSource): string {
  switch (src.kind) {
    case 'commits':
      return src.commits.map((c) => `${c.id} "${c.subject}"`).join('; ');
    case 'thread':
      return `"${src.thread}" (${src.message})`;
  }
}
