import { endianness } from 'node:os';
// Narrow imports (not the index modules): a prover process starts faster without them.
import type { Clock, Rng } from '../core/clock.js';
import { sha256 } from '../core/encoding.js';
import { leafHash, nodeHash, verifyMerkleProof, type MerkleProofStep } from '../core/merkle.js';

/**
 * Proof of Capacity, the arithmetic (docs/verification.md).
 *
 * A challenge is a fresh 256-bit seed. From it both sides derive two n×n matrices A and B whose
 * entries are integers in [-128, 127] (int8), and the prover computes C = A·B exactly. Every
 * |C[i][j]| ≤ n·128² = n·2^14 < 2^31 for n ≤ 2^17, so C fits int32 and is the same integer on
 * every machine whatever arithmetic computes it:
 *
 * - int8 tensor cores with int32 accumulation (torch._int_mm): exact, no overflow;
 * - float64 with these small integers (the JS CPU prover): every partial sum is an integer below
 *   2^31 ≪ 2^53, so no rounding ever happens;
 * - float32 or TF32 in chunks of ≤ 1024 along the inner dimension: every partial sum stays at or
 *   below 1024·2^14 = 2^24, where float32 still holds every integer exactly.
 *
 * A plain float32 matmul over the whole inner dimension would NOT be exact (partial sums pass
 * 2^24 and round, and in an order that differs between BLAS libraries), which is why the result is
 * defined as the integer product, never as "what a matmul returns".
 *
 * The prover commits to C with a Merkle root over its rows (each leaf binds the challenge id,
 * seed and n, the row index and the row's int32 little-endian bytes) before a deadline derived
 * from the claimed class's throughput; the checker then opens k random rows and checks them at
 * O(n²) cost in total (Freivalds' check of the opened rows against B·v for a random vector v the
 * prover never sees), or, with `exact`, recomputes each opened row at O(n²) each.
 */

export const CAPACITY_PROTOCOL_VERSION = 1;
export const MIN_N = 64;
export const MAX_N = 32_768;
/** n must be a multiple of this (the JS kernel works on 2×4 blocks; torch._int_mm wants multiples of 8) */
export const N_MULTIPLE = 64;
/** entries of A and B lie in [-128, 127]: |a·b| ≤ 2^14 */
export const ENTRY_MAX_PRODUCT = 128 * 128;
/**
 * The primes of Freivalds' check, the two largest below 2^21 (every product the checker forms stays
 * exact in float64), with two random vectors each. Two primes make the check exact: a wrong entry
 * differs from the true one by at most 2^30 < p1·p2, so it is non-zero modulo at least one of them,
 * and a wrong row then passes that prime's two vectors with probability ≤ p^-2 ≈ 2^-42.
 */
export const FREIVALDS_PRIMES: readonly number[] = [2_097_143, 2_097_143, 2_097_133, 2_097_133];
/** rows the checker opens by default: a prover that computed a fraction f of the rows passes with ≤ f^k */
export const DEFAULT_SPOT_ROWS = 32;

const DOMAIN = 'aethir:capacity:v1';
const HEX64 = /^[0-9a-f]{64}$/;
const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const LITTLE_ENDIAN = endianness() === 'LE';

export interface Challenge {
  /** unique per challenge (bound into every leaf) */
  id: string;
  /** 64 lowercase hex characters: 256 bits from the checker's Rng */
  seed: string;
  /** A, B and C are n×n */
  n: number;
  /** the commitment must arrive this long after the challenge was sent */
  deadlineMs: number;
  /** memory the prover must hold at once while it proves (VRAM on a GPU, RAM on the CPU prover) */
  memoryMiB?: number;
  /** the checker's clock when it issued the challenge */
  issuedAt: number;
}

export interface Commitment {
  /** hex Merkle root over the leaves of C's rows */
  root: string;
}

export interface OpenedRow {
  index: number;
  /** C's row: n integers */
  row: ArrayLike<number>;
  proof: readonly MerkleProofStep[];
}

export function checkN(n: number): void {
  if (!Number.isSafeInteger(n) || n < MIN_N || n > MAX_N || n % N_MULTIPLE !== 0)
    throw new RangeError(`n must be a multiple of ${N_MULTIPLE} in [${MIN_N}, ${MAX_N}], got ${n}`);
}

