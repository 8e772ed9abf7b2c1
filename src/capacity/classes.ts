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
  /**
   * dense INT8 tensor throughput, operations/s (2 per multiply-add). A part without INT8 tensor
   * cores gives its fastest exact integer product instead (`source.int8` says which): DP4A on the
   * CUDA cores (4 × its FP32 rate, Pascal from sm_61 and the GTX 16 series), FP16 tensor cores with
   * FP32 accumulate (Volta), or float32 itself (the P100, sm_60, has no DP4A). What a cheater's
   * hand-written kernels on this part start from (margins.ts `best*`).
   */
  int8OpsPerSec: number;
  /**
   * the stock prover's product on this part: int8 tensor cores through torch._int_mm (absent), or,
   * on a part without INT8 tensor cores, 'float32': gpu_prover.py's exact float32 matmuls over
   * chunks of 1024, whose deadlines come from `fp32FlopsPerSec` and the chunks' memory traffic
   * (margins.ts `stockOpsPerSec`). Where torch._int_mm runs on such a part (DP4A) it is only faster.
   */
  stockKernel?: 'float32';
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
   * cuBLASLt) are assumed to reach at least on this part (of `fp32FlopsPerSec` for a `stockKernel`
   * 'float32' part): the throughput proof's deadline is sized
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
 * 733), and `other`'s part is the Tesla T4, whose INT8 figure (130 dense TOPS) is NVIDIA's T4
 * datasheet's: the table gives none. Smaller parts of `other` are sized from their own figures
 * (MODEL_SPECS).
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
    part: 'NVIDIA Tesla T4',
    int8OpsPerSec: 130e12,
    fp32FlopsPerSec: 8.141e12,
    fp16Fp32AccFlopsPerSec: 65e12,
    stockInt8Share: 0.5,
    memoryBytes: 16e9,
    memoryBytesPerSec: 320e9,
    source: {
      int8: 'NVIDIA T4 datasheet (130 INT8 TOPS); the table has none',
      memory: 'epoch',
      fp16: 'NVIDIA T4 datasheet (65 FP16 TFLOPS, mixed precision); the table rounds it to 65.13',
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
/** Pascal (sm_61) and the GTX 16 series: no tensor cores; DP4A does 4 INT8 multiply-adds in an FP32 FMA's slot */
const DP4A = 'DP4A, 4 × the FP32 rate (NVIDIA Pascal whitepaper; no tensor cores)';
/** dense INT8 per SM and clock of Turing, Ampere (GA10x) and Ada tensor cores: the RTX 3090's 284 TOPS = 82 SMs × 1,695 MHz × 2,048 */
const SM_INT8 = '2,048 dense INT8 operations per clock (the Turing, Ampere and Ada whitepapers’ rate per SM)';
/** a part whose stock prover runs float32 (no INT8 tensor cores) */
const noTensorInt8 = (s: ClassSpec): ClassSpec => ({ ...s, stockKernel: 'float32' });
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
  // Parts below the `other` class's Tesla T4 (130 dense INT8 TOPS, 320 GB/s): sized from their own
  // figures, an honest one meets its own claim. Those without INT8 tensor cores run the stock
  // prover's float32 fallback (`stockKernel`); their int8 figure is what a cheater's kernels reach.
  {
    match: /\bv100s?\b/i,
    spec: noTensorInt8(
      model('NVIDIA Tesla V100 PCIe 16 GB', 112e12, 14.13e12, 16e9, 897e9, {
        int8: 'no INT8 tensor cores: its fastest exact product is FP16 tensor with FP32 accumulate, the table’s 112 TFLOPS (Tensor-FP16); the PCIe 16 GB board, the slowest V100, for every V100 name',
      }),
    ),
  },
  {
    match: /\bp100\b/i,
    spec: noTensorInt8(
      model('NVIDIA Tesla P100 PCIe 12GB', 9.526e12, 9.526e12, 12e9, 549.1e9, {
        int8: 'assumed: its FP32 rate (sm_60 has no DP4A and its FP16 cannot add exactly); the 12 GB board, the slowest P100, for every P100 name',
        memory: 'size: NVIDIA Tesla P100 datasheet (12 GB); bandwidth: epoch',
      }),
    ),
  },
  {
    match: /\bp40\b/i,
    spec: noTensorInt8(
      model('NVIDIA P40', 47e12, 11.76e12, 24e9, 694.3e9, {
        int8: 'NVIDIA Tesla P40 datasheet (47 INT8 TOPS, DP4A); the table has none',
      }),
    ),
  },
  {
    // "Tesla P4", and its vGPU profiles ("GRID P4-1Q": the claim's memory is the profile's)
    match: /\bp4\b/i,
    spec: noTensorInt8(model('NVIDIA Tesla P4', 22e12, 5.704e12, 8e9, 192.3e9)),
  },
  {
    match: /\bquadro p4000\b/i,
    spec: noTensorInt8(model('NVIDIA Quadro P4000', 21.22e12, 5.304e12, 8e9, 243.4e9, { int8: DP4A })),
  },
  {
    match: /\b1080 ti\b/i,
    spec: noTensorInt8(model('NVIDIA GeForce GTX 1080 Ti', 45.36e12, 11.34e12, 11e9, 484e9, { int8: DP4A })),
  },
  {
    match: /\b1080\b/i,
    spec: noTensorInt8(model('NVIDIA GeForce GTX 1080', 35.49e12, 8.873e12, 8e9, 320.3e9, { int8: DP4A })),
  },
  {
    match: /\b1070 ti\b/i,
    spec: noTensorInt8(
      model('NVIDIA GeForce GTX 1070 Ti', 32.74e12, 8.186e12, 8e9, 256e9, {
        int8: `NVIDIA GeForce GTX 1070 Ti specifications: FP32 2,432 cores × 1,683 MHz boost × 2 = 8.19 TFLOPS; INT8 ${DP4A}`,
        memory: 'NVIDIA GeForce GTX 1070 Ti specifications (8 GB, 256 GB/s)',
      }),
    ),
  },
  {
    match: /\b1070\b/i,
    spec: noTensorInt8(
      model('NVIDIA GeForce GTX 1070', 25.85e12, 6.463e12, 8e9, 256e9, {
        int8: `NVIDIA GeForce GTX 1070 specifications: FP32 1,920 cores × 1,683 MHz boost × 2 = 6.46 TFLOPS; INT8 ${DP4A}`,
        memory: 'NVIDIA GeForce GTX 1070 specifications (8 GB, 256 GB/s)',
      }),
    ),
  },
  {
    match: /\b1660 ti\b/i,
    spec: noTensorInt8(
      model('NVIDIA GeForce GTX 1660 Ti', 21.75e12, 5.437e12, 6e9, 288e9, {
        int8: `NVIDIA GeForce GTX 1660 Ti specifications: FP32 1,536 cores × 1,770 MHz boost × 2 = 5.44 TFLOPS (TU116: no tensor cores); INT8 ${DP4A}`,
        memory: 'NVIDIA GeForce GTX 1660 Ti specifications (6 GB, 288 GB/s)',
      }),
    ),
  },
  {
    // the GTX 1660 and 1660 SUPER (same cores and clocks, 336 GB/s): sized for the 1660
    match: /\b1660\b/i,
    spec: noTensorInt8(
      model('NVIDIA GeForce GTX 1660', 20.11e12, 5.027e12, 6e9, 192e9, {
        int8: `NVIDIA GeForce GTX 1660 specifications: FP32 1,408 cores × 1,785 MHz boost × 2 = 5.03 TFLOPS (TU116: no tensor cores); INT8 ${DP4A}`,
        memory: 'NVIDIA GeForce GTX 1660 specifications (6 GB, 192 GB/s; the SUPER’s 336 GB/s is higher)',
      }),
    ),
  },
  {
    match: /\bquadro p2000\b/i,
    spec: noTensorInt8(
      model('NVIDIA Quadro P2000', 12.12e12, 3.031e12, 5e9, 140e9, {
        int8: `NVIDIA Quadro P2000 datasheet: FP32 1,024 cores × 1,480 MHz boost × 2 = 3.03 TFLOPS; INT8 ${DP4A}`,
        memory: 'NVIDIA Quadro P2000 datasheet (5 GB, 140 GB/s)',
      }),
    ),
  },
  {
    match: /\bquadro p400\b/i,
    spec: noTensorInt8(
      model('NVIDIA Quadro P400', 2.564e12, 0.641e12, 2e9, 32e9, {
        int8: `NVIDIA Quadro P400 datasheet: FP32 256 cores × 1,252 MHz boost × 2 = 0.64 TFLOPS; INT8 ${DP4A}`,
        memory: 'NVIDIA Quadro P400 datasheet (2 GB, 32 GB/s)',
      }),
    ),
  },
  {
    match: /\bgt 1030\b/i,
    spec: noTensorInt8(
      model('NVIDIA GeForce GT 1030', 4.236e12, 1.059e12, 2e9, 16.8e9, {
        int8: `NVIDIA GeForce GT 1030 specifications: FP32 384 cores × 1,379 MHz (the DDR4 board’s boost; the GDDR5 board’s is 1,468) × 2 = 1.06 TFLOPS; INT8 ${DP4A}`,
        memory:
          'NVIDIA GeForce GT 1030 specifications (2 GB; the DDR4 board’s 16.8 GB/s, the GDDR5 board’s 48 GB/s is higher: one name, sized for the slower)',
      }),
    ),
  },
  {
    match: /\bquadro rtx 4000\b/i,
    spec: model('NVIDIA Quadro RTX 4000', 114e12, 7.119e12, 8e9, 416e9, {
      int8: 'NVIDIA Quadro RTX 4000 datasheet (57 FP16 tensor TFLOPS; Turing’s dense INT8 is twice it); the table has none',
    }),
  },
  {
    match: /\brtx 4000 sff\b/i,
    spec: model('NVIDIA RTX 4000 SFF Ada Generation', 153.6e12, 19.2e12, 20e9, 280e9, {
      int8: `NVIDIA RTX 4000 SFF Ada datasheet: FP32 19.2 TFLOPS (6,144 cores at 1,563 MHz); INT8 48 SMs × ${SM_INT8} at that clock`,
      memory: 'NVIDIA RTX 4000 SFF Ada datasheet (20 GB, 280 GB/s)',
    }),
  },
  {
    match: /\b2070\b/i,
    spec: model('NVIDIA GeForce RTX 2070', 119.4e12, 7.465e12, 8e9, 448e9, {
      int8: `NVIDIA Turing whitepaper: the reference RTX 2070 (36 SMs, 1,620 MHz boost): FP32 7.46 TFLOPS, INT8 36 × ${SM_INT8} (the Founders Edition’s 126 is at 1,710)`,
      memory: 'NVIDIA Turing whitepaper (8 GB, 448 GB/s)',
    }),
  },
  {
    match: /\b2060\b/i,
    spec: model('NVIDIA GeForce RTX 2060', 103.2e12, 6.451e12, 6e9, 336e9, {
      int8: `NVIDIA GeForce RTX 2060 specifications: 30 SMs (1,920 cores) at 1,680 MHz boost: FP32 6.45 TFLOPS, INT8 30 × ${SM_INT8}`,
      memory: 'NVIDIA GeForce RTX 2060 specifications (6 GB, 336 GB/s)',
    }),
  },
  {
    // the RTX 3060 12 GB (360 GB/s) and 8 GB (240 GB/s) share a name: sized for the 8 GB board's bandwidth
    match: /\b3060\b(?!\s*ti)/i,
    spec: model('NVIDIA GeForce RTX 3060', 101.9e12, 12.74e12, 12e9, 240e9, {
      int8: `NVIDIA GeForce RTX 3060 specifications: 28 SMs (3,584 cores) at 1,777 MHz boost: FP32 12.74 TFLOPS, INT8 28 × ${SM_INT8}`,
      memory:
        'NVIDIA GeForce RTX 3060 specifications (12 GB at 360 GB/s; the 8 GB board’s 240 GB/s, for both)',
    }),
  },
  {
    match: /\b3050\b/i,
    spec: model('NVIDIA GeForce RTX 3050', 72.79e12, 9.098e12, 8e9, 224e9, {
      int8: `NVIDIA GeForce RTX 3050 specifications: 20 SMs (2,560 cores) at 1,777 MHz boost: FP32 9.10 TFLOPS, INT8 20 × ${SM_INT8}`,
      memory: 'NVIDIA GeForce RTX 3050 specifications (8 GB, 224 GB/s)',
    }),
  },
  {
    // the RTX 4060 and 4060 Ti (34 SMs, 288 GB/s: higher in every figure): sized for the 4060
    match: /\b4060\b/i,
    spec: model('NVIDIA GeForce RTX 4060', 120.9e12, 15.11e12, 8e9, 272e9, {
      int8: `NVIDIA GeForce RTX 4060 specifications: 24 SMs (3,072 cores) at 2,460 MHz boost: FP32 15.11 TFLOPS, INT8 24 × ${SM_INT8}`,
      memory: 'NVIDIA GeForce RTX 4060 specifications (8 GB, 272 GB/s)',
    }),
  },
  {
    match: /\ba2\b/i,
    spec: model('NVIDIA A2', 36e12, 4.5e12, 16e9, 200e9, {
      int8: 'NVIDIA A2 datasheet (36 dense INT8 TOPS, 72 with sparsity; FP32 4.5 TFLOPS)',
      memory: 'NVIDIA A2 datasheet (16 GB, 200 GB/s)',
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
