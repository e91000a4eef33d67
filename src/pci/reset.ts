/**
 * PCI resets around the IOMMU: drivers/pci/pci.c pci_reset_function() -> pcie_flr(), and
 * cxl_reset_bus_function() -> pci_reset_bus_function() -> pci_parent_bus_reset(), written anew.
 * Each is split at the reset itself: the first phase fences the IOMMU and starts the reset (the
 * function is `resetting`: its ATC is gone, it ignores invalidations, its ATS/PASID/PRI Control
 * registers read 0), the second completes it; another thread can run in between.
 *
 * Order, as in the source: pci_reset_function() saves the config state, the reset method
 * (pcie_flr) runs pci_dev_reset_iommu_prepare() (with `reset-hooks`, f5b16b802174), resets, waits
 * for the function and runs pci_dev_reset_iommu_done(); only then does pci_dev_restore()
 * rewrite PASID, PRI and ATS Control from the kernel's records (pci_restore_state() order).
 *
 * Modelling choices: the function lock (pci_dev_lock) is the `resetting` flag: a reset started on a
 * function another thread is resetting waits. A reset that fails to complete (armed fault
 * `pcie_flr` or `pci_reset_bus_function`, the kernel's pci_dev_wait() timeout) leaves the function
 * unresponsive. DevCtl and Bridge Control are written with only the bit being set (the model does not
 * keep those registers).
 */
import { atc_flush_all } from '../device/atc.js';
import { ENODEV, ENOTTY, errnoName } from '../kernel/errno.js';
import { emitConfigWrite } from '../kernel/events.js';
import type { Continuation, PendingPhase } from '../model/state.js';
import type { StepOutcome } from '../model/step.js';
import type { Tx } from '../model/tx.js';
import { pci_dev_reset_iommu_done, pci_dev_reset_iommu_prepare } from '../iommu/reset.js';
import { pci_restore_ats_state } from './ats.js';
import { parseBdf } from './bdf.js';
import { PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_BCR_FLR } from './caps/express.js';
import { PCI_VENDOR_ID_CXL } from './caps/dvsec.js';
import { pci_restore_pasid_state } from './pasid.js';
import { pci_restore_pri_state } from './pri.js';

/** include/uapi/linux/pci_regs.h PCI_BRIDGE_CONTROL and its Secondary Bus Reset bit. */
const PCI_BRIDGE_CONTROL = 0x3e;
const PCI_BRIDGE_CTL_BUS_RESET = 0x40;
/** include/uapi/linux/pci_regs.h PCI_DVSEC_CXL_PORT: the CXL Extensions DVSEC for Ports. */
const PCI_DVSEC_CXL_PORT = 3;
/** Where the builder puts the PCI Express capability, for functions whose input did not show it. */
const PCI_EXP_DEFAULT_OFFSET = 0x40;

function outcome(ret: number): StepOutcome {
  return { ret, cont: null };
}

function waiting(op: 'flr' | 'cxl-reset', phase: number, args: readonly number[]): StepOutcome {
  const cont: PendingPhase = { op, phase, args, domainArgs: 0 };
  return { ret: null, cont };
}

/** pci.c pci_restore_state(), the parts modelled: PASID, then PRI, then ATS Control. */
export function pci_restore_state(tx: Tx, f: number): void {
  pci_restore_pasid_state(tx, f);
  pci_restore_pri_state(tx, f);
  pci_restore_ats_state(tx, f);
}

/**
 * The function enters a reset: its ATC is gone, pending invalidations are lost and will not be
 * answered, and its ATS, PASID and PRI Control registers return to their defaults. The kernel's
 * own records (ats_enabled, ...) do not change.
 */
export function deviceStartsReset(tx: Tx, f: number): void {
  atc_flush_all(tx, f);
  tx.mutDevice(f).resetting = true;
  const p = tx.mut(f);
  p.atsCtrl = 0;
  p.pasidCtrl = 0;
  p.priCtrl = 0;
  p.priAllocReq = 0;
  p.priStopped = true;
}

