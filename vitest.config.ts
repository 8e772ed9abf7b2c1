import { defineConfig } from 'vitest/config';
import { InterleavingSequencer } from './test/support/sequencer.js';

/**
 * e2e files whose many checkers and provers race deadlines (shortened cadences, a capacity proof per
 * checker, the real CPU prover against a 1.8 s deadline): they run one at a time after the journeys,
 * beside nothing but the unit files, whose worker is niced (test/support/priority.ts). Beside another
 * e2e file, on CI's machine, `cheaters`' honest CPU-prover host answered in 2.5 s and was failed.
 * Alone, they left one worker idle for their ~110 s; beside the niced unit files `npm test` took
 * 466 s instead of 557 s on this VM, and with the unit files on two workers beside them (the CPU was
 * still 30-60% idle) 356 s instead of 420 s on the next. (Two checkers' memory proofs overlapping on
 * one device also failed honest hosts; a host's check server now takes capacity sessions in turn.)
 */
const E2E_CHECKS = ['cheaters', 'checkers-cli'];

/** Files at a time in the journeys' group (`AETHIR_TEST_WORKERS=1`: one file at a time throughout). */
const WORKERS = Number(process.env.AETHIR_TEST_WORKERS ?? 2);
/**
 * In the racers' group, one more: one racer at a time (most of it waiting on check cadences, the
 * CPU 30-60% idle beside one unit worker) and the niced unit files on the others.
 */
const RACERS_GROUP_WORKERS = WORKERS > 1 ? WORKERS + 1 : 1;

export default defineConfig({
  test: {
    // Two files at a time (vitest's default on 2 cores is one, and a project with one worker runs
    // after every other project, never beside it): the e2e files mostly wait on processes they
    // started.
    maxWorkers: WORKERS,
    // src/ compiled to dist/ first: every CLI the tests start loads JavaScript (bin/aethir.js)
    globalSetup: ['test/support/build-cli.ts'],
    sequence: { sequencer: InterleavingSequencer },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
          // a worker keeps its modules from one unit file to the next: the 131 files' imports took
          // 55 s of the run's CPU when each file started afresh, 15 s shared (unit alone: 114 s → 77 s)
          isolate: false,
          // after the journeys, beside the deadline racers, on the workers they leave idle: niced, so
          // that the racers' devnets and provers get the CPU whenever they want it
          sequence: { groupOrder: 1 },
          maxWorkers: RACERS_GROUP_WORKERS,
          setupFiles: ['test/support/nice-unit.ts'],
        },
      },
      // Every e2e file starts its own devnet or cluster. The deadline racers run after the journeys
      // (sequence.groupOrder), one at a time (the test lock `racers`), beside the niced unit files;
      // the journeys two at a time (WORKERS).
      {
        test: {
          name: 'e2e',
          include: E2E_CHECKS.map((f) => `test/e2e/${f}.test.ts`),
          sequence: { groupOrder: 1 },
          maxWorkers: RACERS_GROUP_WORKERS,
          setupFiles: ['test/support/normal-priority.ts'],
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
