/**
 * Observable kernel actions. Every modelled function reports what an observer of the real kernel
 * could see: config-space writes, WARN_ON splats, log lines, and return values worth tracing.
 *
 * This is an open union: the IOMMU core and the SMMUv3/VT-d/AMD models add their own kinds here
 * (STE/CD writes, command-queue entries, ATC fills and invalidations, ...). To add a kind:
 *  1. declare an interface with a unique `kind` string literal and plain-data fields (numbers,
 *     booleans, strings; no class instances, so traces can be serialised and compared);
 *  2. add it to `KernelEvent`;
 *  3. add a case to `formatKernelEvent` (the switch is exhaustive, so the compiler points there).
 */
import type { Bdf } from '../pci/bdf.js';
import { errnoName } from './errno.js';

/** A configuration-space write as the device sees it (`pci_write_config_{byte,word,dword}`). */
export interface ConfigWriteEvent {
  readonly kind: 'config-write';
  readonly bdf: Bdf;
  /** Absolute config-space offset (capability offset + register offset). */
  readonly offset: number;
  /** Access width in bytes. */
  readonly width: 1 | 2 | 4;
  /** The exact value written. */
  readonly value: number;
  /** include/uapi/linux/pci_regs.h name of the register written, e.g. `PCI_ATS_CTRL`. */
  readonly register: string;
}

/** A kernel `WARN_ON()` that fired. The model records it and carries on, as the kernel does. */
export interface WarnEvent {
  readonly kind: 'warn';
  /** The kernel function containing the WARN_ON, e.g. `pci_disable_ats`. */
  readonly site: string;
  readonly bdf: Bdf;
  /** The condition that fired, in words. */
  readonly message: string;
}

export type LogLevel = 'info' | 'warn' | 'err';

/** A kernel log line about a device (`pci_info`, `pci_warn`, `dev_err`, ...). */
export interface InfoEvent {
  readonly kind: 'info';
  readonly bdf: Bdf;
  /** The message text without the trailing newline, e.g. `disabling ATS`. */
  readonly message: string;
  /** Log level; absent means `info`. */
  readonly level?: LogLevel;
}

/** The return value of a fallible kernel function, for traces. */
export interface ReturnEvent {
  readonly kind: 'return';
  /** Kernel function name, e.g. `pci_enable_ats`. */
  readonly fn: string;
  readonly bdf: Bdf;
  /** An int (0 or a negative errno) or a bool. */
  readonly value: number | boolean;
}

/** IOMMU core actions worth tracing: group/PASID domain changes, ownership, reset fencing. */
export interface IommuEvent {
  readonly kind: 'iommu';
  readonly bdf: Bdf;
  /** Kernel function, e.g. `__iommu_group_set_domain_internal`, `pci_dev_reset_iommu_prepare`. */
  readonly fn: string;
  /** What happened, in words, e.g. `group 2: DMA(d3) -> BLOCKED(d1)`. */
  readonly detail: string;
}

/** An SMMUv3 Stream Table Entry write (arm_smmu_install_ste_for_dev), as the hardware ends up seeing it. */
export interface SteWriteEvent {
  readonly kind: 'ste-write';
  readonly bdf: Bdf;
  readonly cfg: 'abort' | 'bypass' | 's1-trans' | 's2-trans';
  /** For S1_TRANS with a CD table: what SSID 0 / untagged traffic does. */
  readonly s1dss: 'ssid0' | 'bypass' | 'terminate' | null;
  /** EATS=TRANS: the SMMU accepts ATS translation requests and translated transactions. */
  readonly eats: boolean;
  /** The domain the STE translates through (S2, or the CD of SSID 0), as a state slot; null for none. */
  readonly domain: number | null;
}

/** An SMMUv3 Context Descriptor write for one SSID (arm_smmu_write_cd_entry). */
export interface CdWriteEvent {
  readonly kind: 'cd-write';
  readonly bdf: Bdf;
  readonly ssid: number;
  /** The domain installed, or null when the CD is cleared. */
  readonly domain: number | null;
}

export type SmmuCommand =
  | 'CMD_CFGI_STE'
  | 'CMD_CFGI_CD'
  | 'CMD_TLBI_NH_ASID'
  | 'CMD_TLBI_NH_VA'
  | 'CMD_TLBI_S12_VMALL'
  | 'CMD_TLBI_S2_IPA'
  | 'CMD_ATC_INV'
  | 'CMD_SYNC';

