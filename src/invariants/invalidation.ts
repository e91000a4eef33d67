/**
 * Invalidation: ATC invalidations go only where they can be answered, every cache the IOMMU or a
 * device keeps is covered by an invalidation path, and nothing cached outlives its mapping.
 * Section g items 12 and 13 (kernel-semantics.md), and the no-stale-translation property.
 */
import { isPagingDomain } from '../iommu/domain-type.js';
import type { Tx } from '../model/tx.js';
import { perDomains } from './incremental.js';
import type { Finding, Invariant, InvariantContext } from './invariant.js';
import { INV_TYPE_ATS, devicesCount, domainDevices, domainInvs, invsUsers } from './driver-records.js';
import {
  NO_FINDINGS,
  TRANSLATION_BYPASS,
  atcInvOf,
  hasCommands,
  bdfOf,
  deviceAtsOn,
  devicePasidCount,
  done,
  effectiveRidDomain,
  hasDriverDomain,
  managed,
  push,
  quiescent,
} from './util.js';

/** An ATC invalidation for an address range, as an unmap issues; not the whole-ATC flush an attach issues. */
function ranged(e: { page?: number; span?: number }): boolean {
  return !(e.page === undefined || (e.page === 0 && (e.span ?? 0) >= 52));
}

export const atcInvTarget: Invariant = {
  id: 'atc-inv-target',
  ref: 12,
  statement:
    'No ATC invalidation targets a function that is resetting, and no unmap invalidation targets a function whose ATS is off',
  source:
    '587bb3e56a2c ("ATC invalidations must be completed before the driver disables ATS"); f5b16b802174 (a resetting device may ignore invalidations, so they time out)',
  kind: 'kernel',
  readsEvents: true,
  check({ world, view, events }: InvariantContext): readonly Finding[] {
    if (!hasCommands(events)) return NO_FINDINGS;
    let out: Finding[] | null = null;
    for (let i = 0; i < events.length; i++) {
      const e = atcInvOf(events[i]!);
      if (e === null) continue;
      const f = world.machine.byBdf.get(e.bdf);
      if (f === undefined) continue;
      // An attach that turns ATS on or off flushes the whole ATC around the ATS Control write.
      let atsChanged = false;
      for (const x of events)
        if (x.kind === 'config-write' && x.bdf === e.bdf && x.register === 'PCI_ATS_CTRL') atsChanged = true;
      // A function whose FLR starts later in the same step was not resetting yet.
      let flrAt = -1;
      for (let j = 0; j < events.length; j++) {
        const x = events[j]!;
        if (x.kind === 'config-write' && x.bdf === e.bdf && x.register === 'PCI_EXP_DEVCTL') {
          flrAt = j;
          break;
        }
      }
      const beforeReset = flrAt > i;
      const r = ranged(e);
      const what = r
        ? `ATC invalidation page 0x${(e.page ?? 0).toString(16)}`
        : 'ATC invalidation (whole ATC)';
      if (view.device(f).resetting && !beforeReset && (r || !atsChanged))
        out = push(out, `${what} sent to a function that is resetting`, e.bdf);
      else if (r && !atsChanged && !view.dev(f).atsEnabled)
        out = push(out, `${what} sent to a function whose ATS is off`, e.bdf);
    }
    return done(out);
  },
};

/** Whether any managed function's RID or PASID translates through domain d. */
function domainInUse(view: Tx, d: number): boolean {
  const n = view.world.infos.length;
  for (let f = 0; f < n; f++) {
    if (!managed(view, f)) continue;
    if (effectiveRidDomain(view, f) === d) return true;
    if (devicePasidCount(view, f) === 0) continue;
    const p = view.group(view.world.groupOf[f]!).pasids;
    for (let i = 1; i < p.length; i += 2) if (p[i] === d) return true;
  }
  return false;
}

