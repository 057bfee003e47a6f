import { defineConfig } from 'vitest/config';

// Nothing the tests start may multicast from the root network namespace (src/mdns.ts enforces it).
process.env.STAP_FLEET_FORBID_ROOT_NETNS = '1';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // Integration suites start real daemons and namespaces; two workers match the 2-core machines.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
