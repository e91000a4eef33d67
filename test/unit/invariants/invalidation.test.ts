import { describe, expect, it } from 'vitest';
import { IOMMU_DOMAIN_IDENTITY, IOMMU_DOMAIN_UNMANAGED } from '../../../src/iommu/domain-type.js';
import {
  atsRequiredButOff,
  invalidationTimeout,
  msiDoorbellUnmapped,
  noStaleTranslation,
} from '../../../src/invariants/functional.js';
import {
  atcInvTarget,
  invsCoverAttachments,
  iotlbTagsClean,
  noStaleCacheEntry,
} from '../../../src/invariants/invalidation.js';
import type { KernelEvent } from '../../../src/kernel/events.js';
import { pci_disable_ats } from '../../../src/pci/ats.js';
import type { SystemState } from '../../../src/model/state.js';
import type { Tx } from '../../../src/model/tx.js';
import {
  blockingDomainOf,
  bootByHand,
  check,
  edit,
  fakeDomain,
  fakeWorld,
  idsAndBdfs,
  run,
  setFakeDomain,
} from './fake-ops.js';
import { A, B, EP_CXL, basicMachine, machine } from './machines.js';

const m = basicMachine();
const fA = m.byBdf.get(A)!;
const fB = m.byBdf.get(B)!;
const w = fakeWorld(m);
const gA = w.groupOf[fA]!;
const s0 = bootByHand(w);
const dA = s0.groups[gA]!.domain;

const rangedInv = (bdf: string): KernelEvent => ({
  kind: 'smmu-cmd',
  cmd: 'CMD_ATC_INV',
  bdf,
  page: 4,
  span: 0,
});
const fullInv = (bdf: string): KernelEvent => ({
  kind: 'smmu-cmd',
  cmd: 'CMD_ATC_INV',
  bdf,
  page: 0,
  span: 52,
});

/** Maps iova 2 -> phys 5 in A's domain, with the IOTLB and A's ATC holding it. */
function mapped(tx: Tx): void {
  const pages = tx.mem().pages.slice();
  pages[5] = 1 + dA;
  tx.setMem({ pages });
  const d = tx.mutDomain(dA);
  d.pt = [2, 5];
  d.iotlb = [2, 5];
  tx.mutDevice(fA).atc = [0, 2, 5];
}
const withMapping = edit(w, s0, mapped);

describe('atc-inv-target (g12)', () => {
  it('holds for an unmap invalidation of a function with ATS on', () => {
    expect(check(w, s0, atcInvTarget, [rangedInv(A)])).toEqual([]);
  });

  it('finds an unmap invalidation sent to a function whose ATS is off', () => {
    const s = edit(w, s0, (tx) => {
      pci_disable_ats(tx, fA);
    });
    expect(idsAndBdfs(check(w, s, atcInvTarget, [rangedInv(A)]))).toEqual([['atc-inv-target', A]]);
  });

  it('allows the whole-ATC flush of an attach that turns ATS off', () => {
    const r = run(w, s0, (tx) => {
      pci_disable_ats(tx, fA);
      tx.emit(fullInv(A));
    });
    expect(check(w, r.state, atcInvTarget, r.events)).toEqual([]);
  });

  it('finds any invalidation of a resetting function that is not part of parking it', () => {
    const s = edit(w, s0, (tx) => (tx.mutDevice(fB).resetting = true));
    expect(idsAndBdfs(check(w, s, atcInvTarget, [rangedInv(B)]))).toEqual([['atc-inv-target', B]]);
    expect(idsAndBdfs(check(w, s, atcInvTarget, [fullInv(B)]))).toEqual([['atc-inv-target', B]]);
  });
});

