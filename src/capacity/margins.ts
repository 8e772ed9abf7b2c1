import { CLASS_ORDER, CLASS_SPECS, classBelow, type ClassSpec, type GpuClassWithSpec } from './classes.js';
import type { MemoryProofParams } from './memory.js';
import type { WorkParams, WorkProofParams } from './work.js';

/**
 * The timing model of Proof of Capacity per GPU class (docs/verification.md, "Class margins"): how
 * long the stock prover (gpu_prover.py, PyTorch) takes on a class's reference part, how fast the
 * part one class down could possibly do the same work with hand-written kernels, and so which
 * proof separates each class pair, by how much. Deadlines of the memory proof come from it.
 *
 * Every constant below is an assumption until measured on the parts (scripts/gpu-selftest.sh
 * prints the measured figures next to these).
 */
export const MODEL = {
  /** network jitter the read deadline allows on top of the measured round trip, ms */
  jitterMs: 50,
  /** first kernels after `ready` (cuBLAS heuristics, allocator growth), ms: inside the timed window */
  firstKernelMs: 200,
  /**
   * share of the datasheet's dense INT8 peak the stock prover's int8 GEMMs reach at least, in the
   * compute proof and the fill (loose deadlines); the throughput proof's tight one takes each class's
   * own figure (`ClassSpec.stockInt8Share`)
   */
  honestEfficiency: 0.5,
  /**
   * how far above its datasheet's dense INT8 peak a lower part's hand-written kernels may run
   * (boost clocks above the datasheet's, overclocking): mmapeak measured 408.6 dense INT8 TOPS on an
   * RTX 4080, whose datasheet (and Epoch's table) says 390 (ReinForce-II/mmapeak#5)
   */
  belowPeakFactor: 1.05,
  /** memory traffic per generated entry in PyTorch: ~30 elementwise int64 passes of 16 bytes */
  genTrafficBytes: 480,
  /** 32-bit integer operations per generated entry in a fused kernel (two lowbias32 rounds) */
  genOps: 24,
  /** memory traffic per read word of the stock prover's index arithmetic (~5 int64 passes) */
  indexTrafficBytes: 80,
  /** integer operations per read word's index in a fused kernel */
  indexOps: 4,
  /** bytes a random 4-byte read moves (one 32-byte sector) */
  sectorBytes: 32,
  /** random 4-byte reads/s from host memory, for a prover that keeps tiles there (optimistic for it) */
  hostRandomReadsPerSec: 1e9,
  /** what a cheater can use of its part's memory (the rest: context, driver) */
  cheaterMemoryShare: 0.95,
  /** the fill deadline: this many times the stock prover's modeled fill, plus jitter and first kernels */
  fillSlack: 3,
  /**
   * network jitter the throughput proof's deadline allows on top of the measured round trip, ms:
   * WonderProxy's day of pings (../shared/data/rtt/wonderproxy) has a sample's excess over the pair's
   * minimum at most 28.6 ms (avg − min) for 99% of pairs and 46.7 ms for 99.9%; the worst sample of a
   * day (max − min) is within 16 ms for 90% of pairs and 98 ms for 99%
   */
  workJitterMs: 100,
  /**
   * how long the throughput proof's products take the stock prover on the claimed class's part, ms:
   * long enough that the 200 ms of allowances (jitter, the host's last leaves) cost ≤ 3.3% of margin
   */
  workTargetMs: 6000,
  /** after the last product: the last leaves, the tree over the leaves, the message, ms */
  workHostMs: 100,
  /**
   * device memory traffic per product entry of the stock prover besides the GEMM, bytes: the
   * permuted copy of X_b (2), C written (4), C wrapped to int8 (5), the digest GEMM reading it (1)
   */
  workTrafficBytes: 12,
  /** what the prepare may take (generation of the pool in PyTorch, allocation, first kernels), ms */
  prepareTimeoutMs: 120_000,
} as const;

/** The throughput proof's shape for GPU classes: n×n products from a pool of 2 matrices (512 MiB at n = 16,384; see docs). */
export const WORK_SHAPE = { n: 16_384, pool: 2 } as const;

/**
 * What the stock prover's products run at on `s` at `efficiency` of its peak, operations/s: int8
 * tensor cores, or on a part without them (`stockKernel` 'float32') float32 matmuls.
 */
export function stockOpsPerSec(s: ClassSpec, efficiency: number): number {
  return efficiency * (s.stockKernel === 'float32' ? s.fp32FlopsPerSec : s.int8OpsPerSec);
}

