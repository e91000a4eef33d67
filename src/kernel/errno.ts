/**
 * Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h, include/linux/errno.h).
 * Kernel functions return them negated: `-EINVAL`. Only the values the model uses or is likely to
 * use are listed; add more here, never inline a number elsewhere.
 */

export const EPERM = 1;
export const ENOENT = 2;
export const EIO = 5;
export const ENXIO = 6;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOTTY = 25;
export const ENOSPC = 28;
export const ERANGE = 34;
export const ENOSYS = 38;
export const EOPNOTSUPP = 95;
export const ETIMEDOUT = 110;
/** Kernel-internal (include/linux/errno.h): never seen by user space. */
export const EPROBE_DEFER = 517;
/** Kernel-internal NFS-era value; distinct from EOPNOTSUPP. */
export const ENOTSUPP = 524;

const NAMES: ReadonlyMap<number, string> = new Map([
  [EPERM, 'EPERM'],
  [ENOENT, 'ENOENT'],
  [EIO, 'EIO'],
  [ENXIO, 'ENXIO'],
  [EAGAIN, 'EAGAIN'],
  [ENOMEM, 'ENOMEM'],
  [EFAULT, 'EFAULT'],
  [EBUSY, 'EBUSY'],
  [EEXIST, 'EEXIST'],
  [ENODEV, 'ENODEV'],
  [EINVAL, 'EINVAL'],
  [ENOTTY, 'ENOTTY'],
  [ENOSPC, 'ENOSPC'],
  [ERANGE, 'ERANGE'],
  [ENOSYS, 'ENOSYS'],
  [EOPNOTSUPP, 'EOPNOTSUPP'],
  [ETIMEDOUT, 'ETIMEDOUT'],
  [EPROBE_DEFER, 'EPROBE_DEFER'],
  [ENOTSUPP, 'ENOTSUPP'],
]);

/**
 * Symbolic name of an errno value as the kernel returns it: `errnoName(-22) === '-EINVAL'`,
 * `errnoName(22) === 'EINVAL'`. Zero and unknown values are printed as decimal numbers.
 */
export function errnoName(value: number): string {
  if (value === 0) return '0';
  const name = NAMES.get(Math.abs(value));
  if (name === undefined) return String(value);
  return value < 0 ? `-${name}` : name;
}

/** The errno value of a symbolic name (`'EINVAL'` or `'-EINVAL'`), negated when the name is; null if unknown. */
export function errnoValue(name: string): number | null {
  const neg = name.startsWith('-');
  const bare = neg ? name.slice(1) : name;
  for (const [v, n] of NAMES) if (n === bare) return neg ? -v : v;
  return null;
}
