import { z } from 'zod';
import { canonicalize } from '../core/canonical.js';
import { AethirError } from '../core/errors.js';
import { addressOf, isAddress, signMessage, verifySignature, type KeyPair } from '../core/keys.js';

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

/**
 * A container's proof of its key for reading its own event stream (GET /v1/containers/<id>/events:
 * its leases, their receipts, the checkers' probes meant for it): header `x-aethir-container-auth:
 * <pubkey>.<at>.<sig>`, the signature over the chain, the route and `at` (ms). The server takes one
 * only within EVENTS_AUTH_WINDOW_MS of its clock and only with an `at` newer than the last it took
 * from that container, so a captured header cannot be replayed.
 */
export const EVENTS_AUTH_HEADER = 'x-aethir-container-auth';
export const EVENTS_AUTH_WINDOW_MS = 60_000;

const eventsBytes = (chainId: string, container: string, at: number) =>
  `aethir-events\0${canonicalize({ chainId, route: `GET /v1/containers/${container}/events`, at })}`;

export function signEventsAuth(key: KeyPair, chainId: string, at: number): string {
  return `${key.publicKey}.${at}.${signMessage(key.secretKey, eventsBytes(chainId, key.address, at))}`;
}

/** The `at` of a valid proof by `container`'s key for this chain at `now`; throws UNAUTHORIZED. */
export function verifyEventsAuth(
  header: string | undefined,
  container: string,
  chainId: string,
  now: number,
): number {
  if (!header)
    throw new AethirError(
      'UNAUTHORIZED',
      `a container's event stream opens only to its key: sign the request (${EVENTS_AUTH_HEADER})`,
    );
  const m = /^([0-9a-f]{64})\.(\d{1,16})\.([0-9a-f]{128})$/.exec(header);
  if (!m) throw new AethirError('UNAUTHORIZED', `malformed ${EVENTS_AUTH_HEADER}`);
  const [, pubkey, atText, sig] = m;
  if (addressOf(pubkey!) !== container)
    throw new AethirError('UNAUTHORIZED', `the key is not container ${container}'s`);
  const at = Number(atText);
  if (!verifySignature(pubkey!, eventsBytes(chainId, container, at), sig!))
    throw new AethirError(
      'UNAUTHORIZED',
      'the event stream request signature does not verify (chain, route)',
    );
  if (Math.abs(at - now) > EVENTS_AUTH_WINDOW_MS)
    throw new AethirError(
      'UNAUTHORIZED',
      "the event stream request's time is too far from this node's clock",
    );
  return at;
}
