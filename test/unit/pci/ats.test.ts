import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EBUSY, EINVAL } from '../../../src/kernel/errno.js';
import type { KernelEvent } from '../../../src/kernel/events.js';
import { PRESET_IDS } from '../../../src/kernel/presets.js';
import {
  pci_ats_disabled,
  pci_ats_init,
  pci_ats_page_aligned,
  pci_ats_queue_depth,
  pci_ats_required,
  pci_ats_required_reason,
  pci_ats_supported,
  pci_cxl_ats_required,
  pci_dev_specific_ats_required,
  pci_disable_ats,
  pci_enable_ats,
  pci_physfn,
  pci_prepare_ats,
  pci_restore_ats_state,
} from '../../../src/pci/ats.js';
import { PCI_ATS_CAP_PAGE_ALIGNED, PCI_ATS_CTRL_ENABLE } from '../../../src/pci/caps/ats.js';
import type { SimplePciCtx } from '../../../src/pci/pci-dev.js';
import { quirk_no_ats } from '../../../src/pci/quirks.js';
import { ctxOf, kernelOf, pfWithVfs, type FnSpec } from './pci-fixture.js';

const AMD_NAVI10 = { vendor: 0x1002, device: 0x7310 }; // quirk_amd_harvest_no_ats, unconditional

function writes(ctx: SimplePciCtx): KernelEvent[] {
  return ctx.events.filter((e) => e.kind === 'config-write');
}
function warns(ctx: SimplePciCtx): KernelEvent[] {
  return ctx.events.filter((e) => e.kind === 'warn');
}

describe('pci_ats_init and pci_ats_disabled', () => {
  it('caches the hardware ATS capability offset', () => {
    const ctx = ctxOf(kernelOf(), [{ atsCapOffset: 0x140 }, { atsCapOffset: 0 }]);
    expect(ctx.dev(0).atsCap).toBe(0x140);
    expect(ctx.dev(1).atsCap).toBe(0);
    expect(pci_ats_disabled(ctx)).toBe(false);
  });

  it('leaves ats_cap 0 under pci=noats', () => {
    const ctx = ctxOf(kernelOf(undefined, undefined, 'quiet pci=realloc,noats'), [{ atsCapOffset: 0x140 }]);
    expect(pci_ats_disabled(ctx)).toBe(true);
    expect(ctx.dev(0).atsCap).toBe(0);
    expect(pci_ats_supported(ctx, 0)).toBe(false);
    pci_ats_init(ctx, 0); // running it again changes nothing
    expect(ctx.dev(0).atsCap).toBe(0);
  });
});

describe.each(PRESET_IDS)('pci_ats_supported under %s', (preset) => {
  const kernel = kernelOf(preset);
  const pfAware = kernel.switches['ats-supported-pf-aware'];

  it('is true for a trusted function with ATS, false untrusted or without ATS', () => {
    const ctx = ctxOf(kernel, [{}, { untrusted: true }, { atsCapOffset: 0 }]);
    expect([0, 1, 2].map((i) => pci_ats_supported(ctx, i))).toEqual([true, false, false]);
  });

  it('answers for a VF of a quirked PF exactly as the PF-aware switch says', () => {
    const ctx = ctxOf(kernel, pfWithVfs(1, AMD_NAVI10));
    expect(ctx.dev(0).atsCap).toBe(0); // the FINAL quirk zeroed the PF
    expect(ctx.dev(1).atsCap).toBe(0x100); // the VF's own capability is intact
    expect(pci_ats_supported(ctx, 0)).toBe(false);
    expect(pci_ats_supported(ctx, 1)).toBe(!pfAware);
  });

  it('answers for a VF of an untrusted PF exactly as the PF-aware switch says', () => {
    const ctx = ctxOf(kernel, pfWithVfs(2, { untrusted: true }));
    expect(pci_ats_supported(ctx, 1)).toBe(!pfAware);
    expect(pci_ats_supported(ctx, 2)).toBe(!pfAware);
  });

  it('is false for an untrusted VF or a VF without ATS, whatever the PF', () => {
    const ctx = ctxOf(kernel, [
      {},
      { isVirtfn: true, physfn: 0, untrusted: true },
      { isVirtfn: true, physfn: 0, atsCapOffset: 0 },
    ]);
    expect(pci_ats_supported(ctx, 1)).toBe(false);
    expect(pci_ats_supported(ctx, 2)).toBe(false);
  });
});

