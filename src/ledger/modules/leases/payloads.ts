import { z } from 'zod';
import { AppName, AppVersion } from '../../app.js';
import { SignedReceiptSchema } from '../../receipt.js';
import { Address, Id, PositiveUnits } from '../../schemas.js';
import { VolumeMount } from '../volumes/payloads.js';

const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/);

export const Workload = z
  .object({
    command: z.array(z.string().max(100_000)).min(1).max(1000).optional(),
    /** a published app instead of a command: the container runs its pre-installed copy */
    app: AppName.optional(),
    /** the app's version; absent: the version the container has ready */
    version: AppVersion.optional(),
    /** values in clear: accepted only where params.clearEnv allows (networks before sealing) */
    env: z.record(EnvName, z.string().max(100_000)).optional(),
    /**
     * values sealed to the container's `encKey` (base64 sealed boxes, src/core/seal.ts); the names
     * are readable, the values only by the container that runs the lease
     */
    sealedEnv: z
      .record(
        EnvName,
        z
          .string()
          .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be base64')
          .max(140_000),
      )
      .optional(),
    /** the workload's endpoint takes requests from anyone (a web app), not only its user's tokens */
    publicEndpoint: z.boolean().optional(),
    /** an OCI image to run `command` in (containers with a Docker engine only; docs/sdk.md) */
    image: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,510}$/, 'must be an image reference')
      .refine((s) => !s.includes('..'), 'must be an image reference')
      .optional(),
    /**
     * the TCP port the workload listens on inside its sandbox or container: the lease's endpoint
     * forwards to it (absent: the workload listens on the port the host gives it, AETHIR_PORT)
     */
    port: z.number().int().min(1).max(65535).optional(),
    /** the owner's persistent volumes to mount (volume.create), on the lease's container */
    volumes: z.array(VolumeMount).min(1).max(8).optional(),
  })
  .refine((w) => (w.command === undefined) !== (w.app === undefined), 'give exactly one of command or app')
  .refine((w) => w.image === undefined || w.command !== undefined, {
    message: 'an image goes with a command, not an app',
    path: ['image'],
  })
  .refine((w) => w.port === undefined || w.command !== undefined, {
    message: 'a port goes with a command, not an app (an app serves on the port it is given)',
    path: ['port'],
  })
  .refine((w) => w.version === undefined || w.app !== undefined, {
    message: 'a version goes with an app',
    path: ['version'],
  });
export type Workload = z.infer<typeof Workload>;

/** Renting: a user opens a lease on a container; its container settles it; either closes it. */
export const payloads = {
  'lease.open': z
    .object({
      container: Address,
      gpus: z.number().int().min(0).max(64),
      /** omitted: an open-ended lease with a deposit (params.openEndedDepositSeconds) */
      maxDurationSec: z.number().int().min(1).optional(),
      maxPricePerHour: PositiveUnits,
      workload: Workload,
      /**
       * escrow for this much time only, not the whole maxDurationSec: the lease is paused when it
       * runs out and goes on when topped up (lease.topup). Only where params.pauseGraceMs is set.
       */
      depositSec: z.number().int().min(1).optional(),
      /**
       * how much more (units) the serving container may move from the user's balance into the
       * lease's escrow when it runs low (lease.topup by the container), so a detached lease keeps
       * running with no client online. Only with depositSec.
       */
      topUpLimit: PositiveUnits.optional(),
      /** run on the sender's reservation (modules/reservations): at no charge beyond it */
      reservation: Id.optional(),
      /** interruptible at `bidPerHour`: a higher-paying lease may preempt it with a notice */
      interruptible: z.literal(true).optional(),
      /** the interruptible lease's price per GPU-hour (at most the container's on-demand price) */
      bidPerHour: PositiveUnits.optional(),
      /** an interruptible lease of the sender's this one resumes from (same container) */
      resumes: Id.optional(),
    })
    .strict(),
  /** by the container; `receipt`: the user's latest usage receipt, which caps what it may charge */
  'lease.settle': z.object({ lease: Id, receipt: SignedReceiptSchema.optional() }).strict(),
  'lease.close': z
    .object({
      lease: Id,
      exitCode: z.number().int().min(-1).max(255).nullable().optional(),
      reason: z.string().max(200).optional(),
      /** the container's only: the user's latest usage receipt */
      receipt: SignedReceiptSchema.optional(),
    })
    .strict(),
  /**
   * by the lease's user: moves `amount` units from their balance into the lease's escrow (never
   * more than the rest of its maximum duration can spend); a paused lease resumes
   */
  /**
   * by the lease's user (from their balance), or by its serving container within the allowance
   * the user gave at lease.open (`topUpLimit`, drawn from the user's balance)
   */
  'lease.topup': z.object({ lease: Id, amount: PositiveUnits }).strict(),
  /**
   * by the serving container, when the lease's escrow has run out: the workload stops, its files
   * are kept for params.pauseGraceMs. `receipt`: the user's latest usage receipt (the ledger
   * charges up to it and refuses the pause unless the escrow is then spent)
   */
  'lease.pause': z.object({ lease: Id, receipt: SignedReceiptSchema.optional() }).strict(),
} as const;
