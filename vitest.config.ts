import { defineConfig } from 'vitest/config';
import { InterleavingSequencer } from './test/support/sequencer.js';

export default defineConfig({
  test: {
    // Two files at a time (vitest's default on 2 cores is one, and a project with one worker runs
    // after every other project, never beside it): the e2e files mostly wait on processes they
    // started.
    maxWorkers: Number(process.env.AETHIR_TEST_WORKERS ?? 2),
    sequence: { sequencer: InterleavingSequencer },
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 } },
      // Every e2e file starts its own devnet or cluster; two run at a time. The deadline racers
      // (cheaters, checkers-cli) ran alone after the rest while a host's check server let two
      // checkers' memory proofs overlap on one device; it serializes them now.
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
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