/**
 * Memory traffic per output entry of the stock prover's float32 fallback over an inner dimension
 * of `inner`, bytes: per chunk of 1024, the partial product written and read (8), its int32 copy
 * written and read (8), the sum read and written (8). None for the int8 kernel.
 */
export function chunkTrafficBytes(s: ClassSpec, inner: number): number {
  return s.stockKernel === 'float32' ? 24 * Math.ceil(inner / 1024) : 0;
}

/**
 * Bytes of device memory the stock prover's throughput proof holds at side n: the pool (2n²), the
 * permuted copy (n²), C (4n²) and its int8 wrap (n²); the float32 fallback adds a partial product and
 * its int32 copy (8n²).
 */
export function workFootprintBytes(s: ClassSpec, n: number): number {
  return (s.stockKernel === 'float32' ? 16 : 8) * n * n;
}

/** The stock prover's products on `s`, ms: GEMMs at its share of peak, the passes around them, the tree. */
export function honestWorkMs(s: ClassSpec, w: WorkParams, efficiency: number = s.stockInt8Share): number {
  const gemm = (2 * w.n ** 3) / stockOpsPerSec(s, efficiency);
  const traffic = ((MODEL.workTrafficBytes + chunkTrafficBytes(s, w.n)) * w.n * w.n) / s.memoryBytesPerSec;
  return ms(w.products * (gemm + traffic)) + MODEL.workHostMs;
}

/** The products on `s` with the GEMMs at exactly the datasheet's dense INT8 peak, nothing else counted. */
export function peakWorkMs(s: ClassSpec, w: WorkParams): number {
  return ms((w.products * 2 * w.n ** 3) / s.int8OpsPerSec);
}

/** The fastest the products can be on `s`: the GEMMs at MODEL.belowPeakFactor × the datasheet's peak, nothing else counted. */
export function bestWorkMs(s: ClassSpec, w: WorkParams): number {
  return peakWorkMs(s, w) / MODEL.belowPeakFactor;
}

/** A class's reference part, or a part's own figures (classes.ts, MODEL_SPECS). */
const specOf = (part: GpuClassWithSpec | ClassSpec): ClassSpec =>
  typeof part === 'string' ? CLASS_SPECS[part] : part;

/**
 * A proof's side n for a device holding `memoryBytes` (the part's, or a smaller claim's): `n`, halved
 * (down to 1,024) while the stock prover's `footprint` at that side would take more than half of it.
 */
export function fitSide(n: number, footprint: (n: number) => number, memoryBytes: number): number {
  while (n > 1024 && footprint(n) > memoryBytes / 2) n /= 2;
  return n;
}

/**
 * The side of the throughput proof's products on `s` holding `memoryBytes`: WORK_SHAPE.n fitted to it
 * (a 2 GB GT 1030 and a 1 GB vGPU profile prove at n = 4,096).
 */
export function workSideFor(s: ClassSpec, memoryBytes: number = s.memoryBytes): number {
  return fitSide(WORK_SHAPE.n, (n) => workFootprintBytes(s, n), memoryBytes);
}

/**
 * The throughput proof for class `part` (its reference part) or for a part's own figures: as many
 * products as the stock prover does in MODEL.workTargetMs on that part; the deadline is that time
 * plus jitter and the round trip. `memoryBytes`: a claim of less memory than the part's (a vGPU
 * profile) sizes the products for it.
 */
export function workProofFor(
  part: GpuClassWithSpec | ClassSpec,
  rttMs = 0,
  efficiency: number = specOf(part).stockInt8Share,
  memoryBytes?: number,
): WorkProofParams {
  const s = specOf(part);
  const shape = {
    n: workSideFor(s, Math.min(s.memoryBytes, memoryBytes ?? Infinity)),
    pool: WORK_SHAPE.pool,
  };
  const per = honestWorkMs(s, { ...shape, products: 1 }, efficiency) - MODEL.workHostMs;
  const products = Math.max(1, Math.ceil((MODEL.workTargetMs - MODEL.workHostMs) / per));
  const w = { ...shape, products };
  return {
    ...w,
    deadlineMs: Math.ceil(honestWorkMs(s, w, efficiency) + MODEL.workJitterMs + rttMs),
    prepareTimeoutMs: MODEL.prepareTimeoutMs + rttMs,
  };
}

/** The memory proof's shape for GPU classes. */
export const MEMORY_SHAPE = { m: 8192, depth: 16_384, groups: 1 << 22, perGroup: 256 } as const;

const intOpsPerSec = (s: ClassSpec) => s.fp32FlopsPerSec / 2;
const ms = (s: number) => s * 1000;

