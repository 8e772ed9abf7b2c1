import { AethirError } from '../../../core/errors.js';
import { appGpus } from '../../app.js';
import type { Handlers, TxContext, TxResult } from '../../context.js';
import { K, type Container, type Lease } from '../../model.js';
import { preemptNoticeOf } from '../../params.js';
import { verifyReceipt, type SignedReceipt } from '../../receipt.js';
import type { DecodedTx } from '../../tx.js';
import { checkLeaseVolumes } from '../volumes/keeper.js';
import { closeEndedReservations, reservedGpus, useReservation } from '../reservations/keeper.js';
import { closeLeaseAt, heldGpus, preemptFor, requireLease, settleTo } from './keeper.js';
import type { payloads, Workload } from './payloads.js';
import { escrowRunsOutAt, paysWholeDuration } from './queries.js';

const MS_PER_HOUR = 3_600_000n;

function openLease(ctx: TxContext, tx: DecodedTx<'lease.open'>): TxResult {
  const p = tx.payload;
  const c = ctx.container(p.container);
  if (!c) throw new AethirError('NOT_FOUND', `no container ${p.container}`);
  if (p.container === tx.tx.from)
    throw new AethirError('INVALID_TRANSACTION', 'a container cannot rent itself');
  if (p.workload.app !== undefined) checkLeaseApp(ctx, p.workload.app, p.workload.version, p.gpus);
  checkLeaseEnv(ctx, p.workload, c);
  if (p.workload.volumes) checkLeaseVolumes(ctx, p.workload.volumes, tx.tx.from, c.id);
  if (c.status !== 'online')
    throw new AethirError('CONTAINER_UNAVAILABLE', `container ${c.name} is ${c.status}`);
  if (c.suspended)
    throw new AethirError(
      'CONTAINER_UNAVAILABLE',
      c.suspendedReason !== null
        ? `container ${c.name} is suspended: ${c.suspendedReason}`
        : `container ${c.name} is suspended until it tops up its stake`,
    );
  if (c.unbonding > 0n)
    throw new AethirError('CONTAINER_UNAVAILABLE', `container ${c.name} is unbonding its stake`);
  if (c.stake < ctx.requiredStakeOf(c))
    throw new AethirError('CONTAINER_UNAVAILABLE', `container ${c.name} is not staked enough to serve`);
  const id = `L${tx.id.slice(0, 20)}`;
  const terms = leaseTerms(ctx, tx, c, id);
  const price = terms.price;
  const openEnded = p.maxDurationSec === undefined && terms.maxSec === undefined;
  // On a reservation: to its end at most (no deposit: it costs nothing more); else as asked.
  const seconds =
    terms.maxSec !== undefined
      ? Math.min(p.maxDurationSec ?? ctx.params.maxLeaseSeconds, terms.maxSec)
      : (p.maxDurationSec ?? ctx.params.openEndedDepositSeconds);
  if (seconds > ctx.params.maxLeaseSeconds)
    throw new AethirError(
      'INVALID_TRANSACTION',
      `maxDurationSec is above the limit of ${ctx.params.maxLeaseSeconds}`,
    );
  // A deposit for part of the duration: the lease is paused when it runs out (pausing networks only).
  if (p.depositSec !== undefined) {
    if (ctx.params.pauseGraceMs === undefined)
      throw new AethirError(
        'INVALID_TRANSACTION',
        'this network does not pause leases (no params.pauseGraceMs): the escrow covers the whole duration; leave out depositSec',
      );
    if (p.depositSec > seconds)
      throw new AethirError(
        'INVALID_TRANSACTION',
        `depositSec ${p.depositSec} is above the lease's duration of ${seconds} s`,
      );
  }
  if (p.topUpLimit !== undefined && p.depositSec === undefined)
    throw new AethirError(
      'INVALID_TRANSACTION',
      'topUpLimit goes with depositSec: a lease whose escrow pays for its whole duration never runs low',
    );
  const paidSeconds = p.depositSec ?? seconds;
  const escrow = (price * BigInt(Math.max(1, p.gpus)) * BigInt(paidSeconds) * 1000n) / MS_PER_HOUR;
  const u = ctx.account(tx.tx.from);
  if (u.escrow < escrow)
    throw new AethirError(
      'INSUFFICIENT_FUNDS',
      `the lease locks ${escrow} units of escrow but the escrow balance is ${u.escrow}; deposit with escrow.deposit`,
      { details: { needed: escrow.toString(), escrow: u.escrow.toString() } },
    );
  ctx.setAccount(tx.tx.from, { ...u, escrow: u.escrow - escrow });
  // A lease that preempted others starts when their notice ends (their GPUs are its then).
  const startsAt = terms.preempted.length > 0 ? ctx.time + preemptNoticeOf(ctx.params) : ctx.time;
  const lease: Lease = {
    id,
    user: tx.tx.from,
    container: c.id,
    gpus: p.gpus,
    pricePerHour: price,
    maxDurationSec: seconds,
    openEnded,
    workload: p.workload,
    escrow,
    charged: 0n,
    hostShare: 0n,
    protocolShare: 0n,
    openedAt: startsAt,
    settledAt: startsAt,
    closedAt: null,
    status: 'open',
    exitCode: null,
    closeReason: null,
    closedBy: null,
    lastReceiptSeq: 0,
    receiptServedMs: 0,
    // (only when set: a plain lease's record keeps its exact bytes)
    ...(p.reservation !== undefined ? { reservation: p.reservation } : {}),
    ...(p.interruptible ? { interruptible: true } : {}),
    ...(p.resumes !== undefined ? { resumes: p.resumes } : {}),
    ...(p.topUpLimit !== undefined ? { topUpLimit: p.topUpLimit, toppedUpByHost: 0n } : {}),
  };
  ctx.state.set(K.lease(id), lease);
  const now = ctx.container(c.id)!;
  ctx.putContainer({
    ...now,
    gpusLeased: now.gpusLeased + heldGpus(lease),
    openLeases: now.openLeases + 1,
  });
  ctx.emit({ type: 'LeaseOpened', lease });
  return {
    lease: id,
    escrow: escrow.toString(),
    ...(terms.preempted.length ? { preempted: terms.preempted.map((l) => l.id).join(','), startsAt } : {}),
  };
}

