/**
 * Default domains: drivers/iommu/iommu.c iommu_get_default_domain_type(),
 * iommu_group_alloc_default_domain(), iommu_setup_default_domain() and the sysfs
 * `iommu_groups/N/type` store (iommu_group_store_type()), written anew.
 *
 * The model has no ops->default_domain (a legacy static default) and no CONFIG_ARM_DMA_USE_IOMMU;
 * CONFIG_IOMMU_DMA is on. Direct (RMR) mappings and the DMA cookie are not modelled, so setting up
 * a default domain cannot fail for those reasons.
 */
import { EINVAL, EOPNOTSUPP, EPERM } from '../kernel/errno.js';
import { WARN_ON } from '../kernel/events.js';
import type { Tx } from '../model/tx.js';
import {
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
  IOMMU_DOMAIN_IDENTITY,
  __IOMMU_DOMAIN_PAGING,
  domainTypeName,
  type DomainType,
} from './domain-type.js';
import {
  IOMMU_SET_DOMAIN_MUST_SUCCEED,
  __iommu_group_set_domain,
  __iommu_group_set_domain_internal,
  deviceGroup,
  freeDomainIfUnused,
  groupEmpty,
  groupFirstDev,
  iommuEvent,
} from './group.js';

/**
 * iommu.c iommu_def_domain_type as iommu_subsys_init() leaves it: IDENTITY with
 * `iommu.passthrough=1`, else DMA_FQ with `iommu.strict=0`, else DMA. Without either parameter the
 * build defaults apply: translated (CONFIG_IOMMU_DEFAULT_DMA_STRICT, the arm64 Kconfig default).
 */
export function iommu_def_domain_type(tx: Tx): DomainType {
  const c = tx.kernel.cmdline;
  if (c.iommuPassthrough === true) return IOMMU_DOMAIN_IDENTITY;
  if (c.iommuStrict === false) return IOMMU_DOMAIN_DMA_FQ;
  return IOMMU_DOMAIN_DMA;
}

/**
 * iommu.c iommu_get_def_domain_type(): folds one device's ops->def_domain_type() into the group's
 * choice. Conflicting requests are a driver error (logged); IDENTITY wins.
 */
function iommu_get_def_domain_type(tx: Tx, g: number, f: number, cur: DomainType | 0): DomainType | 0 {
  const type = tx.world.ops.def_domain_type(tx, f);
  if (type === 0 || cur === type) return cur;
  if (cur === 0) return type;
  tx.emit({
    kind: 'info',
    bdf: tx.info(f).bdf,
    level: 'err',
    message: `IOMMU driver error, requesting conflicting def_domain_type, ${domainTypeName(cur)} and ${domainTypeName(type)}, for devices in group ${g}.`,
  });
  return type === IOMMU_DOMAIN_IDENTITY ? type : cur;
}

/**
 * iommu.c iommu_get_default_domain_type(): the type the group needs. An untrusted PCI device
 * (below an external-facing port) forces DMA, whatever `iommu.passthrough` says; a driver insisting
 * on anything else makes it fail (-1). A non-zero `target` (sysfs) must agree with the drivers.
 * Returns a type, 0 for "the global default", or -1.
 */
export function iommu_get_default_domain_type(
  tx: Tx,
  g: number,
  target: DomainType | 0,
): DomainType | 0 | -1 {
  let driverType: DomainType | 0 = 0;
  let untrusted = -1;
  for (const f of tx.world.groups[g]!.members) {
    if (!tx.gdev(f).probed) continue;
    driverType = iommu_get_def_domain_type(tx, g, f, driverType);
    if (tx.info(f).untrusted) untrusted = f;
  }
  if (untrusted >= 0) {
    if (driverType !== 0 && driverType !== IOMMU_DOMAIN_DMA) {
      tx.emit({
        kind: 'info',
        bdf: tx.info(untrusted).bdf,
        level: 'err',
        message: `Device is not trusted, but driver is overriding group ${g} to ${domainTypeName(driverType)}, refusing to probe.`,
      });
      return -1;
    }
    driverType = IOMMU_DOMAIN_DMA;
  }
  if (target !== 0) {
    if (driverType !== 0 && target !== driverType) return -1;
    return target;
  }
  return driverType;
}

/**
 * iommu.c __iommu_group_alloc_default_domain(): the existing default domain when it already has
 * the type, else a new paging domain (which a scenario may fail as `iommu_paging_domain_alloc`) or
 * the driver's identity domain (-EOPNOTSUPP without one). A slot or a negative errno.
 */