/** `bytes` random bytes as hex, from the checker's Rng */
export function randomHex(rng: Rng, bytes: number): string {
  let s = '';
  for (let i = 0; i < bytes; i += 4) s += rng.nextU32().toString(16).padStart(8, '0');
  return s.slice(0, bytes * 2);
}

export function issueChallenge(
  rng: Rng,
  clock: Clock,
  size: { n: number; deadlineMs: number; memoryMiB?: number },
  id?: string,
): Challenge {
  checkN(size.n);
  const ch: Challenge = {
    id: id ?? `cap-${randomHex(rng, 12)}`,
    seed: randomHex(rng, 32),
    n: size.n,
    deadlineMs: size.deadlineMs,
    issuedAt: clock.now(),
  };
  if (size.memoryMiB !== undefined) ch.memoryMiB = size.memoryMiB;
  validateChallenge(ch);
  return ch;
}

export function validateChallenge(ch: Challenge): void {
  if (!ID_RE.test(ch.id)) throw new RangeError('challenge id: 1 to 64 of [A-Za-z0-9_-]');
  if (!HEX64.test(ch.seed)) throw new RangeError('challenge seed: 64 lowercase hex characters');
  checkN(ch.n);
  if (!(Number.isFinite(ch.deadlineMs) && ch.deadlineMs > 0)) throw new RangeError('deadlineMs must be > 0');
  if (ch.memoryMiB !== undefined && !(Number.isSafeInteger(ch.memoryMiB) && ch.memoryMiB > 0))
    throw new RangeError('memoryMiB must be a positive integer');
}

// ---------------------------------------------------------------------------------------------
// The matrices
// ---------------------------------------------------------------------------------------------

export interface MatrixKeys {
  a: readonly [number, number];
  b: readonly [number, number];
}

/** Keys of the element generator: little-endian words of sha256(domain ‖ seed). */
export function matrixKeys(seed: string): MatrixKeys {
  const h = sha256(Buffer.concat([Buffer.from(`${DOMAIN}:keys\n`), Buffer.from(seed, 'hex')]));
  const w = (i: number) => h.readUInt32LE(4 * i);
  return { a: [w(0), w(1)], b: [w(2), w(3)] };
}

/**
 * Row i of a matrix: element (i, j) is counter e = i·n + j through two rounds of a keyed 32-bit
 * mixer (lowbias32: xor-shift-multiply, a bijection on 32 bits), top byte minus 128. Counter-based,
 * so any row is generated on its own in O(n): that is what keeps verification O(n²).
 * Bit-exact with gen_rows() in gpu_prover.py.
 */
export function generateRow(
  key: readonly [number, number],
  n: number,
  i: number,
  out: Float64Array | Int32Array | Int8Array,
): void {
  const k0 = key[0] | 0;
  const k1 = key[1] | 0;
  const base = i * n;
  for (let j = 0; j < n; j++) out[j] = (mixCounter(k0, k1, base + j) >>> 24) - 128;
}

/**
 * The generator's 32 bits for counter e (< 2^32): two rounds of lowbias32 keyed with k0 and k1. A
 * matrix entry is its top byte minus 128; the memory proof's read positions use all 32 bits.
 * Bit-exact with mix() in gpu_prover.py.
 */
export function mixCounter(k0: number, k1: number, e: number): number {
  let x = e ^ k0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  x = (x + k1) | 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** A whole matrix, row-major, as float64 (exact: small integers) */
export function generateMatrix(key: readonly [number, number], n: number): Float64Array {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) generateRow(key, n, i, m.subarray(i * n, (i + 1) * n));
  return m;
}

/**
 * C = A·B for row-major n×n float64 matrices of small integers: 2 rows × 4 inner indices per
 * step, so each loaded element of B serves two rows (about 1.5·10^9 multiply-adds/s in V8).
 * Exact: every partial sum is an integer below 2^31.
 */
