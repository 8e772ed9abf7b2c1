import { describe, expect, it } from 'vitest';
import {
  CITIES,
  estimateRttMs,
  findCity,
  haversineKm,
  SeededRng,
  type City,
} from '../../../../src/core/index.js';
import {
  bestline,
  calibrateLandmark,
  calibrateOnLandmarks,
  CITY_RTTS,
  DEFAULT_BOUNDS,
  judgeLocation,
  LIGHT_MS_PER_KM,
  LocationChecker,
  lowerMs,
  ModelNetwork,
  multilaterate,
  MULTILATERATION_CALIBRATION,
  quantileLine,
  simulatedLandmarks,
  upperMs,
  type LocationBounds,
  type NetworkPort,
} from '../../../../src/checker/location/index.js';

const FRA = findCity('Frankfurt');
const SIN = findCity('Singapore');
const ASH = findCity('Ashburn');

const claim = (c: City) => ({ city: c.city, country: c.country, lat: c.lat, lon: c.lon });

describe('bounds', () => {
  it('bestline: under every point, at least as steep as light, closest to the points', () => {
    const pts = [
      { distanceKm: 100, rttMs: 5 },
      { distanceKm: 1000, rttMs: 15 },
      { distanceKm: 5000, rttMs: 60 },
      { distanceKm: 8000, rttMs: 120 },
    ];
    const b = bestline(pts);
    expect(b.msPerKm).toBeGreaterThanOrEqual(LIGHT_MS_PER_KM);
    expect(b.baseMs).toBeGreaterThanOrEqual(0);
    for (const p of pts) expect(b.baseMs + b.msPerKm * p.distanceKm).toBeLessThanOrEqual(p.rttMs + 1e-9);
    // the line touches the hull: (1000, 15) and (5000, 60) -> slope 45/4000
    expect(b.msPerKm).toBeCloseTo(45 / 4000, 6);
    expect(b.baseMs).toBeCloseTo(15 - 45 / 4, 4);
  });

  it('bestline never allows more distance than light: points on the light line give the light line', () => {
    const pts = [1000, 3000, 9000].map((km) => ({ distanceKm: km, rttMs: km * LIGHT_MS_PER_KM }));
    const b = bestline(pts);
    expect(b.msPerKm).toBeCloseTo(LIGHT_MS_PER_KM, 9);
    expect(b.baseMs).toBeCloseTo(0, 6);
  });

  it('quantileLine recovers a line under noise-free data and its quantile puts q of the points below', () => {
    const line = Array.from({ length: 40 }, (_, i) => ({ distanceKm: i * 250, rttMs: 10 + 0.02 * i * 250 }));
    const q = quantileLine(line, 0.9);
    expect(q.msPerKm).toBeCloseTo(0.02, 4);
    expect(q.baseMs).toBeCloseTo(10, 2);
    const rng = new SeededRng('q');
    const noisy = Array.from({ length: 2000 }, () => {
      const km = rng.next() * 10_000;
      return { distanceKm: km, rttMs: (10 + 0.02 * km) * (1 + rng.next()) };
    });
    const l = quantileLine(noisy, 0.9);
    const below = noisy.filter((p) => p.rttMs <= l.baseMs + l.msPerKm * p.distanceKm).length / noisy.length;
    expect(below).toBeGreaterThan(0.88);
    expect(below).toBeLessThan(0.92);
    expect(() => quantileLine(noisy, 1)).toThrow(RangeError);
  });

  it('calibrateLandmark: the bestline minus slack below, the quantile line plus slack above, impossible points left out', () => {
    const rng = new SeededRng('cal');
    const pts = Array.from({ length: 300 }, () => {
      const km = rng.next() * 12_000;
      return {
        distanceKm: km,
        rttMs: estimateRttMs({ lat: 0, lon: 0 }, { lat: 0, lon: km / 111.2 }) * (1 + rng.next()),
      };
    });
    // a mislocated host: 2 ms over 5,000 km
    const b = calibrateLandmark([...pts, { distanceKm: 5000, rttMs: 2 }], {
      upperSlackMs: 20,
      lowerSlackMs: 1,
    });
    for (const p of pts) {
      expect(lowerMs(b, p.distanceKm)).toBeLessThanOrEqual(p.rttMs);
      expect(upperMs(b, p.distanceKm)).toBeGreaterThan(p.rttMs * 0.9);
    }
    expect(lowerMs(b, 5000)).toBeGreaterThan(40);
    expect(() => calibrateLandmark([{ distanceKm: 10, rttMs: 3 }])).toThrow(RangeError);
  });

  it('the default bounds: lower just above light, upper above the model estimate everywhere', () => {
    for (const km of [0, 500, 2000, 8000, 15_000]) {
      expect(lowerMs(DEFAULT_BOUNDS, km)).toBeGreaterThanOrEqual(Math.max(0, km * LIGHT_MS_PER_KM - 1));
      expect(lowerMs(DEFAULT_BOUNDS, km)).toBeLessThan(upperMs(DEFAULT_BOUNDS, km));
      const est = estimateRttMs({ lat: 0, lon: 0 }, { lat: 0, lon: 0 }) + km * 0.017;
      expect(upperMs(DEFAULT_BOUNDS, km)).toBeGreaterThan(est);
    }
  });
});

