/**
 * DMA ownership of a group: drivers/iommu/iommu.c iommu_device_use_default_domain() and friends
 * (kernel drivers on the default domain, counted by owner_cnt) against
 * iommu_device_claim_dma_owner() / __iommu_take_dma_ownership() (one user-space owner, VFIO or
 * iommufd, on the blocking domain or a domain it attaches), written anew. Also the driver-core
 * side the model needs around them: binding a driver (really_probe() -> dma_configure()), unbinding
 * it, vfio-pci claiming and releasing a device, and the owner attaching domains.
 *
 * Alternatives (thread 1's RFCv1 discussion): `driver-managed-dma-enum` turns driver_managed_dma
 * into NORMAL / MANUAL / MSI-only, and binding an MSI-only driver moves a group parked on BLOCKED
 * (no owner) to its DMA domain so MSIs work; `vfio-refuse-msi-only-groups` makes VFIO refuse a
 * multi-device group whose other members take MSIs through the IOMMU.
 */
import { EBUSY, EINVAL, ENODEV, EOPNOTSUPP, EPERM, EPROBE_DEFER, errnoName } from '../kernel/errno.js';
import { WARN_ON } from '../kernel/events.js';
import type { BindKind } from '../model/ops.js';
import {
  DRIVER_DMA_API,
  DRIVER_MANAGED,
  DRIVER_MSI_ONLY,
  DRIVER_NONE,
  DRIVER_VFIO,
  type DriverKind,
} from '../model/state.js';
import type { Tx } from '../model/tx.js';
import { IOMMU_DOMAIN_IDENTITY, IOMMU_DOMAIN_UNMANAGED } from './domain-type.js';
import {
  __iommu_attach_group,
  __iommu_group_alloc_blocking_domain,
  __iommu_group_set_domain,
  __iommu_group_set_domain_nofail,
  deviceGroup,
  domainLabel,
  freeDomainIfUnused,
  groupDeviceCount,
  iommuEvent,
  iommu_detach_group,
} from './group.js';
import { ALLOCATOR_USER, iommu_dma_prepare_msi, userDomainNeedsDoorbell } from './msi.js';

/** The user-space owner cookie of VFIO / iommufd (group->owner). */
export const VFIO_OWNER = 1;

/**
 * The owner destroys a domain it attached (iommufd hwpt destroy, VFIO container teardown) whether
 * or not the core managed to move the group off it: if a detach was refused (a reset in progress
 * before 5474e6e17a26), group->domain is left pointing at a freed domain, the use-after-free that
 * commit fixed; the model's canonical renumbering turns that dangling reference into NULL (-1).
 * Core domains (default, blocking) are only freed when nothing refers to them.
 */
function destroyOwnerDomain(tx: Tx, d: number): void {
  const dom = tx.domainOrNull(d);
  if (dom === null) return;
  if (dom.allocator === ALLOCATOR_USER) tx.freeDomain(d);
  else freeDomainIfUnused(tx, d);
}

/**
 * iommu.c iommu_device_use_default_domain(): a kernel driver about to bind wants the DMA API.
 * No IOMMU: nothing to do. -EPROBE_DEFER before the group has a default domain; -EBUSY when other
 * kernel users exist and the group is not plainly on its default domain (an owner, another
 * domain, PASIDs attached). Then owner_cnt++.
 */
export function iommu_device_use_default_domain(tx: Tx, f: number): number {
  const g = deviceGroup(tx, f);
  if (g < 0) return 0;
  const grp = tx.group(g);
  if (grp.defaultDomain < 0) return -EPROBE_DEFER;
  if (grp.ownerCnt !== 0 && (grp.domain !== grp.defaultDomain || grp.owner !== 0 || grp.pasids.length !== 0))
    return -EBUSY;
  tx.mutGroup(g).ownerCnt = grp.ownerCnt + 1;
  return 0;
}

/** iommu.c iommu_device_unuse_default_domain(): owner_cnt--, WARN if it is 0 or PASIDs are attached. */
export function iommu_device_unuse_default_domain(tx: Tx, f: number): void {
  const g = deviceGroup(tx, f);
  if (g < 0) return;
  const grp = tx.group(g);
  if (
    !WARN_ON(
      tx,
      grp.ownerCnt === 0 || grp.pasids.length !== 0,
      'iommu_device_unuse_default_domain',
      tx.info(f).bdf,
      grp.ownerCnt === 0 ? 'owner_cnt is already 0' : `${grp.pasids.length / 2} PASID(s) still attached`,
    )
  )
    tx.mutGroup(g).ownerCnt = grp.ownerCnt - 1;
}

