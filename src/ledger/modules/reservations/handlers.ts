import { AethirError } from '../../../core/errors.js';
import type { Handlers, TxContext, TxResult } from '../../context.js';
import { K, type Reservation } from '../../model.js';
import type { DecodedTx } from '../../tx.js';
import { DAY } from '../epochs/queries.js';
import { closeLeaseAt } from '../leases/keeper.js';
import {
  closeEndedReservations,
  closeReservation,
  completedDue,
  requireReservation,
  reservedGpus,
  payUpTo,
} from './keeper.js';
import { MAX_RESERVATIONS_PER_CONTAINER, type payloads } from './payloads.js';
import { activeReservationsOn, dailyPrice, startedDays } from './queries.js';

function openReservation(ctx: TxContext, tx: DecodedTx<'reservation.open'>): TxResult {
  const p = tx.payload;
  const user = tx.tx.from;
  const c0 = ctx.container(p.container);
  if (!c0) throw new AethirError('NOT_FOUND', `no container ${p.container}`);
  if (p.container === user) throw new AethirError('INVALID_TRANSACTION', 'a container cannot reserve itself');
  closeEndedReservations(ctx, c0.id);
  const c = ctx.container(p.container)!;
  if (c.reservedPricePerHour === undefined)
    throw new AethirError('INVALID_TRANSACTION', `container ${c.name} sells no reserved capacity`);
  if (!ctx.isServing(c))
    throw new AethirError(
      'CONTAINER_UNAVAILABLE',
      `container ${c.name} is not serving (${c.status}${c.suspended ? ', suspended' : ''}${c.unbonding > 0n ? ', unbonding' : ''})`,
    );
  const free = c.gpusTotal - c.gpusLeased - reservedGpus(c);
  if (p.gpus > free)
    throw new AethirError(
      'CAPACITY_EXHAUSTED',
      `container ${c.name} has ${Math.max(0, free)} GPUs free to reserve (of ${c.gpusTotal}), ${p.gpus} asked`,
      { details: { free: Math.max(0, free), total: c.gpusTotal, asked: p.gpus } },
    );
  if (c.reservedPricePerHour > p.maxPricePerHour)
    throw new AethirError(
      'INVALID_TRANSACTION',
      `reserved price ${c.reservedPricePerHour} is above the limit ${p.maxPricePerHour}`,
    );
  const open = activeReservationsOn(ctx, c.id).length;
  if (open >= MAX_RESERVATIONS_PER_CONTAINER)
    throw new AethirError('CAPACITY_EXHAUSTED', `container ${c.name} holds ${open} reservations already`);
  const escrow = dailyPrice({ gpus: p.gpus, pricePerHour: c.reservedPricePerHour }) * BigInt(p.days);
  const u = ctx.account(user);
  if (u.escrow < escrow)
    throw new AethirError(
      'INSUFFICIENT_FUNDS',
      `the reservation locks ${escrow} units of escrow (${p.days} days in advance) but the escrow balance is ${u.escrow}; deposit with escrow.deposit`,
      { details: { needed: escrow.toString(), escrow: u.escrow.toString() } },
    );
  ctx.setAccount(user, { ...u, escrow: u.escrow - escrow });
  const id = `R${tx.id.slice(0, 20)}`;
  const r: Reservation = {
    id,
    user,
    container: c.id,
    gpus: p.gpus,
    pricePerHour: c.reservedPricePerHour,
    days: p.days,
    startsAt: ctx.time,
    endsAt: ctx.time + p.days * DAY,
    escrow,
    charged: 0n,
    hostShare: 0n,
    protocolShare: 0n,
    gpusInUse: 0,
    leases: 0,
    status: 'active',
    closedAt: null,
    closeReason: null,
    closedBy: null,
  };
  ctx.state.set(K.reservation(id), r);
  ctx.state.set(K.reservationOn(c.id, id), id);
  ctx.putContainer({
    ...c,
    gpusReserved: reservedGpus(c) + p.gpus,
    reservedUntil: Math.min(c.reservedUntil ?? Infinity, r.endsAt),
  });
  ctx.emit({ type: 'ReservationOpened', reservation: r });
  return { reservation: id, escrow: escrow.toString(), endsAt: r.endsAt };
}

/** The host collects the completed days (each day is the user's from its start, paid at its end). */
function settleReservation(ctx: TxContext, tx: DecodedTx<'reservation.settle'>): TxResult {
  const r = requireReservation(ctx, tx.payload.reservation);
  if (tx.tx.from !== r.container)
    throw new AethirError('UNAUTHORIZED', 'only the reserved container settles a reservation');
  if (r.status !== 'active') throw new AethirError('CONFLICT', `reservation ${r.id} is ${r.status}`);
  const s = payUpTo(ctx, r, completedDue(r, ctx.time), ctx.time);
  ctx.emit({ type: 'ReservationSettled', reservation: r.id, container: r.container, charged: s.charged });
  return { reservation: r.id, charged: s.charged.toString() };
}

/**
 * Closes the reservation's open leases at `t`: they cost nothing, only their time ends (settled
 * no further than their receipts acknowledged, as any close not signed by the user).
 */
function closeItsLeases(ctx: TxContext, r: Reservation, t: number, by: string, reason: string): string[] {
  const open = ctx.leases().filter((l) => l.reservation === r.id && l.status === 'open');
  for (const l of open)
    closeLeaseAt(ctx, l, Math.max(l.settledAt, t), by, reason, null, l.receiptServedMs ?? 0);
  return open.map((l) => l.id);
}

/** The user ends it early: the days begun are kept (paid in advance), the rest refunded. */
function cancelReservation(ctx: TxContext, tx: DecodedTx<'reservation.cancel'>): TxResult {
  const r = requireReservation(ctx, tx.payload.reservation);
  if (tx.tx.from !== r.user) throw new AethirError('UNAUTHORIZED', 'only its user cancels a reservation');
  if (r.status !== 'active') throw new AethirError('CONFLICT', `reservation ${r.id} is already ${r.status}`);
  const leases = closeItsLeases(ctx, r, ctx.time, r.user, 'reservation cancelled');
  const due = dailyPrice(r) * BigInt(startedDays(r, ctx.time));
  const closed = closeReservation(ctx, requireReservation(ctx, r.id), due, r.user, 'cancelled by user');
  return {
    reservation: r.id,
    charged: closed.charged.toString(),
    refund: (closed.escrow - closed.charged).toString(),
    closedLeases: leases.join(','),
  };
}

/** Anyone closes a reservation whose period is over: the host is paid in full. */
function closeEnded(ctx: TxContext, tx: DecodedTx<'reservation.close'>): TxResult {
  const r = requireReservation(ctx, tx.payload.reservation);
  if (r.status !== 'active') throw new AethirError('CONFLICT', `reservation ${r.id} is already ${r.status}`);
  if (ctx.time < r.endsAt)
    throw new AethirError(
      'CONFLICT',
      `reservation ${r.id} runs until ${new Date(r.endsAt).toISOString()}; its user may cancel it earlier`,
    );
  const leases = closeItsLeases(ctx, r, r.endsAt, tx.tx.from, 'reservation period ended');
  const closed = closeReservation(
    ctx,
    requireReservation(ctx, r.id),
    r.escrow,
    tx.tx.from,
    'reservation period ended',
  );
  return { reservation: r.id, charged: closed.charged.toString(), closedLeases: leases.join(',') };
}

export const handlers: Handlers<keyof typeof payloads> = {
  'reservation.open': openReservation,
  'reservation.settle': settleReservation,
  'reservation.cancel': cancelReservation,
  'reservation.close': closeEnded,
};