/**
 * What a lease.open gets: its price per GPU-hour (the container's on-demand price; the user's
 * bid for an interruptible lease; nothing on the user's reservation), the longest it may run
 * (to its reservation's end), and the interruptible leases it preempted to get its GPUs.
 */
function leaseTerms(
  ctx: TxContext,
  tx: DecodedTx<'lease.open'>,
  c: Container,
  id: string,
): { price: bigint; maxSec?: number; preempted: Lease[] } {
  const p = tx.payload;
  if (p.bidPerHour !== undefined && !p.interruptible)
    throw new AethirError(
      'INVALID_TRANSACTION',
      'a bid goes with an interruptible lease (interruptible: true)',
    );
  if (p.resumes !== undefined) checkResume(ctx, p.resumes, tx.tx.from, c);
  if (p.reservation !== undefined) {
    if (p.interruptible)
      throw new AethirError('INVALID_TRANSACTION', 'a lease on a reservation is not interruptible');
    return { price: 0n, maxSec: useReservation(ctx, p.reservation, tx.tx.from, c.id, p.gpus), preempted: [] };
  }
  // Reservations whose period is over give their GPUs back before anyone counts them.
  closeEndedReservations(ctx, c.id);
  const now = ctx.container(c.id)!;
  let price = c.pricePerHour;
  if (p.interruptible) {
    if (p.bidPerHour === undefined)
      throw new AethirError('INVALID_TRANSACTION', 'an interruptible lease needs a bid (bidPerHour)');
    if (p.bidPerHour > c.pricePerHour)
      throw new AethirError(
        'INVALID_TRANSACTION',
        `the bid ${p.bidPerHour} is above container ${c.name}'s on-demand price ${c.pricePerHour}: rent on demand instead`,
      );
    price = p.bidPerHour;
  }
  if (price > p.maxPricePerHour)
    throw new AethirError(
      'INVALID_TRANSACTION',
      `container price ${price} is above the limit ${p.maxPricePerHour}`,
    );
  const free = now.gpusTotal - now.gpusLeased - reservedGpus(now);
  return { price, preempted: preemptFor(ctx, now, free, p.gpus, price, id) };
}

/**
 * A resumed lease continues one of its user's interruptible leases: on the host that kept its
 * checkpoint, or (on networks with params.checkpointKeepMs) on any host, once the old lease has
 * ended and while its host still keeps the checkpoint (the user's client copies it over).
 */
