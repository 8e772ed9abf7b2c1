import { K, type Reservation } from '../../model.js';
import type { LedgerReader } from '../../reader.js';
import { DAY } from '../epochs/queries.js';

/** What one day of a reservation costs: its GPUs × its hourly price × 24. */
export function dailyPrice(r: Pick<Reservation, 'gpus' | 'pricePerHour'>): bigint {
  return r.pricePerHour * BigInt(r.gpus) * 24n;
}

/** Days of the reservation fully passed by `t`. */
export function completedDays(r: Reservation, t: number): number {
  return Math.max(0, Math.min(r.days, Math.floor((Math.min(t, r.endsAt) - r.startsAt) / DAY)));
}

/** Days begun by `t` (each is due in advance, at its start): what a user's cancel keeps. */
export function startedDays(r: Reservation, t: number): number {
  if (t >= r.endsAt) return r.days;
  return Math.max(1, Math.min(r.days, Math.floor((t - r.startsAt) / DAY) + 1));
}

/** The host's pay for service up to `t`, pro rata to the millisecond (a failing host's). */
export function proRataDue(r: Reservation, t: number): bigint {
  const ms = Math.max(0, Math.min(t, r.endsAt) - r.startsAt);
  const due = (dailyPrice(r) * BigInt(ms)) / BigInt(DAY);
  return due > r.escrow ? r.escrow : due;
}

export function reservationOf(reader: LedgerReader, id: string): Reservation | undefined {
  return reader.state.get<Reservation>(K.reservation(id));
}

/** Every reservation, in id order. */
export function reservationsOf(reader: LedgerReader): Reservation[] {
  return [...reader.state.scan<Reservation>('resv/')].map(([, v]) => v);
}

/**
 * The reservations of one container still holding its GPUs (active, whatever the time), from the
 * container's own list (`resvc/<container>/`): a lease.open on a host pays for its reservations
 * only, not for every reservation on the network.
 */
export function activeReservationsOn(reader: LedgerReader, container: string): Reservation[] {
  const out: Reservation[] = [];
  for (const [, id] of reader.state.scan<string>(`resvc/${container}/`)) {
    const r = reservationOf(reader, id);
    if (r && r.status === 'active') out.push(r);
  }
  return out;
}
