import { describe, expect, it } from 'vitest';
import { IOMMU_DOMAIN_BLOCKED, IOMMU_DOMAIN_IDENTITY } from '../../../src/iommu/domain-type.js';
import {
  atsCtrlAgrees,
  atsImpliesEats,
  atsRequiredOn,
  blockedAtsOff,
  nrAtsMasters,
  pasidBeforeAts,
  pasidKeepsAts,
  smmuPciAtsAgree,
} from '../../../src/invariants/ats.js';
import { invariantById } from '../../../src/invariants/catalogue.js';
import { pci_disable_ats, pci_enable_ats } from '../../../src/pci/ats.js';
import { PCI_ATS_CTRL_ENABLE } from '../../../src/pci/caps/ats.js';
import { pci_disable_pasid } from '../../../src/pci/pasid.js';
import {
  attachByHand,
  blockingDomainOf,
  bootByHand,
  check,
  edit,
  fakeDomain,
  fakeWorld,
  idsAndBdfs,
  mutFakeMaster,
  run,
  setFakeDomain,
} from './fake-ops.js';
import { A, B, EP_CXL, basicMachine, machine } from './machines.js';

const world = fakeWorld(basicMachine());
const booted = bootByHand(world);
const fA = world.machine.byBdf.get(A)!;
const fB = world.machine.byBdf.get(B)!;
const gA = world.groupOf[fA]!;
const dA = booted.groups[gA]!.domain;

/** A thread in the middle of a split operation. */
function midOperation(s: typeof booted): typeof booted {
  return { ...s, threads: [{ pc: 0, cont: { op: 'dma-unmap', phase: 1, args: [], domainArgs: 0, key: 0 } }] };
}

describe('nr-ats-masters (g1)', () => {
  it('holds after a clean boot, where the counter is 1 on an ATS master domain', () => {
    expect(check(world, booted, nrAtsMasters)).toEqual([]);
    expect((booted.domains[dA]!.drv as { nr_ats_masters: number }).nr_ats_masters).toBe(1);
  });

  it('finds a counter that drifted from the attachments', () => {
    const s = edit(world, booted, (tx) => {
      setFakeDomain(tx, dA, { nr_ats_masters: 2 });
    });
    const v = check(world, s, nrAtsMasters);
    expect(idsAndBdfs(v)).toEqual([['nr-ats-masters', undefined]]);
    expect(v[0]!.detail).toContain('nr_ats_masters is 2');
  });

  it('finds an invalidation array that lost the ATS entry', () => {
    const s = edit(world, booted, (tx) => {
      setFakeDomain(tx, dA, { invs: fakeDomain(tx, dA).invs.filter((_, i, a) => a[i - (i % 4)] !== 3) });
    });
    const v = check(world, s, nrAtsMasters);
    expect(idsAndBdfs(v)).toEqual([['nr-ats-masters', undefined]]);
    expect(v[0]!.detail).toContain('invs holds 0 ATS reference');
  });

  it("blames the master counted with ATS whose PCI function has it off (thread 4's drift)", () => {
    const s = edit(world, booted, (tx) => {
      pci_disable_ats(tx, fA);
    });
    expect(idsAndBdfs(check(world, s, nrAtsMasters))).toEqual([['nr-ats-masters', A]]);
    expect(idsAndBdfs(check(world, s, smmuPciAtsAgree))).toEqual([['smmu-pci-ats-agree', A]]);
  });

  it('counts PASID attachments too', () => {
    const s = edit(world, booted, (tx) => {
      const d2 = tx.allocDomain(1, 1);
      tx.mutGroup(gA).pasids = [5, d2];
      mutFakeMaster(tx, fA).pasidXlate = [5, d2];
    });
    const d2 = s.groups[gA]!.pasids[1]!;
    const v = check(world, s, nrAtsMasters);
    expect(idsAndBdfs(v)).toEqual([['nr-ats-masters', undefined]]);
    expect(v[0]!.detail).toContain(`domain d${d2}: 1 attachment`);
  });

  it('is not checked while a thread is mid-operation', () => {
    const s = edit(world, booted, (tx) => {
      setFakeDomain(tx, dA, { nr_ats_masters: 7 });
    });
    expect(check(world, midOperation(s), nrAtsMasters)).toEqual([]);
  });
});

describe('smmu-pci-ats-agree (g2)', () => {
  it('finds a driver that believes ATS off while the function has it on', () => {
    const s = edit(world, booted, (tx) => (mutFakeMaster(tx, fB).ats_enabled = false));
    const v = check(world, s, smmuPciAtsAgree);
    expect(idsAndBdfs(v)).toEqual([['smmu-pci-ats-agree', B]]);
    expect(check(world, midOperation(s), smmuPciAtsAgree)).toEqual([]);
  });
});