describe('judgeLocation', () => {
  const frankfurtOwn: LocationBounds = {
    lower: { baseMs: -1, msPerKm: 0.0126 },
    upper: { baseMs: 58.6, msPerKm: 0.0328 },
  };

  it('a container answering Singapore in 2 ms cannot be in Frankfurt', () => {
    const j = judgeLocation({ from: claim(SIN), claimed: claim(FRA), samples: [2.4, 2.1, 3.0] });
    expect(j.ok).toBe(false);
    expect(j.rttMs).toBe(2.1);
    expect(j.claimedKm).toBeGreaterThan(10_000);
    expect(j.maxKm).toBeLessThan(400);
    expect(j.reason).toMatch(
      /^RTT from Singapore, SG is 2\.1 ms: the container is within \d+ km of Singapore, SG, but it claims Frankfurt, DE, 10,\d{3} km away$/,
    );
  });

  it('a container answering Frankfurt in 160 ms is too slow to be in Frankfurt (calibrated bounds)', () => {
    const j = judgeLocation({
      from: claim(FRA),
      claimed: { city: 'Frankfurt', country: 'DE', lat: 50.0, lon: 8.5 },
      samples: [170, 160, 165],
      bounds: frankfurtOwn,
    });
    expect(j.ok).toBe(false);
    expect(j.reason).toMatch(
      /^RTT from Frankfurt, DE is 160 ms: too slow for a container 18 km away in Frankfurt, DE/,
    );
    expect(j.minKm).toBeGreaterThan(2000);
  });

  it('an honest RTT is consistent, and the reason says which distances it allows', () => {
    const j = judgeLocation({
      from: claim(FRA),
      claimed: claim(findCity('Amsterdam')),
      samples: [9.8, 9.1, 12],
    });
    expect(j.ok).toBe(true);
    expect(j.reason).toMatch(
      /^RTT from Frankfurt, DE is 9\.1 ms: consistent with Amsterdam, NL, 36\d km away \(this RTT allows 0 to 9\d\d km\)$/,
    );
    expect(j.minKm).toBe(0);
    expect(j.claimedKm).toBeLessThanOrEqual(j.maxKm);
  });

  it('places without a city are named by their coordinates; no samples is an error', () => {
    const j = judgeLocation({
      from: { lat: 1.35, lon: 103.82 },
      claimed: { lat: 50.11, lon: 8.68 },
      samples: [1],
    });
    expect(j.reason).toContain('RTT from 1.35, 103.82 is 1.0 ms');
    expect(() => judgeLocation({ from: claim(FRA), claimed: claim(FRA), samples: [] })).toThrow(RangeError);
    expect(() => judgeLocation({ from: claim(FRA), claimed: claim(FRA), samples: [Number.NaN] })).toThrow(
      RangeError,
    );
  });
});

