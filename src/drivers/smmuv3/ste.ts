/**
 * Stream Table Entries and Context Descriptors (arm-smmu-v3.c arm_smmu_make_*_ste(),
 * arm_smmu_install_ste_for_dev(), arm_smmu_write_cd_entry(), arm_smmu_clear_cd()). The model keeps
 * the fields the kernel's decisions and the hardware's behaviour depend on: Config, S1DSS, EATS
 * and the domain translated through. A write that changes nothing issues no command (the hitless
 * writer finds no used bit to update); a change is a CMD_CFGI_STE/CD followed by a CMD_SYNC.
 */
import type { SteWriteEvent } from '../../kernel/events.js';
import { tuplePut, tupleRemoveWhere } from '../../model/flat.js';
import type { Tx } from '../../model/tx.js';
import {
  S1DSS_NONE,
  S1DSS_SSID0,
  STE_CFG_ABORT,
  STE_CFG_BYPASS,
  STE_CFG_S1_TRANS,
  STE_CFG_S2_TRANS,
  cdDomain,
  getMaster,
  mutMaster,
} from './master.js';

export interface Ste {
  readonly cfg: number;
  readonly s1dss: number;
  readonly eats: boolean;
  /** The S2 domain (S2_TRANS); -1 otherwise. */
  readonly domain: number;
}

/** arm_smmu_make_abort_ste(): V=1, Config=ABORT. */
export function arm_smmu_make_abort_ste(): Ste {
  return { cfg: STE_CFG_ABORT, s1dss: S1DSS_NONE, eats: false, domain: -1 };
}

/** arm_smmu_make_bypass_ste(): V=1, Config=BYPASS (EATS is ignored there, so never set). */
export function arm_smmu_make_bypass_ste(): Ste {
  return { cfg: STE_CFG_BYPASS, s1dss: S1DSS_NONE, eats: false, domain: -1 };
}

/** arm_smmu_make_cdtable_ste(): Config=S1_TRANS with the CD table, S1DSS, EATS=TRANS iff ATS. */
export function arm_smmu_make_cdtable_ste(ats_enabled: boolean, s1dss: number): Ste {
  return { cfg: STE_CFG_S1_TRANS, s1dss, eats: ats_enabled, domain: -1 };
}

/** arm_smmu_make_s2_domain_ste(): Config=S2_TRANS on the domain's page table, EATS=TRANS iff ATS. */
export function arm_smmu_make_s2_domain_ste(d: number, ats_enabled: boolean): Ste {
  return { cfg: STE_CFG_S2_TRANS, s1dss: S1DSS_NONE, eats: ats_enabled, domain: d };
}

const CFG_NAMES: readonly SteWriteEvent['cfg'][] = ['abort', 'bypass', 's1-trans', 's2-trans'];
const S1DSS_NAMES: readonly NonNullable<SteWriteEvent['s1dss']>[] = ['ssid0', 'bypass', 'terminate'];

export function steOf(tx: Tx, f: number): Ste {
  const m = getMaster(tx, f);
  return { cfg: m.ste_cfg, s1dss: m.ste_s1dss, eats: m.ste_eats, domain: m.ste_domain };
}

/** The event for the STE the master now has. */
function emitSte(tx: Tx, f: number): void {
  const m = getMaster(tx, f);
  const bdf = tx.info(f).bdf;
  let domain: number | null = null;
  if (m.ste_cfg === STE_CFG_S2_TRANS) domain = m.ste_domain;
  else if (m.ste_cfg === STE_CFG_S1_TRANS && m.ste_s1dss === S1DSS_SSID0) {
    const d0 = cdDomain(m, 0);
    domain = d0 < 0 ? null : d0;
  }
  tx.emit({
    kind: 'ste-write',
    bdf,
    cfg: CFG_NAMES[m.ste_cfg]!,
    s1dss: m.ste_s1dss === S1DSS_NONE ? null : S1DSS_NAMES[m.ste_s1dss]!,
    eats: m.ste_eats,
    domain,
  });
  tx.emit({ kind: 'smmu-cmd', cmd: 'CMD_CFGI_STE', bdf });
  tx.emit({ kind: 'smmu-cmd', cmd: 'CMD_SYNC', result: 'ok' });
}

/** arm_smmu_install_ste_for_dev(): writes the STE (cd_table.in_ste and ste_ats_enabled follow from it). */
export function arm_smmu_install_ste_for_dev(tx: Tx, f: number, ste: Ste): void {
  const m = getMaster(tx, f);
  if (
    m.ste_cfg === ste.cfg &&
    m.ste_s1dss === ste.s1dss &&
    m.ste_eats === ste.eats &&
    m.ste_domain === ste.domain
  )
    return;
  const w = mutMaster(tx, f);
  w.ste_cfg = ste.cfg;
  w.ste_s1dss = ste.s1dss;
  w.ste_eats = ste.eats;
  w.ste_domain = ste.domain;
  emitSte(tx, f);
}

function emitCd(tx: Tx, f: number, ssid: number, d: number): void {
  const bdf = tx.info(f).bdf;
  tx.emit({ kind: 'cd-write', bdf, ssid, domain: d < 0 ? null : d });
  tx.emit({ kind: 'smmu-cmd', cmd: 'CMD_CFGI_CD', bdf, ssid });
  tx.emit({ kind: 'smmu-cmd', cmd: 'CMD_SYNC', result: 'ok' });
}

/**
 * arm_smmu_write_cd_entry() for CD[ssid] = domain d (arm_smmu_alloc_cd_ptr() allocates the CD
 * table on first use). If the STE currently uses SSID 0's CD, the event of the STE follows.
 */
export function arm_smmu_write_cd_entry(tx: Tx, f: number, ssid: number, d: number): void {
  const m = getMaster(tx, f);
  if (cdDomain(m, ssid) === d && m.cd_table) return;
  const w = mutMaster(tx, f);
  w.cd_table = true;
  w.cds = tuplePut(m.cds, 2, 1, [ssid, d]);
  emitCd(tx, f, ssid, d);
}

/** arm_smmu_clear_cd(): makes CD[ssid] invalid (nothing to do without a CD table or a valid CD). */
export function arm_smmu_clear_cd(tx: Tx, f: number, ssid: number): void {
  const m = getMaster(tx, f);
  if (!m.cd_table || cdDomain(m, ssid) < 0) return;
  mutMaster(tx, f).cds = tupleRemoveWhere(m.cds, 2, (a, i) => a[i] === ssid);
  emitCd(tx, f, ssid, -1);
}

/** Restores a saved STE and CD table (the `smmu-invs-rollback` alternative), with the writes it takes. */
export function restoreSteAndCds(tx: Tx, f: number, ste: Ste, cds: readonly number[]): void {
  const m = getMaster(tx, f);
  for (let i = 0; i < m.cds.length; i += 2) {
    const ssid = m.cds[i]!;
    if (cdDomainIn(cds, ssid) < 0) arm_smmu_clear_cd(tx, f, ssid);
  }
  for (let i = 0; i < cds.length; i += 2) arm_smmu_write_cd_entry(tx, f, cds[i]!, cds[i + 1]!);
  arm_smmu_install_ste_for_dev(tx, f, ste);
}

function cdDomainIn(cds: readonly number[], ssid: number): number {
  for (let i = 0; i < cds.length; i += 2) if (cds[i] === ssid) return cds[i + 1]!;
  return -1;
}
