import { describe, expect, it } from 'vitest';
import { STE_CFG_ABORT, STE_CFG_BYPASS } from '../../../src/drivers/smmuv3/master.js';
import { smmuv3Ops } from '../../../src/drivers/smmuv3/ops.js';
import { IOMMU_DOMAIN_DMA, IOMMU_DOMAIN_IDENTITY } from '../../../src/iommu/domain-type.js';
import { EBUSY, EINVAL, ENOMEM } from '../../../src/kernel/errno.js';
import type { FunctionSpec } from '../../../src/pci/builder.js';
import { A, B, EP_ATS, EP_CXL, EP_PASID, Sim, VF0, indexOf, machine, ofKind } from './harness.js';

const EP_SRIOV: FunctionSpec = {
  vendorId: 0x15b3,
  deviceId: 0x101d,
  ats: {},
  sriov: {
    totalVFs: 2,
    numVFs: 1,
    vfEnable: true,
    firstVfOffset: 1,
    vfStride: 1,
    vfDeviceId: 0x101e,
    vf: { ats: {} },
  },
};

describe('arm_smmu_probe_device', () => {
  it('enables PASID before it programs the STU, and sizes the SSIDs', () => {
    const sim = new Sim(machine({ [A]: EP_PASID }), { preset: 'v7.2' });
    const a = sim.fn(A);
    expect(sim.probe(a)).toBe(0);
    const m = sim.master(a);
    expect(m.probed).toBe(true);
    expect(m.ssid_bits).toBe(8); // min(log2(256 PASIDs), 20 SSID bits)
    expect(sim.pci(a).pasidEnabled).toBe(true);
    expect(sim.pci(a).atsStu).toBe(12);
    expect(sim.pci(a).atsEnabled).toBe(false);
    const ev = sim.events;
    const pasidWrite = indexOf(ev, (e) => e.kind === 'config-write' && e.register === 'PCI_PASID_CTRL');
    const stuWrite = indexOf(
      ev,
      (e) => e.kind === 'config-write' && e.register === 'PCI_ATS_CTRL' && e.value === 0,
    );
    expect(pasidWrite).toBeGreaterThanOrEqual(0);
    expect(stuWrite).toBeGreaterThan(pasidWrite);
    // The STE stays what arm_smmu_init_strtab() left until the first attach.
    expect(m.ste_cfg).toBe(STE_CFG_ABORT);
  });

  it('WARNs and refuses a second probe of the same master', () => {
    const sim = new Sim(machine({ [A]: EP_ATS }));
    const a = sim.fn(A);
    sim.probe(a);
    expect(sim.run((tx) => smmuv3Ops.probe_device(tx, a))).toBe(-EBUSY);
    expect(ofKind(sim.events, 'warn')).toEqual([
      { kind: 'warn', site: 'arm_smmu_probe_device', bdf: A, message: 'master already probed' },
    ]);
  });

  it('makes an ATS-required (CXL.cache) master always-on from v7.2, with a CD table', () => {
    for (const [preset, on] of [
      ['v7.0', false],
      ['v7.2', true],
      ['v7.3', true],
    ] as const) {
      const sim = new Sim(machine({ [A]: EP_CXL }), { preset });
      const a = sim.fn(A);
      expect(sim.probe(a)).toBe(0);
      expect(sim.master(a).ats_always_on).toBe(on);
      expect(sim.master(a).cd_table).toBe(on);
    }
  });

  it('falls back to on-demand without stage 1 or SSIDs, saying so once per boot', () => {
    for (const features of [{ stage1: false }, { ssidBits: 0 }]) {
      const sim = new Sim(machine({ [A]: EP_CXL, [B]: EP_CXL }), { preset: 'v7.2', features });
      const a = sim.fn(A);
      const b = sim.fn(B);
      sim.probe(a);
      const first = ofKind(sim.events, 'info');
      sim.probe(b);
      const second = ofKind(sim.events, 'info');
      expect(first).toEqual([{ kind: 'info', bdf: A, message: "SMMU doesn't support ATS to be always on" }]);
      expect(second).toEqual([]);
      expect(sim.master(a).ats_always_on).toBe(false);
      expect(sim.master(b).ats_always_on).toBe(false);
    }
  });

  it('v7.3 fails the probe of a VF whose PF STU was not programmed (6fd7c5c81af2 + fail-at-probe)', () => {
    for (const preset of ['v7.2', 'v7.3'] as const) {
      const sim = new Sim(machine({ [A]: EP_SRIOV }), { preset });
      const vf = sim.fn(VF0);
      // The VF is probed before its PF: the PF's ats_stu is still 0.
      const ret = sim.probe(vf);
      if (preset === 'v7.2') {
        expect(ret).toBe(0);
        expect(sim.master(vf).probed).toBe(true);
      } else {
        expect(ret).toBe(-EINVAL);
        expect(sim.master(vf).probed).toBe(false);
        expect(ofKind(sim.events, 'return')).toContainEqual({
          kind: 'return',
          fn: 'pci_prepare_ats',
          bdf: VF0,
          value: -EINVAL,
        });
      }
    }
    // In BDF order (PF first) the VF probes fine under v7.3.
    const sim = new Sim(machine({ [A]: EP_SRIOV }), { preset: 'v7.3' });
    expect(sim.probe(sim.fn(A))).toBe(0);
    expect(sim.probe(sim.fn(VF0))).toBe(0);
  });

  it('v7.3 undoes PASID and fails the probe when pci_prepare_ats() fails; v7.2 ignores it', () => {
    for (const preset of ['v7.2', 'v7.3'] as const) {
      const sim = new Sim(machine({ [A]: EP_PASID }), { preset });
      const a = sim.fn(A);
      sim.arm('pci_prepare_ats', a, -ENOMEM);
      const ret = sim.probe(a);
      if (preset === 'v7.2') {
        expect(ret).toBe(0);
        expect(sim.pci(a).pasidEnabled).toBe(true);
      } else {
        expect(ret).toBe(-ENOMEM);
        expect(sim.master(a).probed).toBe(false);
        expect(sim.pci(a).pasidEnabled).toBe(false);
        const pasidWrites = sim.events.filter(
          (e) => e.kind === 'config-write' && e.register === 'PCI_PASID_CTRL',
        );
        expect(pasidWrites.map((e) => (e.kind === 'config-write' ? e.value : -1))).toEqual([0x1, 0x0]);
      }
      expect(sim.state.faults).toEqual([]);
    }
  });

  it('the ats_prepared gate (thread 4 v3) keeps a master whose prepare failed out of ATS', () => {
    for (const fail of [false, true]) {
      const sim = new Sim(machine({ [A]: EP_ATS }), {
        preset: 'v7.2',
        switches: { 'smmu-ats-prepared-gate': 'on' },
      });
      const a = sim.fn(A);
      if (fail) sim.arm('pci_prepare_ats', a, -EINVAL);
      expect(sim.probe(a)).toBe(0);
      expect(sim.master(a).ats_prepared).toBe(!fail);
      expect(sim.attach(a, IOMMU_DOMAIN_DMA, true)).toBe(0);
      const d = sim.domainOf(a);
      expect(sim.master(a).ste_eats).toBe(!fail);
      expect(sim.master(a).ats_enabled).toBe(!fail);
      expect(sim.pci(a).atsEnabled).toBe(!fail);
      expect(sim.drv(d).nr_ats_masters).toBe(fail ? 0 : 1);
      expect(ofKind(sim.events, 'warn')).toEqual([]);
    }
  });
});

