/**
 * PCI reset against the IOMMU (thread 2, merged as pci_dev_reset_iommu_prepare/done()): the
 * device is fenced for the whole reset and the bookkeeping balances. Section g items 17 and 18.
 */
import { pci_ats_supported } from '../pci/ats.js';
import { perFunction, perGroup } from './incremental.js';
import type { Finding, Invariant } from './invariant.js';
import { TRANSLATION_ABORT, bdfOf, expectedTranslation, managed, push } from './util.js';

const describe = (t: number): string => (t === -2 ? 'bypass' : `d${t}`);

export const resetFencing: Invariant = perFunction(
  {
    id: 'reset-fencing',
    ref: 17,
    statement:
      'Between pci_dev_reset_iommu_prepare() and _done() the function’s RID is on the blocking domain, no PASID translates for it, and its ATS is off',
    source:
      'c279e83953d9 "iommu: Introduce pci_dev_reset_iommu_prepare/done()"; b296ca1fb43a; 5474e6e17a26; PCIe r6.0 §10.3.1 implementation note',
    kind: 'kernel',
  },
  ({ world, view }, f) => {
    if (!view.gdev(f).blocked || !managed(view, f)) return null;
    let out: Finding[] | null = null;
    const ops = world.ops;
    const bdf = bdfOf(world, f);
    const grp = view.group(world.groupOf[f]!);
    const want = expectedTranslation(view, grp.blockingDomain);
    const rid = ops.translation_domain(view, f, 0);
    if (rid !== want && rid !== TRANSLATION_ABORT)
      out = push(out, `parked for a reset but its RID translates through ${describe(rid)}`, bdf);
    const p = grp.pasids;
    for (let i = 0; i < p.length; i += 2) {
      const t = ops.translation_domain(view, f, p[i]!);
      if (t !== TRANSLATION_ABORT)
        out = push(out, `parked for a reset but PASID ${p[i]} still translates (${describe(t)})`, bdf);
    }
    if (view.dev(f).atsEnabled) out = push(out, 'parked for a reset but ATS is enabled', bdf);
    return out;
  },
);

export const resetDepthBalance: Invariant = perGroup(
  {
    id: 'reset-depth-balance',
    ref: 17,
    statement:
      'Reset prepare/done nest and balance: reset_depth is never negative, a function is blocked exactly while its depth is positive, and recovery_cnt equals the group’s blocked functions',
    source:
      '0d5fd7a9323c (re-entrant prepare/done through gdev->reset_depth); b296ca1fb43a "iommu: Replace per-group resetting_domain with per-gdev blocked flag"',
    kind: 'kernel',
  },
  ({ world, view }, g) => {
    let out: Finding[] | null = null;
    const nesting = world.kernel.switches['reset-depth-nesting'];
    let blocked = 0;
    for (const f of world.groups[g]!.members) {
      const gd = view.gdev(f);
      if (gd.blocked) blocked++;
      if (gd.resetDepth < 0) out = push(out, `reset_depth is ${gd.resetDepth}`, bdfOf(world, f));
      else if (nesting && gd.blocked !== gd.resetDepth > 0)
        out = push(out, `blocked is ${gd.blocked} but reset_depth is ${gd.resetDepth}`, bdfOf(world, f));
    }
    const rc = view.group(g).recoveryCnt;
    if (world.kernel.switches['reset-per-gdev-blocked'] && rc !== blocked)
      out = push(out, `group ${g}: recovery_cnt is ${rc} but ${blocked} function(s) are blocked`);
    return out;
  },
);

export const resetFenced: Invariant = perFunction(
  {
    id: 'reset-fenced',
    ref: 18,
    statement:
      'An ATS-capable function is reset only while the IOMMU has it fenced: if pci_dev_reset_iommu_prepare() fails, the reset is not attempted',
    source:
      'f5b16b802174 "PCI: Suspend iommu function prior to resetting a device" ("failed to stop IOMMU for a PCI reset"); PCIe r6.0 §10.3.1 implementation note',
    kind: 'kernel',
  },
  ({ world, view }, f) => {
    if (!view.device(f).resetting || view.gdev(f).blocked || !managed(view, f)) return null;
    if (!pci_ats_supported(view, f)) return null;
    return push(
      null,
      'the function is resetting but the IOMMU has not parked it (ATS not fenced)',
      bdfOf(world, f),
    );
  },
);