/**
 * iommu.c __iommu_take_dma_ownership(): only from the default domain and without PASIDs
 * (-EBUSY); the group moves to its blocking domain (which may fail: -EBUSY under a reset, -EINVAL
 * for a require_direct device), then the owner is recorded.
 */
function __iommu_take_dma_ownership(tx: Tx, g: number, owner: number): number {
  const grp = tx.group(g);
  if ((grp.domain >= 0 && grp.domain !== grp.defaultDomain) || grp.pasids.length !== 0) return -EBUSY;
  let ret = __iommu_group_alloc_blocking_domain(tx, g);
  if (ret !== 0) return ret;
  ret = __iommu_group_set_domain(tx, g, tx.group(g).blockingDomain);
  if (ret !== 0) return ret;
  const m = tx.mutGroup(g);
  m.owner = owner;
  m.ownerCnt = m.ownerCnt + 1;
  return 0;
}

/**
 * iommu.c iommu_device_claim_dma_owner(): -ENODEV without a group; a group already used
 * (owner_cnt) is shared only with the same owner (owner_cnt++), else -EPERM.
 */
export function iommu_device_claim_dma_owner(tx: Tx, f: number, owner: number): number {
  if (WARN_ON(tx, owner === 0, 'iommu_device_claim_dma_owner', tx.info(f).bdf, 'owner is NULL'))
    return -EINVAL;
  const g = deviceGroup(tx, f);
  if (g < 0) return -ENODEV;
  const grp = tx.group(g);
  if (grp.ownerCnt !== 0) {
    if (grp.owner !== owner) return -EPERM;
    tx.mutGroup(g).ownerCnt = grp.ownerCnt + 1;
    return 0;
  }
  return __iommu_take_dma_ownership(tx, g, owner);
}

/**
 * iommu.c __iommu_release_dma_ownership(): WARN unless owned and PASID-free; then the owner is
 * cleared and the group goes back to its default domain through the nofail path.
 */
function __iommu_release_dma_ownership(tx: Tx, g: number, f: number): void {
  const grp = tx.group(g);
  if (
    WARN_ON(
      tx,
      grp.ownerCnt === 0 || grp.owner === 0 || grp.pasids.length !== 0,
      '__iommu_release_dma_ownership',
      tx.info(f).bdf,
      `owner_cnt ${grp.ownerCnt}, owner ${grp.owner}, ${grp.pasids.length / 2} PASID(s)`,
    )
  )
    return;
  const m = tx.mutGroup(g);
  m.ownerCnt = 0;
  m.owner = 0;
  __iommu_group_set_domain_nofail(tx, g, tx.group(g).defaultDomain);
}

/** iommu.c iommu_device_release_dma_owner(): the last claim releases ownership. */
export function iommu_device_release_dma_owner(tx: Tx, f: number): void {
  const g = deviceGroup(tx, f);
  if (g < 0) return;
  const grp = tx.group(g);
  if (grp.ownerCnt > 1) tx.mutGroup(g).ownerCnt = grp.ownerCnt - 1;
  else __iommu_release_dma_ownership(tx, g, f);
}

/** A group parked on its blocking domain with no owner and no kernel user (thread 1's secure flow). */
function parkedBlocked(tx: Tx, g: number): boolean {
  const grp = tx.group(g);
  return grp.domain >= 0 && grp.domain === grp.blockingDomain && grp.owner === 0 && grp.ownerCnt === 0;
}

/**
 * A kernel driver binds to f (drivers/base/dd.c really_probe() -> pci_dma_configure()):
 *  - `dma`: a normal driver, iommu_device_use_default_domain();
 *  - `managed`: driver_managed_dma = true (pcieport, CXL port drivers today): no claim;
 *  - `msi-only`: thread 1's third kind. With `driver-managed-dma-enum` it is its own kind and, on a
 *    group parked on BLOCKED with no owner, switches the group to its (empty) DMA domain so MSIs
 *    can be mapped; without the switch it is exactly `managed`.
 * With `msi`, the driver then allocates MSI vectors (iommu_dma_prepare_msi()); if that fails the
 * probe fails and is undone. -ENODEV for an absent function, -EBUSY if a driver is bound.
 */
