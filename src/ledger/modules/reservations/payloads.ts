import { z } from 'zod';
import { Address, Id, PositiveUnits } from '../../schemas.js';

/** The longest reservation one `reservation.open` may book. */
export const MAX_RESERVATION_DAYS = 366;

/** At most this many reservations active on one container at once (a lease.open scans them). */
export const MAX_RESERVATIONS_PER_CONTAINER = 64;

/**
 * Reserved capacity: a user books GPUs of one host for whole days at the host's reserved price
 * (`reservation.open`), runs leases on them at no extra charge (`lease.open` with `reservation`),
 * and may cancel (`reservation.cancel`); the host is paid completed days (`reservation.settle`);
 * anyone closes one whose period is over (`reservation.close`).
 */
export const payloads = {
  'reservation.open': z
    .object({
      container: Address,
      gpus: z.number().int().min(1).max(64),
      days: z.number().int().min(1).max(MAX_RESERVATION_DAYS),
      /** the most the user pays per GPU-hour: refused if the host's reserved price is above it */
      maxPricePerHour: PositiveUnits,
    })
    .strict(),
  'reservation.settle': z.object({ reservation: Id }).strict(),
  'reservation.cancel': z.object({ reservation: Id }).strict(),
  'reservation.close': z.object({ reservation: Id }).strict(),
} as const;
