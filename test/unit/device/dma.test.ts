import { describe, expect, it } from 'vitest';
import { atc_flush_all } from '../../../src/device/atc.js';
import { INVARIANTS } from '../../../src/invariants/catalogue.js';
import { checkInvariants } from '../../../src/invariants/invariant.js';
import { smmu_attach_would_wait } from '../../../src/drivers/smmuv3/ops.js';
import {
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
  IOMMU_DOMAIN_IDENTITY,
  type DomainType,
} from '../../../src/iommu/domain-type.js';
import { EINVAL, ENOMEM, ENOSPC } from '../../../src/kernel/errno.js';
import { A, EP_ATS, Sim, machine, ofKind, type SimOptions } from '../smmuv3/harness.js';

function booted(type: DomainType = IOMMU_DOMAIN_DMA, opts: SimOptions = {}): { sim: Sim; a: number } {
  const sim = new Sim(machine({ [A]: EP_ATS }), opts);
  const a = sim.fn(A);
  expect(sim.probe(a)).toBe(0);
  expect(sim.attach(a, type, true)).toBe(0);
  return { sim, a };
}

/** Maps one page and lets the device cache its translation. */
function mappedAndCached(sim: Sim, a: number): number {
  const iova = sim.step({ op: 'dma-map', f: a }).ret!;
  sim.step({ op: 'atc-fill', f: a, iova });
  return iova;
}

/** The device's DMA: its own actor (thread 1), so it may run while thread 0 waits in an unmap. */
function dma(sim: Sim, a: number, iova: number, translated: boolean): unknown {
  sim.step({ op: 'device-dma', f: a, iova, translated }, 1);
  return ofKind(sim.events, 'dma')[0];
}

describe('dma-map and the caches', () => {
  it('maps the lowest free page behind the lowest free IOVA, owned by the domain', () => {
    const { sim, a } = booted();
    expect(sim.step({ op: 'dma-map', f: a }).ret).toBe(0);
    expect(sim.step({ op: 'dma-map', f: a }).ret).toBe(1);
    const d = sim.domainOf(a);
    expect(sim.state.domains[d]!.pt).toEqual([0, 0, 1, 1]);
    expect(sim.state.mem.pages.slice(0, 3)).toEqual([1 + d, 1 + d, 0]);
  });

  it('a Translation Request fills the ATC and the IOTLB; both kinds of DMA reach the page', () => {
    const { sim, a } = booted();
    const iova = sim.step({ op: 'dma-map', f: a }).ret!;
    sim.step({ op: 'atc-fill', f: a, iova });
    expect(sim.events).toEqual([{ kind: 'atc', bdf: A, action: 'fill', pasid: 0, page: 0, phys: 0 }]);
    expect(sim.device(a).atc).toEqual([0, 0, 0]);
    expect(sim.state.domains[sim.domainOf(a)]!.iotlb).toEqual([0, 0]);
    expect(dma(sim, a, iova, true)).toEqual({
      kind: 'dma',
      bdf: A,
      translated: true,
      pasid: 0,
      iova,
      outcome: 'ok',
      phys: 0,
    });
    expect(dma(sim, a, iova, false)).toEqual({
      kind: 'dma',
      bdf: A,
      translated: false,
      pasid: 0,
      iova,
      outcome: 'ok',
      phys: 0,
    });
    expect(dma(sim, a, 5, false)).toEqual({
      kind: 'dma',
      bdf: A,
      translated: false,
      pasid: 0,
      iova: 5,
      outcome: 'fault',
    });
  });

  it('runs out of pages with -ENOMEM, and an armed iommu_map failure fails one mapping', () => {
    const { sim, a } = booted(IOMMU_DOMAIN_DMA, { world: { physPages: 1 } });
    sim.arm('iommu_map', a, -ENOSPC);
    expect(sim.step({ op: 'dma-map', f: a }).ret).toBe(-ENOSPC);
    expect(sim.state.faults).toEqual([]);
    expect(sim.step({ op: 'dma-map', f: a }).ret).toBe(0);
    expect(sim.step({ op: 'dma-map', f: a }).ret).toBe(-ENOMEM);
  });

  it('identity is dma-direct (IOVA = physical, bypass); blocked refuses mappings and DMA', () => {
    const id = booted(IOMMU_DOMAIN_IDENTITY);
    const iova = id.sim.step({ op: 'dma-map', f: id.a }).ret!;
    expect(iova).toBe(0);
    expect(dma(id.sim, id.a, iova, false)).toMatchObject({ outcome: 'bypass', phys: 0 });
    expect(id.sim.step({ op: 'dma-unmap', f: id.a, iova }).ret).toBe(0);
    expect(id.sim.state.mem.pages[0]).toBe(0);
    const bl = booted(IOMMU_DOMAIN_BLOCKED);
    expect(bl.sim.step({ op: 'dma-map', f: bl.a }).ret).toBe(-EINVAL);
    expect(dma(bl.sim, bl.a, 0, false)).toMatchObject({ outcome: 'fault' });
  });

  it('no ATC fill and no translated DMA while ATS is off at the function', () => {
    const { sim, a } = booted(IOMMU_DOMAIN_IDENTITY);
    sim.step({ op: 'atc-fill', f: a, iova: 0 });
    expect(sim.device(a).atc).toEqual([]);
    // Without ATS Enable the function sends the request untranslated.
    expect(dma(sim, a, 0, true)).toMatchObject({ translated: false, outcome: 'bypass' });
  });
});