describe('pci_ats_supported: the v7.2/v7.3 difference', () => {
  it('a VF of a quirked PF is supported under v7.2 and not under v7.3', () => {
    expect(pci_ats_supported(ctxOf(kernelOf('v7.2'), pfWithVfs(1, AMD_NAVI10)), 1)).toBe(true);
    expect(pci_ats_supported(ctxOf(kernelOf('v7.3'), pfWithVfs(1, AMD_NAVI10)), 1)).toBe(false);
  });

  it('an override turns the PF-aware check off on v7.3', () => {
    const ctx = ctxOf(kernelOf('v7.3', { 'ats-supported-pf-aware': 'off' }), pfWithVfs(1, AMD_NAVI10));
    expect(pci_ats_supported(ctx, 1)).toBe(true);
  });
});

describe.each(PRESET_IDS)('pci_prepare_ats under %s', (preset) => {
  const kernel = kernelOf(preset);
  const vfStuCheck = kernel.switches['prepare-ats-vf-stu-check'];

  it('programs a PF STU without ENABLE and returns 0', () => {
    const ctx = ctxOf(kernel, [{ atsCapOffset: 0x140 }]);
    expect(pci_prepare_ats(ctx, 0, 16)).toBe(0);
    expect(ctx.dev(0).atsStu).toBe(16);
    expect(ctx.dev(0).atsCtrl).toBe(0x0004);
    expect(ctx.dev(0).atsEnabled).toBe(false);
    expect(writes(ctx)).toEqual([
      {
        kind: 'config-write',
        bdf: ctx.info(0).bdf,
        offset: 0x146,
        width: 2,
        value: 0x0004,
        register: 'PCI_ATS_CTRL',
      },
    ]);
    expect(ctx.events.at(-1)).toEqual({
      kind: 'return',
      fn: 'pci_prepare_ats',
      bdf: ctx.info(0).bdf,
      value: 0,
    });
  });

  it('programs the 4 KiB STU as field value 0', () => {
    const ctx = ctxOf(kernel, [{}]);
    expect(pci_prepare_ats(ctx, 0, 12)).toBe(0);
    expect(ctx.dev(0).atsCtrl).toBe(0);
    expect(writes(ctx)).toHaveLength(1);
  });

  it('returns -EINVAL without writing for an unsupported function or a page shift below 12', () => {
    const ctx = ctxOf(kernel, [{ untrusted: true }, { atsCapOffset: 0 }, {}]);
    expect(pci_prepare_ats(ctx, 0, 12)).toBe(-EINVAL);
    expect(pci_prepare_ats(ctx, 1, 12)).toBe(-EINVAL);
    expect(pci_prepare_ats(ctx, 2, 11)).toBe(-EINVAL);
    expect(ctx.dev(2).atsStu).toBe(0);
    expect(writes(ctx)).toEqual([]);
    expect(warns(ctx)).toEqual([]);
  });

  it('WARNs and returns -EBUSY when ATS is enabled, before checking the page shift', () => {
    const ctx = ctxOf(kernel, [{}]);
    expect(pci_enable_ats(ctx, 0, 12)).toBe(0);
    ctx.takeEvents();
    expect(pci_prepare_ats(ctx, 0, 11)).toBe(-EBUSY);
    expect(warns(ctx)).toEqual([
      { kind: 'warn', site: 'pci_prepare_ats', bdf: ctx.info(0).bdf, message: 'ATS already enabled' },
    ]);
    expect(writes(ctx)).toEqual([]);
  });

  it('never writes a VF; checks its PF STU only with the switch', () => {
    const ctx = ctxOf(kernel, pfWithVfs(1));
    expect(pci_prepare_ats(ctx, 0, 12)).toBe(0);
    ctx.takeEvents();
    expect(pci_prepare_ats(ctx, 1, 12)).toBe(0);
    expect(pci_prepare_ats(ctx, 1, 16)).toBe(vfStuCheck ? -EINVAL : 0);
    expect(writes(ctx)).toEqual([]);
    expect(ctx.dev(1).atsStu).toBe(0);
    expect(ctx.dev(1).atsCtrl).toBe(0);
  });

  it('rejects a VF whose PF was never prepared only with the switch', () => {
    const ctx = ctxOf(kernel, pfWithVfs(1));
    expect(pci_prepare_ats(ctx, 1, 12)).toBe(vfStuCheck ? -EINVAL : 0);
  });
});

