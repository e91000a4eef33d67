import { describe, expect, it } from 'vitest';
import { PRESET_IDS } from '../../../src/kernel/presets.js';
import { pci_ats_init, pci_ats_supported } from '../../../src/pci/ats.js';
import { SimplePciCtx, newPciDev, pci_init_capabilities } from '../../../src/pci/pci-dev.js';
import {
  ATS_FIXUPS,
  ats_quirk_for,
  atsQuirkPass,
  pci_fixup_ats_quirks,
  pci_fixup_device,
  quirk_huawei_pcie_sva_applies,
  quirk_no_ats,
} from '../../../src/pci/quirks.js';
import { ctxOf, infoOf, kernelOf, pfWithVfs, type FnSpec } from './pci-fixture.js';

const ATI = 0x1002;
const INTEL = 0x8086;

/** The IDs read from drivers/pci/quirks.c (NVIDIA/NV-Kernels, 2026). */
const KERNEL_AMD_IDS = [0x98e4, 0x6900, 0x7310, 0x7312, 0x7318, 0x7319, 0x731a, 0x731b, 0x731e, 0x731f];
const KERNEL_NAVI14_IDS = [0x7340, 0x7341, 0x7347, 0x734f];
const KERNEL_E2000_IDS = [0x1451, 0x1452, 0x1453, 0x1454, 0x1455, 0x1457, 0x1459, 0x145a, 0x145c];

function disabled(spec: FnSpec, preset?: string): boolean {
  const ctx = ctxOf(kernelOf(preset), [spec]);
  return ctx.dev(0).atsCap === 0;
}

/** A context whose functions have not been enumerated yet. */
function rawCtx(
  preset: string | undefined,
  overrides: Record<string, 'on' | 'off'>,
  specs: FnSpec[],
): SimplePciCtx {
  return new SimplePciCtx(
    kernelOf(preset, overrides),
    specs.map((s, i) => infoOf(i, s)),
    specs.map(() => newPciDev()),
  );
}

describe('quirk_no_ats', () => {
  it('logs "disabling ATS" and zeroes ats_cap', () => {
    const ctx = ctxOf(kernelOf(), [{}]);
    quirk_no_ats(ctx, 0);
    expect(ctx.dev(0).atsCap).toBe(0);
    expect(ctx.dev(0).noAts).toBe(false);
    expect(ctx.events).toEqual([{ kind: 'info', bdf: ctx.info(0).bdf, message: 'disabling ATS' }]);
  });

  it('sets no_ats under the header-fixup alternative', () => {
    const ctx = rawCtx(undefined, { 'ats-quirk-header-fixup': 'on' }, [{}]);
    quirk_no_ats(ctx, 0);
    expect(ctx.dev(0).noAts).toBe(true);
    pci_ats_init(ctx, 0);
    expect(ctx.dev(0).atsCap).toBe(0);
  });
});

describe.each(PRESET_IDS)('ATS quirks in enumeration under %s', (preset) => {
  it('disable ATS on every AMD/ATI ID of the kernel table, unconditionally', () => {
    for (const device of [...KERNEL_AMD_IDS, ...KERNEL_NAVI14_IDS])
      expect(disabled({ vendor: ATI, device, revision: 0xc5 }, preset), device.toString(16)).toBe(true);
  });

  it('match the ATI vendor only', () => {
    expect(disabled({ vendor: 0x1022, device: 0x7310 }, preset)).toBe(false);
    expect(disabled({ vendor: ATI, device: 0x7311 }, preset)).toBe(false);
  });

  it('disable Raven 0x15d8 only for revision 0xcf with subsystem 0xea50:{ce19,cc10,cc08}', () => {
    const raven = { vendor: ATI, device: 0x15d8, revision: 0xcf, subsystemVendor: 0xea50 };
    for (const sub of [0xce19, 0xcc10, 0xcc08])
      expect(disabled({ ...raven, subsystemDevice: sub }, preset)).toBe(true);
    expect(disabled({ ...raven, subsystemDevice: 0xce18 }, preset)).toBe(false);
    expect(disabled({ ...raven, subsystemDevice: 0xce19, revision: 0xc1 }, preset)).toBe(false);
    expect(disabled({ ...raven, subsystemDevice: 0xce19, subsystemVendor: 0x1043 }, preset)).toBe(false);
  });

  it('disable Intel IPU E2000 before revision C0 (0x20)', () => {
    for (const device of KERNEL_E2000_IDS) {
      expect(disabled({ vendor: INTEL, device, revision: 0x1f }, preset)).toBe(true);
      expect(disabled({ vendor: INTEL, device, revision: 0x20 }, preset)).toBe(false);
    }
    expect(disabled({ vendor: INTEL, device: 0x1456, revision: 0 }, preset)).toBe(false);
    expect(disabled({ vendor: INTEL, device: 0x145b, revision: 0 }, preset)).toBe(false);
  });

  it('apply to a VF by its own device ID', () => {
    const ctx = ctxOf(kernelOf(preset), pfWithVfs(1, {}, { vendor: INTEL, device: 0x1452, revision: 0x10 }));
    expect(ctx.dev(0).atsCap).toBe(0x100);
    expect(ctx.dev(1).atsCap).toBe(0);
  });

  it('still log under pci=noats', () => {
    const ctx = new SimplePciCtx(
      kernelOf(preset, undefined, 'pci=noats'),
      [infoOf(0, { vendor: ATI, device: 0x6900 })],
      [newPciDev()],
    );
    pci_fixup_device(ctx, 'header', 0);
    pci_init_capabilities(ctx, 0);
    pci_fixup_device(ctx, 'final', 0);
    expect(ctx.events.flatMap((e) => (e.kind === 'info' ? [e.message] : []))).toEqual(['disabling ATS']);
    expect(ctx.dev(0).atsCap).toBe(0);
  });
});

