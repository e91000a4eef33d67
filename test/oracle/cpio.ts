/**
 * A minimal writer of the "newc" cpio format, the one the kernel unpacks as an initramfs
 * (init/initramfs.c; the format is described in the kernel's
 * Documentation/driver-api/early-userspace/buffer-format.rst). Uncompressed: the kernel takes
 * it as is.
 */

export interface CpioEntry {
  /** Path inside the archive, without a leading slash. */
  readonly name: string;
  /** 'file', 'dir' or 'symlink' (whose data is the link target). */
  readonly kind: 'file' | 'dir' | 'symlink';
  readonly mode: number;
  readonly data?: Uint8Array;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/** The archive, ending with the TRAILER!!! entry. */
export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const push = (name: string, mode: number, data: Uint8Array, nlink: number): void => {
    const nameBytes = Buffer.from(`${name}\0`, 'utf8');
    const header =
      '070701' +
      [ino++, mode, 0, 0, nlink, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0].map(hex8).join('');
    parts.push(Buffer.from(header, 'ascii'), nameBytes, Buffer.alloc(pad4(110 + nameBytes.length)));
    parts.push(Buffer.from(data), Buffer.alloc(pad4(data.length)));
  };
  for (const e of entries) {
    const type = e.kind === 'dir' ? S_IFDIR : e.kind === 'symlink' ? S_IFLNK : S_IFREG;
    push(e.name, type | (e.mode & 0o7777), e.data ?? new Uint8Array(0), e.kind === 'dir' ? 2 : 1);
  }
  ino = 0;
  push('TRAILER!!!', 0, new Uint8Array(0), 1);
  return Buffer.concat(parts);
}
