/**
 * Reading the live PCI topology from sysfs: every `${root}/bus/pci/devices/<bdf>` entry.
 *
 * What the kernel exposes there, and what atsim takes from it:
 * - `config`: the configuration space (drivers/pci/pci-sysfs.c, pci_read_config()). The file's
 *   size is the function's config size (256 or 4096), but a reader without CAP_SYS_ADMIN gets
 *   only the first 64 bytes (128 for CardBus bridges): no capabilities at all. That is reported.
 * - `vendor`, `device`: the kernel's IDs. For a VF they differ from the config bytes (a VF's ID
 *   registers read 0xffff; the kernel fills them from the PF, virtfn_add() in drivers/pci/iov.c),
 *   so these win over the config bytes.
 * - `physfn`: a symlink from a VF to its PF (drivers/pci/iov.c, pci_iov_sysfs_link()).
 * - `driver`: a symlink to the bound driver; its basename is the driver's name.
 * - `removable` (drivers/base/core.c, removable_show(); created only when the device's
 *   removable state is not "not supported"): PCI sets DEVICE_REMOVABLE in pci_set_removable()
 *   (drivers/pci/probe.c) for a function whose upstream bridge is external-facing or itself
 *   removable, so the file reads "removable" below an external-facing port and is absent on
 *   fixed devices.
 * - There is no sysfs attribute for `external_facing` or `untrusted` (pci-sysfs.c defines none;
 *   the flag comes from ACPI `_DSD` ExternalFacingPort or the DT `external-facing` property).
 *   So the port is inferred: a function that reads "removable" while its upstream bridge (the
 *   parent directory of its resolved /sys/devices path) does not, has an external-facing
 *   upstream bridge. That bridge gets `externalFacing: true` with an `external-facing-inferred`
 *   diagnostic; every other function's externalFacing is null (unknown).
 *
 * A config file of exactly 256 bytes, read in full, is a function without extended config space
 * (pci_cfg_space_size() in drivers/pci/probe.c): the kernel sees no ATS/SR-IOV/PASID/PRI there,
 * so these are recorded as absent rather than unknown.
 *
 * Problems (an unreadable entry, a missing config file) are diagnostics naming the path; only a
 * missing root throws (InputError).
 */
import {
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  statSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InputError, type Diagnostic } from '../diagnostics.js';
import { canonicalBdf, type Bdf } from '../pci/bdf.js';
import { ConfigSpace, PCI_CFG_SPACE_EXP_SIZE, PCI_CFG_SPACE_SIZE } from '../pci/config-space.js';
import { decodeFunction } from '../pci/decode.js';
import type { PciFunction } from '../pci/function.js';

export interface SysfsRead {
  readonly functions: PciFunction[];
  readonly diagnostics: Diagnostic[];
}

interface RawEntry {
  readonly bdf: Bdf;
  readonly path: string;
  readonly config: Uint8Array;
  readonly declaredSize: number;
  readonly vendor: number | null;
  readonly device: number | null;
  readonly physfn: Bdf | null;
  readonly driver: string | null;
  readonly removable: string | null;
  /** The upstream bridge by sysfs device path, when the parent directory is a PCI function. */
  readonly upstream: Bdf | null;
}

/** The `unknown` names decodeFunction gives when it could not see extended config space. */
const EXT_CAP_FIELDS = new Set(['ats', 'sriov', 'pasid', 'pri', 'acs', 'cxl']);

function errText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === undefined ? e.message : `${code}: ${e.message}`;
  }
  return String(e);
}

