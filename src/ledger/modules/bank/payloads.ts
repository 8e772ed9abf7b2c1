import { z } from 'zod';
import { Address, PositiveUnits } from '../../schemas.js';

/** Accounts: transfers, the escrow leases lock from, and claiming vested earnings. */
export const payloads = {
  transfer: z.object({ to: Address, amount: PositiveUnits }).strict(),
  'escrow.deposit': z.object({ amount: PositiveUnits }).strict(),
  'escrow.withdraw': z.object({ amount: PositiveUnits }).strict(),
  'vesting.claim': z
    .object({
      /** checker rewards only: claim after the fast period, forfeiting a share to the pool */
      fast: z.boolean().optional(),
    })
    .strict(),
} as const;
