import { describe, expect, it } from 'vitest';
import { IOMMU_DOMAIN_SVA, IOMMU_DOMAIN_UNMANAGED } from '../../../src/iommu/domain-type.js';
import { pasidAllocation } from '../../../src/invariants/pasid.js';
import { resetDepthBalance, resetFenced, resetFencing } from '../../../src/invariants/reset.js';
import { pci_disable_ats } from '../../../src/pci/ats.js';
import type { SystemState } from '../../../src/model/state.js';
import type { Tx } from '../../../src/model/tx.js';
import {
  blockingDomainOf,
  bootByHand,
  check,
  edit,
  fakeWorld,
  idsAndBdfs,
  mutFakeMaster,
} from './fake-ops.js';
import { A, B, basicMachine } from './machines.js';

const m = basicMachine();
const fA = m.byBdf.get(A)!;
const fB = m.byBdf.get(B)!;

/** pci_dev_reset_iommu_prepare() done by hand: RID parked on the blocking domain, PASIDs gone, ATS off. */
function park(tx: Tx, f: number): void {
  const g = tx.world.groupOf[f]!;
  blockingDomainOf(tx, g);
  pci_disable_ats(tx, f);
  const mm = mutFakeMaster(tx, f);
  mm.ats_enabled = false;
  mm.eats = false;
  mm.rid = -1;
  mm.pasidXlate = [];
  const gd = tx.mutGdev(f);
  gd.blocked = true;
  gd.resetDepth = gd.resetDepth + 1;
  tx.mutGroup(g).recoveryCnt = tx.group(g).recoveryCnt + 1;
}

describe('reset-fencing and reset-depth-balance (g17), reset-fenced (g18)', () => {
  const w = fakeWorld(m, { preset: 'v7.0' });
  const s0 = bootByHand(w);
  const parked = edit(w, s0, (tx) => {
    park(tx, fA);
    tx.mutDevice(fA).resetting = true;
  });
  const all = [resetFencing, resetDepthBalance, resetFenced];

  it('holds for a function parked and resetting', () => {
    expect(check(w, parked, all)).toEqual([]);
  });

  it('finds a parked function whose RID still translates, or whose ATS is still on', () => {
    const rid = edit(w, parked, (tx) => (mutFakeMaster(tx, fA).rid = tx.group(w.groupOf[fA]!).domain));
    expect(idsAndBdfs(check(w, rid, resetFencing))).toEqual([['reset-fencing', A]]);
    const ats = edit(w, parked, (tx) => (tx.mut(fA).atsEnabled = true));
    expect(idsAndBdfs(check(w, ats, resetFencing))).toEqual([['reset-fencing', A]]);
  });

  it('finds a parked function whose PASID still translates', () => {
    const s = edit(w, parked, (tx) => {
      const sva = tx.allocDomain(IOMMU_DOMAIN_SVA, 3);
      tx.mutGroup(w.groupOf[fA]!).pasids = [1, sva];
      mutFakeMaster(tx, fA).pasidXlate = [1, sva];
    });
    const v = check(w, s, resetFencing);
    expect(idsAndBdfs(v)).toEqual([['reset-fencing', A]]);
    expect(v[0]!.detail).toContain('PASID 1');
  });

  it('finds unbalanced depth and recovery counts', () => {
    const depth = edit(w, parked, (tx) => (tx.mutGdev(fA).resetDepth = 0));
    expect(idsAndBdfs(check(w, depth, resetDepthBalance))).toEqual([['reset-depth-balance', A]]);
    const negative = edit(w, s0, (tx) => (tx.mutGdev(fB).resetDepth = -1));
    expect(idsAndBdfs(check(w, negative, resetDepthBalance))).toEqual([['reset-depth-balance', B]]);
    const rc = edit(w, parked, (tx) => (tx.mutGroup(w.groupOf[fA]!).recoveryCnt = 2));
    const v = check(w, rc, resetDepthBalance);
    expect(idsAndBdfs(v)).toEqual([['reset-depth-balance', undefined]]);
    expect(v[0]!.detail).toContain('recovery_cnt is 2 but 1');
  });

  it('finds an ATS-capable function resetting without the IOMMU fence (v6.12 has no reset hooks)', () => {
    const w612 = fakeWorld(m, { preset: 'v6.12' });
    const s = edit(w612, bootByHand(w612), (tx) => (tx.mutDevice(fA).resetting = true));
    expect(idsAndBdfs(check(w612, s, resetFenced))).toEqual([['reset-fenced', A]]);
  });

  it('does not ask to fence a function without ATS (prepare is a no-op there)', () => {
    const fC = m.byBdf.get('0000:01:02.0')!;
    const s = edit(w, s0, (tx) => (tx.mutDevice(fC).resetting = true));
    expect(check(w, s, resetFenced)).toEqual([]);
  });
});

describe('pasid-allocation (g22)', () => {
  const w = fakeWorld(m);
  const g = w.groupOf[fA]!;
  const s0 = bootByHand(w);
  /** A's group with a DMA-API PASID domain attached at `pasid`, translating there. */
  function attached(pasid: number, global: readonly number[]): SystemState {
    return edit(w, s0, (tx) => {
      const d = tx.allocDomain(3, 2);
      tx.mutGroup(g).pasids = [pasid, d];
      mutFakeMaster(tx, fA).pasidXlate = [pasid, d];
      tx.setGlobalPasids(global);
    });
  }

  it('holds for a global PASID attached to one domain', () => {
    expect(w.maxPasids[fA]).toBe(256);
    expect(check(w, attached(1, [1]), pasidAllocation)).toEqual([]);
  });

  it('finds duplicate and out-of-range global PASIDs', () => {
    const dup = check(w, attached(1, [1, 1]), pasidAllocation);
    expect(dup.map((v) => v.detail)).toEqual(['global PASIDs are not unique: [1, 1]']);
    const range = check(w, attached(1, [0, 1, 256]), pasidAllocation);
    expect(range.map((v) => v.detail)).toEqual([
      'global PASID 0 is outside [1, 255]',
      'global PASID 256 is outside [1, 255]',
    ]);
  });

  it('finds a DMA-API PASID that is not global, PASID 0 through the PASID API, and a PASID beyond max_pasids', () => {
    expect(check(w, attached(7, [1]), pasidAllocation).map((v) => v.detail)).toEqual([
      `group ${g}: DMA-API PASID 7 is not a global PASID`,
    ]);
    const zero = check(w, attached(0, []), pasidAllocation);
    expect(zero.map((v) => v.detail)).toContain(
      `group ${g}: PASID 0 (IOMMU_NO_PASID) attached through the PASID API`,
    );
    const big = check(w, attached(300, [300]), pasidAllocation);
    expect(idsAndBdfs(big).filter(([, b]) => b !== undefined)).toEqual([['pasid-allocation', A]]);
  });

  it('finds a member that does not translate the PASID through its domain', () => {
    const s = edit(w, attached(1, [1]), (tx) => {
      const other = tx.allocDomain(IOMMU_DOMAIN_UNMANAGED, 1);
      mutFakeMaster(tx, fA).pasidXlate = [1, other];
    });
    expect(idsAndBdfs(check(w, s, pasidAllocation))).toEqual([['pasid-allocation', A]]);
  });
});
