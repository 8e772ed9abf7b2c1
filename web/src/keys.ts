// The user's key, in the browser: Ed25519 through WebCrypto where the browser has it, else
// @noble/ed25519. Transactions and usage receipts are signed over the very bytes the CLI signs
// (src/ledger/signing.ts), so a node cannot tell them apart.
import * as noble from '@noble/ed25519';
import {
  receiptBody,
  receiptSigningBytes,
  signingBytes,
  unsignedTx,
  type SigningTx,
} from '../../src/ledger/signing.js';
import type { UsageReceipt } from '../../src/ledger/receipt.js';
import {
  encodeLeaseToken,
  DEFAULT_LEASE_SCOPES,
  leaseTokenSigningText,
  type LeaseTokenClaims,
} from '../../src/core/lease-token-wire.js';

const PKCS8_PREFIX = '302e020100300506032b657004220420';

export const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
export const unhex = (h: string): Uint8Array<ArrayBuffer> =>
  new Uint8Array((h.match(/../g) ?? []).map((x) => parseInt(x, 16)));
const utf8 = (s: string) => new TextEncoder().encode(s);
const b64url = (s: string) =>
  Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));

export interface BrowserKey {
  secretKey: string;
  publicKey: string;
  address: string;
  /** 'webcrypto' or 'noble': which implementation signs */
  impl: 'webcrypto' | 'noble';
  sign(message: string): Promise<string>;
}

export async function addressOf(publicKeyHex: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', unhex(publicKeyHex)));
  return 'ath1' + hex(d.subarray(0, 20));
}

/** A key from its 32-byte secret (hex); `prefer: 'noble'` skips WebCrypto (tests of the fallback). */
export async function keyFromSecret(secretHex: string, prefer?: 'noble'): Promise<BrowserKey> {
  const secret = secretHex.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(secret)) throw new Error('a secret key is 32 bytes of hex (64 characters)');
  if (prefer !== 'noble') {
    try {
      const priv = await crypto.subtle.importKey('pkcs8', unhex(PKCS8_PREFIX + secret), 'Ed25519', true, [
        'sign',
      ]);
      const jwk = await crypto.subtle.exportKey('jwk', priv);
      const publicKey = hex(b64url(jwk.x!));
      return {
        secretKey: secret,
        publicKey,
        address: await addressOf(publicKey),
        impl: 'webcrypto',
        sign: async (m) => hex(new Uint8Array(await crypto.subtle.sign('Ed25519', priv, utf8(m)))),
      };
    } catch {
      // no Ed25519 in this browser's WebCrypto: the library below
    }
  }
  const publicKey = hex(await noble.getPublicKeyAsync(unhex(secret)));
  return {
    secretKey: secret,
    publicKey,
    address: await addressOf(publicKey),
    impl: 'noble',
    sign: async (m) => hex(await noble.signAsync(utf8(m), unhex(secret))),
  };
}

export function newSecret(): string {
  return hex(crypto.getRandomValues(new Uint8Array(32)));
}

export type WireTx = SigningTx & { sig: string };

/** As signTx in src/ledger/tx.ts: payload bigints become decimal strings, then sign. */
export async function signTx(
  key: BrowserKey,
  chainId: string,
  type: string,
  nonce: number,
  payload: Record<string, unknown>,
): Promise<WireTx> {
  const unsigned = unsignedTx(key, chainId, type, nonce, payload);
  return { ...unsigned, sig: await key.sign(signingBytes(unsigned)) };
}

export async function signReceipt(key: BrowserKey, chainId: string, r: UsageReceipt) {
  const body = receiptBody(r);
  return { ...body, pubkey: key.publicKey, sig: await key.sign(receiptSigningBytes(chainId, body)) };
}

/**
 * A lease token (as `aethir lease token`): the lease's logs and endpoint for whoever holds it, until
 * it expires. Signed over the very bytes the CLI signs (src/core/lease-token-wire.ts).
 */
export async function signLeaseToken(
  key: BrowserKey,
  chainId: string,
  lease: string,
  ttlMs = 3_600_000,
): Promise<string> {
  const c: LeaseTokenClaims = {
    v: 1,
    chainId,
    lease,
    exp: Date.now() + ttlMs,
    scope: [...DEFAULT_LEASE_SCOPES],
    pubkey: key.publicKey,
  };
  return encodeLeaseToken(c, await key.sign(leaseTokenSigningText(c)));
}
