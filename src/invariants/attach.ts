/**
 * Attach is two-phase: prepare may fail, commit may not, and a failed attach leaves everything as
 * it was. Section g item 9.
 *
 * The checker sees the state after the step and the step's events. A step in which an attach
 * entry point returned an error must leave every function whose STE or ATS Control it touched on
 * the STE of its (unchanged) RID domain, with the driver's ATS belief equal to the function's and
 * ATS where it was before the step. The ATS state before the step is read off the first ATS
 * Control write: pci_enable_ats() writes ENABLE only when ATS was off, pci_disable_ats() clears it
 * only when it was on. What this cannot see without the previous state: a failed attach that moved
 * group->domain and every STE along with it. A context that carries the previous state would close
 * that gap (see docs/invariants.md).
 */
import type { KernelEvent } from '../kernel/events.js';
import { PCI_ATS_CTRL_ENABLE } from '../pci/caps/ats.js';
import type { Finding, Invariant, InvariantContext } from './invariant.js';
import { NO_FINDINGS, done, effectiveRidDomain, expectedTranslation, managed, push } from './util.js';

/** Kernel functions whose failure is a failed attach (RID, PASID, ownership, default domain, reset parking). */
const ATTACH_FN =
  /attach|set_domain|set_dev_pasid|set_pasid|claim_dma_owner|take_dma_ownership|setup_default_domain|replace|reset_iommu_prepare/;

/**
 * The failed attach of the step, if any: a traced negative return of an attach function, or the
 * core's report of a group change that failed and was reverted. A MUST_SUCCEED fallback to the
 * blocking domain is not one: that path moves the group on purpose (and WARNs).
 */
function failedAttach(events: readonly KernelEvent[]): { fn: string; bdf: string } | null {
  for (const e of events) {
    if (e.kind === 'return' && typeof e.value === 'number' && e.value < 0 && ATTACH_FN.test(e.fn))
      return { fn: e.fn, bdf: e.bdf };
    if (e.kind === 'iommu' && ATTACH_FN.test(e.fn) && / failed \(.*reverted/.test(e.detail))
      return { fn: e.fn, bdf: e.bdf };
  }
  return null;
}

function describe(t: number): string {
  return t === -1 ? 'abort' : t === -2 ? 'bypass' : `d${t}`;
}

export const failedAttachIntact: Invariant = {
  id: 'failed-attach-intact',
  ref: 9,
  statement:
    'A failed attach leaves the old domain and its bookkeeping intact: every function it touched keeps the STE of its RID domain and its ATS state, and the driver agrees with the function',
  source:
    'arm_smmu_attach_prepare()/arm_smmu_attach_commit() (prepare may fail, commit cannot); __iommu_group_set_domain_internal() (group->domain changes only on full success); Pranjal Shrivastava v4 cover (thread 4)',
  kind: 'kernel',
  readsEvents: true,
  check({ world, view, events }: InvariantContext): readonly Finding[] {
    const failed = failedAttach(events);
    if (failed === null) return NO_FINDINGS;
    const fn = failed.fn;
    // The function that failed, and every function whose STE or ATS Control the step wrote.
    const touched: string[] = [failed.bdf];
    for (const e of events) {
      const wrote = e.kind === 'ste-write' || (e.kind === 'config-write' && e.register === 'PCI_ATS_CTRL');
      if (wrote && !touched.includes(e.bdf)) touched.push(e.bdf);
    }
    let out: Finding[] | null = null;
    for (const bdf of touched) {
      const f = world.machine.byBdf.get(bdf);
      if (f === undefined || !managed(view, f)) continue;
      const want = expectedTranslation(view, effectiveRidDomain(view, f));
      const rid = world.ops.translation_domain(view, f, 0);
      if (rid !== want)
        out = push(
          out,
          `${fn} failed but left the RID translating through ${describe(rid)}, not its domain's ${describe(want)}`,
          bdf,
        );
      const smmu = world.ops.ats_enabled(view, f);
      const pci = view.dev(f).atsEnabled;
      if (smmu !== pci)
        out = push(
          out,
          `${fn} failed and left the driver believing ATS ${smmu ? 'on' : 'off'} while the function has it ${pci ? 'on' : 'off'}`,
          bdf,
        );
      for (const x of events) {
        if (x.kind !== 'config-write' || x.bdf !== bdf || x.register !== 'PCI_ATS_CTRL') continue;
        // pci_enable_ats() writes ENABLE only when ATS was off; pci_disable_ats() clears it only when on.
        const before = (x.value & PCI_ATS_CTRL_ENABLE) === 0;
        if (before !== pci) out = push(out, `${fn} failed but turned ATS ${pci ? 'on' : 'off'}`, bdf);
        break;
      }
    }
    return done(out);
  },
};
