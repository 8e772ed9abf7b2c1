import { canonicalize } from './canonical.js';
import { addressOf, signMessage, verifySignature, type KeyPair } from './keys.js';

/**
 * A container's signature on what it says of itself over the bus: its heartbeats (free GPUs,
 * running leases, draining, the endpoint users and checkers reach it at, its apps and images) and
 * its answers to liveness probes. `sig` is `<pubkey>.<sig>`, ed25519 over the kind of statement,
 * the chain and the message's canonical form (every field but `sig`); the key's address must be
 * the container the message names.
 *
 * Anyone who can publish on the bus could otherwise speak for someone else's container: mark a
 * competitor draining or full, silence its later heartbeats with one from the far future, point its
 * lease tokens and location probes at a server of their choosing, or answer probes for a host that
 * is gone. Receivers take only messages the container signed (`signedByContainer`), and, where
 * the order matters, only one newer than the last they took.
 */
export type ContainerStatement = 'heartbeat' | 'probe';

function bytes(what: ContainerStatement, chainId: string, body: Record<string, unknown>): string {
  const { sig: _sig, ...rest } = body;
  return `aethir-${what}\0${canonicalize({ chainId, body: rest })}`;
}

/** `body` with the container's signature added (`body.container` must be `key`'s address). */
export function signAsContainer<T extends { container: string }>(
  key: KeyPair,
  what: ContainerStatement,
  chainId: string,
  body: T,
): T & { sig: string } {
  const sig = signMessage(key.secretKey, bytes(what, chainId, body as Record<string, unknown>));
  return { ...body, sig: `${key.publicKey}.${sig}` };
}

/** Whether `body` carries a valid signature of the container it names, for `what` on `chainId`. */
export function signedByContainer(what: ContainerStatement, chainId: string, body: unknown): boolean {
  if (!body || typeof body !== 'object') return false;
  const b = body as Record<string, unknown>;
  const m = typeof b.sig === 'string' ? /^([0-9a-f]{64})\.([0-9a-f]{128})$/.exec(b.sig) : null;
  if (!m || typeof b.container !== 'string' || addressOf(m[1]!) !== b.container) return false;
  try {
    return verifySignature(m[1]!, bytes(what, chainId, b), m[2]!);
  } catch {
    return false; // a body that cannot be put in canonical form (nested too deep) is not signed
  }
}
