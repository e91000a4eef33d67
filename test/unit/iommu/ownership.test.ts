import { describe, expect, it } from 'vitest';
import { IOMMU_DOMAIN_UNMANAGED } from '../../../src/iommu/domain-type.js';
import { __iommu_group_alloc_blocking_domain, __iommu_group_set_domain } from '../../../src/iommu/group.js';
import { EBUSY, EINVAL, ENODEV, ENOMEM, EOPNOTSUPP, EPERM, EPROBE_DEFER } from '../../../src/kernel/errno.js';
import {
  DRIVER_DMA_API,
  DRIVER_MANAGED,
  DRIVER_MSI_ONLY,
  DRIVER_NONE,
  DRIVER_VFIO,
} from '../../../src/model/state.js';
import { Run, fOf, testWorld, type TestWorldOptions } from './fake-ops.js';
import { DSA, NIC0, NIC1, PORT2, testMachine } from './machines.js';

function booted(o: TestWorldOptions = {}): Run {
  const r = new Run(testWorld(testMachine(), o));
  expect(r.op({ op: 'boot' })).toBe(0);
  return r;
}

describe('kernel drivers on the default domain', () => {
  it('bind dma counts owner_cnt; unbind gives it back', () => {
    const r = booted({ groups: [[NIC0, NIC1]] });
    const f0 = fOf(r.world, NIC0);
    const f1 = fOf(r.world, NIC1);
    const g = r.world.groupOf[f0]!;
    expect(r.op({ op: 'bind', f: f0, kind: 'dma' })).toBe(0);
    expect(r.op({ op: 'bind', f: f1, kind: 'dma' })).toBe(0);
    expect(r.state.groups[g]!.ownerCnt).toBe(2);
    expect(r.state.devs[f0]!.driver).toBe(DRIVER_DMA_API);
    expect(r.op({ op: 'bind', f: f0, kind: 'dma' })).toBe(-EBUSY);
    expect(r.op({ op: 'unbind', f: f0 })).toBe(0);
    expect(r.state.groups[g]!.ownerCnt).toBe(1);
    expect(r.op({ op: 'unbind', f: f0 })).toBe(-ENODEV);
  });

  it('-EPROBE_DEFER while the group has no default domain', () => {
    const r = new Run(testWorld(testMachine()));
    const f = fOf(r.world, DSA);
    r.armFault('iommu_paging_domain_alloc', f, -ENOMEM);
    // iommu_group_alloc_default_domain(): the DMA default cannot be allocated and there is no fallback: -EINVAL
    expect(r.op({ op: 'boot' })).toBe(-EINVAL);
    expect(r.state.gdevs[f]!.probed).toBe(true);
    expect(r.op({ op: 'bind', f, kind: 'dma' })).toBe(-EPROBE_DEFER);
    expect(r.state.devs[f]!.driver).toBe(DRIVER_NONE);
  });

  it('-EBUSY for a second kernel user while PASIDs are attached', () => {
    const r = booted({ groups: [[NIC0, NIC1]] });
    const f0 = fOf(r.world, NIC0);
    const f1 = fOf(r.world, NIC1);
    const w = testWorld(testMachine(), { groups: [[DSA, NIC0]] });
    const r2 = new Run(w);
    expect(r2.op({ op: 'boot' })).toBe(0);
    const dsa = fOf(w, DSA);
    const nic = fOf(w, NIC0);
    expect(r2.op({ op: 'bind', f: dsa, kind: 'dma' })).toBe(0);
    expect(r2.op({ op: 'pasid-attach', f: dsa, pasid: 0, domain: 'dma' })).toBe(0);
    expect(r2.op({ op: 'bind', f: nic, kind: 'dma' })).toBe(-EBUSY);
    // without PASIDs the second user is fine
    expect(r.op({ op: 'bind', f: f0, kind: 'dma' })).toBe(0);
    expect(r.op({ op: 'bind', f: f1, kind: 'dma' })).toBe(0);
  });

  it('unbind WARNs when PASIDs are still attached and keeps owner_cnt', () => {
    const r = booted();
    const f = fOf(r.world, DSA);
    const g = r.world.groupOf[f]!;
    expect(r.op({ op: 'bind', f, kind: 'dma' })).toBe(0);
    expect(r.op({ op: 'pasid-attach', f, pasid: 0, domain: 'dma' })).toBe(0);
    expect(r.op({ op: 'unbind', f })).toBe(0);
    expect(r.warns()).toEqual([
      { site: 'iommu_device_unuse_default_domain', message: '1 PASID(s) still attached' },
    ]);
    expect(r.state.groups[g]!.ownerCnt).toBe(1);
  });

  it('a function without an IOMMU binds without touching any group', () => {
    const r = new Run(testWorld(testMachine()));
    const f = fOf(r.world, DSA);
    expect(r.op({ op: 'bind', f, kind: 'dma' })).toBe(0);
    expect(r.state.groups.every((g) => g.ownerCnt === 0)).toBe(true);
    // the IOMMU probe that comes later is late: dev_WARN
    expect(r.op({ op: 'probe', f })).toBe(0);
    expect(r.warns()).toEqual([
      { site: '__iommu_probe_device', message: 'late IOMMU probe at driver bind, something fishy here!' },
    ]);
  });
});