export function driver_bind(tx: Tx, f: number, kind: BindKind, msi: boolean): number {
  if (!tx.device(f).present) return -ENODEV;
  if (tx.device(f).driver !== DRIVER_NONE) return -EBUSY;
  const enumOn = tx.kernel.switches['driver-managed-dma-enum'];
  let driver: DriverKind;
  let ret = 0;
  switch (kind) {
    case 'dma':
      driver = DRIVER_DMA_API;
      ret = iommu_device_use_default_domain(tx, f);
      break;
    case 'managed':
      driver = DRIVER_MANAGED;
      break;
    case 'msi-only': {
      driver = enumOn ? DRIVER_MSI_ONLY : DRIVER_MANAGED;
      const g = deviceGroup(tx, f);
      if (enumOn && g >= 0 && parkedBlocked(tx, g) && tx.group(g).defaultDomain >= 0) {
        ret = __iommu_group_set_domain(tx, g, tx.group(g).defaultDomain);
        if (ret === 0)
          iommuEvent(
            tx,
            f,
            'iommu_device_use_msi_domain',
            `MSI-only driver: group ${g} unparked from BLOCKED to ${domainLabel(tx, tx.group(g).domain)}`,
          );
      }
      break;
    }
  }
  if (ret !== 0) return ret;
  tx.mutDevice(f).driver = driver;
  if (msi) {
    const err = iommu_dma_prepare_msi(tx, f);
    if (err !== 0) {
      tx.emit({
        kind: 'info',
        bdf: tx.info(f).bdf,
        level: 'err',
        message: `MSI vector allocation failed (${errnoName(err)}); driver probe fails`,
      });
      if (driver === DRIVER_DMA_API) iommu_device_unuse_default_domain(tx, f);
      tx.mutDevice(f).driver = DRIVER_NONE;
      return err;
    }
  }
  return 0;
}

/**
 * The bound driver goes away (device_release_driver()): a DMA-API driver drops its claim
 * (iommu_device_unuse_default_domain(), which WARNs if PASIDs are still attached); vfio-pci
 * releases its ownership (vfio_release). MSI vectors are freed. -ENODEV when nothing is bound.
 */
export function driver_unbind(tx: Tx, f: number): number {
  const dev = tx.device(f);
  if (!dev.present || dev.driver === DRIVER_NONE) return -ENODEV;
  if (dev.driver === DRIVER_VFIO) return vfio_release(tx, f);
  if (dev.driver === DRIVER_DMA_API) iommu_device_unuse_default_domain(tx, f);
  const m = tx.mutDevice(f);
  m.driver = DRIVER_NONE;
  m.msiInUse = false;
  return 0;
}

/**
 * vfio-pci binds f (driver_managed_dma) and its user opens it, claiming DMA ownership of the group
 * (iommu_device_claim_dma_owner(), group on the blocking domain). Modelled as one step that either
 * succeeds or leaves f unbound. With `vfio-refuse-msi-only-groups`, a multi-device group in which
 * another member's driver takes MSIs through the IOMMU is refused with -EINVAL.
 */
export function vfio_claim(tx: Tx, f: number): number {
  const dev = tx.device(f);
  if (!dev.present) return -ENODEV;
  if (dev.driver !== DRIVER_NONE) return -EBUSY;
  const g = deviceGroup(tx, f);
  if (g < 0) return -ENODEV;
  if (tx.kernel.switches['vfio-refuse-msi-only-groups'] && groupDeviceCount(tx, g) > 1) {
    for (const m of tx.world.groups[g]!.members) {
      if (m === f || !tx.gdev(m).probed || !tx.device(m).msiInUse) continue;
      tx.emit({
        kind: 'info',
        bdf: tx.info(f).bdf,
        level: 'err',
        message: `vfio: refusing group ${g}: ${tx.info(m).bdf} takes MSIs through the IOMMU and would lose them`,
      });
      return -EINVAL;
    }
  }
  const ret = iommu_device_claim_dma_owner(tx, f, VFIO_OWNER);
  if (ret !== 0) return ret;
  tx.mutDevice(f).driver = DRIVER_VFIO;
  iommuEvent(
    tx,
    f,
    'iommu_device_claim_dma_owner',
    `group ${g} owned by VFIO (owner_cnt ${tx.group(g).ownerCnt}) on ${domainLabel(tx, tx.group(g).domain)}`,
  );
  return 0;
}