export function multiply(n: number, a: Float64Array, b: Float64Array): Int32Array {
  if (n % 4 !== 0) throw new RangeError('n must be a multiple of 4');
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i += 2) {
    const ai = i * n;
    const aj = ai + n;
    for (let l = 0; l < n; l += 4) {
      const a0 = a[ai + l]!,
        a1 = a[ai + l + 1]!,
        a2 = a[ai + l + 2]!,
        a3 = a[ai + l + 3]!;
      const e0 = a[aj + l]!,
        e1 = a[aj + l + 1]!,
        e2 = a[aj + l + 2]!,
        e3 = a[aj + l + 3]!;
      const b0 = l * n,
        b1 = b0 + n,
        b2 = b1 + n,
        b3 = b2 + n;
      for (let j = 0; j < n; j++) {
        const x0 = b[b0 + j]!,
          x1 = b[b1 + j]!,
          x2 = b[b2 + j]!,
          x3 = b[b3 + j]!;
        c[ai + j] = c[ai + j]! + a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3;
        c[aj + j] = c[aj + j]! + e0 * x0 + e1 * x1 + e2 * x2 + e3 * x3;
      }
    }
  }
  return Int32Array.from(c);
}

// ---------------------------------------------------------------------------------------------
// Commitment: leaves and the Merkle tree
// ---------------------------------------------------------------------------------------------

/** sha256(domain ‖ id ‖ seed ‖ n): every leaf starts with it, so a root answers one challenge only */
export function challengePrefix(ch: Pick<Challenge, 'id' | 'seed' | 'n'>): Buffer {
  return sha256(`${DOMAIN}\n${ch.id}\n${ch.seed}\n${ch.n}`);
}

/** leafHash(prefix ‖ u32le(index) ‖ row as int32 little-endian) */
export function rowLeaf(prefix: Uint8Array, index: number, row: Int32Array): Buffer {
  const buf = Buffer.allocUnsafe(36 + 4 * row.length);
  buf.set(prefix, 0);
  buf.writeUInt32LE(index, 32);
  if (LITTLE_ENDIAN) buf.set(new Uint8Array(row.buffer, row.byteOffset, row.byteLength), 36);
  else for (let j = 0; j < row.length; j++) buf.writeInt32LE(row[j]!, 36 + 4 * j);
  return leafHash(buf);
}

/** All levels of the tree (leaves first), the same tree as core's merkleRoot: odd nodes promoted. */
export function merkleLevels(leaves: readonly Buffer[]): Buffer[][] {
  if (leaves.length === 0) throw new RangeError('no leaves');
  const levels: Buffer[][] = [leaves.slice()];
  let level = levels[0]!;
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2)
      next.push(i + 1 < level.length ? nodeHash(level[i]!, level[i + 1]!) : level[i]!);
    levels.push(next);
    level = next;
  }
  return levels;
}

/** The proof of leaf `index` from precomputed levels: core's merkleProof at O(log n). */
export function proofFromLevels(levels: readonly Buffer[][], index: number): MerkleProofStep[] {
  const proof: MerkleProofStep[] = [];
  let i = index;
  for (let d = 0; d < levels.length - 1; d++) {
    const level = levels[d]!;
    const sibling = i ^ 1;
    if (sibling < level.length)
      proof.push({ hash: level[sibling]!.toString('hex'), side: i % 2 === 0 ? 'right' : 'left' });
    i >>= 1;
  }
  return proof;
}

/**
 * Leaves `indices` of a committed tree for an open: each leaf's `per` values (leaf i holds
 * `values[i·per, (i+1)·per)`) with its Merkle proof from `levels`.
 */
export function openLeaves(
  levels: Buffer[][],
  values: { subarray(begin: number, end: number): ArrayLike<number> },
  per: number,
  indices: readonly number[],
): Array<{ index: number; row: number[]; proof: MerkleProofStep[] }> {
  const leaves = levels[0]!.length;
  return indices.map((index) => {
    if (!Number.isSafeInteger(index) || index < 0 || index >= leaves)
      throw new RangeError(`leaf ${index} is not in [0, ${leaves})`);
    return {
      index,
      row: Array.from(values.subarray(index * per, (index + 1) * per)),
      proof: proofFromLevels(levels, index),
    };
  });
}

