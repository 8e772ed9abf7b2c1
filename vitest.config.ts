import { defineConfig } from 'vitest/config';
import { InterleavingSequencer } from './test/support/sequencer.js';

/** e2e files whose checkers and provers race deadlines: never two of them at once. */
const E2E_CHECKS = ['cheaters', 'checkers-cli', 'failover', 'liveness', 'durability'];

export default defineConfig({
  test: {
    // Two files at a time (vitest's default on 2 cores is one, and a project with one worker runs
    // after every other project, never beside it): the e2e files mostly wait on processes they
    // started. Two deadline racers never run together (test/support/deadlines-lock.ts).
    maxWorkers: Number(process.env.AETHIR_TEST_WORKERS ?? 2),
    sequence: { sequencer: InterleavingSequencer },
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 } },
      // Every e2e file starts its own devnet or cluster. The checks that race deadlines take a lock
      // so that two never run at once; the CLI and API journeys run beside them.
      {
        test: {
          name: 'e2e',
          include: E2E_CHECKS.map((f) => `test/e2e/${f}.test.ts`),
          setupFiles: ['test/support/deadlines-lock.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'e2e-journeys',
          include: ['test/e2e/**/*.test.ts'],
          exclude: E2E_CHECKS.map((f) => `test/e2e/${f}.test.ts`),
          testTimeout: 120_000,
          hookTimeout: 120_000,
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
