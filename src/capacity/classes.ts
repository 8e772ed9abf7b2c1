import type { GpuClass } from '../ledger/gpu-class.js';

/**
 * Published figures of each GPU class's reference part, from Epoch AI's "ML hardware" table
 * (`../shared/data/gpu-specs/epoch-ml_hardware.csv`; test/unit/capacity/classes.test.ts
 * checks every figure marked `epoch` against that file). Capacity challenges are sized from them
 * and docs/verification.md ("Class margins") lists what separates each class from the next one
 * down (margins.ts computes it).
 */

export interface ClassSpec {
  /** the reference part: the row's "Hardware name" in Epoch's table */
  part: string;
  /** dense INT8 tensor throughput, operations/s (2 per multiply-add) */
  int8OpsPerSec: number;
  /**
   * dense FP16/BF16 tensor throughput with FP32 accumulate, FLOP/s: what an FP16 matmul in PyTorch
   * runs at. GeForce parts run it at half their FP16-accumulate rate, and Epoch's column
   * "Tensor-FP16/BF16" gives the RTX 4090 its FP16-accumulate figure (330), so those two come from
   * NVIDIA's whitepapers (`source.fp16` says so). Documentation of why the throughput proof's kernel is
   * INT8 (docs/verification.md, "Which figure separates a pair"); no deadline is sized from it.
   */
  fp16Fp32AccFlopsPerSec?: number;
  /**
   * the share of `int8OpsPerSec` the stock prover's int8 GEMMs (gpu_prover.py: torch._int_mm, i.e.
   * cuBLASLt) are assumed to reach at least on this part: the throughput proof's deadline is sized
   * from it, so an honest part reaching less fails its own class. An assumption until
   * scripts/gpu-selftest.sh measures it on the part; `source.stock` says why this figure.
   */
  stockInt8Share: number;
  /** FP32 (non-tensor) FLOP/s; an FMA counts 2, so 32-bit integer ops/s ≈ half of it */
  fp32FlopsPerSec: number;
  /** memory per board, bytes */
  memoryBytes: number;
  /** memory bandwidth, bytes/s */
  memoryBytesPerSec: number;
  /** where each figure comes from: 'epoch' (the table), or why not */
  source: { int8: string; memory: string; fp16: string; stock: string };
}

/** the stock prover's share of peak INT8 where nothing says otherwise (the compute proof's figure) */
const STOCK_DEFAULT = 'assumed: half of peak, the figure every deadline used before (unmeasured)';
const epoch = { int8: 'epoch', memory: 'epoch', fp16: 'epoch', stock: STOCK_DEFAULT };

/**
 * The reference part per class. Where the table lacks a figure the part's datasheet gives it and
 * `source` says so: the H200 SXM row has no memory size (141 GB, NVIDIA's H200 datasheet), the
 * table has no L40S row (the L40, same board and memory, 362 dense INT8 TOPS; NVIDIA gives the L40S
 * 733), and `other` is an assumed small GPU (T4-like: 130 INT8 TOPS, 16 GB, 320 GB/s).
 */
