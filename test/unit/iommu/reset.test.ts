import { describe, expect, it } from 'vitest';
import { IOMMU_DOMAIN_BLOCKED, IOMMU_DOMAIN_DMA, IOMMU_DOMAIN_SVA } from '../../../src/iommu/domain-type.js';
import { pci_dev_reset_iommu_done, pci_dev_reset_iommu_prepare } from '../../../src/iommu/reset.js';
import { EBUSY, EIO } from '../../../src/kernel/errno.js';
import type { KernelEvent } from '../../../src/kernel/events.js';
import { Run, fOf, testWorld, type TestWorldOptions } from './fake-ops.js';
import { DSA, EXT, NIC0, NIC1, testMachine } from './machines.js';

function booted(o: TestWorldOptions = {}): Run {
  const r = new Run(testWorld(testMachine(), o));
  expect(r.op({ op: 'boot' })).toBe(0);
  return r;
}

const warnSites = (evs: readonly KernelEvent[]): string[] =>
  evs.flatMap((e) => (e.kind === 'warn' ? [e.site] : []));

/** Pre-5474e6e17a26, pre-0d5fd7a9323c etc.: the v7.3 preset with some reset fixes turned off. */
const PER_GROUP = {
  'reset-per-gdev-blocked': false,
  'reset-depth-nesting': false,
  'reset-nofail-skips-blocked': false,
};

