import type { Lock, Proposal } from './model.js';

/**
 * Voting escrow: ATH locked until `end` weighs amount × (end - t) / lockMaxMs at time t, so a
 * 4-year lock weighs its full amount and the weight decays linearly to zero at the end.
 */
export function weightAt(
  lock: Pick<Lock, 'amount' | 'end'> | undefined,
  t: number,
  lockMaxMs: number,
): bigint {
  if (!lock || lock.end <= t) return 0n;
  return (lock.amount * BigInt(lock.end - t)) / BigInt(lockMaxMs);
}

/** The weight of a lock as it stood at time t (its history records every change). */
export function historicWeight(lock: Lock | undefined, t: number, lockMaxMs: number): bigint {
  if (!lock) return 0n;
  let state: { amount: bigint; end: number } | undefined;
  for (const h of lock.history) {
    if (h.at > t) break;
    state = h;
  }
  return weightAt(state, t, lockMaxMs);
}

/**
 * The weight a lock gave at a proposal's creation: the lock as it stood after the blocks
 * before the proposal's block (its history records every change), weighed at the proposal's
 * time. Weight bought in or after that block does not vote on it.
 */
export function weightAtCreation(
  lock: Lock | undefined,
  height: number,
  t: number,
  lockMaxMs: number,
): bigint {
  if (!lock) return 0n;
  let state: { amount: bigint; end: number } | undefined;
  for (const h of lock.history) {
    if (h.height >= height) break;
    state = h;
  }
  return weightAt(state, t, lockMaxMs);
}

export type ProposalPhase =
  'voting' | 'rejected' | 'timelock' | 'awaiting-ratification' | 'executable' | 'executed' | 'failed';

/** Where a proposal stands at time t: the tally against the quorum, the timelock, the council. */
export function proposalPhase(
  p: Proposal,
  t: number,
  quorumBps: number,
  councilMajority: number,
): { phase: ProposalPhase; quorum: bigint; turnout: bigint; passed: boolean } {
  const turnout = p.tally.for + p.tally.against + p.tally.abstain;
  const quorum = (p.totalWeight * BigInt(quorumBps)) / 10_000n;
  const passed = turnout >= quorum && turnout > 0n && p.tally.for > p.tally.against;
  if (p.status === 'executed' || p.status === 'failed') return { phase: p.status, quorum, turnout, passed };
  if (t < p.votingEnds) return { phase: 'voting', quorum, turnout, passed };
  if (!passed || p.status === 'rejected') return { phase: 'rejected', quorum, turnout, passed };
  if (p.operational && p.ratifiedBy.length < councilMajority)
    return { phase: 'awaiting-ratification', quorum, turnout, passed };
  if (t < p.executableAt) return { phase: 'timelock', quorum, turnout, passed };
  return { phase: 'executable', quorum, turnout, passed };
}
