/**
 * SMMUv3 invalidation: TLBI for a domain's ASID/VMID, CMD_ATC_INV to the functions with ATS in the
 * domain's invalidation array, and the CMD_SYNC that completes them (arm-smmu-v3.c
 * arm_smmu_domain_inv_range(), arm_smmu_atc_inv_to_cmd(), arm_smmu_atc_inv_master(),
 * arm_smmu_invs_flush_iotlb_tags(); the CERROR_ATC_INV handling of __arm_smmu_cmdq_skip_err()).
 *
 * The IOTLB and the ATCs only lose entries when the CMD_SYNC completes. A function completes a
 * CMD_ATC_INV it received if it is present, not in reset and answering; otherwise the CMD_SYNC
 * times out ("ATC invalidate timeout"). An invalidation without SSV (SSID 0) covers every PASID of
 * the function, as arm_smmu_enable_ats() relies on when it flushes the whole ATC with SSID 0.
 */
import type { SmmuCommand } from '../../kernel/events.js';
import { ETIMEDOUT } from '../../kernel/errno.js';
import type { Tx } from '../../model/tx.js';
import {
  atc_inv_complete,
  atc_inv_request,
  atc_invalidate,
  deviceAnswersInvalidation,
} from '../../device/atc.js';
import { iotlb_invalidate_range } from '../../device/dma.js';
import {
  INV_TYPE_ATS,
  INV_TYPE_S2_VMID,
  INV_W,
  STAGE_S2,
  copySmmuDomain,
  getSmmuDomain,
  invsAtsSsids,
  setSmmuDomain,
  tagType,
  type SmmuDomain,
} from './domain.js';

/** The log2 span the kernel uses for "everything" (arm_smmu_atc_inv_to_cmd with size 0). */
export const SPAN_ALL = 52;

/**
 * arm_smmu_atc_inv_to_cmd(): the naturally aligned power-of-two block of pages covering
 * [iova, iova + pages); pages 0 is the whole space (address 0, span 52).
 */
export function atcInvRange(iova: number, pages: number): { page: number; span: number } {
  if (pages <= 0) return { page: 0, span: SPAN_ALL };
  const last = iova + pages - 1;
  let span = 0;
  while (iova >>> span !== last >>> span) span++;
  return { page: (iova >>> span) << span, span };
}

function emitSync(tx: Tx, timedOut: boolean, f: number): void {
  tx.emit({ kind: 'smmu-cmd', cmd: 'CMD_SYNC', result: timedOut ? 'timeout' : 'ok' });
  // __arm_smmu_cmdq_skip_err(): dev_err "CMDQ error ...: ATC invalidate timeout"
  if (timedOut)
    tx.emit({ kind: 'info', bdf: tx.info(f).bdf, message: 'ATC invalidate timeout', level: 'err' });
}

function emitAtcInv(tx: Tx, f: number, ssid: number, iova: number, pages: number): void {
  const r = atcInvRange(iova, pages);
  const bdf = tx.info(f).bdf;
  tx.emit(
    ssid > 0
      ? { kind: 'smmu-cmd', cmd: 'CMD_ATC_INV', bdf, ssid, page: r.page, span: r.span }
      : { kind: 'smmu-cmd', cmd: 'CMD_ATC_INV', bdf, page: r.page, span: r.span },
  );
}

/**
 * arm_smmu_atc_inv_master(master, ssid): a full-range CMD_ATC_INV for the function (SSID 0: every
 * PASID) and the CMD_SYNC, in one step (the attach paths hold the group mutex while they wait).
 * 0, or -ETIMEDOUT when the function did not complete it.
 */
export function arm_smmu_atc_inv_master(tx: Tx, f: number, ssid: number): number {
  emitAtcInv(tx, f, ssid, 0, 0);
  const dev = tx.device(f);
  if (!deviceAnswersInvalidation(dev)) {
    tx.emit({ kind: 'atc', bdf: tx.info(f).bdf, action: 'ignored', pasid: ssid, page: 0 });
    emitSync(tx, true, f);
    return -ETIMEDOUT;
  }
  atc_invalidate(tx, f, ssid === 0 ? null : [ssid], 0, 0);
  emitSync(tx, false, f);
  return 0;
}

