import { AethirError } from '../../../core/errors.js';
import type { TxContext } from '../../context.js';
import { K, type Container } from '../../model.js';

/** What other modules may do to containers (the checks slash a failing one). */

/**
 * Takes `amount` from a container: unvested host earnings and rewards first (latest first),
 * then stake. What is taken goes to the treasury. A container left below its requirement is
 * suspended until it tops up.
 */
export function slash(ctx: TxContext, containerId: string, amount: bigint): bigint {
  let left = amount;
  const entries = ctx
    .vesting(containerId)
    .filter((e) => e.kind !== 'checker')
    .sort((a, b) => b.unlockAt - a.unlockAt);
  for (const e of entries) {
    if (left === 0n) break;
    const take = e.amount < left ? e.amount : left;
    if (take === e.amount) ctx.state.delete(e.key);
    else
      ctx.state.set(e.key, {
        amount: e.amount - take,
        kind: e.kind,
        earnedAt: e.earnedAt,
        unlockAt: e.unlockAt,
      });
    left -= take;
  }
  const c = ctx.container(containerId)!;
  const fromStake = c.stake < left ? c.stake : left;
  left -= fromStake;
  // Stake on its way out is still at stake for what happened before it left.
  const fromUnbonding = c.unbonding < left ? c.unbonding : left;
  left -= fromUnbonding;
  const taken = amount - left;
  const after: Container = {
    ...c,
    stake: c.stake - fromStake,
    unbonding: c.unbonding - fromUnbonding,
    slashed: c.slashed + taken,
  };
  after.suspended = after.suspendedReason !== null || after.stake < ctx.requiredStakeOf(after);
  ctx.putContainer(after);
  ctx.movePool(K.treasury, taken);
  return taken;
}

export function requireContainer(ctx: TxContext, id: string, what = 'this'): Container {
  const c = ctx.container(id);
  if (!c)
    throw new AethirError(
      'NOT_FOUND',
      `${what === 'this' ? 'the sender' : what} is not a registered container`,
    );
  return c;
}
