import { AethirError } from '../../../core/errors.js';
import type { Handlers, TxContext, TxResult } from '../../context.js';
import { newReputation, type Container } from '../../model.js';
import type { DecodedTx } from '../../tx.js';
import { requireContainer } from './keeper.js';
import type { payloads } from './payloads.js';

function registerContainer(ctx: TxContext, tx: DecodedTx<'container.register'>): TxResult {
  const p = tx.payload;
  const id = tx.tx.from;
  const prev = ctx.container(id);
  if (prev && prev.openLeases > 0 && prev.spec.gpus.length !== p.spec.gpus.length)
    throw new AethirError('CONFLICT', 'cannot change the GPU count while leases are open');
  if (prev && (prev.gpusReserved ?? 0) > 0 && prev.spec.gpus.length !== p.spec.gpus.length)
    throw new AethirError('CONFLICT', 'cannot change the GPU count while GPUs are reserved');
  const reservedPrice = p.reservedPricePerHour ?? prev?.reservedPricePerHour;
  if (reservedPrice !== undefined && reservedPrice > p.pricePerHour)
    throw new AethirError(
      'INVALID_TRANSACTION',
      `the reserved price ${reservedPrice} is above the on-demand price ${p.pricePerHour}: it is a discount for booking days`,
    );
  if (p.spec.source === 'simulated' && !ctx.params.simulatedHardware)
    throw new AethirError(
      'INVALID_TRANSACTION',
      'simulated hardware is only accepted on a network whose genesis allows it (devnet)',
    );
  checkGpuUuids(ctx, id, p.spec);
  const c: Container = {
    id,
    name: p.name,
    spec: p.spec,
    location: p.location,
    pricePerHour: p.pricePerHour,
    stake: prev?.stake ?? 0n,
    unbonding: prev?.unbonding ?? 0n,
    unbondingUntil: prev?.unbondingUntil ?? null,
    status: prev?.status ?? 'pending',
    suspended: prev?.suspended ?? false,
    onlineSince: prev?.onlineSince ?? null,
    gpusTotal: p.spec.gpus.length,
    gpusLeased: prev?.gpusLeased ?? 0,
    openLeases: prev?.openLeases ?? 0,
    earned: prev?.earned ?? 0n,
    epochDeliveredGpuMs: prev?.epochDeliveredGpuMs ?? 0,
    qualityTier: prev?.qualityTier ?? 1,
    slashed: prev?.slashed ?? 0n,
    registeredAt: prev?.registeredAt ?? ctx.time,
    // a new spec is checked again: a failed check's suspension stays until one passes
    suspendedReason: prev?.suspendedReason ?? null,
    checks: prev?.checks ?? {},
    incidents: prev?.incidents ?? [],
    rep: prev?.rep ?? newReputation(),
  };
  // (only when there is one: records from before encryption keys keep their exact bytes)
  const encKey = p.encKey ?? prev?.encKey;
  if (encKey !== undefined) c.encKey = encKey;
  const volumeOffer = p.volumes ?? prev?.volumeOffer;
  if (volumeOffer !== undefined) c.volumeOffer = volumeOffer;
  if (reservedPrice !== undefined) c.reservedPricePerHour = reservedPrice;
  if (prev?.gpusReserved !== undefined) c.gpusReserved = prev.gpusReserved;
  if (prev?.reservedUntil !== undefined) c.reservedUntil = prev.reservedUntil;
  // A new spec can need more stake than the old one.
  if (c.suspended && c.suspendedReason === null && c.stake >= ctx.requiredStakeOf(c)) c.suspended = false;
  ctx.putContainer(c);
  return { container: id, updated: prev !== undefined, requiredStake: ctx.requiredStakeOf(c).toString() };
}

/**
 * One physical GPU backs one container: a GPU UUID (as the driver reports it) already in
 * another registered container's spec, or twice in this one, is refused.
 */
function checkGpuUuids(ctx: TxContext, id: string, spec: Container['spec']): void {
  const mine = new Set<string>();
  for (const g of spec.gpus) {
    if (!g.uuid) continue;
    if (mine.has(g.uuid))
      throw new AethirError('INVALID_TRANSACTION', `GPU ${g.uuid} is listed twice in the spec`);
    mine.add(g.uuid);
  }
  if (mine.size === 0) return;
  for (const [, other] of ctx.state.scan<Container>('ctr/')) {
    if (other.id === id) continue;
    const shared = other.spec.gpus.find((g) => g.uuid && mine.has(g.uuid));
    if (shared)
      throw new AethirError(
        'CONFLICT',
        `GPU ${shared.uuid} is already registered by container ${other.name}`,
        { details: { uuid: shared.uuid!, container: other.id } },
      );
  }
}

function stake(ctx: TxContext, tx: DecodedTx<'container.stake'>): TxResult {
  const p = tx.payload;
  const c = requireContainer(ctx, tx.tx.from);
  ctx.debit(tx.tx.from, p.amount, 'stake');
  const after: Container = { ...c, stake: c.stake + p.amount };
  // Topping up lifts a suspension once the requirement is met again (not a failed check's).
  if (after.suspended && after.suspendedReason === null && after.stake >= ctx.requiredStakeOf(after))
    after.suspended = false;
  ctx.putContainer(after);
  return { container: c.id, stake: after.stake.toString(), suspended: after.suspended };
}

function unstake(ctx: TxContext, tx: DecodedTx<'container.unstake'>): TxResult {
  const p = tx.payload;
  const c = requireContainer(ctx, tx.tx.from);
  if (c.openLeases > 0)
    throw new AethirError('CONFLICT', 'cannot unstake while leases are open; drain first');
  if (p.amount > c.stake)
    throw new AethirError('INSUFFICIENT_FUNDS', `stake is ${c.stake} units, ${p.amount} asked`);
  const until = ctx.time + ctx.params.unbondingMs;
  ctx.putContainer({
    ...c,
    stake: c.stake - p.amount,
    unbonding: c.unbonding + p.amount,
    unbondingUntil: until,
  });
  return { container: c.id, unbonding: (c.unbonding + p.amount).toString(), until };
}

function withdrawStake(ctx: TxContext, tx: DecodedTx<'container.withdraw'>): TxResult {
  const c = requireContainer(ctx, tx.tx.from);
  if (c.unbonding === 0n || c.unbondingUntil === null)
    throw new AethirError('CONFLICT', 'nothing is unbonding; request it with container.unstake');
  if (ctx.time < c.unbondingUntil)
    throw new AethirError('CONFLICT', `the stake unbonds at ${new Date(c.unbondingUntil).toISOString()}`, {
      details: { until: c.unbondingUntil },
    });
  ctx.credit(c.id, c.unbonding);
  ctx.putContainer({ ...c, unbonding: 0n, unbondingUntil: null });
  return { container: c.id, withdrawn: c.unbonding.toString() };
}

export const handlers: Handlers<keyof typeof payloads> = {
  'container.register': registerContainer,
  'container.stake': stake,
  'container.unstake': unstake,
  'container.withdraw': withdrawStake,
};