/**
 * arm_smmu_invs_flush_iotlb_tags() for a domain whose ASID/VMID entry lost its last user: all
 * ASIDs/VMIDs that no array references are left clean in the IOTLB.
 */
export function arm_smmu_flush_iotlb_tag(tx: Tx, d: number): void {
  const stage = getSmmuDomain(tx, d).stage;
  const cmd: SmmuCommand = stage === STAGE_S2 ? 'CMD_TLBI_S12_VMALL' : 'CMD_TLBI_NH_ASID';
  tx.emit({ kind: 'smmu-cmd', cmd });
  tx.emit({ kind: 'smmu-cmd', cmd: 'CMD_SYNC', result: 'ok' });
  if (tx.domain(d).iotlb.length > 0) tx.mutDomain(d).iotlb = [];
}

/**
 * The issuing half of arm_smmu_domain_inv_range() for [iova, iova + pages) (pages 0: everything):
 * a TLBI for the domain's tag and a CMD_ATC_INV per ATS entry of the array, which reaches the
 * function unless it is gone or in reset. With ATS entries the array's rwlock is held for reading
 * until the CMD_SYNC (587bb3e56a2c), counted in ats_readers. Returns one target function per
 * CMD_ATC_INV.
 */
export function iotlb_sync_issue(tx: Tx, d: number, iova: number, pages: number): readonly number[] {
  const drv = getSmmuDomain(tx, d);
  const invs = drv.invs;
  const targets: number[] = [];
  const tag = tagType(drv.stage);
  for (let i = 0; i < invs.length; i += INV_W) {
    const type = invs[i]!;
    if (type === tag) {
      const s2 = type === INV_TYPE_S2_VMID;
      if (pages <= 0) tx.emit({ kind: 'smmu-cmd', cmd: s2 ? 'CMD_TLBI_S12_VMALL' : 'CMD_TLBI_NH_ASID' });
      else
        for (let p = 0; p < pages; p++)
          tx.emit({ kind: 'smmu-cmd', cmd: s2 ? 'CMD_TLBI_S2_IPA' : 'CMD_TLBI_NH_VA', page: iova + p });
    } else if (type === INV_TYPE_ATS) {
      const f = invs[i + 1]!;
      emitAtcInv(tx, f, invs[i + 2]!, iova, pages);
      atc_inv_request(tx, f);
      targets.push(f);
    }
  }
  if (targets.length > 0) {
    const w = copySmmuDomain(drv);
    w.ats_readers++;
    setSmmuDomain(tx, d, w);
  }
  return targets;
}

/**
 * The CMD_SYNC half: the IOTLB entries of the range go; each target that is present, not in reset,
 * answering and still holding the request completes it (its ATC drops the range for the SSIDs it
 * is attached through, unless it holds its entries). Any other target makes the sync time out.
 * Releases the read side of the array's rwlock. 0 or -ETIMEDOUT.
 */
export function iotlb_sync_wait(
  tx: Tx,
  d: number,
  iova: number,
  pages: number,
  targets: readonly number[],
): number {
  let timedOut = -1;
  const dom = d >= 0 ? tx.domainOrNull(d) : null;
  for (const f of targets) {
    // The SSIDs the request carried: those the function is attached through now (SSID 0 or none
    // left: a request without SSV, every PASID).
    const ssids = dom === null ? [] : invsAtsSsids((dom.drv as SmmuDomain).invs, f);
    const pasids = ssids.length === 0 || ssids.includes(0) ? null : ssids;
    if (!atc_inv_complete(tx, f, pasids, iova, pages) && timedOut < 0) timedOut = f;
  }
  if (dom !== null) {
    iotlb_invalidate_range(tx, d, iova, pages);
    if (targets.length > 0) {
      const drv = getSmmuDomain(tx, d);
      if (drv.ats_readers > 0) {
        const w = copySmmuDomain(drv);
        w.ats_readers--;
        setSmmuDomain(tx, d, w);
      }
    }
  }
  if (timedOut >= 0) {
    emitSync(tx, true, timedOut);
    return -ETIMEDOUT;
  }
  tx.emit({ kind: 'smmu-cmd', cmd: 'CMD_SYNC', result: 'ok' });
  return 0;
}
