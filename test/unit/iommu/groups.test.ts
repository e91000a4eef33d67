import { describe, expect, it } from 'vitest';
import {
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_UNMANAGED,
} from '../../../src/iommu/domain-type.js';
import { iommu_driver_get_domain_for_dev } from '../../../src/iommu/group.js';
import { EBUSY, EINVAL, EIO } from '../../../src/kernel/errno.js';
import { DRIVER_VFIO } from '../../../src/model/state.js';
import { Tx } from '../../../src/model/tx.js';
import { Run, fOf, testWorld } from './fake-ops.js';
import { DSA, NIC0, NIC1, testMachine } from './machines.js';

function nicGroup(
  switches: Record<string, boolean> = {},
  requireDirect: string[] = [],
): { r: Run; f0: number; f1: number; g: number } {
  const w = testWorld(testMachine(), { groups: [[NIC0, NIC1]], switches, requireDirect });
  const r = new Run(w);
  expect(r.op({ op: 'boot' })).toBe(0);
  const f0 = fOf(w, NIC0);
  const f1 = fOf(w, NIC1);
  return { r, f0, f1, g: w.groupOf[f0]! };
}

describe('__iommu_group_set_domain_internal: all or nothing', () => {
  it('reverts the first device when the driver fails the second, and keeps group->domain', () => {
    const { r, f0, f1, g } = nicGroup();
    const before = r.state.groups[g]!;
    expect(r.state.domains[before.domain]!.type).toBe(IOMMU_DOMAIN_DMA);
    const attachesBefore = r.master(f0).attaches;
    r.armFault('fake_attach_dev', f1, -EIO);
    expect(r.op({ op: 'vfio-claim', f: f0 })).toBe(-EIO);
    const grp = r.state.groups[g]!;
    // group->domain is unchanged, the owner was not recorded, f0 went to the blocking domain and back.
    expect(grp.domain).toBe(before.domain);
    expect(grp.owner).toBe(0);
    expect(grp.ownerCnt).toBe(0);
    expect(r.master(f0).rid).toBe(grp.domain);
    expect(r.master(f0).attaches).toBe(attachesBefore + 2);
    expect(r.master(f1).rid).toBe(grp.domain);
    expect(r.state.devs[f0]!.driver).toBe(0);
    expect(r.warns()).toEqual([]);
    const detail = r.events.find((e) => e.kind === 'iommu' && e.fn === '__iommu_group_set_domain_internal');
    expect(detail).toMatchObject({ detail: expect.stringContaining('reverted') as string });
  });

  it('switches every device when none fails', () => {
    const { r, f0, f1, g } = nicGroup();
    expect(r.op({ op: 'vfio-claim', f: f0 })).toBe(0);
    const grp = r.state.groups[g]!;
    expect(grp.domain).toBe(grp.blockingDomain);
    expect(r.state.domains[grp.domain]!.type).toBe(IOMMU_DOMAIN_BLOCKED);
    expect(r.master(f0).rid).toBe(grp.blockingDomain);
    expect(r.master(f1).rid).toBe(grp.blockingDomain);
    expect(grp.owner).toBe(1);
    expect(grp.ownerCnt).toBe(1);
    expect(r.state.devs[f0]!.driver).toBe(DRIVER_VFIO);
  });
});

describe('MUST_SUCCEED', () => {
  it('a failing device falls back to the blocking domain, group->domain moves, and the nofail caller WARNs', () => {
    const { r, f0, f1, g } = nicGroup();
    expect(r.op({ op: 'vfio-claim', f: f0 })).toBe(0);
    expect(r.op({ op: 'attach', f: f0, domain: 'unmanaged' })).toBe(0);
    const user = r.state.groups[g]!.domain;
    expect(r.state.domains[user]!.type).toBe(IOMMU_DOMAIN_UNMANAGED);
    // iommu_detach_group -> __iommu_group_set_core_domain (blocking, nofail): fail f1's attach.
    r.armFault('fake_attach_dev', f1, -EIO);
    expect(r.op({ op: 'detach', f: f0 })).toBe(0);
    const grp = r.state.groups[g]!;
    expect(grp.domain).toBe(grp.blockingDomain);
    expect(r.master(f0).rid).toBe(grp.blockingDomain);
    // the fallback to the blocking domain is the same domain here, so f1 keeps its failed state
    expect(r.warns()).toEqual([
      { site: '__iommu_group_set_domain_nofail', message: expect.stringContaining('-5') as string },
    ]);
  });

  it('on release to the default domain, the failing device falls back to the blocking domain', () => {
    const { r, f0, f1, g } = nicGroup();
    expect(r.op({ op: 'vfio-claim', f: f0 })).toBe(0);
    r.armFault('fake_attach_dev', f1, -EIO);
    expect(r.op({ op: 'vfio-release', f: f0 })).toBe(0);
    const grp = r.state.groups[g]!;
    expect(grp.domain).toBe(grp.defaultDomain);
    expect(grp.owner).toBe(0);
    expect(r.master(f0).rid).toBe(grp.defaultDomain);
    expect(r.master(f1).rid).toBe(grp.blockingDomain);
    expect(r.warns().map((w) => w.site)).toEqual(['__iommu_group_set_domain_nofail']);
    expect(
      r.events.some((e) => e.kind === 'iommu' && e.fn === '__iommu_device_set_domain' && e.bdf === NIC1),
    ).toBe(true);
  });
});

