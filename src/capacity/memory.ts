import type { Rng } from '../core/clock.js';
import { sha256 } from '../core/encoding.js';
import { leafHash, type MerkleProofStep } from '../core/merkle.js';
import { generateRow, merkleLevels, mixCounter, checkOpening, openLeaves } from './challenge.js';

/**
 * The memory proof (docs/verification.md, "The memory proof"): after the compute proof, the
 * prover fills the memory it claims with T tiles derived from a fresh seed and answers reads at
 * positions it learns only after the fill, before a deadline that memory on the device meets.
 *
 * Tile t is W_t = A_t·B_t, A_t (m×D) and B_t (D×m) int8 matrices from the capacity generator keyed
 * by sha256(domain ‖ fill seed ‖ t): an m×m int32 tile (4m² bytes) whose every word costs 2D
 * multiply-adds and 2D generated entries to compute on its own. The checker computes any word the
 * same way (cheap for a few words); a prover that does not hold a tile must recompute it (the whole
 * tile on tensor cores, or each word it is asked for), which is what the read deadline is sized
 * against: holding the tile is a gather, recomputing it is D times more work per word.
 *
 * The read: a fresh read seed names S groups of G words; group g lies in tile t_g, row i_g, at
 * columns (c_g + k·s_g) mod m for k < G (groupPositions). The prover answers with the Merkle root over the groups' sums, L sums per leaf (int64 little
 * endian), before the read deadline; the checker then opens the leaves holding V random groups and
 * recomputes those groups' sums.
 */

export const MEMORY_DOMAIN = 'aethir:capacity:v1:memory';
/** sums per leaf of the read's Merkle tree */
export const SUMS_PER_LEAF = 256;
/** groups the checker recomputes by default: a prover that answered a fraction f of the groups passes with ≤ f^V */
export const DEFAULT_VERIFIED_GROUPS = 16;
const U32 = 2 ** 32;

export interface FillParams {
  /** tiles T */
  tiles: number;
  /** tile side m (a tile is m×m int32) */
  m: number;
  /** inner dimension D of A_t·B_t */
  depth: number;
}

export interface ReadParams {
  /** groups S */
  groups: number;
  /** words per group G */
  perGroup: number;
}

export interface MemoryProofParams extends FillParams, ReadParams {
  /** the fill must be reported this long after the fill message (checker's clock) */
  fillDeadlineMs: number;
  /** the read root must come this long after the read message */
  readDeadlineMs: number;
}

const isPosInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;

/** Throws a RangeError naming what is wrong (counters must stay below 2^32; sums exact in float64). */
export function validateMemoryParams(p: FillParams & Partial<ReadParams>): void {
  if (!isPosInt(p.tiles) || p.tiles > 1 << 20) throw new RangeError('tiles must be an integer in [1, 2^20]');
  if (!isPosInt(p.m) || p.m % 64 !== 0 || p.m > 32_768)
    throw new RangeError('m must be a multiple of 64 in [64, 32768]');
  if (!isPosInt(p.depth) || p.depth % 64 !== 0 || p.depth > 65_536)
    throw new RangeError('depth must be a multiple of 64 in [64, 65536]');
  if (p.m * p.depth > U32) throw new RangeError('m·depth must be at most 2^32');
  if (p.groups !== undefined || p.perGroup !== undefined) {
    if (!isPosInt(p.groups) || !isPosInt(p.perGroup) || p.perGroup > 1024)
      throw new RangeError('groups must be a positive integer and perGroup an integer in [1, 1024]');
    if (4 * p.groups > U32) throw new RangeError('groups must be at most 2^30');
    if (p.perGroup > p.m / 2) throw new RangeError('perGroup must be at most m/2');
  }
}

/** Bytes the tiles take: what the prover must hold on the device at once. */
export function tileBytes(p: FillParams): number {
  return p.tiles * 4 * p.m * p.m;
}

