import { z } from 'zod';
import {
  AethirError,
  addressOf,
  canonicalize,
  isAddress,
  signMessage,
  verifySignature,
  type KeyPair,
} from '../core/index.js';

/**
 * Telemetry a container sends over HTTP when it joined through an API node instead of the bus
 * (heartbeats, workload output): a batch of bus messages signed by the container's key, so no one
 * else can keep a container "online" or write into its users' logs. `at` only grows per
 * container, so a captured batch cannot be replayed.
 */
export const TelemetryEnvelope = z
  .object({
    container: z.string().refine(isAddress, 'must be an address'),
    pubkey: z.string().regex(/^[0-9a-f]{64}$/, 'must be a 32-byte hex public key'),
    at: z.number().int().min(0),
    messages: z
      .array(z.object({ subject: z.string().min(1).max(200), data: z.unknown() }).strict())
      .min(1)
      .max(500),
    sig: z.string().regex(/^[0-9a-f]{128}$/, 'must be a 64-byte hex signature'),
  })
  .strict();
export type TelemetryEnvelope = z.infer<typeof TelemetryEnvelope>;

function signingBytes(chainId: string, e: Omit<TelemetryEnvelope, 'sig' | 'pubkey'>): string {
  return `aethir-telemetry\0${canonicalize({ chainId, container: e.container, at: e.at, messages: e.messages })}`;
}

export function signTelemetry(
  key: KeyPair,
  chainId: string,
  at: number,
  messages: Array<{ subject: string; data: unknown }>,
): TelemetryEnvelope {
  const body = { container: key.address, at, messages };
  return { ...body, pubkey: key.publicKey, sig: signMessage(key.secretKey, signingBytes(chainId, body)) };
}

/** Throws UNAUTHORIZED unless the envelope is signed by the container it names, for this chain. */
export function verifyTelemetry(e: TelemetryEnvelope, chainId: string): void {
  if (addressOf(e.pubkey) !== e.container)
    throw new AethirError('UNAUTHORIZED', "the public key is not the container's");
  if (!verifySignature(e.pubkey, signingBytes(chainId, e), e.sig))
    throw new AethirError('BAD_SIGNATURE', 'the telemetry signature does not verify');
}