describe('invs-cover-attachments and iotlb-tags-clean (g13)', () => {
  it('finds an attached master missing from the device list and its ATS entry', () => {
    const s = edit(w, s0, (tx) => {
      setFakeDomain(tx, dA, {
        devices: [],
        invs: fakeDomain(tx, dA).invs.filter((_, i, a) => a[i - (i % 4)] !== 3),
      });
    });
    const v = check(w, s, invsCoverAttachments);
    expect(idsAndBdfs(v)).toEqual([
      ['invs-cover-attachments', A],
      ['invs-cover-attachments', A],
    ]);
    expect(v.map((x) => x.detail).join('\n')).toMatch(/missing from its devices list[^]*no ATS entry/);
  });

  it('finds a device list that holds a master no longer attached there', () => {
    const s = edit(w, s0, (tx) => {
      setFakeDomain(tx, dA, { devices: [fA, 0, fB, 0] });
    });
    expect(idsAndBdfs(check(w, s, invsCoverAttachments))).toEqual([['invs-cover-attachments', B]]);
  });

  it('finds IOTLB entries of a domain nobody is attached to any more', () => {
    const s = edit(w, withMapping, (tx) => {
      const blk = blockingDomainOf(tx, gA);
      tx.mutGroup(gA).domain = blk;
      tx.mutGroup(gA).owner = 1;
    });
    const v = check(w, s, iotlbTagsClean);
    expect(v.map((x) => x.id)).toEqual(['iotlb-tags-clean']);
    expect(check(w, withMapping, iotlbTagsClean)).toEqual([]);
  });
});

describe('no-stale-cache-entry', () => {
  it('holds while the mapping exists', () => {
    expect(check(w, withMapping, noStaleCacheEntry)).toEqual([]);
  });

  /** The unmap removed the mapping and freed the page, but the caches kept it. */
  const stale = edit(w, withMapping, (tx) => {
    tx.mutDomain(dA).pt = [];
    const pages = tx.mem().pages.slice();
    pages[5] = 0;
    tx.setMem({ pages });
  });

  it('finds IOTLB and ATC entries reaching a freed page', () => {
    const v = check(w, stale, noStaleCacheEntry);
    expect(idsAndBdfs(v)).toEqual([
      ['no-stale-cache-entry', undefined],
      ['no-stale-cache-entry', A],
    ]);
    expect(v[1]!.detail).toContain('free page');
  });

  it('allows the window of a lazy (DMA_FQ) unmap: the pair waits in the flush queue', () => {
    const s = edit(w, stale, (tx) => (tx.mutDomain(dA).fq = [2, 5]));
    expect(check(w, s, noStaleCacheEntry)).toEqual([]);
  });

  it('finds an ATC entry the domain no longer maps at a quiescent point, but not mid-unmap', () => {
    const s = edit(w, withMapping, (tx) => (tx.mutDomain(dA).pt = []));
    const calm = check(w, s, noStaleCacheEntry);
    expect(idsAndBdfs(calm)).toEqual([
      ['no-stale-cache-entry', undefined],
      ['no-stale-cache-entry', A],
    ]);
    const mid: SystemState = {
      ...s,
      threads: [{ pc: 0, cont: { op: 'dma-unmap', phase: 1, args: [], domainArgs: 0, key: 0 } }],
    };
    expect(check(w, mid, noStaleCacheEntry)).toEqual([]);
  });

  it('ignores ATC entries the function cannot use (ATS off)', () => {
    const s = edit(w, stale, (tx) => {
      pci_disable_ats(tx, fA);
      tx.mutDomain(dA).iotlb = [];
    });
    expect(check(w, s, noStaleCacheEntry)).toEqual([]);
  });
});

describe('functional: no-stale-translation and invalidation-timeout', () => {
  it('reports every stale DMA', () => {
    const ev: KernelEvent = {
      kind: 'dma',
      bdf: A,
      translated: true,
      pasid: 0,
      iova: 2,
      outcome: 'stale',
      phys: 5,
    };
    expect(idsAndBdfs(check(w, s0, noStaleTranslation, [ev]))).toEqual([['no-stale-translation', A]]);
    expect(check(w, s0, noStaleTranslation, [{ ...ev, outcome: 'ok' }])).toEqual([]);
  });

  it('blames the function the driver logged, else the one invalidated since the last sync', () => {
    const sync = { kind: 'smmu-cmd', cmd: 'CMD_SYNC', result: 'timeout' } as const;
    const logged: KernelEvent[] = [
      rangedInv(A),
      rangedInv(B),
      sync,
      { kind: 'info', bdf: B, message: 'ATC invalidate timeout', level: 'err' },
    ];
    expect(idsAndBdfs(check(w, s0, invalidationTimeout, logged))).toEqual([['invalidation-timeout', B]]);
    const single: KernelEvent[] = [
      rangedInv(A),
      { kind: 'smmu-cmd', cmd: 'CMD_SYNC', result: 'ok' },
      rangedInv(B),
      sync,
    ];
    expect(idsAndBdfs(check(w, s0, invalidationTimeout, single))).toEqual([['invalidation-timeout', B]]);
    expect(check(w, s0, invalidationTimeout, [rangedInv(A), { ...sync, result: 'ok' }])).toEqual([]);
  });
});