describe('pci_dev_reset_iommu_prepare/done around an FLR', () => {
  it('parks the RID and PASIDs on the blocking domain and restores them afterwards', () => {
    const r = booted();
    const f = fOf(r.world, DSA);
    const g = r.world.groupOf[f]!;
    expect(r.op({ op: 'pasid-attach', f, pasid: 0, domain: 'sva' })).toBe(0);
    expect(r.step({ op: 'flr', f }).waiting).toBe(true);
    let grp = r.state.groups[g]!;
    // (slots are renumbered canonically when the blocking domain is allocated)
    const sva = grp.pasids[1]!;
    expect(r.state.domains[sva]!.type).toBe(IOMMU_DOMAIN_SVA);
    expect(r.state.domains[grp.blockingDomain]!.type).toBe(IOMMU_DOMAIN_BLOCKED);
    expect(r.state.domains[grp.domain]!.type).toBe(IOMMU_DOMAIN_DMA);
    expect(r.master(f).rid).toBe(grp.blockingDomain);
    expect(r.master(f).pasids).toEqual([]);
    expect(grp.pasids).toEqual([1, sva]);
    expect(grp.recoveryCnt).toBe(1);
    expect(r.state.gdevs[f]).toEqual({ probed: true, blocked: true, resetDepth: 1 });
    expect(r.iommuFns()).toContain('pci_dev_reset_iommu_prepare');
    expect(r.step({ op: 'flr', f }).waiting).toBe(false);
    grp = r.state.groups[g]!;
    expect(r.master(f).rid).toBe(grp.domain);
    expect(r.master(f).pasids).toEqual([1, sva]);
    expect(grp.recoveryCnt).toBe(0);
    expect(r.state.gdevs[f]).toEqual({ probed: true, blocked: false, resetDepth: 0 });
    expect(r.warns()).toEqual([]);
  });

  it('fences group changes and PASID attaches with -EBUSY while a device is under reset', () => {
    const r = booted({ groups: [[NIC0, NIC1]] });
    const f0 = fOf(r.world, NIC0);
    const f1 = fOf(r.world, NIC1);
    const d = fOf(r.world, DSA);
    expect(r.step({ op: 'flr', f: f0 }).waiting).toBe(true);
    const before = r.state.groups[r.world.groupOf[f0]!]!;
    expect(r.op({ op: 'vfio-claim', f: f1 }, 1)).toBe(-EBUSY);
    expect(r.op({ op: 'set-group-type', f: f1, type: 'identity' }, 1)).toBe(-EBUSY);
    expect(r.state.groups[r.world.groupOf[f0]!]).toEqual(before);
    // PASIDs: the DSA under reset
    const r2 = booted();
    expect(r2.step({ op: 'flr', f: d }).waiting).toBe(true);
    const live = r2.state.domains.filter((x) => x !== null).length;
    expect(r2.op({ op: 'pasid-attach', f: d, pasid: 0, domain: 'sva' }, 1)).toBe(-EBUSY);
    expect(r2.state.globalPasids).toEqual([]);
    expect(r2.state.domains.filter((x) => x !== null).length).toBe(live);
  });

  it('a teardown during the reset moves group->domain, skips the parked device, and done() attaches the new domain (5474e6e17a26)', () => {
    const r = booted({ groups: [[NIC0, NIC1]] });
    const f0 = fOf(r.world, NIC0);
    const f1 = fOf(r.world, NIC1);
    const g = r.world.groupOf[f0]!;
    expect(r.op({ op: 'vfio-claim', f: f0 })).toBe(0);
    const live = r.state.domains.filter((x) => x !== null).length;
    expect(r.op({ op: 'attach', f: f0, domain: 'unmanaged' })).toBe(0);
    expect(r.step({ op: 'flr', f: f1 }).waiting).toBe(true);
    const blocking = r.state.groups[g]!.blockingDomain;
    expect(r.master(f1).rid).toBe(blocking);
    expect(r.op({ op: 'vfio-release', f: f0 }, 1)).toBe(0);
    expect(r.warns()).toEqual([]);
    let grp = r.state.groups[g]!;
    expect(grp.domain).toBe(grp.defaultDomain);
    expect(grp.owner).toBe(0);
    expect(r.master(f0).rid).toBe(grp.defaultDomain);
    expect(r.master(f1).rid).toBe(grp.blockingDomain);
    expect(r.state.domains.filter((x) => x !== null).length).toBe(live);
    expect(r.step({ op: 'flr', f: f1 }).waiting).toBe(false);
    grp = r.state.groups[g]!;
    expect(r.master(f1).rid).toBe(grp.defaultDomain);
    expect(r.events).toContainEqual(
      expect.objectContaining({
        kind: 'iommu',
        fn: 'pci_dev_reset_iommu_done',
        bdf: NIC1,
        detail: expect.stringContaining(`restored to DMA(d${grp.defaultDomain})`) as string,
      }),
    );
    expect(r.warns()).toEqual([]);
  });

  it('before 5474e6e17a26 the teardown is refused: nofail WARNs and group->domain is left on the freed user domain', () => {
    const r = booted({ groups: [[NIC0, NIC1]], switches: { 'reset-nofail-skips-blocked': false } });
    const f0 = fOf(r.world, NIC0);
    const f1 = fOf(r.world, NIC1);
    const g = r.world.groupOf[f0]!;
    expect(r.op({ op: 'vfio-claim', f: f0 })).toBe(0);
    expect(r.op({ op: 'attach', f: f0, domain: 'unmanaged' })).toBe(0);
    expect(r.step({ op: 'flr', f: f1 }).waiting).toBe(true);
    expect(r.op({ op: 'vfio-release', f: f0 }, 1)).toBe(0);
    expect(r.warns().map((w) => w.site)).toEqual([
      '__iommu_group_set_domain_nofail',
      '__iommu_group_set_domain_nofail',
    ]);
    // the user domain was destroyed under group->domain: the dangling pointer reads as NULL
    expect(r.state.groups[g]!.domain).toBe(-1);
    expect(r.state.groups[g]!.owner).toBe(0);
    expect(r.step({ op: 'flr', f: f1 }).waiting).toBe(false);
    // done() finds no group->domain and leaves the device parked
    expect(r.master(f1).rid).toBe(r.state.groups[g]!.blockingDomain);
  });

  it('is a no-op for a function without ATS support (untrusted)', () => {
    const r = booted();
    const f = fOf(r.world, EXT);
    expect(r.step({ op: 'flr', f }).waiting).toBe(true);
    expect(r.state.gdevs[f]!.blocked).toBe(false);
    expect(r.state.groups[r.world.groupOf[f]!]!.recoveryCnt).toBe(0);
    expect(r.iommuFns()).not.toContain('pci_dev_reset_iommu_prepare');
  });

  it('parks even a require_direct device on the blocking domain (it attaches directly, without the RMR check)', () => {
    const r = booted({ requireDirect: [NIC0] });
    const f = fOf(r.world, NIC0);
    expect(r.step({ op: 'flr', f }).waiting).toBe(true);
    const grp = r.state.groups[r.world.groupOf[f]!]!;
    expect(r.master(f).rid).toBe(grp.blockingDomain);
    expect(r.state.domains[grp.blockingDomain]!.type).toBe(IOMMU_DOMAIN_BLOCKED);
  });

  it('a failed blocking attach leaves nothing changed and fails the prepare', () => {
    const r = booted();
    const f = fOf(r.world, NIC0);
    const g = r.world.groupOf[f]!;
    r.armFault('fake_attach_dev', f, -EIO);
    expect(r.op({ op: 'flr', f })).toBe(-EIO);
    expect(r.state.gdevs[f]).toEqual({ probed: true, blocked: false, resetDepth: 0 });
    expect(r.state.groups[g]!.recoveryCnt).toBe(0);
    expect(r.state.devs[f]!.resetting).toBe(false);
  });
});

