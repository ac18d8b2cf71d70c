import { defineConfig } from 'vitest/config';

// Tests whose file name contains ".qemu." or ".root." boot VMs or need root; script/test runs them in a
// second, serial pass so two emulated VMs never compete for the two cores of a CI machine.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
