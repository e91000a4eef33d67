/**
 * The real-kernel oracle (docs/oracle.md): Debian's 6.1 and 6.12 kernels boot under QEMU 10 with
 * an emulated VT-d IOMMU in legacy and in scalable mode; what each guest records is replayed in
 * atsim and must agree, per function and step. Nothing here skips: without QEMU, the kernels or a
 * guest that boots, the tests fail (scripts/setup.sh installs and fetches everything).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { formatCells } from './compare.js';
import { cachedKernels } from './kernels.js';
import { prepareKernel } from './kernel.js';
import { judgeRun, runPrepared, type GuestRun } from './oracle.js';
import { GUEST_DEVICES, VTD_MODES } from './qemu.js';
import { decodeStep, ORACLE_STEPS } from './replay.js';

const SERIES = ['6.1', '6.12'] as const;
/** virtio 1.0 PCI device IDs (0x1040 + the virtio device ID): entropy 4, balloon 5. */
const VIRTIO_DEVICE_ID: Readonly<Record<string, number>> = {
  'virtio-rng-pci': 0x1044,
  'virtio-balloon-pci': 0x1045,
};

const runs = new Map<string, GuestRun>();
const failures = new Map<string, string>();

function runOf(series: string, mode: string): GuestRun {
  const r = runs.get(`${series} ${mode}`);
  if (r === undefined)
    throw new Error(failures.get(`${series} ${mode}`) ?? `no guest run for ${series} ${mode}`);
  return r;
}

describe('real-kernel oracle: Debian kernels under QEMU with an emulated VT-d', () => {
  beforeAll(async () => {
    const kernels = cachedKernels();
    expect(kernels.map((k) => k.series).sort()).toEqual([...SERIES].sort());
    // One guest at a time: two at once take as long in all on two cores, and starve the other
    // tests. Each kernel is unpacked once for both modes.
    for (const k of kernels) {
      const kernel = prepareKernel(k.deb);
      try {
        for (const mode of VTD_MODES) {
          const key = `${k.series} ${mode}`;
          try {
            runs.set(key, await runPrepared(kernel, mode, 10 * 60_000));
          } catch (e) {
            failures.set(key, e instanceof Error ? e.message : String(e));
          }
        }
      } finally {
        kernel.dispose();
      }
    }
    for (const [key, r] of runs)
      console.log(
        `oracle ${key}: ${r.kernel.packageName} ${r.kernel.packageVersion}, ${r.qemu}, boot ${r.boot.seconds.toFixed(1)} s`,
      );
  }, 30 * 60_000);

  for (const series of SERIES)
    for (const mode of VTD_MODES) {
      it(`${series}, ${mode} mode: the guest boots, runs every step, and atsim's importer reads its dumps as the guest does`, () => {
        const run = runOf(series, mode);
        expect(run.log.release?.startsWith(`${series}.`)).toBe(true);
        expect(run.log.ops.filter((o) => !o.ok)).toEqual([]);
        const boot = decodeStep(
          run.log.steps.find((s) => s.name === 'boot')!,
          'guest-boot.lspci',
        );
        // The functions QEMU was given, by device ID: those with ats=on have the capability.
        const targets = run.log.targets.map((bdf) => boot.get(bdf)!);
        expect(targets.map((f) => [f.header.vendorId, f.header.deviceId, f.ats !== null])).toEqual(
          GUEST_DEVICES.map((d) => [0x1af4, VIRTIO_DEVICE_ID[d.device], d.ats]),
        );
        // The guest's own walk of the extended capabilities found ATS where atsim's decode does,
        // and its clear of ATS Control before the reset took (so the value after is the kernel's).
        for (const f of targets) {
          const cleared = run.log.atsCleared.get(f.bdf);
          expect([f.bdf, cleared?.offset ?? null]).toEqual([f.bdf, f.ats?.offset ?? null]);
          if (cleared !== undefined) expect([f.bdf, cleared.ctrl]).toEqual([f.bdf, 0]);
        }
        // Every step's dump decodes, for every function the guest listed.
        for (const s of ORACLE_STEPS) {
          const rec = run.log.steps.find((x) => x.name === s.name)!;
          expect(decodeStep(rec, `guest-${s.name}.lspci`).size).toBe(rec.functions.length);
        }
      });

      it(`${series}, ${mode} mode: atsim agrees with the guest on ATS Enable, STU and domain type at every step`, () => {
        const r = judgeRun(runOf(series, mode));
        const bad = r.cells.filter((c) => c.differ.length > 0);
        expect(bad, formatCells(r.cells)).toEqual([]);
        expect(r.cells.length).toBe(ORACLE_STEPS.length * r.run.log.targets.length);
      });
    }

  for (const series of SERIES)
    it(`${series}: the comparison tells the modes apart: the scalable-mode guest replayed in legacy mode disagrees`, () => {
      const run = runOf(series, 'scalable');
      const r = judgeRun({ ...run, mode: 'legacy' });
      expect(r.agree).toBe(false);
      expect(r.cells.filter((c) => c.differ.length > 0).map((c) => [c.step, c.differ])).toContainEqual([
        'identity',
        ['ats'],
      ]);
    });
});