describe('nesting (reset_depth, 0d5fd7a9323c)', () => {
  it('with the switch, prepare/done nest and only the outermost pair acts', () => {
    const r = booted();
    const f = fOf(r.world, NIC0);
    const g = r.world.groupOf[f]!;
    const evs = r.edit((tx) => {
      expect(pci_dev_reset_iommu_prepare(tx, f)).toBe(0);
      expect(pci_dev_reset_iommu_prepare(tx, f)).toBe(0);
      expect(tx.gdev(f).resetDepth).toBe(2);
      pci_dev_reset_iommu_done(tx, f);
      expect(tx.gdev(f).blocked).toBe(true);
      expect(tx.group(g).recoveryCnt).toBe(1);
      pci_dev_reset_iommu_done(tx, f);
      expect(tx.gdev(f)).toEqual({ probed: true, blocked: false, resetDepth: 0 });
      expect(tx.group(g).recoveryCnt).toBe(0);
      pci_dev_reset_iommu_done(tx, f);
    });
    expect(r.master(f).rid).toBe(r.state.groups[g]!.domain);
    // the unbalanced third done() WARNs and changes nothing
    expect(evs.filter((e) => e.kind === 'warn')).toEqual([
      {
        kind: 'warn',
        site: 'pci_dev_reset_iommu_done',
        bdf: NIC0,
        message: 'unbalanced done(): reset_depth is 0',
      },
    ]);
  });

  it('without it, a nested prepare WARNs and returns -EBUSY (b296ca1fb43a: gdev->blocked)', () => {
    const r = booted({ switches: { 'reset-depth-nesting': false } });
    const f = fOf(r.world, NIC0);
    const evs = r.edit((tx) => {
      expect(pci_dev_reset_iommu_prepare(tx, f)).toBe(0);
      expect(pci_dev_reset_iommu_prepare(tx, f)).toBe(-EBUSY);
      expect(tx.gdev(f).resetDepth).toBe(0);
      pci_dev_reset_iommu_done(tx, f);
      expect(tx.gdev(f).blocked).toBe(false);
    });
    expect(warnSites(evs)).toEqual(['pci_dev_reset_iommu_prepare']);
  });
});

