import { describe, expect, it } from 'vitest';
import {
  MAX_LEASE_TOKEN_TTL_MS,
  keyPairFromSeed,
  maskTokens,
  signLeaseToken,
  verifyLeaseToken,
} from '../../../src/core/index.js';

const owner = keyPairFromSeed('token:owner');
const stranger = keyPairFromSeed('token:stranger');
const NOW = 1_800_000_000_000;
const want = { chainId: 'test-chain', lease: 'L0123456789abcdef0123', user: owner.address, now: NOW };
const sign = (over: Partial<{ chainId: string; lease: string; exp: number }> = {}, key = owner) =>
  signLeaseToken(key, { chainId: want.chainId, lease: want.lease, exp: NOW + 60_000, ...over });

describe('lease tokens', () => {
  it("the lease user's token verifies for its chain, lease and scope until it expires", () => {
    const c = verifyLeaseToken(sign(), { ...want, scope: 'logs' });
    expect(c).toEqual({
      v: 1,
      chainId: want.chainId,
      lease: want.lease,
      exp: NOW + 60_000,
      scope: ['logs', 'endpoint'],
      pubkey: owner.publicKey,
    });
  });

  it.each([
    [
      'a token of another lease',
      () => sign({ lease: 'Lother' }),
      'the lease token is for lease Lother, not L0123456789abcdef0123',
    ],
    ['an expired token', () => sign({ exp: NOW }), 'the lease token has expired'],
    [
      'a token signed by a non-owner',
      () => sign({}, stranger),
      "the lease token is not signed by the lease's user",
    ],
    [
      'a token for another chain',
      () => sign({ chainId: 'other' }),
      'the lease token is for chain "other", not this one',
    ],
    [
      'a token valid for too long',
      () => sign({ exp: NOW + MAX_LEASE_TOKEN_TTL_MS + 1 }),
      'the lease token is valid for longer than a token may be',
    ],
    ['garbage', () => 'not-a-token', 'malformed lease token'],
  ])('refuses %s', (_what, make, message) => {
    expect(() => verifyLeaseToken(make(), { ...want, scope: 'endpoint' })).toThrow(message);
  });

  it('refuses a forged token: claims changed after signing (a later expiry, another lease)', () => {
    const [p, body, sig] = sign().split('.');
    const claims = JSON.parse(Buffer.from(body!, 'base64url').toString());
    for (const forged of [
      { ...claims, exp: NOW + 3_600_000 },
      { ...claims, lease: 'Lvictim' },
    ]) {
      const t = `${p}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${sig}`;
      expect(() => verifyLeaseToken(t, { ...want, lease: forged.lease, scope: 'logs' })).toThrow(
        'the lease token signature does not verify',
      );
    }
  });

  it('refuses a token outside its scope', () => {
    const logsOnly = signLeaseToken(owner, {
      chainId: want.chainId,
      lease: want.lease,
      exp: NOW + 1000,
      scope: ['logs'],
    });
    expect(() => verifyLeaseToken(logsOnly, { ...want, scope: 'endpoint' })).toThrow(
      'the lease token does not grant endpoint',
    );
    // a token signed without a scope (the endpoint link rent prints) opens no shell and no files
    for (const scope of ['exec', 'files'] as const)
      expect(() => verifyLeaseToken(sign(), { ...want, scope })).toThrow(
        `the lease token does not grant ${scope}`,
      );
  });

  it('maskTokens hides a token in a URL', () => {
    const t = sign();
    expect(maskTokens(`/v1/leases/L1/logs?token=${t}&follow=true`)).toBe(
      '/v1/leases/L1/logs?token=alt1.***&follow=true',
    );
  });
});
