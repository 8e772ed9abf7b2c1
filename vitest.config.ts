import { defineConfig } from 'vitest/config';
import { InterleavingSequencer } from './test/support/sequencer.js';

/**
 * e2e files whose many checkers and provers race deadlines (shortened cadences, a capacity proof per
 * checker, the real CPU prover against a 1.8 s deadline): they run one at a time after the journeys,
 * beside nothing but the unit files, whose worker is niced (test/support/priority.ts). Beside another
 * e2e file, on CI's machine, `cheaters`' honest CPU-prover host answered in 2.5 s and was failed.
 * Alone, they left one worker idle for their ~110 s; beside the niced unit files `npm test` took
 * 466 s instead of 557 s on this VM. (Two checkers' memory proofs overlapping on one device also
 * failed honest hosts; a host's check server now takes capacity sessions in turn.) The unit files
 * run on two workers beside a racer (three files at a time, RACERS_GROUP_WORKERS; the CPU was 30-60%
 * idle with two): the group took 95 s instead of 134 s. Tried before, an honest host of `cheaters`
 * then had no location vote in 30 s in 2 runs of 5, blamed on the load; the cause was a checker's
 * report refused for a reason over 300 characters, now cut to fit.
 */
const E2E_CHECKS = ['cheaters', 'checkers-cli'];
const RACERS_GROUP_WORKERS = Number(process.env.AETHIR_RACERS_WORKERS ?? 3);

export default defineConfig({
  test: {
    // Two files at a time (vitest's default on 2 cores is one, and a project with one worker runs
    // after every other project, never beside it): the e2e files mostly wait on processes they
    // started.
    maxWorkers: Number(process.env.AETHIR_TEST_WORKERS ?? 2),
    // src/ compiled to dist/ first: every CLI the tests start loads JavaScript (bin/aethir.js)
    globalSetup: ['test/support/build-cli.ts'],
    sequence: { sequencer: InterleavingSequencer },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          maxWorkers: RACERS_GROUP_WORKERS,
          testTimeout: 20_000,
          // a worker keeps its modules from one unit file to the next: the 131 files' imports took
          // 55 s of the run's CPU when each file started afresh, 15 s shared (unit alone: 114 s → 77 s)
          isolate: false,
          // after the journeys, beside the deadline racers, on the worker they leave idle: niced, so
          // that the racers' devnets and provers get the CPU whenever they want it
          sequence: { groupOrder: 1 },
          setupFiles: ['test/support/nice-unit.ts'],
        },
      },
      // Every e2e file starts its own devnet or cluster. The deadline racers run after the journeys
      // (sequence.groupOrder), one at a time (the test lock `racers`), beside the niced unit files;
      // the journeys two at a time.
      {
        test: {
          name: 'e2e',
          include: E2E_CHECKS.map((f) => `test/e2e/${f}.test.ts`),
          maxWorkers: RACERS_GROUP_WORKERS,
          sequence: { groupOrder: 1 },
          setupFiles: ['test/support/normal-priority.ts', 'test/support/e2e-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'e2e-journeys',
          include: ['test/e2e/**/*.test.ts'],
          exclude: E2E_CHECKS.map((f) => `test/e2e/${f}.test.ts`),
          // as the unit files: a worker keeps the modules it loaded (test/e2e/helpers.ts loads the
          // whole node, ~1.2 s a file) from one journey to the next (journeys 271 s → 258 s here)
          isolate: false,
          setupFiles: ['test/support/e2e-setup.ts'],
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
