import { describe, expect, it } from 'vitest';
import { keyPairFromSeed } from '../../../../src/core/index.js';
import {
  DEFAULT_BOUNDS,
  multilaterate,
  PeerMeasurements,
  signPeerRtt,
  type PeerRttBody,
} from '../../../../src/checker/location/index.js';

const alice = keyPairFromSeed('peer-alice');
const bob = keyPairFromSeed('peer-bob');
const mallory = keyPairFromSeed('peer-mallory');
const checkers = new Set([alice.address, bob.address]);

const body = (over: Partial<PeerRttBody> = {}): PeerRttBody => ({
  chainId: 'aethir-test',
  checker: alice.address,
  container: 'c1',
  lat: 50.11,
  lon: 8.68,
  rttMs: 12.5,
  bounds: DEFAULT_BOUNDS,
  at: 1000,
  ...over,
});

const store = () =>
  new PeerMeasurements({ chainId: 'aethir-test', isChecker: (a) => checkers.has(a), maxAgeMs: 60_000 });

describe('PeerMeasurements: checkers share signed RTTs', () => {
  it("keeps a checker's signed measurement and hands it to the others, not back to itself", () => {
    const s = store();
    expect(s.add(signPeerRtt(body(), alice), 5000)).toBeNull();
    expect(s.vantages('c1', 6000, bob.address)).toEqual([
      {
        from: { city: 'Frankfurt', country: 'DE', lat: 50.11, lon: 8.68 },
        rttMs: 12.5,
        bounds: DEFAULT_BOUNDS,
        by: alice.address, // (a vote that rests on it names it)
      },
    ]);
    expect(s.vantages('c1', 6000, alice.address)).toEqual([]);
    expect(s.vantages('c2', 6000, bob.address)).toEqual([]);
  });

  it("names a peer's vantage point by its nearest city in the reason, coordinates where no city is near", () => {
    const s = store();
    expect(s.add(signPeerRtt(body({ lat: 1.29, lon: 103.85 }), alice), 1)).toBeNull();
    expect(s.add(signPeerRtt(body({ checker: bob.address, lat: -30, lon: -140 }), bob), 1)).toBeNull();
    const vs = s.vantages('c1', 2, mallory.address);
    expect(vs.map((v) => v.from)).toEqual([
      { city: 'Singapore', country: 'SG', lat: 1.29, lon: 103.85 },
      { lat: -30, lon: -140 }, // the South Pacific: no city within 100 km
    ]);
    const m = multilaterate({ city: 'Frankfurt', country: 'DE', lat: 50.11, lon: 8.68 }, [
      { ...vs[0]!, rttMs: 2 },
    ]);
    expect(m.ok).toBe(false);
    expect(m.reason).toMatch(
      /^RTT from Singapore, SG is 2\.0 ms: the container is within \d+ km of Singapore, SG/,
    );
    expect(multilaterate({ lat: 0, lon: 0 }, [{ ...vs[1]!, rttMs: 1 }]).reason).toMatch(
      /^RTT from -30\.00, -140\.00/,
    );
  });

  it('drops forged, foreign, malformed and stale measurements', () => {
    const s = store();
    const good = signPeerRtt(body(), alice);
    expect(s.add({ ...good, rttMs: 900 }, 1)).toBe('bad signature');
    expect(s.add({ ...good, publicKey: bob.publicKey }, 1)).toBe('key is not the checker');
    expect(s.add(signPeerRtt(body({ checker: mallory.address }), mallory), 1)).toBe(
      'not a checker of the ledger',
    );
    expect(s.add(signPeerRtt(body({ chainId: 'other' }), alice), 1)).toBe('another chain');
    expect(s.add(signPeerRtt(body({ lat: 91 }), alice), 1)).toBe('place out of range');
    expect(s.add(signPeerRtt(body({ rttMs: -1 }), alice), 1)).toBe('rttMs out of range');
    expect(
      s.add(
        signPeerRtt(body({ bounds: { ...DEFAULT_BOUNDS, lower: { baseMs: 0, msPerKm: 0.001 } } }), alice),
        1,
      ),
    ).toBe('bounds out of range (slopes at least light in fibre)');
    expect(s.add(null, 1)).toBe('not an object');
    expect(s.vantages('c1', 2, bob.address)).toEqual([]);
    // a good one, then too old
    expect(s.add(good, 1000)).toBeNull();
    expect(s.vantages('c1', 61_000, bob.address)).toHaveLength(1);
    expect(s.vantages('c1', 61_001, bob.address)).toEqual([]);
  });
});
