import { toJsonSafe } from '../core/index.js';
import { requiredStake, type Container, type Lease, type Params } from '../ledger/index.js';

/** API representations: bigints as decimal strings of units, derived fields spelled out. */
export function containerView(c: Container, params: Params): Record<string, unknown> {
  const need = requiredStake(params, c.gpusTotal);
  return toJsonSafe({
    ...c,
    simulated: c.spec.source === 'simulated',
    gpusFree: c.gpusTotal - c.gpusLeased,
    requiredStake: need,
    staked: c.stake >= need,
  }) as Record<string, unknown>;
}

export function leaseView(l: Lease): Record<string, unknown> {
  const end = l.closedAt ?? l.settledAt;
  return toJsonSafe({ ...l, durationMs: Math.max(0, end - l.openedAt) }) as Record<string, unknown>;
}
