import { configDefaults, defineConfig } from 'vitest/config';

/** The real-kernel oracle boots QEMU guests for minutes: it runs after every other test file, alone,
 * so that its CPU load does not skew the timing bounds of the others. */
const ORACLE = 'test/oracle/oracle.test.ts';

export default defineConfig({
  test: {
    reporters: ['default', './test/helpers/closing-line-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: { name: 'atsim', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ORACLE] },
      },
      { extends: true, test: { name: 'oracle', include: [ORACLE], sequence: { groupOrder: 1 } } },
    ],
  },
});
