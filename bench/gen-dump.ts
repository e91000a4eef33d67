/**
 * Writes a synthetic `lspci -D -xxxx` dump: N PFs, each with ATS, PASID and SR-IOV with `vfs`
 * enabled VFs listed explicitly (each VF with ATS). PF k sits at segment k / 200, bus k % 200 + 1,
 * device 0 function 0; its VFs follow at First VF Offset 1, stride 1.
 */
import { ConfigSpace } from '../src/pci/config-space.js';
import { encodeAts } from '../src/pci/caps/ats.js';
import { encodeExpress, PCI_EXP_TYPE } from '../src/pci/caps/express.js';
import { encodePasid } from '../src/pci/caps/pasid.js';
import { encodeSriov } from '../src/pci/caps/sriov.js';

function header(cs: ConfigSpace, vendor: number, device: number): void {
  cs.write16(0x00, vendor);
  cs.write16(0x02, device);
  cs.write16(0x06, 0x0010); // Status: capability list
  cs.write8(0x08, 0x01);
  cs.write8(0x0b, 0x02); // class 0200 Ethernet
  cs.write8(0x0e, 0x80);
  cs.write8(0x34, 0x40);
  cs.write8(0x40, 0x10); // PCI Express capability, end of list
  encodeExpress(cs, 0x40, { portType: PCI_EXP_TYPE.ENDPOINT, flrCapable: true });
}

function extHeader(cs: ConfigSpace, off: number, id: number, next: number): void {
  cs.write32(off, id | (1 << 16) | (next << 20));
}

export function pfConfig(vfs: number): ConfigSpace {
  const cs = new ConfigSpace(4096);
  header(cs, 0x15b3, 0x101d);
  extHeader(cs, 0x100, 0x0f, 0x110);
  encodeAts(cs, 0x100, { queueDepth: 32, pageAligned: true, enabled: false, stu: 12 });
  extHeader(cs, 0x110, 0x1b, 0x120);
  encodePasid(cs, 0x110, { width: 20, exec: true, priv: true });
  extHeader(cs, 0x120, 0x10, 0);
  encodeSriov(cs, 0x120, {
    totalVFs: vfs,
    numVFs: vfs,
    vfEnable: true,
    vfMse: true,
    firstVfOffset: 1,
    vfStride: 1,
    vfDeviceId: 0x101e,
  });
  return cs;
}

export function vfConfig(): ConfigSpace {
  const cs = new ConfigSpace(4096);
  header(cs, 0x15b3, 0x101e);
  extHeader(cs, 0x100, 0x0f, 0);
  encodeAts(cs, 0x100, { queueDepth: 32, pageAligned: true, enabled: false, stu: 12 });
  return cs;
}

function hexBlock(cs: ConfigSpace): string {
  const lines: string[] = [];
  for (let off = 0; off < cs.size; off += 16) {
    const bytes: string[] = [];
    for (let i = 0; i < 16; i++)
      bytes.push(
        cs
          .read8(off + i)
          .toString(16)
          .padStart(2, '0'),
      );
    lines.push(`${off.toString(16).padStart(2, '0')}: ${bytes.join(' ')}`);
  }
  return lines.join('\n') + '\n';
}

function bdf(seg: number, bus: number, devfn: number): string {
  return `${seg.toString(16).padStart(4, '0')}:${bus.toString(16).padStart(2, '0')}:${(devfn >> 3).toString(16).padStart(2, '0')}.${devfn & 7}`;
}

/** Returns the dump as chunks (a 30k-function dump is ~400 MB: too big for one string). */
export function* generateDump(pfs: number, vfs: number): Generator<string> {
  const pf = hexBlock(pfConfig(vfs));
  const vf = hexBlock(vfConfig());
  for (let k = 0; k < pfs; k++) {
    const seg = Math.floor(k / 200);
    const bus = (k % 200) + 1;
    let chunk = `${bdf(seg, bus, 0)} Ethernet controller [0200]: Mellanox Technologies Device [15b3:101d] (rev 01)\n${pf}\n`;
    for (let n = 0; n < vfs; n++) {
      chunk += `${bdf(seg, bus, 1 + n)} Ethernet controller [0200]: Mellanox Technologies Device [15b3:101e] (rev 01)\n${vf}\n`;
    }
    yield chunk;
  }
}
