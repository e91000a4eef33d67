/**
 * The PCI fixups that disable ATS (drivers/pci/quirks.c, CONFIG_PCI_ATS part), written anew over a
 * PciCtx, and the fixup-pass dispatcher that runs them.
 *
 * In the merged kernel these are FINAL fixups (pci_bus_add_device(), after pci_ats_init() and
 * after device_add() has told the IOMMU about the device) that zero `ats_cap`. David Matlack's
 * unmerged v3 ("PCI: Ensure ATS disabled via quirk before notifying IOMMU drivers", switch
 * `ats-quirk-header-fixup`) makes them HEADER fixups (pci_setup_device(), before pci_ats_init())
 * that set `no_ats`, so pci_ats_init() never sets `ats_cap`. For a device enumerated before the
 * IOMMU probes it the end state is the same; for hot-plugged devices and VFs, only the second
 * keeps pci_ats_supported() stable between IOMMU probe and release.
 */
import type { KernelConfig } from '../kernel/config.js';
import type { PciCtx, PciDevInfo } from './pci-dev.js';

export const PCI_VENDOR_ID_ATI = 0x1002;
export const PCI_VENDOR_ID_INTEL = 0x8086;
export const PCI_VENDOR_ID_HUAWEI = 0x19e5;

/** The fixup passes the model distinguishes (quirks.c enum pci_fixup_pass, subset). */
export type FixupPass = 'header' | 'final';

/**
 * quirks.c quirk_no_ats(): logs "disabling ATS" and zeroes ats_cap. With
 * `ats-quirk-header-fixup` it sets no_ats instead (ats_cap is still 0 at HEADER time, and
 * pci_ats_init() will leave it so).
 */
export function quirk_no_ats(ctx: PciCtx, i: number): void {
  ctx.emit({ kind: 'info', bdf: ctx.info(i).bdf, message: 'disabling ATS' });
  const d = ctx.mut(i);
  if (ctx.kernel.switches['ats-quirk-header-fixup']) d.noAts = true;
  d.atsCap = 0;
}

/** The Raven (0x15d8) condition of quirk_amd_harvest_no_ats(): revision 0xcf, subsystem 0xea50:{ce19,cc10,cc08}. */
function amdHarvestApplies(info: PciDevInfo): boolean {
  if (info.device !== 0x15d8) return true;
  return (
    info.revision === 0xcf &&
    info.subsystemVendor === 0xea50 &&
    (info.subsystemDevice === 0xce19 || info.subsystemDevice === 0xcc10 || info.subsystemDevice === 0xcc08)
  );
}

/**
 * quirks.c quirk_amd_harvest_no_ats(): AMD GPUs that need driver setup before ATS can be used.
 * Raven (0x15d8) only for the listed revision/subsystems; every other listed ID always.
 */
export function quirk_amd_harvest_no_ats(ctx: PciCtx, i: number): void {
  if (amdHarvestApplies(ctx.info(i))) quirk_no_ats(ctx, i);
}

/** E2000 revisions before C0 (0x20) get the ATS Invalidate Request byte order wrong. */
function intelE2000Applies(info: PciDevInfo): boolean {
  return info.revision < 0x20;
}

/** quirks.c quirk_intel_e2000_no_ats() (a18615b1cfc0): Intel IPU E2000 before revision C0. */
export function quirk_intel_e2000_no_ats(ctx: PciCtx, i: number): void {
  if (intelE2000Applies(ctx.info(i))) quirk_no_ats(ctx, i);
}

export interface AtsFixup {
  readonly vendor: number;
  readonly device: number;
  readonly name: 'quirk_amd_harvest_no_ats' | 'quirk_intel_e2000_no_ats';
  readonly hook: (ctx: PciCtx, i: number) => void;
  /** Whether the hook would disable ATS for this function (its revision/subsystem condition). */
  readonly applies: (info: PciDevInfo) => boolean;
}

function amd(device: number): AtsFixup {
  return {
    vendor: PCI_VENDOR_ID_ATI,
    device,
    name: 'quirk_amd_harvest_no_ats',
    hook: quirk_amd_harvest_no_ats,
    applies: amdHarvestApplies,
  };
}

function e2000(device: number): AtsFixup {
  return {
    vendor: PCI_VENDOR_ID_INTEL,
    device,
    name: 'quirk_intel_e2000_no_ats',
    hook: quirk_intel_e2000_no_ats,
    applies: intelE2000Applies,
  };
}

/**
 * The ATS fixup table (the DECLARE_PCI_FIXUP_FINAL lines of quirks.c, verified against
 * NVIDIA/NV-Kernels drivers/pci/quirks.c, 2026): all ATI-vendor (0x1002) entries for the AMD hook.
 */
export const ATS_FIXUPS: readonly AtsFixup[] = [
  amd(0x98e4), // Stoney
  amd(0x6900), // Iceland
  ...[0x7310, 0x7312, 0x7318, 0x7319, 0x731a, 0x731b, 0x731e, 0x731f].map(amd), // Navi10
  ...[0x7340, 0x7341, 0x7347, 0x734f].map(amd), // Navi14
  amd(0x15d8), // Raven (conditional)
  ...[0x1451, 0x1452, 0x1453, 0x1454, 0x1455, 0x1457, 0x1459, 0x145a, 0x145c].map(e2000), // IPU E2000
];

function matches(f: AtsFixup, info: PciDevInfo): boolean {
  return f.vendor === info.vendor && f.device === info.device;
}

/**
 * Runs every ATS fixup whose vendor/device matches the function, as pci_do_fixups() would.
 * Returns true if an entry matched (its hook may still decide not to disable ATS).
 */
export function pci_fixup_ats_quirks(ctx: PciCtx, i: number): boolean {
  const info = ctx.info(i);
  let matched = false;
  for (const f of ATS_FIXUPS) {
    if (!matches(f, info)) continue;
    matched = true;
    f.hook(ctx, i);
  }
  return matched;
}

/** The name of the ATS quirk that disables ATS on this function, or null. Pure: for reports. */
export function ats_quirk_for(info: PciDevInfo): AtsFixup['name'] | null {
  return ATS_FIXUPS.find((f) => matches(f, info) && f.applies(info))?.name ?? null;
}

/** The pass the ATS quirks run in under this kernel. */
export function atsQuirkPass(kernel: KernelConfig): FixupPass {
  return kernel.switches['ats-quirk-header-fixup'] ? 'header' : 'final';
}

/** quirks.c pci_fixup_device(pass, dev), for the modelled fixups: the ATS quirks in their pass. */
export function pci_fixup_device(ctx: PciCtx, pass: FixupPass, i: number): void {
  if (atsQuirkPass(ctx.kernel) === pass) pci_fixup_ats_quirks(ctx, i);
}

/**
 * quirks.c quirk_huawei_pcie_sva(): HiSilicon Kunpeng920 on-chip devices (Huawei a250, a251,
 * a255, a256, a258, a259; revision 0x21 or 0x30) use PASID without TLP prefixes (`pasid_no_tlp`).
 * Only the flag is modelled (its dma-can-stall property is not).
 */
export function quirk_huawei_pcie_sva_applies(vendor: number, device: number, revision: number): boolean {
  return (
    vendor === PCI_VENDOR_ID_HUAWEI &&
    [0xa250, 0xa251, 0xa255, 0xa256, 0xa258, 0xa259].includes(device) &&
    (revision === 0x21 || revision === 0x30)
  );
}