/**
 * The stock prover's compute proof on `s`, ms: first kernels, generating A and B in PyTorch (and the
 * float32 fallback's chunk traffic), the GEMM at the honest efficiency, hashing C (4n² bytes) at 1 GiB/s.
 */
export function honestComputeMs(s: ClassSpec, n: number): number {
  const gen = (2 * n * n * MODEL.genTrafficBytes + n * n * chunkTrafficBytes(s, n)) / s.memoryBytesPerSec;
  const gemm = (2 * n ** 3) / stockOpsPerSec(s, MODEL.honestEfficiency);
  const hash = (4 * n * n) / 2 ** 30;
  return MODEL.firstKernelMs + ms(gen + gemm + hash);
}

/**
 * Bytes of device memory the stock prover's compute proof works in at side n besides its ballast:
 * A and B (2n²) and C (4n²); the float32 fallback adds a partial product and its int32 copy (8n²)
 * and two float32 chunks (8·1024·n). gpu_prover.py holds the claim's memory as ballast less this.
 */
export function computeFootprintBytes(s: ClassSpec, n: number): number {
  return s.stockKernel === 'float32' ? 14 * n * n + 8 * 1024 * n : 6 * n * n;
}

/**
 * The compute proof's deadline for a part's own figures at side n, ms: its stock prover's
 * generation and product twice over (the 2× the class deadlines allow on the product), first
 * kernels and hashing once. A claim's deadline is its class's or this, whichever is longer (sizing.ts).
 */
export function ownComputeDeadlineMs(s: ClassSpec, n: number): number {
  const hash = ms((4 * n * n) / 2 ** 30);
  return Math.ceil(2 * honestComputeMs(s, n) - MODEL.firstKernelMs - hash);
}

/** The fastest compute proof on `s`: the GEMM at MODEL.belowPeakFactor × peak, nothing else counted. */
export function bestComputeMs(s: ClassSpec, n: number): number {
  return ms((2 * n ** 3) / (MODEL.belowPeakFactor * s.int8OpsPerSec));
}

/** The share of `required` bytes of tiles a part with `memoryBytes` can hold (0..1). */
export function heldShare(memoryBytes: number, required: number): number {
  return Math.min(1, (MODEL.cheaterMemoryShare * memoryBytes) / required);
}

/** The stock prover's fill of `tiles` tiles on `s`, ms (generation in PyTorch, GEMMs at the honest efficiency). */
export function honestFillMs(s: ClassSpec, tiles: number, m: number, depth: number): number {
  const gemm = (2 * m * m * depth) / stockOpsPerSec(s, MODEL.honestEfficiency);
  const gen = (2 * m * depth * MODEL.genTrafficBytes) / s.memoryBytesPerSec;
  const write = ((4 + chunkTrafficBytes(s, depth)) * m * m) / s.memoryBytesPerSec;
  return ms(tiles * (gemm + gen + write));
}

/** The fastest fill of `tiles` tiles on `s`: INT8 at MODEL.belowPeakFactor × peak, generation fused at ALU speed. */
export function bestFillMs(s: ClassSpec, tiles: number, m: number, depth: number): number {
  const gemm = (2 * m * m * depth) / (MODEL.belowPeakFactor * s.int8OpsPerSec);
  const gen = (2 * m * depth * MODEL.genOps) / intOpsPerSec(s);
  return ms(tiles * gemm + tiles * gen);
}

/** The stock prover's read on `s`, ms: generating the positions, gathering the words, hashing the sums. */
export function honestReadMs(s: ClassSpec, groups: number, perGroup: number, fused = false): number {
  const positions = fused
    ? (groups * (4 * MODEL.genOps + perGroup * MODEL.indexOps)) / intOpsPerSec(s)
    : (groups * (4 * MODEL.genTrafficBytes + perGroup * MODEL.indexTrafficBytes)) / s.memoryBytesPerSec;
  const gather = (groups * perGroup * MODEL.sectorBytes) / s.memoryBytesPerSec;
  return ms(positions + gather) + sumsHashMs(groups);
}

/** Copying the sums to the host and hashing them into the tree (1 GB/s, 2 µs per leaf): the same for every prover. */
export function sumsHashMs(groups: number): number {
  return ms((groups * 8) / 1e9 + (2e-6 * groups) / 256);
}