describe('strict unmap', () => {
  it('issues TLBI and CMD_ATC_INV, waits for the CMD_SYNC in a second step, then frees the page', () => {
    const { sim, a } = booted();
    const iova = mappedAndCached(sim, a);
    const d = sim.domainOf(a);
    const first = sim.step({ op: 'dma-unmap', f: a, iova });
    expect(first.waiting).toBe(true);
    expect(first.ret).toBeNull();
    expect(sim.events).toEqual([
      { kind: 'smmu-cmd', cmd: 'CMD_TLBI_NH_VA', page: 0 },
      { kind: 'smmu-cmd', cmd: 'CMD_ATC_INV', bdf: A, page: 0, span: 0 },
    ]);
    expect(sim.device(a).pendingInv).toBe(1);
    expect(sim.state.domains[d]!.pt).toEqual([]);
    expect(sim.state.mem.pages[0]).toBe(1 + d);
    expect(smmu_attach_would_wait(sim.view(), a)).toBe(true);
    // In the window the ATC and the IOTLB still translate to the page the table no longer holds;
    // the unmap has not returned and the page is not free, so this is not (yet) a stale translation.
    expect(dma(sim, a, iova, true)).toMatchObject({ outcome: 'unmapping', phys: 0 });
    expect(dma(sim, a, iova, false)).toMatchObject({ outcome: 'unmapping', phys: 0 });
    expect(checkInvariants(sim.world, sim.state, sim.events, INVARIANTS).map((v) => v.id)).not.toContain(
      'no-stale-translation',
    );

    const second = sim.step({ op: 'dma-unmap', f: a, iova });
    expect(second).toMatchObject({ ret: 0, waiting: false });
    expect(sim.events).toEqual([
      { kind: 'atc', bdf: A, action: 'drop', pasid: 0, page: 0, phys: 0 },
      { kind: 'smmu-cmd', cmd: 'CMD_SYNC', result: 'ok' },
    ]);
    expect(sim.device(a)).toMatchObject({ atc: [], pendingInv: 0 });
    expect(sim.state.domains[d]!.iotlb).toEqual([]);
    expect(sim.state.mem.pages[0]).toBe(0);
    expect(smmu_attach_would_wait(sim.view(), a)).toBe(false);
    expect(dma(sim, a, iova, true)).toMatchObject({ outcome: 'fault' });
    expect(dma(sim, a, iova, false)).toMatchObject({ outcome: 'fault' });
  });

  it('WARNs on a DMA API unmap of an IOVA that is not mapped', () => {
    const { sim, a } = booted();
    expect(sim.step({ op: 'dma-unmap', f: a, iova: 3 }).ret).toBe(-EINVAL);
    expect(ofKind(sim.events, 'warn')).toEqual([
      { kind: 'warn', site: '__iommu_dma_unmap', bdf: A, message: 'IOVA page 3 is not mapped' },
    ]);
  });

  it('iommu.strict=1 makes a DMA_FQ domain strict', () => {
    const { sim, a } = booted(IOMMU_DOMAIN_DMA_FQ, { cmdline: 'iommu.strict=1' });
    const iova = mappedAndCached(sim, a);
    expect(sim.step({ op: 'dma-unmap', f: a, iova }).waiting).toBe(true);
  });

  it('times out when the function is in reset: nothing reaches it, its entries stay', () => {
    const { sim, a } = booted();
    const iova = mappedAndCached(sim, a);
    sim.run((tx) => {
      tx.mutDevice(a).resetting = true;
    });
    sim.step({ op: 'dma-unmap', f: a, iova });
    expect(sim.device(a).pendingInv).toBe(0);
    const r = sim.step({ op: 'dma-unmap', f: a, iova });
    expect(r.ret).toBe(0);
    expect(sim.events).toEqual([
      { kind: 'atc', bdf: A, action: 'ignored', pasid: 0, page: 0 },
      { kind: 'smmu-cmd', cmd: 'CMD_SYNC', result: 'timeout' },
      { kind: 'info', bdf: A, message: 'ATC invalidate timeout', level: 'err' },
    ]);
    expect(sim.device(a).atc).toEqual([0, 0, 0]);
  });

  it('times out when the function stops answering; the request stays pending there', () => {
    const { sim, a } = booted();
    const iova = mappedAndCached(sim, a);
    sim.step({ op: 'device-fault', f: a, fault: 'stop-answering' });
    sim.step({ op: 'dma-unmap', f: a, iova });
    sim.step({ op: 'dma-unmap', f: a, iova });
    expect(sim.events).toContainEqual({ kind: 'smmu-cmd', cmd: 'CMD_SYNC', result: 'timeout' });
    expect(sim.device(a).pendingInv).toBe(1);
  });

  it('a reset between issue and CMD_SYNC loses the request: timeout', () => {
    const { sim, a } = booted();
    const iova = mappedAndCached(sim, a);
    sim.step({ op: 'dma-unmap', f: a, iova });
    sim.run((tx) => {
      atc_flush_all(tx, a);
    });
    expect(sim.events).toEqual([{ kind: 'atc', bdf: A, action: 'flush', pasid: 0, page: 0 }]);
    expect(sim.device(a)).toMatchObject({ atc: [], pendingInv: 0 });
    sim.step({ op: 'dma-unmap', f: a, iova });
    expect(sim.events).toContainEqual({ kind: 'smmu-cmd', cmd: 'CMD_SYNC', result: 'timeout' });
  });

  it('a completed invalidation always drops the entry, even at a function that holds its ATC across resets', () => {
    const { sim, a } = booted();
    const iova = mappedAndCached(sim, a);
    sim.step({ op: 'device-fault', f: a, fault: 'hold-atc' });
    sim.step({ op: 'dma-unmap', f: a, iova });
    sim.step({ op: 'dma-unmap', f: a, iova });
    expect(sim.events).toEqual([
      { kind: 'atc', bdf: A, action: 'drop', pasid: 0, page: 0, phys: 0 },
      { kind: 'smmu-cmd', cmd: 'CMD_SYNC', result: 'ok' },
    ]);
    expect(sim.device(a).atc).toEqual([]);
  });

  it('without reset hooks (v6.12), an invalidation lost to an FLR leaves a function that keeps its ATC with a stale translation', () => {
    const sim = new Sim(machine({ [A]: { ...EP_ATS, flr: true } }), { preset: 'v6.12', threads: 2 });
    const a = sim.fn(A);
    expect(sim.probe(a)).toBe(0);
    expect(sim.attach(a, IOMMU_DOMAIN_DMA, true)).toBe(0);
    const iova = mappedAndCached(sim, a);
    sim.step({ op: 'device-fault', f: a, fault: 'hold-atc' });
    expect(sim.step({ op: 'dma-unmap', f: a, iova }, 0).waiting).toBe(true);
    expect(sim.step({ op: 'flr', f: a }, 1).waiting).toBe(true);
    sim.step({ op: 'dma-unmap', f: a, iova }, 0);
    expect(sim.events).toContainEqual({ kind: 'smmu-cmd', cmd: 'CMD_SYNC', result: 'timeout' });
    expect(sim.state.mem.pages[0]).toBe(0);
    sim.step({ op: 'flr', f: a }, 1);
    expect(dma(sim, a, iova, true)).toEqual({
      kind: 'dma',
      bdf: A,
      translated: true,
      pasid: 0,
      iova,
      outcome: 'stale',
      phys: 0,
    });
  });
});

