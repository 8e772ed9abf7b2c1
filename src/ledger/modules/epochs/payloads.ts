import { z } from 'zod';

/** Closing an epoch: rewards, the checkers' day, the staking coefficient, the lockers' share. */
export const payloads = {
  'epoch.close': z.object({ epoch: z.number().int().min(0) }).strict(),
} as const;