function keysOf(label: string, seed: string, extra?: number): [number, number, number, number] {
  const parts = [Buffer.from(`${MEMORY_DOMAIN}:${label}\n`), Buffer.from(seed, 'hex')];
  if (extra !== undefined) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(extra);
    parts.push(b);
  }
  const h = sha256(Buffer.concat(parts));
  return [h.readUInt32LE(0), h.readUInt32LE(4), h.readUInt32LE(8), h.readUInt32LE(12)];
}

/** Keys of tile t's A_t and B_t. Bit-exact with tile_keys() in gpu_prover.py. */
export function tileKeys(fillSeed: string, t: number): { a: [number, number]; b: [number, number] } {
  const w = keysOf('tile', fillSeed, t);
  return { a: [w[0], w[1]], b: [w[2], w[3]] };
}

/**
 * The read positions of group g: tile, row and G columns. Four 32-bit hashes of counters 4g..4g+3
 * under the read seed's keys give the tile, the row, a start column c and an odd stride s ≥ 9;
 * column k is (c + k·s) mod m: G distinct columns (m is a power of two), each in its own 32-byte
 * sector, spread over the row. Bit-exact with the read in gpu_prover.py.
 */
export function groupPositions(
  readSeed: string,
  fill: FillParams,
  read: ReadParams,
  g: number,
): { tile: number; row: number; cols: number[] } {
  const [k0, k1] = keysOf('read', readSeed);
  const h = (k: number) => mixCounter(k0 | 0, k1 | 0, 4 * g + k);
  const start = h(2) % fill.m;
  const stride = 2 * (h(3) % (fill.m / 2 - 4)) + 9;
  const cols: number[] = new Array(read.perGroup);
  for (let k = 0; k < read.perGroup; k++) cols[k] = (start + k * stride) % fill.m;
  return { tile: h(0) % fill.tiles, row: h(1) % fill.m, cols };
}

/** Σ_k W_t[i][cols[k]], computed from the seed alone: (G+1)·D generated entries, G·D multiply-adds. */
export function groupSum(
  fillSeed: string,
  fill: FillParams,
  tile: number,
  row: number,
  cols: readonly number[],
): number {
  const { a: ka, b: kb } = tileKeys(fillSeed, tile);
  const { m, depth } = fill;
  const a = new Float64Array(depth);
  generateRow(ka, depth, row, a);
  const k0 = kb[0] | 0;
  const k1 = kb[1] | 0;
  let sum = 0;
  for (const j of cols)
    for (let l = 0; l < depth; l++) {
      const al = a[l]!;
      if (al !== 0) sum += al * ((mixCounter(k0, k1, l * m + j) >>> 24) - 128);
    }
  return sum;
}

/** One tile W_t = A_t·B_t, row-major int32 (the in-process prover; small tiles only). */
export function computeTile(fillSeed: string, fill: FillParams, t: number): Int32Array {
  const { m, depth } = fill;
  const { a: ka, b: kb } = tileKeys(fillSeed, t);
  const acc = new Float64Array(m * m);
  const a = new Float64Array(depth);
  const bRows: Float64Array[] = [];
  for (let l = 0; l < depth; l++) {
    const b = new Float64Array(m);
    generateRow(kb, m, l, b);
    bRows.push(b);
  }
  for (let i = 0; i < m; i++) {
    generateRow(ka, depth, i, a);
    const off = i * m;
    for (let l = 0; l < depth; l++) {
      const al = a[l]!;
      if (al === 0) continue;
      const b = bRows[l]!;
      for (let j = 0; j < m; j++) acc[off + j] = acc[off + j]! + al * b[j]!;
    }
  }
  return Int32Array.from(acc);
}

/** sha256(domain ‖ id ‖ seeds ‖ parameters): every sums leaf starts with it. */
export function readPrefix(
  id: string,
  fillSeed: string,
  readSeed: string,
  p: FillParams & ReadParams,
): Buffer {
  return sha256(
    `${MEMORY_DOMAIN}\n${id}\n${fillSeed}\n${readSeed}\n${p.tiles}\n${p.m}\n${p.depth}\n${p.groups}\n${p.perGroup}`,
  );
}

