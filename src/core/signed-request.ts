import { canonicalize } from './canonical.js';
import { AethirError } from './errors.js';
import { addressOf, signMessage, verifySignature, type KeyPair } from './keys.js';

/**
 * An account's signature on one API request (e.g. a reserving POST /v1/match): header
 * `x-aethir-signature: <pubkey>.<at>.<sig>`, the ed25519 signature over the chain, the method and
 * path, the time `at` (ms) and the canonical JSON body. The node takes it only within
 * SIGNED_REQUEST_WINDOW_MS of its clock, and only for the account the body names, so a signature
 * cannot be moved to another request, chain or account, and is worthless a minute later.
 */
export const SIGNATURE_HEADER = 'x-aethir-signature';
export const SIGNED_REQUEST_WINDOW_MS = 60_000;

const requestBytes = (chainId: string, method: string, path: string, at: number, body: unknown) =>
  `aethir-request\0${canonicalize({ chainId, route: `${method} ${path}`, at, body })}`;

/** The header value that signs `body` for `method path` on `chainId` at time `at`. */
export function signRequest(
  key: KeyPair,
  chainId: string,
  method: string,
  path: string,
  body: unknown,
  at: number,
): string {
  return `${key.publicKey}.${at}.${signMessage(key.secretKey, requestBytes(chainId, method, path, at, body))}`;
}

/**
 * The address that signed this request (it must be `account`); throws UNAUTHENTICATED for a
 * malformed, foreign, stale or forged signature.
 */
export function verifyRequest(
  header: string,
  want: { chainId: string; method: string; path: string; body: unknown; account: string; now: number },
): string {
  const m = /^([0-9a-f]{64})\.(\d{1,16})\.([0-9a-f]{128})$/.exec(header);
  if (!m)
    throw new AethirError('UNAUTHENTICATED', `malformed ${SIGNATURE_HEADER} (want <pubkey>.<ms>.<sig>)`);
  const [, pubkey, atText, sig] = m;
  const signer = addressOf(pubkey!);
  if (signer !== want.account)
    throw new AethirError('UNAUTHENTICATED', `the request is signed by ${signer}, not by ${want.account}`);
  const at = Number(atText);
  if (Math.abs(at - want.now) > SIGNED_REQUEST_WINDOW_MS)
    throw new AethirError(
      'UNAUTHENTICATED',
      `the request's time is more than ${SIGNED_REQUEST_WINDOW_MS / 1000} s from this node's clock`,
    );
  if (!verifySignature(pubkey!, requestBytes(want.chainId, want.method, want.path, at, want.body), sig!))
    throw new AethirError(
      'UNAUTHENTICATED',
      'the request signature does not verify (chain, route, time and body must be those signed)',
    );
  return signer;
}

/**
 * A signed request's identity for idempotency: its signature (ed25519 is deterministic, so the
 * same bytes signed by the same key are the same request, and no other request has it), and the
 * last time the node would take it (`at` + SIGNED_REQUEST_WINDOW_MS). For a header verifyRequest
 * accepted.
 */
export function requestKeyOf(header: string): { key: string; until: number } {
  const [, at, sig] = header.split('.');
  return { key: sig!, until: Number(at) + SIGNED_REQUEST_WINDOW_MS };
}
