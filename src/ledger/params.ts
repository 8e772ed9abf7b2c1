import { z } from 'zod';
import { ath } from '../core/index.js';

/**
 * The network's economic parameters. Every value is bounded; only a governance transaction
 * may change them (the DAO issue builds the voting). Amounts are units (bigint).
 */
export const ParamsSchema = z.object({
  /** host share of every rental charge, in basis points (8000 = 80%; the rest to the treasury) */
  feeHostBps: z.number().int().min(5000).max(10000),
  /** stake every container must hold before it is matched, whatever its GPUs */
  stakeBase: z.bigint().min(0n),
  /** additional stake per GPU (a flat K until the ledger issue adds the K table per class) */
  stakePerGpu: z.bigint().min(0n),
  /** longest lease one `lease.open` may ask for */
  maxLeaseSeconds: z
    .number()
    .int()
    .min(60)
    .max(90 * 86400),
});
export type Params = z.infer<typeof ParamsSchema>;

export const DEFAULT_PARAMS: Params = {
  feeHostBps: 8000,
  stakeBase: ath(100),
  stakePerGpu: ath(1000),
  maxLeaseSeconds: 30 * 86400,
};

export function requiredStake(params: Params, gpus: number): bigint {
  return params.stakeBase + params.stakePerGpu * BigInt(gpus);
}
