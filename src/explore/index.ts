/** The explorer's public surface (the core: runs in a browser; workers are in src/node). */
export type { Emit, Model, ModelFactory, ModelRef, StateCodec, StateTransfer } from './model.js';
export { fingerprintOf, fpHex, NO_VIOLATIONS } from './model.js';
export type { Budget, Limits, StopReason } from './limits.js';
export { DEFAULT_MEMORY_BUDGET, MemoryBudget, SharedMemoryBudget } from './limits.js';
export type { ExploreOptions } from './options.js';
export { ownerOf } from './options.js';
export type {
  ActionCoverage,
  CollisionEstimate,
  ExploreResult,
  ExploreResultJson,
  Progress,
  Strategy,
  TraceStep,
  Violation,
} from './result.js';
export { collisionEstimate, resultToJson } from './result.js';
export { FingerprintSet, FULL, NO_PARENT, PRESENT } from './fingerprint-set.js';
export { SharedFingerprintTable } from './shared-fingerprint-table.js';
export { TraceStore } from './trace-store.js';
export type { Path } from './trace.js';
export { pathTo, replay } from './trace.js';
export { explore } from './explore.js';
export { bfs } from './bfs.js';
export { dfs } from './dfs.js';
export { randomWalks } from './random-walk.js';
export { Rng } from './rng.js';
export type { MergedShards, ShardMode, ShardOptions, ShardResult, ShardSpec } from './shard.js';
export {
  decodeFingerprints,
  encodeFingerprints,
  mergeShards,
  parseShard,
  runShard,
  SHARD_FORMAT,
} from './shard.js';
export type { AtsPacked, AtsReferenceParams, AtsReferenceState } from './models/ats-reference.js';
export { AtsReference, atsReferencePromela, createAtsReference } from './models/ats-reference.js';
export type { KernelChoice, KernelExploreState, KernelModelSpec, KernelStep } from './models/kernel.js';
export { createKernelModel, KernelModel } from './models/kernel.js';
