import { z } from 'zod';
import { AethirError } from '../core/errors.js';
import { addressOf, signMessage, verifySignature, type KeyPair } from '../core/keys.js';
import { receiptBody, receiptSigningBytes } from './signing.js';

export { receiptBody, receiptSigningBytes } from './signing.js';

/**
 * Usage receipts (Proof of Delivery): while a lease runs, its user's client signs, every minute
 * or so, how much service it acknowledges so far. A receipt is cumulative (`servedMs` since the
 * lease opened) and numbered (`seq` only grows), so only the latest one matters. The container
 * hands the latest one to the ledger with `lease.settle` and `lease.close`, and the ledger never
 * lets a container charge for more time than the user signed for.
 *
 * The signature covers the chain id and a domain tag, so a receipt is not a transaction, a
 * telemetry batch or a receipt of another network.
 */
export const RECEIPT_MAX_SAMPLES = 16;
/** a year of service: far above any lease (params.maxLeaseSeconds is at most 90 days) */
const MAX_SERVED_MS = 365 * 86_400_000;

export interface QualitySample {
  /** when it was taken, ms (the user's clock) */
  at: number;
  /** a round trip the client measured, if any */
  latencyMs?: number;
  /** whether the service looked alive then (output flowing, the node answering) */
  ok: boolean;
  /**
   * a streamed session's frames shown per second then (games, docs/gaming.md). Optional and
   * additive: receipts signed before it existed verify as they did
   */
  fps?: number;
  /** a streamed session's input-to-photon latency then (the median of the last inputs), ms */
  inputToPhotonMs?: number;
}

export interface UsageReceipt {
  lease: string;
  /** cumulative ms of service the user acknowledges since the lease opened */
  servedMs: number;
  /** strictly increasing per lease: the ledger accepts only a seq above the last one it took */
  seq: number;
  /** when it was signed, ms (the user's clock; informational) */
  at: number;
  samples?: QualitySample[];
}

export interface SignedReceipt extends UsageReceipt {
  /** the user's public key: its address must be the lease's user */
  pubkey: string;
  sig: string;
}

export const QualitySampleSchema = z
  .object({
    at: z.number().int().min(0),
    latencyMs: z.number().int().min(0).max(3_600_000).optional(),
    ok: z.boolean(),
    fps: z.number().int().min(0).max(1000).optional(),
    inputToPhotonMs: z.number().int().min(0).max(3_600_000).optional(),
  })
  .strict();

export const UsageReceiptSchema = z
  .object({
    lease: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a lease id'),
    servedMs: z.number().int().min(0).max(MAX_SERVED_MS),
    seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    at: z.number().int().min(0),
    samples: z.array(QualitySampleSchema).max(RECEIPT_MAX_SAMPLES).optional(),
  })
  .strict();

export const SignedReceiptSchema = UsageReceiptSchema.extend({
  pubkey: z.string().regex(/^[0-9a-f]{64}$/, 'must be a 32-byte hex public key'),
  sig: z.string().regex(/^[0-9a-f]{128}$/, 'must be a 64-byte hex signature'),
}).strict();

/** Signs a receipt with the lease user's key. */
export function signReceipt(key: KeyPair, chainId: string, r: UsageReceipt): SignedReceipt {
  const body = receiptBody(r);
  return {
    ...body,
    pubkey: key.publicKey,
    sig: signMessage(key.secretKey, receiptSigningBytes(chainId, body)),
  };
}

/**
 * Checks a receipt's shape, that its key is `expectedUser`'s and that the signature verifies for
 * this chain; returns it. Throws INVALID_ARGUMENT (shape), UNAUTHORIZED (another key) or
 * BAD_SIGNATURE. Whether it is for the right lease and newer than the last one is the caller's.
 */
export function verifyReceipt(chainId: string, signed: unknown, expectedUser: string): SignedReceipt {
  const p = SignedReceiptSchema.safeParse(signed);
  if (!p.success) {
    const i = p.error.issues[0]!;
    throw new AethirError(
      'INVALID_ARGUMENT',
      `malformed usage receipt: ${i.path.join('.') || '(root)'}: ${i.message}`,
    );
  }
  const r = p.data as SignedReceipt;
  if (addressOf(r.pubkey) !== expectedUser)
    throw new AethirError('UNAUTHORIZED', "the usage receipt is not signed by the lease's user");
  if (!verifySignature(r.pubkey, receiptSigningBytes(chainId, r), r.sig))
    throw new AethirError('BAD_SIGNATURE', 'the usage receipt signature does not verify');
  return r;
}
