import { z } from 'zod';
import { Address, Id, PositiveUnits } from '../../schemas.js';

/** A volume's name: unique among its owner's live volumes (`aethir volume create NAME`). */
export const VolumeName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be 1-63 of a-z, 0-9, _ or -, starting with a letter or digit');

/** 16 MiB (the smallest ext4 image worth having) to 64 TiB. */
export const MIN_VOLUME_MIB = 16;
export const MAX_VOLUME_MIB = 64 * 1024 * 1024;
export const VolumeSizeMiB = z.number().int().min(MIN_VOLUME_MIB).max(MAX_VOLUME_MIB);

/**
 * Where a lease mounts a volume: an absolute path of plain segments (no `.`/`..`, no empty
 * segment; `.cache` is one), not one of the system directories the sandbox shows read-only or the
 * kernel fills. A home directory is fine (`/root/.cache`, where Akash SDLs keep model weights):
 * this only widens what was accepted before, so no recorded block applies differently.
 */
export const MountPath = z
  .string()
  .max(256)
  .regex(/^(\/[A-Za-z0-9_.][A-Za-z0-9._-]{0,63}){1,8}$/, 'must be an absolute path of plain segments (/data)')
  .refine((p) => !p.split('/').some((s) => s === '..' || s === '.'), 'must not contain . or ..')
  .refine(
    (p) => !/^\/(usr|etc|opt|proc|dev|sys|run|tmp|bin|sbin|lib|lib32|lib64|libx32|boot)(\/|$)/.test(p),
    'must not be a system directory',
  );

/** A volume a lease mounts (lease.open `workload.volumes`): the owner's volume on the lease's host. */
export const VolumeMount = z
  .object({ volume: Id, path: MountPath, readOnly: z.boolean().optional() })
  .strict();
export type VolumeMount = z.infer<typeof VolumeMount>;

/**
 * Persistent volumes: disk on one host that outlives leases, billed per GiB-hour from its own
 * escrow at the price in the host's offer (container.register `volumes`).
 */
export const payloads = {
  'volume.create': z
    .object({
      name: VolumeName,
      container: Address,
      sizeMiB: VolumeSizeMiB,
      /** the most the owner pays per GiB-hour (units): refused if the host's offer is above it */
      maxPricePerGiBHour: PositiveUnits,
      /** how long the deposit pays for; omitted: params.openEndedDepositSeconds */
      depositSeconds: z.number().int().min(1).optional(),
    })
    .strict(),
  /** the owner adds to a volume's escrow from their escrow balance */
  'volume.topup': z.object({ volume: Id, amount: PositiveUnits }).strict(),
  /** by the host: charges the volume up to the block time (its time online only) */
  'volume.settle': z.object({ volume: Id }).strict(),
  /** by the owner (any time), or the host once the escrow is spent: frees it, refunds the rest */
  'volume.delete': z.object({ volume: Id, reason: z.string().max(200).optional() }).strict(),
  /** by the host: the volume's data is gone; refunds all unsettled time and slashes like downtime */
  'volume.lost': z.object({ volume: Id, reason: z.string().min(1).max(200) }).strict(),
} as const;