describe('the per-group resetting_domain of c279e83953d9 (reset-per-gdev-blocked off)', () => {
  it('refuses a sibling reset in the same group with a WARN and -EBUSY', () => {
    const r = booted({ groups: [[NIC0, NIC1]], switches: PER_GROUP });
    const f0 = fOf(r.world, NIC0);
    const f1 = fOf(r.world, NIC1);
    expect(r.step({ op: 'flr', f: f0 }).waiting).toBe(true);
    expect(r.op({ op: 'flr', f: f1 }, 1)).toBe(-EBUSY);
    expect(r.warns()).toEqual([
      { site: 'pci_dev_reset_iommu_prepare', message: 're-entry: group->resetting_domain is already set' },
    ]);
    expect(r.events).toContainEqual(
      expect.objectContaining({
        kind: 'info',
        bdf: NIC1,
        message: 'failed to stop IOMMU for a PCI reset: -16',
      }),
    );
    expect(r.state.devs[f1]!.resetting).toBe(false);
  });

  it('the per-gdev design lets the sibling reset too', () => {
    const r = booted({ groups: [[NIC0, NIC1]] });
    const f0 = fOf(r.world, NIC0);
    const f1 = fOf(r.world, NIC1);
    expect(r.step({ op: 'flr', f: f0 }).waiting).toBe(true);
    expect(r.step({ op: 'flr', f: f1 }, 1).waiting).toBe(true);
    expect(r.state.groups[r.world.groupOf[f0]!]!.recoveryCnt).toBe(2);
    expect(r.step({ op: 'flr', f: f0 }).waiting).toBe(false);
    expect(r.state.groups[r.world.groupOf[f0]!]!.recoveryCnt).toBe(1);
    expect(r.master(f0).rid).toBe(r.state.groups[r.world.groupOf[f0]!]!.domain);
    expect(r.master(f1).rid).toBe(r.state.groups[r.world.groupOf[f0]!]!.blockingDomain);
  });

  it('done() re-attaches each PASID on the whole group, so a sibling that never left is set again', () => {
    const machine = testMachine();
    const setup = (switches: Record<string, boolean>): { r: Run; a: number; b: number } => {
      const w = testWorld(machine, { groups: [[DSA, NIC0]], switches });
      const r = new Run(w);
      expect(r.op({ op: 'boot' })).toBe(0);
      return { r, a: fOf(w, DSA), b: fOf(w, NIC0) };
    };
    // Only the DSA supports PASIDs, so __iommu_set_group_pasid() calls the driver for it alone;
    // arm its failure on the second call (the re-attach): the per-group loop WARNs in done().
    const old = setup(PER_GROUP);
    expect(old.r.op({ op: 'pasid-attach', f: old.a, pasid: 0, domain: 'sva' })).toBe(0);
    expect(old.r.step({ op: 'flr', f: old.b }).waiting).toBe(true);
    // NIC0 has no PASID support, yet the per-group prepare asked the driver to remove the DSA's PASID from it
    expect(old.r.master(old.a).pasids.length).toBe(2);
    old.r.armFault('fake_set_dev_pasid', old.a, -EIO);
    expect(old.r.step({ op: 'flr', f: old.b }).waiting).toBe(false);
    expect(old.r.warns()).toEqual([
      {
        site: 'pci_dev_reset_iommu_done',
        message: expect.stringContaining('re-attaching PASID 1') as string,
      },
    ]);
    // the fixed version (1615e8896a8f, with reset-per-gdev-blocked) touches only the reset device
    const cur = setup({});
    expect(cur.r.op({ op: 'pasid-attach', f: cur.a, pasid: 0, domain: 'sva' })).toBe(0);
    expect(cur.r.step({ op: 'flr', f: cur.b }).waiting).toBe(true);
    cur.r.armFault('fake_set_dev_pasid', cur.a, -EIO);
    expect(cur.r.step({ op: 'flr', f: cur.b }).waiting).toBe(false);
    expect(cur.r.warns()).toEqual([]);
  });
});
