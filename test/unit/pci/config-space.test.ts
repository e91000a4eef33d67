import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigSpace } from '../../../src/pci/config-space.js';
import { canonicalBdf, formatBdf, fromRoutingId, parseBdf, routingId } from '../../../src/pci/bdf.js';

describe('ConfigSpace', () => {
  it('reads back little-endian what it wrote', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4092 }), fc.integer({ min: 0, max: 0xffffffff }), (off, v) => {
        const cs = new ConfigSpace();
        cs.write32(off, v);
        expect(cs.read32(off)).toBe(v >>> 0);
        expect(cs.read16(off)).toBe(v & 0xffff);
        expect(cs.read8(off + 3)).toBe(v >>> 24);
      }),
    );
  });
  it('knows which bytes the input showed', () => {
    const cs = new ConfigSpace(256);
    expect(cs.has(0xfc, 4)).toBe(true);
    expect(cs.has(0x100, 4)).toBe(false);
    expect(() => cs.read32(4094)).toThrow(RangeError);
  });
});

describe('BDF', () => {
  it('canonicalises with and without a domain', () => {
    expect(canonicalBdf('03:00.1')).toBe('0000:03:00.1');
    expect(canonicalBdf('0002:01:1f.7')).toBe('0002:01:1f.7');
    expect(canonicalBdf('03:20.0')).toBeNull();
    expect(canonicalBdf('zz')).toBeNull();
  });
  it('round-trips routing IDs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), (seg, rid) => {
        const p = fromRoutingId(seg, rid);
        expect(routingId(p)).toBe(rid);
        expect(parseBdf(formatBdf(p))).toEqual(p);
      }),
    );
  });
});
