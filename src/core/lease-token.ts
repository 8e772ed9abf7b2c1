import { z } from 'zod';
import { AethirError } from './errors.js';
import {
  encodeLeaseToken,
  DEFAULT_LEASE_SCOPES,
  LEASE_SCOPES,
  LEASE_TOKEN_PREFIX,
  leaseTokenSigningText,
  type LeaseScope,
  type LeaseTokenClaims,
} from './lease-token-wire.js';
import { addressOf, signMessage, verifySignature, type KeyPair } from './keys.js';

/**
 * A lease's owner's authority, to share for a while: a token signed with the key that opened
 * the lease (ed25519), bound to the chain, the lease, an expiry and a scope. The API's log
 * routes and the container's endpoint proxy accept it; a lease id alone grants nothing.
 *
 * Wire form: `alt1.<base64url of the canonical claims>.<signature hex>`, the signature over
 * `aethir-lease-token:` + the canonical claims.
 */
export {
  DEFAULT_LEASE_SCOPES,
  LEASE_SCOPES,
  type LeaseScope,
  type LeaseTokenClaims,
} from './lease-token-wire.js';

const Claims = z
  .object({
    v: z.literal(1),
    chainId: z.string().min(1).max(64),
    lease: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
    /** expiry, ms since the epoch */
    exp: z.number().int().min(0),
    scope: z.array(z.enum(LEASE_SCOPES)).min(1).max(LEASE_SCOPES.length),
    /** the signer's ed25519 public key (hex): its address must be the lease's user */
    pubkey: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();
const PREFIX = LEASE_TOKEN_PREFIX;
/** longest a token may be valid: a leaked one is worthless after this */
export const MAX_LEASE_TOKEN_TTL_MS = 30 * 86_400_000;

const signingBytes = leaseTokenSigningText;

export function signLeaseToken(
  key: KeyPair,
  claims: { chainId: string; lease: string; exp: number; scope?: readonly LeaseScope[] },
): string {
  const c: LeaseTokenClaims = {
    v: 1,
    chainId: claims.chainId,
    lease: claims.lease,
    exp: claims.exp,
    scope: [...(claims.scope ?? DEFAULT_LEASE_SCOPES)],
    pubkey: key.publicKey,
  };
  Claims.parse(c);
  return encodeLeaseToken(c, signMessage(key.secretKey, signingBytes(c)));
}

/**
 * Checks a token for one use: well formed, signed by the lease's user, for this chain, this
 * lease and this scope, and not expired at `now`. Throws UNAUTHORIZED saying which.
 */
export function verifyLeaseToken(
  token: string,
  want: { chainId: string; lease: string; user: string; scope: LeaseScope; now: number },
): LeaseTokenClaims {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX || !/^[0-9a-f]{128}$/.test(parts[2]!))
    throw new AethirError('UNAUTHORIZED', 'malformed lease token');
  let claims: LeaseTokenClaims;
  try {
    claims = Claims.parse(JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')));
  } catch {
    throw new AethirError('UNAUTHORIZED', 'malformed lease token');
  }
  if (!verifySignature(claims.pubkey, signingBytes(claims), parts[2]!))
    throw new AethirError('UNAUTHORIZED', 'the lease token signature does not verify');
  if (claims.chainId !== want.chainId)
    throw new AethirError('UNAUTHORIZED', `the lease token is for chain "${claims.chainId}", not this one`);
  if (claims.lease !== want.lease)
    throw new AethirError('UNAUTHORIZED', `the lease token is for lease ${claims.lease}, not ${want.lease}`);
  if (addressOf(claims.pubkey) !== want.user)
    throw new AethirError('UNAUTHORIZED', "the lease token is not signed by the lease's user");
  if (claims.exp <= want.now) throw new AethirError('UNAUTHORIZED', 'the lease token has expired');
  if (claims.exp > want.now + MAX_LEASE_TOKEN_TTL_MS)
    throw new AethirError('UNAUTHORIZED', 'the lease token is valid for longer than a token may be');
  if (!claims.scope.includes(want.scope))
    throw new AethirError('UNAUTHORIZED', `the lease token does not grant ${want.scope}`);
  return claims;
}

/** A URL or log line with any lease token in it masked (tokens never reach a log). */
export function maskTokens(s: string): string {
  return s.replace(/alt1\.[A-Za-z0-9_-]+\.[0-9a-f]+/g, 'alt1.***');
}
