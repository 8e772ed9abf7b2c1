import { AethirError } from '../../../core/errors.js';
import type { Handlers, TxContext, TxResult } from '../../context.js';
import type { DecodedTx } from '../../tx.js';
import { closeVolume, loseVolume, putVolume, settleVolume, spentAt, writerOf } from './keeper.js';
import type { payloads } from './payloads.js';
import { VK, volumeByName, volumeCost, volumeOf, volumesOf, type Volume } from './queries.js';

function createVolume(ctx: TxContext, tx: DecodedTx<'volume.create'>): TxResult {
  const p = tx.payload;
  const owner = tx.tx.from;
  const c = ctx.container(p.container);
  if (!c) throw new AethirError('NOT_FOUND', `no container ${p.container}`);
  if (p.container === owner)
    throw new AethirError('INVALID_TRANSACTION', 'a container cannot rent a volume from itself');
  const offer = c.volumeOffer;
  if (!offer) throw new AethirError('CONTAINER_UNAVAILABLE', `container ${c.name} offers no volumes`);
  if (!ctx.isServing(c))
    throw new AethirError(
      'CONTAINER_UNAVAILABLE',
      `container ${c.name} is not serving (${c.status}${c.suspended ? ', suspended' : ''}${c.unbonding > 0n ? ', unbonding' : ''})`,
    );
  if (offer.pricePerGiBHour > p.maxPricePerGiBHour)
    throw new AethirError(
      'INVALID_TRANSACTION',
      `container ${c.name}'s volume price ${offer.pricePerGiBHour} per GiB-hour is above the limit ${p.maxPricePerGiBHour}`,
    );
  if (volumeByName(ctx, owner, p.name))
    throw new AethirError('CONFLICT', `you already have a volume named ${p.name}`);
  const used = volumesOf(ctx)
    .filter((v) => v.container === c.id && v.status === 'active')
    .reduce((s, v) => s + v.sizeMiB, 0);
  const capacityMiB = offer.capacityGiB * 1024;
  if (used + p.sizeMiB > capacityMiB)
    throw new AethirError(
      'CAPACITY_EXHAUSTED',
      `container ${c.name} has ${capacityMiB - used} MiB of volume space free, ${p.sizeMiB} asked`,
      { details: { freeMiB: capacityMiB - used, askedMiB: p.sizeMiB } },
    );
  const seconds = p.depositSeconds ?? ctx.params.openEndedDepositSeconds;
  if (seconds > ctx.params.maxLeaseSeconds)
    throw new AethirError(
      'INVALID_TRANSACTION',
      `depositSeconds is above the limit of ${ctx.params.maxLeaseSeconds}`,
    );
  const escrow = volumeCost(offer.pricePerGiBHour, p.sizeMiB, seconds * 1000);
  if (escrow === 0n)
    throw new AethirError('INVALID_TRANSACTION', 'the deposit rounds to 0 units: ask for a longer deposit');
  const u = ctx.account(owner);
  if (u.escrow < escrow)
    throw new AethirError(
      'INSUFFICIENT_FUNDS',
      `the volume locks ${escrow} units of escrow but the escrow balance is ${u.escrow}; deposit with escrow.deposit`,
      { details: { needed: escrow.toString(), escrow: u.escrow.toString() } },
    );
  ctx.setAccount(owner, { ...u, escrow: u.escrow - escrow });
  const v: Volume = {
    id: `V${tx.id.slice(0, 20)}`,
    name: p.name,
    owner,
    container: c.id,
    sizeMiB: p.sizeMiB,
    pricePerGiBHour: offer.pricePerGiBHour,
    escrow,
    charged: 0n,
    hostShare: 0n,
    protocolShare: 0n,
    createdAt: ctx.time,
    settledAt: ctx.time,
    servedMs: 0,
    hostDownSince: null,
    status: 'active',
    closedAt: null,
    closeReason: null,
    closedBy: null,
  };
  if (ctx.params.volumeSealIterations !== undefined) v.seal = ctx.params.volumeSealIterations;
  putVolume(ctx, v);
  ctx.state.set(VK.name(owner, p.name), { id: v.id });
  ctx.emit({ type: 'VolumeCreated', volume: v });
  return { volume: v.id, escrow: escrow.toString(), pricePerGiBHour: offer.pricePerGiBHour.toString() };
}

