import {
  checkWorkOpening,
  compareWorkDigests,
  DIGEST_WIDTH,
  expectedDigests,
  type WorkCheckResult,
  type WorkParams,
} from './work.js';
import {
  checkReadOpening,
  compareGroupSums,
  groupSums,
  type FillParams,
  type MemoryCheckResult,
  type ReadParams,
} from './memory.js';

/**
 * The checker's recomputations of the capacity proofs, from seeds it chose and rows or groups its
 * Rng picked: the throughput proof's row digests (seconds of CPU for a GPU class) and the memory
 * proof's group sums. Pure functions of checker-chosen values: no byte a prover sent reaches them,
 * so they may run anywhere, on the checker's event loop (inlineRecomputer, tests and one-off
 * checks) or in a worker thread (RecomputePool, recompute-pool.ts: a checker, which must keep
 * answering its bus and timing round trips while it verifies).
 */
export interface Recomputer {
  /** expectedDigests(prepareSeed, workSeed, p, rows): DIGEST_WIDTH int32 per row, in the order of `rows` */
  workDigests(
    prepareSeed: string,
    workSeed: string,
    p: WorkParams,
    rows: readonly number[],
  ): Promise<Int32Array>;
  /** groupSums(fillSeed, readSeed, p, groups): one sum per group, in the order of `groups` */
  groupSums(
    fillSeed: string,
    readSeed: string,
    p: FillParams & ReadParams,
    groups: readonly number[],
  ): Promise<Float64Array>;
}

/**
 * The recomputation could not be done: the checker's failure, never the prover's. `kind`: the
 * worker died ('crashed') or ran past the pool's job timeout ('timeout'), too many verifications
 * are waiting ('busy'), the pool was closed ('closed'), or the computation threw ('failed').
 */
export class RecomputeError extends Error {
  constructor(
    readonly kind: 'crashed' | 'timeout' | 'busy' | 'closed' | 'failed',
    message: string,
  ) {
    super(message);
    this.name = 'RecomputeError';
  }
}

/** Rows' digests as one array (DIGEST_WIDTH per row, in the order of `rows`). */
export function flatDigests(
  prepareSeed: string,
  workSeed: string,
  p: WorkParams,
  rows: readonly number[],
): Int32Array {
  const want = expectedDigests(prepareSeed, workSeed, p, rows);
  const out = new Int32Array(rows.length * DIGEST_WIDTH);
  rows.forEach((g, k) => out.set(want.get(g)!, k * DIGEST_WIDTH));
  return out;
}

/** The recomputation on the caller's thread (it blocks the event loop while it runs). */
export const inlineRecomputer: Recomputer = {
  workDigests: async (prepareSeed, workSeed, p, rows) => flatDigests(prepareSeed, workSeed, p, rows),
  groupSums: async (fillSeed, readSeed, p, groups) => groupSums(fillSeed, readSeed, p, groups),
};

/**
 * verifyWork with the recomputation done by `r`: the opening's shape and Merkle proofs are checked
 * here first (cheap), and only an opening that passes them costs a recomputation. Rejects with the
 * recomputer's error (a RecomputeError from a pool): the checker's failure, not the prover's.
 */
export async function verifyWorkWith(
  r: Recomputer,
  id: string,
  prepareSeed: string,
  workSeed: string,
  p: WorkParams,
  root: string,
  opened: ReadonlyArray<{ index?: unknown; row?: unknown; proof?: unknown }>,
  picked: { rows: readonly number[]; leaves: readonly number[] },
): Promise<WorkCheckResult> {
  const o = checkWorkOpening(id, prepareSeed, workSeed, p, root, opened, picked);
  if (!o.ok) return o;
  const flat = await r.workDigests(prepareSeed, workSeed, p, picked.rows);
  if (flat.length !== picked.rows.length * DIGEST_WIDTH)
    throw new RecomputeError('failed', `${flat.length} digests recomputed for ${picked.rows.length} rows`);
  const want = new Map(
    picked.rows.map((g, k) => [g, flat.subarray(k * DIGEST_WIDTH, (k + 1) * DIGEST_WIDTH)] as const),
  );
  return compareWorkDigests(p, picked.rows, o.byLeaf, want);
}

/** verifyReads with the recomputation done by `r` (as verifyWorkWith). */
export async function verifyReadsWith(
  r: Recomputer,
  id: string,
  fillSeed: string,
  readSeed: string,
  p: FillParams & ReadParams,
  root: string,
  opened: ReadonlyArray<{ index?: unknown; row?: unknown; proof?: unknown }>,
  picked: { groups: readonly number[]; leaves: readonly number[] },
): Promise<MemoryCheckResult> {
  const o = checkReadOpening(id, fillSeed, readSeed, p, root, opened, picked);
  if (!o.ok) return o;
  const want = await r.groupSums(fillSeed, readSeed, p, picked.groups);
  if (want.length !== picked.groups.length)
    throw new RecomputeError('failed', `${want.length} sums recomputed for ${picked.groups.length} groups`);
  return compareGroupSums(readSeed, p, picked.groups, o.byLeaf, want);
}
