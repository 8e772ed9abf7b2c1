import { CLASS_SPECS } from './classes.js';
import { PAIRS, caughtBelowShare, pairMargins, type PairMargins } from './margins.js';
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
    '| claimed / below | throughput: products, deadline, below best, margin (the stock prover must reach) | compute: deadline, below best, margin | memory: required, below holds | read: deadline, below best (how), margin | read, fused prover: deadline, margin | fill: deadline, below best, margin | claimed class holding less than this share of the tiles fails | separated by |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
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
      w.efficiencyNeeded === null ? 'none does' : `${Math.ceil(w.efficiencyNeeded * 100)}% of peak`;
    return `| ${NAMES[p.claimed]} / ${NAMES[p.below]} | ${w.products}, ${f(w.deadlineMs)} ms, ${f(w.belowBestMs)} ms, **${f(w.margin)}** (${need}) | ${f(p.compute.deadlineMs)} ms, ${f(p.compute.belowBestMs)} ms, **${f(p.compute.margin)}** | ${f(p.capacity.requiredGB)} GB, ${f(CLASS_SPECS[p.below].memoryBytes / 1e9)} GB (${Math.round(p.capacity.held * 100)}%) | ${f(p.read.deadlineMs)} ms, ${f(p.read.belowBestMs)} ms (${p.read.way}), **${f(p.read.margin)}** | ${f(p.read.fusedDeadlineMs)} ms, **${f(p.read.fusedMargin)}** | ${f(p.fill.deadlineMs / 1000)} s, ${f(p.fill.belowBestMs / 1000)} s, **${f(p.fill.margin)}** | ${Math.floor(caughtBelowShare(p.claimed, CLASS_PROFILES[p.claimed].memoryShare) * 100)}% | ${by.length ? by.join(', ') : '**nothing**'} |`;
  });
  return [...head, ...rows].join('\n');
}