describe('lazy unmap (DMA_FQ)', () => {
  it('frees the page at once and defers the invalidation to the flush queue', () => {
    const { sim, a } = booted(IOMMU_DOMAIN_DMA_FQ);
    const iova = mappedAndCached(sim, a);
    const d = sim.domainOf(a);
    const r = sim.step({ op: 'dma-unmap', f: a, iova });
    expect(r).toMatchObject({ ret: 0, waiting: false });
    expect(sim.events).toEqual([]);
    expect(sim.state.domains[d]!.fq).toEqual([0, 0]);
    expect(sim.state.mem.pages[0]).toBe(0);
    // The page is reused by the next mapping (at a new IOVA: the old one waits in the queue)...
    expect(sim.step({ op: 'dma-map', f: a }).ret).toBe(1);
    expect(sim.state.mem.pages[0]).toBe(1 + d);
    // ...and the device still reaches it through the old translation.
    expect(dma(sim, a, iova, true)).toMatchObject({ outcome: 'stale', phys: 0 });
    expect(dma(sim, a, iova, false)).toMatchObject({ outcome: 'stale', phys: 0 });

    sim.step({ op: 'fq-flush' });
    expect(sim.events).toEqual([
      { kind: 'smmu-cmd', cmd: 'CMD_TLBI_NH_ASID' },
      { kind: 'smmu-cmd', cmd: 'CMD_ATC_INV', bdf: A, page: 0, span: 52 },
      { kind: 'atc', bdf: A, action: 'drop', pasid: 0, page: 0, phys: 0 },
      { kind: 'smmu-cmd', cmd: 'CMD_SYNC', result: 'ok' },
    ]);
    expect(sim.state.domains[d]!.fq).toEqual([]);
    expect(sim.state.domains[d]!.iotlb).toEqual([]);
    expect(dma(sim, a, iova, true)).toMatchObject({ outcome: 'fault' });
  });
});

describe('arm-fault', () => {
  it('queues the fault with its skip count; the (skip+1)th call fails', () => {
    const { sim, a } = booted();
    sim.arm('iommu_map', a, -ENOSPC, 1);
    expect(sim.state.faults).toEqual([{ fn: 'iommu_map', f: a, skip: 1, errno: -ENOSPC }]);
    expect(sim.step({ op: 'dma-map', f: a }).ret).toBe(0);
    expect(sim.step({ op: 'dma-map', f: a }).ret).toBe(-ENOSPC);
    expect(sim.state.faults).toEqual([]);
  });
});
