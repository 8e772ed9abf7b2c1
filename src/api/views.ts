import { toJsonSafe } from '../core/index.js';
import type { Container, Lease, Ledger, SignedTx, Workload } from '../ledger/index.js';

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
  return toJsonSafe({
    ...l,
    workload: workloadView(l.workload),
    durationMs: Math.max(0, end - l.openedAt),
    endpoint,
  }) as Record<string, unknown>;
}

/**
 * A workload as the public sees it: its env's names, never its values (neither clear ones, from
 * networks that still take them, nor sealed ones).
 */
export function workloadView(w: Workload): Record<string, unknown> {
  const { env, sealedEnv, ...rest } = w;
  const names = [...Object.keys(env ?? {}), ...Object.keys(sealedEnv ?? {})].sort();
  return { ...rest, ...(names.length ? { envNames: names } : {}) };
}

/** A transaction as the public API shows it: a lease.open's env values left out (names kept). */
export function txView<T extends { tx: SignedTx }>(r: T): T {
  if (r.tx.type !== 'lease.open') return r;
  const w = r.tx.payload.workload as Workload | undefined;
  if (!w || typeof w !== 'object' || (!w.env && !w.sealedEnv)) return r;
  return { ...r, tx: { ...r.tx, payload: { ...r.tx.payload, workload: workloadView(w) } } };
}
