import { toJsonSafe } from '../core/canonical.js';
import type { Ledger } from '../ledger/machine.js';
import type { Container, Lease } from '../ledger/model.js';
import { leaseFunds, publicWorkload } from '../ledger/modules/leases/queries.js';
import { publicTx } from '../ledger/registry.js';

/** API representations: bigints as decimal strings of units, derived fields spelled out. */
export function containerView(c: Container, ledger: Ledger): Record<string, unknown> {
  const need = ledger.requiredStakeOf(c);
  return toJsonSafe({
    ...c,
    simulated: c.spec.source === 'simulated',
    gpusFree: c.gpusTotal - c.gpusLeased - (c.gpusReserved ?? 0),
    requiredStake: need,
    staked: c.stake >= need,
    serving: ledger.isServing(c),
    reputation: ledger.reputationOf(c),
  }) as Record<string, unknown>;
}

export function leaseView(
  l: Lease,
  endpoint: string | null = null,
  at?: { now: number; pauseGraceMs?: number | undefined },
): Record<string, unknown> {
  const end = l.closedAt ?? l.settledAt;
  return toJsonSafe({
    ...l,
    workload: workloadView(l.workload),
    durationMs: Math.max(0, end - l.openedAt),
    endpoint,
    // what its escrow still pays for (not for a closed lease): time left, a warning when low
    ...(at && l.status !== 'closed' ? { funds: leaseFunds(l, at.now, at.pauseGraceMs) } : {}),
  }) as Record<string, unknown>;
}

/** A workload as the public sees it: its env's names, never its values. */
export const workloadView = publicWorkload;

/** A transaction as the public API shows it: a lease.open's env values left out (names kept). */
export const txView = publicTx;
