import type { Rng } from '../core/clock.js';
import { sha256 } from '../core/encoding.js';
import { leafHash, type MerkleProofStep } from '../core/merkle.js';
import { generateRow, merkleLevels, checkOpening, openLeaves } from './challenge.js';

/**
 * The throughput proof (docs/verification.md, "The throughput proof"): sustained int8 GEMMs long
 * enough that network jitter is small against them, timed after the prover has started, generated
 * its inputs and run its first kernels, and answered with a small commitment the checker verifies
 * at the cost of a few rows.
 *
 * Untimed (`prepare`): a pool of P n×n int8 matrices X_p from the prepare seed (the capacity
 * generator keyed by sha256(domain:pool ‖ seed ‖ u32le(p))); the prover allocates and warms up.
 * Timed (`work`, a fresh work seed): R products C_r = X_a · Y_r where, from sha256(domain:product ‖
 * work seed ‖ u32le(r)), a and b pick pool matrices and Y_r's row k is X_b's row (μ·k + ν) mod n (μ
 * odd: a permutation the prover cannot know before the clock starts, so nothing of C_r can be
 * computed ahead). Row i of C_r is digested as q(C_r[i]) · K, q(c) = c's low byte as a signed int8
 * (a wrap, not linear: without it C_r·K = X_a·(Y_r·K) would be an O(n²) shortcut), K an n×8 int8
 * matrix of the work seed: 8 int32 per row. The prover answers the Merkle root over leaves of 64
 * rows' digests; the checker opens the leaves of V random rows and recomputes those rows' digests
 * from the seeds ((distinct pool matrices)·n² generated entries + V·n² multiply-adds).
 */

export const WORK_DOMAIN = 'aethir:capacity:v1:work';
/** rows per leaf of the work tree (n is a multiple of 64: a leaf never spans two products) */
export const ROWS_PER_LEAF = 64;
/** int32 words of a row's digest */
export const DIGEST_WIDTH = 8;
/** rows the checker recomputes by default: a prover that computed a fraction f of the rows passes with ≤ f^V */
export const DEFAULT_VERIFIED_ROWS = 16;

export interface WorkParams {
  /** side of the pool matrices and products (a multiple of 64 in [64, 32768]) */
  n: number;
  /** pool matrices P */
  pool: number;
  /** products R */
  products: number;
}

export interface WorkProofParams extends WorkParams {
  /** the work root must come this long after the work message (checker's clock) */
  deadlineMs: number;
  /** what the prepare (untimed: generation, allocation, first kernels) may take */
  prepareTimeoutMs: number;
}

const isPosInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;

/** Throws a RangeError naming what is wrong. */
export function validateWorkParams(p: WorkParams): void {
  if (!isPosInt(p.n) || p.n % 64 !== 0 || p.n > 32_768)
    throw new RangeError('n must be a multiple of 64 in [64, 32768]');
  if (!isPosInt(p.pool) || p.pool > 64) throw new RangeError('pool must be an integer in [1, 64]');
  if (!isPosInt(p.products) || p.products > 1 << 20)
    throw new RangeError('products must be an integer in [1, 2^20]');
  if (p.products * p.n > 2 ** 31) throw new RangeError('products·n must be at most 2^31');
}

function keysOf(label: string, seed: string, extra?: number): number[] {
  const parts = [Buffer.from(`${WORK_DOMAIN}:${label}\n`), Buffer.from(seed, 'hex')];
  if (extra !== undefined) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(extra);
    parts.push(b);
  }
  const h = sha256(Buffer.concat(parts));
  return [h.readUInt32LE(0), h.readUInt32LE(4), h.readUInt32LE(8), h.readUInt32LE(12)];
}

/** Key of pool matrix p. Bit-exact with pool_key() in gpu_prover.py. */
export function poolKey(prepareSeed: string, p: number): [number, number] {
  const w = keysOf('pool', prepareSeed, p);
  return [w[0]!, w[1]!];
}

