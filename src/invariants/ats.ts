/**
 * ATS state: the SMMU driver's bookkeeping against the PCI function, and when ATS must be on or
 * off. Section g items 1–3, 11, 14–16 and 23 (kernel-semantics.md).
 */
import type { KernelEvent } from '../kernel/events.js';
import { pci_ats_required, pci_ats_supported } from '../pci/ats.js';
import { pasidPathCarries } from '../pci/pasid.js';
import type { Tx } from '../model/tx.js';
import { perDomains, perFunction } from './incremental.js';
import type { Finding, Invariant, InvariantContext } from './invariant.js';
import { domainInvs, domainNrAtsMasters, invsAtsUsers } from './driver-records.js';
import {
  bdfOf,
  deviceAtsOn,
  devicePasidCount,
  done,
  effectiveRidDomain,
  hasDriverDomain,
  managed,
  NO_FINDINGS,
  push,
  quiescent,
  ridBlocked,
} from './util.js';

/** The checks that compare the driver with the function apply where no thread is mid-operation. */
const atQuiescence = (c: InvariantContext): boolean => quiescent(c.state);

/** Scratch per-domain counters, reused between calls (checkers run millions of times). */
let scratch = new Int32Array(64);

function counters(n: number): Int32Array {
  if (scratch.length < n) scratch = new Int32Array(n * 2);
  scratch.fill(0, 0, n);
  return scratch;
}

/** Adds f's attachments (RID and PASIDs) to the per-domain counters. */
function countAttachments(view: Tx, f: number, c: Int32Array): void {
  const rid = effectiveRidDomain(view, f);
  if (rid >= 0 && rid < c.length) c[rid]!++;
  if (devicePasidCount(view, f) === 0) return;
  const p = view.group(view.world.groupOf[f]!).pasids;
  for (let i = 1; i < p.length; i += 2) {
    const d = p[i]!;
    if (d >= 0 && d < c.length) c[d]!++;
  }
}

/** The attached functions of domain d whose SMMU belief and PCI state differ (for findings only). */
function culprits(view: Tx, d: number): number[] {
  const out: number[] = [];
  const n = view.world.infos.length;
  const one = new Int32Array(view.domainCount);
  for (let f = 0; f < n; f++) {
    if (!managed(view, f)) continue;
    one.fill(0);
    countAttachments(view, f, one);
    if (one[d] === 0) continue;
    if (view.world.ops.ats_enabled(view, f) !== view.dev(f).atsEnabled) out.push(f);
  }
  return out;
}

export const nrAtsMasters: Invariant = perDomains(
  {
    id: 'nr-ats-masters',
    ref: 1,
    statement:
      "A domain's nr_ats_masters, and the ATS entries of its invalidation array, count exactly the attachments (RID or PASID) of masters whose ATS is enabled. SMMUv3 only: VT-d and AMD-Vi keep no such count (they walk the domain's devices)",
    source:
      '685ca577b408 "iommu/arm-smmu-v3: Fix smmu_domain->nr_ats_masters decrement"; Pranjal Shrivastava v3 3/3 and v6 4/6 (thread 4): "incorrect nr_ats_masters"',
    kind: 'kernel',
    drivers: ['smmuv3'],
  },
  ({ world, view }) => {
    const nd = view.domainCount;
    const c = counters(nd);
    const n = world.infos.length;
    for (let f = 0; f < n; f++) if (managed(view, f) && view.dev(f).atsEnabled) countAttachments(view, f, c);
    let out: Finding[] | null = null;
    for (let d = 0; d < nd; d++) {
      if (!hasDriverDomain(view, d)) continue;
      const drv = view.domain(d).drv;
      const nr = domainNrAtsMasters(drv);
      const invs = domainInvs(drv);
      const ats = invs === null ? null : invsAtsUsers(invs);
      const want = c[d]!;
      if ((nr === null || nr === want) && (ats === null || ats === want)) continue;
      const who = culprits(view, d);
      const badNr = nr !== null && nr !== want;
      const badInvs = ats !== null && ats !== want;
      const detail =
        `domain d${d}: ${want} attachment(s) of masters with ATS enabled, but` +
        (badNr ? ` nr_ats_masters is ${nr}` : '') +
        (badNr && badInvs ? ' and' : '') +
        (badInvs ? ` invs holds ${ats} ATS reference(s)` : '');
      out = push(out, detail, who.length === 1 ? bdfOf(world, who[0]!) : undefined);
    }
    return done(out);
  },
  atQuiescence,
);

