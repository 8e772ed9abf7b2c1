import { z } from 'zod';
import { Address, PositiveUnits, Units } from '../../schemas.js';

/** Governance: locks, proposals, votes, the council's ratification, execution; params.update. */
export const payloads = {
  /** lock (or add to, or extend, one's lock): `amount` more ATH, until at least `until` */
  'dao.lock': z
    .object({ amount: Units, until: z.number().int().min(0) })
    .strict()
    .refine((p) => p.amount > 0n || p.until > 0, 'lock something: an amount, a later end, or both'),
  'dao.unlock': z.object({}).strict(),
  'dao.propose': z
    .object({
      title: z.string().min(3).max(200),
      actions: z
        .array(
          z.discriminatedUnion('kind', [
            z.object({ kind: z.literal('params'), changes: z.record(z.string(), z.unknown()) }).strict(),
            z.object({ kind: z.literal('treasury'), to: Address, amount: PositiveUnits }).strict(),
            z
              .object({
                kind: z.literal('council'),
                constituency: z.enum(['providers', 'checkers', 'indexers', 'holders']),
                member: Address.nullable(),
              })
              .strict(),
          ]),
        )
        .min(1)
        .max(10),
    })
    .strict(),
  'dao.vote': z
    .object({ proposal: z.number().int().min(0), choice: z.enum(['for', 'against', 'abstain']) })
    .strict(),
  'dao.ratify': z.object({ proposal: z.number().int().min(0) }).strict(),
  'dao.execute': z.object({ proposal: z.number().int().min(0) }).strict(),
  'params.update': z.object({ changes: z.record(z.string(), z.unknown()) }).strict(),
} as const;