describe('ats-ctrl-agrees (g3)', () => {
  it('finds ATS Control disagreeing with pdev->ats_enabled, either way', () => {
    const off = edit(world, booted, (tx) => (tx.mut(fA).atsCtrl &= ~PCI_ATS_CTRL_ENABLE));
    expect(idsAndBdfs(check(world, off, atsCtrlAgrees))).toEqual([['ats-ctrl-agrees', A]]);
    const on = edit(world, booted, (tx) => (tx.mut(fB).atsEnabled = false));
    expect(idsAndBdfs(check(world, on, atsCtrlAgrees))).toEqual([['ats-ctrl-agrees', B]]);
  });

  it('ignores a function in reset (the reset cleared the register)', () => {
    const s = edit(world, booted, (tx) => {
      tx.mut(fA).atsCtrl &= ~PCI_ATS_CTRL_ENABLE;
      tx.mutDevice(fA).resetting = true;
    });
    expect(check(world, s, atsCtrlAgrees)).toEqual([]);
  });

  it('is documented with the WARN sites of the enable/disable discipline', () => {
    expect(invariantById('ats-ctrl-agrees')!.statement).toContain('warn:pci_disable_ats');
  });
});

describe('ats-implies-eats (g11)', () => {
  it('finds ATS on at the function while the STE does not accept translated requests', () => {
    const s = edit(world, booted, (tx) => (mutFakeMaster(tx, fA).eats = false));
    expect(idsAndBdfs(check(world, s, atsImpliesEats))).toEqual([['ats-implies-eats', A]]);
  });

  it('holds the other way round: EATS set before ATS is turned on', () => {
    const s = edit(world, booted, (tx) => {
      pci_disable_ats(tx, fA);
      mutFakeMaster(tx, fA).ats_enabled = false;
    });
    expect(check(world, s, atsImpliesEats)).toEqual([]);
  });
});

describe('blocked-ats-off (g14)', () => {
  it('finds ATS left on when the group moves to the blocking domain', () => {
    const s = edit(world, booted, (tx) => {
      const blk = blockingDomainOf(tx, gA);
      tx.mutGroup(gA).domain = blk;
      mutFakeMaster(tx, fA).rid = -1;
    });
    expect(idsAndBdfs(check(world, s, blockedAtsOff))).toEqual([['blocked-ats-off', A]]);
  });

  it('allows ATS on a blocked RID while a PASID is attached (S1DSS=TERMINATE)', () => {
    const s = edit(world, booted, (tx) => {
      const blk = blockingDomainOf(tx, gA);
      const sva = tx.allocDomain(16, 3);
      const grp = tx.mutGroup(gA);
      grp.domain = blk;
      grp.pasids = [1, sva];
      mutFakeMaster(tx, fA).rid = -1;
      mutFakeMaster(tx, fA).pasidXlate = [1, sva];
    });
    expect(check(world, s, blockedAtsOff)).toEqual([]);
  });

  it('finds ATS on a function parked for a reset', () => {
    const s = edit(world, booted, (tx) => {
      blockingDomainOf(tx, gA);
      tx.mutGdev(fA).blocked = true;
    });
    const v = check(world, s, blockedAtsOff);
    expect(idsAndBdfs(v)).toEqual([['blocked-ats-off', A]]);
    expect(v[0]!.detail).toContain('reset');
  });
});

describe('ats-required-on (g15)', () => {
  const m = machine({ [A]: EP_CXL });
  const cxlA = m.byBdf.get(A)!;

  it('finds a CXL.cache function with ATS off in IDENTITY when the kernel knows it is required (v7.2)', () => {
    const w = fakeWorld(m, { preset: 'v7.2' });
    const s0 = bootByHand(w, { type: IOMMU_DOMAIN_IDENTITY });
    expect(s0.pci[cxlA]!.atsEnabled).toBe(true);
    const s = edit(w, s0, (tx) => {
      pci_disable_ats(tx, cxlA);
      mutFakeMaster(tx, cxlA).ats_enabled = false;
      mutFakeMaster(tx, cxlA).eats = false;
    });
    expect(idsAndBdfs(check(w, s, atsRequiredOn))).toEqual([['ats-required-on', A]]);
  });

  it('does not apply before v7.2 (pci_ats_required() does not exist) or without stage 1', () => {
    const w = fakeWorld(m, { preset: 'v7.0' });
    const s = bootByHand(w, { type: IOMMU_DOMAIN_IDENTITY });
    expect(s.pci[cxlA]!.atsEnabled).toBe(false);
    expect(check(w, s, atsRequiredOn)).toEqual([]);
    const noS1 = fakeWorld(m, { preset: 'v7.3', features: { stage1: false } });
    expect(check(noS1, bootByHand(noS1, { type: IOMMU_DOMAIN_IDENTITY }), atsRequiredOn)).toEqual([]);
  });

  it('does not ask for ATS under a BLOCKED domain', () => {
    const w = fakeWorld(m, { preset: 'v7.3' });
    const s = edit(w, bootByHand(w, { type: IOMMU_DOMAIN_IDENTITY }), (tx) => {
      const g = w.groupOf[cxlA]!;
      const blk = blockingDomainOf(tx, g);
      tx.mutGroup(g).domain = blk;
      pci_disable_ats(tx, cxlA);
      attachByHand(tx, cxlA, blk);
    });
    expect(s.domains[s.groups[w.groupOf[cxlA]!]!.domain]!.type).toBe(IOMMU_DOMAIN_BLOCKED);
    expect(check(w, s, atsRequiredOn)).toEqual([]);
  });
});