/** Reads a small text attribute; null when absent or unreadable. */
function readAttr(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

function readHexAttr(path: string, max: number): number | null {
  const t = readAttr(path);
  if (t === null || !/^0x[0-9a-fA-F]+$/.test(t)) return null;
  const v = parseInt(t, 16);
  return v <= max ? v : null;
}

/** The basename of a symlink's target, or null when `path` is not a symlink. */
function linkName(path: string): string | null {
  try {
    if (!lstatSync(path).isSymbolicLink()) return null;
    return basename(readlinkSync(path));
  } catch {
    return null;
  }
}

function readEntry(devicesDir: string, name: string, diagnostics: Diagnostic[]): RawEntry | null {
  const path = join(devicesDir, name);
  const bdf = canonicalBdf(name);
  if (bdf === null) {
    diagnostics.push({
      code: 'sysfs-not-a-bdf',
      message: `${path}: entry name is not a PCI address; skipped`,
    });
    return null;
  }
  const configPath = join(path, 'config');
  let config: Uint8Array;
  let declaredSize: number;
  try {
    declaredSize = statSync(configPath).size;
    config = readFileSync(configPath);
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    diagnostics.push({
      code: missing ? 'sysfs-config-missing' : 'sysfs-config-unreadable',
      message: `${configPath}: ${missing ? 'no config file' : `cannot read (${errText(e)})`}; ${bdf} skipped`,
      where: { bdf },
    });
    return null;
  }
  let upstream: Bdf | null;
  try {
    upstream = canonicalBdf(basename(dirname(realpathSync(path))));
  } catch {
    upstream = null;
  }
  const physfnTarget = linkName(join(path, 'physfn'));
  const physfn = physfnTarget === null ? null : canonicalBdf(physfnTarget);
  if (physfnTarget !== null && physfn === null)
    diagnostics.push({
      code: 'sysfs-physfn-invalid',
      message: `${join(path, 'physfn')}: link target '${physfnTarget}' is not a PCI address; ignored`,
      where: { bdf },
    });
  return {
    bdf,
    path,
    config,
    declaredSize,
    vendor: readHexAttr(join(path, 'vendor'), 0xffff),
    device: readHexAttr(join(path, 'device'), 0xffff),
    physfn,
    driver: linkName(join(path, 'driver')),
    removable: readAttr(join(path, 'removable')),
    upstream: upstream === bdf ? null : upstream,
  };
}

/** Reads every PCI function under `${root}/bus/pci/devices`. `root` is `/sys` on a live system. */
export function readSysfs(root: string): SysfsRead {
  if (!existsSync(root))
    throw new InputError({ code: 'sysfs-root-missing', message: `sysfs root ${root} does not exist` });
  const diagnostics: Diagnostic[] = [];
  const devicesDir = join(root, 'bus', 'pci', 'devices');
  let names: string[];
  try {
    names = readdirSync(devicesDir).sort();
  } catch (e) {
    diagnostics.push({
      code: 'sysfs-unreadable',
      message: `${devicesDir}: cannot list PCI devices (${errText(e)})`,
    });
    return { functions: [], diagnostics };
  }

  const raws: RawEntry[] = [];
  for (const name of names) {
    const r = readEntry(devicesDir, name, diagnostics);
    if (r !== null) raws.push(r);
  }

  // External-facing ports, inferred from the `removable` marks of what sits below them.
  const byBdf = new Map(raws.map((r) => [r.bdf, r]));
  const external = new Set<Bdf>();
  for (const r of raws) {
    if (r.removable !== 'removable' || r.upstream === null) continue;
    const up = byBdf.get(r.upstream);
    if (up === undefined || up.removable === 'removable' || external.has(up.bdf)) continue;
    external.add(up.bdf);
    diagnostics.push({
      code: 'external-facing-inferred',
      message: `${r.path}/removable says "removable" but its upstream bridge ${up.bdf} is not removable: ${up.bdf} is taken as an external-facing port (the kernel sets "removable" only below one, pci_set_removable())`,
      where: { bdf: up.bdf },
    });
  }

  const functions: PciFunction[] = [];
  for (const r of raws) {
    const size = Math.min(r.config.length, PCI_CFG_SPACE_EXP_SIZE);
    const cs = new ConfigSpace(size, r.config);
    const extra: Diagnostic[] = [];
    if (r.config.length < r.declaredSize) {
      extra.push({
        code: 'sysfs-config-truncated',
        message: `${join(r.path, 'config')}: read ${r.config.length} of ${r.declaredSize} bytes; the kernel shows only the header to readers without CAP_SYS_ADMIN (run as root to see capabilities)`,
        where: { bdf: r.bdf },
      });
    }
    const fn = decodeFunction(cs, r.bdf, {
      sourceKind: 'sysfs',
      source: null,
      externalFacing: external.has(r.bdf) ? true : null,
      driver: r.driver,
      physfnHint: r.physfn,
    });
    const vendorId = r.vendor ?? fn.header.vendorId;
    const deviceId = r.device ?? fn.header.deviceId;
    // A complete 256-byte file means the kernel found no extended config space
    // (pci_cfg_space_size()), so it sees no extended capabilities either: absent, not unknown.
    const complete256 = r.config.length === r.declaredSize && r.declaredSize === PCI_CFG_SPACE_SIZE;
    const unknown = fn.unknown.filter((u) => !(complete256 && EXT_CAP_FIELDS.has(u)));
    if (!external.has(r.bdf)) unknown.push('externalFacing');
    functions.push({
      ...fn,
      header: { ...fn.header, vendorId, deviceId },
      extCapsReadable: complete256 ? true : fn.extCapsReadable,
      unknown,
      diagnostics: [
        ...extra,
        ...fn.diagnostics.filter((d) => !(complete256 && d.code === 'ext-caps-unreadable')),
      ],
    });
  }
  if (raws.some((r) => r.config.length < r.declaredSize)) {
    // One summary line; each function carries its own sysfs-config-truncated diagnostic.
    diagnostics.push({
      code: 'sysfs-not-root',
      message: `config space under ${devicesDir} was truncated to the header; capabilities (ATS, SR-IOV, PASID, PRI) are unknown. Run as root.`,
    });
  }
  return { functions, diagnostics };
}