describe('pci_prepare_ats: the v7.2/v7.3 difference', () => {
  it('a VF with PF STU 12 and ps 16 gets 0 under v7.2 and -EINVAL under v7.3', () => {
    for (const [preset, expected] of [
      ['v7.2', 0],
      ['v7.3', -EINVAL],
    ] as const) {
      const ctx = ctxOf(kernelOf(preset), pfWithVfs(1));
      expect(pci_prepare_ats(ctx, 0, 12)).toBe(0);
      expect(pci_prepare_ats(ctx, 1, 16)).toBe(expected);
    }
  });
});

describe.each(PRESET_IDS)('pci_enable_ats under %s', (preset) => {
  const kernel = kernelOf(preset);

  it('on a PF writes ENABLE with the STU and records the page shift', () => {
    const ctx = ctxOf(kernel, [{}]);
    expect(pci_enable_ats(ctx, 0, 21)).toBe(0);
    expect(ctx.dev(0)).toMatchObject({ atsEnabled: true, atsStu: 21, atsCtrl: 0x8009 });
    expect(writes(ctx).map((e) => (e.kind === 'config-write' ? e.value : -1))).toEqual([0x8009]);
  });

  it('WARNs and returns -EBUSY when already enabled, writing nothing', () => {
    const ctx = ctxOf(kernel, [{}]);
    pci_enable_ats(ctx, 0, 12);
    ctx.takeEvents();
    expect(pci_enable_ats(ctx, 0, 12)).toBe(-EBUSY);
    expect(warns(ctx)).toHaveLength(1);
    expect(warns(ctx)[0]).toMatchObject({ site: 'pci_enable_ats' });
    expect(writes(ctx)).toEqual([]);
    expect(ctx.dev(0).atsEnabled).toBe(true);
  });

  it('returns -EINVAL for unsupported functions and page shifts below 12', () => {
    const ctx = ctxOf(kernel, [{ untrusted: true }, {}]);
    expect(pci_enable_ats(ctx, 0, 12)).toBe(-EINVAL);
    expect(pci_enable_ats(ctx, 1, 11)).toBe(-EINVAL);
    expect(ctx.dev(1).atsEnabled).toBe(false);
    expect(writes(ctx)).toEqual([]);
  });

  it('on a VF needs the PF STU, then writes ENABLE alone', () => {
    const ctx = ctxOf(kernel, pfWithVfs(1));
    expect(pci_enable_ats(ctx, 1, 12)).toBe(-EINVAL); // PF STU never set
    expect(pci_prepare_ats(ctx, 0, 16)).toBe(0);
    expect(pci_enable_ats(ctx, 1, 12)).toBe(-EINVAL); // mismatch
    ctx.takeEvents();
    expect(pci_enable_ats(ctx, 1, 16)).toBe(0);
    expect(writes(ctx)).toEqual([
      {
        kind: 'config-write',
        bdf: ctx.info(1).bdf,
        offset: 0x106,
        width: 2,
        value: PCI_ATS_CTRL_ENABLE,
        register: 'PCI_ATS_CTRL',
      },
    ]);
    expect(ctx.dev(1)).toMatchObject({ atsEnabled: true, atsStu: 0 });
    expect(ctx.dev(0).atsEnabled).toBe(false); // the PF itself stays off (IDENTITY PF, 2665d975db35)
  });

  it('on a VF whose PF was quirked after its STU was set, enables only without the PF-aware check', () => {
    const ctx = ctxOf(kernel, pfWithVfs(1));
    expect(pci_prepare_ats(ctx, 0, 12)).toBe(0);
    quirk_no_ats(ctx, 0); // a FINAL fixup running after the IOMMU probed the PF
    expect(pci_enable_ats(ctx, 1, 12)).toBe(kernel.switches['ats-supported-pf-aware'] ? -EINVAL : 0);
  });
});

