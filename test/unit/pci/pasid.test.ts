import { describe, expect, it } from 'vitest';
import { EBUSY, EINVAL } from '../../../src/kernel/errno.js';
import { PRESET_IDS } from '../../../src/kernel/presets.js';
import {
  PCI_PASID_CAP_EXEC,
  PCI_PASID_CAP_PRIV,
  PCI_PASID_CTRL_ENABLE,
  PCI_PASID_CTRL_EXEC,
  PCI_PASID_CTRL_PRIV,
} from '../../../src/pci/caps/pasid.js';
import {
  pci_disable_pasid,
  pci_enable_pasid,
  pci_max_pasids,
  pci_pasid_features,
  pci_pasid_status,
  pci_restore_pasid_state,
} from '../../../src/pci/pasid.js';
import type { SimplePciCtx } from '../../../src/pci/pci-dev.js';
import { ctxOf, kernelOf, pfWithVfs, type FnSpec } from './pci-fixture.js';

/** A PF that passes every pci_enable_pasid() check: prefix path, capability (20 bits, EXEC), ACS path. */
const OK: FnSpec = {
  pasidCapOffset: 0x300,
  pasidCapReg: (20 << 8) | PCI_PASID_CAP_EXEC,
  eeTlpPrefix: true,
  acsPathRrUf: true,
};

function writes(ctx: SimplePciCtx): [string, number, number][] {
  return ctx.events.flatMap((e) => (e.kind === 'config-write' ? [[e.register, e.offset, e.value]] : []));
}
function warnSites(ctx: SimplePciCtx): string[] {
  return ctx.events.flatMap((e) => (e.kind === 'warn' ? [e.site] : []));
}

describe('pci_enable_pasid and the ACS path (switch pasid-acs-path, 201007ef707a)', () => {
  const noAcs: FnSpec = { ...OK, acsPathRrUf: false };

  it('with the switch on, a path without ACS RR+UF is -EINVAL with nothing written', () => {
    const ctx = ctxOf(kernelOf('v6.1', { 'pasid-acs-path': 'on' }), [noAcs]);
    expect(pci_enable_pasid(ctx, 0, 0)).toBe(-EINVAL);
    expect(writes(ctx)).toEqual([]);
    expect(ctx.dev(0).pasidEnabled).toBe(false);
  });

  it('with it off, the same function gets PASID', () => {
    const ctx = ctxOf(kernelOf('v6.12', { 'pasid-acs-path': 'off' }), [noAcs]);
    expect(pci_enable_pasid(ctx, 0, PCI_PASID_CAP_EXEC)).toBe(0);
    expect(writes(ctx)).toEqual([['PCI_PASID_CTRL', 0x306, PCI_PASID_CTRL_ENABLE | PCI_PASID_CTRL_EXEC]]);
    expect(ctx.dev(0).pasidEnabled).toBe(true);
  });

  it('v6.1 predates the check (v6.2); every later preset has it', () => {
    expect(kernelOf('v6.1').switches['pasid-acs-path']).toBe(false);
    for (const p of PRESET_IDS.filter((x) => x !== 'v6.1'))
      expect(kernelOf(p).switches['pasid-acs-path']).toBe(true);
  });
});