describe('user-space ownership (VFIO)', () => {
  it('claim parks the group on the blocking domain; release returns it to the default domain', () => {
    const r = booted();
    const f = fOf(r.world, NIC0);
    const g = r.world.groupOf[f]!;
    const def = r.state.groups[g]!.defaultDomain;
    expect(r.op({ op: 'vfio-claim', f })).toBe(0);
    expect(r.state.groups[g]!).toMatchObject({ owner: 1, ownerCnt: 1 });
    expect(r.state.groups[g]!.domain).toBe(r.state.groups[g]!.blockingDomain);
    expect(r.op({ op: 'attach', f, domain: 'unmanaged' })).toBe(0);
    const user = r.state.groups[g]!.domain;
    expect(r.state.domains[user]).toMatchObject({ type: IOMMU_DOMAIN_UNMANAGED, allocator: 1 });
    const live = r.state.domains.filter((d) => d !== null).length;
    expect(r.op({ op: 'vfio-release', f })).toBe(0);
    expect(r.state.groups[g]!).toMatchObject({ owner: 0, ownerCnt: 0, domain: def });
    expect(r.state.domains.filter((d) => d !== null).length).toBe(live - 1);
    expect(r.state.devs[f]!.driver).toBe(DRIVER_NONE);
    expect(r.warns()).toEqual([]);
  });

  it('release detaches an identity default domain the owner reused: the group passes through the blocking domain', () => {
    const r = booted();
    const f = fOf(r.world, NIC0);
    const g = r.world.groupOf[f]!;
    expect(r.op({ op: 'set-group-type', f, type: 'identity' })).toBe(0);
    expect(r.op({ op: 'vfio-claim', f })).toBe(0);
    expect(r.op({ op: 'attach', f, domain: 'identity' })).toBe(0);
    const { defaultDomain: def, blockingDomain: blk } = r.state.groups[g]!;
    expect(r.state.groups[g]!.domain).toBe(def);
    expect(r.op({ op: 'vfio-release', f })).toBe(0);
    // iommu_detach_group() (the owner is still set: to the blocking domain), then
    // __iommu_release_dma_ownership() back to the default domain.
    const moves = r.events.flatMap((e) =>
      e.kind === 'iommu' && e.fn === '__iommu_group_set_domain_internal' ? [e.detail] : [],
    );
    expect(moves).toEqual([
      `group ${g}: IDENTITY(d${def}) -> BLOCKED(d${blk})`,
      `group ${g}: BLOCKED(d${blk}) -> IDENTITY(d${def})`,
    ]);
    expect(r.state.groups[g]!).toMatchObject({ owner: 0, ownerCnt: 0, domain: def });
    expect(r.state.domains[def]).not.toBeNull();
    expect(r.warns()).toEqual([]);
  });

  it('-EPERM when a kernel driver uses the group, -EBUSY when PASIDs are attached, -EBUSY when a driver is bound', () => {
    const r = booted({ groups: [[NIC0, NIC1]] });
    const f0 = fOf(r.world, NIC0);
    const f1 = fOf(r.world, NIC1);
    expect(r.op({ op: 'bind', f: f1, kind: 'dma' })).toBe(0);
    expect(r.op({ op: 'vfio-claim', f: f0 })).toBe(-EPERM);
    expect(r.op({ op: 'vfio-claim', f: f1 })).toBe(-EBUSY);
    const r2 = booted();
    const dsa = fOf(r2.world, DSA);
    expect(r2.op({ op: 'pasid-attach', f: dsa, pasid: 0, domain: 'sva' })).toBe(0);
    expect(r2.op({ op: 'vfio-claim', f: dsa })).toBe(-EBUSY);
    expect(r2.state.groups[r2.world.groupOf[dsa]!]!.owner).toBe(0);
  });

  it('two devices of one group share the VFIO ownership; the group is released with the last', () => {
    const r = booted({ groups: [[NIC0, NIC1]] });
    const f0 = fOf(r.world, NIC0);
    const f1 = fOf(r.world, NIC1);
    const g = r.world.groupOf[f0]!;
    expect(r.op({ op: 'vfio-claim', f: f0 })).toBe(0);
    expect(r.op({ op: 'vfio-claim', f: f1 })).toBe(0);
    expect(r.state.groups[g]!.ownerCnt).toBe(2);
    // a kernel driver cannot join an owned group
    expect(r.op({ op: 'vfio-release', f: f1 })).toBe(0);
    expect(r.state.groups[g]!.owner).toBe(1);
    expect(r.op({ op: 'bind', f: f1, kind: 'dma' })).toBe(-EBUSY);
    expect(r.op({ op: 'vfio-release', f: f0 })).toBe(0);
    expect(r.state.groups[g]!).toMatchObject({ owner: 0, ownerCnt: 0 });
    expect(r.state.groups[g]!.domain).toBe(r.state.groups[g]!.defaultDomain);
    expect(r.op({ op: 'vfio-release', f: f0 })).toBe(-EINVAL);
  });
});