describe('functional: ats-required-but-off (g24)', () => {
  const mc = machine({ [A]: EP_CXL });
  const f = mc.byBdf.get(A)!;

  it('reports a CXL.cache function left without ATS in IDENTITY before v7.2, not on v7.2', () => {
    const w70 = fakeWorld(mc, { preset: 'v7.0' });
    expect(
      idsAndBdfs(check(w70, bootByHand(w70, { type: IOMMU_DOMAIN_IDENTITY }), atsRequiredButOff)),
    ).toEqual([['ats-required-but-off', A]]);
    const w72 = fakeWorld(mc, { preset: 'v7.2' });
    expect(check(w72, bootByHand(w72, { type: IOMMU_DOMAIN_IDENTITY }), atsRequiredButOff)).toEqual([]);
  });

  it('does not report it under a blocking domain, on an untrusted port, or without a CXL.cache need', () => {
    const w70 = fakeWorld(mc, { preset: 'v7.0' });
    const blocked = edit(w70, bootByHand(w70, { type: IOMMU_DOMAIN_IDENTITY }), (tx) => {
      const g = w70.groupOf[f]!;
      tx.mutGroup(g).domain = blockingDomainOf(tx, g);
    });
    expect(check(w70, blocked, atsRequiredButOff)).toEqual([]);
    const ext = fakeWorld(machine({ [A]: EP_CXL }, { externalFacing: true }), { preset: 'v7.0' });
    expect(check(ext, bootByHand(ext, { type: IOMMU_DOMAIN_IDENTITY }), atsRequiredButOff)).toEqual([]);
    const plain = fakeWorld(basicMachine(), { preset: 'v7.0' });
    expect(check(plain, bootByHand(plain, { type: IOMMU_DOMAIN_IDENTITY }), atsRequiredButOff)).toEqual([]);
  });
});

describe('functional: msi-doorbell-unmapped (g24)', () => {
  const msi = edit(w, s0, (tx) => {
    tx.mutDevice(fA).msiInUse = true;
    tx.mutDomain(dA).msiDoorbell = true;
  });

  it('holds while the paging domain maps the doorbell, or under IDENTITY', () => {
    expect(check(w, msi, msiDoorbellUnmapped)).toEqual([]);
    const id = edit(
      w,
      bootByHand(w, { type: IOMMU_DOMAIN_IDENTITY }),
      (tx) => (tx.mutDevice(fA).msiInUse = true),
    );
    expect(check(w, id, msiDoorbellUnmapped)).toEqual([]);
  });

  it('reports the group moved to a blocking domain or to a fresh paging domain without the doorbell', () => {
    const blocked = edit(w, msi, (tx) => (tx.mutGroup(gA).domain = blockingDomainOf(tx, gA)));
    expect(idsAndBdfs(check(w, blocked, msiDoorbellUnmapped))).toEqual([['msi-doorbell-unmapped', A]]);
    const user = edit(w, msi, (tx) => (tx.mutGroup(gA).domain = tx.allocDomain(IOMMU_DOMAIN_UNMANAGED, 1)));
    expect(idsAndBdfs(check(w, user, msiDoorbellUnmapped))).toEqual([['msi-doorbell-unmapped', A]]);
  });

  it('does not apply where the IOMMU does not translate MSIs', () => {
    const x86 = fakeWorld(m, { features: { msiThroughIommu: false } });
    const s = edit(x86, bootByHand(x86), (tx) => (tx.mutDevice(fA).msiInUse = true));
    expect(check(x86, s, msiDoorbellUnmapped)).toEqual([]);
  });
});