function __iommu_group_alloc_default_domain(tx: Tx, g: number, reqType: DomainType): number {
  const cur = tx.group(g).defaultDomain;
  if (cur >= 0 && tx.domain(cur).type === reqType) return cur;
  if ((reqType & __IOMMU_DOMAIN_PAGING) !== 0) {
    const err = tx.injectedFailure('iommu_paging_domain_alloc', groupFirstDev(tx, g));
    if (err !== 0) return err;
    return tx.allocDomain(reqType, 0);
  }
  if (reqType === IOMMU_DOMAIN_IDENTITY) {
    if (!tx.world.ops.hasIdentityDomain) return -EOPNOTSUPP;
    return tx.allocDomain(IOMMU_DOMAIN_IDENTITY, 0);
  }
  return -EINVAL;
}

/**
 * iommu.c iommu_group_alloc_default_domain(): `reqType` 0 means the global default, and an
 * IDENTITY or DMA_FQ default that cannot be had falls back to DMA (with a warning).
 */
function iommu_group_alloc_default_domain(tx: Tx, g: number, reqType: DomainType | 0): number {
  if (reqType !== 0) return __iommu_group_alloc_default_domain(tx, g, reqType);
  const def = iommu_def_domain_type(tx);
  const dom = __iommu_group_alloc_default_domain(tx, g, def);
  if (dom >= 0) return dom;
  if (def === IOMMU_DOMAIN_DMA) return -EINVAL;
  const dma = __iommu_group_alloc_default_domain(tx, g, IOMMU_DOMAIN_DMA);
  if (dma < 0) return dma;
  iommuEvent(
    tx,
    groupFirstDev(tx, g),
    'iommu_group_alloc_default_domain',
    `Failed to allocate default IOMMU domain of type ${domainTypeName(def)} for group ${g} - Falling back to IOMMU_DOMAIN_DMA`,
  );
  return dma;
}

/**
 * iommu.c iommu_setup_default_domain(): allocate the default domain of the type the group needs
 * and make it the group's domain. The first attach of a group must succeed (MUST_SUCCEED, WARN on
 * failure); a later change (sysfs) is all-or-nothing and keeps the old default domain on failure.
 * The old default domain is freed after a change.
 */
export function iommu_setup_default_domain(tx: Tx, g: number, target: DomainType | 0): number {
  const oldDom = tx.group(g).defaultDomain;
  const req = iommu_get_default_domain_type(tx, g, target);
  if (req === -1) return -EINVAL;
  const dom = iommu_group_alloc_default_domain(tx, g, req);
  if (dom < 0) return dom;
  if (oldDom === dom) return 0;
  tx.mutGroup(g).defaultDomain = dom;
  let ret: number;
  if (tx.group(g).domain < 0) {
    ret = __iommu_group_set_domain_internal(tx, g, dom, IOMMU_SET_DOMAIN_MUST_SUCCEED);
    WARN_ON(
      tx,
      ret !== 0,
      'iommu_setup_default_domain',
      tx.info(groupFirstDev(tx, g)).bdf,
      `first attach failed (${ret})`,
    );
  } else {
    ret = __iommu_group_set_domain(tx, g, dom);
    if (ret !== 0) {
      // err_restore_def_domain
      if (oldDom >= 0) {
        tx.mutGroup(g).defaultDomain = oldDom;
        freeDomainIfUnused(tx, dom);
      }
      return ret;
    }
  }
  if (oldDom >= 0) freeDomainIfUnused(tx, oldDom);
  iommuEvent(
    tx,
    groupFirstDev(tx, g),
    'iommu_setup_default_domain',
    `group ${g}: default domain ${domainTypeName(tx.domain(dom).type)}(d${dom})`,
  );
  return ret;
}

export type GroupTypeRequest = 'identity' | 'dma' | 'dma-fq';

/**
 * iommu.c iommu_group_store_type(): writing `identity`, `DMA` or `DMA-FQ` to
 * /sys/kernel/iommu_groups/N/type. DMA -> DMA-FQ converts the domain in place (iommu_dma_init_fq)
 * even with drivers bound; any other change needs a group with devices and no bound DMA user or
 * owner (owner_cnt 0), else -EPERM, and then re-runs iommu_setup_default_domain().
 */
export function iommu_group_store_type(tx: Tx, f: number, type: GroupTypeRequest): number {
  const g = deviceGroup(tx, f);
  if (g < 0) return -EINVAL;
  const def = tx.group(g).defaultDomain;
  if (def < 0) return -EINVAL;
  const req: DomainType =
    type === 'identity' ? IOMMU_DOMAIN_IDENTITY : type === 'dma' ? IOMMU_DOMAIN_DMA : IOMMU_DOMAIN_DMA_FQ;
  if (req === IOMMU_DOMAIN_DMA_FQ && tx.domain(def).type === IOMMU_DOMAIN_DMA) {
    tx.mutDomain(def).type = IOMMU_DOMAIN_DMA_FQ;
    iommuEvent(tx, f, 'iommu_group_store_type', `group ${g}: d${def} DMA -> DMA_FQ in place`);
    return 0;
  }
  if (groupEmpty(tx, g) || tx.group(g).ownerCnt !== 0) return -EPERM;
  return iommu_setup_default_domain(tx, g, req);
}
