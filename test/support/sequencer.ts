import { join, relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Wall time of the slow files, in seconds, keyed by their path under test/ (from a run of `npm test`
 * on a fresh clone of the 2-core VM, 2026-12-07; vitest's own record of the last run takes precedence
 * where it has one, which a clean clone such as CI's has not). Only the order depends on them, but
 * the e2e files and the unit files share a schedule in the racers' group, so all of them must be in
 * one unit: an earlier table in relative units (cheaters 174, a unit file 2) put the second racer
 * after every unit file, and it started 31 s after the first ended (a fresh clone's order, as CI's).
 */
const ESTIMATES: Record<string, number> = {
  'e2e/lease-port': 65,
  'e2e/cheaters': 61,
  'e2e/container-join': 39,
  'e2e/gaming': 38,
  'e2e/volumes': 33,
  'e2e/money-cli': 31,
  'e2e/red-team': 31,
  'e2e/deploy-sdl': 29,
  'e2e/lease-pause': 26,
  'e2e/checkers-cli': 23,
  'e2e/capacity-market': 21,
  'e2e/lease-life': 17,
  'e2e/console': 15,
  'e2e/workloads-access': 15,
  'e2e/rent': 12,
  'e2e/api-fuzz': 11,
  'e2e/failover': 11,
  'e2e/receipts': 9,
  'e2e/dao': 9,
  'e2e/apps': 6,
  'e2e/output-flood': 6,
  'unit/container/runtimes/sandbox': 25,
  'unit/capacity/gpu-prover': 25,
  'unit/capacity/gpu-selftest': 22,
  'unit/capacity/recompute-pool': 20,
  'unit/ledger/invariants.property': 15,
  'unit/checker/location/wonderproxy': 9,
  'unit/container/agent': 9,
  'unit/cli/bin': 6,
  'unit/container/check-server': 5,
  'unit/checker/service': 5,
  'unit/container/runtimes/host-process': 5,
};
/** the other files: most e2e files take 1-4 s, most of the 131 unit files well under one */
const E2E_DEFAULT = 3;
const UNIT_DEFAULT = 0.3;

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
      const path = relative(join(this.ctx.config.root, 'test'), f.moduleId).replace(/\.test\.ts$/, '');
      return ESTIMATES[path] ?? (f.project.name === 'unit' ? UNIT_DEFAULT : E2E_DEFAULT);
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
