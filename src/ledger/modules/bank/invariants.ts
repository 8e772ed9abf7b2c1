import type { Lock, VestingEntry } from '../../model.js';
import type { LedgerReader } from '../../reader.js';
import { volumesHeld } from '../volumes/queries.js';
import { heldByReservations } from '../reservations/invariants.js';

/**
 * Sum of every unit held anywhere: account balances and escrows, container stakes and
 * unbonding stakes, the unspent escrow of open (and paused) leases, live volumes and active
 * reservations, vesting entries, locks, the reward and
 * checker pools and the treasury. It must always equal the genesis supply.
 */
export function totalHeld(r: LedgerReader): bigint {
  let t = r.treasury().balance + r.rewardPool().balance + r.checkerPool().balance;
  for (const a of r.accounts()) t += a.balance + a.escrow;
  for (const c of r.containers()) t += c.stake + c.unbonding;
  for (const l of r.leases()) if (l.status !== 'closed') t += l.escrow - l.charged;
  t += volumesHeld(r);
  for (const [, v] of r.state.scan<VestingEntry>('vest/')) t += v.amount;
  for (const [, v] of r.state.scan<Lock>('lock/')) t += v.amount;
  return t + heldByReservations(r);
}
