import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/diagnostics.js';
import { resolveKernel } from '../../../src/kernel/config.js';
import {
  DEFAULT_PRESET,
  PRESETS,
  PRESET_IDS,
  presetIntroducing,
  presetSwitches,
} from '../../../src/kernel/presets.js';
import { SWITCHES, SWITCH_IDS, isSwitchId, switchesOn } from '../../../src/kernel/switches.js';

function inputError(f: () => unknown): InputError {
  try {
    f();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error('no InputError thrown');
}

describe('switch registry', () => {
  it('has unique kebab-case ids with a one-line description and a source', () => {
    expect(new Set(SWITCH_IDS).size).toBe(SWITCH_IDS.length);
    for (const s of SWITCHES) {
      expect(s.id).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(s.description).not.toContain('\n');
      expect(s.description.length).toBeGreaterThan(10);
      if (s.source.kind === 'commits') {
        expect(s.source.commits.length).toBeGreaterThan(0);
        for (const c of s.source.commits) expect(c.id).toMatch(/^[0-9a-f]{12}$/);
      }
      expect(isSwitchId(s.id)).toBe(true);
    }
    expect(isSwitchId('toString')).toBe(false);
  });

  it('has the issue-2 switches', () => {
    for (const id of [
      'ats-required',
      'ats-supported-pf-aware',
      'prepare-ats-vf-stu-check',
      'ats-quirk-header-fixup',
    ])
      expect(isSwitchId(id), id).toBe(true);
  });
});

describe('presets', () => {
  it('are ordered oldest first, the default being the newest', () => {
    expect(PRESETS.map((p) => p.id)).toEqual([...PRESET_IDS]);
    expect(DEFAULT_PRESET).toBe(PRESET_IDS[PRESET_IDS.length - 1]);
  });

  it('never turn an alternative on', () => {
    for (const s of SWITCHES.filter((x) => x.kind === 'alternative'))
      for (const p of PRESETS) expect(p.switches[s.id], `${p.id} ${s.id}`).toBe(false);
  });

  it('keep a release switch on from the preset that introduced it', () => {
    for (const s of SWITCHES.filter((x) => x.kind === 'release')) {
      const first = presetIntroducing(s.id);
      expect(first, s.id).not.toBeNull();
      const from = PRESET_IDS.indexOf(first!);
      PRESETS.forEach((p, k) => {
        expect(p.switches[s.id], `${p.id} ${s.id}`).toBe(k >= from);
      });
    }
  });

  it('place the merged commits in their releases', () => {
    expect(presetIntroducing('ats-required')).toBe('v7.2');
    expect(presetIntroducing('ats-supported-pf-aware')).toBe('v7.3');
    expect(presetIntroducing('prepare-ats-vf-stu-check')).toBe('v7.3');
    // 201007ef707a is v6.2: the first modelled release after v6.1 has it.
    expect(presetIntroducing('pasid-acs-path')).toBe('v6.12');
    expect(switchesOn(presetSwitches('v6.1'))).toEqual([]);
    expect(switchesOn(presetSwitches('v6.12'))).toEqual([
      'pci-prepare-ats',
      'pasid-acs-path',
      'vtd-blocking-domain',
      'vtd-pasid-at-probe',
      'vtd-cache-tag-fence',
    ]);
    expect(presetIntroducing('vtd-sm-ats-at-probe')).toBe('v7.0');
    expect(presetIntroducing('vtd-fail-probe-on-prepare-error')).toBe('v7.3');
    expect(presetIntroducing('vtd-ats-follows-domain')).toBeNull();
    expect(presetIntroducing('amd-fail-probe-on-prepare-error')).toBeNull();
    expect(presetIntroducing('reset-hooks')).toBe('v7.0');
    expect(presetIntroducing('smmu-ats-always-on')).toBe('v7.2');
    expect(presetIntroducing('smmu-fail-probe-on-prepare-error')).toBe('v7.3');
    expect(switchesOn(presetSwitches('v7.0'))).not.toContain('ats-required');
    // Alternatives that were never merged are in no preset.
    for (const p of ['v6.1', 'v6.12', 'v7.0', 'v7.2', 'v7.3'] as const) {
      expect(switchesOn(presetSwitches(p))).not.toContain('smmu-invs-rollback');
      expect(switchesOn(presetSwitches(p))).not.toContain('driver-managed-dma-enum');
    }
  });
});

describe('resolveKernel', () => {
  it('defaults to the newest preset and an empty command line', () => {
    const k = resolveKernel();
    expect(k.preset).toBe('v7.3');
    expect(k.switches).toEqual(presetSwitches('v7.3'));
    expect(k.cmdline.pciNoAts).toBe(false);
    expect(k.cmdline.raw).toBe('');
  });

  it('applies overrides given as on/off or booleans, without touching the preset', () => {
    const k = resolveKernel('v7.2', { 'ats-quirk-header-fixup': 'on', 'ats-required': false });
    expect(k.switches['ats-quirk-header-fixup']).toBe(true);
    expect(k.switches['ats-required']).toBe(false);
    expect(k.switches['ats-supported-pf-aware']).toBe(false);
    expect(presetSwitches('v7.2')['ats-required']).toBe(true);
    expect(
      resolveKernel('v6.12', { 'prepare-ats-vf-stu-check': true }).switches['prepare-ats-vf-stu-check'],
    ).toBe(true);
  });

  it('parses the command line', () => {
    expect(resolveKernel('v7.0', {}, 'pci=noats iommu.passthrough=1').cmdline).toMatchObject({
      pciNoAts: true,
      iommuPassthrough: true,
    });
  });

  it('rejects an unknown preset, listing the valid ones', () => {
    const e = inputError(() => resolveKernel('v5.4'));
    expect(e.diagnostic.code).toBe('unknown-preset');
    for (const p of PRESET_IDS) expect(e.message).toContain(p);
  });

  it('rejects an unknown switch, listing the valid ones', () => {
    const e = inputError(() => resolveKernel(undefined, { 'ats-always-on': 'on' }));
    expect(e.diagnostic.code).toBe('unknown-switch');
    expect(e.message).toContain('ats-always-on');
    for (const id of SWITCH_IDS) expect(e.message).toContain(id);
  });

  it('rejects a switch value that is not on or off', () => {
    const e = inputError(() => resolveKernel(undefined, { 'ats-required': 'yes' as 'on' }));
    expect(e.diagnostic.code).toBe('bad-switch-value');
  });

  it('rejects a malformed command line', () => {
    expect(inputError(() => resolveKernel(undefined, undefined, 'iommu.strict=x')).diagnostic.code).toBe(
      'bad-cmdline',
    );
  });
});
