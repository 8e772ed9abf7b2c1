import { describe, expect, it } from 'vitest';
import {
  AethirError,
  generateKeyPair,
  requestKeyOf,
  signRequest,
  SIGNED_REQUEST_WINDOW_MS,
  verifyRequest,
} from '../../../src/core/index.js';

describe('signed API requests', () => {
  const key = generateKeyPair();
  const now = Date.UTC(2026, 4, 4);
  const body = { user: key.address, gpus: 1 };
  const want = {
    chainId: 'aethir-devnet',
    method: 'POST',
    path: '/v1/match',
    body,
    account: key.address,
    now,
  };
  const refused = (header: string, over: Partial<typeof want> = {}): string => {
    try {
      verifyRequest(header, { ...want, ...over });
    } catch (e) {
      expect(e).toBeInstanceOf(AethirError);
      expect((e as AethirError).code).toBe('UNAUTHENTICATED');
      return (e as Error).message;
    }
    throw new Error('expected a refusal');
  };

  it('verify what was signed: the signer, for this chain, route, time and body (key order aside)', () => {
    const h = signRequest(key, 'aethir-devnet', 'POST', '/v1/match', body, now);
    expect(verifyRequest(h, want)).toBe(key.address);
    expect(verifyRequest(h, { ...want, body: { gpus: 1, user: key.address } })).toBe(key.address);
    expect(verifyRequest(h, { ...want, now: now + SIGNED_REQUEST_WINDOW_MS })).toBe(key.address);
  });

  it('refuse another body, route, chain or account, a stale or future time, a forged or malformed header', () => {
    const h = signRequest(key, 'aethir-devnet', 'POST', '/v1/match', body, now);
    const verifies = /^the request signature does not verify/;
    expect(refused(h, { body: { ...body, gpus: 2 } })).toMatch(verifies);
    expect(refused(h, { path: '/v1/transactions' })).toMatch(verifies);
    expect(refused(h, { chainId: 'other' })).toMatch(verifies);
    const other = generateKeyPair().address;
    expect(refused(h, { account: other })).toBe(`the request is signed by ${key.address}, not by ${other}`);
    expect(refused(h, { now: now + SIGNED_REQUEST_WINDOW_MS + 1 })).toBe(
      "the request's time is more than 60 s from this node's clock",
    );
    expect(refused(h, { now: now - SIGNED_REQUEST_WINDOW_MS - 1 })).toMatch(/more than 60 s/);
    const [pub, at, sig] = h.split('.');
    const flipped = sig!.slice(0, -1) + (sig!.endsWith('0') ? '1' : '0');
    expect(refused(`${pub}.${at}.${flipped}`)).toMatch(verifies);
    expect(refused(`${pub}.${now + 1}.${sig}`)).toMatch(verifies);
    for (const bad of ['', 'x', `${pub}.${at}`, `${pub}.-1.${sig}`, `${pub}.${at}.${sig}.x`])
      expect(refused(bad)).toBe('malformed x-aethir-signature (want <pubkey>.<ms>.<sig>)');
  });

  it('a request key: the signature itself, kept while the node would take it; another time or body is another key', () => {
    const header = signRequest(key, want.chainId, 'POST', '/v1/match', body, now);
    const k = requestKeyOf(header);
    expect(k.key).toBe(header.split('.')[2]);
    expect(k.until).toBe(now + SIGNED_REQUEST_WINDOW_MS);
    // ed25519 is deterministic: the same request signed again is the same key
    expect(requestKeyOf(signRequest(key, want.chainId, 'POST', '/v1/match', body, now))).toEqual(k);
    expect(requestKeyOf(signRequest(key, want.chainId, 'POST', '/v1/match', body, now + 1)).key).not.toBe(
      k.key,
    );
    expect(
      requestKeyOf(signRequest(key, want.chainId, 'POST', '/v1/match', { ...body, gpus: 2 }, now)).key,
    ).not.toBe(k.key);
    // past `until` the node refuses the header itself
    expect(refused(header, { now: k.until + 1 })).toMatch(/more than 60 s from this node's clock/);
  });
});
