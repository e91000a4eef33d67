/**
 * Every capability encoder in src/pci/caps/ round-trips through its decoder: what was encoded
 * decodes to the same fields (queue depth 32 as the field's 0, STU as a page shift), whatever
 * bytes were in the config space before, and no encoder writes outside its capability body.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigSpace } from '../../../src/pci/config-space.js';
import { ACS_BITS, decodeAcs, encodeAcs, PCI_ACS, type AcsBit } from '../../../src/pci/caps/acs.js';
import { atsQueueDepth, decodeAts, encodeAts } from '../../../src/pci/caps/ats.js';
import {
  decodeCxlDevice,
  decodeDvsecHeader,
  encodeCxlDevice,
  encodeDvsecHeader,
  isCxlDeviceDvsec,
} from '../../../src/pci/caps/dvsec.js';
import { decodeExpress, encodeExpress, PCI_CAP_EXP_SIZEOF } from '../../../src/pci/caps/express.js';
import { decodePasid, encodePasid } from '../../../src/pci/caps/pasid.js';
import { decodePri, encodePri } from '../../../src/pci/caps/pri.js';
import { decodeSriov, encodeSriov, PCI_EXT_CAP_SRIOV_SIZEOF } from '../../../src/pci/caps/sriov.js';

const RUNS = { numRuns: 300 };

/** A full config space of random bytes, and a dword-aligned capability offset inside it. */
const background = fc.uint8Array({ minLength: 4096, maxLength: 4096 });
const extOffset = (size: number) => fc.integer({ min: 0x100 / 4, max: (4096 - size) / 4 }).map((d) => d * 4);
const stdOffset = (size: number) => fc.integer({ min: 0x40 / 4, max: (256 - size) / 4 }).map((d) => d * 4);

/** Encodes into a random config space; checks bytes outside [lo, hi) are untouched. */
function encodeInto(
  bytes: Uint8Array,
  lo: number,
  hi: number,
  encode: (cs: ConfigSpace) => void,
): ConfigSpace {
  const cs = new ConfigSpace(4096, bytes);
  const before = cs.bytes.slice();
  encode(cs);
  for (let i = 0; i < 4096; i++) {
    if (i >= lo && i < hi) continue;
    if (cs.bytes[i] !== before[i])
      throw new Error(
        `encoder wrote byte 0x${i.toString(16)} outside [0x${lo.toString(16)}, 0x${hi.toString(16)})`,
      );
  }
  return cs;
}

const acsBits = fc.subarray<AcsBit>(ACS_BITS);
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

