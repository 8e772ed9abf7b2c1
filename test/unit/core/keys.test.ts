import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ADDRESS_PREFIX,
  AethirError,
  addressOf,
  generateKeyPair,
  isAddress,
  keyPairFromSecret,
  keyPairFromSeed,
  sha256,
  signMessage,
  verifySignature,
} from '../../../src/core/index.js';

const ADDRESS_RE = /^ath1[0-9a-f]{40}$/;

/** Flips one hex digit at position i (keeps the string valid hex). */
function flipHex(hex: string, i: number): string {
  const c = hex[i]!;
  const flipped = (parseInt(c, 16) ^ 1).toString(16);
  return hex.slice(0, i) + flipped + hex.slice(i + 1);
}

describe('keys', () => {
  it('derives addresses as ath1 + 40 hex from sha256(pubkey)', () => {
    const k = keyPairFromSeed('alice');
    expect(ADDRESS_PREFIX).toBe('ath1');
    expect(k.address).toMatch(ADDRESS_RE);
    expect(k.publicKey).toMatch(/^[0-9a-f]{64}$/);
    expect(k.secretKey).toMatch(/^[0-9a-f]{64}$/);
    expect(k.address).toBe(addressOf(k.publicKey));
    expect(k.address).toBe('ath1' + sha256(Buffer.from(k.publicKey, 'hex')).subarray(0, 20).toString('hex'));
    expect(isAddress(k.address)).toBe(true);
  });

  it('isAddress rejects malformed addresses', () => {
    const a = keyPairFromSeed('x').address;
    for (const bad of [
      a.toUpperCase(),
      a.slice(0, -1),
      a + '0',
      'ath2' + a.slice(4),
      'ath1' + 'g'.repeat(40),
      '',
      42,
      null,
      undefined,
    ])
      expect(isAddress(bad)).toBe(false);
  });

  it('keyPairFromSeed is deterministic and distinct per seed', () => {
    expect(keyPairFromSeed('alice')).toEqual(keyPairFromSeed('alice'));
    expect(keyPairFromSeed('alice').address).not.toBe(keyPairFromSeed('bob').address);
    const k = keyPairFromSeed('alice');
    expect(keyPairFromSecret(k.secretKey)).toEqual(k);
  });

  it('keyPairFromSecret rejects anything but 32 bytes of lowercase hex', () => {
    for (const bad of ['', 'ab', 'z'.repeat(64), 'A'.repeat(64), '0'.repeat(66)]) {
      try {
        keyPairFromSecret(bad);
        expect.unreachable(bad);
      } catch (e) {
        expect((e as AethirError).code).toBe('INVALID_ARGUMENT');
      }
    }
  });

  it('generateKeyPair yields fresh valid keys that sign', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    expect(a.address).toMatch(ADDRESS_RE);
    expect(a.secretKey).not.toBe(b.secretKey);
    expect(keyPairFromSecret(a.secretKey)).toEqual(a);
    expect(verifySignature(a.publicKey, 'm', signMessage(a.secretKey, 'm'))).toBe(true);
  });

  it('signs and verifies; signatures are deterministic (ed25519)', () => {
    const k = keyPairFromSeed('signer');
    const sig = signMessage(k.secretKey, 'hello');
    expect(sig).toMatch(/^[0-9a-f]{128}$/);
    expect(signMessage(k.secretKey, 'hello')).toBe(sig);
    expect(verifySignature(k.publicKey, 'hello', sig)).toBe(true);
    expect(verifySignature(k.publicKey, Buffer.from('hello'), sig)).toBe(true);
  });

  it('fails on a tampered message, signature or wrong key', () => {
    const k = keyPairFromSeed('signer');
    const other = keyPairFromSeed('other');
    const sig = signMessage(k.secretKey, 'pay 10 to bob');
    expect(verifySignature(k.publicKey, 'pay 11 to bob', sig)).toBe(false);
    expect(verifySignature(k.publicKey, 'pay 10 to bob ', sig)).toBe(false);
    expect(verifySignature(other.publicKey, 'pay 10 to bob', sig)).toBe(false);
    for (const i of [0, 1, 63, 64, 100, 127])
      expect(verifySignature(k.publicKey, 'pay 10 to bob', flipHex(sig, i)), `sig digit ${i}`).toBe(false);
    // malformed inputs never throw, they just fail
    expect(verifySignature(k.publicKey, 'pay 10 to bob', sig.toUpperCase())).toBe(false);
    expect(verifySignature(k.publicKey, 'pay 10 to bob', sig.slice(2))).toBe(false);
    expect(verifySignature('00', 'pay 10 to bob', sig)).toBe(false);
    expect(verifySignature('0'.repeat(64), 'pay 10 to bob', sig)).toBe(false);
  });

  it('any single-bit change of the message breaks the signature (property)', () => {
    const k = keyPairFromSeed('prop');
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (msg, at, bit) => {
          const sig = signMessage(k.secretKey, msg);
          expect(verifySignature(k.publicKey, msg, sig)).toBe(true);
          const tampered = Uint8Array.from(msg);
          tampered[at % msg.length]! ^= 1 << bit;
          expect(verifySignature(k.publicKey, tampered, sig)).toBe(false);
        },
      ),
      { numRuns: 100 },
    );
  });
});