/** The best read on `s` of a prover holding `held` of the tiles (0..1): min over its ways to get the rest. */
export function bestReadMs(
  s: ClassSpec,
  p: { tiles: number; m: number; depth: number; groups: number; perGroup: number },
  held: number,
): { ms: number; way: 'held' | 'recompute tiles' | 'recompute words' | 'host memory' } {
  const positions = (p.groups * (4 * MODEL.genOps + p.perGroup * MODEL.indexOps)) / intOpsPerSec(s);
  const gather = (p.groups * p.perGroup * MODEL.sectorBytes) / s.memoryBytesPerSec;
  const base = ms(positions + gather) + sumsHashMs(p.groups);
  if (held >= 1) return { ms: base, way: 'held' };
  const missing = 1 - held;
  // rows of a tile some group reads
  const rowsFrac = 1 - Math.exp(-p.groups / (p.tiles * p.m));
  const tileMs = ms(
    (rowsFrac * 2 * p.m * p.m * p.depth) / (MODEL.belowPeakFactor * s.int8OpsPerSec) +
      ((rowsFrac * p.m * p.depth + p.m * p.depth) * MODEL.genOps) / intOpsPerSec(s),
  );
  const ways: Array<[number, 'recompute tiles' | 'recompute words' | 'host memory']> = [
    [missing * p.tiles * tileMs, 'recompute tiles'],
    [
      ms((missing * p.groups * (p.perGroup + 1) * p.depth * MODEL.genOps) / intOpsPerSec(s)),
      'recompute words',
    ],
    [ms((missing * p.groups * p.perGroup) / MODEL.hostRandomReadsPerSec), 'host memory'],
  ];
  ways.sort((x, y) => x[0] - y[0]);
  return { ms: base + ways[0]![0], way: ways[0]![1] };
}

/**
 * The memory proof for a claim of `memoryMiB` per GPU of class `part` or of a part with its own
 * figures: as many tiles as fit in share × the claim, deadlines from that part's figures.
 */
export function memoryProofFor(
  part: GpuClassWithSpec | ClassSpec,
  memoryMiB: number,
  share: number,
  rttMs = 0,
): MemoryProofParams | undefined {
  const s = specOf(part);
  const { m, depth, groups, perGroup } = MEMORY_SHAPE;
  const tiles = Math.floor((memoryMiB * 2 ** 20 * share) / (4 * m * m));
  if (tiles < 1) return undefined;
  return {
    tiles,
    m,
    depth,
    groups,
    perGroup,
    fillDeadlineMs: Math.ceil(
      MODEL.fillSlack * honestFillMs(s, tiles, m, depth) + MODEL.jitterMs + MODEL.firstKernelMs + rttMs,
    ),
    readDeadlineMs: Math.ceil(honestReadMs(s, groups, perGroup) + MODEL.jitterMs + rttMs),
  };
}

export interface PairMargins {
  claimed: GpuClassWithSpec;
  below: GpuClassWithSpec;
  /**
   * the claimed part's published throughput over the lower part's, per precision (docs:
   * "Which figure separates a pair"): dense INT8 (the throughput proof's kernel) and dense FP16/BF16
   * with FP32 accumulate
   */
  ratios: { int8: number; fp16Fp32Acc: number };
  /** compute proof: the lower part's fastest product / the claimed class's deadline (> 1: separated) */
  compute: { n: number; deadlineMs: number; belowBestMs: number; margin: number };
  /** memory the claimed class must fill / what the lower part can hold */
  capacity: { requiredGB: number; belowGB: number; held: number };
  /** memory proof read: the lower part's best read / the read deadline */
  read: {
    deadlineMs: number;
    belowBestMs: number;
    way: string;
    margin: number;
    fusedDeadlineMs: number;
    fusedMargin: number;
  };
  /** fill: the lower part's fastest fill / the fill deadline */
  fill: { deadlineMs: number; belowBestMs: number; margin: number };
  /** the throughput proof: the lower part's fastest products / their deadline */
  work: {
    /** the claimed part's stock prover's share of peak the deadline is sized for */
    stockShare: number;
    products: number;
    honestMs: number;
    deadlineMs: number;
    belowBestMs: number;
    margin: number;
    /** the stock prover's share of peak INT8 that the separation needs (null: none does) */
    efficiencyNeeded: number | null;
  };
}

/**
 * The throughput proof's margin of a part `actual` claiming class `claimed` (> 1: it cannot finish
 * in time), with deadlines sized for a stock prover reaching `efficiency` of the claimed part's peak.
 */
export function workMargin(
  claimed: GpuClassWithSpec,
  actual: ClassSpec,
  efficiency: number = CLASS_SPECS[claimed].stockInt8Share,
): number {
  const wp = workProofFor(claimed, 0, efficiency);
  return bestWorkMs(actual, wp) / wp.deadlineMs;
}

