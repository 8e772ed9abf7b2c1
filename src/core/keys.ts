import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { AethirError } from './errors.js';
import { sha256 } from './encoding.js';

/**
 * ed25519 through Node's native crypto (OpenSSL): several times faster than a JS
 * implementation for verification, which is the ledger's hot path. Keys travel as raw
 * 32-byte hex; internally they are wrapped into DER so OpenSSL accepts them.
 */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export const ADDRESS_PREFIX = 'ath1';
const ADDRESS_RE = /^ath1[0-9a-f]{40}$/;

export interface KeyPair {
  /** 32-byte seed, hex */
  readonly secretKey: string;
  /** 32-byte public key, hex */
  readonly publicKey: string;
  readonly address: string;
}

export function generateKeyPair(): KeyPair {
  const { privateKey } = generateKeyPairSync('ed25519');
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  return keyPairFromSecret(der.subarray(PKCS8_PREFIX.length).toString('hex'));
}

/** Deterministic key from a seed phrase: for devnet fixtures and tests only. */
export function keyPairFromSeed(seed: string): KeyPair {
  return keyPairFromSecret(sha256(`aethir-key:${seed}`).toString('hex'));
}

export function keyPairFromSecret(secretHex: string): KeyPair {
  if (!/^[0-9a-f]{64}$/.test(secretHex))
    throw new AethirError('INVALID_ARGUMENT', 'secret key must be 32 bytes of hex');
  const priv = privateKeyObject(secretHex);
  const pubDer = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  const publicKey = pubDer.subarray(SPKI_PREFIX.length).toString('hex');
  return { secretKey: secretHex, publicKey, address: addressOf(publicKey) };
}

const privCache = new Map<string, KeyObject>();
function privateKeyObject(secretHex: string): KeyObject {
  let k = privCache.get(secretHex);
  if (!k) {
    k = createPrivateKey({
      key: Buffer.concat([PKCS8_PREFIX, Buffer.from(secretHex, 'hex')]),
      format: 'der',
      type: 'pkcs8',
    });
    privCache.set(secretHex, k);
  }
  return k;
}

const pubCache = new Map<string, KeyObject>();
function publicKeyObject(publicHex: string): KeyObject {
  let k = pubCache.get(publicHex);
  if (!k) {
    k = createPublicKey({
      key: Buffer.concat([SPKI_PREFIX, Buffer.from(publicHex, 'hex')]),
      format: 'der',
      type: 'spki',
    });
    if (pubCache.size > 100_000) pubCache.clear();
    pubCache.set(publicHex, k);
  }
  return k;
}

/** Address = "ath1" + first 20 bytes of sha256(public key), hex. */
const addressCache = new Map<string, string>();
export function addressOf(publicKeyHex: string): string {
  let a = addressCache.get(publicKeyHex);
  if (a === undefined) {
    a = ADDRESS_PREFIX + sha256(Buffer.from(publicKeyHex, 'hex')).subarray(0, 20).toString('hex');
    if (addressCache.size > 100_000) addressCache.clear();
    addressCache.set(publicKeyHex, a);
  }
  return a;
}

export function isAddress(s: unknown): s is string {
  return typeof s === 'string' && ADDRESS_RE.test(s);
}

export function signMessage(secretHex: string, message: string | Uint8Array): string {
  return sign(null, Buffer.from(message), privateKeyObject(secretHex)).toString('hex');
}

export function verifySignature(
  publicHex: string,
  message: string | Uint8Array,
  signatureHex: string,
): boolean {
  if (!/^[0-9a-f]{64}$/.test(publicHex) || !/^[0-9a-f]{128}$/.test(signatureHex)) return false;
  try {
    return verify(null, Buffer.from(message), publicKeyObject(publicHex), Buffer.from(signatureHex, 'hex'));
  } catch {
    return false;
  }
}
