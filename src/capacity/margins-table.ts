import { gpuClass } from '../ledger/gpu-class.js';
import { CLASS_SPECS, MODEL_SPECS, type ClassSpec, type GpuClassWithSpec } from './classes.js';
import {
  PAIRS,
  caughtBelowShare,
  honestWorkMs,
  pairMargins,
  separation,
  workProofFor,
  type PairMargins,
} from './margins.js';
import { CLASS_PROFILES, sizeFor } from './sizing.js';

/** pairMargins for every class pair, with sizing's compute challenge of the claimed class. */
export function allPairMargins(): PairMargins[] {
  return PAIRS.map((cls) => {
    const size = sizeFor({ gpuClass: cls });
    return pairMargins(cls, { n: size.n, deadlineMs: size.deadlineMs }, CLASS_PROFILES[cls].memoryShare)!;
  });
}

const f = (x: number, d = 2) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(d));
const NAMES: Record<string, string> = {
  h200: 'H200',
  h100: 'H100',
  a100: 'A100',
  l40s: 'L40S',
  rtx4090: '4090',
  rtx3090: '3090',
  other: 'other',
};

/** The markdown table of docs/verification.md, "Class margins". */
export function marginsTable(): string {
  const head = [
    '| claimed / below | published ratio: dense INT8, FP16→FP32 | throughput: products, deadline (stock prover at), below best, margin (separates from) | compute: deadline, below best, margin | memory: required, below holds | read: deadline, below best (how), margin | read, fused prover: deadline, margin | fill: deadline, below best, margin | claimed class holding less than this share of the tiles fails | separated by |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const rows = allPairMargins().map((p) => {
    const by: string[] = [];
    if (p.work.margin > 1) by.push('throughput proof');
    if (p.compute.margin > 1) by.push('compute');
    if (p.read.margin > 1) by.push('memory proof');
    if (p.fill.margin > 1) by.push('fill');
    if (p.read.margin <= 1 && p.read.fusedMargin > 1) by.push('memory proof with a fused prover only');
    const w = p.work;
    const need =
      w.efficiencyNeeded === null ? 'no share does' : `${Math.ceil(w.efficiencyNeeded * 100)}% of peak`;
    const pct = (x: number) => `${Math.round(x * 100)}%`;
    return `| ${NAMES[p.claimed]} / ${NAMES[p.below]} | ${p.ratios.int8.toFixed(2)}, ${p.ratios.fp16Fp32Acc.toFixed(2)} | ${w.products}, ${f(w.deadlineMs)} ms (${pct(w.stockShare)}), ${f(w.belowBestMs)} ms, **${f(w.margin)}** (${need}) | ${f(p.compute.deadlineMs)} ms, ${f(p.compute.belowBestMs)} ms, **${f(p.compute.margin)}** | ${f(p.capacity.requiredGB)} GB, ${f(CLASS_SPECS[p.below].memoryBytes / 1e9)} GB (${Math.round(p.capacity.held * 100)}%) | ${f(p.read.deadlineMs)} ms, ${f(p.read.belowBestMs)} ms (${p.read.way}), **${f(p.read.margin)}** | ${f(p.read.fusedDeadlineMs)} ms, **${f(p.read.fusedMargin)}** | ${f(p.fill.deadlineMs / 1000)} s, ${f(p.fill.belowBestMs / 1000)} s, **${f(p.fill.margin)}** | ${Math.floor(caughtBelowShare(p.claimed, CLASS_PROFILES[p.claimed].memoryShare) * 100)}% | ${by.length ? by.join(', ') : '**nothing**'} |`;
  });
  return [...head, ...rows].join('\n');
}

/**
 * Parts that are not a class's reference part: each of MODEL_SPECS, under the class the ledger
 * gives its model name (gpu-class.ts: a 4080 is `rtx4090`, an L4 or A10 `l40s`), and the RTX 3090
 * Ti, a part of class `rtx3090` that could claim an RTX 4090 (the table's figures).
 */
export const NEIGHBOUR_PARTS: Array<{ spec: ClassSpec; claims: GpuClassWithSpec; own: boolean }> = [
  {
    spec: {
      ...CLASS_SPECS.rtx3090,
      part: 'NVIDIA GeForce RTX 3090 Ti',
      int8OpsPerSec: 320e12,
      fp32FlopsPerSec: 40e12,
      memoryBytes: 24e9,
      memoryBytesPerSec: 1008e9,
      source: { ...CLASS_SPECS.rtx3090.source, fp16: 'not used for a model' },
    },
    claims: 'rtx4090',
    own: false,
  },
  ...MODEL_SPECS.map(({ spec }) => ({
    spec,
    claims: gpuClass(spec.part) as GpuClassWithSpec,
    own: true,
  })),
];

/** The markdown table of docs/verification.md, "Parts that share a class". */
export function partsTable(): string {
  const head = [
    '| part | claims (ledger class of its name?) | throughput proof sized for the class, best kernels: margin (> 1: caught) | its stock prover (50% of peak) over the class’s deadline (> 1: an honest host fails) | … over the deadline sized for its own model (how it is checked now) | read at the class’s full memory: margin (> 1: caught) |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  const rows = NEIGHBOUR_PARTS.map(({ spec, claims, own }) => {
    const m = separation(claims, spec, CLASS_PROFILES[claims].memoryShare);
    const wp = workProofFor(claims);
    const stock = honestWorkMs(spec, wp) / wp.deadlineMs;
    const ownWp = workProofFor(spec);
    const ownStock = own ? f(honestWorkMs(spec, ownWp) / ownWp.deadlineMs) : '—';
    const name = spec.part.replace(/^NVIDIA (GeForce )?/, '');
    return `| ${name} | ${NAMES[claims]} (${own ? 'yes' : 'no'}) | **${f(m.work)}** | ${f(stock)} | ${ownStock} | ${f(m.read)} |`;
  });
  return [...head, ...rows].join('\n');
}
