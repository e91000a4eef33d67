import { describe, expect, it } from 'vitest';
import {
  EBUSY,
  EINVAL,
  ENODEV,
  ENOMEM,
  EOPNOTSUPP,
  EPERM,
  EPROBE_DEFER,
  ETIMEDOUT,
  errnoName,
  errnoValue,
} from '../../../src/kernel/errno.js';
import { formatKernelEvent, traceReturn, WARN_ON, type KernelEvent } from '../../../src/kernel/events.js';

describe('errno', () => {
  it('has the Linux values', () => {
    expect([EPERM, ENOMEM, EBUSY, ENODEV, EINVAL, EOPNOTSUPP, ETIMEDOUT, EPROBE_DEFER]).toEqual([
      1, 12, 16, 19, 22, 95, 110, 517,
    ]);
  });

  it('names negated and plain values, and falls back to the number', () => {
    expect(errnoName(-22)).toBe('-EINVAL');
    expect(errnoName(-EBUSY)).toBe('-EBUSY');
    expect(errnoName(EPROBE_DEFER)).toBe('EPROBE_DEFER');
    expect(errnoName(0)).toBe('0');
    expect(errnoName(-9999)).toBe('-9999');
  });

  it('round-trips names to values', () => {
    for (const v of [EPERM, ENOMEM, EBUSY, ENODEV, EINVAL, EOPNOTSUPP, ETIMEDOUT, EPROBE_DEFER]) {
      expect(errnoValue(errnoName(-v))).toBe(-v);
      expect(errnoValue(errnoName(v))).toBe(v);
    }
    expect(errnoValue('ENOPE')).toBeNull();
  });
});

describe('kernel events', () => {
  it('WARN_ON records a warn event only when the condition holds, and returns it', () => {
    const evs: KernelEvent[] = [];
    const sink = { emit: (e: KernelEvent) => evs.push(e) };
    expect(WARN_ON(sink, false, 'f', '0000:00:00.0', 'm')).toBe(false);
    expect(evs).toEqual([]);
    expect(WARN_ON(sink, true, 'f', '0000:00:00.0', 'm')).toBe(true);
    expect(evs).toEqual([{ kind: 'warn', site: 'f', bdf: '0000:00:00.0', message: 'm' }]);
    expect(traceReturn(sink, 'g', '0000:00:00.0', -EINVAL)).toBe(-EINVAL);
    expect(evs).toHaveLength(2);
  });

  it('formats one line per kind', () => {
    const bdf = '0000:03:00.1';
    expect(
      formatKernelEvent({
        kind: 'config-write',
        bdf,
        offset: 0x106,
        width: 2,
        value: 0x8004,
        register: 'PCI_ATS_CTRL',
      }),
    ).toBe('0000:03:00.1: config write PCI_ATS_CTRL [0x106] = 0x8004');
    expect(
      formatKernelEvent({ kind: 'warn', site: 'pci_disable_ats', bdf, message: 'ATS not enabled' }),
    ).toBe('WARNING: at pci_disable_ats: 0000:03:00.1: ATS not enabled');
    expect(formatKernelEvent({ kind: 'info', bdf, message: 'disabling ATS' })).toBe(
      'pci 0000:03:00.1: disabling ATS',
    );
    expect(formatKernelEvent({ kind: 'info', bdf, message: 'x', level: 'err' })).toBe(
      'pci 0000:03:00.1: err: x',
    );
    expect(formatKernelEvent({ kind: 'return', fn: 'pci_enable_ats', bdf, value: -EINVAL })).toBe(
      'pci_enable_ats(0000:03:00.1) = -EINVAL',
    );
    expect(formatKernelEvent({ kind: 'return', fn: 'f', bdf, value: true })).toBe('f(0000:03:00.1) = true');
  });
});