/** Key of the digest matrix K (n×8). */
export function digestKey(workSeed: string): [number, number] {
  const w = keysOf('digest', workSeed);
  return [w[0]!, w[1]!];
}

/** Product r: C_r = X_a · Y, Y's row k = X_b's row (mult·k + add) mod n. */
export function productOf(
  workSeed: string,
  p: WorkParams,
  r: number,
): { a: number; b: number; mult: number; add: number } {
  const w = keysOf('product', workSeed, r);
  return { a: w[0]! % p.pool, b: w[1]! % p.pool, mult: 2 * (w[2]! % (p.n / 2)) + 1, add: w[3]! % p.n };
}

/** The low byte of c as a signed int8 (what int32 → int8 conversion wraps to). */
export const wrap8 = (c: number): number => ((c + 128) & 255) - 128;

/** K: n rows of 8 int8 entries. */
export function digestMatrix(workSeed: string, n: number): Int8Array {
  const k = new Int8Array(n * DIGEST_WIDTH);
  const key = digestKey(workSeed);
  const row = new Int8Array(DIGEST_WIDTH);
  for (let l = 0; l < n; l++) {
    generateRow(key, DIGEST_WIDTH, l, row);
    k.set(row, l * DIGEST_WIDTH);
  }
  return k;
}

/** The digest of one row of a product: q(row) · K. */
export function rowDigest(row: ArrayLike<number>, k: Int8Array, out: Int32Array, off = 0): void {
  const n = row.length;
  for (let j = 0; j < DIGEST_WIDTH; j++) out[off + j] = 0;
  for (let l = 0; l < n; l++) {
    const q = wrap8(row[l]!);
    if (q === 0) continue;
    for (let j = 0; j < DIGEST_WIDTH; j++) out[off + j] = out[off + j]! + q * k[l * DIGEST_WIDTH + j]!;
  }
}

/** sha256(domain ‖ id ‖ seeds ‖ parameters): every work leaf starts with it. */
export function workPrefix(id: string, prepareSeed: string, workSeed: string, p: WorkParams): Buffer {
  return sha256(`${WORK_DOMAIN}\n${id}\n${prepareSeed}\n${workSeed}\n${p.n}\n${p.pool}\n${p.products}`);
}

/** leafHash(prefix ‖ u32le(leaf) ‖ 64 rows × 8 digests as int32 little-endian) */
export function workLeaf(prefix: Uint8Array, leaf: number, digests: ArrayLike<number>): Buffer {
  const buf = Buffer.alloc(36 + 4 * digests.length);
  buf.set(prefix, 0);
  buf.writeUInt32LE(leaf, 32);
  for (let k = 0; k < digests.length; k++) buf.writeInt32LE(digests[k]!, 36 + 4 * k);
  return leafHash(buf);
}

export const workLeafCount = (p: WorkParams) => (p.products * p.n) / ROWS_PER_LEAF;

// ---------------------------------------------------------------------------------------------
// The prover's side (in process: the CPU prover and SIMULATED devices; small n only)
// ---------------------------------------------------------------------------------------------

export interface PreparedPool {
  params: WorkParams;
  seed: string;
  /** pool matrices, row-major */
  pool: Float64Array[];
}

export function preparePool(seed: string, p: WorkParams): PreparedPool {
  validateWorkParams(p);
  const pool: Float64Array[] = [];
  const row = new Float64Array(p.n);
  for (let q = 0; q < p.pool; q++) {
    const key = poolKey(seed, q);
    const m = new Float64Array(p.n * p.n);
    for (let i = 0; i < p.n; i++) {
      generateRow(key, p.n, i, row);
      m.set(row, i * p.n);
    }
    pool.push(m);
  }
  return { params: p, seed, pool };
}

export interface WorkAnswer {
  root: string;
  levels: Buffer[][];
  /** products·n·8 digests */
  digests: Int32Array;
  /** rows actually computed (a prover that skips rows, for tests, commits zeros for the rest) */
  computedRows: number;
}