export const CLASS_SPECS: Record<Exclude<GpuClass, 'cpu'>, ClassSpec> = {
  h200: {
    part: 'NVIDIA H200 SXM',
    int8OpsPerSec: 1979e12,
    fp32FlopsPerSec: 66.91e12,
    fp16Fp32AccFlopsPerSec: 989.5e12,
    stockInt8Share: 0.5,
    memoryBytes: 141e9,
    memoryBytesPerSec: 4.8e12,
    source: {
      int8: 'epoch',
      memory: 'size: NVIDIA H200 datasheet (141 GB); bandwidth: epoch',
      fp16: 'epoch',
      stock: STOCK_DEFAULT,
    },
  },
  h100: {
    part: 'NVIDIA H100 SXM5 80GB',
    int8OpsPerSec: 1979e12,
    fp32FlopsPerSec: 66.91e12,
    fp16Fp32AccFlopsPerSec: 989.4e12,
    stockInt8Share: 0.5,
    memoryBytes: 80e9,
    memoryBytesPerSec: 3.35e12,
    source: epoch,
  },
  a100: {
    part: 'NVIDIA A100 SXM4 80 GB',
    int8OpsPerSec: 624e12,
    fp32FlopsPerSec: 19.49e12,
    fp16Fp32AccFlopsPerSec: 312e12,
    stockInt8Share: 0.5,
    memoryBytes: 80e9,
    memoryBytesPerSec: 2.039e12,
    source: epoch,
  },
  l40s: {
    part: 'NVIDIA L40',
    int8OpsPerSec: 362e12,
    fp32FlopsPerSec: 90.52e12,
    fp16Fp32AccFlopsPerSec: 181e12,
    stockInt8Share: 0.5,
    memoryBytes: 48e9,
    memoryBytesPerSec: 864e9,
    source: epoch,
  },
  rtx4090: {
    part: 'NVIDIA GeForce RTX 4090',
    int8OpsPerSec: 660.6e12,
    fp32FlopsPerSec: 82.6e12,
    fp16Fp32AccFlopsPerSec: 165.2e12,
    stockInt8Share: 0.6,
    memoryBytes: 24e9,
    memoryBytesPerSec: 1.008e12,
    source: {
      ...epoch,
      fp16: "NVIDIA Ada whitepaper: 165.2 dense with FP32 accumulate; the table's 330 is FP16 accumulate",
      stock:
        'assumed 60%, unmeasured on a 4090: the pair 4090/3090 needs ≥ 55% (docs/verification.md); CUTLASS int8 GEMMs reach ≥ 70% of dense peak on an Ada GeForce (RTX 4070 Super, hibagus/CUDA_Bench#2)',
    },
  },
  rtx3090: {
    part: 'NVIDIA GeForce RTX 3090',
    int8OpsPerSec: 284e12,
    fp32FlopsPerSec: 35.58e12,
    fp16Fp32AccFlopsPerSec: 71e12,
    stockInt8Share: 0.5,
    memoryBytes: 24e9,
    memoryBytesPerSec: 936e9,
    source: {
      ...epoch,
      fp16: "NVIDIA Ampere GA102 whitepaper: 71 dense with FP32 accumulate; the table has no tensor figure (its 35.6 FP16 is the CUDA cores')",
    },
  },
  other: {
    part: 'an assumed small GPU',
    int8OpsPerSec: 130e12,
    fp32FlopsPerSec: 8.1e12,
    fp16Fp32AccFlopsPerSec: 65e12,
    stockInt8Share: 0.5,
    memoryBytes: 16e9,
    memoryBytesPerSec: 320e9,
    source: {
      int8: 'assumed (T4-like)',
      memory: 'assumed (T4-like)',
      fp16: 'assumed (T4-like)',
      stock: STOCK_DEFAULT,
    },
  },
};

/**
 * Parts that are not their class's reference part, by model name (the names nvidia-smi gives:
 * "NVIDIA A10G", "NVIDIA RTX A5000", "NVIDIA A100-PCIE-40GB", "NVIDIA H100 PCIe"). A claim names a
 * model, and the throughput and memory proofs are sized from that model's own figures where it is
 * here (`specForClaim`): sized from its class's reference part, an honest L4 took 1.6× the `l40s`
 * deadline and failed its own claim. What the check verifies is the claimed model; which class a
 * model is filed under (stake, matching) is the ledger's `gpuClass`. Parts at or above their class's
 * reference part (H800, RTX 5090, RTX 3090 Ti, B200, …) need no entry: their class's deadline is
 * theirs or looser. Figures from Epoch's table where it has them (`classes.test.ts` checks each one
 * marked `epoch`), else from the datasheet the source names; every stock share is the default 50%.
 */
