/**
 * Functional failures: what a user of the machine feels, whatever the kernel believes. Section g
 * item 24 ("better to hard fail than silently lose function") names the first two.
 */
import { IOMMU_DOMAIN_IDENTITY, isPagingDomain } from '../iommu/domain-type.js';
import { perFunction } from './incremental.js';
import type { Finding, Invariant, InvariantContext } from './invariant.js';
import {
  NO_FINDINGS,
  bdfOf,
  deviceNeedsAts,
  done,
  effectiveRidDomain,
  atcInvOf,
  hasCommands,
  hasEvent,
  managed,
  syncOf,
  push,
  ridBlocked,
} from './util.js';

export const atsRequiredButOff: Invariant = perFunction(
  {
    id: 'ats-required-but-off',
    ref: 24,
    statement: 'ATS required but off: the device cannot reach host memory',
    source:
      'thread 1 (CXL r4.0 §3.2.5.13: CXL.cache needs the HPA from an ATS request); Jason Gunthorpe, 2026-05 ("less safe to get it off when it needs to be on")',
    kind: 'functional',
  },
  ({ world, view }, f) => {
    if (!world.iommu.features.ats) return null;
    if (!managed(view, f) || view.dev(f).atsEnabled || view.device(f).resetting) return null;
    const d = effectiveRidDomain(view, f);
    if (d < 0 || ridBlocked(view, f) || !deviceNeedsAts(view, f)) return null;
    const dom = view.domainOrNull(d);
    const kind = dom === null ? '' : dom.type === IOMMU_DOMAIN_IDENTITY ? ' IDENTITY' : ' paging';
    return push(
      null,
      `the function needs ATS (CXL.cache or coherent link) but ATS is off in its${kind} RID domain d${d}`,
      bdfOf(world, f),
    );
  },
);

export const msiDoorbellUnmapped: Invariant = perFunction(
  {
    id: 'msi-doorbell-unmapped',
    ref: 24,
    statement: 'MSI doorbell unmapped: interrupts lost',
    source:
      'thread 1 RFCv1 discussion (Jason Gunthorpe 2026-02-20/26, Robin Murphy): BLOCKED or a fresh paging domain loses the ITS doorbell on ARM',
    kind: 'functional',
  },
  ({ world, view }, f) => {
    if (!world.iommu.features.msiThroughIommu) return null;
    const dev = view.device(f);
    if (!dev.msiInUse || dev.resetting || !managed(view, f) || view.gdev(f).blocked) return null;
    const d = effectiveRidDomain(view, f);
    if (d < 0) return null;
    const dom = view.domainOrNull(d);
    if (ridBlocked(view, f))
      return push(
        null,
        `MSIs in use but the RID domain d${d} blocks DMA, so the doorbell write is aborted`,
        bdfOf(world, f),
      );
    if (dom !== null && isPagingDomain(dom.type) && !dom.msiDoorbell)
      return push(null, `MSIs in use but paging domain d${d} does not map the MSI doorbell`, bdfOf(world, f));
    return null;
  },
);

export const invalidationTimeout: Invariant = {
  id: 'invalidation-timeout',
  ref: 12,
  statement:
    'Invalidation timed out: a CMD_SYNC (VT-d: the QI_IWD wait descriptor; AMD-Vi: CMD_COMPL_WAIT) never completed because a device did not answer its ATC invalidation',
  source:
    'arm-smmu-v3 CERROR_ATC_INV ("ATC invalidate timeout"); VT-d qi_check_fault() ITE; AMD-Vi "Completion-Wait loop timed out"; f5b16b802174 (a resetting device may ignore invalidations)',
  kind: 'functional',
  readsEvents: true,
  check({ events }: InvariantContext): readonly Finding[] {
    if (!hasCommands(events)) return NO_FINDINGS;
    let out: Finding[] | null = null;
    let since = 0;
    for (let i = 0; i < events.length; i++) {
      const e = syncOf(events[i]!);
      if (e === null) continue;
      if (e.result === 'timeout') {
        // The function blamed: the driver's timeout line right after the wait, else the ATC
        // invalidation targets since the previous wait.
        const next = events[i + 1];
        const targets = new Set<string>();
        if (next?.kind === 'info' && next.level === 'err') targets.add(next.bdf);
        else
          for (let j = since; j < i; j++) {
            const x = atcInvOf(events[j]!);
            if (x !== null) targets.add(x.bdf);
          }
        const list = [...targets];
        out = push(
          out,
          `${events[i]!.kind === 'smmu-cmd' ? 'CMD_SYNC' : (events[i] as { cmd: string }).cmd} timed out waiting for ATC invalidation${list.length === 0 ? '' : ` of ${list.join(', ')}`}`,
          list.length === 1 ? list[0] : undefined,
        );
      }
      since = i + 1;
    }
    return done(out);
  },
};

export const noStaleTranslation: Invariant = {
  id: 'no-stale-translation',
  statement:
    'Stale translation: a DMA reached memory through a cached translation whose unmap had already returned',
  source:
    'dma-iommu strict unmap; 587bb3e56a2c; f5b16b802174 (invalidations a resetting device ignores leave its ATC stale)',
  kind: 'functional',
  readsEvents: true,
  check({ events }: InvariantContext): readonly Finding[] {
    if (!hasEvent(events, 'dma')) return NO_FINDINGS;
    let out: Finding[] | null = null;
    for (const e of events)
      if (e.kind === 'dma' && e.outcome === 'stale')
        out = push(
          out,
          `${e.translated ? 'translated' : 'untranslated'} DMA pasid ${e.pasid} iova 0x${e.iova.toString(16)} reached ${e.phys === undefined ? 'memory' : `page 0x${e.phys.toString(16)}`} through a stale translation`,
          e.bdf,
        );
    return done(out);
  },
};
