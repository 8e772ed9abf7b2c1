import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { haversineKm, keyPairFromSeed } from '../../../../src/core/index.js';
import {
  beaconProblem,
  calibrateLandmark,
  calibrateOnLandmarks,
  CheckerBeacons,
  checkerLandmarkId,
  MIN_CALIBRATION_LANDMARKS,
  ProbeNetwork,
  signBeacon,
  type BeaconBody,
} from '../../../../src/checker/location/index.js';
import { TcpRttProbe } from '../../../../src/node/tcp-probe.js';

const alice = keyPairFromSeed('beacon-alice');
const bob = keyPairFromSeed('beacon-bob');
const mallory = keyPairFromSeed('beacon-mallory');
const CHAIN = 'aethir-test';

const body = (over: Partial<BeaconBody> = {}): BeaconBody => ({
  chainId: CHAIN,
  checker: alice.address,
  lat: 51.51,
  lon: -0.13,
  address: 'http://10.0.0.5:7420',
  at: 1000,
  ...over,
});

function directory(checkers = new Set([alice.address, bob.address]), self = bob.address) {
  return new CheckerBeacons({ chainId: CHAIN, isChecker: (a) => checkers.has(a), self, maxAgeMs: 60_000 });
}

describe('CheckerBeacons: other checkers as landmarks', () => {
  it("takes a checker's signed beacon: a landmark at its place, probed at its address", () => {
    const d = directory();
    expect(d.add(signBeacon(body(), alice), 5000)).toBeNull();
    expect(d.landmarks(6000)).toEqual([{ id: checkerLandmarkId(alice.address), lat: 51.51, lon: -0.13 }]);
    expect(d.addressOf(checkerLandmarkId(alice.address), 6000)).toBe('http://10.0.0.5:7420');
    // a container id (the same key may run a container) is not a checker landmark
    expect(d.addressOf(alice.address, 6000)).toBeNull();
  });

  it('never lists this checker as its own landmark', () => {
    const d = directory(undefined, alice.address);
    expect(d.add(signBeacon(body(), alice), 1)).toBeNull();
    expect(d.landmarks(2)).toEqual([]);
    expect(d.addressOf(checkerLandmarkId(alice.address), 2)).toBeNull();
  });

  it("refuses what a stranger sends, and changes nothing: forged, another's key, not a checker, another chain, bad numbers or addresses", () => {
    const d = directory();
    expect(d.add(signBeacon(body(), alice), 1)).toBeNull();
    const attacks: Array<[unknown, RegExp]> = [
      // mallory moves alice's landmark: alice's name, mallory's key
      [signBeacon(body({ address: 'http://203.0.113.9:80', at: 2000 }), mallory), /key is not the checker/],
      // alice's real signature on other fields
      [{ ...signBeacon(body({ at: 2000 }), alice), lat: -33.87 }, /bad signature/],
      [{ ...signBeacon(body({ at: 2000 }), alice), address: 'http://203.0.113.9:80' }, /bad signature/],
      // a key of its own, but not a checker of the ledger
      [signBeacon(body({ checker: mallory.address, at: 2000 }), mallory), /not a checker/],
      [signBeacon(body({ chainId: 'other', at: 2000 }), alice), /another chain/],
      [signBeacon(body({ lat: 91, at: 2000 }), alice), /place out of range/],
      [signBeacon(body({ lon: Number.NaN, at: 2000 }), alice), /place out of range/],
      [signBeacon(body({ at: -1 }), alice), /bad time/],
      [signBeacon(body({ address: 'no port here', at: 2000 }), alice), /address must be/],
      [signBeacon(body({ address: 'http://h:99999', at: 2000 }), alice), /address must be/],
      [signBeacon(body({ address: `http://${'a'.repeat(300)}:80`, at: 2000 }), alice), /address must be/],
      [{ ...signBeacon(body({ at: 2000 }), alice), signature: 'zz' }, /bad signature/],
      [null, /not an object/],
      ['beacon', /not an object/],
    ];
    for (const [m, why] of attacks) expect(d.add(m, 3)).toMatch(why);
    expect(d.landmarks(4)).toEqual([{ id: checkerLandmarkId(alice.address), lat: 51.51, lon: -0.13 }]);
    expect(d.addressOf(checkerLandmarkId(alice.address), 4)).toBe('http://10.0.0.5:7420');
  });

  it("takes only a beacon newer than the last: an old one replayed does not move the checker's landmark", () => {
    const d = directory();
    const old = signBeacon(body({ address: 'http://10.0.0.5:1111', at: 1000 }), alice);
    expect(d.add(old, 1)).toBeNull();
    expect(d.add(signBeacon(body({ address: 'http://10.0.0.6:2222', at: 2000 }), alice), 2)).toBeNull();
    expect(d.add(old, 3)).toMatch(/not newer/);
    expect(d.add(signBeacon(body({ address: 'http://10.0.0.6:2222', at: 2000 }), alice), 3)).toMatch(
      /not newer/,
    );
    expect(d.addressOf(checkerLandmarkId(alice.address), 4)).toBe('http://10.0.0.6:2222');
  });

  it('forgets a checker whose beacons stopped, and one the ledger no longer has', () => {
    const checkers = new Set([alice.address, bob.address]);
    const d = directory(checkers);
    expect(d.add(signBeacon(body(), alice), 1000)).toBeNull();
    expect(d.landmarks(61_000)).toHaveLength(1);
    expect(d.landmarks(61_001)).toEqual([]);
    expect(d.addressOf(checkerLandmarkId(alice.address), 61_001)).toBeNull();

    expect(d.add(signBeacon(body({ at: 5000 }), alice), 70_000)).toBeNull();
    expect(d.landmarks(70_001)).toHaveLength(1);
    checkers.delete(alice.address); // slashed out of the checker set
    expect(d.landmarks(70_002)).toEqual([]);
    expect(d.addressOf(checkerLandmarkId(alice.address), 70_002)).toBeNull();
  });

  it('beaconProblem takes an honest beacon as it is, the address in either form', () => {
    expect(beaconProblem(signBeacon(body(), alice), CHAIN)).toBeNull();
    expect(beaconProblem(signBeacon(body({ address: '10.0.0.5:9000' }), alice), CHAIN)).toBeNull();
  });

  it('a checker calibrates on real handshakes to the other checkers its beacons name', async () => {
    // two "checkers" listening on loopback, announced in London (640 km) and Paris (480 km)
    const servers = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<ReturnType<typeof createServer>>((resolve) => {
            const s = createServer((c) => c.on('error', () => {}).end());
            s.listen(0, '127.0.0.1', () => resolve(s));
          }),
      ),
    );
    try {
      const d = directory(new Set([alice.address, bob.address, mallory.address]), mallory.address);
      const port = (i: number) => (servers[i]!.address() as { port: number }).port;
      expect(d.add(signBeacon(body({ address: `127.0.0.1:${port(0)}` }), alice), 1)).toBeNull();
      expect(
        d.add(
          signBeacon(
            body({ checker: bob.address, lat: 48.86, lon: 2.35, address: `http://127.0.0.1:${port(1)}` }),
            bob,
          ),
          1,
        ),
      ).toBeNull();
      const probed: string[] = [];
      const answered = new Map<number, number[]>();
      const network = new ProbeNetwork({
        probe: {
          rttMs: async (host, p, timeoutMs) => {
            probed.push(`${host}:${p}`);
            const rtt = await new TcpRttProbe().rttMs(host, p, timeoutMs);
            // loopback answers in microseconds, faster than light allows between these places:
            // the test adds a path's worth so the calibration has points light in fibre allows
            if (rtt === null) return null;
            const ms = rtt + (p === port(0) ? 9 : 8);
            answered.set(p, [...(answered.get(p) ?? []), ms]);
            return ms;
          },
        },
        addressOf: (id) => d.addressOf(id, 2),
      });
      const from = { lat: 50.11, lon: 8.68 }; // Frankfurt
      // two landmarks are too few to calibrate on (MIN_CALIBRATION_LANDMARKS): none is even probed
      expect(await calibrateOnLandmarks(network, from, d.landmarks(2), 3)).toBeUndefined();
      expect(probed).toEqual([]);
      // with the minimum lowered to two, the checkers the beacons name are probed and calibrated on
      const bounds = await calibrateOnLandmarks(network, from, d.landmarks(2), 3, {}, 2);
      expect(new Set(probed)).toEqual(new Set([`127.0.0.1:${port(0)}`, `127.0.0.1:${port(1)}`]));
      expect(probed).toHaveLength(6);
      // the bounds are those of the two checkers' places and the fastest of each one's handshakes
      expect(bounds).toEqual(
        calibrateLandmark([
          {
            distanceKm: haversineKm(from.lat, from.lon, 51.51, -0.13),
            rttMs: Math.min(...answered.get(port(0))!),
          },
          {
            distanceKm: haversineKm(from.lat, from.lon, 48.86, 2.35),
            rttMs: Math.min(...answered.get(port(1))!),
          },
        ]),
      );
    } finally {
      for (const s of servers) s.close();
    }
  });

  it(`calibrates only once ${MIN_CALIBRATION_LANDMARKS} landmarks answer; fewer leave the default bounds`, async () => {
    const from = { lat: 50.11, lon: 8.68 };
    // landmarks on a ring of distances, on a path 5 ms + 0.012 ms/km long (a fake network)
    const ring = (n: number) =>
      Array.from({ length: n }, (_, i) => ({
        id: `l${i}`,
        lat: 50.11 - (i % 40) * 0.5,
        lon: 8.68 + i * 0.3,
      }));
    const silent = new Set<string>();
    let probes = 0;
    const rttTo = (at: { lat: number; lon: number }) =>
      5 + 0.012 * Math.hypot((at.lat - from.lat) * 111, (at.lon - from.lon) * 71);
    const network = {
      rttMs: async (t: { id: string; claimed: { lat: number; lon: number } }) => {
        probes++;
        return silent.has(t.id) ? null : rttTo(t.claimed);
      },
    };
    expect(await calibrateOnLandmarks(network, from, ring(MIN_CALIBRATION_LANDMARKS - 1), 1)).toBeUndefined();
    expect(probes).toBe(0);
    const bounds = await calibrateOnLandmarks(network, from, ring(MIN_CALIBRATION_LANDMARKS), 1);
    expect(bounds).toEqual(
      calibrateLandmark(
        ring(MIN_CALIBRATION_LANDMARKS).map((l) => ({
          distanceKm: haversineKm(from.lat, from.lon, l.lat, l.lon),
          rttMs: rttTo(l),
        })),
      ),
    );
    expect(probes).toBe(MIN_CALIBRATION_LANDMARKS);
    silent.add('l3'); // one does not answer: one too few
    expect(await calibrateOnLandmarks(network, from, ring(MIN_CALIBRATION_LANDMARKS), 1)).toBeUndefined();
  });
});
