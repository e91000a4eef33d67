/**
 * Kernel-model benchmarks (figures only; speed is never asserted in tests):
 *  - DMA map/unmap churn on a 64-function machine: 64 ATS endpoints, each bound to a DMA-API
 *    driver, strict invalidation (iommu.strict=1, so every unmap issues CMD_ATC_INV and waits for
 *    its CMD_SYNC), with the invariant checks off and on. An operation is one dma-map or one
 *    dma-unmap run to completion; goals: >= 1,000,000/s off, >= 200,000/s on.
 *  - Clone and fingerprint a state of that machine: a Tx that changes one record then commits
 *    (incremental fingerprint), and fingerprintFull() of the whole state; goal < 2 µs per state.
 * Run: npx tsx bench/kernel-model.bench.ts [operations]
 */
import '../src/model/handlers.js';
import { smmuv3Ops } from '../src/drivers/smmuv3/ops.js';
import { INVARIANTS } from '../src/invariants/catalogue.js';
import { checkInvariants } from '../src/invariants/invariant.js';
import { resolveKernel } from '../src/kernel/config.js';
import { fingerprintFull } from '../src/model/fingerprint.js';
import type { SystemState } from '../src/model/state.js';
import { runOp } from '../src/model/step.js';
import { Tx } from '../src/model/tx.js';
import { createWorld, initialState } from '../src/model/world-builder.js';
import type { World } from '../src/model/world.js';
import { MachineBuilder } from '../src/pci/builder.js';

const FUNCTIONS = 64;

/** 64 single-function ATS endpoints on the root bus, each its own IOMMU group. */
export function churnWorld(): World {
  const b = new MachineBuilder();
  for (let i = 0; i < FUNCTIONS; i++) {
    const dev = (i >> 1).toString(16).padStart(2, '0');
    b.function(`0000:${i & 1 ? '02' : '01'}:${dev}.0`, { vendorId: 0x15b3, deviceId: 0x1021, ats: {} });
  }
  return createWorld(b.build(), {
    kernel: resolveKernel('v7.3', {}, 'iommu.strict=1'),
    ops: smmuv3Ops,
    physPages: 2 * FUNCTIONS,
    iovaPages: 4,
  });
}

/** Booted, every function bound to a DMA-API driver. */
export function churnState(world: World): SystemState {
  let s = runOp(world, initialState(world), { op: 'boot' }).state;
  for (let f = 0; f < FUNCTIONS; f++) {
    const r = runOp(world, s, { op: 'bind', f, kind: 'dma' });
    if (r.ret !== 0) throw new Error(`bench: bind of function ${f} failed (${r.ret})`);
    s = r.state;
  }
  if (!s.pci.every((p) => p.atsEnabled)) throw new Error('bench: ATS is not on everywhere');
  return s;
}

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/**
 * `ops` operations: for each function in turn a dma-map, and on the next visit the unmap of that
 * mapping. With `check`, every invariant after each step (the unmap's two phases included).
 */
function churn(
  world: World,
  start: SystemState,
  ops: number,
  check: boolean,
): { perSecond: number; perCpuSecond: number; violations: number } {
  let s = start;
  const iova = new Int32Array(FUNCTIONS).fill(-1);
  let violations = 0;
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (let i = 0; i < ops; i++) {
    const f = i % FUNCTIONS;
    const mapped = iova[f]!;
    const r =
      mapped < 0
        ? runOp(world, s, { op: 'dma-map', f })
        : runOp(world, s, { op: 'dma-unmap', f, iova: mapped });
    if (mapped < 0) {
      if (r.ret === null || r.ret < 0) throw new Error(`bench: dma-map failed (${r.ret})`);
      iova[f] = r.ret;
    } else iova[f] = -1;
    s = r.state;
    if (check) violations += checkInvariants(world, s, r.events, INVARIANTS).length;
  }
  const cpu = process.cpuUsage(c0);
  return { perSecond: ops / seconds(t0), perCpuSecond: ops / ((cpu.user + cpu.system) / 1e6), violations };
}

/** The rate per second of this process's CPU time (user + system), which a busy shared machine disturbs less than the wall clock. */
function cpuRate(perCpuSecond: number): string {
  return `${Math.round(perCpuSecond).toLocaleString('en-US')} per CPU second`;
}

function nsPer(n: number, fn: (i: number) => void): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return Number(process.hrtime.bigint() - t0) / n;
}

export async function kernelModelBench(
  log: (s: string) => void,
  opts: { ops?: number } = {},
): Promise<unknown> {
  const ops = opts.ops ?? 1_000_000;
  const world = churnWorld();
  const start = churnState(world);

  churn(world, start, 20_000, true); // warm-up
  const off = churn(world, start, ops, false);
  log(
    `kernel model: DMA map/unmap churn, ${FUNCTIONS} functions, checks off: ${Math.round(off.perSecond).toLocaleString('en-US')} ops/s (goal >= 1,000,000; ${cpuRate(off.perCpuSecond)})`,
  );
  const on = churn(world, start, ops, true);
  log(
    `kernel model: DMA map/unmap churn, ${FUNCTIONS} functions, ${INVARIANTS.length} invariants checked after every step: ${Math.round(on.perSecond).toLocaleString('en-US')} ops/s (goal >= 200,000; ${cpuRate(on.perCpuSecond)}), ${on.violations} violations`,
  );

  // One record changed through a Tx, committed with its incremental fingerprint.
  const n = 1_000_000;
  let s = start;
  const txNs = nsPer(n, (i) => {
    const tx = new Tx(world, s);
    const f = i % FUNCTIONS;
    tx.mutDevice(f).pendingInv = (i >> 6) & 7;
    s = tx.commit();
  });
  log(
    `kernel model: clone + incremental fingerprint (Tx changing one record, commit): ${txNs.toFixed(0)} ns/state (goal < 2,000)`,
  );
  const fullNs = nsPer(200_000, () => {
    fingerprintFull(start);
  });
  log(
    `kernel model: fingerprintFull of the ${FUNCTIONS}-function state (every record hashed): ${fullNs.toFixed(0)} ns/state`,
  );
  await Promise.resolve();
  return {
    functions: FUNCTIONS,
    operations: ops,
    churnOpsPerSecondChecksOff: Math.round(off.perSecond),
    churnOpsPerSecondChecksOn: Math.round(on.perSecond),
    churnOpsPerCpuSecondChecksOff: Math.round(off.perCpuSecond),
    churnOpsPerCpuSecondChecksOn: Math.round(on.perCpuSecond),
    churnViolations: on.violations,
    txCommitNsPerState: Math.round(txNs),
    fingerprintFullNsPerState: Math.round(fullNs),
  };
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const arg = process.argv[2];
  void kernelModelBench((l) => process.stderr.write(l + '\n'), arg === undefined ? {} : { ops: Number(arg) });
}
