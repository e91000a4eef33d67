/** PCI addresses: `segment:bus:device.function`, always printed as `ssss:bb:dd.f`. */

export type Bdf = string;

export interface BdfParts {
  readonly segment: number;
  readonly bus: number;
  readonly device: number;
  readonly fn: number;
}

const BDF_RE = /^(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$/;

/** Parses `bb:dd.f` or `ssss:bb:dd.f` (hex). Returns null when the text is not a BDF. */
export function parseBdf(text: string): BdfParts | null {
  const m = BDF_RE.exec(text.trim());
  if (m === null) return null;
  const device = parseInt(m[3]!, 16);
  if (device > 31) return null;
  return {
    segment: m[1] === undefined ? 0 : parseInt(m[1], 16),
    bus: parseInt(m[2]!, 16),
    device,
    fn: parseInt(m[4]!, 10),
  };
}

export function formatBdf(p: BdfParts): Bdf {
  return `${p.segment.toString(16).padStart(4, '0')}:${p.bus.toString(16).padStart(2, '0')}:${p.device
    .toString(16)
    .padStart(2, '0')}.${p.fn}`;
}

/** Canonical form of a BDF text, or null. `3:0.1` is not accepted; `03:00.1` becomes `0000:03:00.1`. */
export function canonicalBdf(text: string): Bdf | null {
  const p = parseBdf(text);
  return p === null ? null : formatBdf(p);
}

/** The 16-bit routing ID (bus << 8 | devfn). */
export function routingId(p: BdfParts): number {
  return (p.bus << 8) | (p.device << 3) | p.fn;
}

export function fromRoutingId(segment: number, rid: number): BdfParts {
  return { segment, bus: (rid >> 8) & 0xff, device: (rid >> 3) & 0x1f, fn: rid & 7 };
}

/** Sort key that orders BDFs numerically. */
export function bdfSortKey(p: BdfParts): number {
  return p.segment * 0x10000 + routingId(p);
}