/**
 * Computes the R products and their row digests (all rows, or only those `compute` keeps: the
 * prover that skips work, for tests) and the tree.
 */
export function answerWork(
  prep: PreparedPool,
  id: string,
  workSeed: string,
  compute: (globalRow: number) => boolean = () => true,
): WorkAnswer {
  const p = prep.params;
  const { n } = p;
  const k = digestMatrix(workSeed, n);
  const digests = new Int32Array(p.products * n * DIGEST_WIDTH);
  const acc = new Float64Array(n);
  let computedRows = 0;
  for (let r = 0; r < p.products; r++) {
    const { a, b, mult, add } = productOf(workSeed, p, r);
    const xa = prep.pool[a]!;
    const xb = prep.pool[b]!;
    for (let i = 0; i < n; i++) {
      const g = r * n + i;
      if (!compute(g)) continue;
      computedRows++;
      acc.fill(0);
      for (let kk = 0; kk < n; kk++) {
        const coef = xa[i * n + kk]!;
        if (coef === 0) continue;
        const off = ((mult * kk + add) % n) * n;
        for (let j = 0; j < n; j++) acc[j] = acc[j]! + coef * xb[off + j]!;
      }
      rowDigest(acc, k, digests, g * DIGEST_WIDTH);
    }
  }
  const prefix = workPrefix(id, prep.seed, workSeed, p);
  const per = ROWS_PER_LEAF * DIGEST_WIDTH;
  const leaves: Buffer[] = [];
  for (let f = 0; f < workLeafCount(p); f++)
    leaves.push(workLeaf(prefix, f, digests.subarray(f * per, (f + 1) * per)));
  const levels = merkleLevels(leaves);
  return { root: levels[levels.length - 1]![0]!.toString('hex'), levels, digests, computedRows };
}

/** Leaves with their digests and proofs, for an open after the work root. */
export function openWork(
  a: WorkAnswer,
  indices: readonly number[],
): Array<{ index: number; row: number[]; proof: MerkleProofStep[] }> {
  return openLeaves(a.levels, a.digests, ROWS_PER_LEAF * DIGEST_WIDTH, indices);
}

// ---------------------------------------------------------------------------------------------
// The checker's side
// ---------------------------------------------------------------------------------------------

/** V distinct global rows, and the leaves that hold them (ascending). */
export function pickWorkRows(rng: Rng, p: WorkParams, v: number): { rows: number[]; leaves: number[] } {
  const total = p.products * p.n;
  const want = Math.min(total, Math.max(1, Math.floor(v)));
  const picked = new Set<number>();
  while (picked.size < want) picked.add(rng.int(0, total - 1));
  const rows = [...picked].sort((x, y) => x - y);
  return { rows, leaves: [...new Set(rows.map((g) => Math.floor(g / ROWS_PER_LEAF)))] };
}

/**
 * The true digests of some global rows, from the seeds alone: each pool matrix that some row's
 * product reads as X_b is generated once, row by row (n² entries), and every picked row using it
 * accumulates from it (n² multiply-adds per row).
 */
export function expectedDigests(
  prepareSeed: string,
  workSeed: string,
  p: WorkParams,
  rows: readonly number[],
): Map<number, Int32Array> {
  const { n } = p;
  const k = digestMatrix(workSeed, n);
  const jobs = rows.map((g) => {
    const r = Math.floor(g / n);
    const i = g % n;
    const prod = productOf(workSeed, p, r);
    const aRow = new Float64Array(n);
    generateRow(poolKey(prepareSeed, prod.a), n, i, aRow);
    // coefficient of X_b's row ℓ: aRow[k] where (mult·k + add) mod n = ℓ
    const coefOf = new Float64Array(n);
    for (let kk = 0; kk < n; kk++) coefOf[(prod.mult * kk + prod.add) % n] = aRow[kk]!;
    return { g, b: prod.b, coefOf, acc: new Float64Array(n) };
  });
  const bRow = new Float64Array(n);
  for (const b of new Set(jobs.map((j) => j.b))) {
    const mine = jobs.filter((j) => j.b === b);
    const key = poolKey(prepareSeed, b);
    for (let l = 0; l < n; l++) {
      generateRow(key, n, l, bRow);
      for (const j of mine) {
        const c = j.coefOf[l]!;
        if (c === 0) continue;
        const acc = j.acc;
        for (let x = 0; x < n; x++) acc[x] = acc[x]! + c * bRow[x]!;
      }
    }
  }
  const out = new Map<number, Int32Array>();
  for (const j of jobs) {
    const d = new Int32Array(DIGEST_WIDTH);
    rowDigest(j.acc, k, d);
    out.set(j.g, d);
  }
  return out;
}

