import { mulBps } from '../../../core/amount.js';
import { AethirError } from '../../../core/errors.js';
import type { TxContext } from '../../context.js';
import { K, type Container, type Lease, type Round } from '../../model.js';
import { DAY, dayStart } from '../epochs/queries.js';
import { preemptNoticeOf } from '../../params.js';
import { failReservations, releaseReservedLease } from '../reservations/keeper.js';
import { activeReservationsOn } from '../reservations/queries.js';

/** What other modules may do to leases (the checks close a failing container's leases). */

const MS_PER_HOUR = 3_600_000n;

/**
 * Charges a lease up to time `t`, but never for more than `capMs` since it opened (what the
 * user's receipts acknowledge, for a container's charge), nor past its maximum duration, nor
 * beyond its escrow; never less than it was already charged. The host's share vests, the rest
 * goes to the treasury.
 */
export function settleTo(ctx: TxContext, lease: Lease, t: number, capMs = Infinity): Lease {
  // A paused lease runs nothing: nothing to charge until a top-up resumes it.
  if (lease.status === 'paused') return lease;
  // Time spent paused is neither charged nor counted against the maximum duration (absent
  // on leases from before pausing: 0, the formula as it always was).
  const pausedMs = lease.pausedMs ?? 0;
  const end = Math.max(
    lease.settledAt,
    Math.min(
      t,
      lease.openedAt + pausedMs + lease.maxDurationSec * 1000,
      lease.openedAt + capMs,
      // a preempted lease is charged up to its preemption only
      lease.preemptedAt ?? Infinity,
    ),
  );
  const units = BigInt(Math.max(1, lease.gpus));
  let due = (lease.pricePerHour * units * BigInt(end - lease.openedAt - pausedMs)) / MS_PER_HOUR;
  if (due > lease.escrow) due = lease.escrow;
  const c = ctx.container(lease.container)!;
  const deliveredGpuMs = (end - lease.settledAt) * Math.max(1, lease.gpus);
  if (due <= lease.charged) {
    ctx.putContainer({ ...c, epochDeliveredGpuMs: c.epochDeliveredGpuMs + deliveredGpuMs });
    return { ...lease, settledAt: end };
  }
  // The host share of the new charge is the difference of the cumulative shares at the current
  // rate: no rounding drift across settles, and a fee change (params.update) applies to the
  // charges after it only, never making a share negative.
  const bps = ctx.params.feeHostBps;
  const hostDelta = mulBps(due, bps) - mulBps(lease.charged, bps);
  const protoDelta = due - lease.charged - hostDelta;
  // Paid daily, claimable `hostVestingMs` after the end of the day it was earned.
  const dayEnd = dayStart(ctx, t) + DAY;
  ctx.vest(lease.container, 'host', hostDelta, t, dayEnd + ctx.params.hostVestingMs);
  ctx.movePool(K.treasury, protoDelta);
  const dao = ctx.dao;
  ctx.state.set(K.dao, { ...dao, incomeSince: dao.incomeSince + protoDelta });
  const econ = ctx.economics;
  ctx.state.set(K.economics, { ...econ, revenueSince: econ.revenueSince + hostDelta });
  ctx.putContainer({
    ...c,
    earned: c.earned + hostDelta,
    epochDeliveredGpuMs: c.epochDeliveredGpuMs + deliveredGpuMs,
  });
  return {
    ...lease,
    charged: due,
    hostShare: lease.hostShare + hostDelta,
    protocolShare: lease.protocolShare + protoDelta,
    settledAt: end,
  };
}

/**
 * Settles a lease to `t` (within `capMs`), refunds the unspent escrow to the user's escrow and
 * frees the GPUs. A paused lease has nothing left to settle (its escrow is spent).
 */
export function closeLeaseAt(
  ctx: TxContext,
  l: Lease,
  t: number,
  by: string,
  reason: string,
  exitCode: number | null,
  capMs = Infinity,
): Lease {
  const s = settleTo(ctx, l, t, capMs);
  const refund = s.escrow - s.charged;
  const u = ctx.account(s.user);
  ctx.setAccount(s.user, { ...u, escrow: u.escrow + refund });
  const closed: Lease = {
    ...s,
    status: 'closed',
    closedAt: Math.max(t, s.openedAt),
    exitCode,
    closeReason: reason,
    closedBy: by,
  };
  ctx.state.set(K.lease(l.id), closed);
  const c = ctx.container(l.container)!;
  ctx.putContainer({ ...c, gpusLeased: c.gpusLeased - heldGpus(l), openLeases: c.openLeases - 1 });
  releaseReservedLease(ctx, l);
  ctx.emit({ type: 'LeaseClosed', lease: l.id, container: l.container, user: l.user, by, reason });
  return closed;
}

