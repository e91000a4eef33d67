/**
 * Trust and SR-IOV: who may use ATS at all. Section g items 4–8 and 10 of the reference notes
 * (kernel-semantics.md): untrusted functions, VFs following their PF, the STU, and ATS decisions
 * that must not change under the IOMMU's feet.
 */
import { IOMMU_DOMAIN_IDENTITY } from '../iommu/domain-type.js';
import { PCI_ATS_CTRL_STU } from '../pci/caps/ats.js';
import { pci_ats_required, pci_ats_supported, pci_physfn } from '../pci/ats.js';
import type { World } from '../model/world.js';
import { perFunction } from './incremental.js';
import type { Finding, Invariant, InvariantContext } from './invariant.js';
import { bdfOf, deviceAtsOn, done, managed, push } from './util.js';

export const untrustedNoAts: Invariant = perFunction(
  {
    id: 'untrusted-no-ats',
    ref: 4,
    statement:
      'An untrusted function never has ATS enabled, is never ATS-required, and its group never gets an IDENTITY default domain',
    source:
      'pci_ats_supported(); pci_ats_always_on() v3 commit message (thread 1); Jason Gunthorpe 2026-02-19; iommu_get_default_domain_type()',
    kind: 'kernel',
  },
  ({ world, view }, f) => {
    if (!world.infos[f]!.untrusted) return null;
    let out: Finding[] | null = null;
    const bdf = bdfOf(world, f);
    if (view.dev(f).atsEnabled)
      out = push(out, 'untrusted function has ATS enabled (pdev->ats_enabled)', bdf);
    else if (view.dev(f).atsCap !== 0 && deviceAtsOn(view, f) && managed(view, f))
      out = push(out, 'untrusted function has ATS Control ENABLE set', bdf);
    if (pci_ats_required(view, f)) out = push(out, 'untrusted function is ATS-required', bdf);
    const g = world.groupOf[f]!;
    if (g >= 0 && view.gdev(f).probed) {
      const dd = view.group(g).defaultDomain;
      const dom = view.domainOrNull(dd);
      if (dom !== null && dom.type === IOMMU_DOMAIN_IDENTITY)
        out = push(out, `group ${g} of an untrusted function has an IDENTITY default domain (d${dd})`, bdf);
    }
    return out;
  },
);

/** The findings of the static check, computed once per world. */
const untrustedCache = new WeakMap<World, readonly Finding[]>();

function untrustedFindings(world: World): readonly Finding[] {
  let out: Finding[] | null = null;
  const infos = world.infos;
  for (const info of infos) {
    const up = info.upstreamBridge;
    const parent = up >= 0 ? infos[up] : undefined;
    const expected = parent !== undefined && (parent.untrusted || parent.externalFacing);
    if (info.untrusted !== expected)
      out = push(
        out,
        parent !== undefined && expected
          ? `upstream bridge ${parent.bdf} is ${parent.untrusted ? 'untrusted' : 'external-facing'} but the function is trusted`
          : `function is untrusted but its upstream bridge ${parent === undefined ? '(none)' : parent.bdf} is trusted and not external-facing`,
        info.bdf,
      );
  }
  return done(out);
}

export const untrustedPropagates: Invariant = {
  id: 'untrusted-propagates',
  ref: 5,
  statement:
    'A function is untrusted exactly when its upstream bridge is untrusted or external-facing (a VF: its PF’s bridge)',
  source: 'drivers/pci/probe.c set_pcie_untrusted()',
  kind: 'kernel',
  check({ world }: InvariantContext): readonly Finding[] {
    let r = untrustedCache.get(world);
    if (r === undefined) {
      r = untrustedFindings(world);
      untrustedCache.set(world, r);
    }
    return r;
  },
};

export const vfStuFollowsPf: Invariant = perFunction(
  {
    id: 'vf-stu-follows-pf',
    ref: 6,
    statement:
      "A VF with ATS enabled translates at its PF's STU, which is the IOMMU's page shift; the VF never writes an STU of its own",
    source:
      'pci_enable_ats(); 6fd7c5c81af2 "PCI/ATS: Validate STU for VFs in pci_prepare_ats()"; Kevin Tian (thread 4): the VF STU field is hardwired to 0',
    kind: 'kernel',
  },
  ({ world, view }, f) => {
    const info = world.infos[f]!;
    if (!info.isVirtfn || info.physfn < 0) return null;
    let out: Finding[] | null = null;
    const d = view.dev(f);
    if (d.atsStu !== 0 || PCI_ATS_CTRL_STU(d.atsCtrl) !== 0)
      out = push(
        out,
        `VF has an STU of its own (ats_stu ${d.atsStu}, ATS Control STU ${PCI_ATS_CTRL_STU(d.atsCtrl)})`,
        info.bdf,
      );
    if (!d.atsEnabled) return out;
    const ps = world.iommu.features.pageShift;
    const pfStu = view.dev(info.physfn).atsStu;
    if (pfStu !== ps)
      out = push(
        out,
        `VF has ATS enabled but its PF's STU is ${pfStu}, not the IOMMU page shift ${ps}`,
        info.bdf,
      );
    return out;
  },
);