function requireVolume(ctx: TxContext, id: string, from: string): Volume {
  const v = volumeOf(ctx, id);
  // a stranger learns nothing of another's volume
  if (!v || (v.owner !== from && v.container !== from))
    throw new AethirError('NOT_FOUND', `no volume ${id} of yours`);
  return v;
}

function topupVolume(ctx: TxContext, tx: DecodedTx<'volume.topup'>): TxResult {
  const v = requireVolume(ctx, tx.payload.volume, tx.tx.from);
  if (v.owner !== tx.tx.from) throw new AethirError('UNAUTHORIZED', 'only the owner tops up a volume');
  if (v.status !== 'active') throw new AethirError('CONFLICT', `volume ${v.name} is ${v.status}`);
  const u = ctx.account(v.owner);
  if (u.escrow < tx.payload.amount)
    throw new AethirError(
      'INSUFFICIENT_FUNDS',
      `the top-up needs ${tx.payload.amount} units of escrow but the escrow balance is ${u.escrow}`,
    );
  ctx.setAccount(v.owner, { ...u, escrow: u.escrow - tx.payload.amount });
  // settled first: time already served is billed at the old escrow, never re-billed
  const s = settleVolume(ctx, v, ctx.time);
  putVolume(ctx, { ...s, escrow: s.escrow + tx.payload.amount });
  return { volume: v.id, escrow: (s.escrow + tx.payload.amount).toString() };
}

function settle(ctx: TxContext, tx: DecodedTx<'volume.settle'>): TxResult {
  const v = requireVolume(ctx, tx.payload.volume, tx.tx.from);
  if (v.container !== tx.tx.from) throw new AethirError('UNAUTHORIZED', "only the volume's host settles it");
  if (v.status !== 'active') throw new AethirError('CONFLICT', `volume ${v.name} is ${v.status}`);
  const s = settleVolume(ctx, v, ctx.time);
  putVolume(ctx, s);
  ctx.emit({ type: 'VolumeSettled', volume: v.id, container: v.container, charged: s.charged });
  return { volume: v.id, charged: s.charged.toString(), servedMs: s.servedMs };
}

function deleteVolume(ctx: TxContext, tx: DecodedTx<'volume.delete'>): TxResult {
  const v = requireVolume(ctx, tx.payload.volume, tx.tx.from);
  if (v.status !== 'active') throw new AethirError('CONFLICT', `volume ${v.name} is already ${v.status}`);
  const byOwner = v.owner === tx.tx.from;
  if (!byOwner && !spentAt(v, ctx.time))
    throw new AethirError('UNAUTHORIZED', 'a host may delete a volume only once its escrow is spent');
  const writer = writerOf(ctx, v.id);
  if (writer)
    throw new AethirError(
      'CONFLICT',
      `volume ${v.name} is mounted by open lease ${writer.id}: close it first`,
    );
  const closed = closeVolume(
    ctx,
    v,
    ctx.time,
    'deleted',
    tx.tx.from,
    tx.payload.reason ?? (byOwner ? 'deleted by owner' : 'escrow spent: deleted by host'),
  );
  return {
    volume: v.id,
    charged: closed.charged.toString(),
    refund: (closed.escrow - closed.charged).toString(),
  };
}

function lost(ctx: TxContext, tx: DecodedTx<'volume.lost'>): TxResult {
  const v = requireVolume(ctx, tx.payload.volume, tx.tx.from);
  if (v.container !== tx.tx.from)
    throw new AethirError('UNAUTHORIZED', "only the volume's host reports it lost");
  if (v.status !== 'active') throw new AethirError('CONFLICT', `volume ${v.name} is ${v.status}`);
  const closed = loseVolume(ctx, v, tx.tx.from, tx.payload.reason);
  return { volume: v.id, refund: (closed.escrow - closed.charged).toString() };
}

export const handlers: Handlers<keyof typeof payloads> = {
  'volume.create': createVolume,
  'volume.topup': topupVolume,
  'volume.settle': settle,
  'volume.delete': deleteVolume,
  'volume.lost': lost,
};
