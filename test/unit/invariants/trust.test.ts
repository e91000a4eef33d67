import { describe, expect, it } from 'vitest';
import { IOMMU_DOMAIN_IDENTITY } from '../../../src/iommu/domain-type.js';
import {
  atsCapStable,
  stuProgrammedAtProbe,
  untrustedNoAts,
  untrustedPropagates,
  vfAtsFollowsPf,
  vfStuFollowsPf,
} from '../../../src/invariants/trust.js';
import { pci_disable_ats, pci_enable_ats, pci_prepare_ats } from '../../../src/pci/ats.js';
import { PCI_ATS_CTRL_ENABLE } from '../../../src/pci/caps/ats.js';
import { quirk_no_ats } from '../../../src/pci/quirks.js';
import type { World } from '../../../src/model/world.js';
import { bootByHand, check, edit, fakeWorld, idsAndBdfs, mutFakeMaster, run } from './fake-ops.js';
import { A, EP_ATS, EP_CXL, RP, VF0, VF1, machine, sriovMachine } from './machines.js';

describe('untrusted-no-ats (g4)', () => {
  const w = fakeWorld(machine({ [A]: EP_CXL }, { externalFacing: true }), { preset: 'v7.2' });
  const f = w.machine.byBdf.get(A)!;

  it('holds for a CXL.cache function below an external-facing port: never supported, never required', () => {
    expect(w.infos[f]!.untrusted).toBe(true);
    const s = bootByHand(w, { type: IOMMU_DOMAIN_IDENTITY });
    expect(s.pci[f]!.atsEnabled).toBe(false);
    expect(check(w, s, untrustedNoAts)).toEqual([]);
  });

  it('finds ATS enabled on the untrusted function', () => {
    const s = edit(w, bootByHand(w), (tx) => (tx.mut(f).atsEnabled = true));
    expect(idsAndBdfs(check(w, s, untrustedNoAts))).toEqual([['untrusted-no-ats', A]]);
  });

  it('finds an IDENTITY default domain in the group of an untrusted function', () => {
    const s = edit(w, bootByHand(w), (tx) => {
      const g = w.groupOf[f]!;
      const id = tx.allocDomain(IOMMU_DOMAIN_IDENTITY, 0);
      tx.mutGroup(g).domain = id;
      tx.mutGroup(g).defaultDomain = id;
    });
    const v = check(w, s, untrustedNoAts);
    expect(idsAndBdfs(v)).toEqual([['untrusted-no-ats', A]]);
    expect(v[0]!.detail).toContain('IDENTITY');
  });
});

describe('untrusted-propagates (g5)', () => {
  it('holds on machines with external-facing ports', () => {
    const w = fakeWorld(machine({ [A]: EP_ATS }, { externalFacing: true }));
    expect(check(w, bootByHand(w), untrustedPropagates)).toEqual([]);
  });

  it('finds a function that should inherit untrusted from its bridge but did not', () => {
    const base = fakeWorld(machine({ [A]: EP_ATS }, { externalFacing: true }));
    const f = base.machine.byBdf.get(A)!;
    const w: World = {
      ...base,
      infos: base.infos.map((i) => (i.index === f ? { ...i, untrusted: false } : i)),
    };
    expect(idsAndBdfs(check(w, initial(w), untrustedPropagates))).toEqual([['untrusted-propagates', A]]);
  });

  it('finds a root port marked untrusted with nothing above it, and the trusted function below it', () => {
    const base = fakeWorld(machine({ [A]: EP_ATS }));
    const f = base.machine.byBdf.get(RP)!;
    const w: World = {
      ...base,
      infos: base.infos.map((i) => (i.index === f ? { ...i, untrusted: true } : i)),
    };
    expect(idsAndBdfs(check(w, initial(w), untrustedPropagates))).toEqual([
      ['untrusted-propagates', RP],
      ['untrusted-propagates', A],
    ]);
  });
});

function initial(w: World) {
  return bootByHand(w);
}

describe('vf-stu-follows-pf (g6)', () => {
  const w = fakeWorld(sriovMachine());
  const pf = w.machine.byBdf.get(A)!;
  const vf0 = w.machine.byBdf.get(VF0)!;
  const s0 = bootByHand(w);

  it('holds after a boot: both VFs enabled at the PF STU', () => {
    expect(s0.pci[vf0]!.atsEnabled).toBe(true);
    expect(check(w, s0, vfStuFollowsPf)).toEqual([]);
  });

  it("finds VFs translating at a PF STU that is not the IOMMU's page shift", () => {
    const s = edit(w, s0, (tx) => (tx.mut(pf).atsStu = 13));
    expect(idsAndBdfs(check(w, s, vfStuFollowsPf))).toEqual([
      ['vf-stu-follows-pf', VF0],
      ['vf-stu-follows-pf', VF1],
    ]);
  });

  it('finds a VF that wrote an STU of its own', () => {
    const s = edit(w, s0, (tx) => (tx.mut(vf0).atsCtrl = PCI_ATS_CTRL_ENABLE | 1));
    expect(idsAndBdfs(check(w, s, vfStuFollowsPf))).toEqual([['vf-stu-follows-pf', VF0]]);
  });
});

