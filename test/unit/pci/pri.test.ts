import { describe, expect, it } from 'vitest';
import { EBUSY, EINVAL } from '../../../src/kernel/errno.js';
import { PRESET_IDS } from '../../../src/kernel/presets.js';
import { PCI_PRI_CTRL_ENABLE, PCI_PRI_CTRL_RESET } from '../../../src/pci/caps/pri.js';
import type { SimplePciCtx } from '../../../src/pci/pci-dev.js';
import {
  pci_disable_pri,
  pci_enable_pri,
  pci_prg_resp_pasid_required,
  pci_pri_supported,
  pci_reset_pri,
  pci_restore_pri_state,
} from '../../../src/pci/pri.js';
import { ctxOf, kernelOf, pfWithVfs } from './pci-fixture.js';

const PRI = { priCapOffset: 0x200, priMaxReqs: 0x100 } as const;

function writes(ctx: SimplePciCtx): [string, number, number][] {
  return ctx.events.flatMap((e) => (e.kind === 'config-write' ? [[e.register, e.offset, e.value]] : []));
}
function warnSites(ctx: SimplePciCtx): string[] {
  return ctx.events.flatMap((e) => (e.kind === 'warn' ? [e.site] : []));
}

// No kernel switch touches PRI yet: every preset behaves the same.
describe.each(PRESET_IDS)('PRI under %s', (preset) => {
  const kernel = kernelOf(preset);

  it('pci_pri_init caches the capability and the PRG Response PASID Required bit', () => {
    const ctx = ctxOf(kernel, [{ ...PRI, priStatusPasidRequired: true }, PRI, {}]);
    expect(ctx.dev(0)).toMatchObject({ priCap: 0x200, pasidRequired: true });
    expect(ctx.dev(1)).toMatchObject({ priCap: 0x200, pasidRequired: false });
    expect(ctx.dev(2).priCap).toBe(0);
  });

  it('pci_enable_pri allocates min(capacity, reqs), then sets Enable', () => {
    const ctx = ctxOf(kernel, [PRI, PRI]);
    expect(pci_enable_pri(ctx, 0, 32)).toBe(0);
    expect(pci_enable_pri(ctx, 1, 0x1000)).toBe(0);
    expect(writes(ctx)).toEqual([
      ['PCI_PRI_ALLOC_REQ', 0x20c, 32],
      ['PCI_PRI_CTRL', 0x204, PCI_PRI_CTRL_ENABLE],
      ['PCI_PRI_ALLOC_REQ', 0x20c, 0x100],
      ['PCI_PRI_CTRL', 0x204, PCI_PRI_CTRL_ENABLE],
    ]);
    expect(ctx.dev(0)).toMatchObject({ priEnabled: true, priReqsAlloc: 32, priStopped: false });
    expect(ctx.dev(1).priReqsAlloc).toBe(0x100);
  });

  it('pci_enable_pri treats reqs as u32', () => {
    const ctx = ctxOf(kernel, [PRI]);
    expect(pci_enable_pri(ctx, 0, -1)).toBe(0); // 0xffffffff as u32: the capacity wins
    expect(ctx.dev(0).priReqsAlloc).toBe(0x100);
  });

  it('pci_enable_pri: WARN + -EBUSY when enabled, -EINVAL without a cap, -EBUSY unless Stopped', () => {
    const ctx = ctxOf(kernel, [PRI, {}, { ...PRI, dev: { priStopped: false } }]);
    pci_enable_pri(ctx, 0, 8);
    ctx.takeEvents();
    expect(pci_enable_pri(ctx, 0, 8)).toBe(-EBUSY);
    expect(warnSites(ctx)).toEqual(['pci_enable_pri']);
    expect(pci_enable_pri(ctx, 1, 8)).toBe(-EINVAL);
    expect(pci_enable_pri(ctx, 2, 8)).toBe(-EBUSY);
    expect(warnSites(ctx)).toEqual(['pci_enable_pri']);
    expect(writes(ctx)).toEqual([]);
    expect(ctx.dev(2).priEnabled).toBe(false);
  });

  it('a VF shares its PF PRI: enable answers from the PF, disable/restore/reset do nothing', () => {
    const ctx = ctxOf(kernel, pfWithVfs(1, PRI));
    expect(pci_enable_pri(ctx, 1, 8)).toBe(-EINVAL);
    expect(pci_enable_pri(ctx, 0, 8)).toBe(0);
    ctx.takeEvents();
    expect(pci_enable_pri(ctx, 1, 8)).toBe(0);
    pci_disable_pri(ctx, 1);
    pci_restore_pri_state(ctx, 1);
    expect(pci_reset_pri(ctx, 1)).toBe(0);
    expect(writes(ctx)).toEqual([]);
    expect(warnSites(ctx)).toEqual([]);
    expect(ctx.dev(1).priEnabled).toBe(false);
  });

  it('pci_disable_pri clears Enable by read-modify-write; WARNs when off', () => {
    const ctx = ctxOf(kernel, [PRI]);
    pci_disable_pri(ctx, 0);
    expect(warnSites(ctx)).toEqual(['pci_disable_pri']);
    pci_enable_pri(ctx, 0, 8);
    ctx.mut(0).priCtrl |= 0x0004; // a bit the device holds
    ctx.takeEvents();
    pci_disable_pri(ctx, 0);
    expect(writes(ctx)).toEqual([['PCI_PRI_CTRL', 0x204, 0x0004]]);
    expect(ctx.dev(0)).toMatchObject({ priEnabled: false, priStopped: true });
  });

  it('pci_restore_pri_state rewrites the allocation and Enable only when enabled', () => {
    const ctx = ctxOf(kernel, [PRI]);
    pci_restore_pri_state(ctx, 0);
    expect(writes(ctx)).toEqual([]);
    pci_enable_pri(ctx, 0, 40);
    ctx.mut(0).priCtrl = 0;
    ctx.mut(0).priAllocReq = 0;
    ctx.takeEvents();
    pci_restore_pri_state(ctx, 0);
    expect(writes(ctx)).toEqual([
      ['PCI_PRI_ALLOC_REQ', 0x20c, 40],
      ['PCI_PRI_CTRL', 0x204, PCI_PRI_CTRL_ENABLE],
    ]);
  });

  it('pci_reset_pri: WARN + -EBUSY while enabled, -EINVAL without a cap, else writes Reset', () => {
    const ctx = ctxOf(kernel, [PRI, {}]);
    expect(pci_reset_pri(ctx, 1)).toBe(-EINVAL);
    expect(pci_reset_pri(ctx, 0)).toBe(0);
    expect(writes(ctx)).toEqual([['PCI_PRI_CTRL', 0x204, PCI_PRI_CTRL_RESET]]);
    pci_enable_pri(ctx, 0, 1);
    ctx.takeEvents();
    expect(pci_reset_pri(ctx, 0)).toBe(-EBUSY);
    expect(warnSites(ctx)).toEqual(['pci_reset_pri']);
    expect(writes(ctx)).toEqual([]);
  });

  it('pci_prg_resp_pasid_required and pci_pri_supported answer from the PF for a VF', () => {
    const ctx = ctxOf(kernel, [
      ...pfWithVfs(1, { ...PRI, priStatusPasidRequired: true }),
      {},
      { isVirtfn: true, physfn: 2 },
    ]);
    expect([0, 1, 2, 3].map((i) => pci_prg_resp_pasid_required(ctx, i))).toEqual([1, 1, 0, 0]);
    expect([0, 1, 2, 3].map((i) => pci_pri_supported(ctx, i))).toEqual([true, true, false, false]);
  });
});
