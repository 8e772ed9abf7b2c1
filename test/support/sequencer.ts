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
/** The deadline racers (vitest.config.ts): one at a time, each holding `racers` (normal-priority.ts). */
const RACERS = new Set(['cheaters', 'checkers-cli']);

function lockOf(f: TestSpecification): string | null {
  if (REGISTRY.has(nameOf(f))) return 'registry';
  return RACERS.has(nameOf(f)) ? 'racers' : null;
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
 * free: first the journeys, then (sequence.groupOrder 1) the deadline racers one at a time beside
 * the niced unit files. Vitest's own order runs one project after another, longest first by file
 * size on a first run. This order is, per group, a schedule of the group's workers (its projects'
 * maxWorkers) on the estimates:
 * longest first, and a file that needs a lock another file holds at that moment (`registry`,
 * `racers`) waits its turn in the order while others go ahead, so the second racer starts when the
 * first is due to end and the unit files fill the other worker meanwhile.
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
    // vitest runs the groups (sequence.groupOrder) one after another: each is a schedule of its own
    const groupOf = (f: TestSpecification) => f.project.config.sequence.groupOrder ?? 0;
    const groups = [...new Set(sorted.map(groupOf))].sort((a, b) => a - b);
    return groups.flatMap((g) => {
      const files = sorted.filter((f) => groupOf(f) === g);
      // vitest runs a group with its projects' maxWorkers (the same for each, or it refuses)
      const workers = files[0]!.project.config.maxWorkers ?? this.ctx.config.maxWorkers;
      return this.schedule(files, estimate, Math.max(1, workers));
    });
  }

  private schedule(
    files: TestSpecification[],
    estimate: (f: TestSpecification) => number,
    n: number,
  ): TestSpecification[] {
    const left = [...files].sort((a, b) => estimate(b) - estimate(a));
    const workers = new Array<number>(n).fill(0);
    const heldUntil = new Map<string, number>();
    const out: TestSpecification[] = [];
    while (left.length) {
      const w = workers.indexOf(Math.min(...workers));
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
