import { z } from 'zod';
import {
  AethirError,
  addressOf,
  isAddress,
  sha256Hex,
  signMessage,
  verifySignature,
  type KeyPair,
} from '../core/index.js';
import { SignedReceiptSchema } from './receipt.js';
import { AppManifest, AppName, AppVersion } from './app.js';
import { signingBytes, unsignedTx } from './signing.js';

export { signingBytes, unsignedTx, wirePayload, type SigningTx } from './signing.js';

/**
 * A transaction is a signed, canonical JSON object. The signature covers the chain id, so a
 * transaction from one network cannot be replayed on another, and a per-account nonce, so it
 * cannot be replayed on the same one. Amounts travel as decimal strings of units.
 */
export const Address = z.string().refine(isAddress, 'must be an address (ath1 + 40 hex)');
export const Units = z
  .string()
  .regex(/^\d{1,40}$/, 'must be a non-negative integer string of units')
  .transform((s) => BigInt(s));
export const PositiveUnits = Units.refine((v) => v > 0n, 'must be greater than zero');
const Id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be an id of letters, digits, _ or -');

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
  })
  .refine((w) => (w.command === undefined) !== (w.app === undefined), 'give exactly one of command or app')
  .refine((w) => w.version === undefined || w.app !== undefined, {
    message: 'a version goes with an app',
    path: ['version'],
  });
export type Workload = z.infer<typeof Workload>;

export const Payloads = {
  transfer: z.object({ to: Address, amount: PositiveUnits }).strict(),
  'escrow.deposit': z.object({ amount: PositiveUnits }).strict(),
  'escrow.withdraw': z.object({ amount: PositiveUnits }).strict(),
  'container.register': z
    .object({
      name: z.string().min(1).max(64),
      spec: ContainerSpec,
      pricePerHour: PositiveUnits,
      location: Location,
      /** the X25519 public key (hex) users seal their workloads' env to (src/core/seal.ts) */
      encKey: z
        .string()
        .regex(/^[0-9a-f]{64}$/, 'must be a 32-byte hex X25519 public key')
        .optional(),
    })
    .strict(),
  'container.stake': z.object({ amount: PositiveUnits }).strict(),
  'container.unstake': z.object({ amount: PositiveUnits }).strict(),
  'container.withdraw': z.object({}).strict(),
  'lease.open': z
    .object({
      container: Address,
      gpus: z.number().int().min(0).max(64),
      /** omitted: an open-ended lease with a deposit (params.openEndedDepositSeconds) */
      maxDurationSec: z.number().int().min(1).optional(),
      maxPricePerHour: PositiveUnits,
      workload: Workload,
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
  'vesting.claim': z
    .object({
      /** checker rewards only: claim after the fast period, forfeiting a share to the pool */
      fast: z.boolean().optional(),
    })
    .strict(),
  'checker.report': z
    .object({
      container: Address,
      check: z.enum(['liveness', 'capacity', 'location', 'qos']).default('liveness'),
      ok: z.boolean(),
      observedAt: z.number().int().min(0),
      /** what the checker saw, in plain words (shown as the verdict's reason when it decides) */
      reason: z
        .string()
        .min(1)
        .max(300)
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
    })
    .strict(),
  'epoch.close': z.object({ epoch: z.number().int().min(0) }).strict(),
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
  /** the first publisher of a name owns it; versions are immutable (see src/ledger/app.ts) */
  'app.publish': z
    .object({ name: AppName, version: AppVersion, manifest: AppManifest })
    .strict()
    .refine((p) => p.manifest.name === p.name && p.manifest.version === p.version, {
      message: 'the manifest must have the name and version of the payload',
      path: ['manifest'],
    }),
} as const;

export type TxType = keyof typeof Payloads;
export const TX_TYPES = Object.keys(Payloads) as TxType[];
export type Payload<T extends TxType> = z.output<(typeof Payloads)[T]>;

/** Wire form: what clients sign and send. `payload` holds strings where the ledger holds bigints. */
export const SignedTxSchema = z
  .object({
    chainId: z.string().min(1).max(64),
    type: z.enum(TX_TYPES as [TxType, ...TxType[]]),
    from: Address,
    pubkey: z.string().regex(/^[0-9a-f]{64}$/, 'must be a 32-byte hex public key'),
    nonce: z.number().int().min(0),
    payload: z.record(z.string(), z.unknown()),
    sig: z.string().regex(/^[0-9a-f]{128}$/, 'must be a 64-byte hex signature'),
  })
  .strict();
export type SignedTx = z.infer<typeof SignedTxSchema>;
export type UnsignedTx = Omit<SignedTx, 'sig'>;

/** sha256 of the signed bytes and the signature: unique per signed transaction. */
export function txId(tx: SignedTx, signed: string = signingBytes(tx)): string {
  return sha256Hex(`${signed}\u0000${tx.sig}`);
}

/** Payload values given as bigint are converted to the wire's decimal strings. */
export function signTx(
  key: KeyPair,
  chainId: string,
  type: TxType,
  nonce: number,
  payload: Record<string, unknown>,
): SignedTx {
  const unsigned = unsignedTx(key, chainId, type, nonce, payload) as UnsignedTx;
  return { ...unsigned, sig: signMessage(key.secretKey, signingBytes(unsigned)) };
}

export interface DecodedTx<T extends TxType = TxType> {
  id: string;
  tx: SignedTx;
  type: T;
  payload: Payload<T>;
}

/** Checks shape, chain, key-address binding and signature; statelessly. */
export function decodeTx(input: unknown, chainId: string): DecodedTx {
  const shape = SignedTxSchema.safeParse(input);
  if (!shape.success) {
    const i = shape.error.issues[0]!;
    throw new AethirError(
      'INVALID_TRANSACTION',
      `malformed transaction: ${i.path.join('.') || '(root)'}: ${i.message}`,
    );
  }
  const tx = shape.data;
  if (tx.chainId !== chainId)
    throw new AethirError('WRONG_CHAIN', `transaction is for chain "${tx.chainId}", this is "${chainId}"`);
  if (addressOf(tx.pubkey) !== tx.from)
    throw new AethirError('BAD_SIGNATURE', 'public key does not belong to the sending address');
  // The signed bytes are built once: for the signature and for the transaction id.
  const signed = signingBytes(tx);
  if (!verifySignature(tx.pubkey, signed, tx.sig))
    throw new AethirError('BAD_SIGNATURE', 'signature does not verify');
  const p = Payloads[tx.type].safeParse(tx.payload);
  if (!p.success) {
    const i = p.error.issues[0]!;
    throw new AethirError(
      'INVALID_TRANSACTION',
      `invalid ${tx.type} payload: ${i.path.join('.') || '(root)'}: ${i.message}`,
    );
  }
  return { id: txId(tx, signed), tx, type: tx.type, payload: p.data as Payload<TxType> };
}