export const smmuPciAtsAgree: Invariant = perFunction(
  {
    id: 'smmu-pci-ats-agree',
    ref: 2,
    statement:
      "At every quiescent point the IOMMU driver's belief (master->ats_enabled) equals the PCI function's ATS state (pdev->ats_enabled)",
    source:
      '"[PATCH v3 0/3] iommu/arm-smmu-v3: Fix ATS robustness and state tracking" (thread 4): WARN in pci_disable_ats() when they diverge',
    kind: 'kernel',
  },
  ({ world, view }, f) => {
    if (!managed(view, f)) return null;
    const smmu = world.ops.ats_enabled(view, f);
    if (smmu === view.dev(f).atsEnabled) return null;
    return push(
      null,
      smmu
        ? 'the IOMMU driver believes ATS is enabled but the PCI function has it off'
        : 'the PCI function has ATS enabled but the IOMMU driver believes it off',
      bdfOf(world, f),
    );
  },
  atQuiescence,
);

export const atsCtrlAgrees: Invariant = perFunction(
  {
    id: 'ats-ctrl-agrees',
    ref: 3,
    statement:
      "pci_enable_ats() only while ATS is off and pci_disable_ats() only while it is on (their WARN_ONs are warn:pci_enable_ats / warn:pci_disable_ats), so the function's ATS Control ENABLE bit always equals pdev->ats_enabled",
    source:
      'drivers/pci/ats.c pci_enable_ats() WARN_ON(dev->ats_enabled), pci_disable_ats() WARN_ON(!dev->ats_enabled)',
    kind: 'kernel',
  },
  ({ world, view }, f) => {
    const d = view.dev(f);
    if (d.atsCap === 0 || !managed(view, f) || view.device(f).resetting) return null;
    const dev = deviceAtsOn(view, f);
    if (dev === d.atsEnabled) return null;
    return push(
      null,
      dev
        ? 'ATS Control ENABLE is set but pdev->ats_enabled is clear'
        : 'pdev->ats_enabled is set but ATS Control ENABLE is clear',
      bdfOf(world, f),
    );
  },
);

/** ATS may be used for some stream of f: the STE has EATS for the RID or an attached PASID. */
function eatsSomewhere(view: Tx, f: number): boolean {
  const ops = view.world.ops;
  if (ops.ats_allowed(view, f, 0)) return true;
  if (devicePasidCount(view, f) === 0) return false;
  const p = view.group(view.world.groupOf[f]!).pasids;
  for (let i = 0; i < p.length; i += 2) if (ops.ats_allowed(view, f, p[i]!)) return true;
  return false;
}

export const atsImpliesEats: Invariant = perFunction(
  {
    id: 'ats-implies-eats',
    ref: 11,
    statement:
      'ATS is disabled at the function before EATS is cleared and enabled only after EATS is set: a function with ATS Control ENABLE set has EATS=TRANS in its installed STE (VT-d: a present context or PASID entry with Device-TLB enabled; AMD-Vi: a valid DTE with its I bit)',
    source:
      'arm_smmu_attach_prepare() comment; 7cad80048595 "Mark EATS_TRANS safe when computing the update sequence" ("the enclosing code will always disable ATS at the PCI device when changing EATS_TRANS")',
    kind: 'kernel',
  },
  ({ world, view }, f) => {
    if (!managed(view, f) || view.device(f).resetting) return null;
    if (view.dev(f).atsCap === 0 || !deviceAtsOn(view, f) || !pci_ats_supported(view, f)) return null;
    if (eatsSomewhere(view, f)) return null;
    return push(
      null,
      world.iommu.driver === 'smmuv3'
        ? 'ATS Control ENABLE is set but the installed STE does not have EATS=TRANS'
        : 'ATS Control ENABLE is set but the IOMMU does not serve its translation requests (no present entry with Device-TLB enabled)',
      bdfOf(world, f),
    );
  },
);

export const blockedAtsOff: Invariant = perFunction(
  {
    id: 'blocked-ats-off',
    ref: 14,
    statement:
      'A function whose RID domain blocks DMA has ATS off, unless a PASID is attached to it (a blocking domain must block Translated requests too)',
    source:
      'Jason Gunthorpe, 2026-01 ("The blocking translation should block ATS too") and 2026-05-20 ("For security we need ATS disabled for blocking domains at a minimum"); 5ff98a0da6b4 (always-on excludes S1DSS=TERMINATE)',
    kind: 'kernel',
  },
  ({ world, view }, f) => {
    if (!managed(view, f) || !view.dev(f).atsEnabled || !ridBlocked(view, f)) return null;
    if (devicePasidCount(view, f) > 0) return null;
    return push(
      null,
      view.gdev(f).blocked
        ? 'parked on the blocking domain for a reset but ATS is enabled'
        : `RID domain d${view.group(world.groupOf[f]!).domain} blocks DMA but ATS is enabled`,
      bdfOf(world, f),
    );
  },
);