/** leafHash(prefix ‖ u32le(leaf) ‖ sums as int64 little-endian) */
export function sumsLeaf(prefix: Uint8Array, leaf: number, sums: ArrayLike<number>): Buffer {
  const buf = Buffer.alloc(36 + 8 * sums.length);
  buf.set(prefix, 0);
  buf.writeUInt32LE(leaf, 32);
  for (let k = 0; k < sums.length; k++) buf.writeBigInt64LE(BigInt(sums[k]!), 36 + 8 * k);
  return leafHash(buf);
}

export const leafCount = (groups: number) => Math.ceil(groups / SUMS_PER_LEAF);

// ---------------------------------------------------------------------------------------------
// The prover's side (in process: the CPU prover and the SIMULATED devices)
// ---------------------------------------------------------------------------------------------

export interface HeldMemory {
  fill: FillParams;
  seed: string;
  /** tiles held, by index; a tile not held is recomputed on read (a prover that holds less) */
  tiles: Map<number, Int32Array>;
}

/** Computes and holds the tiles (all of them, or only those `hold` keeps). */
export function fillMemory(
  seed: string,
  fill: FillParams,
  hold: (t: number) => boolean = () => true,
): HeldMemory {
  validateMemoryParams(fill);
  const tiles = new Map<number, Int32Array>();
  for (let t = 0; t < fill.tiles; t++) if (hold(t)) tiles.set(t, computeTile(seed, fill, t));
  return { fill, seed, tiles };
}

export interface ReadAnswer {
  root: string;
  levels: Buffer[][];
  sums: Float64Array;
  /** tiles the prover had to recompute to answer (0 when it holds them all) */
  recomputedTiles: number;
}

/** The group sums and their tree, from held tiles (recomputing a tile that is not held). */
export function answerRead(mem: HeldMemory, id: string, readSeed: string, read: ReadParams): ReadAnswer {
  validateMemoryParams({ ...mem.fill, ...read });
  const { fill } = mem;
  const sums = new Float64Array(read.groups);
  const recomputed = new Map<number, Int32Array>();
  for (let g = 0; g < read.groups; g++) {
    const { tile, row, cols } = groupPositions(readSeed, fill, read, g);
    let w = mem.tiles.get(tile) ?? recomputed.get(tile);
    if (!w) {
      w = computeTile(mem.seed, fill, tile);
      recomputed.set(tile, w);
    }
    let s = 0;
    for (const j of cols) s += w[row * fill.m + j]!;
    sums[g] = s;
  }
  const prefix = readPrefix(id, mem.seed, readSeed, { ...fill, ...read });
  const leaves: Buffer[] = [];
  for (let f = 0; f < leafCount(read.groups); f++)
    leaves.push(sumsLeaf(prefix, f, sums.subarray(f * SUMS_PER_LEAF, (f + 1) * SUMS_PER_LEAF)));
  const levels = merkleLevels(leaves);
  return {
    root: levels[levels.length - 1]![0]!.toString('hex'),
    levels,
    sums,
    recomputedTiles: recomputed.size,
  };
}

/** Leaves with their sums and proofs, for an open after the read root. */
export function openSums(
  a: ReadAnswer,
  indices: readonly number[],
): Array<{ index: number; row: number[]; proof: MerkleProofStep[] }> {
  return openLeaves(a.levels, a.sums, SUMS_PER_LEAF, indices);
}

// ---------------------------------------------------------------------------------------------
// The checker's side
// ---------------------------------------------------------------------------------------------

/** V distinct groups, and the leaves that hold them (ascending). */
export function pickGroups(rng: Rng, groups: number, v: number): { groups: number[]; leaves: number[] } {
  const want = Math.min(groups, Math.max(1, Math.floor(v)));
  const picked = new Set<number>();
  while (picked.size < want) picked.add(rng.int(0, groups - 1));
  const gs = [...picked].sort((x, y) => x - y);
  return { groups: gs, leaves: [...new Set(gs.map((g) => Math.floor(g / SUMS_PER_LEAF)))] };
}

