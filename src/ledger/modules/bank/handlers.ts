import { mulBps } from '../../../core/amount.js';
import { AethirError } from '../../../core/errors.js';
import type { Handlers, TxContext, TxResult } from '../../context.js';
import { K } from '../../model.js';
import type { DecodedTx } from '../../tx.js';
import type { payloads } from './payloads.js';

function transfer(ctx: TxContext, tx: DecodedTx<'transfer'>): TxResult {
  const p = tx.payload;
  if (p.to === tx.tx.from) throw new AethirError('INVALID_TRANSACTION', 'cannot transfer to yourself');
  ctx.debit(tx.tx.from, p.amount, 'transfer');
  ctx.credit(p.to, p.amount);
  ctx.emit({ type: 'Transferred', from: tx.tx.from, to: p.to, amount: p.amount });
  return { to: p.to, amount: p.amount.toString() };
}

function escrowDeposit(ctx: TxContext, tx: DecodedTx<'escrow.deposit'>): TxResult {
  const p = tx.payload;
  ctx.debit(tx.tx.from, p.amount, 'escrow deposit');
  const a = ctx.account(tx.tx.from);
  ctx.setAccount(tx.tx.from, { ...a, escrow: a.escrow + p.amount });
  return { escrow: (a.escrow + p.amount).toString() };
}

function escrowWithdraw(ctx: TxContext, tx: DecodedTx<'escrow.withdraw'>): TxResult {
  const p = tx.payload;
  const a = ctx.account(tx.tx.from);
  if (a.escrow < p.amount)
    throw new AethirError('INSUFFICIENT_FUNDS', `escrow holds ${a.escrow} units, ${p.amount} asked`, {
      details: { needed: p.amount.toString(), escrow: a.escrow.toString() },
    });
  ctx.setAccount(tx.tx.from, { ...a, escrow: a.escrow - p.amount, balance: a.balance + p.amount });
  return { escrow: (a.escrow - p.amount).toString() };
}

function claimVesting(ctx: TxContext, tx: DecodedTx<'vesting.claim'>): TxResult {
  const p = tx.payload;
  const params = ctx.params;
  let paid = 0n;
  let forfeited = 0n;
  for (const e of ctx.vesting(tx.tx.from)) {
    if (e.unlockAt <= ctx.time) {
      paid += e.amount;
      ctx.state.delete(e.key);
    } else if (p.fast && e.kind === 'checker' && e.earnedAt + params.checkerFastVestingMs <= ctx.time) {
      // Early claim of checker rewards: most of it goes back to the checker pool.
      const lost = mulBps(e.amount, params.checkerFastForfeitBps);
      paid += e.amount - lost;
      forfeited += lost;
      ctx.state.delete(e.key);
    }
  }
  if (paid === 0n && forfeited === 0n) throw new AethirError('CONFLICT', 'nothing is claimable yet');
  ctx.credit(tx.tx.from, paid);
  if (forfeited > 0n) ctx.movePool(K.checkerPool, forfeited);
  ctx.emit({ type: 'VestingClaimed', address: tx.tx.from, claimed: paid, forfeited });
  return { claimed: paid.toString(), forfeited: forfeited.toString() };
}

export const handlers: Handlers<keyof typeof payloads> = {
  transfer,
  'escrow.deposit': escrowDeposit,
  'escrow.withdraw': escrowWithdraw,
  'vesting.claim': claimVesting,
};