/** A command queued to the SMMU (arm_smmu_cmdq_issue_cmdlist). */
export interface SmmuCmdEvent {
  readonly kind: 'smmu-cmd';
  readonly cmd: SmmuCommand;
  /** The function the command targets (STE/CD/ATC commands); absent for TLB and SYNC commands. */
  readonly bdf?: Bdf;
  /** CMD_ATC_INV / CD: the substream; absent = no SSV. */
  readonly ssid?: number;
  /** Address (page number) and log2 span of an invalidation; span 52 with address 0 means everything. */
  readonly page?: number;
  readonly span?: number;
  /** CMD_SYNC only: `ok`, or `timeout` when an ATC invalidation was never completed (CERROR_ATC_INV). */
  readonly result?: 'ok' | 'timeout';
}

/** Which x86 IOMMU an `iommu-cmd` / `dev-entry` event belongs to. */
export type X86Iommu = 'vtd' | 'amd';

/**
 * A command to a VT-d invalidation queue (qi_submit_sync(): QI_CC context cache, QI_IOTLB /
 * QI_PIOTLB IOTLB, QI_PC PASID cache, QI_DEV_IOTLB / QI_DEV_EIOTLB device-TLB, QI_IWD the wait
 * descriptor) or to an AMD-Vi command buffer (CMD_INV_IOMMU_PAGES, CMD_INV_IOTLB_PAGES the remote
 * IOTLB, CMD_COMPL_WAIT the completion wait).
 */
export interface IommuCmdEvent {
  readonly kind: 'iommu-cmd';
  readonly iommu: X86Iommu;
  readonly cmd: string;
  /** The function a context, PASID or device-TLB command targets. */
  readonly bdf?: Bdf;
  /** PASID-tagged commands: the PASID. */
  readonly pasid?: number;
  /** Address (page number) and log2 span; span 52 with address 0 means everything. */
  readonly page?: number;
  readonly span?: number;
  /** Device-TLB commands: the invalidation queue depth field of the descriptor (0 encodes 32). */
  readonly qdep?: number;
  /** Wait commands: `ok`, or `timeout` when a device-TLB invalidation was never completed. */
  readonly result?: 'ok' | 'timeout';
}

/**
 * A VT-d context or PASID-table entry, or an AMD-Vi Device Table Entry, as written for a function:
 * how untranslated requests go, and whether the IOMMU serves the function's ATS requests
 * (VT-d: context TT=DEV_IOTLB or scalable DTE; AMD: DTE.I).
 */
export interface DevEntryEvent {
  readonly kind: 'dev-entry';
  readonly iommu: X86Iommu;
  readonly bdf: Bdf;
  readonly entry: 'context' | 'pasid' | 'dte';
  /** PASID-table entries: the PASID (0 is RID2PASID). */
  readonly pasid?: number;
  readonly mode: 'translate' | 'pass-through' | 'clear';
  readonly devtlb: boolean;
}

/** A change to a device's Address Translation Cache. */
export interface AtcEvent {
  readonly kind: 'atc';
  readonly bdf: Bdf;
  /** fill: a Translation Request succeeded; drop: an invalidation removed entries; flush: FLR or full invalidation;
   *  ignored: the device did not act on an invalidation (resetting, unresponsive, or holding entries). */
  readonly action: 'fill' | 'drop' | 'flush' | 'ignored';
  readonly pasid: number;
  readonly page: number;
  /** The physical page of a fill. */
  readonly phys?: number;
}

/** A DMA the device issued, and where it went. */
export interface DmaEvent {
  readonly kind: 'dma';
  readonly bdf: Bdf;
  /** A translated request (AT=translated, from the ATC) rather than an untranslated one. */
  readonly translated: boolean;
  readonly pasid: number;
  readonly iova: number;
  /** ok: reached a page the device's domain maps there now; fault: the IOMMU refused it;
   *  stale: reached a page through a cached translation the page table no longer holds. */
  readonly outcome: 'ok' | 'fault' | 'stale' | 'unmapping' | 'bypass';
  readonly phys?: number;
}

export type KernelEvent =
  | ConfigWriteEvent
  | WarnEvent
  | InfoEvent
  | ReturnEvent
  | IommuEvent
  | SteWriteEvent
  | CdWriteEvent
  | SmmuCmdEvent
  | IommuCmdEvent
  | DevEntryEvent
  | AtcEvent
  | DmaEvent;
export type KernelEventKind = KernelEvent['kind'];

function hexPad(n: number, width: number): string {
  return '0x' + (n >>> 0).toString(16).padStart(width, '0');
}

