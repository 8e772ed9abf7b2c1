import type { Lease } from '../../model.js';
import type { Workload } from './payloads.js';

/**
 * A workload as the public sees it: its env's names, never its values (neither clear ones, from
 * networks that still take them, nor sealed ones).
 */
export function publicWorkload(w: Workload): Record<string, unknown> {
  const { env, sealedEnv, ...rest } = w;
  const names = [...Object.keys(env ?? {}), ...Object.keys(sealedEnv ?? {})].sort();
  return { ...rest, ...(names.length ? { envNames: names } : {}) };
}

/** A lease.open payload as the public sees it (stored transactions included): env names only. */
export function publicOpenPayload(p: Record<string, unknown>): Record<string, unknown> {
  const w = p.workload as Workload | undefined;
  if (!w || typeof w !== 'object' || (!w.env && !w.sealedEnv)) return p;
  return { ...p, workload: publicWorkload(w) };
}

/** What of a payload the public may not see, per transaction type (the registry gathers these). */
export const publicPayloads = { 'lease.open': publicOpenPayload };

const MS_PER_HOUR = 3_600_000n;

/** What a lease's escrow still pays for, as its user is told (API views, `leases ls`, the SDK). */
export interface LeaseFunds {
  /**
   * the block time its escrow runs out at its price (the first moment its charge reaches the
   * escrow); while paused, when it ran out; null: never (a lease at price 0)
   */
  runsOutAt: number | null;
  /** ms the escrow still pays for from `now` (0 when spent); null: unlimited */
  msLeft: number | null;
  /** when its maximum duration ends, paused time not counted (as long as it stays running) */
  endsAt: number;
  /** the escrow runs out before the maximum duration ends, within the warning time */
  low: boolean;
  /** while paused: when it closes unless topped up (null: not paused) */
  closesAt: number | null;
}

/** How long before its escrow runs out a user is warned: a fifth of what the escrow pays for, 30 s to 10 min. */
export function lowFundsMs(l: Pick<Lease, 'escrow' | 'pricePerHour' | 'gpus'>): number {
  const rate = l.pricePerHour * BigInt(Math.max(1, l.gpus));
  if (rate === 0n) return 0;
  const coverMs = Number((l.escrow * MS_PER_HOUR) / rate);
  return Math.min(600_000, Math.max(30_000, Math.floor(coverMs / 5)));
}

/**
 * The block time a lease's escrow runs out: the first service time whose price reaches the
 * escrow (charges are floor(price × ms / 1 h), so the ceiling of escrow × 1 h / price), paused
 * time added. Null for a lease at price 0.
 */
export function escrowRunsOutAt(
  l: Pick<Lease, 'escrow' | 'pricePerHour' | 'gpus' | 'openedAt' | 'pausedMs'>,
): number | null {
  const rate = l.pricePerHour * BigInt(Math.max(1, l.gpus));
  if (rate === 0n) return null;
  const coverMs = (l.escrow * MS_PER_HOUR + rate - 1n) / rate;
  return l.openedAt + (l.pausedMs ?? 0) + Number(coverMs);
}

/**
 * Whether its escrow pays for its whole maximum duration (what lease.open locks for it, rounded
 * down as there): such a lease ends at its maximum duration, it is never paused nor low on funds.
 */
export function paysWholeDuration(
  l: Pick<Lease, 'escrow' | 'pricePerHour' | 'gpus' | 'maxDurationSec'>,
): boolean {
  const rate = l.pricePerHour * BigInt(Math.max(1, l.gpus));
  return l.escrow >= (rate * BigInt(l.maxDurationSec) * 1000n) / MS_PER_HOUR;
}

/** A lease's funds at `now` (block time, or the caller's clock for an estimate). */
export function leaseFunds(l: Lease, now: number, pauseGraceMs?: number): LeaseFunds {
  const paused = l.status === 'paused';
  const endsAt = l.openedAt + (l.pausedMs ?? 0) + l.maxDurationSec * 1000;
  const out = paused ? (l.pausedAt ?? l.settledAt) : escrowRunsOutAt(l);
  const msLeft = paused ? 0 : out === null ? null : Math.max(0, out - now);
  return {
    runsOutAt: out,
    msLeft,
    endsAt,
    low:
      l.status === 'open' &&
      !paysWholeDuration(l) &&
      out !== null &&
      out < endsAt &&
      msLeft !== null &&
      msLeft <= lowFundsMs(l),
    closesAt: paused && pauseGraceMs !== undefined ? (l.pausedAt ?? l.settledAt) + pauseGraceMs : null,
  };
}