/**
 * The VFIO user closes f and vfio-pci unbinds: the last device of the group detaches the owner's
 * domain (iommu_detach_group(), to the blocking domain) and releases ownership
 * (__iommu_release_dma_ownership(), back to the default domain through the nofail path); the
 * owner's domain is then destroyed. -EINVAL when f is not VFIO's.
 */
export function vfio_release(tx: Tx, f: number): number {
  const dev = tx.device(f);
  if (!dev.present) return -ENODEV;
  if (dev.driver !== DRIVER_VFIO) return -EINVAL;
  const g = deviceGroup(tx, f);
  if (g >= 0) {
    const grp = tx.group(g);
    if (grp.ownerCnt <= 1) {
      const userDom = grp.domain;
      // Whatever the owner attached is detached, the identity default domain it reused included:
      // the group passes through the blocking domain before ownership returns it to the default.
      if (userDom >= 0 && userDom !== grp.blockingDomain) iommu_detach_group(tx, g);
      iommu_device_release_dma_owner(tx, f);
      destroyOwnerDomain(tx, userDom);
      iommuEvent(
        tx,
        f,
        '__iommu_release_dma_ownership',
        `group ${g} released to ${domainLabel(tx, tx.group(g).domain)}`,
      );
    } else {
      iommu_device_release_dma_owner(tx, f);
    }
  }
  const m = tx.mutDevice(f);
  m.driver = DRIVER_NONE;
  m.msiInUse = false;
  return 0;
}

export type OwnerDomainKind = 'unmanaged' | 'identity' | 'blocked';

/** f is bound to vfio-pci and its group is owned by VFIO (else -EINVAL / -ENODEV). */
function ownerGroup(tx: Tx, f: number): number {
  const dev = tx.device(f);
  if (!dev.present) return -ENODEV;
  const g = deviceGroup(tx, f);
  if (g < 0) return -ENODEV;
  if (dev.driver !== DRIVER_VFIO || tx.group(g).owner !== VFIO_OWNER) return -EINVAL;
  return g;
}

/**
 * The owner attaches a domain to f's group (iommufd/VFIO -> iommu_attach_group()): a new
 * UNMANAGED paging domain with its own MSI cookie (doorbell mapped only for the owner's devices'
 * vectors), the driver's identity domain, or the blocking domain. -EBUSY while another owner
 * domain is attached (__iommu_attach_group()); a domain that did not attach is destroyed.
 */
export function owner_attach(tx: Tx, f: number, kind: OwnerDomainKind): number {
  const g = ownerGroup(tx, f);
  if (g < 0) return g;
  let d: number;
  let fresh = false;
  switch (kind) {
    case 'unmanaged': {
      const err = tx.injectedFailure('iommu_paging_domain_alloc', f);
      if (err !== 0) return err;
      d = tx.allocDomain(IOMMU_DOMAIN_UNMANAGED, ALLOCATOR_USER);
      fresh = true;
      if (userDomainNeedsDoorbell(tx, g)) tx.mutDomain(d).msiDoorbell = true;
      break;
    }
    case 'identity': {
      if (!tx.world.ops.hasIdentityDomain) return -EOPNOTSUPP;
      const def = tx.group(g).defaultDomain;
      if (def >= 0 && tx.domain(def).type === IOMMU_DOMAIN_IDENTITY) d = def;
      else {
        // the owner's reference to the driver's static identity domain
        d = tx.allocDomain(IOMMU_DOMAIN_IDENTITY, ALLOCATOR_USER);
        fresh = true;
      }
      break;
    }
    case 'blocked': {
      const err = __iommu_group_alloc_blocking_domain(tx, g);
      if (err !== 0) return err;
      d = tx.group(g).blockingDomain;
      break;
    }
  }
  const ret = __iommu_attach_group(tx, d, g);
  if (ret !== 0) {
    if (fresh) freeDomainIfUnused(tx, d);
    return ret;
  }
  return 0;
}

/**
 * The owner detaches (iommu_detach_group() -> __iommu_group_set_core_domain(): the blocking domain,
 * through the nofail path); the domain it had attached is destroyed.
 */
export function owner_detach(tx: Tx, f: number): number {
  const g = ownerGroup(tx, f);
  if (g < 0) return g;
  const old = tx.group(g).domain;
  iommu_detach_group(tx, g);
  destroyOwnerDomain(tx, old);
  return 0;
}