/**
 * The reset completes (pci_dev_wait()). `fn` names the armed fault that makes it time out, which
 * leaves the function unresponsive. Returns 0 or the fault's errno.
 */
function deviceEndsReset(tx: Tx, f: number, fn: string): number {
  const err = tx.injectedFailure(fn, f);
  const dev = tx.mutDevice(f);
  dev.resetting = false;
  if (err !== 0) {
    dev.unresponsive = true;
    tx.emit({
      kind: 'info',
      bdf: tx.info(f).bdf,
      level: 'err',
      message: `not ready after reset; giving up (${errnoName(err)})`,
    });
  }
  return err;
}

function logPrepareFailure(tx: Tx, f: number, ret: number): void {
  tx.emit({
    kind: 'info',
    bdf: tx.info(f).bdf,
    level: 'err',
    message: `failed to stop IOMMU for a PCI reset: ${ret}`,
  });
}

/** done() after a reset that returned `ret`: skipped on failure with `reset-keep-blocked-on-failure`. */
function resetDone(tx: Tx, f: number, ret: number): void {
  if (ret !== 0 && tx.kernel.switches['reset-keep-blocked-on-failure']) return;
  pci_dev_reset_iommu_done(tx, f);
}

/**
 * pcie_reset_flr(): the function can FLR. A VF always can (SR-IOV requires VF FLR); otherwise
 * DevCap's FLR bit decides, and a function whose input did not show it is assumed capable.
 */
function pcie_has_flr(tx: Tx, f: number): boolean {
  if (tx.info(f).isVirtfn) return true;
  return tx.world.machine.functions[f]?.fn.express?.flrCapable !== false;
}

/**
 * The `flr` operation, phase by phase (`cont` null: start). -ENODEV for an absent function,
 * -ENOTTY without FLR; a prepare failure aborts the reset (after the config restore that
 * pci_reset_function() always runs) and returns the error.
 */
export function pci_reset_function_flr(tx: Tx, f: number, cont: Continuation | null): StepOutcome {
  if (cont !== null && cont.phase === 1) {
    const hooked = cont.args[1] === 1;
    const ret = deviceEndsReset(tx, f, 'pcie_flr');
    if (hooked) resetDone(tx, f, ret);
    pci_restore_state(tx, f);
    return outcome(ret);
  }
  if (!tx.device(f).present) return outcome(-ENODEV);
  if (tx.device(f).resetting) return waiting('flr', 0, [f]);
  if (!pcie_has_flr(tx, f)) return outcome(-ENOTTY);
  const hooks = tx.kernel.switches['reset-hooks'];
  if (hooks) {
    const ret = pci_dev_reset_iommu_prepare(tx, f);
    if (ret !== 0) {
      logPrepareFailure(tx, f, ret);
      pci_restore_state(tx, f);
      return outcome(ret);
    }
  }
  const exp = tx.world.machine.functions[f]?.fn.express?.offset ?? PCI_EXP_DEFAULT_OFFSET;
  emitConfigWrite(tx, tx.info(f).bdf, exp + PCI_EXP_DEVCTL, 2, PCI_EXP_DEVCTL_BCR_FLR, 'PCI_EXP_DEVCTL');
  deviceStartsReset(tx, f);
  return waiting('flr', 1, [f, hooks ? 1 : 0]);
}

/**
 * cxl_port_dvsec() on the upstream bridge: it has the CXL Extensions DVSEC for Ports. When the
 * input does not list the bridge's DVSECs, a function with a CXL Device DVSEC is taken to sit
 * below a CXL port (an assumption: the builder cannot describe port DVSECs).
 */
