import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/diagnostics.js';
import { kstrtobool, parseCmdline } from '../../../src/kernel/cmdline.js';

describe('parseCmdline', () => {
  it('reads nothing from an empty line', () => {
    expect(parseCmdline('')).toEqual({
      pciNoAts: false,
      iommuPassthrough: null,
      iommuStrict: null,
      raw: '',
      ignored: [],
    });
  });

  it('finds noats in a pci= comma list and keeps the other options as ignored', () => {
    const c = parseCmdline('root=/dev/sda1 quiet pci=realloc,noats,nomsi');
    expect(c.pciNoAts).toBe(true);
    expect(c.ignored).toEqual(['root=/dev/sda1', 'quiet', 'pci=realloc', 'pci=nomsi']);
    expect(parseCmdline('pci=noats').pciNoAts).toBe(true);
    expect(parseCmdline('pci=realloc').pciNoAts).toBe(false);
  });

  it('matches noats by its first five characters, as pci_setup() does', () => {
    expect(parseCmdline('pci=noatsx').pciNoAts).toBe(true);
    expect(parseCmdline('pci=noat').pciNoAts).toBe(false);
  });

  it('parses iommu.passthrough and iommu.strict like kstrtobool, last one wins', () => {
    expect(parseCmdline('iommu.passthrough=1').iommuPassthrough).toBe(true);
    expect(parseCmdline('iommu.passthrough=0').iommuPassthrough).toBe(false);
    expect(parseCmdline('iommu.passthrough=on').iommuPassthrough).toBe(true);
    expect(parseCmdline('iommu.passthrough=off').iommuPassthrough).toBe(false);
    expect(parseCmdline('iommu.passthrough=y').iommuPassthrough).toBe(true);
    expect(parseCmdline('iommu.passthrough=N').iommuPassthrough).toBe(false);
    expect(parseCmdline('iommu.strict=1 iommu.strict=0').iommuStrict).toBe(false);
    expect(parseCmdline('iommu.passthrough=1').iommuStrict).toBeNull();
  });

  it('treats - and _ alike in names and stops at --', () => {
    expect(parseCmdline('iommu.passthrough=1 -- pci=noats').pciNoAts).toBe(false);
    expect(parseCmdline('iommu.passthrough=1 -- pci=noats').iommuPassthrough).toBe(true);
  });

  it('groups double-quoted values and drops the quotes', () => {
    const c = parseCmdline('dyndbg="file ats.c +p" pci="noats"');
    expect(c.pciNoAts).toBe(true);
    expect(c.ignored).toEqual(['dyndbg=file ats.c +p']);
  });

  it('rejects malformed values of the parameters it models', () => {
    for (const bad of [
      'iommu.passthrough=maybe',
      'iommu.passthrough',
      'iommu.strict=',
      'iommu.strict=2',
      'pci',
      'pci=',
    ])
      expect(() => parseCmdline(bad), bad).toThrow(InputError);
    try {
      parseCmdline('iommu.strict=2');
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      expect((e as InputError).diagnostic.code).toBe('bad-cmdline');
      expect((e as InputError).message).toContain('iommu.strict=2');
    }
  });

  it('keeps unknown parameters, never failing on them', () => {
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[a-z][a-z0-9_.]{0,10}(=[a-z0-9,]{0,8})?$/), { maxLength: 8 }),
        (words) => {
          const known = /^(pci|iommu\.passthrough|iommu\.strict)(=|$)/;
          const unknown = words.filter((w) => !known.test(w));
          const c = parseCmdline(unknown.join(' '));
          expect(c.ignored).toEqual(unknown);
          expect(c.pciNoAts).toBe(false);
        },
      ),
    );
  });
});

describe('kstrtobool', () => {
  it('decides on the leading characters', () => {
    for (const t of ['1', 'y', 'Y', 'yes', 'on', 'ON', 't', 'true', 'e', 'enable'])
      expect(kstrtobool(t), t).toBe(true);
    for (const f of ['0', 'n', 'N', 'no', 'off', 'oFF', 'f', 'false', 'd', 'disable'])
      expect(kstrtobool(f), f).toBe(false);
    for (const x of ['', 'o', 'ox', '2', 'maybe']) expect(kstrtobool(x), x).toBeNull();
    expect(kstrtobool(null)).toBeNull();
  });
});