describe('the table and the dispatcher', () => {
  it('holds exactly the kernel IDs', () => {
    const ids = (vendor: number): number[] =>
      ATS_FIXUPS.filter((f) => f.vendor === vendor).map((f) => f.device);
    expect(ids(ATI).sort()).toEqual([...KERNEL_AMD_IDS, ...KERNEL_NAVI14_IDS, 0x15d8].sort());
    expect(ids(INTEL).sort()).toEqual([...KERNEL_E2000_IDS].sort());
    expect(ATS_FIXUPS.every((f) => f.vendor === ATI || f.vendor === INTEL)).toBe(true);
  });

  it('reports a match even when the hook declines', () => {
    const ctx = ctxOf(kernelOf(), [{ vendor: INTEL, device: 0x1451, revision: 0x21 }, {}]);
    expect(pci_fixup_ats_quirks(ctx, 0)).toBe(true);
    expect(ctx.dev(0).atsCap).toBe(0x100);
    expect(pci_fixup_ats_quirks(ctx, 1)).toBe(false);
  });

  it('ats_quirk_for names the quirk that disables ATS, or null', () => {
    expect(ats_quirk_for(infoOf(0, { vendor: ATI, device: 0x7340 }))).toBe('quirk_amd_harvest_no_ats');
    expect(ats_quirk_for(infoOf(0, { vendor: INTEL, device: 0x145c, revision: 3 }))).toBe(
      'quirk_intel_e2000_no_ats',
    );
    expect(ats_quirk_for(infoOf(0, { vendor: INTEL, device: 0x145c, revision: 0x30 }))).toBeNull();
    expect(ats_quirk_for(infoOf(0, { vendor: ATI, device: 0x15d8 }))).toBeNull();
    expect(ats_quirk_for(infoOf(0, {}))).toBeNull();
  });
});

describe('fixup pass ordering (ats-quirk-header-fixup)', () => {
  const quirked: FnSpec = { vendor: ATI, device: 0x731f };

  it('runs the quirks in the FINAL pass in every preset, the HEADER pass with the alternative', () => {
    for (const p of PRESET_IDS) expect(atsQuirkPass(kernelOf(p))).toBe('final');
    expect(atsQuirkPass(kernelOf(undefined, { 'ats-quirk-header-fixup': 'on' }))).toBe('header');
  });

  it('FINAL: ats_cap is set (and ATS supported) between pci_ats_init and the final fixup', () => {
    const ctx = rawCtx(undefined, {}, [quirked]);
    pci_fixup_device(ctx, 'header', 0);
    expect(ctx.events).toEqual([]);
    pci_init_capabilities(ctx, 0);
    expect(ctx.dev(0).atsCap).toBe(0x100);
    expect(pci_ats_supported(ctx, 0)).toBe(true); // what an IOMMU probing here would see
    pci_fixup_device(ctx, 'final', 0);
    expect(ctx.dev(0).atsCap).toBe(0);
    expect(pci_ats_supported(ctx, 0)).toBe(false); // ...and what it sees at release
  });

  it('HEADER: no_ats before pci_ats_init, so ats_cap is never set', () => {
    const ctx = rawCtx(undefined, { 'ats-quirk-header-fixup': 'on' }, [quirked]);
    pci_fixup_device(ctx, 'header', 0);
    expect(ctx.dev(0).noAts).toBe(true);
    pci_init_capabilities(ctx, 0);
    expect(ctx.dev(0).atsCap).toBe(0);
    expect(pci_ats_supported(ctx, 0)).toBe(false);
    pci_fixup_device(ctx, 'final', 0);
    expect(ctx.events.filter((e) => e.kind === 'info')).toHaveLength(1);
  });

  it('gives a cold-boot device the same end state either way', () => {
    for (const p of PRESET_IDS) {
      const a = ctxOf(kernelOf(p), [quirked, {}]);
      const b = ctxOf(kernelOf(p, { 'ats-quirk-header-fixup': 'on' }), [quirked, {}]);
      expect([a.dev(0).atsCap, a.dev(1).atsCap]).toEqual([b.dev(0).atsCap, b.dev(1).atsCap]);
      expect([0, 1].map((i) => pci_ats_supported(a, i))).toEqual([0, 1].map((i) => pci_ats_supported(b, i)));
    }
  });
});

describe('quirk_huawei_pcie_sva', () => {
  it('applies to the Kunpeng920 IDs at revision 0x21 or 0x30 only', () => {
    for (const d of [0xa250, 0xa251, 0xa255, 0xa256, 0xa258, 0xa259]) {
      expect(quirk_huawei_pcie_sva_applies(0x19e5, d, 0x21)).toBe(true);
      expect(quirk_huawei_pcie_sva_applies(0x19e5, d, 0x30)).toBe(true);
      expect(quirk_huawei_pcie_sva_applies(0x19e5, d, 0x20)).toBe(false);
    }
    expect(quirk_huawei_pcie_sva_applies(0x19e5, 0xa252, 0x21)).toBe(false);
    expect(quirk_huawei_pcie_sva_applies(0x8086, 0xa250, 0x21)).toBe(false);
  });
});