/**
 * The share of its part's peak INT8 the stock prover must reach on class `claimed` for the
 * throughput proof to separate it from `actual` (margin > 1); null when no efficiency ≤ 1 does.
 */
export function workEfficiencyNeeded(claimed: GpuClassWithSpec, actual: ClassSpec): number | null {
  if (workMargin(claimed, actual, 1) <= 1) return null;
  let lo = 0.01;
  let hi = 1;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (workMargin(claimed, actual, mid) > 1) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * Margins of the class pair (claimed, the class below) at the claimed part's full memory, no round
 * trip (a round trip adds the same to both sides). `computeDeadlineMs(n)` is sizing's deadline.
 */
export function pairMargins(
  claimed: GpuClassWithSpec,
  compute: { n: number; deadlineMs: number },
  share: number,
): PairMargins | null {
  const below = classBelow(claimed);
  if (!below) return null;
  const c = CLASS_SPECS[claimed];
  const d = CLASS_SPECS[below];
  const belowCompute = bestComputeMs(d, compute.n);
  const mp = memoryProofFor(claimed, c.memoryBytes / 2 ** 20, share)!;
  const required = mp.tiles * 4 * mp.m * mp.m;
  const held = heldShare(d.memoryBytes, required);
  const read = bestReadMs(d, mp, held);
  const fillBelow = bestFillMs(d, mp.tiles, mp.m, mp.depth);
  const wp = workProofFor(claimed);
  // the read deadline of a prover whose position generation is fused as well (not the stock prover)
  const fused = Math.ceil(honestReadMs(c, mp.groups, mp.perGroup, true) + MODEL.jitterMs);
  return {
    claimed,
    below,
    ratios: {
      int8: c.int8OpsPerSec / d.int8OpsPerSec,
      fp16Fp32Acc: (c.fp16Fp32AccFlopsPerSec ?? NaN) / (d.fp16Fp32AccFlopsPerSec ?? NaN),
    },
    compute: { ...compute, belowBestMs: belowCompute, margin: belowCompute / compute.deadlineMs },
    capacity: { requiredGB: required / 1e9, belowGB: d.memoryBytes / 1e9, held },
    read: {
      deadlineMs: mp.readDeadlineMs,
      belowBestMs: read.ms,
      way: read.way,
      margin: read.ms / mp.readDeadlineMs,
      fusedDeadlineMs: fused,
      fusedMargin: read.ms / fused,
    },
    fill: { deadlineMs: mp.fillDeadlineMs, belowBestMs: fillBelow, margin: fillBelow / mp.fillDeadlineMs },
    work: {
      stockShare: c.stockInt8Share,
      products: wp.products,
      honestMs: honestWorkMs(c, wp),
      deadlineMs: wp.deadlineMs,
      belowBestMs: bestWorkMs(d, wp),
      margin: bestWorkMs(d, wp) / wp.deadlineMs,
      efficiencyNeeded: workEfficiencyNeeded(claimed, d),
    },
  };
}

export const PAIRS = CLASS_ORDER.slice(0, -1);

/**
 * The margins of a part `actual` (any figures: another class's, or changed ones) claiming class
 * `claimed` with the claimed part's full memory, each > 1 where that proof alone fails it: the
 * throughput proof and the memory proof's read (best kernels on `actual`).
 */
export function separation(
  claimed: GpuClassWithSpec,
  actual: ClassSpec,
  share: number,
): { work: number; read: number } {
  const c = CLASS_SPECS[claimed];
  const mp = memoryProofFor(claimed, c.memoryBytes / 2 ** 20, share)!;
  const held = heldShare(actual.memoryBytes, mp.tiles * 4 * mp.m * mp.m);
  return { work: workMargin(claimed, actual), read: bestReadMs(actual, mp, held).ms / mp.readDeadlineMs };
}

/**
 * The share of its claimed tiles below which a part of class `cls` itself (best kernels) misses
 * the read deadline: a prover holding less than this share of the claim fails the memory proof.
 */
export function caughtBelowShare(cls: GpuClassWithSpec, share: number): number {
  const s = CLASS_SPECS[cls];
  const mp = memoryProofFor(cls, s.memoryBytes / 2 ** 20, share)!;
  let lo = 0;
  let hi = 1;
  if (bestReadMs(s, mp, 0).ms <= mp.readDeadlineMs) return 0;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (bestReadMs(s, mp, mid).ms > mp.readDeadlineMs) lo = mid;
    else hi = mid;
  }
  return lo;
}