/** An SR-IOV PF that the E2000 quirk strips of ATS (Intel 0x1452 before revision 0x20); its VFs keep ATS. */
function quirkedPfWorld(preset: string): World {
  return fakeWorld(sriovMachine({ vendorId: 0x8086, deviceId: 0x1452, revision: 0x10 }), { preset });
}

describe('vf-ats-follows-pf (g7)', () => {
  it('finds VFs of a quirked PF that pci_ats_supported() still calls supported (v7.2, not PF-aware)', () => {
    const w = quirkedPfWorld('v7.2');
    const s = bootByHand(w);
    expect(s.pci[w.machine.byBdf.get(A)!]!.atsCap).toBe(0);
    expect(idsAndBdfs(check(w, s, vfAtsFollowsPf))).toEqual([
      ['vf-ats-follows-pf', VF0],
      ['vf-ats-follows-pf', VF1],
    ]);
  });

  it('holds on v7.3, where a VF is supported only if its PF is (4f2cd6091ac4)', () => {
    const w = quirkedPfWorld('v7.3');
    expect(check(w, bootByHand(w), vfAtsFollowsPf)).toEqual([]);
  });

  it('finds a VF with ATS enabled under a PF that lost ATS', () => {
    const w = fakeWorld(sriovMachine());
    const s = edit(w, bootByHand(w), (tx) => (tx.mut(w.machine.byBdf.get(A)!).atsCap = 0));
    const v = check(w, s, vfAtsFollowsPf);
    expect(idsAndBdfs(v)).toEqual([
      ['vf-ats-follows-pf', VF0],
      ['vf-ats-follows-pf', VF1],
    ]);
    expect(v[0]!.detail).toContain('has ATS enabled');
  });
});

describe('ats-cap-stable (g8)', () => {
  it('finds a late ATS quirk under an enabled function: the disable lands on PCI Status and ATS stays on', () => {
    const w = fakeWorld(machine({ [A]: EP_ATS }));
    const f = w.machine.byBdf.get(A)!;
    const r = run(w, bootByHand(w), (tx) => {
      quirk_no_ats(tx, f);
      pci_disable_ats(tx, f);
      mutFakeMaster(tx, f).ats_enabled = false;
      mutFakeMaster(tx, f).eats = false;
    });
    expect(r.events.some((e) => e.kind === 'config-write' && e.register === 'PCI_STATUS')).toBe(true);
    expect(r.state.pci[f]!.atsEnabled).toBe(false);
    const v = check(w, r.state, atsCapStable, r.events);
    expect(idsAndBdfs(v)).toEqual([['ats-cap-stable', A]]);
    expect(v[0]!.detail).toContain('ENABLE');
  });

  it('holds for a function quirked at enumeration, before the IOMMU probed it', () => {
    const w = quirkedPfWorld('v7.3');
    expect(check(w, bootByHand(w), atsCapStable)).toEqual([]);
  });
});

describe('stu-programmed-at-probe (g10)', () => {
  it('finds VFs probed with ATS supported although their PF never had its STU programmed (v7.2)', () => {
    const w = quirkedPfWorld('v7.2');
    const s = bootByHand(w);
    expect(idsAndBdfs(check(w, s, stuProgrammedAtProbe))).toEqual([
      ['stu-programmed-at-probe', VF0],
      ['stu-programmed-at-probe', VF1],
    ]);
  });

  it('holds on v7.3 and on a healthy PF', () => {
    expect(check(quirkedPfWorld('v7.3'), bootByHand(quirkedPfWorld('v7.3')), stuProgrammedAtProbe)).toEqual(
      [],
    );
    const w = fakeWorld(sriovMachine(), { preset: 'v7.2' });
    expect(check(w, bootByHand(w), stuProgrammedAtProbe)).toEqual([]);
  });

  it('finds a PF whose STU was programmed with another page shift', () => {
    const w = fakeWorld(machine({ [A]: EP_ATS }));
    const f = w.machine.byBdf.get(A)!;
    const s = edit(w, bootByHand(w), (tx) => {
      pci_disable_ats(tx, f);
      pci_prepare_ats(tx, f, 16);
      pci_enable_ats(tx, f, 16);
    });
    expect(idsAndBdfs(check(w, s, stuProgrammedAtProbe))).toEqual([['stu-programmed-at-probe', A]]);
  });
});
