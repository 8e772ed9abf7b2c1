import { defineConfig } from 'vitest/config';

/**
 * e2e files whose checkers and provers race deadlines, and (to balance the two streams' wall time,
 * about 3.5 min each in CI) the money journeys and the lease-life and workload-access journeys.
 */
const E2E_CHECKS = [
  'cheaters',
  'checkers-cli',
  'failover',
  'liveness',
  'durability',
  'money-cli',
  'dao',
  'lease-life',
  'workloads-access',
  // shares workloads-access's loopback registry port: never at the same time
  'lease-port',
];

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 } },
      // Two e2e streams, each one file at a time (every file starts its own devnet or cluster):
      // the checks that race deadlines in one, the CLI and API journeys in the other.
      {
        test: {
          name: 'e2e',
          include: E2E_CHECKS.map((f) => `test/e2e/${f}.test.ts`),
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e-journeys',
          include: ['test/e2e/**/*.test.ts'],
          exclude: E2E_CHECKS.map((f) => `test/e2e/${f}.test.ts`),
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
