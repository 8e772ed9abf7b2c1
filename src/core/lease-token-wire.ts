import { canonicalize } from './canonical.js';

/* No Node built-ins here: the browser console (web/) signs lease tokens with these same bytes. */

export const LEASE_SCOPES = ['logs', 'endpoint', 'exec', 'files'] as const;
export type LeaseScope = (typeof LEASE_SCOPES)[number];
/**
 * What a token grants when its signer names no scope: the lease's output and its endpoint. A shell
 * (`exec`) or the lease's files (`files`) are asked for by name, so an endpoint link someone
 * shares (`?token=`) never opens a shell in the lease.
 */
export const DEFAULT_LEASE_SCOPES: readonly LeaseScope[] = ['logs', 'endpoint'];

export interface LeaseTokenClaims {
  v: 1;
  chainId: string;
  lease: string;
  /** expiry, ms since the epoch */
  exp: number;
  scope: LeaseScope[];
  /** the signer's ed25519 public key (hex): its address must be the lease's user */
  pubkey: string;
}

export const LEASE_TOKEN_PREFIX = 'alt1';

/** What the lease's user signs: a domain tag, then the canonical claims. */
export const leaseTokenSigningText = (c: LeaseTokenClaims): string =>
  `aethir-lease-token:${canonicalize(c as never)}`;

/** The wire form: `alt1.<base64url of the canonical claims>.<signature hex>`. */
export function encodeLeaseToken(c: LeaseTokenClaims, sigHex: string): string {
  return `${LEASE_TOKEN_PREFIX}.${base64url(new TextEncoder().encode(canonicalize(c as never)))}.${sigHex}`;
}

function base64url(bytes: Uint8Array): string {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += A[(n >> 18) & 63]! + A[(n >> 12) & 63]!;
    if (i + 1 < bytes.length) out += A[(n >> 6) & 63]!;
    if (i + 2 < bytes.length) out += A[n & 63]!;
  }
  return out;
}
