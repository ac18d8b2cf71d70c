import { defineConfig } from 'vitest/config';

// Tests whose file name contains ".qemu." or ".root." boot VMs or need root; script/test runs them in a
// second pass, in two lanes of one file at a time, so that two such files at most share the two cores
// of a CI machine. Those take their timeouts from test/support/timeouts.ts (derived from what each
// waits on); the short defaults below are for the fast tests.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