/** A checker at `at` that calibrated its own bounds on its RTTs to landmark hosts in every city. */
async function calibratedChecker(network: ModelNetwork, at: City): Promise<LocationChecker> {
  const from = claim(at);
  const ms: Array<{ distanceKm: number; rttMs: number }> = [];
  for (const c of CITIES) {
    if (c === at) continue;
    for (let k = 0; k < 4; k++) {
      const target = { id: `landmark:${c.city}:${k}`, claimed: c };
      const samples = await Promise.all([0, 1, 2, 3, 4].map(() => network.rttMs(target, from)));
      ms.push({
        distanceKm: haversineKm(at.lat, at.lon, c.lat, c.lon),
        rttMs: Math.min(...(samples as number[])),
      });
    }
  }
  return new LocationChecker({ network, from, bounds: calibrateLandmark(ms) });
}

async function majority(
  checkers: LocationChecker[],
  target: { id: string; claimed: ReturnType<typeof claim> },
) {
  const votes = await Promise.all(checkers.map((c) => c.check(target)));
  const got = votes.filter((v) => v !== null);
  return { flagged: got.filter((v) => !v.ok).length * 2 > got.length, votes: got };
}

describe('LocationChecker on the simulated network (ModelNetwork)', () => {
  it('is reproducible from the seed, and a muted container gets no verdict', async () => {
    const run = async (seed: string) => {
      const net = new ModelNetwork({ rng: new SeededRng(seed) });
      const chk = new LocationChecker({ network: net, from: claim(FRA) });
      return chk.check({ id: 'c1', claimed: claim(findCity('Warsaw')) });
    };
    expect(await run('s')).toEqual(await run('s'));
    const net = new ModelNetwork({ rng: new SeededRng(1) }).mute('c1');
    const chk = new LocationChecker({ network: net, from: claim(FRA), samples: 3 });
    expect(await chk.check({ id: 'c1', claimed: claim(FRA) })).toBeNull();
    net.mute('c1', false);
    expect((await chk.check({ id: 'c1', claimed: claim(FRA) }))?.ok).toBe(true);
    expect(() => new LocationChecker({ network: net, from: claim(FRA), samples: 0 })).toThrow(RangeError);
  });

  it('takes the minimum of its samples', async () => {
    const seq = [30, 12, 50, 20, 19];
    let i = 0;
    const network: NetworkPort = { rttMs: () => Promise.resolve(seq[i++ % seq.length]!) };
    const v = await new LocationChecker({ network, from: claim(FRA) }).check({
      id: 'x',
      claimed: claim(findCity('Paris')),
    });
    expect(v?.rttMs).toBe(12);
  });

  it('the SIMULATED RTTs never go below the real floor (the default lower line)', async () => {
    const net = new ModelNetwork({ rng: new SeededRng('floor') });
    for (const c of CITIES) {
      const rtt = (await net.rttMs({ id: `h-${c.city}`, claimed: c }, SIN))!;
      expect(rtt).toBeGreaterThanOrEqual(
        lowerMs(DEFAULT_BOUNDS, haversineKm(SIN.lat, SIN.lon, c.lat, c.lon)),
      );
    }
  });

  for (const seed of Array.from({ length: 20 }, (_, i) => i + 1)) {
    it(`seed ${seed}: honest containers in every city pass, a Singapore container claiming Frankfurt is flagged`, async () => {
      const net = new ModelNetwork({ rng: new SeededRng(seed) });
      const panel = await Promise.all([FRA, ASH, SIN].map((c) => calibratedChecker(net, c)));
      for (const c of CITIES) {
        for (let k = 0; k < 3; k++) {
          const r = await majority(panel, { id: `honest:${c.city}:${k}`, claimed: claim(c) });
          expect(r.flagged, `${c.city}: ${r.votes.map((v) => v.reason).join(' / ')}`).toBe(false);
        }
      }
      for (let k = 0; k < 5; k++) {
        const id = `cheater-${k}`;
        net.place(id, SIN);
        const r = await majority(panel, { id, claimed: claim(FRA) });
        expect(r.flagged, r.votes.map((v) => v.reason).join(' / ')).toBe(true);
      }
      // with the default bounds the Singapore checker alone refutes it
      const alone = new LocationChecker({ network: net, from: claim(SIN) });
      const v = await alone.check({ id: 'cheater-0', claimed: claim(FRA) });
      expect(v?.ok).toBe(false);
      expect(v?.reason).toContain('but it claims Frankfurt, DE');
    });
  }

  it('whereIs tells the simulated network where containers really are', async () => {
    const net = new ModelNetwork({
      rng: new SeededRng(9),
      whereIs: (id) => (id === 'far' ? SIN : undefined),
    });
    expect(net.truePlace({ id: 'far', claimed: FRA })).toEqual(SIN);
    expect(net.truePlace({ id: 'near', claimed: FRA })).toEqual(FRA);
    const v = await new LocationChecker({ network: net, from: claim(SIN) }).check({
      id: 'far',
      claimed: claim(FRA),
    });
    expect(v?.ok).toBe(false);
  });
});