describe('__iommu_attach_group', () => {
  it('refuses a second owner domain with -EBUSY and frees it', () => {
    const { r, f0, g } = nicGroup();
    expect(r.op({ op: 'vfio-claim', f: f0 })).toBe(0);
    expect(r.op({ op: 'attach', f: f0, domain: 'unmanaged' })).toBe(0);
    const user = r.state.groups[g]!.domain;
    const live = r.state.domains.filter((d) => d !== null).length;
    expect(r.op({ op: 'attach', f: f0, domain: 'unmanaged' })).toBe(-EBUSY);
    expect(r.state.groups[g]!.domain).toBe(user);
    expect(r.state.domains.filter((d) => d !== null).length).toBe(live);
    // from the blocking domain an identity attach is fine
    expect(r.op({ op: 'detach', f: f0 })).toBe(0);
    expect(r.state.domains.filter((d) => d !== null).length).toBe(live - 1);
    expect(r.op({ op: 'attach', f: f0, domain: 'identity' })).toBe(0);
    expect(r.master(f0).rid).toBe(r.state.groups[g]!.domain);
  });

  it('attach needs the owner: -EINVAL for a device not bound to vfio-pci', () => {
    const { r, f0 } = nicGroup();
    expect(r.op({ op: 'attach', f: f0, domain: 'unmanaged' })).toBe(-EINVAL);
    expect(r.op({ op: 'detach', f: f0 })).toBe(-EINVAL);
  });
});

describe('require_direct', () => {
  it('a require_direct device is never attached to the blocking domain: VFIO claim fails with -EINVAL', () => {
    const { r, f0, f1, g } = nicGroup({}, [NIC1]);
    const def = r.state.groups[g]!.defaultDomain;
    expect(r.op({ op: 'vfio-claim', f: f0 })).toBe(-EINVAL);
    expect(r.state.groups[g]!.domain).toBe(def);
    expect(r.master(f1).rid).toBe(def);
    expect(r.master(f0).rid).toBe(def);
    expect(r.events).toContainEqual(
      expect.objectContaining({
        kind: 'info',
        bdf: NIC1,
        message: expect.stringContaining('1:1 IOMMU mapping') as string,
      }),
    );
  });
});

describe('iommu_driver_get_domain_for_dev', () => {
  it('answers the blocking domain for a device parked for a reset, group->domain otherwise', () => {
    const { r, f0, f1, g } = nicGroup();
    expect(r.step({ op: 'flr', f: f0 }).waiting).toBe(true);
    const view = new Tx(r.world, r.state);
    const grp = r.state.groups[g]!;
    expect(iommu_driver_get_domain_for_dev(view, f0)).toBe(grp.blockingDomain);
    expect(iommu_driver_get_domain_for_dev(view, f1)).toBe(grp.domain);
  });

  it('before b296ca1fb43a the per-group resetting_domain answers for every device of the group', () => {
    const { r, f0, f1, g } = nicGroup({
      'reset-per-gdev-blocked': false,
      'reset-depth-nesting': false,
      'reset-nofail-skips-blocked': false,
    });
    expect(r.step({ op: 'flr', f: f0 }).waiting).toBe(true);
    const view = new Tx(r.world, r.state);
    const grp = r.state.groups[g]!;
    expect(iommu_driver_get_domain_for_dev(view, f0)).toBe(grp.blockingDomain);
    expect(iommu_driver_get_domain_for_dev(view, f1)).toBe(grp.blockingDomain);
  });

  it('WARNs for a function that is not in its group', () => {
    const w = testWorld(testMachine());
    const view = new Tx(w, new Run(w).state);
    expect(iommu_driver_get_domain_for_dev(view, fOf(w, DSA))).toBe(-1);
    expect(view.events).toEqual([
      {
        kind: 'warn',
        site: 'iommu_driver_get_domain_for_dev',
        bdf: DSA,
        message: 'device is not in its group',
      },
    ]);
  });
});