export const iotlbTagsClean: Invariant = {
  id: 'iotlb-tags-clean',
  ref: 13,
  statement:
    'A domain no master is attached to holds nothing in the IOMMU TLB: the old domain drops a master only after its STE moved away, and unreferenced ASID/VMID tags are flushed',
  source:
    'invs rework: arm_smmu_install_new_domain_invs() before the STE write, arm_smmu_install_old_domain_invs() after (flushes tags whose users drop to 0)',
  kind: 'kernel',
  check({ view, state }: InvariantContext): readonly Finding[] {
    if (!quiescent(state)) return NO_FINDINGS;
    let out: Finding[] | null = null;
    const domains = state.domains;
    for (let d = 0; d < domains.length; d++) {
      const dom = domains[d];
      if (dom === null || dom === undefined || dom.iotlb.length === 0) continue;
      if (!domainInUse(view, d))
        out = push(
          out,
          `domain d${d} has ${dom.iotlb.length >> 1} IOTLB entr(ies) but no master is attached`,
        );
    }
    return done(out);
  },
};

/** Whether f is attached to domain d through `ssid` in the core's view (RID: the effective domain; PASID: the group's array). */
function attachedVia(view: Tx, f: number, d: number, ssid: number): boolean {
  if (!managed(view, f)) return false;
  if (ssid === 0) return effectiveRidDomain(view, f) === d;
  if (devicePasidCount(view, f) === 0) return false;
  const p = view.group(view.world.groupOf[f]!).pasids;
  for (let i = 0; i < p.length; i += 2) if (p[i] === ssid) return p[i + 1] === d;
  return false;
}

/** The ASID/VMID tag entry of an invs array (types 0 and 1, id 0: one tag per domain). */
function hasTag(invs: readonly number[]): boolean {
  return invsUsers(invs, 0, 0, 0) > 0 || invsUsers(invs, 1, 0, 0) > 0;
}

function checkAttachment(
  view: Tx,
  f: number,
  d: number,
  ssid: number,
  out: Finding[] | null,
): Finding[] | null {
  if (!hasDriverDomain(view, d)) return out;
  const drv = view.domain(d).drv;
  const devices = domainDevices(drv);
  const invs = domainInvs(drv);
  const bdf = bdfOf(view.world, f);
  const via = ssid === 0 ? 'its RID' : `PASID ${ssid}`;
  if (devices !== null && devicesCount(devices, f, ssid) === 0)
    out = push(out, `attached to d${d} through ${via} but missing from its devices list`, bdf);
  if (invs === null) return out;
  if (!hasTag(invs))
    out = push(out, `attached to d${d} through ${via} but d${d}'s invs has no ASID/VMID entry`, bdf);
  if (view.world.ops.ats_enabled(view, f) && invsUsers(invs, INV_TYPE_ATS, f, ssid) === 0)
    out = push(
      out,
      `ATS enabled and attached to d${d} through ${via} but d${d}'s invs has no ATS entry for it`,
      bdf,
    );
  return out;
}

export const invsCoverAttachments: Invariant = perDomains(
  {
    id: 'invs-cover-attachments',
    ref: 13,
    statement:
      "A domain's device list and invalidation array cover exactly the masters attached to it: the ASID/VMID entry, and an ATS entry for each attachment of a master with ATS",
    source:
      'invs rework (arm_smmu_attach_prepare_invs(), arm_smmu_install_new_domain_invs() before the STE write, arm_smmu_install_old_domain_invs() after)',
    kind: 'kernel',
  },
  ({ world, view }: InvariantContext): readonly Finding[] => {
    let out: Finding[] | null = null;
    const n = world.infos.length;
    for (let f = 0; f < n; f++) {
      if (!managed(view, f)) continue;
      const rid = effectiveRidDomain(view, f);
      if (rid >= 0) out = checkAttachment(view, f, rid, 0, out);
      if (devicePasidCount(view, f) === 0) continue;
      const p = view.group(world.groupOf[f]!).pasids;
      for (let i = 0; i < p.length; i += 2) out = checkAttachment(view, f, p[i + 1]!, p[i]!, out);
    }
    const nd = view.domainCount;
    for (let d = 0; d < nd; d++) {
      if (!hasDriverDomain(view, d)) continue;
      const devices = domainDevices(view.domain(d).drv);
      if (devices === null) continue;
      for (let i = 0; i < devices.length; i += 2) {
        const f = devices[i]!;
        const ssid = devices[i + 1]!;
        if (!attachedVia(view, f, d, ssid))
          out = push(
            out,
            `d${d}'s devices list holds it (ssid ${ssid}) but it is not attached there`,
            bdfOf(world, f),
          );
      }
    }
    return done(out);
  },
  (c) => quiescent(c.state),
);

