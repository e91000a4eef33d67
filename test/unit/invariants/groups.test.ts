import { describe, expect, it } from 'vitest';
import { IOMMU_DOMAIN_UNMANAGED } from '../../../src/iommu/domain-type.js';
import {
  dmaOwnership,
  oneRidDomainPerGroup,
  requireDirectNotBlocked,
} from '../../../src/invariants/groups.js';
import { failedAttachIntact } from '../../../src/invariants/attach.js';
import { DRIVER_DMA_API, DRIVER_VFIO } from '../../../src/model/state.js';
import { pci_disable_ats } from '../../../src/pci/ats.js';
import {
  attachByHand,
  blockingDomainOf,
  bootByHand,
  check,
  edit,
  fakeWorld,
  idsAndBdfs,
  mutFakeMaster,
  run,
} from './fake-ops.js';
import { A, B, C, basicMachine } from './machines.js';

const m = basicMachine();
const fA = m.byBdf.get(A)!;
const fB = m.byBdf.get(B)!;
const fC = m.byBdf.get(C)!;

describe('require-direct-not-blocked (g19)', () => {
  const w = fakeWorld(m, { requireDirect: [A] });
  const g = w.groupOf[fA]!;

  it('finds a require_direct function on the blocking domain', () => {
    const s = edit(w, bootByHand(w), (tx) => {
      const blk = blockingDomainOf(tx, g);
      tx.mutGroup(g).domain = blk;
      pci_disable_ats(tx, fA);
      attachByHand(tx, fA, blk);
    });
    expect(idsAndBdfs(check(w, s, requireDirectNotBlocked))).toEqual([['require-direct-not-blocked', A]]);
  });

  it('allows the reset parking, and other functions on the blocking domain', () => {
    const parked = edit(w, bootByHand(w), (tx) => {
      blockingDomainOf(tx, g);
      tx.mutGdev(fA).blocked = true;
    });
    expect(check(w, parked, requireDirectNotBlocked)).toEqual([]);
    const gB = w.groupOf[fB]!;
    const other = edit(w, bootByHand(w), (tx) => (tx.mutGroup(gB).domain = blockingDomainOf(tx, gB)));
    expect(check(w, other, requireDirectNotBlocked)).toEqual([]);
  });
});

describe('one-rid-domain-per-group (g20)', () => {
  const w = fakeWorld(m, { groups: [[A, B, C]] });
  const g = w.groupOf[fA]!;

  it('holds for a three-function group on one domain', () => {
    expect(w.groupOf[fB]).toBe(g);
    expect(check(w, bootByHand(w), oneRidDomainPerGroup)).toEqual([]);
  });

  it('finds the one member whose RID still translates through another domain', () => {
    const s = edit(w, bootByHand(w), (tx) => {
      const other = tx.allocDomain(IOMMU_DOMAIN_UNMANAGED, 1);
      mutFakeMaster(tx, fB).rid = other;
    });
    expect(idsAndBdfs(check(w, s, oneRidDomainPerGroup))).toEqual([['one-rid-domain-per-group', B]]);
  });

  it('lets a member parked for a reset sit elsewhere', () => {
    const s = edit(w, bootByHand(w), (tx) => {
      blockingDomainOf(tx, g);
      tx.mutGdev(fC).blocked = true;
      mutFakeMaster(tx, fC).rid = -1;
    });
    expect(check(w, s, oneRidDomainPerGroup)).toEqual([]);
  });

  it('finds group->domain pointing at a freed domain', () => {
    // Built without a Tx: commit's canonical renumbering turns a reference to a freed slot into -1.
    const s0 = bootByHand(w);
    const d = s0.groups[g]!.domain;
    const s = { ...s0, domains: s0.domains.map((x, i) => (i === d ? null : x)) };
    const v = check(w, s, oneRidDomainPerGroup);
    expect(v.map((x) => x.id)).toEqual(['one-rid-domain-per-group']);
    expect(v[0]!.detail).toContain('freed');
  });
});