describe('MSIs through the IOMMU (ARM ITS doorbell)', () => {
  function portGroup(switches: Record<string, boolean> = {}): {
    r: Run;
    port: number;
    nic: number;
    g: number;
  } {
    const r = booted({ groups: [[PORT2, NIC0]], switches });
    const port = fOf(r.world, PORT2);
    const nic = fOf(r.world, NIC0);
    expect(r.op({ op: 'bind', f: port, kind: 'managed', msi: true })).toBe(0);
    return { r, port, nic, g: r.world.groupOf[port]! };
  }

  it('the port driver maps the doorbell in the default domain', () => {
    const { r, port, g } = portGroup();
    const grp = r.state.groups[g]!;
    expect(r.state.domains[grp.domain]!.msiDoorbell).toBe(true);
    expect(r.state.devs[port]).toMatchObject({ driver: DRIVER_MANAGED, msiInUse: true });
    expect(r.iommuFns()).toContain('iommu_dma_prepare_msi');
  });

  it('VFIO claiming the group moves the port driver off its doorbell: blocking, then a user domain without it', () => {
    const { r, port, nic, g } = portGroup();
    expect(r.op({ op: 'vfio-claim', f: nic })).toBe(0);
    let grp = r.state.groups[g]!;
    expect(grp.domain).toBe(grp.blockingDomain);
    expect(r.state.domains[grp.domain]!.msiDoorbell).toBe(false);
    expect(r.state.devs[port]!.msiInUse).toBe(true);
    expect(r.op({ op: 'attach', f: nic, domain: 'unmanaged' })).toBe(0);
    grp = r.state.groups[g]!;
    expect(r.state.domains[grp.domain]).toMatchObject({ type: IOMMU_DOMAIN_UNMANAGED, msiDoorbell: false });
    expect(r.master(port).rid).toBe(grp.domain);
  });

  it('with vfio-refuse-msi-only-groups VFIO refuses the group (-EINVAL) and nothing moves', () => {
    const { r, nic, g } = portGroup({ 'vfio-refuse-msi-only-groups': true });
    const before = r.state.groups[g]!;
    expect(r.op({ op: 'vfio-claim', f: nic })).toBe(-EINVAL);
    expect(r.state.groups[g]).toEqual(before);
    expect(r.state.devs[nic]!.driver).toBe(DRIVER_NONE);
    expect(r.events).toEqual([
      expect.objectContaining({
        kind: 'info',
        bdf: NIC0,
        level: 'err',
        message: expect.stringContaining(`${PORT2} takes MSIs through the IOMMU`) as string,
      }),
    ]);
  });

  it('a singleton group is not refused under the switch', () => {
    const r = booted({ switches: { 'vfio-refuse-msi-only-groups': true } });
    expect(r.op({ op: 'vfio-claim', f: fOf(r.world, NIC0) })).toBe(0);
  });

  it('allocating MSIs on a blocked group fails the driver probe (-EOPNOTSUPP: no MSI cookie)', () => {
    const r = booted({ groups: [[PORT2, NIC0]] });
    const port = fOf(r.world, PORT2);
    expect(r.op({ op: 'vfio-claim', f: fOf(r.world, NIC0) })).toBe(0);
    expect(r.op({ op: 'bind', f: port, kind: 'managed', msi: true })).toBe(-EOPNOTSUPP);
    expect(r.state.devs[port]).toMatchObject({ driver: DRIVER_NONE, msiInUse: false });
  });

  it('without MSI translation by the IOMMU nothing is mapped and MSIs are not tracked', () => {
    const r = booted({ features: { msiThroughIommu: false } });
    const f = fOf(r.world, NIC0);
    expect(r.op({ op: 'bind', f, kind: 'dma', msi: true })).toBe(0);
    const g = r.world.groupOf[f]!;
    expect(r.state.domains[r.state.groups[g]!.domain]!.msiDoorbell).toBe(false);
    expect(r.state.devs[f]!.msiInUse).toBe(false);
  });
});

