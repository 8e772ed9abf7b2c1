import type { LedgerReader } from '../../reader.js';

export const DAY = 86_400_000;

/** The first epoch not yet closed, and whether its end has passed at `time`. */
export function nextEpoch(r: LedgerReader, time: number): { epoch: number; end: number; due: boolean } {
  const econ = r.economics;
  // From the end of the last epoch, so a change of epochMs never pays a period twice.
  const end = econ.lastEpochEnd + r.params.epochMs;
  return { epoch: econ.lastEpoch + 1, end, due: end <= time };
}

/** The start of the ledger day (days count from genesis) that holds `t`. */
export function dayStart(r: LedgerReader, t: number): number {
  const g = r.chain.genesisTime;
  return g + Math.floor((t - g) / DAY) * DAY;
}

/** The ledger day (0: the genesis day) that holds `t`. */
export function dayIndex(r: LedgerReader, t: number): number {
  return Math.floor((t - r.chain.genesisTime) / DAY);
}