describe.each(PRESET_IDS)('pci_disable_ats and pci_restore_ats_state under %s', (preset) => {
  const kernel = kernelOf(preset);

  it('WARNs and does nothing when ATS is off', () => {
    const ctx = ctxOf(kernel, [{}]);
    pci_disable_ats(ctx, 0);
    expect(warns(ctx)).toEqual([
      { kind: 'warn', site: 'pci_disable_ats', bdf: ctx.info(0).bdf, message: 'ATS not enabled' },
    ]);
    expect(writes(ctx)).toEqual([]);
  });

  it('clears ENABLE by read-modify-write, keeping the STU', () => {
    const ctx = ctxOf(kernel, [{}]);
    pci_enable_ats(ctx, 0, 16);
    ctx.takeEvents();
    pci_disable_ats(ctx, 0);
    expect(ctx.dev(0)).toMatchObject({ atsEnabled: false, atsCtrl: 0x0004, atsStu: 16 });
    expect(writes(ctx).map((e) => (e.kind === 'config-write' ? e.value : -1))).toEqual([0x0004]);
    expect(warns(ctx)).toEqual([]);
  });

  it('writes back whatever other bits the register holds', () => {
    const ctx = ctxOf(kernel, [{}]);
    pci_enable_ats(ctx, 0, 12);
    ctx.mut(0).atsCtrl = 0x8000 | 0x0060 | 0x0003; // reserved bits as the device holds them
    ctx.takeEvents();
    pci_disable_ats(ctx, 0);
    expect(writes(ctx).map((e) => (e.kind === 'config-write' ? e.value : -1))).toEqual([0x0063]);
  });

  it('writes PCI_STATUS (offset 6) when ats_cap was zeroed under an enabled function', () => {
    const ctx = ctxOf(kernel, [{}]);
    pci_enable_ats(ctx, 0, 12);
    quirk_no_ats(ctx, 0);
    ctx.takeEvents();
    pci_disable_ats(ctx, 0);
    expect(writes(ctx)).toEqual([
      {
        kind: 'config-write',
        bdf: ctx.info(0).bdf,
        offset: 0x06,
        width: 2,
        value: 0,
        register: 'PCI_STATUS',
      },
    ]);
    expect(ctx.dev(0).atsEnabled).toBe(false);
    expect(ctx.dev(0).atsCtrl & PCI_ATS_CTRL_ENABLE).toBe(PCI_ATS_CTRL_ENABLE); // the device still translates
  });

  it('restores ENABLE and a PF STU after a reset, ENABLE alone on a VF, nothing when off', () => {
    const ctx = ctxOf(kernel, pfWithVfs(2));
    pci_prepare_ats(ctx, 0, 14);
    pci_enable_ats(ctx, 0, 14);
    pci_enable_ats(ctx, 1, 14);
    for (const i of [0, 1, 2]) ctx.mut(i).atsCtrl = 0; // a reset cleared the registers
    ctx.takeEvents();
    for (const i of [0, 1, 2]) pci_restore_ats_state(ctx, i);
    expect(writes(ctx).map((e) => (e.kind === 'config-write' ? [e.bdf, e.value] : []))).toEqual([
      [ctx.info(0).bdf, 0x8002],
      [ctx.info(1).bdf, 0x8000],
    ]);
    expect(ctx.dev(2).atsCtrl).toBe(0);
  });
});

describe('pci_ats_queue_depth and pci_ats_page_aligned', () => {
  it('queue depth: field 0 means 32, other values as is, VF 0, no ats_cap -EINVAL', () => {
    const ctx = ctxOf(kernelOf(), [
      { atsCapReg: 0 },
      { atsCapReg: 5 | PCI_ATS_CAP_PAGE_ALIGNED },
      { atsCapReg: 0x1f },
      { isVirtfn: true, physfn: 0, atsCapReg: 8 },
      { atsCapOffset: 0 },
    ]);
    expect([0, 1, 2, 3, 4].map((i) => pci_ats_queue_depth(ctx, i))).toEqual([32, 5, 31, 0, -EINVAL]);
  });

  it('queue depth is -EINVAL under pci=noats', () => {
    const ctx = ctxOf(kernelOf(undefined, undefined, 'pci=noats'), [{ atsCapReg: 4 }]);
    expect(pci_ats_queue_depth(ctx, 0)).toBe(-EINVAL);
  });

  it('page aligned: 1 with the bit, 0 without it or without ats_cap', () => {
    const ctx = ctxOf(kernelOf(), [
      { atsCapReg: PCI_ATS_CAP_PAGE_ALIGNED },
      { atsCapReg: 0x1f },
      { atsCapOffset: 0, atsCapReg: PCI_ATS_CAP_PAGE_ALIGNED },
      { isVirtfn: true, physfn: 1, atsCapReg: PCI_ATS_CAP_PAGE_ALIGNED },
    ]);
    expect([0, 1, 2, 3].map((i) => pci_ats_page_aligned(ctx, i))).toEqual([1, 0, 0, 1]);
  });
});