function checkResume(ctx: TxContext, from: string, user: string, c: Container): void {
  const old = ctx.lease(from);
  if (!old) throw new AethirError('NOT_FOUND', `no lease ${from} to resume`);
  if (old.user !== user) throw new AethirError('UNAUTHORIZED', `lease ${from} belongs to another account`);
  if (!old.interruptible)
    throw new AethirError('INVALID_TRANSACTION', `lease ${from} was not interruptible: it has no checkpoint`);
  if (old.container === c.id) return;
  const keep = ctx.params.checkpointKeepMs;
  if (keep === undefined)
    throw new AethirError(
      'INVALID_TRANSACTION',
      `lease ${from}'s checkpoint is kept on container ${old.container}: resume it there (this network does not move checkpoints between hosts: no params.checkpointKeepMs)`,
    );
  if (old.status !== 'closed' || old.closedAt === null)
    throw new AethirError(
      'CONFLICT',
      `lease ${from} is still ${old.status}: its checkpoint moves to another host once it has ended`,
    );
  if (ctx.time > old.closedAt + keep)
    throw new AethirError(
      'CONFLICT',
      `lease ${from}'s checkpoint was kept until ${new Date(old.closedAt + keep).toISOString()}: start without it`,
    );
}

function settleLease(ctx: TxContext, tx: DecodedTx<'lease.settle'>): TxResult {
  const p = tx.payload;
  const l = requireLease(ctx, p.lease);
  if (tx.tx.from !== l.container)
    throw new AethirError('UNAUTHORIZED', 'only the serving container settles a lease');
  if (l.status !== 'open') throw new AethirError('CONFLICT', `lease ${l.id} is ${l.status}`);
  const r = withReceipt(ctx, l, p.receipt as SignedReceipt | undefined);
  const s = settleTo(ctx, r, ctx.time, r.receiptServedMs);
  ctx.state.set(K.lease(l.id), s);
  ctx.emit({ type: 'LeaseSettled', lease: l.id, container: l.container, charged: s.charged });
  return { lease: l.id, charged: s.charged.toString(), servedMs: s.receiptServedMs };
}

/**
 * Records a usage receipt a container attached: it must be signed by the lease's user, for
 * this lease (and chain), and numbered above the last one accepted. The lease's cap is the
 * most service any accepted receipt acknowledged.
 */
function withReceipt(ctx: TxContext, l: Lease, receipt: SignedReceipt | undefined): Lease {
  if (!receipt) return l;
  if (receipt.lease !== l.id)
    throw new AethirError(
      'INVALID_TRANSACTION',
      `the usage receipt is for lease ${receipt.lease}, not ${l.id}`,
    );
  const r = verifyReceipt(ctx.chain.chainId, receipt, l.user);
  if (r.seq <= l.lastReceiptSeq)
    throw new AethirError(
      'INVALID_TRANSACTION',
      `usage receipt ${r.seq} is not newer than the last one accepted (${l.lastReceiptSeq})`,
      { details: { lastReceiptSeq: l.lastReceiptSeq } },
    );
  return {
    ...l,
    lastReceiptSeq: r.seq,
    receiptServedMs: Math.max(l.receiptServedMs, r.servedMs),
  };
}

function closeLease(ctx: TxContext, tx: DecodedTx<'lease.close'>): TxResult {
  const p = tx.payload;
  const l = requireLease(ctx, p.lease);
  if (tx.tx.from !== l.container && tx.tx.from !== l.user)
    throw new AethirError('UNAUTHORIZED', 'only the lease holder or its container can close a lease');
  // A paused lease closes too (its grace period over, or its user giving up): nothing more to charge.
  if (l.status === 'closed') throw new AethirError('CONFLICT', `lease ${l.id} is already closed`);
  const byUser = tx.tx.from === l.user;
  if (byUser && p.receipt)
    throw new AethirError('INVALID_TRANSACTION', 'only the container attaches a usage receipt');
  const reason = p.reason ?? (byUser ? 'closed by user' : 'closed by container');
  // The user's own close charges up to the block time: the user signs it. The container's
  // charges up to what the user's receipts acknowledge.
  const r = byUser ? l : withReceipt(ctx, l, p.receipt as SignedReceipt | undefined);
  const closed = closeLeaseAt(
    ctx,
    r,
    ctx.time,
    tx.tx.from,
    reason,
    p.exitCode ?? null,
    byUser ? Infinity : r.receiptServedMs,
  );
  return {
    lease: l.id,
    charged: closed.charged.toString(),
    refund: (closed.escrow - closed.charged).toString(),
  };
}

