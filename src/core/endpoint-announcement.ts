import { canonicalize } from './canonical.js';
import { addressOf, signMessage, verifySignature, type KeyPair } from './keys.js';

/**
 * A container's signature on the endpoint its heartbeats announce (`<pubkey>.<sig>`, ed25519 over
 * the chain, the container, the base URL and the heartbeat's time). The API node relays lease
 * shells, files and game signalling to that URL with the user's lease token, and checkers time
 * round trips to it: an announcement anyone on the bus could forge for someone else's container
 * would hand a stranger those tokens, or move a container's measured place. Directories take only
 * announcements signed by the container itself, each newer than the last they took.
 */
const bytes = (chainId: string, container: string, endpoint: string, at: number) =>
  `aethir-endpoint\0${canonicalize({ chainId, container, endpoint, at })}`;

export function signEndpoint(key: KeyPair, chainId: string, endpoint: string, at: number): string {
  return `${key.publicKey}.${signMessage(key.secretKey, bytes(chainId, key.address, endpoint, at))}`;
}

/** Whether `sig` is `container`'s signature on announcing `endpoint` at `at` on `chainId`. */
export function verifyEndpoint(
  sig: string,
  a: { chainId: string; container: string; endpoint: string; at: number },
): boolean {
  const m = /^([0-9a-f]{64})\.([0-9a-f]{128})$/.exec(sig);
  if (!m || addressOf(m[1]!) !== a.container) return false;
  return verifySignature(m[1]!, bytes(a.chainId, a.container, a.endpoint, a.at), m[2]!);
}
