/**
 * The entry points of the device side and of the DMA API: what a function does on its own (DMA,
 * Translation Requests, faults), what a driver asks of dma-iommu (map, unmap, the flush-queue
 * timer), and arming kernel-call failures for a scenario.
 */
import {
  iommu_dma_fq_flush,
  iommu_dma_map,
  iommu_dma_unmap_finish,
  iommu_dma_unmap_start,
} from '../iommu/dma-iommu.js';
import { registerHandlers } from '../model/step.js';
import { atc_fill } from './atc.js';
import { device_dma } from './dma.js';

const DONE = { ret: null, cont: null } as const;

registerHandlers({
  'dma-map': (tx, op) => ({ ret: iommu_dma_map(tx, op.f, op.pasid ?? 0), cont: null }),
  'dma-unmap': (tx, op, cont) =>
    cont !== null && cont.phase === 1
      ? iommu_dma_unmap_finish(tx, cont)
      : iommu_dma_unmap_start(tx, op.f, op.iova, op.pasid ?? 0),
  'fq-flush': (tx) => {
    iommu_dma_fq_flush(tx);
    return { ret: 0, cont: null };
  },
  'device-dma': (tx, op) => {
    device_dma(tx, op.f, op.pasid ?? 0, op.iova, op.translated);
    return DONE;
  },
  'atc-fill': (tx, op) => {
    atc_fill(tx, op.f, op.pasid ?? 0, op.iova);
    return DONE;
  },
  'device-fault': (tx, op) => {
    const dev = tx.mutDevice(op.f);
    switch (op.fault) {
      case 'stop-answering':
        dev.unresponsive = true;
        break;
      case 'hold-atc':
        dev.holdAtc = true;
        break;
    }
    return DONE;
  },
  'arm-fault': (tx, op) => {
    tx.setFaults([...tx.faults(), { fn: op.fn, f: op.f, skip: op.skip, errno: op.errno }]);
    return DONE;
  },
});