/**
 * The lease's user moves units from their balance into its escrow: never more than the rest of
 * its maximum duration can spend, never into a closed lease, nor into a paused one whose grace
 * period is over (its container is closing it). A paused lease resumes: the time it spent
 * paused is neither charged nor counted against its maximum duration.
 */
function topUpLease(ctx: TxContext, tx: DecodedTx<'lease.topup'>): TxResult {
  const p = tx.payload;
  const l = requireLease(ctx, p.lease);
  // The user tops up from their balance; the serving container only within the user's allowance
  // (lease.open topUpLimit), from the user's balance too.
  const byHost = tx.tx.from === l.container && tx.tx.from !== l.user;
  if (tx.tx.from !== l.user && !byHost)
    throw new AethirError(
      'UNAUTHORIZED',
      "only the lease's user (or its container, within the user's allowance) tops it up",
    );
  if (byHost) {
    const left = (l.topUpLimit ?? 0n) - (l.toppedUpByHost ?? 0n);
    if (p.amount > left)
      throw new AethirError(
        'UNAUTHORIZED',
        left > 0n
          ? `the user allowed this container ${left} more units of top-ups; ${p.amount} asked`
          : "the lease's user allowed its container no (more) top-ups",
        { details: { left: (left > 0n ? left : 0n).toString() } },
      );
  }
  if (l.status === 'closed') throw new AethirError('CONFLICT', `lease ${l.id} is closed`);
  const grace = ctx.params.pauseGraceMs;
  if (l.status === 'paused' && grace !== undefined) {
    const closesAt = (l.pausedAt ?? l.settledAt) + grace;
    if (ctx.time > closesAt)
      throw new AethirError(
        'CONFLICT',
        `lease ${l.id} was paused past its grace period (ended at ${new Date(closesAt).toISOString()}): it is being closed`,
      );
  }
  const rate = l.pricePerHour * BigInt(Math.max(1, l.gpus));
  const whole = (rate * BigInt(l.maxDurationSec) * 1000n) / MS_PER_HOUR;
  const room = whole - l.escrow;
  if (p.amount > room)
    throw new AethirError(
      'INVALID_TRANSACTION',
      room > 0n
        ? `lease ${l.id} can spend at most ${room} more units in its maximum duration; ${p.amount} asked`
        : `lease ${l.id}'s escrow already pays for its whole maximum duration`,
      { details: { max: (room > 0n ? room : 0n).toString() } },
    );
  const u = ctx.account(l.user);
  if (u.balance < p.amount)
    throw new AethirError(
      'INSUFFICIENT_FUNDS',
      `the top-up is ${p.amount} units but the ${byHost ? "lease user's " : ''}balance is ${u.balance}`,
      { details: { needed: p.amount.toString(), balance: u.balance.toString() } },
    );
  ctx.setAccount(l.user, { ...u, balance: u.balance - p.amount });
  let next: Lease = {
    ...l,
    escrow: l.escrow + p.amount,
    ...(byHost ? { toppedUpByHost: (l.toppedUpByHost ?? 0n) + p.amount } : {}),
  };
  const resumed = l.status === 'paused';
  if (resumed) {
    const pausedAt = l.pausedAt ?? l.settledAt;
    // Charged through pausedAt; from now on it runs (and is charged) again.
    next = {
      ...next,
      status: 'open',
      pausedMs: (l.pausedMs ?? 0) + (ctx.time - pausedAt),
      pausedAt: null,
      settledAt: ctx.time,
    };
  }
  ctx.state.set(K.lease(l.id), next);
  ctx.emit({
    type: 'LeaseToppedUp',
    lease: l.id,
    container: l.container,
    user: l.user,
    amount: p.amount,
    escrow: next.escrow,
    ...(byHost ? { by: 'container' as const } : {}),
  });
  if (resumed) ctx.emit({ type: 'LeaseResumed', lease: l.id, container: l.container, user: l.user });
  return {
    lease: l.id,
    escrow: next.escrow.toString(),
    resumed,
    ...(byHost ? { allowanceLeft: ((next.topUpLimit ?? 0n) - (next.toppedUpByHost ?? 0n)).toString() } : {}),
  };
}

