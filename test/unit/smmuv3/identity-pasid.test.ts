import { describe, expect, it } from 'vitest';
import { INV_TYPE_ATS, INV_TYPE_S1_ASID } from '../../../src/drivers/smmuv3/domain.js';
import { cdDomain } from '../../../src/drivers/smmuv3/master.js';
import {
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_IDENTITY,
} from '../../../src/iommu/domain-type.js';
import { EINVAL } from '../../../src/kernel/errno.js';
import { tupleGet } from '../../../src/model/flat.js';
import type { FunctionSpec } from '../../../src/pci/builder.js';
import {
  A,
  EP_CXL,
  EP_PASID,
  Sim,
  indexOf,
  isAtsCtrlWrite,
  isSteWrite,
  machine,
  ofKind,
  type SimOptions,
} from './harness.js';

const EP_CXL_PASID: FunctionSpec = { ...EP_CXL, pasid: { width: 8 } };

function booted(spec: FunctionSpec, opts: SimOptions = {}): { sim: Sim; a: number } {
  const sim = new Sim(machine({ [A]: spec }), opts);
  const a = sim.fn(A);
  expect(sim.probe(a)).toBe(0);
  return { sim, a };
}

function lastSte(sim: Sim): unknown {
  return ofKind(sim.events, 'ste-write').at(-1);
}

describe('identity and blocked without PASIDs', () => {
  it('identity is a bypass STE and blocked an abort STE, both with ATS off', () => {
    const { sim, a } = booted(EP_PASID);
    sim.attach(a, IOMMU_DOMAIN_IDENTITY, true);
    expect(lastSte(sim)).toEqual({
      kind: 'ste-write',
      bdf: A,
      cfg: 'bypass',
      s1dss: null,
      eats: false,
      domain: null,
    });
    expect(sim.pci(a).atsEnabled).toBe(false);
    sim.attach(a, IOMMU_DOMAIN_BLOCKED);
    expect(lastSte(sim)).toEqual({
      kind: 'ste-write',
      bdf: A,
      cfg: 'abort',
      s1dss: null,
      eats: false,
      domain: null,
    });
    expect(sim.pci(a).atsEnabled).toBe(false);
  });
});

describe('ATS always on (5ff98a0da6b4, smmu-ats-always-on)', () => {
  it('v7.2: identity uses S1_TRANS with S1DSS=BYPASS and EATS, and ATS is enabled', () => {
    const { sim, a } = booted(EP_CXL, { preset: 'v7.2' });
    expect(sim.attach(a, IOMMU_DOMAIN_IDENTITY, true)).toBe(0);
    expect(lastSte(sim)).toEqual({
      kind: 'ste-write',
      bdf: A,
      cfg: 's1-trans',
      s1dss: 'bypass',
      eats: true,
      domain: null,
    });
    expect(sim.master(a).ats_enabled).toBe(true);
    expect(sim.pci(a).atsEnabled).toBe(true);
    expect(indexOf(sim.events, isAtsCtrlWrite)).toBeGreaterThan(indexOf(sim.events, isSteWrite));
    // ATS works on the RID in bypass: the translation is the identity.
    sim.step({ op: 'atc-fill', f: a, iova: 5 });
    expect(sim.device(a).atc).toEqual([0, 5, 5]);
    sim.step({ op: 'device-dma', f: a, iova: 5, translated: true });
    expect(ofKind(sim.events, 'dma')).toEqual([
      { kind: 'dma', bdf: A, translated: true, pasid: 0, iova: 5, outcome: 'bypass', phys: 5 },
    ]);
  });

  it('never under BLOCKED: ATS goes off before the abort STE, and comes back in identity', () => {
    const { sim, a } = booted(EP_CXL, { preset: 'v7.2' });
    sim.attach(a, IOMMU_DOMAIN_IDENTITY, true);
    sim.attach(a, IOMMU_DOMAIN_BLOCKED);
    expect(lastSte(sim)).toMatchObject({ cfg: 'abort', eats: false });
    expect(indexOf(sim.events, isAtsCtrlWrite)).toBeLessThan(indexOf(sim.events, isSteWrite));
    expect(sim.pci(a).atsEnabled).toBe(false);
    expect(sim.master(a).ats_enabled).toBe(false);
    sim.attach(a, IOMMU_DOMAIN_IDENTITY);
    expect(sim.pci(a).atsEnabled).toBe(true);
    expect(ofKind(sim.events, 'warn')).toEqual([]);
  });

  it('falls back to a bypass STE without stage 1, and before v7.2', () => {
    for (const opts of [{ preset: 'v7.2', features: { stage1: false } }, { preset: 'v7.0' }] as const) {
      const { sim, a } = booted(EP_CXL, opts);
      sim.attach(a, IOMMU_DOMAIN_IDENTITY, true);
      expect(lastSte(sim)).toMatchObject({ cfg: 'bypass', eats: false });
      expect(sim.pci(a).atsEnabled).toBe(false);
    }
  });
});