describe.each(PRESET_IDS)('pci_ats_required under %s', (preset) => {
  const kernel = kernelOf(preset);
  const exists = kernel.switches['ats-required'];

  it('a CXL.cache-capable function is required exactly when the function exists', () => {
    const ctx = ctxOf(kernel, [{ cxlCacheCapable: true }, {}]);
    expect(pci_cxl_ats_required(ctx, 0)).toBe(true);
    expect(pci_ats_required(ctx, 0)).toBe(exists);
    expect(pci_ats_required_reason(ctx, 0)).toBe(exists ? 'cxl-cache' : null);
    expect(pci_ats_required(ctx, 1)).toBe(false);
  });

  it('a pre-CXL quirked NVIDIA function is required for the quirk reason', () => {
    const ctx = ctxOf(kernel, [
      { vendor: 0x10de, device: 0x2e12 },
      { vendor: 0x10de, device: 0x2e13 },
    ]);
    expect(pci_dev_specific_ats_required(ctx, 0)).toBe(true);
    expect(pci_dev_specific_ats_required(ctx, 1)).toBe(false);
    expect(pci_ats_required_reason(ctx, 0)).toBe(exists ? 'quirk' : null);
    expect(pci_ats_required(ctx, 1)).toBe(false);
  });

  it('CXL wins when both reasons apply', () => {
    const ctx = ctxOf(kernel, [{ vendor: 0x10de, device: 0x2e2b, cxlCacheCapable: true }]);
    expect(pci_ats_required_reason(ctx, 0)).toBe(exists ? 'cxl-cache' : null);
  });

  it('untrusted, quirked-off, and pci=noats functions are never required', () => {
    const ctx = ctxOf(kernel, [
      { cxlCacheCapable: true, untrusted: true },
      { ...AMD_NAVI10, cxlCacheCapable: true },
    ]);
    expect(pci_ats_required(ctx, 0)).toBe(false);
    expect(pci_ats_required(ctx, 1)).toBe(false);
    const noats = ctxOf(kernelOf(preset, undefined, 'pci=noats'), [{ cxlCacheCapable: true }]);
    expect(pci_ats_required(noats, 0)).toBe(false);
  });

  it('a VF inherits its PF requirement, unless the VF is untrusted', () => {
    const ctx = ctxOf(kernel, [
      ...pfWithVfs(1, { cxlCacheCapable: true }),
      { isVirtfn: true, physfn: 0, untrusted: true },
    ]);
    expect(pci_physfn(ctx, 1)).toBe(0);
    expect(pci_cxl_ats_required(ctx, 1)).toBe(false);
    expect(pci_ats_required(ctx, 1)).toBe(exists);
    expect(pci_ats_required(ctx, 2)).toBe(false);
  });

  it('a VF of a quirked CXL PF is required only while VF support ignores the PF', () => {
    const ctx = ctxOf(kernel, pfWithVfs(1, { ...AMD_NAVI10, cxlCacheCapable: true }));
    expect(pci_ats_required(ctx, 1)).toBe(exists && !kernel.switches['ats-supported-pf-aware']);
  });
});

describe('pci_ats_required: the v7.0/v7.2 difference', () => {
  it('is false for a CXL.cache function under v7.0 and true under v7.2', () => {
    expect(pci_ats_required(ctxOf(kernelOf('v7.0'), [{ cxlCacheCapable: true }]), 0)).toBe(false);
    expect(pci_ats_required(ctxOf(kernelOf('v7.2'), [{ cxlCacheCapable: true }]), 0)).toBe(true);
  });
});

// ---- property tests ---------------------------------------------------------------------------

