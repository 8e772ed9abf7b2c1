import { z } from 'zod';
import { Address, Id } from '../../schemas.js';

/** The longest reason a checker's report may carry (UTF-16 units, as JavaScript counts them). */
export const REPORT_REASON_MAX = 300;

/** The checkers' verdicts on containers: liveness, capacity, location and quality of service. */
export const payloads = {
  'checker.report': z
    .object({
      container: Address,
      check: z.enum(['liveness', 'capacity', 'location', 'qos', 'storage']).default('liveness'),
      /** storage: the volume whose proof of storage was checked (only with it) */
      volume: Id.optional(),
      ok: z.boolean(),
      observedAt: z.number().int().min(0),
      /** what the checker saw, in plain words (shown as the verdict's reason when it decides) */
      reason: z
        .string()
        .min(1)
        .max(REPORT_REASON_MAX)
        .refine(
          (s) => ![...s].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f),
          'must be plain text on one line',
        )
        .optional(),
      /** qos: the quality measured, 0 (unusable) .. 1 (perfect); sets the container's quality tier */
      score: z.number().min(0).max(1).optional(),
      /** location: the round-trip time measured to the container */
      rttMs: z.number().min(0).max(60_000).optional(),
      /** capacity: how long the container took to prove its GPUs' work */
      proveMs: z.number().int().min(0).max(3_600_000).optional(),
      /**
       * location, refuted: the other checker whose shared measurement the refutation rests on (the
       * claim fits without it; params.locationSlashNeedsRobust)
       */
      restsOn: Address.optional(),
    })
    .strict()
    .refine((p) => p.restsOn === undefined || (p.check === 'location' && !p.ok), {
      message: 'only a refuting location report rests on another checker',
      path: ['restsOn'],
    })
    .refine((p) => (p.check === 'storage') === (p.volume !== undefined), {
      message: 'a storage report names its volume, and only a storage report names one',
      path: ['volume'],
    }),
} as const;