export type MemoryCheckResult = { ok: true; groups: number } | { ok: false; reason: string };

/** The sums of groups `groups` of a read, from the seeds alone (groupPositions + groupSum each). */
export function groupSums(
  fillSeed: string,
  readSeed: string,
  p: FillParams & ReadParams,
  groups: readonly number[],
): Float64Array {
  const out = new Float64Array(groups.length);
  groups.forEach((g, k) => {
    const { tile, row, cols } = groupPositions(readSeed, p, p, g);
    out[k] = groupSum(fillSeed, p, tile, row, cols);
  });
  return out;
}

/**
 * The cheap half of verifyReads, for the checker's main thread: each requested leaf exactly once,
 * with the right number of integer sums and a Merkle proof of the right shape to the root. Returns
 * the opened sums by leaf (the recomputation, groupSums, is the other half: compareGroupSums).
 */
export function checkReadOpening(
  id: string,
  fillSeed: string,
  readSeed: string,
  p: FillParams & ReadParams,
  root: string,
  opened: ReadonlyArray<{ index?: unknown; row?: unknown; proof?: unknown }>,
  picked: { groups: readonly number[]; leaves: readonly number[] },
): { ok: true; byLeaf: Map<number, number[]> } | { ok: false; reason: string } {
  const prefix = readPrefix(id, fillSeed, readSeed, p);
  const bound = p.perGroup * p.depth * 128 * 128;
  return checkOpening({
    root,
    opened,
    wanted: picked.leaves,
    leaves: leafCount(p.groups),
    what: 'read',
    sizeOf: (index) => Math.min(SUMS_PER_LEAF, p.groups - index * SUMS_PER_LEAF),
    values: 'sums',
    valueOk: (v) => Math.abs(v) <= bound,
    badValue: `a sum that is not an integer in [-${bound}, ${bound}]`,
    leafOf: (index, row) => sumsLeaf(prefix, index, row),
  });
}

/** Every checked group's opened sum against the checker's own (`want[k]` for `groups[k]`). */
export function compareGroupSums(
  readSeed: string,
  p: FillParams & ReadParams,
  groups: readonly number[],
  byLeaf: ReadonlyMap<number, readonly number[]>,
  want: ArrayLike<number>,
): MemoryCheckResult {
  for (let k = 0; k < groups.length; k++) {
    const g = groups[k]!;
    const sums = byLeaf.get(Math.floor(g / SUMS_PER_LEAF))!;
    if (sums[g % SUMS_PER_LEAF] !== want[k]) {
      const { tile, row } = groupPositions(readSeed, p, p, g);
      return {
        ok: false,
        reason: `group ${g} (tile ${tile}, row ${row}): the sum is not that of the tile's words`,
      };
    }
  }
  return { ok: true, groups: groups.length };
}

/**
 * Checks opened sum leaves against the read root: each requested leaf exactly once, with the right
 * number of integer sums, a Merkle proof of the right shape to the root, and every checked group's
 * sum equal to the checker's own computation from the seeds. Synchronous: the checker runs the
 * recomputation off its event loop (recompute.ts, verifyReadsWith).
 */
export function verifyReads(
  id: string,
  fillSeed: string,
  readSeed: string,
  p: FillParams & ReadParams,
  root: string,
  opened: ReadonlyArray<{ index?: unknown; row?: unknown; proof?: unknown }>,
  picked: { groups: readonly number[]; leaves: readonly number[] },
): MemoryCheckResult {
  const o = checkReadOpening(id, fillSeed, readSeed, p, root, opened, picked);
  if (!o.ok) return o;
  const want = groupSums(fillSeed, readSeed, p, picked.groups);
  return compareGroupSums(readSeed, p, picked.groups, o.byLeaf, want);
}