describe('pasid-keeps-ats (g16)', () => {
  it('finds ATS off while a PASID is attached', () => {
    const w = fakeWorld(basicMachine());
    const s = edit(w, bootByHand(w, { type: IOMMU_DOMAIN_IDENTITY }), (tx) => {
      const sva = tx.allocDomain(16, 3);
      tx.mutGroup(gA).pasids = [1, sva];
      mutFakeMaster(tx, fA).pasidXlate = [1, sva];
    });
    expect(s.pci[fA]!.atsEnabled).toBe(false);
    expect(idsAndBdfs(check(w, s, pasidKeepsAts))).toEqual([['pasid-keeps-ats', A]]);
    const fixed = edit(w, s, (tx) => {
      pci_enable_ats(tx, fA, 12);
    });
    expect(check(w, fixed, pasidKeepsAts)).toEqual([]);
  });
});

describe('pasid-before-ats (g23)', () => {
  it('holds after probe, where PASID was enabled first', () => {
    expect(booted.pci[fA]!.pasidEnabled).toBe(true);
    expect(check(world, booted, pasidBeforeAts)).toEqual([]);
  });

  it('finds ATS on with PASID disabled on a PASID-capable function', () => {
    const s = edit(world, booted, (tx) => (tx.mut(fA).pasidEnabled = false));
    expect(idsAndBdfs(check(world, s, pasidBeforeAts))).toEqual([['pasid-before-ats', A]]);
  });

  it('finds PASID Control written while ATS is on', () => {
    const r = run(world, booted, (tx) => {
      pci_disable_pasid(tx, fA);
    });
    const v = check(world, r.state, pasidBeforeAts, r.events);
    expect(idsAndBdfs(v)).toEqual([
      ['pasid-before-ats', A],
      ['pasid-before-ats', A],
    ]);
    expect(v.map((x) => x.detail)).toContain('PASID Control written while ATS is enabled');
  });

  it('without ACS RR/UF above the function, asks for PASID only in a kernel whose pci_enable_pasid() does not check it (v6.1)', () => {
    const m = machine(
      { [A]: { vendorId: 1, deviceId: 2, ats: {}, pasid: { width: 4 } } },
      { rootPortAcs: { capability: ['SV', 'RR', 'CR', 'UF'], control: ['SV'] } },
    );
    const f = m.byBdf.get(A)!;
    // v7.3 (pasid-acs-path on): PASID is refused at probe, and nothing is asked of it.
    const w73 = fakeWorld(m, { preset: 'v7.3' });
    const s73 = bootByHand(w73);
    expect(s73.pci[f]!.pasidEnabled).toBe(false);
    expect(check(w73, s73, pasidBeforeAts)).toEqual([]);
    // v6.1 (off): PASID comes on at probe, so ATS on without it is a violation.
    const w61 = fakeWorld(m, { preset: 'v6.1' });
    const s61 = bootByHand(w61);
    expect(s61.pci[f]!.pasidEnabled).toBe(true);
    expect(check(w61, s61, pasidBeforeAts)).toEqual([]);
    const off = edit(w61, s61, (tx) => (tx.mut(f).pasidEnabled = false));
    expect(idsAndBdfs(check(w61, off, pasidBeforeAts))).toEqual([['pasid-before-ats', A]]);
  });

  it('does not ask for PASID where the path cannot carry it (no ACS RR/UF above the function)', () => {
    const m = machine({
      [A]: { vendorId: 1, deviceId: 2, ats: {}, pasid: { width: 4 }, eeTlpPrefix: false },
    });
    const w = fakeWorld(m);
    const s = bootByHand(w);
    expect(s.pci[m.byBdf.get(A)!]!.pasidEnabled).toBe(false);
    expect(check(w, s, pasidBeforeAts)).toEqual([]);
  });
});
