import {
  checkOpenedRows,
  compareFreivalds,
  compareRows,
  freivaldsProducts,
  freivaldsVectors,
  productRows,
  type Challenge,
  type Commitment,
  type OpenedRow,
  type SpotCheckOptions,
  type SpotCheckResult,
} from './challenge.js';
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
 * The checker's recomputations of the capacity proofs, from seeds it chose and rows, groups or
 * vectors its Rng picked: the compute proof's B·v (Freivalds) or opened rows, the throughput
 * proof's row digests (tens of seconds of CPU for a GPU class) and the memory proof's group sums. Pure functions of checker-chosen values: no byte a prover sent reaches them,
 * so they may run anywhere, on the checker's event loop (inlineRecomputer, tests and one-off
 * checks) or in a worker thread (RecomputePool, recompute-pool.ts: a checker, which must keep
 * answering its bus and timing round trips while it verifies).
 */
export interface Recomputer {
  /** freivaldsProducts(seed, n, vectors): u_t = B·v_t mod p_t for the compute proof's B */
  freivalds(seed: string, n: number, vectors: readonly Float64Array[]): Promise<Float64Array[]>;
  /** productRows(seed, n, indices): rows of A·B, in the order of `indices` */
  productRows(seed: string, n: number, indices: readonly number[]): Promise<Float64Array[]>;
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
  freivalds: async (seed, n, vectors) => freivaldsProducts(seed, n, vectors),
  productRows: async (seed, n, indices) => productRows(seed, n, indices),
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

/**
 * spotCheck with the product check done by `r`: the rows' shape and Merkle proofs are checked here
 * first; Freivalds' vectors are drawn here, from `opts.rng`, in the same order as spotCheck draws
 * them; only B·v (or the exact rows) is computed by `r`. Rejects with the recomputer's error.
 */
export async function spotCheckWith(
  r: Recomputer,
  challenge: Challenge,
  commitment: Commitment,
  rows: readonly OpenedRow[],
  opts: SpotCheckOptions,
): Promise<SpotCheckResult> {
  const o = checkOpenedRows(challenge, commitment, rows, opts.indices);
  if (!o.ok) return o;
  const { n, seed } = challenge;
  if (opts.exact) {
    const want = await r.productRows(
      seed,
      n,
      o.opened.map((x) => x.index),
    );
    if (want.length !== o.opened.length || want.some((w) => w.length !== n))
      throw new RecomputeError('failed', `${want.length} rows recomputed for ${o.opened.length}`);
    return compareRows(o.opened, want);
  }
  if (!opts.rng) throw new RangeError('spotCheck needs an rng for Freivalds vectors (or exact: true)');
  const vs = freivaldsVectors(opts.rng, n);
  const us = await r.freivalds(seed, n, vs);
  if (us.length !== vs.length || us.some((u) => u.length !== n))
    throw new RecomputeError('failed', `${us.length} Freivalds products for ${vs.length} vectors`);
  return compareFreivalds(seed, n, o.opened, vs, us);
}