describe('arm_smmu_release_device', () => {
  it('after the core attached the release (blocked) domain: PASID off after ATS, master freed, old domain left', () => {
    const sim = new Sim(machine({ [A]: EP_PASID }), { preset: 'v7.3' });
    const a = sim.fn(A);
    sim.probe(a);
    sim.attach(a, IOMMU_DOMAIN_DMA, true);
    const d = sim.domainOf(a);
    expect(sim.pci(a).atsEnabled).toBe(true);
    sim.run((tx) => {
      // iommu_deinit_device(): ops->release_domain first, then ops->release_device().
      const g = tx.group(tx.world.groupOf[a]!);
      expect(smmuv3Ops.attach_dev(tx, g.blockingDomain, a, g.domain)).toBe(0);
      smmuv3Ops.release_device(tx, a);
    });
    expect(sim.master(a)).toMatchObject({
      probed: false,
      ats_enabled: false,
      ste_cfg: STE_CFG_ABORT,
      ste_eats: false,
    });
    expect(sim.pci(a).atsEnabled).toBe(false);
    expect(sim.pci(a).pasidEnabled).toBe(false);
    expect(sim.drv(d)).toMatchObject({ nr_ats_masters: 0, devices: [], invs: [] });
    const ats = indexOf(sim.events, (e) => e.kind === 'config-write' && e.register === 'PCI_ATS_CTRL');
    const pasid = indexOf(sim.events, (e) => e.kind === 'config-write' && e.register === 'PCI_PASID_CTRL');
    expect(ats).toBeGreaterThanOrEqual(0);
    expect(pasid).toBeGreaterThan(ats);
    expect(ofKind(sim.events, 'warn')).toEqual([]);
  });

  it('leaves the STE to the release domain: release_device alone writes none', () => {
    const sim = new Sim(machine({ [A]: EP_ATS }));
    const a = sim.fn(A);
    sim.probe(a);
    sim.attach(a, IOMMU_DOMAIN_IDENTITY, true);
    sim.run((tx) => {
      smmuv3Ops.release_device(tx, a);
    });
    expect(sim.events.some((e) => e.kind === 'ste-write')).toBe(false);
    expect(sim.master(a)).toMatchObject({ probed: false, ste_cfg: STE_CFG_BYPASS });
  });
});

describe('arm_smmu_def_domain_type', () => {
  it('asks identity for the HiSilicon PCIe tune and trace device only', () => {
    const sim = new Sim(machine({ [A]: { vendorId: 0x19e5, deviceId: 0xa12e }, [B]: EP_ATS }));
    const tx = sim.view();
    expect(smmuv3Ops.def_domain_type(tx, sim.fn(A))).toBe(IOMMU_DOMAIN_IDENTITY);
    expect(smmuv3Ops.def_domain_type(tx, sim.fn(B))).toBe(0);
  });
});