interface Topo {
  readonly specs: FnSpec[];
}

/** 1-3 PFs, each with 0-3 VFs; any function may be untrusted or lack ATS. */
const topoArb: fc.Arbitrary<Topo> = fc
  .array(
    fc.record({
      vfs: fc.integer({ min: 0, max: 3 }),
      untrusted: fc.boolean(),
      noCap: fc.boolean(),
      vfUntrusted: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    }),
    { minLength: 1, maxLength: 3 },
  )
  .map((pfs) => {
    const specs: FnSpec[] = [];
    for (const pf of pfs) {
      const pfIndex = specs.length;
      specs.push({ untrusted: pf.untrusted, atsCapOffset: pf.noCap ? 0 : 0x100 });
      for (let k = 0; k < pf.vfs; k++)
        specs.push({
          isVirtfn: true,
          physfn: pfIndex,
          untrusted: pf.vfUntrusted[k] === true,
          device: 0x101e,
        });
    }
    return { specs };
  });

type Op =
  | { readonly op: 'enable'; readonly i: number; readonly ps: number }
  | { readonly op: 'prepare'; readonly i: number; readonly ps: number }
  | { readonly op: 'disable'; readonly i: number }
  | { readonly op: 'restore'; readonly i: number };

const psArb = fc.constantFrom(10, 11, 12, 13, 16, 21, 30);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('enable' as const), i: fc.nat(20), ps: psArb }),
  fc.record({ op: fc.constant('prepare' as const), i: fc.nat(20), ps: psArb }),
  fc.record({ op: fc.constant('disable' as const), i: fc.nat(20) }),
  fc.record({ op: fc.constant('restore' as const), i: fc.nat(20) }),
);

describe('ATS state machine properties', () => {
  it('ENABLE bit tracks ats_enabled, WARNs exactly on precondition violations, VFs never write STU', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...PRESET_IDS),
        topoArb,
        fc.array(opArb, { maxLength: 40 }),
        (preset, topo, ops) => {
          const ctx = ctxOf(kernelOf(preset), topo.specs);
          const n = topo.specs.length;
          for (const raw of ops) {
            const i = raw.i % n;
            const before = ctx.dev(i).atsEnabled;
            const vfStu = ctx.devs.map((d, k) => (ctx.info(k).isVirtfn ? d.atsCtrl & 0x1f : -1));
            ctx.takeEvents();
            let ret = 0;
            switch (raw.op) {
              case 'enable':
                ret = pci_enable_ats(ctx, i, raw.ps);
                break;
              case 'prepare':
                ret = pci_prepare_ats(ctx, i, raw.ps);
                break;
              case 'disable':
                pci_disable_ats(ctx, i);
                break;
              case 'restore':
                pci_restore_ats_state(ctx, i);
                break;
            }
            const w = warns(ctx);
            const violated =
              raw.op === 'enable' || raw.op === 'prepare' ? before : raw.op === 'disable' ? !before : false;
            expect(w.length).toBe(violated ? 1 : 0);
            if (raw.op === 'enable' || raw.op === 'prepare') expect(ret === -EBUSY).toBe(violated);
            for (let k = 0; k < n; k++) {
              const d = ctx.dev(k);
              expect(d.atsEnabled).toBe((d.atsCtrl & PCI_ATS_CTRL_ENABLE) !== 0);
              if (ctx.info(k).isVirtfn) expect(d.atsCtrl & 0x1f).toBe(vfStu[k]);
              // an enabled PF's register holds the STU it recorded
              if (!ctx.info(k).isVirtfn && d.atsEnabled) expect(d.atsCtrl & 0x1f).toBe(d.atsStu - 12);
            }
            for (const e of writes(ctx))
              if (e.kind === 'config-write' && ctx.info(ctx.indexOf(e.bdf)).isVirtfn)
                expect(e.value & 0x1f).toBe(0);
            // an enabled VF's PF STU matched the page shift it asked for
            if (raw.op === 'enable' && ret === 0 && ctx.info(i).isVirtfn)
              expect(ctx.dev(pci_physfn(ctx, i)).atsStu).toBe(raw.ps);
            // untrusted functions never get ATS
            if (ctx.info(i).untrusted) expect(ctx.dev(i).atsEnabled).toBe(false);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