describe('driver-managed-dma-enum: an MSI-only driver unparks a BLOCKED group', () => {
  function parked(enumOn: boolean): { r: Run; port: number; g: number } {
    const r = booted({ switches: { 'driver-managed-dma-enum': enumOn } });
    const port = fOf(r.world, PORT2);
    const g = r.world.groupOf[port]!;
    // thread 1's secure flow: the driverless group waits on BLOCKED (no operation parks it today)
    r.edit((tx) => {
      expect(__iommu_group_alloc_blocking_domain(tx, g)).toBe(0);
      expect(__iommu_group_set_domain(tx, g, tx.group(g).blockingDomain)).toBe(0);
    });
    return { r, port, g };
  }

  it('with the switch, binding switches the group to its (empty) DMA domain and MSIs work', () => {
    const { r, port, g } = parked(true);
    expect(r.op({ op: 'bind', f: port, kind: 'msi-only', msi: true })).toBe(0);
    const grp = r.state.groups[g]!;
    expect(grp.domain).toBe(grp.defaultDomain);
    expect(r.state.domains[grp.domain]!.msiDoorbell).toBe(true);
    expect(r.state.devs[port]).toMatchObject({ driver: DRIVER_MSI_ONLY, msiInUse: true });
    expect(r.iommuFns()).toContain('iommu_device_use_msi_domain');
  });

  it('without it, msi-only is driver_managed_dma: the group stays blocked and the MSI allocation fails', () => {
    const { r, port, g } = parked(false);
    expect(r.op({ op: 'bind', f: port, kind: 'msi-only', msi: true })).toBe(-EOPNOTSUPP);
    const grp = r.state.groups[g]!;
    expect(grp.domain).toBe(grp.blockingDomain);
    expect(r.state.devs[port]!.driver).toBe(DRIVER_NONE);
    expect(r.op({ op: 'bind', f: port, kind: 'msi-only' })).toBe(0);
    expect(r.state.devs[port]!.driver).toBe(DRIVER_MANAGED);
  });

  it('a VFIO-owned blocked group is not unparked', () => {
    const r = booted({ groups: [[PORT2, NIC0]], switches: { 'driver-managed-dma-enum': true } });
    const port = fOf(r.world, PORT2);
    const g = r.world.groupOf[port]!;
    expect(r.op({ op: 'vfio-claim', f: fOf(r.world, NIC0) })).toBe(0);
    expect(r.op({ op: 'bind', f: port, kind: 'msi-only', msi: true })).toBe(-EOPNOTSUPP);
    expect(r.state.groups[g]!.domain).toBe(r.state.groups[g]!.blockingDomain);
    expect(r.state.devs[port]!.driver).toBe(DRIVER_NONE);
    expect(DRIVER_VFIO).toBe(r.state.devs[fOf(r.world, NIC0)]!.driver);
  });
});
