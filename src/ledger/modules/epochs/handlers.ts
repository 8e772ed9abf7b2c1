import { mulBps } from '../../../core/amount.js';
import { AethirError } from '../../../core/errors.js';
import { nextEpochSeed } from '../../assignment.js';
import type { Handlers, TxContext, TxResult } from '../../context.js';
import { historicWeight } from '../../governance.js';
import { K, type Container, type Economics } from '../../model.js';
import { stakeBase } from '../../params.js';
import type { DecodedTx } from '../../tx.js';
import type { payloads } from './payloads.js';
import { DAY } from './queries.js';

const YEAR = 365 * DAY;
const MONTH = 30 * DAY;

function closeEpoch(ctx: TxContext, tx: DecodedTx<'epoch.close'>): TxResult {
  const p = tx.payload;
  const params = ctx.params;
  const next = ctx.nextEpoch(ctx.time);
  if (p.epoch !== next.epoch) throw new AethirError('CONFLICT', `the next epoch to close is ${next.epoch}`);
  if (!next.due)
    throw new AethirError('CONFLICT', `epoch ${p.epoch} ends at ${new Date(next.end).toISOString()}`);
  const start = next.end - params.epochMs;
  const genesis = ctx.chain.genesisTime;

  // Emission for this epoch, decaying by year, never more than the pool holds.
  const year = Math.floor((start - genesis) / YEAR);
  const keep = BigInt(10_000 - params.emissionDecayBps);
  let emission = (params.emissionPerEpoch * keep ** BigInt(year)) / 10_000n ** BigInt(year);
  const pool = ctx.rewardPool().balance;
  if (emission > pool) emission = pool;
  const pocPool = mulBps(emission, params.pocShareBps);
  const podPool = emission - pocPool;

  // Proof of Capacity: available, staked and passing checks for the whole epoch, weighted by
  // capacity (the K of its GPUs). Proof of Delivery: GPU-time served × quality tier.
  const containers = ctx.containers();
  const poc: Array<[Container, bigint]> = [];
  const pod: Array<[Container, bigint]> = [];
  for (const c of containers) {
    if (ctx.isServing(c) && c.onlineSince !== null && c.onlineSince <= start)
      poc.push([
        c,
        stakeBase(
          params,
          c.spec.gpus.map((g) => g.model),
        ),
      ]);
    if (c.epochDeliveredGpuMs > 0 && !c.suspended && c.unbonding === 0n) {
      const tier = params.qualityTierBps[Math.min(3, Math.max(1, c.qualityTier)) - 1]!;
      pod.push([c, BigInt(c.epochDeliveredGpuMs) * BigInt(tier)]);
    }
  }
  const unlockAt = next.end + params.hostVestingMs;
  const paid =
    distribute(pocPool, poc, (c, amount) => ctx.vest(c.id, 'reward', amount, ctx.time, unlockAt)) +
    distribute(podPool, pod, (c, amount) => ctx.vest(c.id, 'reward', amount, ctx.time, unlockAt));
  ctx.movePool(K.rewardPool, -paid);
  for (const c of containers)
    if (c.epochDeliveredGpuMs !== 0) ctx.putContainer({ ...ctx.container(c.id)!, epochDeliveredGpuMs: 0 });

  // The next epoch draws the checkers anew, from a seed no one could know before this block.
  const prevEcon = ctx.economics;
  let econ: Economics = {
    ...prevEcon,
    lastEpoch: p.epoch,
    lastEpochEnd: next.end,
    epochSeed: nextEpochSeed(prevEcon.epochSeed, ctx.prevHash, p.epoch),
  };
  const result: TxResult = {
    epoch: p.epoch,
    emitted: paid.toString(),
    capacityRewarded: poc.length,
    deliveryRewarded: pod.length,
  };

  // Checker rewards, once a day: each day that ended by this epoch's end shares its pool by
  // correct reports (a checker's counts are kept for the current and the previous day).
  const lastFullDay = Math.floor((next.end - genesis) / DAY) - 1;
  let toCheckers = 0n;
  for (let day = econ.lastCheckerDay + 1; day <= lastFullDay; day++) {
    const counts: Array<[string, bigint]> = [];
    for (const addr of ctx.chain.checkers) {
      const r = ctx.checker(addr)!;
      if (r.bannedUntil > next.end) continue; // no rewards while suspended
      const n = r.day === day ? r.correct : r.prevDay === day ? r.prevCorrect : 0;
      if (n > 0) counts.push([addr, BigInt(n)]);
    }
    let dayPool = params.checkerPoolPerDay;
    if (dayPool > ctx.checkerPool().balance) dayPool = ctx.checkerPool().balance;
    const checkerUnlock = next.end + params.checkerVestingMs;
    const paidDay = distribute(dayPool, counts, (addr, amount) =>
      ctx.vest(addr, 'checker', amount, next.end, checkerUnlock),
    );
    ctx.movePool(K.checkerPool, -paidDay);
    toCheckers += paidDay;
    econ = { ...econ, lastCheckerDay: day };
    result.checkerDay = day;
  }
  if (result.checkerDay !== undefined) result.checkerRewards = toCheckers.toString();

  // The staking coefficient follows the average monthly host revenue per GPU, weekly.
  if (next.end - econ.coefficientUpdatedAt >= params.coefficientPeriodMs) {
    let gpus = 0n;
    // GPUs of the hosts that are in the network: staked and not leaving.
    for (const c of containers)
      if (c.stake > 0n && c.unbonding === 0n) gpus += BigInt(Math.max(1, c.gpusTotal));
    const elapsed = BigInt(next.end - econ.coefficientUpdatedAt);
    let coefficient = econ.coefficientBps;
    if (gpus > 0n) {
      const monthly = (econ.revenueSince * BigInt(MONTH)) / (elapsed * gpus);
      const bpsValue = (monthly * 10_000n) / params.coefficientRefMonthlyRevenue;
      coefficient = Number(
        bpsValue < BigInt(params.coefficientMinBps)
          ? BigInt(params.coefficientMinBps)
          : bpsValue > BigInt(params.coefficientMaxBps)
            ? BigInt(params.coefficientMaxBps)
            : bpsValue,
      );
    }
    econ = { ...econ, coefficientBps: coefficient, coefficientUpdatedAt: next.end, revenueSince: 0n };
    result.coefficientBps = coefficient;
  }
  // Lockers' share of the protocol's fee income since the last epoch, pro rata to weight.
  const dao = ctx.dao;
  if (dao.incomeSince > 0n) {
    // never more than the treasury holds (a treasury spend may have paid the income out since):
    // before this cap such an epoch.close faulted, so no recorded history takes this path
    const owed = mulBps(dao.incomeSince, params.revenueShareBps);
    const held = ctx.treasury().balance;
    const share = owed < held ? owed : held;
    const weights = ctx
      .locks()
      // as the locks stood at the epoch's end: weight locked after it takes no share
      .map((l): [string, bigint] => [l.address, historicWeight(l, next.end, params.lockMaxMs)])
      .filter(([, w]) => w > 0n);
    const paidOut = distribute(share, weights, (addr, amount) =>
      ctx.vest(addr, 'revenue', amount, next.end, next.end),
    );
    ctx.movePool(K.treasury, -paidOut);
    ctx.state.set(K.dao, { ...dao, incomeSince: 0n });
    if (paidOut > 0n) result.revenueShared = paidOut.toString();
  }
  ctx.state.set(K.economics, econ);
  ctx.emit({
    type: 'EpochClosed',
    epoch: p.epoch,
    emitted: paid,
    coefficientBps: econ.coefficientBps,
    coefficientChanged: econ.coefficientBps !== prevEcon.coefficientBps,
  });
  return result;
}

/** Splits `pool` pro rata to the weights (floor); returns what was paid out. */
function distribute<T>(
  pool: bigint,
  weights: Array<[T, bigint]>,
  pay: (who: T, amount: bigint) => void,
): bigint {
  const total = weights.reduce((s, [, w]) => s + w, 0n);
  if (pool === 0n || total === 0n) return 0n;
  let paid = 0n;
  for (const [who, w] of weights) {
    const amount = (pool * w) / total;
    if (amount > 0n) {
      pay(who, amount);
      paid += amount;
    }
  }
  return paid;
}

export const handlers: Handlers<keyof typeof payloads> = {
  'epoch.close': closeEpoch,
};