function cxlPortAbove(tx: Tx, f: number, bridge: number): boolean {
  const b = tx.world.machine.functions[bridge]?.fn;
  if (b === undefined) return false;
  if (b.dvsecs.some((h) => h.vendor === PCI_VENDOR_ID_CXL && h.id === PCI_DVSEC_CXL_PORT)) return true;
  return b.dvsecs.length === 0 && tx.world.machine.functions[f]?.fn.cxl != null;
}

/**
 * pci.c pci_parent_bus_reset() preconditions: not on a root bus, not a bridge, and alone on its
 * bus (any other present function there refuses the bus reset with -ENOTTY).
 */
function parentBusResetPossible(tx: Tx, f: number): boolean {
  const info = tx.info(f);
  if (info.upstreamBridge < 0) return false;
  if (tx.world.machine.functions[f]?.fn.header.headerLayout === 1) return false;
  const me = parseBdf(info.bdf);
  if (me === null) return false;
  const n = tx.world.infos.length;
  for (let k = 0; k < n; k++) {
    if (k === f || !tx.device(k).present) continue;
    const o = parseBdf(tx.info(k).bdf);
    if (o !== null && o.segment === me.segment && o.bus === me.bus) return false;
  }
  return true;
}

/**
 * The `cxl-reset` operation: cxl_reset_bus_function() brackets pci_reset_bus_function() with its
 * own prepare/done, so with `reset-hooks` they nest (outer, then inner). A failed outer prepare
 * aborts; a failed inner one (a nested prepare without `reset-depth-nesting` WARNs and fails
 * with -EBUSY) ends the reset with the outer done(). Without a CXL port above, or when the bus
 * reset is not possible, -ENOTTY.
 */
export function cxl_reset_bus_function(tx: Tx, f: number, cont: Continuation | null): StepOutcome {
  const hooks = tx.kernel.switches['reset-hooks'];
  if (cont !== null && cont.phase === 1) {
    const hooked = cont.args[1] === 1;
    const bridge = tx.info(f).upstreamBridge;
    emitConfigWrite(tx, tx.info(bridge).bdf, PCI_BRIDGE_CONTROL, 2, 0, 'PCI_BRIDGE_CONTROL');
    const ret = deviceEndsReset(tx, f, 'pci_reset_bus_function');
    if (hooked) {
      resetDone(tx, f, ret); // pci_reset_bus_function()
      resetDone(tx, f, ret); // cxl_reset_bus_function()
    }
    pci_restore_state(tx, f);
    return outcome(ret);
  }
  if (!tx.device(f).present) return outcome(-ENODEV);
  if (tx.device(f).resetting) return waiting('cxl-reset', 0, [f]);
  const bridge = tx.info(f).upstreamBridge;
  if (bridge < 0 || !cxlPortAbove(tx, f, bridge)) return outcome(-ENOTTY);
  if (hooks) {
    const ret = pci_dev_reset_iommu_prepare(tx, f);
    if (ret !== 0) {
      logPrepareFailure(tx, f, ret);
      pci_restore_state(tx, f);
      return outcome(ret);
    }
    // pci_reset_bus_function()
    const inner = pci_dev_reset_iommu_prepare(tx, f);
    if (inner !== 0) {
      logPrepareFailure(tx, f, inner);
      pci_dev_reset_iommu_done(tx, f);
      pci_restore_state(tx, f);
      return outcome(inner);
    }
  }
  if (!parentBusResetPossible(tx, f)) {
    if (hooks) {
      pci_dev_reset_iommu_done(tx, f);
      pci_dev_reset_iommu_done(tx, f);
    }
    pci_restore_state(tx, f);
    return outcome(-ENOTTY);
  }
  emitConfigWrite(
    tx,
    tx.info(bridge).bdf,
    PCI_BRIDGE_CONTROL,
    2,
    PCI_BRIDGE_CTL_BUS_RESET,
    'PCI_BRIDGE_CONTROL',
  );
  deviceStartsReset(tx, f);
  return waiting('cxl-reset', 1, [f, hooks ? 1 : 0]);
}