describe('PASIDs', () => {
  it('a PASID under an identity RID upgrades the STE to a CD table with S1DSS=BYPASS and turns ATS on', () => {
    const { sim, a } = booted(EP_PASID);
    sim.attach(a, IOMMU_DOMAIN_IDENTITY, true);
    expect(sim.setPasid(a, 1, IOMMU_DOMAIN_DMA)).toBe(0);
    const d = tupleGet(sim.group(a).pasids, 2, [1], 1, -1);
    expect(cdDomain(sim.master(a), 1)).toBe(d);
    expect(lastSte(sim)).toEqual({
      kind: 'ste-write',
      bdf: A,
      cfg: 's1-trans',
      s1dss: 'bypass',
      eats: true,
      domain: null,
    });
    expect(sim.pci(a).atsEnabled).toBe(true);
    expect(sim.drv(d)).toMatchObject({
      nr_ats_masters: 1,
      devices: [a, 1],
      invs: [INV_TYPE_S1_ASID, 0, 0, 1, INV_TYPE_ATS, a, 1, 1],
    });
    const ev = sim.events;
    expect(indexOf(ev, (e) => e.kind === 'cd-write' && e.ssid === 1)).toBeLessThan(indexOf(ev, isSteWrite));
    expect(indexOf(ev, isSteWrite)).toBeLessThan(indexOf(ev, isAtsCtrlWrite));
  });

  it('keeps ATS on when the RID goes to BLOCKED while a PASID is attached (S1DSS=TERMINATE)', () => {
    const { sim, a } = booted(EP_PASID);
    sim.attach(a, IOMMU_DOMAIN_IDENTITY, true);
    sim.setPasid(a, 1, IOMMU_DOMAIN_DMA);
    sim.attach(a, IOMMU_DOMAIN_BLOCKED);
    expect(lastSte(sim)).toEqual({
      kind: 'ste-write',
      bdf: A,
      cfg: 's1-trans',
      s1dss: 'terminate',
      eats: true,
      domain: null,
    });
    expect(sim.events.some(isAtsCtrlWrite)).toBe(false);
    expect(sim.pci(a).atsEnabled).toBe(true);
    // The RID is blocked for translation requests too; the PASID still translates.
    const tx = sim.view();
    expect(tx.world.ops.ats_allowed(tx, a, 0)).toBe(false);
    expect(tx.world.ops.ats_allowed(tx, a, 1)).toBe(true);
  });

  it('removing the last PASID re-attaches the RID domain: abort STE, ATS off, the PASID domain empty', () => {
    const { sim, a } = booted(EP_PASID);
    sim.attach(a, IOMMU_DOMAIN_IDENTITY, true);
    sim.setPasid(a, 1, IOMMU_DOMAIN_DMA);
    const d = tupleGet(sim.group(a).pasids, 2, [1], 1, -1);
    sim.attach(a, IOMMU_DOMAIN_BLOCKED);
    expect(sim.removePasid(a, 1)).toBe(0);
    const ev = sim.events;
    expect(ev).toContainEqual({ kind: 'cd-write', bdf: A, ssid: 1, domain: null });
    expect(ev).toContainEqual({ kind: 'smmu-cmd', cmd: 'CMD_ATC_INV', bdf: A, ssid: 1, page: 0, span: 52 });
    expect(lastSte(sim)).toMatchObject({ cfg: 'abort', eats: false });
    expect(sim.pci(a).atsEnabled).toBe(false);
    expect(sim.master(a).ats_enabled).toBe(false);
    expect(sim.drv(d)).toMatchObject({ nr_ats_masters: 0, devices: [], invs: [] });
    expect(ofKind(ev, 'warn')).toEqual([]);
  });

  it('an always-on master keeps S1DSS=BYPASS with ATS after its last PASID under identity, not under BLOCKED', () => {
    const { sim, a } = booted(EP_CXL_PASID, { preset: 'v7.2' });
    sim.attach(a, IOMMU_DOMAIN_IDENTITY, true);
    sim.setPasid(a, 1, IOMMU_DOMAIN_DMA);
    sim.removePasid(a, 1);
    expect(sim.events.some(isSteWrite)).toBe(false);
    expect(sim.master(a)).toMatchObject({ ste_eats: true, ats_enabled: true });
    expect(sim.pci(a).atsEnabled).toBe(true);

    sim.setPasid(a, 1, IOMMU_DOMAIN_DMA);
    sim.attach(a, IOMMU_DOMAIN_BLOCKED);
    expect(sim.pci(a).atsEnabled).toBe(true); // a PASID still needs it
    sim.removePasid(a, 1);
    expect(lastSte(sim)).toMatchObject({ cfg: 'abort', eats: false });
    expect(sim.pci(a).atsEnabled).toBe(false);
  });

  it('routes PASID traffic through the CD: the PASID domain, nothing for an unknown PASID', () => {
    const { sim, a } = booted(EP_PASID);
    sim.attach(a, IOMMU_DOMAIN_IDENTITY, true);
    sim.setPasid(a, 1, IOMMU_DOMAIN_DMA);
    expect(sim.step({ op: 'dma-map', f: a, pasid: 1 }).ret).toBe(0);
    sim.step({ op: 'device-dma', f: a, iova: 3, pasid: 0, translated: false });
    expect(ofKind(sim.events, 'dma')).toEqual([
      { kind: 'dma', bdf: A, translated: false, pasid: 0, iova: 3, outcome: 'bypass', phys: 3 },
    ]);
    const outcomes: string[] = [];
    for (const pasid of [1, 2]) {
      sim.step({ op: 'device-dma', f: a, iova: 0, pasid, translated: false });
      outcomes.push(ofKind(sim.events, 'dma')[0]!.outcome);
    }
    expect(outcomes).toEqual(['ok', 'fault']);
  });

  it("an unmap in a PASID domain invalidates that SSID only (SSV), leaving the RID's ATC entries", () => {
    const { sim, a } = booted(EP_PASID);
    sim.attach(a, IOMMU_DOMAIN_IDENTITY, true);
    sim.setPasid(a, 1, IOMMU_DOMAIN_DMA);
    const iova = sim.step({ op: 'dma-map', f: a, pasid: 1 }).ret!;
    const phys = sim.state.domains[tupleGet(sim.group(a).pasids, 2, [1], 1, -1)]!.pt[1]!;
    sim.step({ op: 'atc-fill', f: a, iova, pasid: 1 });
    sim.step({ op: 'atc-fill', f: a, iova }); // the RID in S1DSS bypass: identity
    expect(sim.device(a).atc).toEqual([0, iova, iova, 1, iova, phys]);
    sim.step({ op: 'dma-unmap', f: a, iova, pasid: 1 });
    expect(sim.events).toContainEqual({
      kind: 'smmu-cmd',
      cmd: 'CMD_ATC_INV',
      bdf: A,
      ssid: 1,
      page: iova,
      span: 0,
    });
    sim.step({ op: 'dma-unmap', f: a, iova, pasid: 1 });
    expect(sim.device(a).atc).toEqual([0, iova, iova]);
  });

  it('refuses a PASID for a domain that is not stage 1', () => {
    const { sim, a } = booted(EP_PASID, { features: { stage1: false } });
    sim.attach(a, IOMMU_DOMAIN_IDENTITY, true);
    expect(sim.setPasid(a, 1, IOMMU_DOMAIN_DMA)).toBe(-EINVAL);
    expect(sim.events.some(isSteWrite)).toBe(false);
  });
});

describe('domain_has_set_dev_pasid', () => {
  it('is false for the identity domain only', () => {
    const { sim, a } = booted(EP_PASID);
    sim.attach(a, IOMMU_DOMAIN_IDENTITY, true);
    const tx = sim.view();
    const ops = tx.world.ops;
    expect(ops.domain_has_set_dev_pasid?.(tx, sim.domainOf(a))).toBe(false);
    expect(ops.domain_has_set_dev_pasid?.(tx, sim.group(a).blockingDomain)).toBe(true);
    sim.attach(a, IOMMU_DOMAIN_DMA);
    expect(ops.domain_has_set_dev_pasid?.(sim.view(), sim.domainOf(a))).toBe(true);
  });
});