describe('ModelNetwork with measured RTTs between cities (CITY_RTTS, the devnet world)', () => {
  const PARIS = findCity('Paris');
  const at = (c: City) => CITY_RTTS.places.findIndex((p) => p.name === `${c.city}, ${c.country}`);
  const table = (a: City, b: City) => CITY_RTTS.rttMs[at(a)]![at(b)]!;

  /** The devnet's three checkers, each calibrated on the simulated landmarks as the service does. */
  async function panel(net: ModelNetwork) {
    return Promise.all(
      [FRA, ASH, SIN].map(async (c) => ({
        from: claim(c),
        bounds: (await calibrateOnLandmarks(
          net,
          c,
          simulatedLandmarks(CITIES),
          5,
          MULTILATERATION_CALIBRATION,
        ))!,
      })),
    );
  }
  async function judge(
    net: ModelNetwork,
    checkers: Awaited<ReturnType<typeof panel>>,
    id: string,
    claimed: City,
  ) {
    const vantages = await Promise.all(
      checkers.map(async (c) => {
        const samples = await Promise.all(
          [0, 1, 2].map(() => net.rttMs({ id, claimed: claim(claimed) }, c.from)),
        );
        return { from: c.from, bounds: c.bounds, rttMs: Math.min(...(samples as number[])) };
      }),
    );
    return multilaterate(claim(claimed), vantages);
  }

  it('replays the measured RTT between two cities, plus the container’s own access delay of 0 to 2 ms', async () => {
    const net = new ModelNetwork({ rng: new SeededRng('measured'), measured: CITY_RTTS });
    expect(table(SIN, PARIS)).toBeGreaterThan(250); // the real detour: Singapore to Paris 262 ms
    const rtts = await Promise.all(
      [0, 1, 2, 3].map(() => net.rttMs({ id: 'p', claimed: claim(PARIS) }, SIN)),
    );
    for (const r of rtts) {
      expect(r!).toBeGreaterThanOrEqual(table(SIN, PARIS) * 0.999);
      expect(r!).toBeLessThan((table(SIN, PARIS) + 2) * 1.05);
    }
    // the same container from Frankfurt: its access delay is the same on every path
    const fromFra = (await net.rttMs({ id: 'p', claimed: claim(PARIS) }, FRA))! - table(FRA, PARIS);
    const fromSin = Math.min(...(rtts as number[])) - table(SIN, PARIS);
    expect(Math.abs(fromFra - fromSin)).toBeLessThan(0.05 * table(SIN, PARIS));
    // 30 km from Paris: Paris's path, scaled by the model's estimate (its neighbours weigh 1/100)
    const near = { lat: PARIS.lat + 0.27, lon: PARIS.lon };
    const r = (await net.rttMs({ id: 'q', claimed: near }, SIN))!;
    const scale = estimateRttMs(SIN, near) / estimateRttMs(SIN, PARIS);
    expect(r).toBeGreaterThanOrEqual(table(SIN, PARIS) * scale * 0.99);
    expect(r).toBeLessThan((table(SIN, PARIS) * scale * 1.01 + 2) * 1.05);
  });

  it('elsewhere, the estimate times the inflation of the measured paths between the places’ neighbourhoods', async () => {
    // Montreal: 500 km from Toronto, the nearest city of the table; then New York, Ashburn
    const montreal = { lat: 45.5, lon: -73.57 };
    const near = [findCity('Toronto'), findCity('New York'), ASH];
    const net = new ModelNetwork({ rng: new SeededRng('elsewhere'), measured: CITY_RTTS });
    const inflation = near.map((c) => table(FRA, c) / estimateRttMs(FRA, c));
    const est = estimateRttMs(FRA, montreal);
    const hosts = await Promise.all(
      ['m1', 'm2', 'm3'].map((id) => net.rttMs({ id, claimed: montreal }, FRA)),
    );
    for (const r of hosts) {
      expect(r!).toBeGreaterThanOrEqual(est * Math.min(...inflation));
      expect(r!).toBeLessThan((est * Math.max(...inflation) + 2) * 1.05);
    }
    // no draw per path: hosts in one place differ by their access delay (and jitter) alone
    expect(Math.max(...(hosts as number[])) - Math.min(...(hosts as number[]))).toBeLessThan(2 + 0.05 * est);
    // without a table, the model's draws (each path its own)
    const plain = new ModelNetwork({ rng: new SeededRng('elsewhere') });
    const drawn = await Promise.all(
      ['m1', 'm2', 'm3', 'm4'].map((id) => plain.rttMs({ id, claimed: montreal }, FRA)),
    );
    expect(new Set(drawn.map((x) => Math.round(x! / 5))).size).toBeGreaterThan(1);
  });

  it('hosts anywhere on Earth (a 10° by 15° grid) pass the devnet’s checkers; the plain model fails some', async () => {
    const places: Array<{ lat: number; lon: number }> = [];
    for (let lat = -40; lat <= 60; lat += 10)
      for (let lon = -180; lon < 180; lon += 15) places.push({ lat, lon });
    let plainRefuted = 0;
    for (let seed = 0; seed < 2; seed++) {
      const net = new ModelNetwork({ rng: new SeededRng(`world:${seed}`), measured: CITY_RTTS });
      const checkers = await panel(net);
      const plain = new ModelNetwork({ rng: new SeededRng(`world:${seed}`) });
      const plainCheckers = await panel(plain);
      for (const [k, p] of places.entries()) {
        const at = { city: `${p.lat},${p.lon}`, country: '', region: '', ...p };
        const m = await judge(net, checkers, `host:${k}`, at);
        expect(m.ok, `seed ${seed}, ${at.city}: ${m.reason}`).toBe(true);
        if (!(await judge(plain, plainCheckers, `host:${k}`, at)).ok) plainRefuted++;
      }
    }
    expect(plainRefuted).toBeGreaterThan(0);
  });

  it('no honest host in any city is refuted by the devnet’s three checkers, while the plain model refutes some', async () => {
    let plainRefuted = 0;
    for (let seed = 0; seed < 6; seed++) {
      const net = new ModelNetwork({ rng: new SeededRng(`honest:${seed}`), measured: CITY_RTTS });
      const checkers = await panel(net);
      for (const c of CITIES)
        for (let k = 0; k < 3; k++) {
          const m = await judge(net, checkers, `honest:${c.city}:${k}`, c);
          expect(m.ok, `seed ${seed}, ${c.city}: ${m.reason}`).toBe(true);
        }
      const plain = new ModelNetwork({ rng: new SeededRng(`honest:${seed}`) });
      const plainCheckers = await panel(plain);
      for (const c of CITIES)
        for (let k = 0; k < 3; k++)
          if (!(await judge(plain, plainCheckers, `honest:${c.city}:${k}`, c)).ok) plainRefuted++;
    }
    // independent draws per path: a lone slow path beside a tight one (module comment of network.ts)
    expect(plainRefuted).toBeGreaterThan(0);
  });

  it('still refutes liars: a Singapore host claiming Frankfurt or Paris, a São Paulo host claiming Madrid', async () => {
    const net = new ModelNetwork({ rng: new SeededRng('liars'), measured: CITY_RTTS });
    const checkers = await panel(net);
    for (const [truth, claimed] of [
      [SIN, FRA],
      [SIN, PARIS],
      [findCity('Sao Paulo'), findCity('Madrid')],
    ] as const) {
      const id = `liar:${truth.city}:${claimed.city}`;
      net.place(id, truth);
      const m = await judge(net, checkers, id, claimed);
      expect(m.ok, m.reason).toBe(false);
    }
  });
});