/** The sides a valid proof of leaf `index` in a tree of `count` leaves has, bottom up. */
export function proofSides(count: number, index: number): Array<'left' | 'right'> {
  const sides: Array<'left' | 'right'> = [];
  let len = count;
  let i = index;
  while (len > 1) {
    if ((i ^ 1) < len) sides.push(i % 2 === 0 ? 'right' : 'left');
    i >>= 1;
    len = (len + 1) >> 1;
  }
  return sides;
}

/**
 * Whether a prover's `proof` (untrusted JSON) is shaped as a valid proof of leaf `index` of
 * `count` leaves: one step per level, each a 64-hex hash on the side `proofSides` says.
 */
export function wellFormedProof(proof: unknown, count: number, index: number): proof is MerkleProofStep[] {
  const sides = proofSides(count, index);
  return (
    Array.isArray(proof) &&
    proof.length === sides.length &&
    proof.every(
      (s: MerkleProofStep | null, d) =>
        !!s && typeof s.hash === 'string' && HEX64.test(s.hash) && s.side === sides[d],
    )
  );
}

/**
 * A prover's opening of committed leaves (untrusted JSON), checked without recomputing anything:
 * each wanted leaf exactly once, `sizeOf(index)` values each passing `valueOk`, and a Merkle proof
 * of the right shape from `leafOf(index, row)` to `root`. Returns the opened rows by leaf.
 */
export function checkOpening(o: {
  root: unknown;
  opened: unknown;
  wanted: readonly number[];
  leaves: number;
  /** what the root commits to, for the messages ("work", "read") */
  what: string;
  sizeOf: (index: number) => number;
  /** the values' name and range, for the messages ("digests", "a digest that is not an int32") */
  values: string;
  valueOk: (v: number) => boolean;
  badValue: string;
  leafOf: (index: number, row: number[]) => Buffer;
}): { ok: true; byLeaf: Map<number, number[]> } | { ok: false; reason: string } {
  const bad = (reason: string) => ({ ok: false as const, reason });
  if (typeof o.root !== 'string' || !HEX64.test(o.root))
    return bad(`the ${o.what} root is not a 32-byte hex root`);
  if (!Array.isArray(o.opened)) return bad('the opened leaves are not a list');
  const wanted = new Set(o.wanted);
  if (o.opened.length !== wanted.size)
    return bad(`${o.opened.length} leaves opened, ${wanted.size} requested`);
  const rootBuf = Buffer.from(o.root, 'hex');
  const byLeaf = new Map<number, number[]>();
  for (const leaf of o.opened as Array<{ index?: unknown; row?: unknown; proof?: unknown } | null>) {
    const index = leaf?.index;
    if (typeof index !== 'number' || !wanted.has(index) || byLeaf.has(index))
      return bad(`leaf ${String(index)} was not requested, or came twice`);
    const size = o.sizeOf(index);
    const row = leaf!.row;
    if (!Array.isArray(row) || row.length !== size)
      return bad(`leaf ${index} does not have ${size} ${o.values}`);
    if (!row.every((v) => typeof v === 'number' && Number.isSafeInteger(v) && o.valueOk(v)))
      return bad(`leaf ${index}: ${o.badValue}`);
    const proof = leaf!.proof;
    if (!wellFormedProof(proof, o.leaves, index))
      return bad(`leaf ${index}: the Merkle proof has the wrong shape for leaf ${index} of ${o.leaves}`);
    if (!verifyMerkleProof(o.leafOf(index, row as number[]), proof, rootBuf))
      return bad(`leaf ${index}: its Merkle proof does not lead to the ${o.what} root`);
    byLeaf.set(index, row as number[]);
  }
  return { ok: true, byLeaf };
}

// ---------------------------------------------------------------------------------------------
// The honest prover's computation (the CPU prover and the benchmark use it)
// ---------------------------------------------------------------------------------------------

export interface Proof {
  challenge: Challenge;
  /** C, row-major */
  c: Int32Array;
  levels: Buffer[][];
  root: string;
}

export function prove(ch: Challenge): Proof {
  validateChallenge(ch);
  const { n } = ch;
  const keys = matrixKeys(ch.seed);
  const c = multiply(n, generateMatrix(keys.a, n), generateMatrix(keys.b, n));
  return commitTo(ch, c);
}