/**
 * The serving container pauses a lease whose escrow has run out: charged up to the user's
 * latest receipt, the escrow must then be spent (a lease that still has escrow, as far as the
 * receipts and the block time show, is refused), and not at its maximum duration (that ends it).
 * Charges stop at the moment the escrow ran out; the lease closes unless topped up within
 * params.pauseGraceMs.
 */
function pauseLease(ctx: TxContext, tx: DecodedTx<'lease.pause'>): TxResult {
  const grace = ctx.params.pauseGraceMs;
  if (grace === undefined)
    throw new AethirError(
      'INVALID_TRANSACTION',
      'this network does not pause leases (params.pauseGraceMs is not set)',
    );
  const l = requireLease(ctx, tx.payload.lease);
  if (tx.tx.from !== l.container)
    throw new AethirError('UNAUTHORIZED', 'only the serving container pauses a lease');
  if (l.status !== 'open') throw new AethirError('CONFLICT', `lease ${l.id} is ${l.status}`);
  const r = withReceipt(ctx, l, tx.payload.receipt as SignedReceipt | undefined);
  const s = settleTo(ctx, r, ctx.time, r.receiptServedMs);
  const out = escrowRunsOutAt(s);
  if (out === null || s.charged < s.escrow)
    throw new AethirError(
      'CONFLICT',
      `lease ${l.id} still has escrow: ${s.escrow - s.charged} units unspent as far as the receipts and the block time show`,
      {
        details: { unspent: (s.escrow - s.charged).toString(), ...(out !== null ? { runsOutAt: out } : {}) },
      },
    );
  if (paysWholeDuration(s) || out >= s.openedAt + (s.pausedMs ?? 0) + s.maxDurationSec * 1000)
    throw new AethirError('CONFLICT', `lease ${l.id} has reached its maximum duration: close it instead`);
  const paused: Lease = { ...s, status: 'paused', pausedAt: out, settledAt: out };
  ctx.state.set(K.lease(l.id), paused);
  const closesAt = out + grace;
  ctx.emit({ type: 'LeaseSettled', lease: l.id, container: l.container, charged: s.charged });
  ctx.emit({ type: 'LeasePaused', lease: l.id, container: l.container, user: l.user, at: out, closesAt });
  return { lease: l.id, charged: s.charged.toString(), pausedAt: out, closesAt };
}

/**
 * Env values travel sealed to the container's registered key; in clear only on a network whose
 * parameters allow it (those started before sealed env, until governance turns it off).
 */
function checkLeaseEnv(ctx: TxContext, w: Workload, c: Container): void {
  if (w.env && Object.keys(w.env).length > 0 && ctx.params.clearEnv === false)
    throw new AethirError(
      'INVALID_TRANSACTION',
      "env values in clear are not accepted on this network: seal them to the container's encKey (workload.sealedEnv)",
    );
  if (w.sealedEnv && Object.keys(w.sealedEnv).length > 0) {
    if (!c.encKey)
      throw new AethirError(
        'INVALID_TRANSACTION',
        `container ${c.name} registered no encryption key: it cannot receive env values`,
      );
    const both = Object.keys(w.sealedEnv).find((k) => w.env?.[k] !== undefined);
    if (both) throw new AethirError('INVALID_TRANSACTION', `${both} is given both in clear and sealed`);
  }
}

/** A lease may name a published app (and version), with at least the GPUs the app needs. */
function checkLeaseApp(ctx: TxContext, name: string, version: string | undefined, gpus: number): void {
  const app = ctx.app(name);
  if (!app) throw new AethirError('NOT_FOUND', `no app "${name}" is published`);
  const rel = ctx.appRelease(name, version);
  if (!rel)
    throw new AethirError(
      'NOT_FOUND',
      `app ${name} has no version ${version}; published: ${app.versions.join(', ')}`,
    );
  const need = appGpus(rel.manifest);
  if (gpus < need)
    throw new AethirError(
      'INVALID_TRANSACTION',
      `app ${name} ${rel.version} needs ${need} GPU${need === 1 ? '' : 's'}, the lease asks for ${gpus}`,
      { details: { needed: need, asked: gpus } },
    );
}

export const handlers: Handlers<keyof typeof payloads> = {
  'lease.open': openLease,
  'lease.settle': settleLease,
  'lease.close': closeLease,
  'lease.topup': topUpLease,
  'lease.pause': pauseLease,
};