/**
 * The container GPUs a lease holds in `gpusLeased`: none for one on a reservation (they are the
 * reservation's) or one preempted (they went to the lease that preempted it).
 */
export function heldGpus(l: Lease): number {
  return l.reservation !== undefined || l.preemptedAt !== undefined ? 0 : l.gpus;
}

/**
 * Frees `need` GPUs on container `c` (of which `free` are free) for lease `by` paying `price`
 * per GPU-hour, by preempting interruptible leases that pay less, lowest bid first (the newest
 * first at a tie). Each gets the notice (LeasePreempted): charged up to now, stopped by
 * now + params.preemptNoticeMs. Returns their ids (none: nothing needed preempting); throws
 * CAPACITY_EXHAUSTED when even all of them would not do.
 */
export function preemptFor(
  ctx: TxContext,
  c: Container,
  free: number,
  need: number,
  price: bigint,
  by: string,
): Lease[] {
  if (need <= free) return [];
  const exhausted = () =>
    new AethirError(
      'CAPACITY_EXHAUSTED',
      `container ${c.name} has ${Math.max(0, free)} free GPUs, ${need} asked`,
    );
  if (c.openLeases === 0) throw exhausted();
  const cheaper = ctx
    .leases()
    .filter(
      (l) =>
        l.container === c.id &&
        l.status === 'open' &&
        l.interruptible === true &&
        l.preemptedAt === undefined &&
        l.pricePerHour < price,
    )
    .sort((a, b) =>
      a.pricePerHour !== b.pricePerHour
        ? a.pricePerHour < b.pricePerHour
          ? -1
          : 1
        : b.openedAt - a.openedAt || (a.id < b.id ? -1 : 1),
    );
  const chosen: Lease[] = [];
  let freed = free;
  for (const l of cheaper) {
    if (freed >= need) break;
    chosen.push(l);
    freed += l.gpus;
  }
  if (freed < need) throw exhausted();
  const stopAt = ctx.time + preemptNoticeOf(ctx.params);
  let gpus = 0;
  const preempted: Lease[] = [];
  for (const l of chosen) {
    const p: Lease = { ...l, preemptedAt: ctx.time, preemptStopAt: stopAt, preemptedBy: by };
    ctx.state.set(K.lease(l.id), p);
    preempted.push(p);
    gpus += l.gpus;
    ctx.emit({
      type: 'LeasePreempted',
      lease: l.id,
      container: c.id,
      user: l.user,
      by,
      at: ctx.time,
      stopAt,
    });
  }
  const now = ctx.container(c.id)!;
  ctx.putContainer({ ...now, gpusLeased: now.gpusLeased - gpus });
  return preempted;
}

export function requireLease(ctx: TxContext, id: string): Lease {
  const l = ctx.lease(id);
  if (!l) throw new AethirError('NOT_FOUND', `no lease ${id}`);
  // A lease stored before usage receipts existed has acknowledged nothing yet.
  return { ...l, lastReceiptSeq: l.lastReceiptSeq ?? 0, receiptServedMs: l.receiptServedMs ?? 0 };
}

/**
 * Closes the container's open leases as of when the failing majority first saw the problem,
 * charging nothing beyond what was already settled: the rest of the escrow goes back.
 */
export function closeOpenLeases(ctx: TxContext, id: string, votes: Round['votes'], reason: string): string[] {
  const open = ctx.leases().filter((l) => l.container === id && l.status !== 'closed');
  if (open.length === 0 && activeReservationsOn(ctx, id).length === 0) return [];
  const seenAt = Math.min(
    ctx.time,
    ...Object.values(votes)
      .filter((v) => !v.ok)
      .map((v) => v.at),
  );
  for (const l of open)
    closeLeaseAt(ctx, l, Math.max(l.settledAt, seenAt), id, reason, null, l.settledAt - l.openedAt);
  // Its reservations too: the host is paid pro rata up to when the failure was first seen.
  return [...open.map((l) => l.id), ...failReservations(ctx, id, seenAt, reason)];
}
