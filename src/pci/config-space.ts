/**
 * One function's configuration space: up to 4096 bytes, little-endian typed access.
 * `size` is how many bytes the input actually showed (64, 256 or 4096); reads past it are
 * not data, so decoders check `has()` first and report what they could not see.
 */

export const PCI_CFG_SPACE_SIZE = 256;
export const PCI_CFG_SPACE_EXP_SIZE = 4096;

export class ConfigSpace {
  readonly bytes: Uint8Array;
  /** Number of bytes that hold real data. */
  readonly size: number;

  constructor(size: number = PCI_CFG_SPACE_EXP_SIZE, bytes?: Uint8Array) {
    if (size < 0 || size > PCI_CFG_SPACE_EXP_SIZE)
      throw new RangeError(`config space size ${size} out of range`);
    this.size = size;
    this.bytes = new Uint8Array(PCI_CFG_SPACE_EXP_SIZE);
    if (bytes !== undefined)
      this.bytes.set(bytes.subarray(0, Math.min(bytes.length, PCI_CFG_SPACE_EXP_SIZE)));
  }

  /** True when `width` bytes at `offset` are inside the data the input showed. */
  has(offset: number, width = 1): boolean {
    return Number.isInteger(offset) && offset >= 0 && offset + width <= this.size;
  }

  private check(offset: number, width: number): void {
    if (!Number.isInteger(offset) || offset < 0 || offset + width > PCI_CFG_SPACE_EXP_SIZE) {
      throw new RangeError(`config access of ${width} bytes at 0x${offset.toString(16)} is out of range`);
    }
  }

  read8(offset: number): number {
    this.check(offset, 1);
    return this.bytes[offset]!;
  }

  read16(offset: number): number {
    this.check(offset, 2);
    return this.bytes[offset]! | (this.bytes[offset + 1]! << 8);
  }

  read32(offset: number): number {
    this.check(offset, 4);
    return (
      (this.bytes[offset]! |
        (this.bytes[offset + 1]! << 8) |
        (this.bytes[offset + 2]! << 16) |
        (this.bytes[offset + 3]! << 24)) >>>
      0
    );
  }

  write8(offset: number, value: number): void {
    this.check(offset, 1);
    this.bytes[offset] = value & 0xff;
  }

  write16(offset: number, value: number): void {
    this.check(offset, 2);
    this.bytes[offset] = value & 0xff;
    this.bytes[offset + 1] = (value >>> 8) & 0xff;
  }

  write32(offset: number, value: number): void {
    this.check(offset, 4);
    this.bytes[offset] = value & 0xff;
    this.bytes[offset + 1] = (value >>> 8) & 0xff;
    this.bytes[offset + 2] = (value >>> 16) & 0xff;
    this.bytes[offset + 3] = (value >>> 24) & 0xff;
  }

  clone(): ConfigSpace {
    return new ConfigSpace(this.size, this.bytes);
  }
}