describe('dma-ownership (g21)', () => {
  const w = fakeWorld(m);
  const g = w.groupOf[fA]!;
  const withDriver = edit(w, bootByHand(w), (tx) => {
    tx.mutDevice(fA).driver = DRIVER_DMA_API;
    tx.mutGroup(g).ownerCnt = 1;
  });

  it('holds for a kernel driver counted in owner_cnt', () => {
    expect(check(w, withDriver, dmaOwnership)).toEqual([]);
  });

  it('finds owner_cnt that does not count the bound kernel drivers', () => {
    const s = edit(w, withDriver, (tx) => (tx.mutGroup(g).ownerCnt = 0));
    const v = check(w, s, dmaOwnership);
    expect(v.map((x) => x.id)).toEqual(['dma-ownership']);
    expect(v[0]!.detail).toContain('owner_cnt is 0 but 1 kernel DMA-API driver');
  });

  it('finds a user-space owner left on the default domain, and one sharing the group with a kernel driver', () => {
    const s = edit(w, withDriver, (tx) => (tx.mutGroup(g).owner = 1));
    const v = check(w, s, dmaOwnership);
    expect(v.map((x) => x.detail)).toEqual([
      `group ${g}: owned by user space while 1 kernel DMA-API driver(s) are bound`,
      `group ${g}: owned by user space but group->domain d${s.groups[g]!.domain} is neither blocking nor attached by the owner`,
    ]);
  });

  it('holds for VFIO on the blocking domain or on a domain it attached', () => {
    const s = edit(w, bootByHand(w), (tx) => {
      tx.mutDevice(fA).driver = DRIVER_VFIO;
      const grp = tx.mutGroup(g);
      grp.owner = 1;
      grp.ownerCnt = 1;
      grp.domain = blockingDomainOf(tx, g);
    });
    expect(check(w, s, dmaOwnership)).toEqual([]);
    const user = edit(w, s, (tx) => (tx.mutGroup(g).domain = tx.allocDomain(IOMMU_DOMAIN_UNMANAGED, 1)));
    expect(check(w, user, dmaOwnership)).toEqual([]);
  });
});

describe('failed-attach-intact (g9)', () => {
  const w = fakeWorld(m, { groups: [[A, B]] });
  const g = w.groupOf[fA]!;
  const s0 = bootByHand(w);
  const failure = {
    kind: 'iommu',
    bdf: B,
    fn: '__iommu_group_set_domain_internal',
    detail: `group ${g}: DMA(d1) -> UNMANAGED(d2) failed (-22); reverted`,
  } as const;

  it('holds when the failed group attach reverted the member it had switched', () => {
    const r = run(w, s0, (tx) => {
      tx.emit({ kind: 'ste-write', bdf: A, cfg: 's1-trans', s1dss: 'ssid0', eats: true, domain: 2 });
      tx.emit({ kind: 'ste-write', bdf: A, cfg: 's1-trans', s1dss: 'ssid0', eats: true, domain: 1 });
      tx.emit(failure);
    });
    expect(check(w, r.state, failedAttachIntact, r.events)).toEqual([]);
  });

  it('finds a member left on the new domain after the attach failed', () => {
    const r = run(w, s0, (tx) => {
      const d2 = tx.allocDomain(IOMMU_DOMAIN_UNMANAGED, 1);
      mutFakeMaster(tx, fA).rid = d2;
      tx.emit({ kind: 'ste-write', bdf: A, cfg: 's1-trans', s1dss: 'ssid0', eats: true, domain: d2 });
      tx.emit(failure);
    });
    expect(idsAndBdfs(check(w, r.state, failedAttachIntact, r.events))).toEqual([
      ['failed-attach-intact', A],
    ]);
  });

  it('finds ATS turned off by an attach that then failed', () => {
    const r = run(w, s0, (tx) => {
      pci_disable_ats(tx, fB);
      mutFakeMaster(tx, fB).ats_enabled = false;
      tx.emit(failure);
    });
    const v = check(w, r.state, failedAttachIntact, r.events);
    expect(idsAndBdfs(v)).toEqual([['failed-attach-intact', B]]);
    expect(v[0]!.detail).toContain('turned ATS off');
  });

  it('ignores the same changes in a step where nothing failed', () => {
    const r = run(w, s0, (tx) => {
      pci_disable_ats(tx, fB);
      mutFakeMaster(tx, fB).ats_enabled = false;
    });
    expect(check(w, r.state, failedAttachIntact, r.events)).toEqual([]);
  });
});
