/**
 * Issue-2 benchmark: `atsim inspect --format json` against `lspci -F FILE -vvv` on a synthetic
 * `-xxxx` dump of 200 PFs × (1 + 49 VFs) = 10,000 functions, whole process to whole process, plus
 * 1k and 30k functions for linearity. Each command runs twice and the faster run counts, for both
 * tools alike. Peak memory comes from GNU time when it is installed.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDump } from './gen-dump.js';
import { repoRoot } from './repo-root.js';

const repo = repoRoot(import.meta.dirname);
const atsim = join(repo, 'bin', 'atsim.js');

async function writeDump(file: string, pfs: number, vfs: number): Promise<void> {
  const out = createWriteStream(file);
  for (const chunk of generateDump(pfs, vfs)) {
    if (!out.write(chunk))
      await new Promise((r) =>
        out.once('drain', () => {
          r(undefined);
        }),
      );
  }
  await new Promise<void>((resolve, reject) => {
    out.end((e?: Error | null) => {
      if (e) reject(e);
      else resolve();
    });
  });
}

/** The faster of two runs of the same command (the first may pay for a just-written file). */
function best(cmd: string, args: string[]): Run {
  const a = timed(cmd, args);
  const b = timed(cmd, args);
  return b.seconds < a.seconds ? b : a;
}

interface Run {
  seconds: number;
  peakMiB: number | null;
  status: number | null;
}

function timed(cmd: string, args: string[]): Run {
  const gnuTime = existsSync('/usr/bin/time');
  const t0 = process.hrtime.bigint();
  const r = gnuTime
    ? spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], {
        encoding: 'utf8',
        maxBuffer: 1 << 30,
        stdio: ['ignore', 'ignore', 'pipe'],
      })
    : spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'ignore', 'pipe'] });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  let peakMiB: number | null = null;
  if (gnuTime) {
    const last = r.stderr.trim().split('\n').at(-1) ?? '';
    const kb = Number(last);
    if (Number.isFinite(kb)) peakMiB = kb / 1024;
  }
  return { seconds, peakMiB, status: r.status };
}

export async function inspectBench(log: (s: string) => void): Promise<unknown> {
  const dir = mkdtempSync(join(tmpdir(), 'atsim-bench-'));
  const rows: Record<string, unknown>[] = [];
  try {
    for (const [pfs, label] of [
      [20, '1k'],
      [200, '10k'],
      [600, '30k'],
    ] as const) {
      const file = join(dir, `dump-${label}.txt`);
      await writeDump(file, pfs, 49);
      const mb = statSync(file).size / 1e6;
      const a = best(process.execPath, [atsim, 'inspect', file, '--format', 'json']);
      if (a.status !== 0) throw new Error(`atsim inspect exited ${a.status} on ${label}`);
      const row: Record<string, unknown> = {
        functions: pfs * 50,
        mb: +mb.toFixed(1),
        atsimSeconds: +a.seconds.toFixed(2),
        atsimPeakMiB: a.peakMiB && +a.peakMiB.toFixed(0),
      };
      if (label === '10k') {
        const l = best('lspci', ['-F', file, '-vvv']);
        row.lspciSeconds = +l.seconds.toFixed(2);
        row.lspciPeakMiB = l.peakMiB && +l.peakMiB.toFixed(0);
        row.speedup = +(l.seconds / a.seconds).toFixed(2);
      }
      rows.push(row);
      log(`inspect ${label}: ${JSON.stringify(row)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
