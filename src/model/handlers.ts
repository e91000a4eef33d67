/**
 * Loads every entry-point module so their handlers are registered. Each layer registers its own
 * (src/iommu/entry-points.ts, src/device/entry-points.ts, ...); import this module before stepping.
 */
import '../device/entry-points.js';
import '../iommu/entry-points.js';

export {};
