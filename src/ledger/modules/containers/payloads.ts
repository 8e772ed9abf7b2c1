import { z } from 'zod';
import { PositiveUnits } from '../../schemas.js';

export const GpuSpec = z.object({
  model: z.string().min(1).max(80),
  memoryMiB: z.number().int().min(0).max(10_000_000),
  uuid: z.string().max(120).optional(),
  computeCapability: z.string().max(10).optional(),
});
export const ContainerSpec = z.object({
  gpus: z.array(GpuSpec).max(64),
  cpu: z.object({ model: z.string().min(1).max(120), cores: z.number().int().min(1).max(4096) }),
  memoryMiB: z
    .number()
    .int()
    .min(1)
    .max(1 << 30),
  os: z.string().max(120).optional(),
  /** the spec was declared by the operator or simulated, not probed */
  source: z.enum(['probed', 'declared', 'simulated']),
  /**
   * how this host isolates its tenants' workloads (docs/security.md): 'sandbox' (own uid,
   * namespaces, cgroups, private network) or 'none' (the operator chose --isolation none).
   * Absent on containers registered before it existed: they count as 'none'.
   */
  isolation: z.enum(['sandbox', 'none']).optional(),
});
export type ContainerSpec = z.infer<typeof ContainerSpec>;

export const Location = z.object({
  city: z.string().min(1).max(80),
  country: z.string().min(2).max(2),
  region: z.string().regex(/^[a-z]{2,12}(-[a-z]{2,12})?$/),
  lat: z.number().min(-90).max(90),
  lon: z.number().min(-180).max(180),
});
export type Location = z.infer<typeof Location>;

/** Hosts: registering a container, staking for it, and unbonding the stake to leave. */
export const payloads = {
  'container.register': z
    .object({
      name: z.string().min(1).max(64),
      spec: ContainerSpec,
      pricePerHour: PositiveUnits,
      /**
       * the price per GPU-hour of GPUs booked for whole days (`aethir reserve`): at most
       * `pricePerHour`; absent: as before (none, or the one registered earlier)
       */
      reservedPricePerHour: PositiveUnits.optional(),
      location: Location,
      /** the X25519 public key (hex) users seal their workloads' env to (src/core/seal.ts) */
      encKey: z
        .string()
        .regex(/^[0-9a-f]{64}$/, 'must be a 32-byte hex X25519 public key')
        .optional(),
      /**
       * persistent volumes it offers (absent: keeps what it offered before, or none): price per
       * GiB-hour in units, and how much disk it sets aside for them
       */
      volumes: z
        .object({
          pricePerGiBHour: PositiveUnits,
          capacityGiB: z
            .number()
            .int()
            .min(1)
            .max(1 << 20),
        })
        .strict()
        .optional(),
    })
    .strict(),
  'container.stake': z.object({ amount: PositiveUnits }).strict(),
  'container.unstake': z.object({ amount: PositiveUnits }).strict(),
  'container.withdraw': z.object({}).strict(),
} as const;
