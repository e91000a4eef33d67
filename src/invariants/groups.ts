/**
 * Groups, domains and ownership in the IOMMU core: one RID domain per group, exclusive DMA
 * ownership, devices with reserved regions never blocked. Section g items 19–21.
 */
import { IOMMU_DOMAIN_IDENTITY } from '../iommu/domain-type.js';
import { DRIVER_DMA_API } from '../model/state.js';
import { perFunction, perGroup } from './incremental.js';
import type { Finding, Invariant } from './invariant.js';
import { bdfOf, expectedTranslation, isBlocking, managed, push } from './util.js';

function describe(t: number): string {
  return t === -1 ? 'abort' : t === -2 ? 'bypass' : `d${t}`;
}

export const requireDirectNotBlocked: Invariant = perFunction(
  {
    id: 'require-direct-not-blocked',
    ref: 19,
    statement:
      'A function with reserved direct-mapped regions (require_direct, RMR) is never attached to a blocking domain, except while parked for a reset',
    source: '__iommu_device_set_domain() (-EINVAL for require_direct); Robin Murphy, 2026-02-03 (thread 1)',
    kind: 'kernel',
  },
  ({ world, view }, f) => {
    if (!world.requireDirect[f] || !managed(view, f) || view.gdev(f).blocked) return null;
    const g = world.groupOf[f]!;
    const d = view.group(g).domain;
    if (!isBlocking(view, g, d)) return null;
    return push(null, `require_direct function is on the blocking domain d${d}`, bdfOf(world, f));
  },
);

export const oneRidDomainPerGroup: Invariant = perGroup(
  {
    id: 'one-rid-domain-per-group',
    ref: 20,
    statement:
      'Every function of a group translates its RID through group->domain, the one exception being a function parked for a reset',
    source:
      'drivers/iommu/iommu.c __iommu_group_set_domain_internal() (group->domain changes only when every device attached); Baolu Lu, attach_dev_pasid commit',
    kind: 'kernel',
  },
  ({ world, view }, g) => {
    const d = view.group(g).domain;
    if (d < 0) return null;
    if (view.domainOrNull(d) === null) return push(null, `group ${g}: group->domain d${d} is a freed domain`);
    let out: Finding[] | null = null;
    const want = expectedTranslation(view, d);
    for (const f of world.groups[g]!.members) {
      if (!managed(view, f) || view.gdev(f).blocked) continue;
      const got = world.ops.translation_domain(view, f, 0);
      if (got !== want)
        out = push(
          out,
          `group ${g} is on d${d} (${describe(want)}) but the function's RID translates through ${describe(got)}`,
          bdfOf(world, f),
        );
    }
    return out;
  },
);

export const dmaOwnership: Invariant = perGroup(
  {
    id: 'dma-ownership',
    ref: 21,
    statement:
      'A group is either used by kernel drivers on its default domain (owner_cnt counts them) or claimed by one user-space owner on the blocking domain or a domain the owner attached',
    source:
      'iommu_device_use_default_domain(), __iommu_take_dma_ownership(), __iommu_release_dma_ownership()',
    kind: 'kernel',
  },
  ({ world, view }, g) => {
    let out: Finding[] | null = null;
    const grp = view.group(g);
    let kernelUsers = 0;
    for (const f of world.groups[g]!.members) {
      const dev = view.device(f);
      if (dev.present && dev.driver === DRIVER_DMA_API && view.gdev(f).probed) kernelUsers++;
    }
    if (grp.ownerCnt < 0) out = push(out, `group ${g}: owner_cnt is ${grp.ownerCnt}`);
    if (grp.owner === 0) {
      if (grp.ownerCnt !== kernelUsers)
        out = push(
          out,
          `group ${g}: owner_cnt is ${grp.ownerCnt} but ${kernelUsers} kernel DMA-API driver(s) are bound`,
        );
      if (grp.domain >= 0 && grp.domain !== grp.defaultDomain)
        out = push(
          out,
          `group ${g}: no owner, but group->domain d${grp.domain} is not the default domain d${grp.defaultDomain}`,
        );
      return out;
    }
    if (grp.ownerCnt < 1)
      out = push(out, `group ${g}: owned (owner ${grp.owner}) but owner_cnt is ${grp.ownerCnt}`);
    if (kernelUsers > 0)
      out = push(
        out,
        `group ${g}: owned by user space while ${kernelUsers} kernel DMA-API driver(s) are bound`,
      );
    const d = grp.domain;
    const dom = view.domainOrNull(d);
    const ok =
      d === grp.blockingDomain ||
      (dom !== null && (dom.allocator === 1 || dom.type === IOMMU_DOMAIN_IDENTITY));
    if (!ok)
      out = push(
        out,
        `group ${g}: owned by user space but group->domain d${d} is neither blocking nor attached by the owner`,
      );
    return out;
  },
);
