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

export type KernelEvent = ConfigWriteEvent | WarnEvent | InfoEvent | ReturnEvent;
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
