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