/** The commitment to a given C (also what a cheater that made C up would compute). */
export function commitTo(ch: Challenge, c: Int32Array): Proof {
  const { n } = ch;
  const prefix = challengePrefix(ch);
  const leaves: Buffer[] = new Array(n);
  for (let i = 0; i < n; i++) leaves[i] = rowLeaf(prefix, i, c.subarray(i * n, (i + 1) * n));
  const levels = merkleLevels(leaves);
  return { challenge: ch, c, levels, root: levels[levels.length - 1]![0]!.toString('hex') };
}

/** Rows with their proofs, rows as plain arrays (JSON) */
export function openRows(
  p: Proof,
  indices: readonly number[],
): Array<{
  index: number;
  row: number[];
  proof: MerkleProofStep[];
}> {
  const { n } = p.challenge;
  return indices.map((index) => {
    if (!Number.isSafeInteger(index) || index < 0 || index >= n)
      throw new RangeError(`row ${index} is not in [0, ${n})`);
    return {
      index,
      row: Array.from(p.c.subarray(index * n, (index + 1) * n)),
      proof: proofFromLevels(p.levels, index),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// The checker's side
// ---------------------------------------------------------------------------------------------

/** k distinct row indices in [0, n), uniform, ascending */
export function pickIndices(rng: Rng, n: number, k: number): number[] {
  const want = Math.min(Math.max(0, Math.floor(k)), n);
  const picked = new Set<number>();
  if (want > n / 2) {
    // partial Fisher-Yates when most rows are wanted
    const all = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < want; i++) {
      const j = rng.int(i, n - 1);
      [all[i], all[j]] = [all[j]!, all[i]!];
      picked.add(all[i]!);
    }
  } else while (picked.size < want) picked.add(rng.int(0, n - 1));
  return [...picked].sort((x, y) => x - y);
}

export type SpotCheckResult =
  | { ok: true; rows: number }
  | { ok: false; reason: string; index?: number; kind: 'malformed' | 'proof' | 'row' };

export interface SpotCheckOptions {
  /** the rows the checker asked for: each must be answered exactly once */
  indices: readonly number[];
  /** draws Freivalds' vectors; required unless `exact` */
  rng?: Rng;
  /** recompute every opened row (k·n² multiply-adds) instead of Freivalds' check (n² in all) */
  exact?: boolean;
}

const mod = (x: number, p: number) => ((x % p) + p) % p;

type Vectors = [Float64Array, Float64Array, Float64Array, Float64Array];

/**
 * u_t = B·v_t mod p_t for Freivalds' four vectors, B generated a row at a time: n² generated
 * entries and 4n² multiply-adds. |B[l][j]·v[j]| < 2^28 and a row's sum < 2^43: exact in float64.
 * (A function of its own: V8 optimizes the hot loop far better than inside spotCheck.)
 */
function timesVectors(
  key: readonly [number, number],
  n: number,
  [v0, v1, v2, v3]: Vectors,
  primes: readonly number[],
): Vectors {
  const us: Vectors = [new Float64Array(n), new Float64Array(n), new Float64Array(n), new Float64Array(n)];
  const b = new Float64Array(n);
  for (let l = 0; l < n; l++) {
    generateRow(key, n, l, b);
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0;
    for (let j = 0; j < n; j++) {
      const x = b[j]!;
      s0 += x * v0[j]!;
      s1 += x * v1[j]!;
      s2 += x * v2[j]!;
      s3 += x * v3[j]!;
    }
    us[0][l] = mod(s0, primes[0]!);
    us[1][l] = mod(s1, primes[1]!);
    us[2][l] = mod(s2, primes[2]!);
    us[3][l] = mod(s3, primes[3]!);
  }
  return us;
}

/** Rows a_r·B (the opened rows recomputed): one pass over B, generated a row at a time. */
function recomputeRows(
  key: readonly [number, number],
  n: number,
  aRows: readonly Float64Array[],
): Float64Array[] {
  const acc = aRows.map(() => new Float64Array(n));
  const b = new Float64Array(n);
  for (let l = 0; l < n; l++) {
    generateRow(key, n, l, b);
    for (let r = 0; r < aRows.length; r++) {
      const a = aRows[r]![l]!;
      if (a !== 0) axpy(a, b, acc[r]!, n);
    }
  }
  return acc;
}

function axpy(a: number, x: Float64Array, y: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) y[j] = y[j]! + a * x[j]!;
}

/**
 * Σ c[j]·v[j] mod p for a row |c[j]| < 2^31 and 0 ≤ v[j] < p < 2^21: c[j] reduced mod p first (an
 * int32 remainder, fast), so a term is < 2^42, and the sum is reduced every 1024 terms (< 2^52).
 */
function dotMod(c: Int32Array, v: Float64Array, p: number): number {
  let s = 0;
  const n = v.length;
  for (let j = 0; j < n; j++) {
    let x = c[j]! % p;
    if (x < 0) x += p;
    s += x * v[j]!;
    if ((j & 1023) === 1023) s %= p;
  }
  return s % p;
}

/** Σ a[l]·u[l] for int8 a and u < 2^21: terms < 2^28, the sum < n·2^28: exact in float64 */
function dot(a: Float64Array, u: Float64Array): number {
  let s = 0;
  for (let l = 0; l < a.length; l++) s += a[l]! * u[l]!;
  return s;
}

/** An opened row that passed checkOpenedRows: its index and its n entries. */
export interface CheckedRow {
  index: number;
  row: Int32Array;
}

/**
 * The cheap half of spotCheck, for the checker's main thread: the requested rows, each exactly
 * once, each a row of n integers in range, each with a Merkle proof of the right shape from its
 * leaf (bound to this challenge) to the root. Returns the rows (their product check is the other
 * half: freivaldsProducts or productRows, then compareFreivalds or compareRows).
 */
export function checkOpenedRows(
  challenge: Challenge,
  commitment: Commitment,
  rows: readonly OpenedRow[],
  indices: readonly number[],
): { ok: true; opened: CheckedRow[] } | Extract<SpotCheckResult, { ok: false }> {
  const bad = (kind: 'malformed' | 'proof' | 'row', reason: string, index?: number) =>
    index === undefined ? { ok: false as const, kind, reason } : { ok: false as const, kind, reason, index };
  const { n } = challenge;
  if (typeof commitment.root !== 'string' || !HEX64.test(commitment.root))
    return bad('malformed', 'the commitment is not a 32-byte hex root');
  const root = Buffer.from(commitment.root, 'hex');
  const wanted = new Set(indices);
  if (wanted.size !== indices.length) throw new RangeError('duplicate requested rows');
  if (!Array.isArray(rows)) return bad('malformed', 'the opened rows are not a list');
  if (rows.length !== wanted.size)
    return bad('malformed', `${rows.length} rows opened, ${wanted.size} requested`);

  const bound = n * ENTRY_MAX_PRODUCT;
  const prefix = challengePrefix(challenge);
  const opened: CheckedRow[] = [];
  const seen = new Set<number>();
  for (const r of rows) {
    const index = r?.index;
    if (typeof index !== 'number' || !wanted.has(index) || seen.has(index))
      return bad('malformed', `row ${String(index)} was not requested, or came twice`);
    seen.add(index);
    if (!r.row || r.row.length !== n)
      return bad('malformed', `row ${index} does not have ${n} entries`, index);
    const row = new Int32Array(n);
    for (let j = 0; j < n; j++) {
      const v = r.row[j];
      if (typeof v !== 'number' || !Number.isInteger(v) || Math.abs(v) > bound)
        return bad('malformed', `row ${index}, entry ${j} is not an integer in [-${bound}, ${bound}]`, index);
      row[j] = v;
    }
    const proof = r.proof;
    if (!wellFormedProof(proof, n, index))
      return bad(
        'proof',
        `row ${index}: the Merkle proof has the wrong shape for leaf ${index} of ${n}`,
        index,
      );
    if (!verifyMerkleProof(rowLeaf(prefix, index, row), proof, root))
      return bad('proof', `row ${index}: its Merkle proof does not lead to the committed root`, index);
    opened.push({ index, row });
  }
  return { ok: true, opened };
}

/** Freivalds' four vectors, v_t uniform in [0, p_t) (FREIVALDS_PRIMES), drawn from the checker's rng. */
export function freivaldsVectors(rng: Rng, n: number): Float64Array[] {
  return FREIVALDS_PRIMES.map((p) => {
    const v = new Float64Array(n);
    for (let j = 0; j < n; j++) v[j] = rng.int(0, p - 1);
    return v;
  });
}

/** u_t = B·v_t mod p_t for the challenge's B (from its seed): n² generated entries, 4n² multiply-adds. */
export function freivaldsProducts(seed: string, n: number, vs: readonly Float64Array[]): Float64Array[] {
  if (vs.length !== FREIVALDS_PRIMES.length || vs.some((v) => v.length !== n))
    throw new RangeError(`Freivalds needs ${FREIVALDS_PRIMES.length} vectors of ${n} entries`);
  return timesVectors(matrixKeys(seed).b, n, vs as Vectors, FREIVALDS_PRIMES);
}

/** Rows `indices` of A·B from the seed alone: one pass over B, k·n² multiply-adds. */
export function productRows(seed: string, n: number, indices: readonly number[]): Float64Array[] {
  const keys = matrixKeys(seed);
  const aRows = indices.map((index) => {
    const a = new Float64Array(n);
    generateRow(keys.a, n, index, a);
    return a;
  });
  return recomputeRows(keys.b, n, aRows);
}

/** Each opened row against Freivalds: c·v_t ≡ a·u_t (mod p_t), a the row of A (k·n generated entries). */
export function compareFreivalds(
  seed: string,
  n: number,
  opened: readonly CheckedRow[],
  vs: readonly Float64Array[],
  us: readonly Float64Array[],
): SpotCheckResult {
  const keys = matrixKeys(seed);
  const a = new Float64Array(n);
  for (const { index, row } of opened) {
    generateRow(keys.a, n, index, a);
    for (let t = 0; t < vs.length; t++) {
      const p = FREIVALDS_PRIMES[t]!;
      if (dotMod(row, vs[t]!, p) !== mod(dot(a, us[t]!), p))
        return {
          ok: false,
          kind: 'row',
          reason: `row ${index} is not row ${index} of A·B (Freivalds' check)`,
          index,
        };
    }
  }
  return { ok: true, rows: opened.length };
}

/** Each opened row against its recomputation (`want[r]` for `opened[r]`). */
export function compareRows(
  opened: readonly CheckedRow[],
  want: readonly ArrayLike<number>[],
): SpotCheckResult {
  for (let r = 0; r < opened.length; r++) {
    const { index: i, row: got } = opened[r]!;
    const w = want[r]!;
    for (let j = 0; j < got.length; j++)
      if (got[j] !== w[j])
        return {
          ok: false,
          kind: 'row',
          reason: `row ${i} is not row ${i} of A·B (first difference at column ${j})`,
          index: i,
        };
  }
  return { ok: true, rows: opened.length };
}

/**
 * Checks opened rows against a commitment: the requested rows, each exactly once, each a row of
 * n integers in range, each with a Merkle proof of the right shape from its leaf (bound to this
 * challenge) to the root, and each equal to row i of A·B (Freivalds' check, or recomputed).
 * Synchronous: the checker runs the product check off its event loop (recompute.ts, spotCheckWith).
 */
export function spotCheck(
  challenge: Challenge,
  commitment: Commitment,
  rows: readonly OpenedRow[],
  opts: SpotCheckOptions,
): SpotCheckResult {
  const o = checkOpenedRows(challenge, commitment, rows, opts.indices);
  if (!o.ok) return o;
  const { n, seed } = challenge;
  if (opts.exact)
    return compareRows(
      o.opened,
      productRows(
        seed,
        n,
        o.opened.map((r) => r.index),
      ),
    );
  // Freivalds: with v secret and drawn after the commitment, c·v ≡ a·(B·v) (mod p) for a row c
  // other than a·B (mod p) has probability 1/p per vector.
  if (!opts.rng) throw new RangeError('spotCheck needs an rng for Freivalds vectors (or exact: true)');
  const vs = freivaldsVectors(opts.rng, n);
  return compareFreivalds(seed, n, o.opened, vs, freivaldsProducts(seed, n, vs));
}
