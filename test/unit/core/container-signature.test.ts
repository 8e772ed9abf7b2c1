import { describe, expect, it } from 'vitest';
import { keyPairFromSeed, signAsContainer, signedByContainer } from '../../../src/core/index.js';

const host = keyPairFromSeed('csig-host');
const other = keyPairFromSeed('csig-other');
const CHAIN = 'aethir-test';
const hb = { container: host.address, at: 5, freeGpus: 2, runningLeases: 1, endpoint: 'http://h:1' };

describe("a container's signature on what it says of itself", () => {
  it('verifies for the container, the kind and the chain it was made for, whatever the key order', () => {
    const s = signAsContainer(host, 'heartbeat', CHAIN, hb);
    expect(signedByContainer('heartbeat', CHAIN, s)).toBe(true);
    const reordered = Object.fromEntries(Object.entries(s).reverse());
    expect(signedByContainer('heartbeat', CHAIN, reordered)).toBe(true);
  });

  it('refuses a changed field, another kind or chain, another key, a name that is not the key, and junk', () => {
    const s = signAsContainer(host, 'heartbeat', CHAIN, hb);
    expect(signedByContainer('heartbeat', CHAIN, { ...s, freeGpus: 0 })).toBe(false);
    expect(signedByContainer('heartbeat', CHAIN, { ...s, draining: true })).toBe(false);
    expect(signedByContainer('heartbeat', CHAIN, { ...s, at: 6 })).toBe(false);
    expect(signedByContainer('probe', CHAIN, s)).toBe(false); // a heartbeat is no probe answer
    expect(signedByContainer('heartbeat', 'other-chain', s)).toBe(false);
    // another key signing in the host's name
    expect(signedByContainer('heartbeat', CHAIN, signAsContainer(other, 'heartbeat', CHAIN, hb))).toBe(false);
    // the host's signature moved to a message naming another container
    expect(signedByContainer('heartbeat', CHAIN, { ...s, container: other.address })).toBe(false);
    expect(signedByContainer('heartbeat', CHAIN, { ...hb })).toBe(false);
    expect(signedByContainer('heartbeat', CHAIN, { ...s, sig: 'nothex' })).toBe(false);
    expect(signedByContainer('heartbeat', CHAIN, null)).toBe(false);
    expect(signedByContainer('heartbeat', CHAIN, 'hb')).toBe(false);
    // a body nested past what canonical form allows is refused, not thrown
    let deep: unknown = 1;
    for (let i = 0; i < 2000; i++) deep = [deep];
    expect(signedByContainer('probe', CHAIN, { ...s, extra: deep })).toBe(false);
  });
});