// Apart from the ACS path (above), every preset behaves the same.
describe.each(PRESET_IDS)('PASID under %s', (preset) => {
  const kernel = kernelOf(preset);

  it('pci_pasid_init caches the capability offset', () => {
    const ctx = ctxOf(kernel, [OK, {}]);
    expect(ctx.dev(0).pasidCap).toBe(0x300);
    expect(ctx.dev(1).pasidCap).toBe(0);
  });

  it('pci_enable_pasid writes ENABLE | features and records the features', () => {
    const ctx = ctxOf(kernel, [OK, OK]);
    expect(pci_enable_pasid(ctx, 0, 0)).toBe(0);
    expect(pci_enable_pasid(ctx, 1, PCI_PASID_CAP_EXEC)).toBe(0);
    expect(writes(ctx)).toEqual([
      ['PCI_PASID_CTRL', 0x306, PCI_PASID_CTRL_ENABLE],
      ['PCI_PASID_CTRL', 0x306, PCI_PASID_CTRL_ENABLE | PCI_PASID_CTRL_EXEC],
    ]);
    expect(ctx.dev(1)).toMatchObject({ pasidEnabled: true, pasidFeatures: PCI_PASID_CAP_EXEC });
  });

  it('pci_enable_pasid: WARN + -EBUSY when already enabled', () => {
    const ctx = ctxOf(kernel, [OK]);
    pci_enable_pasid(ctx, 0, 0);
    ctx.takeEvents();
    expect(pci_enable_pasid(ctx, 0, 0)).toBe(-EBUSY);
    expect(warnSites(ctx)).toEqual(['pci_enable_pasid']);
    expect(writes(ctx)).toEqual([]);
  });

  it('pci_enable_pasid: each failed check is -EINVAL with nothing written', () => {
    const ctx = ctxOf(kernel, [
      { ...OK, eeTlpPrefix: false },
      { ...OK, eeTlpPrefix: false, pasidNoTlp: true }, // the Huawei quirk lifts the prefix check
      { ...OK, pasidCapOffset: 0 },
      OK,
      OK,
    ]);
    expect(pci_enable_pasid(ctx, 0, 0)).toBe(-EINVAL);
    expect(pci_enable_pasid(ctx, 2, 0)).toBe(-EINVAL);
    expect(pci_enable_pasid(ctx, 3, PCI_PASID_CAP_PRIV)).toBe(-EINVAL); // not supported
    expect(pci_enable_pasid(ctx, 4, PCI_PASID_CTRL_ENABLE)).toBe(-EINVAL); // not a feature bit
    expect(writes(ctx)).toEqual([]);
    expect(warnSites(ctx)).toEqual([]);
    expect(pci_enable_pasid(ctx, 1, 0)).toBe(0);
  });

  it('a VF shares its PF PASID: enable answers from the PF, disable/restore do nothing', () => {
    const ctx = ctxOf(kernel, pfWithVfs(1, OK));
    expect(pci_enable_pasid(ctx, 1, 0)).toBe(-EINVAL);
    expect(pci_enable_pasid(ctx, 0, 0)).toBe(0);
    ctx.takeEvents();
    expect(pci_enable_pasid(ctx, 1, 0)).toBe(0);
    pci_disable_pasid(ctx, 1);
    pci_restore_pasid_state(ctx, 1);
    expect(writes(ctx)).toEqual([]);
    expect(warnSites(ctx)).toEqual([]);
    expect(ctx.dev(1).pasidEnabled).toBe(false);
  });

  it('pci_disable_pasid writes 0; WARNs when off', () => {
    const ctx = ctxOf(kernel, [OK]);
    pci_disable_pasid(ctx, 0);
    expect(warnSites(ctx)).toEqual(['pci_disable_pasid']);
    expect(writes(ctx)).toEqual([]);
    pci_enable_pasid(ctx, 0, PCI_PASID_CAP_EXEC);
    ctx.takeEvents();
    pci_disable_pasid(ctx, 0);
    expect(writes(ctx)).toEqual([['PCI_PASID_CTRL', 0x306, 0]]);
    expect(ctx.dev(0).pasidEnabled).toBe(false);
  });

  it('pci_restore_pasid_state rewrites ENABLE | features only when enabled', () => {
    const ctx = ctxOf(kernel, [OK]);
    pci_restore_pasid_state(ctx, 0);
    expect(writes(ctx)).toEqual([]);
    pci_enable_pasid(ctx, 0, PCI_PASID_CAP_EXEC);
    ctx.mut(0).pasidCtrl = 0;
    ctx.takeEvents();
    pci_restore_pasid_state(ctx, 0);
    expect(writes(ctx)).toEqual([['PCI_PASID_CTRL', 0x306, PCI_PASID_CTRL_ENABLE | PCI_PASID_CTRL_EXEC]]);
  });

  it('features, max PASIDs and status answer from the PF; -EINVAL without a capability', () => {
    const pf: FnSpec = { ...OK, pasidCapReg: (5 << 8) | PCI_PASID_CAP_EXEC | PCI_PASID_CAP_PRIV | 0x0001 };
    const ctx = ctxOf(kernel, [...pfWithVfs(1, pf), {}]);
    expect(pci_pasid_features(ctx, 0)).toBe(PCI_PASID_CAP_EXEC | PCI_PASID_CAP_PRIV);
    expect(pci_pasid_features(ctx, 1)).toBe(PCI_PASID_CAP_EXEC | PCI_PASID_CAP_PRIV);
    expect(pci_max_pasids(ctx, 1)).toBe(32);
    expect(pci_pasid_status(ctx, 1)).toBe(0);
    pci_enable_pasid(ctx, 0, PCI_PASID_CAP_PRIV);
    expect(pci_pasid_status(ctx, 1)).toBe(PCI_PASID_CTRL_ENABLE | PCI_PASID_CTRL_PRIV);
    expect([pci_pasid_features(ctx, 2), pci_max_pasids(ctx, 2), pci_pasid_status(ctx, 2)]).toEqual([
      -EINVAL,
      -EINVAL,
      -EINVAL,
    ]);
  });

  it('pci_max_pasids is 1 << width, computed as a 32-bit int', () => {
    const ctx = ctxOf(kernel, [
      { pasidCapOffset: 0x300, pasidCapReg: 0 },
      { pasidCapOffset: 0x300, pasidCapReg: 20 << 8 },
      { pasidCapOffset: 0x300, pasidCapReg: 31 << 8 },
    ]);
    expect([0, 1, 2].map((i) => pci_max_pasids(ctx, i))).toEqual([1, 1 << 20, -(2 ** 31)]);
  });
});