describe('capability encoders round-trip through their decoders', () => {
  it('PCI Express', () => {
    fc.assert(
      fc.property(
        background,
        stdOffset(PCI_CAP_EXP_SIZEOF),
        fc.record({
          portType: fc.integer({ min: 0, max: 15 }),
          version: fc.integer({ min: 1, max: 2 }),
          slotImplemented: fc.boolean(),
          flrCapable: fc.boolean(),
          initiateFlr: fc.boolean(),
          eeTlpPrefix: fc.boolean(),
        }),
        (bytes, o, f) => {
          const cs = encodeInto(bytes, o + 2, o + PCI_CAP_EXP_SIZEOF, (c) => {
            encodeExpress(c, o, f);
          });
          const d = decodeExpress(cs, o);
          expect(d).toEqual({
            offset: o,
            version: f.version,
            portType: f.portType,
            slotImplemented: f.slotImplemented,
            flrCapable: f.flrCapable,
            initiateFlr: f.initiateFlr,
            // DevCap2 exists only from version 2 of the capability.
            eeTlpPrefix: f.version >= 2 ? f.eeTlpPrefix : false,
          });
        },
      ),
      RUNS,
    );
  });

  it('ATS: queue depth 1..32 (32 as 0), STU as a page shift', () => {
    fc.assert(
      fc.property(
        background,
        extOffset(8),
        fc.record({
          queueDepth: fc.integer({ min: 1, max: 32 }),
          pageAligned: fc.boolean(),
          globalInvalidate: fc.boolean(),
          enabled: fc.boolean(),
          stu: fc.integer({ min: 12, max: 12 + 31 }),
        }),
        (bytes, o, f) => {
          const cs = encodeInto(bytes, o + 4, o + 8, (c) => {
            encodeAts(c, o, f);
          });
          const d = decodeAts(cs, o);
          expect(d.offset).toBe(o);
          expect(atsQueueDepth(d.queueDepthRaw!)).toBe(f.queueDepth);
          expect(d.queueDepthRaw).toBe(f.queueDepth === 32 ? 0 : f.queueDepth);
          expect(d.stuRaw! + 12).toBe(f.stu);
          expect(d.pageAligned).toBe(f.pageAligned);
          expect(d.globalInvalidate).toBe(f.globalInvalidate);
          expect(d.enabled).toBe(f.enabled);
        },
      ),
      RUNS,
    );
  });

  it('SR-IOV', () => {
    fc.assert(
      fc.property(
        background,
        extOffset(PCI_EXT_CAP_SRIOV_SIZEOF),
        fc.record({
          totalVFs: u16,
          initialVFs: u16,
          numVFs: u16,
          vfEnable: fc.boolean(),
          vfMse: fc.boolean(),
          ariHierarchy: fc.boolean(),
          firstVfOffset: u16,
          vfStride: u16,
          vfDeviceId: u16,
          supportedPageSizes: u32,
          systemPageSize: u32,
        }),
        (bytes, o, f) => {
          const cs = encodeInto(bytes, o + 4, o + PCI_EXT_CAP_SRIOV_SIZEOF, (c) => {
            encodeSriov(c, o, f);
          });
          const d = decodeSriov(cs, o);
          const { funcDependencyLink: _link, offset, ...fields } = d;
          expect(offset).toBe(o);
          expect(fields).toEqual(f);
        },
      ),
      RUNS,
    );
  });

  it('SR-IOV defaults: InitialVFs = TotalVFs, no VFs, VF Enable off', () => {
    fc.assert(
      fc.property(background, extOffset(PCI_EXT_CAP_SRIOV_SIZEOF), u16, (bytes, o, total) => {
        const cs = encodeInto(bytes, o + 4, o + PCI_EXT_CAP_SRIOV_SIZEOF, (c) => {
          encodeSriov(c, o, { totalVFs: total, firstVfOffset: 1, vfStride: 1, vfDeviceId: 0x10ca });
        });
        const d = decodeSriov(cs, o);
        expect([d.initialVFs, d.totalVFs, d.numVFs, d.vfEnable]).toEqual([total, total, 0, false]);
      }),
      RUNS,
    );
  });

  it('PASID', () => {
    fc.assert(
      fc.property(
        background,
        extOffset(8),
        fc.record({
          width: fc.integer({ min: 0, max: 31 }),
          exec: fc.boolean(),
          priv: fc.boolean(),
          enabled: fc.boolean(),
          execEnabled: fc.boolean(),
          privEnabled: fc.boolean(),
        }),
        (bytes, o, f) => {
          const cs = encodeInto(bytes, o + 4, o + 8, (c) => {
            encodePasid(c, o, f);
          });
          expect(decodePasid(cs, o)).toEqual({ offset: o, ...f });
        },
      ),
      RUNS,
    );
  });

  it('PRI', () => {
    fc.assert(
      fc.property(
        background,
        extOffset(16),
        fc.record({
          enabled: fc.boolean(),
          stopped: fc.boolean(),
          pasidRequired: fc.boolean(),
          capacity: u32,
          allocation: u32,
        }),
        (bytes, o, f) => {
          const cs = encodeInto(bytes, o + 4, o + 16, (c) => {
            encodePri(c, o, f);
          });
          expect(decodePri(cs, o)).toEqual({
            offset: o,
            ...f,
            reset: false,
            responseFailure: false,
            unexpectedPrgIndex: false,
          });
        },
      ),
      RUNS,
    );
  });

  it('ACS', () => {
    fc.assert(
      fc.property(background, extOffset(8), acsBits, acsBits, (bytes, o, capability, control) => {
        const cs = encodeInto(bytes, o + 4, o + 8, (c) => {
          encodeAcs(c, o, { capability, control });
        });
        const d = decodeAcs(cs, o);
        const bits = (mask: number | null): AcsBit[] =>
          ACS_BITS.filter((b) => ((mask ?? 0) & PCI_ACS[b]) !== 0);
        expect(bits(d.capability)).toEqual(ACS_BITS.filter((b) => capability.includes(b)));
        expect(bits(d.control)).toEqual(ACS_BITS.filter((b) => control.includes(b)));
      }),
      RUNS,
    );
  });

  it('DVSEC header', () => {
    fc.assert(
      fc.property(
        background,
        extOffset(12),
        fc.record({
          vendor: u16,
          id: u16,
          revision: fc.integer({ min: 0, max: 15 }),
          length: fc.integer({ min: 0, max: 0xfff }),
        }),
        (bytes, o, f) => {
          const cs = encodeInto(bytes, o + 4, o + 10, (c) => {
            encodeDvsecHeader(c, o, f);
          });
          expect(decodeDvsecHeader(cs, o)).toEqual({ offset: o, ...f });
        },
      ),
      RUNS,
    );
  });

  it('CXL Device DVSEC', () => {
    fc.assert(
      fc.property(
        background,
        extOffset(0x38),
        fc.record({
          revision: fc.integer({ min: 0, max: 15 }),
          cacheCapable: fc.boolean(),
          ioCapable: fc.boolean(),
          memCapable: fc.boolean(),
          hdmCount: fc.integer({ min: 0, max: 3 }),
          cacheEnabled: fc.boolean(),
        }),
        (bytes, o, f) => {
          const cs = encodeInto(bytes, o + 4, o + 0x38, (c) => {
            encodeCxlDevice(c, o, f);
          });
          const h = decodeDvsecHeader(cs, o);
          expect(isCxlDeviceDvsec(h)).toBe(true);
          expect(decodeCxlDevice(cs, h)).toEqual({ offset: o, ...f });
        },
      ),
      RUNS,
    );
  });
});
