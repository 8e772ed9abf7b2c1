import { mulBps } from '../../../core/amount.js';
import { AethirError } from '../../../core/errors.js';
import type { TxContext } from '../../context.js';
import { K, type Container, type Lease, type Reservation } from '../../model.js';
import { DAY, dayStart } from '../epochs/queries.js';
import { activeReservationsOn, completedDays, dailyPrice, proRataDue, reservationOf } from './queries.js';

/**
 * What other modules may do to reservations: leases run on one (lease.open, the close of such
 * a lease), a failing host's reservations are refunded pro rata (the checks, through the
 * leases' keeper), and a lease.open sweeps the ended ones of its container.
 */

/** GPUs of a container no one else may lease: the sum of its active reservations. */
export function reservedGpus(c: Container): number {
  return c.gpusReserved ?? 0;
}

export function requireReservation(ctx: TxContext, id: string): Reservation {
  const r = reservationOf(ctx, id);
  if (!r) throw new AethirError('NOT_FOUND', `no reservation ${id}`);
  return r;
}

/**
 * The lease `user` opens on reservation `id` with `gpus` GPUs of container `container`: checks
 * it is theirs, on that container, not over, and has the GPUs free; books them. Returns the
 * longest the lease may run (to the reservation's end), seconds.
 */
export function useReservation(
  ctx: TxContext,
  id: string,
  user: string,
  container: string,
  gpus: number,
): number {
  const r = requireReservation(ctx, id);
  if (r.user !== user) throw new AethirError('UNAUTHORIZED', `reservation ${id} belongs to another account`);
  if (r.container !== container)
    throw new AethirError(
      'INVALID_TRANSACTION',
      `reservation ${id} is on container ${r.container}, not ${container}`,
    );
  if (r.status !== 'active' || ctx.time + 1000 > r.endsAt)
    throw new AethirError('CONFLICT', `reservation ${id} is over`);
  if (gpus > r.gpus - r.gpusInUse)
    throw new AethirError(
      'CAPACITY_EXHAUSTED',
      `reservation ${id} has ${r.gpus - r.gpusInUse} of its ${r.gpus} GPUs free, ${gpus} asked`,
      { details: { free: r.gpus - r.gpusInUse, asked: gpus } },
    );
  ctx.state.set(K.reservation(id), { ...r, gpusInUse: r.gpusInUse + gpus, leases: r.leases + 1 });
  return Math.floor((r.endsAt - ctx.time) / 1000);
}

/** A lease on a reservation closed: its GPUs are the reservation's to use again. */
export function releaseReservedLease(ctx: TxContext, l: Lease): void {
  if (l.reservation === undefined) return;
  const r = reservationOf(ctx, l.reservation);
  if (!r) return;
  ctx.state.set(K.reservation(r.id), { ...r, gpusInUse: Math.max(0, r.gpusInUse - l.gpus) });
}

/**
 * Pays the host up to `due` (never less than already paid): the host's share vests like a
 * lease's, the rest goes to the treasury (DESIGN.md §3, the 80/20 split).
 */
export function payUpTo(ctx: TxContext, r: Reservation, due: bigint, t: number): Reservation {
  if (due > r.escrow) due = r.escrow;
  if (due <= r.charged) return r;
  const bps = ctx.params.feeHostBps;
  const hostDelta = mulBps(due, bps) - mulBps(r.charged, bps);
  const protoDelta = due - r.charged - hostDelta;
  ctx.vest(r.container, 'host', hostDelta, t, dayStart(ctx, t) + DAY + ctx.params.hostVestingMs);
  ctx.movePool(K.treasury, protoDelta);
  const dao = ctx.dao;
  ctx.state.set(K.dao, { ...dao, incomeSince: dao.incomeSince + protoDelta });
  const econ = ctx.economics;
  ctx.state.set(K.economics, { ...econ, revenueSince: econ.revenueSince + hostDelta });
  const c = ctx.container(r.container)!;
  ctx.putContainer({ ...c, earned: c.earned + hostDelta });
  const paid: Reservation = {
    ...r,
    charged: due,
    hostShare: r.hostShare + hostDelta,
    protocolShare: r.protocolShare + protoDelta,
  };
  ctx.state.set(K.reservation(r.id), paid);
  return paid;
}

/**
 * Closes a reservation charging `due` in all: the host is paid it, the rest of the escrow goes
 * back to the user's escrow, and the container's GPUs are free again.
 */
export function closeReservation(
  ctx: TxContext,
  r: Reservation,
  due: bigint,
  by: string,
  reason: string,
  at = ctx.time,
): Reservation {
  const paid = payUpTo(ctx, r, due, ctx.time);
  const refund = paid.escrow - paid.charged;
  const u = ctx.account(paid.user);
  ctx.setAccount(paid.user, { ...u, escrow: u.escrow + refund });
  const closed: Reservation = {
    ...paid,
    status: 'closed',
    closedAt: Math.max(paid.startsAt, Math.min(at, paid.endsAt)),
    closeReason: reason,
    closedBy: by,
  };
  ctx.state.set(K.reservation(r.id), closed);
  ctx.state.delete(K.reservationOn(r.container, r.id));
  const c = ctx.container(r.container)!;
  const left = activeReservationsOn(ctx, r.container);
  const { reservedUntil: _was, ...rest } = c;
  ctx.putContainer({
    ...rest,
    gpusReserved: Math.max(0, reservedGpus(c) - r.gpus),
    ...(left.length ? { reservedUntil: Math.min(...left.map((x) => x.endsAt)) } : {}),
  });
  ctx.emit({
    type: 'ReservationClosed',
    reservation: r.id,
    container: r.container,
    user: r.user,
    by,
    reason,
    refund,
  });
  return closed;
}

/**
 * Closes the container's reservations whose period is over at the block time (paid in full);
 * nothing to look at before the earliest one ends (`reservedUntil`).
 */
export function closeEndedReservations(ctx: TxContext, container: string): void {
  const c = ctx.container(container);
  if (!c || reservedGpus(c) === 0 || ctx.time < (c.reservedUntil ?? 0)) return;
  for (const r of activeReservationsOn(ctx, container))
    if (ctx.time >= r.endsAt) closeReservation(ctx, r, r.escrow, container, 'reservation period ended');
}

/**
 * A host failed a check: each of its active reservations closes with the host paid pro rata up
 * to `seenAt` (when the failure was first seen), the rest refunded. Returns their ids.
 */
export function failReservations(
  ctx: TxContext,
  container: string,
  seenAt: number,
  reason: string,
): string[] {
  const out: string[] = [];
  for (const r of activeReservationsOn(ctx, container)) {
    closeReservation(ctx, r, proRataDue(r, seenAt), container, reason, seenAt);
    out.push(r.id);
  }
  return out;
}

/** The host's pay for the completed days at `t`. */
export function completedDue(r: Reservation, t: number): bigint {
  return dailyPrice(r) * BigInt(completedDays(r, t));
}
