import { toJsonSafe } from '../core/index.js';
import type { Container, Lease, Ledger } from '../ledger/index.js';

/** API representations: bigints as decimal strings of units, derived fields spelled out. */
export function containerView(c: Container, ledger: Ledger): Record<string, unknown> {
  const need = ledger.requiredStakeOf(c);
  return toJsonSafe({
    ...c,
    simulated: c.spec.source === 'simulated',
    gpusFree: c.gpusTotal - c.gpusLeased,
    requiredStake: need,
    staked: c.stake >= need,
    serving: ledger.isServing(c),
    reputation: ledger.reputationOf(c),
  }) as Record<string, unknown>;
}

export function leaseView(l: Lease, endpoint: string | null = null): Record<string, unknown> {
  const end = l.closedAt ?? l.settledAt;
  return toJsonSafe({ ...l, durationMs: Math.max(0, end - l.openedAt), endpoint }) as Record<string, unknown>;
}
