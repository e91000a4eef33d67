/**
 * `npm run oracle -- [--kernel-deb FILE] [--mode legacy|scalable] [--preset P] [--format text|json]`:
 * boots a Debian kernel package under QEMU with an emulated VT-d IOMMU, replays the guest's steps
 * in atsim and prints the agreement table (docs/oracle.md). Without --kernel-deb it runs the
 * kernels scripts/setup.sh fetched. Exit codes: 0 every cell agrees, 1 a disagreement, 2 bad
 * input, 3 the guest could not be booted or atsim failed.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import { isPresetId, PRESET_IDS } from '../../src/kernel/presets.js';
import { formatCells } from './compare.js';
import { judgeRun, runGuests, type OracleResult } from './oracle.js';
import { VTD_MODES, type VtdMode } from './qemu.js';
import { cachedKernels } from './kernels.js';

export function resultJson(r: OracleResult): unknown {
  return {
    kernel: {
      package: r.run.kernel.packageName,
      version: r.run.kernel.packageVersion,
      release: r.run.log.release,
    },
    qemu: r.run.qemu,
    mode: r.run.mode,
    preset: r.preset,
    bootSeconds: Number(r.run.boot.seconds.toFixed(1)),
    agree: r.agree,
    cells: r.cells,
    violations: r.replay.trace.steps.flatMap((t) =>
      t.violations.map((v) => ({ step: t.text, id: v.id, bdf: v.bdf ?? null, detail: v.detail })),
    ),
  };
}

export function resultText(r: OracleResult): string {
  const n = r.cells.filter((c) => c.differ.length === 0).length;
  const viol = r.replay.trace.steps.flatMap((t) =>
    t.violations.map((v) => `  ${t.text}: ${v.id} ${v.bdf ?? ''}`),
  );
  return (
    `${r.run.kernel.packageName} ${r.run.kernel.packageVersion} (${r.run.log.release ?? '?'}), ${r.run.qemu}, ` +
    `VT-d ${r.run.mode} mode, atsim preset ${r.preset}: ${n} of ${r.cells.length} cells agree (boot ${r.run.boot.seconds.toFixed(1)} s)\n` +
    formatCells(r.cells) +
    (viol.length > 0 ? `atsim's invariant violations in the replay:\n${viol.join('\n')}\n` : '')
  );
}

async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('oracle')
    .description(
      'Boot a Debian kernel under QEMU (emulated VT-d with device-IOTLB) and compare what it does to ATS with atsim (docs/oracle.md).',
    )
    .option('--kernel-deb <file>', 'a linux-image-*.deb (default: the kernels scripts/setup.sh fetched)')
    .addOption(new Option('--mode <mode>', 'VT-d mode (default: both)').choices(VTD_MODES))
    .option('--preset <preset>', "atsim's kernel preset (default: from the kernel's version)")
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['text', 'json'] as const)
        .default('text' as const),
    )
    .option('--save <dir>', "write each run's console log, replay scenario and machine dump into this folder")
    .option('--timeout <seconds>', 'kill a guest after this long', '900')
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode;
    return code === 0 ? 0 : 2;
  }
  const o = program.opts();
  const timeout = Number(o.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) {
    process.stderr.write(`oracle: --timeout: expected seconds, got '${o.timeout}'\n`);
    return 2;
  }
  if (o.preset !== undefined && !isPresetId(o.preset)) {
    process.stderr.write(
      `oracle: --preset: unknown preset '${o.preset}'; expected one of ${PRESET_IDS.join(', ')}\n`,
    );
    return 2;
  }
  let debs: string[];
  if (o.kernelDeb !== undefined) {
    if (!existsSync(o.kernelDeb)) {
      process.stderr.write(`oracle: --kernel-deb: no file ${o.kernelDeb}\n`);
      return 2;
    }
    debs = [resolve(o.kernelDeb)];
  } else {
    try {
      debs = cachedKernels().map((k) => k.deb);
    } catch (e) {
      process.stderr.write(`oracle: ${(e as Error).message}\n`);
      return 2;
    }
  }
  const modes: readonly VtdMode[] = o.mode === undefined ? VTD_MODES : [o.mode];
  const results: OracleResult[] = [];
  for (const deb of debs) {
    let runs;
    try {
      runs = await runGuests(deb, modes, timeout * 1000);
    } catch (e) {
      process.stderr.write(`oracle: ${deb}: ${e instanceof Error ? e.message : String(e)}\n`);
      return 3;
    }
    for (const run of runs) {
      const base = `${run.log.release ?? 'guest'}-${run.mode}`;
      if (o.save !== undefined) {
        mkdirSync(o.save, { recursive: true });
        writeFileSync(join(o.save, `${base}.console.log`), run.boot.console);
      }
      let r: OracleResult;
      try {
        r = judgeRun(run, o.preset);
      } catch (e) {
        process.stderr.write(`oracle: ${deb} (${run.mode}): ${e instanceof Error ? e.message : String(e)}\n`);
        return 3;
      }
      if (o.save !== undefined) {
        writeFileSync(join(o.save, `${base}.yaml`), r.replay.scenarioText);
        writeFileSync(join(o.save, r.replay.machineFile), r.replay.machineText);
      }
      results.push(r);
      if (o.format === 'text') process.stdout.write(resultText(r) + '\n');
    }
  }
  if (o.format === 'json')
    process.stdout.write(
      JSON.stringify({ format: 'atsim-oracle', version: 1, runs: results.map(resultJson) }, null, 2) + '\n',
    );
  return results.every((r) => r.agree) ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(
      `oracle: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exitCode = 3;
  },
);
