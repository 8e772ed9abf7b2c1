// The ledger's class table; params.ts brings zod along, so the prover processes never import this module.
import { gpuClass as classOfModel, type GpuClass } from '../ledger/params.js';
import { specForModel, type ClassSpec } from './classes.js';
import {
  computeFootprintBytes,
  fitSide,
  memoryProofFor,
  ownComputeDeadlineMs,
  workProofFor,
} from './margins.js';
import type { MemoryProofParams } from './memory.js';
import type { WorkProofParams } from './work.js';

/**
 * Proof of Capacity: how big a challenge is and how long it may take, per claimed class
 * (docs/verification.md, "Parameters").
 */

export interface ClassProfile {
  /** matrix size for this class */
  n: number;
  /**
   * the exact-integer matmul throughput (operations/s, 2 per multiply-add) the class must at least
   * sustain: for GPUs a quarter of the datasheet's peak dense INT8 tensor throughput (large cuBLAS
   * int8 GEMMs usually run at half of peak or better: a 2× margin on top; an assumption, not yet
   * measured on the parts), for `cpu` a slow core running the JS prover
   */
  minOpsPerSec: number;
  /** peak dense INT8 tensor TOPS of the class's reference part (documentation only) */
  peakInt8Tops?: number;
  /** allowance for everything that is not the product: start of the kernels, generation of A and B */
  fixedMs: number;
  /** the rate at which the prover must at least hash C (4n² bytes) and build the tree */
  minHashBytesPerSec: number;
  /** share of the claimed memory the prover must hold at once (the rest: driver, context, the OS) */
  memoryShare: number;
}

const GiB = 1024 ** 3;
const gpu = (n: number, peakInt8Tops: number): ClassProfile => ({
  n,
  minOpsPerSec: (peakInt8Tops * 1e12) / 4,
  peakInt8Tops,
  fixedMs: 1500,
  minHashBytesPerSec: GiB,
  memoryShare: 0.85,
});

/**
 * Per-class sizes and throughputs (docs/verification.md, "Parameters"). Reference parts: H100/H200
 * SXM (1,979 dense INT8 TOPS), A100 (624), L40S (733), RTX 4090 (660), RTX 3090 (284); `other`
 * assumes 100 TOPS, below its Tesla T4's 130 (smaller models: their own figures, sizeFor); `cpu`
 * is a host without GPUs, checked with the JS prover
 * (about 3·10^9 ops/s on one core; the deadline assumes 0.5·10^9).
 */
export const CLASS_PROFILES: Record<GpuClass, ClassProfile> = {
  h200: gpu(16_384, 1979),
  h100: gpu(16_384, 1979),
  a100: gpu(16_384, 624),
  l40s: gpu(16_384, 733),
  rtx4090: gpu(16_384, 660),
  rtx3090: gpu(16_384, 284),
  other: gpu(8_192, 100),
  cpu: {
    n: 1024,
    minOpsPerSec: 0.5e9,
    fixedMs: 1000,
    minHashBytesPerSec: 0.1 * GiB,
    memoryShare: 0.5,
  },
};

/**
 * Device memory the stock prover needs beside the memory proof's tiles, MiB: the fill's inputs and
 * product (0.5 GiB; 1.1 GiB on the float32 fallback), the read's step of indices (679 MiB at most),
 * the CUDA context. The tiles take the class's share of a claim or what leaves this much,
 * whichever is less: 85% of 16 GB and more, 75% of 8 GB, 50% of 4 GB, none of 2 GB. (With less
 * free, gpu_prover.py takes smaller steps: `fill_rows`, `read_step`.)
 */
export const PROVER_WORKING_MIB = 2048;

export interface CapacityClaim {
  /** the claimed class; derived from `model` when absent, `cpu` when neither is given */
  gpuClass?: GpuClass;
  /** a GPU model name ("NVIDIA H100 80GB HBM3") */
  model?: string;
  /** claimed memory of one GPU (or of the host, for `cpu`) */
  memoryMiB?: number;
}

export interface ChallengeSize {
  gpuClass: GpuClass;
  n: number;
  deadlineMs: number;
  memoryMiB?: number;
  /** the memory proof (memory.ts) for GPU classes that claim memory */
  memoryProof?: MemoryProofParams;
  /** the throughput proof (work.ts) for GPU classes */
  workProof?: WorkProofParams;
}

export function classOf(claim: CapacityClaim): GpuClass {
  return claim.gpuClass ?? (claim.model ? classOfModel(claim.model) : 'cpu');
}

/**
 * The part a GPU claim's throughput and memory proofs are sized from: the claimed model's own
 * figures where classes.ts has them (MODEL_SPECS) and the model is of the claimed class, else the
 * class's reference part.
 */
export function partOf(claim: CapacityClaim): Exclude<GpuClass, 'cpu'> | ClassSpec | null {
  const cls = classOf(claim);
  if (cls === 'cpu') return null;
  const own = claim.model && classOfModel(claim.model) === cls ? specForModel(claim.model) : null;
  return own ?? cls;
}

/** multiply-adds count twice */
export function matmulOps(n: number): number {
  return 2 * n ** 3;
}

/**
 * n and the deadline for a claim:
 * deadline = fixedMs + 2n³ / minOpsPerSec + 4n² / minHashBytesPerSec (+ rttMs for a remote prover),
 * or, for a claimed model with its own figures (MODEL_SPECS), its own compute deadline where that is
 * longer (ownComputeDeadlineMs: a GT 1030 or a P4 is far below the `other` class's rate), at an n
 * halved until the stock prover's footprint fits half its memory.
 */
export function sizeFor(claim: CapacityClaim, opts: { rttMs?: number } = {}): ChallengeSize {
  const cls = classOf(claim);
  const p = CLASS_PROFILES[cls];
  const part = partOf(claim);
  const own = part && typeof part !== 'string' ? part : null;
  const claimed =
    claim.memoryMiB !== undefined && claim.memoryMiB > 0 ? claim.memoryMiB * 2 ** 20 : undefined;
  // a part's own figures: n small enough for its memory (or the claim's), the deadline long enough for its speed
  const n = own
    ? fitSide(p.n, (side) => computeFootprintBytes(own, side), Math.min(own.memoryBytes, claimed ?? Infinity))
    : p.n;
  const classDeadline =
    p.fixedMs + (1000 * matmulOps(n)) / p.minOpsPerSec + (1000 * 4 * n * n) / p.minHashBytesPerSec;
  const deadlineMs = Math.ceil(
    Math.max(classDeadline, own ? ownComputeDeadlineMs(own, n) : 0) + (opts.rttMs ?? 0),
  );
  const size: ChallengeSize = { gpuClass: cls, n, deadlineMs };
  if (claimed !== undefined) size.memoryMiB = Math.max(1, Math.floor(claim.memoryMiB! * p.memoryShare));
  if (part) size.workProof = workProofFor(part, opts.rttMs ?? 0, undefined, claimed);
  if (part && claim.memoryMiB !== undefined && claim.memoryMiB > 0) {
    // the tiles leave the stock prover its working room: the class's share, less on a small card
    const share = Math.min(p.memoryShare, 1 - PROVER_WORKING_MIB / claim.memoryMiB);
    const mp = memoryProofFor(part, claim.memoryMiB, share, opts.rttMs ?? 0);
    if (mp) size.memoryProof = mp;
  }
  return size;
}