interface ModelEntry {
  /** matches the model names of this part (case ignored) */
  match: RegExp;
  spec: ClassSpec;
}
const model = (
  part: string,
  int8: number,
  fp32: number,
  memoryBytes: number,
  bandwidth: number,
  source: Partial<ClassSpec['source']> = {},
): ClassSpec => ({
  part,
  int8OpsPerSec: int8,
  fp32FlopsPerSec: fp32,
  stockInt8Share: 0.5,
  memoryBytes,
  memoryBytesPerSec: bandwidth,
  source: { ...epoch, fp16: 'not used for a model', ...source },
});
export const MODEL_SPECS: readonly ModelEntry[] = [
  {
    match: /\bh100\b.*\bpcie\b/i,
    spec: model('NVIDIA H100 PCIe', 1513e12, 51.22e12, 80e9, 2.04e12, {
      int8: 'NVIDIA H100 datasheet (PCIe: 3,026 TOPS with sparsity, 1,513 dense); the table has none',
    }),
  },
  {
    match: /\bh100\b.*\bnvl\b/i,
    spec: model('NVIDIA H100 NVL', 1670.5e12, 60e12, 94e9, 3.938e12, {
      int8: 'NVIDIA H100 NVL datasheet (3,341 TOPS with sparsity per GPU, 1,670.5 dense; FP32 60 TFLOPS); the table has neither',
      memory: 'epoch',
    }),
  },
  {
    match: /\ba100\b.*\b40\s*gb\b/i,
    spec: model('NVIDIA A100 SXM4 40 GB', 624e12, 19.49e12, 40e9, 1.56e12),
  },
  {
    match: /\ba100\b.*\bpcie\b/i,
    spec: model('NVIDIA A100 PCIe', 624e12, 19.49e12, 80e9, 1.94e12, {
      memory:
        'size: NVIDIA A100 datasheet (the 80 GB PCIe board; 40 GB matches the row above); bandwidth: epoch',
    }),
  },
  { match: /\bl4\b/i, spec: model('NVIDIA L4', 242e12, 30.29e12, 24e9, 300.1e9) },
  { match: /\ba10\b/i, spec: model('NVIDIA A10 PCIe', 250e12, 31.24e12, 24e9, 600.2e9) },
  {
    match: /\ba10g\b/i,
    spec: model('NVIDIA A10G', 250e12, 31.5e12, 24e9, 600.2e9, {
      int8: 'assumed: the A10’s 250 dense TOPS (NVIDIA publishes none for the A10G; FP32 and bandwidth match the A10)',
    }),
  },
  { match: /\ba40\b/i, spec: model('NVIDIA A40 PCIe', 299.3e12, 37.42e12, 48e9, 695.8e9) },
  {
    match: /\brtx a6000\b/i,
    spec: model('NVIDIA RTX A6000', 309.7e12, 38.7e12, 48e9, 768e9, {
      int8: 'NVIDIA RTX A6000 datasheet (309.7 dense INT8 TOPS); the table has none',
    }),
  },
  { match: /\b4080\b/i, spec: model('NVIDIA GeForce RTX 4080', 390e12, 48.74e12, 16e9, 716.8e9) },
  {
    match: /\b3080\b/i,
    spec: model('NVIDIA GeForce RTX 3080', 238e12, 29.77e12, 10e9, 760e9, {
      int8: 'NVIDIA Ampere GA102 whitepaper (238 dense INT8 TOPS); the table has none',
    }),
  },
  {
    match: /\ba5000\b/i,
    spec: model('NVIDIA RTX A5000', 222.2e12, 27.77e12, 24e9, 768e9, {
      int8: 'NVIDIA RTX A5000 datasheet (222.2 dense INT8 TOPS); the table has none',
    }),
  },
  {
    match: /\ba4000\b/i,
    spec: model('NVIDIA RTX A4000', 153.4e12, 19.17e12, 16e9, 448e9, {
      int8: 'NVIDIA RTX A4000 datasheet (153.4 dense INT8 TOPS); the table has none',
    }),
  },
];

/** The figures a claim of `model` is sized from: the model's own (MODEL_SPECS), else null. */
export function specForModel(model: string): ClassSpec | null {
  return MODEL_SPECS.find((m) => m.match.test(model))?.spec ?? null;
}

/** GPU classes from the top down: each pair of neighbours is a "class pair" of the margins table. */
export const CLASS_ORDER = ['h200', 'h100', 'a100', 'l40s', 'rtx4090', 'rtx3090', 'other'] as const;
export type GpuClassWithSpec = (typeof CLASS_ORDER)[number];

/** The class one step below `cls` (null for the last GPU class). */
export function classBelow(cls: GpuClassWithSpec): GpuClassWithSpec | null {
  const i = CLASS_ORDER.indexOf(cls);
  return i >= 0 && i + 1 < CLASS_ORDER.length ? CLASS_ORDER[i + 1]! : null;
}