export const atsRequiredOn: Invariant = perFunction(
  {
    id: 'ats-required-on',
    ref: 15,
    statement:
      'An ATS-required function (pci_ats_required()) has ATS on in every non-blocked RID domain, IDENTITY included, when the SMMU can keep ATS on (stage 1 and SSIDs). SMMUv3 only: the always-on series changed only that driver',
    source:
      '5ff98a0da6b4 "iommu/arm-smmu-v3: Allow ATS to be always on"; Jason Gunthorpe 2026-05-28 ("ARM rules for enabling ATS and Bypass together require a valid CD table pointer")',
    kind: 'kernel',
    drivers: ['smmuv3'],
  },
  ({ world, view }, f) => {
    // The SMMU can keep ATS on under bypass: it needs stage 1 and substreams for the CD table.
    const ft = world.iommu.features;
    if (!ft.ats || !ft.stage1 || ft.ssidBits === 0) return null;
    if (!managed(view, f) || view.dev(f).atsEnabled || view.device(f).resetting) return null;
    if (effectiveRidDomain(view, f) < 0 || ridBlocked(view, f)) return null;
    if (!pci_ats_required(view, f)) return null;
    const d = view.group(world.groupOf[f]!).domain;
    return push(null, `ATS-required function has ATS off in its RID domain d${d}`, bdfOf(world, f));
  },
);

export const pasidKeepsAts: Invariant = perFunction(
  {
    id: 'pasid-keeps-ats',
    ref: 16,
    statement:
      'While a PASID is attached to an ATS-supported function, ATS stays on, even if its RID is IDENTITY or BLOCKED',
    source:
      'arm_smmu_attach_dev_ste() (cd_needs_ats: the CD table is kept with S1DSS); Jason Gunthorpe / Kevin Tian 2026-01 (thread 1)',
    kind: 'kernel',
  },
  ({ world, view }, f) => {
    if (!world.iommu.features.ats) return null;
    if (!managed(view, f) || view.dev(f).atsEnabled || view.device(f).resetting) return null;
    const k = devicePasidCount(view, f);
    if (k === 0 || !pci_ats_supported(view, f)) return null;
    return push(null, `${k} PASID(s) attached but ATS is off`, bdfOf(world, f));
  },
);

/** Whether the step wrote the function's ATS Control register. */
function atsCtrlWritten(events: readonly KernelEvent[], bdf: string): boolean {
  for (const e of events)
    if (e.kind === 'config-write' && e.bdf === bdf && e.register === 'PCI_ATS_CTRL') return true;
  return false;
}

const PASID_BEFORE_ATS = {
  id: 'pasid-before-ats',
  ref: 23,
  statement:
    'PASID is enabled before ATS and disabled after it: a PASID-capable function with ATS enabled has PASID enabled, PASID Control is never written while ATS is on, and PRI is enabled only with ATS',
  source:
    'arm_smmu_probe_device() comment ("PASID must be enabled before, and disabled after ATS", PCIe 4.0 §10.5.1.3); pci_enable_pasid()',
  kind: 'kernel',
} as const;

/** pasid-before-ats: the state half function by function (check), the writes of the step in checkStep. */
const pasidBeforeAtsState = perFunction(PASID_BEFORE_ATS, ({ world, view }, f) => {
  const info = world.infos[f]!;
  const d = view.dev(f);
  if (!managed(view, f)) return null;
  if (!d.atsEnabled) return d.priEnabled ? push(null, 'PRI is enabled but ATS is off', info.bdf) : null;
  if (info.isVirtfn || d.pasidCap === 0 || d.pasidEnabled || world.iommu.features.ssidBits === 0) return null;
  // Only where pci_enable_pasid()'s path checks pass.
  if (!pasidPathCarries(view, f)) return null;
  return push(null, 'ATS is enabled on a PASID-capable function whose PASID is not enabled', info.bdf);
});

export const pasidBeforeAts: Invariant = Object.assign(pasidBeforeAtsState, {
  checkStep({ world, view, events }: InvariantContext): readonly Finding[] {
    let out: Finding[] | null = null;
    for (const e of events) {
      if (e.kind !== 'config-write' || e.register !== 'PCI_PASID_CTRL') continue;
      const f = world.machine.byBdf.get(e.bdf);
      if (f === undefined || !view.dev(f).atsEnabled || atsCtrlWritten(events, e.bdf)) continue;
      out = push(out, 'PASID Control written while ATS is enabled', e.bdf);
    }
    return out ?? NO_FINDINGS;
  },
});
