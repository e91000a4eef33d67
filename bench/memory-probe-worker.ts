/**
 * One thread of the memory-probe bench (memory-probe.ts): random probes into a hash table of 32-bit
 * words in a SharedArrayBuffer, the access pattern of the explorer's visited set (read a slot,
 * claim it with a compare-and-swap when empty, as shared-fingerprint-table.ts does).
 */
import { parentPort, workerData } from 'node:worker_threads';

const { sab, seed, probes } = workerData as { sab: SharedArrayBuffer; seed: number; probes: number };
const table = new Int32Array(sab);
const mask = table.length - 2;
let x = Math.imul(seed, 0x9e3779b1) | 1;
let found = 0;
for (let i = 0; i < probes; i++) {
  // xorshift32: a different pseudo-random slot sequence per thread.
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  const slot = (x >>> 0) & mask;
  const v = Atomics.load(table, slot);
  if (v === 0) {
    if (Atomics.compareExchange(table, slot, 0, x | 1) === 0) table[slot + 1] = i;
  } else if (v === (x | 1)) found++;
}
parentPort!.postMessage(found);
