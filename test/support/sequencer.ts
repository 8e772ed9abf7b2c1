import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Relative wall time of the e2e files (seconds, from a run of `npm test` on the 2-core VM; vitest's
 * own record of the last run takes precedence where it has one). Only the order depends on them.
 */
const ESTIMATES: Record<string, number> = {
  'lease-port': 233,
  'workloads-access': 227,
  'red-team': 186,
  cheaters: 174,
  'money-cli': 136,
  volumes: 133,
  'deploy-sdl': 110,
  'lease-pause': 111,
  gaming: 107,
  'container-join': 88,
  'lease-life': 87,
  'api-fuzz': 87,
  'checkers-cli': 83,
  rent: 80,
  durability: 68,
  dao: 63,
  apps: 59,
  'capacity-market': 58,
  console: 54,
};
const E2E_DEFAULT = 30;
const UNIT_DEFAULT = 2;

/**
 * Files that hold a test lock for their whole run (test/support/exclusive.ts): the loopback
 * registry's user that keeps it (lease-port and deploy-sdl let it go once their images are in the
 * engine).
 */
const REGISTRY = new Set(['workloads-access']);

function lockOf(f: TestSpecification): string | null {
  return REGISTRY.has(nameOf(f)) ? 'registry' : null;
}

function nameOf(f: TestSpecification): string {
  return (
    f.moduleId
      .split('/')
      .pop()
      ?.replace(/\.test\.ts$/, '') ?? ''
  );
}

/**
 * `npm test` runs two files at a time, each worker taking the next file of this order when it is
 * free (the deadline racers of the `e2e` project run after, alone: their own group). Vitest's own
 * order runs one project after another, longest first by file size on a first run. This order is a
 * schedule of the two workers on the estimates: longest first, and a file that needs a lock another
 * file holds at that moment waits its turn in the order while others go ahead; the unit files,
 * short, fill the end.
 */
export class InterleavingSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const estimate = (f: TestSpecification): number => {
      const key = `${f.project.name}:${relative(this.ctx.config.root, f.moduleId)}`;
      const known = this.ctx.cache.getFileTestResults(key)?.duration;
      if (known) return known / 1000;
      if (f.project.name === 'unit') return UNIT_DEFAULT;
      return ESTIMATES[nameOf(f)] ?? E2E_DEFAULT;
    };
    const left = [...sorted].sort((a, b) => estimate(b) - estimate(a));
    const workers = [0, 0];
    const heldUntil = new Map<string, number>();
    const out: TestSpecification[] = [];
    while (left.length) {
      const w = workers[0]! <= workers[1]! ? 0 : 1;
      const now = workers[w]!;
      const free = (f: TestSpecification) => {
        const lock = lockOf(f);
        return !lock || (heldUntil.get(lock) ?? 0) <= now;
      };
      const i = Math.max(0, left.findIndex(free));
      const f = left.splice(i, 1)[0]!;
      const lock = lockOf(f);
      const start = lock ? Math.max(now, heldUntil.get(lock) ?? 0) : now;
      workers[w] = start + estimate(f);
      if (lock) heldUntil.set(lock, workers[w]!);
      out.push(f);
    }
    return out;
  }
}