export type WorkCheckResult = { ok: true; rows: number } | { ok: false; reason: string };

/**
 * The cheap half of verifyWork, for the checker's main thread: each requested leaf exactly once,
 * 64·8 int32 digests, a Merkle proof of the right shape to the root. Returns the opened digests
 * by leaf (the recomputation, expectedDigests, is the other half: see compareWorkDigests).
 */
export function checkWorkOpening(
  id: string,
  prepareSeed: string,
  workSeed: string,
  p: WorkParams,
  root: string,
  opened: ReadonlyArray<{ index?: unknown; row?: unknown; proof?: unknown }>,
  picked: { rows: readonly number[]; leaves: readonly number[] },
): { ok: true; byLeaf: Map<number, number[]> } | { ok: false; reason: string } {
  const prefix = workPrefix(id, prepareSeed, workSeed, p);
  const bound = 2 ** 31;
  return checkOpening({
    root,
    opened,
    wanted: picked.leaves,
    leaves: workLeafCount(p),
    what: 'work',
    sizeOf: () => ROWS_PER_LEAF * DIGEST_WIDTH,
    values: 'digests',
    valueOk: (v) => v >= -bound && v < bound,
    badValue: 'a digest that is not an int32',
    leafOf: (index, row) => workLeaf(prefix, index, row),
  });
}

/** Every picked row's opened digests against the checker's own (`want`, from expectedDigests). */
export function compareWorkDigests(
  p: WorkParams,
  rows: readonly number[],
  byLeaf: ReadonlyMap<number, readonly number[]>,
  want: ReadonlyMap<number, ArrayLike<number>>,
): WorkCheckResult {
  for (const g of rows) {
    const digests = byLeaf.get(Math.floor(g / ROWS_PER_LEAF))!;
    const off = (g % ROWS_PER_LEAF) * DIGEST_WIDTH;
    const w = want.get(g)!;
    for (let j = 0; j < DIGEST_WIDTH; j++)
      if (digests[off + j] !== w[j])
        return {
          ok: false,
          reason: `row ${g % p.n} of product ${Math.floor(g / p.n)}: its digest is not that of the product's row`,
        };
  }
  return { ok: true, rows: rows.length };
}

/**
 * Checks opened work leaves against the work root: each requested leaf exactly once, 64·8 int32
 * digests, a Merkle proof of the right shape to the root, and every picked row's digests equal to
 * the checker's own from the seeds. Synchronous: the checker runs the recomputation off its event
 * loop (recompute.ts, verifyWorkWith).
 */
export function verifyWork(
  id: string,
  prepareSeed: string,
  workSeed: string,
  p: WorkParams,
  root: string,
  opened: ReadonlyArray<{ index?: unknown; row?: unknown; proof?: unknown }>,
  picked: { rows: readonly number[]; leaves: readonly number[] },
): WorkCheckResult {
  const o = checkWorkOpening(id, prepareSeed, workSeed, p, root, opened, picked);
  if (!o.ok) return o;
  return compareWorkDigests(p, picked.rows, o.byLeaf, expectedDigests(prepareSeed, workSeed, p, picked.rows));
}