export const vfAtsFollowsPf: Invariant = perFunction(
  {
    id: 'vf-ats-follows-pf',
    ref: 7,
    statement:
      'A VF is ATS-supported, and has ATS enabled, only if its PF is ATS-supported (not quirked, not untrusted)',
    source:
      '4f2cd6091ac4 "PCI/ATS: Ensure pci_ats_supported() is PF-aware for VFs"; pci_ats_required() (VF answers for its PF)',
    kind: 'kernel',
  },
  ({ world, view }, f) => {
    const info = world.infos[f]!;
    if (!info.isVirtfn || info.physfn < 0 || !managed(view, f)) return null;
    const pf = info.physfn;
    if (view.dev(pf).atsCap !== 0 && !world.infos[pf]!.untrusted) return null;
    if (view.dev(f).atsEnabled)
      return push(
        null,
        `VF has ATS enabled but its PF ${world.infos[pf]!.bdf} is not ATS-supported`,
        info.bdf,
      );
    if (pci_ats_supported(view, f))
      return push(null, `VF is ATS-supported but its PF ${world.infos[pf]!.bdf} is not`, info.bdf);
    return null;
  },
);

export const atsCapStable: Invariant = perFunction(
  {
    id: 'ats-cap-stable',
    ref: 8,
    statement:
      'A function whose ATS capability the kernel has dropped (ats_cap 0: quirk or pci=noats) has ATS off, in the kernel and at the device',
    source:
      'David Matlack, "[PATCH v3] PCI: Ensure ATS disabled via quirk before notifying IOMMU drivers" (2026-04): pci_ats_supported() must not change between probe and release',
    kind: 'kernel',
  },
  ({ world, view }, f) => {
    const d = view.dev(f);
    if (d.atsCap !== 0 || world.infos[f]!.atsCapOffset === 0 || !managed(view, f)) return null;
    if (view.device(f).resetting) return null;
    if (d.atsEnabled) return push(null, 'ats_cap is 0 but pdev->ats_enabled is set', bdfOf(world, f));
    if (deviceAtsOn(view, f))
      return push(null, 'ats_cap is 0 but the ATS Control register still has ENABLE set', bdfOf(world, f));
    return null;
  },
);

export const stuProgrammedAtProbe: Invariant = perFunction(
  {
    id: 'stu-programmed-at-probe',
    ref: 10,
    statement:
      "Every probed function the IOMMU may use ATS for had its STU programmed at probe: its PF's ats_stu equals the IOMMU page shift (a driver that will not predict ATS for it is exempt; kernels before pci_prepare_ats() too)",
    source:
      'Pranjal Shrivastava v4 cover letter (thread 4): fallible ATS configuration belongs to probe; eab000d501af; 2665d975db35 pci_prepare_ats()',
    kind: 'kernel',
  },
  ({ world, view }, f) => {
    if (!world.iommu.features.ats || !managed(view, f) || !pci_ats_supported(view, f)) return null;
    // Before pci_prepare_ats() (2665d975db35) nothing programmed the STU at probe.
    if (!world.kernel.switches['pci-prepare-ats']) return null;
    // A configuration failure at probe may leave the function without ATS predicted instead.
    const ops = world.ops;
    if (ops.ats_supported !== undefined && !ops.ats_supported(view, f)) return null;
    const ps = world.iommu.features.pageShift;
    const pf = pci_physfn(view, f);
    const stu = view.dev(pf).atsStu;
    if (stu === ps) return null;
    return push(
      null,
      pf === f
        ? `probed with ATS supported but ats_stu is ${stu}, not the IOMMU page shift ${ps}`
        : `probed with ATS supported but its PF ${world.infos[pf]!.bdf} has ats_stu ${stu}, not the IOMMU page shift ${ps}`,
      bdfOf(world, f),
    );
  },
);
