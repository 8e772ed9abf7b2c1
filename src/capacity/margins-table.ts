import { CLASS_SPECS, type ClassSpec, type GpuClassWithSpec } from './classes.js';
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
 * Parts of Epoch's table that are not a class's reference part, against the class they could claim
 * (a lower part) or that the ledger gives their model name (gpu-class.ts: a 4080 is `rtx4090`, a
 * 3080, L4 or A10 is `rtx3090` or `l40s`). Figures from the table, but the 3080's INT8, which the
 * table lacks (238 dense TOPS: NVIDIA's Ampere GA102 whitepaper).
 */
const part = (
  name: string,
  int8: number,
  fp32: number,
  memoryBytes: number,
  bandwidth: number,
): ClassSpec => ({
  ...CLASS_SPECS.rtx3090,
  part: name,
  int8OpsPerSec: int8,
  fp32FlopsPerSec: fp32,
  memoryBytes,
  memoryBytesPerSec: bandwidth,
  stockInt8Share: CLASS_SPECS.rtx3090.stockInt8Share,
});
export const NEIGHBOUR_PARTS: Array<{ spec: ClassSpec; claims: GpuClassWithSpec; own: boolean }> = [
  { spec: part('RTX 3090 Ti', 320e12, 40e12, 24e9, 1008e9), claims: 'rtx4090', own: false },
  { spec: part('RTX 4080', 390e12, 48.74e12, 16e9, 716.8e9), claims: 'rtx4090', own: true },
  { spec: part('RTX 3080', 238e12, 29.77e12, 10e9, 760.3e9), claims: 'rtx3090', own: true },
  { spec: part('L4', 242e12, 30.29e12, 24e9, 300.1e9), claims: 'l40s', own: true },
  { spec: part('A10', 250e12, 31.24e12, 24e9, 600.2e9), claims: 'l40s', own: true },
];

/** The markdown table of docs/verification.md, "Parts that share a class". */
export function partsTable(): string {
  const head = [
    '| part | claims (ledger class of its name?) | throughput proof, best kernels: margin (> 1: caught) | its stock prover (50% of peak) over the deadline (> 1: an honest host fails) | read at the class’s full memory: margin (> 1: caught) |',
    '| --- | --- | --- | --- | --- |',
  ];
  const rows = NEIGHBOUR_PARTS.map(({ spec, claims, own }) => {
    const m = separation(claims, spec, CLASS_PROFILES[claims].memoryShare);
    const wp = workProofFor(claims);
    const stock = honestWorkMs(spec, wp) / wp.deadlineMs;
    return `| ${spec.part} | ${NAMES[claims]} (${own ? 'yes' : 'no'}) | **${f(m.work)}** | ${f(stock)} | ${f(m.read)} |`;
  });
  return [...head, ...rows].join('\n');
}