/** One human-readable line per event, in the spirit of dmesg. */
export function formatKernelEvent(ev: KernelEvent): string {
  switch (ev.kind) {
    case 'config-write':
      return `${ev.bdf}: config write ${ev.register} [${hexPad(ev.offset, 3)}] = ${hexPad(ev.value, ev.width * 2)}`;
    case 'warn':
      return `WARNING: at ${ev.site}: ${ev.bdf}: ${ev.message}`;
    case 'info':
      return `pci ${ev.bdf}: ${ev.level === undefined || ev.level === 'info' ? '' : `${ev.level}: `}${ev.message}`;
    case 'return':
      return `${ev.fn}(${ev.bdf}) = ${typeof ev.value === 'boolean' ? String(ev.value) : errnoName(ev.value)}`;
    case 'iommu':
      return `${ev.fn}: ${ev.bdf}: ${ev.detail}`;
    case 'ste-write':
      return `${ev.bdf}: STE cfg=${ev.cfg}${ev.s1dss === null ? '' : ` s1dss=${ev.s1dss}`} eats=${ev.eats ? 'trans' : 'abort'}${ev.domain === null ? '' : ` domain=d${ev.domain}`}`;
    case 'cd-write':
      return `${ev.bdf}: CD[${ev.ssid}] = ${ev.domain === null ? 'clear' : `d${ev.domain}`}`;
    case 'smmu-cmd': {
      const parts: string[] = [ev.cmd];
      if (ev.bdf !== undefined) parts.push(ev.bdf);
      if (ev.ssid !== undefined) parts.push(`ssid=${ev.ssid}`);
      if (ev.page !== undefined) parts.push(`page=${hexPad(ev.page, 1)}`);
      if (ev.span !== undefined) parts.push(`span=${ev.span}`);
      if (ev.result !== undefined) parts.push(ev.result);
      return parts.join(' ');
    }
    case 'iommu-cmd': {
      const parts: string[] = [ev.cmd];
      if (ev.bdf !== undefined) parts.push(ev.bdf);
      if (ev.pasid !== undefined) parts.push(`pasid=${ev.pasid}`);
      if (ev.page !== undefined) parts.push(`page=${hexPad(ev.page, 1)}`);
      if (ev.span !== undefined) parts.push(`span=${ev.span}`);
      if (ev.qdep !== undefined) parts.push(`qdep=${ev.qdep}`);
      if (ev.result !== undefined) parts.push(ev.result);
      return parts.join(' ');
    }
    case 'dev-entry':
      return `${ev.bdf}: ${ev.iommu === 'amd' ? 'DTE' : ev.entry === 'pasid' ? `PASID entry[${ev.pasid ?? 0}]` : 'context entry'} ${ev.mode}${ev.devtlb ? ' devtlb' : ''}`;
    case 'atc':
      return `${ev.bdf}: ATC ${ev.action} pasid=${ev.pasid} page=${hexPad(ev.page, 1)}${ev.phys === undefined ? '' : ` -> ${hexPad(ev.phys, 1)}`}`;
    case 'dma':
      return `${ev.bdf}: DMA ${ev.translated ? 'translated' : 'untranslated'} pasid=${ev.pasid} iova=${hexPad(ev.iova, 1)}: ${ev.outcome}${ev.phys === undefined ? '' : ` -> ${hexPad(ev.phys, 1)}`}`;
  }
}

/** Anything that collects events: a PciCtx, an IOMMU model context, a test. */
export interface EventSink {
  emit(ev: KernelEvent): void;
}

/**
 * The kernel's `WARN_ON(cond)`: records a `warn` event when `cond` holds and returns `cond`, so a
 * model reads like the kernel: `if (WARN_ON(sink, d.atsEnabled, ...)) return -EBUSY;`.
 */
export function WARN_ON(sink: EventSink, cond: boolean, site: string, bdf: Bdf, message: string): boolean {
  if (cond) sink.emit({ kind: 'warn', site, bdf, message });
  return cond;
}

/** Records a config-space write. The caller updates the register it models. */
export function emitConfigWrite(
  sink: EventSink,
  bdf: Bdf,
  offset: number,
  width: 1 | 2 | 4,
  value: number,
  register: string,
): void {
  sink.emit({ kind: 'config-write', bdf, offset, width, value, register });
}

/** Records a return value and passes it through: `return traceReturn(ctx, 'pci_enable_ats', bdf, -EINVAL)`. */
export function traceReturn<T extends number | boolean>(sink: EventSink, fn: string, bdf: Bdf, value: T): T {
  sink.emit({ kind: 'return', fn, bdf, value });
  return value;
}