/** Whether [iova, phys] is a pair of the sorted flat pair array. */
function hasPair(a: readonly number[], iova: number, phys: number): boolean {
  for (let i = 0; i < a.length; i += 2) if (a[i] === iova && a[i + 1] === phys) return true;
  return false;
}

export const noStaleCacheEntry: Invariant = {
  id: 'no-stale-cache-entry',
  statement:
    'No cached translation outlives its mapping: every IOTLB entry and every usable ATC entry is a mapping its domain still holds and never reaches a free page, except unmaps waiting in a DMA_FQ flush queue (the lazy mode accepts that window)',
  source:
    'dma-iommu strict unmap (invalidate, CMD_SYNC, then free); f5b16b802174 and 587bb3e56a2c (an invalidation the device ignored leaves its ATC stale)',
  kind: 'kernel',
  check({ world, view, state }: InvariantContext): readonly Finding[] {
    let out: Finding[] | null = null;
    const pages = state.mem.pages;
    const calm = quiescent(state);
    const domains = state.domains;
    for (let d = 0; d < domains.length; d++) {
      const dom = domains[d];
      if (dom === null || dom === undefined || dom.iotlb.length === 0) continue;
      const t = dom.iotlb;
      for (let i = 0; i < t.length; i += 2) {
        const iova = t[i]!;
        const phys = t[i + 1]!;
        if (hasPair(dom.fq, iova, phys)) continue;
        if (pages[phys] === 0)
          out = push(
            out,
            `IOTLB of d${d} maps iova 0x${iova.toString(16)} to free page 0x${phys.toString(16)}`,
          );
        else if (calm && !hasPair(dom.pt, iova, phys))
          out = push(
            out,
            `IOTLB of d${d} maps iova 0x${iova.toString(16)}, which d${d} no longer maps there`,
          );
      }
    }
    const ops = world.ops;
    const n = world.infos.length;
    for (let f = 0; f < n; f++) {
      const atc = state.devs[f]!.atc;
      if (atc.length === 0 || !managed(view, f) || !deviceAtsOn(view, f)) continue;
      for (let i = 0; i < atc.length; i += 3) {
        const pasid = atc[i]!;
        const iova = atc[i + 1]!;
        const phys = atc[i + 2]!;
        if (!ops.ats_allowed(view, f, pasid)) continue;
        const td = ops.translation_domain(view, f, pasid);
        if (td === TRANSLATION_BYPASS && phys === iova) continue;
        const dom = td >= 0 ? view.domainOrNull(td) : null;
        if (dom !== null && hasPair(dom.fq, iova, phys)) continue;
        const where = `ATC entry pasid ${pasid} iova 0x${iova.toString(16)} -> 0x${phys.toString(16)}`;
        if (pages[phys] === 0) out = push(out, `${where} reaches a free page`, bdfOf(world, f));
        else if (calm && (dom === null || !isPagingDomain(dom.type) || !hasPair(dom.pt, iova, phys)))
          out = push(
            out,
            `${where} is not a mapping of the domain the function translates through`,
            bdfOf(world, f),
          );
      }
    }
    return done(out);
  },
};
