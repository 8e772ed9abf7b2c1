import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CITIES,
  fitLatencyModel,
  haversineKm,
  LATENCY_MODEL,
  relativeErrors,
} from '../../../../src/core/index.js';
import {
  calibrateOnDataset,
  CITY_RTTS,
  DEFAULT_BOUNDS,
  evaluateLocation,
  impossibleServers,
  LocationChecker,
  locationPanel,
  MIN_CALIBRATION_LANDMARKS,
  MULTILATERATION_CALIBRATION,
  MULTILATERATION_CALIBRATION_V1,
  parseWonderProxy,
  placeRtts,
  spreadVantagePoints,
  TableNetwork,
  vectorSeparability,
  type RttDataset,
} from '../../../../src/checker/location/index.js';

/** WonderProxy's real RTT measurements, shared by the workplace (../shared/data from the repo root). */
const DIR = fileURLToPath(new URL('../../../../../shared/data/rtt/wonderproxy/', import.meta.url));
const SERVERS = `${DIR}servers-2020-07-19.csv`;
const PINGS = `${DIR}pings-2020-07-19-2020-07-20-grouped.csv`;
const present = existsSync(SERVERS) && existsSync(PINGS);
const title = present
  ? `the location check on WonderProxy's real RTTs (${DIR})`
  : `the location check on WonderProxy's real RTTs: SKIPPED, ${DIR} not found (real data lives in ../shared/data, only in the Aethir workplace)`;

/** Checker landmarks: Frankfurt, Washington (Herndon, VA, next to Ashburn), Singapore; + Los Angeles, Sao Paulo. */
const THREE = ['29', '16', '31'];
const FIVE = [...THREE, '37', '125'];

const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(1)}%`;

describe.skipIf(!present)(title, () => {
  let data: RttDataset;
  beforeAll(() => {
    data = parseWonderProxy(readFileSync(SERVERS, 'utf8'), readFileSync(PINGS, 'utf8'));
  });

  it('reads the data; the servers whose listed place is impossible are found', () => {
    expect(data.servers.size).toBe(246);
    expect(data.pairs.length).toBeGreaterThan(59_000);
    const bad = impossibleServers(data);
    const names = [...bad].map((id) => data.servers.get(id)!.city);
    console.log(`servers faster than light from their listed place: ${names.join(', ')}`);
    expect(names).toContain('La Ceiba');
    expect(bad.size).toBeLessThanOrEqual(10);
  });

  it("the latency model's error on the data (the model that drives the simulated network)", () => {
    const samples = data.pairs.map((p) => ({ km: p.km, rttMs: p.avgMs }));
    const fit = fitLatencyModel(samples);
    const err = relativeErrors(samples, LATENCY_MODEL);
    console.log(
      `latency model on ${samples.length} pairs: relative error median ${(err.median * 100).toFixed(1)}%, ` +
        `p90 ${(err.p90 * 100).toFixed(1)}% (refit: ${(fit.medianRelError * 100).toFixed(1)}% / ${(fit.p90RelError * 100).toFixed(1)}%)`,
    );
    expect(err.median).toBeLessThan(0.2);
    expect(err.p90).toBeLessThan(0.5);
  });

  it('CITY_RTTS (the devnet world) are the data’s RTTs between the servers nearest each city: npx tsx scripts/city-rtts.ts', () => {
    expect(placeRtts(data, CITIES)).toEqual(CITY_RTTS);
    // every city has a server within 150 km (Mumbai stands on Pune, 119 km), every pair was measured
    expect(Math.max(...CITY_RTTS.servers.map((s) => s.km))).toBeLessThanOrEqual(150);
    expect(CITY_RTTS.rttMs.flat().every((x) => x !== null && x >= 0)).toBe(true);
    // a place with no server near it is refused
    expect(() => placeRtts(data, [{ city: 'Point Nemo', country: 'XX', lat: -48.88, lon: -123.39 }])).toThrow(
      /no WonderProxy server within 150 km of Point Nemo/,
    );
  });

  it('DEFAULT_BOUNDS are calibrateLandmark over the data', () => {
    const b = calibrateOnDataset(data);
    console.log(`default bounds recomputed: ${JSON.stringify(b)}`);
    expect(b.lower.baseMs).toBeCloseTo(DEFAULT_BOUNDS.lower.baseMs, 2);
    expect(b.lower.msPerKm).toBeCloseTo(DEFAULT_BOUNDS.lower.msPerKm, 6);
    expect(b.upper.baseMs).toBeCloseTo(DEFAULT_BOUNDS.upper.baseMs, 1);
    expect(b.upper.msPerKm).toBeCloseTo(DEFAULT_BOUNDS.upper.msPerKm, 5);
  });

  for (const [label, ids] of [
    ['3 checkers', THREE],
    ['5 checkers', FIVE],
  ] as const) {
    for (const mode of ['default', 'calibrated'] as const) {
      it(`${label}, ${mode} bounds: no honest server flagged; false claims ≥ 2,000 km away detected`, () => {
        const e = evaluateLocation(data, { checkers: ids, bounds: mode });
        console.log(
          `${label} (${e.checkers.join('; ')}), ${mode} bounds: ${e.falsePositives.length} of ${e.honest} honest servers flagged, ` +
            `margin ${e.marginMs.toFixed(2)} ms; false claims detected ${e.detected} of ${e.falseClaims} (${pct(e.detected, e.falseClaims)})`,
        );
        expect(e.honest).toBeGreaterThan(230);
        expect(e.falsePositives).toEqual([]);
        expect(e.marginMs).toBeGreaterThan(0);
        expect(e.detected / e.falseClaims).toBeGreaterThan(mode === 'default' ? 0.05 : 0.5);
      });
    }
  }

  it('servers near Singapore claiming a place near Frankfurt are caught by calibrated checkers', () => {
    const bad = impossibleServers(data);
    const sin = data.servers.get('31')!;
    const fra = data.servers.get('29')!;
    const within = (c: { lat: number; lon: number }, km: number) =>
      [...data.servers.values()].filter(
        (s) => !bad.has(s.id) && !FIVE.includes(s.id) && haversineKm(s.lat, s.lon, c.lat, c.lon) <= km,
      );
    const cheaters = within(sin, 2000);
    const claims = [fra, ...within(fra, 300)];
    expect(cheaters.length).toBeGreaterThan(2);
    for (const ids of [THREE, FIVE]) {
      for (const mode of ['calibrated', 'default'] as const) {
        const panel = locationPanel(data, ids, mode);
        let n = 0;
        let caught = 0;
        for (const t of cheaters)
          for (const c of claims) {
            const f = panel.flags(t.id, c);
            if (f === null) continue;
            n++;
            if (f) caught++;
          }
        console.log(
          `${ids.length} checkers, ${mode} bounds: ${cheaters.map((s) => s.city).join('/')} claiming ` +
            `${claims.map((s) => s.city).join('/')}: ${caught} of ${n} caught (${pct(caught, n)})`,
        );
        if (mode === 'calibrated') expect(caught).toBe(n);
      }
    }
  });

  it('a real pair through TableNetwork: the Singapore checker refutes a Singapore server claiming Frankfurt', async () => {
    const net = new TableNetwork(data, { column: 'min' });
    const sin = data.servers.get('31')!;
    const fra = data.servers.get('29')!;
    const kl = data.servers.get('36')!; // listed as "Malaysia", in Kuala Lumpur
    const checker = new LocationChecker({
      network: net,
      from: { city: sin.city, country: 'SG', lat: sin.lat, lon: sin.lon },
    });
    const lie = await checker.check({
      id: kl.id,
      claimed: { city: 'Frankfurt', country: 'DE', lat: fra.lat, lon: fra.lon },
    });
    console.log(lie?.reason);
    expect(lie?.ok).toBe(false);
    const truth = await checker.check({
      id: kl.id,
      claimed: { city: 'Kuala Lumpur', country: 'MY', lat: kl.lat, lon: kl.lon },
    });
    expect(truth?.ok).toBe(true);
    expect(await checker.check({ id: 'no-such-server', claimed: fra })).toBeNull();
  });
  it('multilateration with 3, 5, 8 and 12 checkers (2-fold cross-validated bounds): no honest server fails, more checkers catch more', () => {
    const hubs = [...FIVE, '6', '107', '175', '222', '11', '22', '9'];
    const caught: number[] = [];
    for (const n of [3, 5, 8, 12]) {
      const e = evaluateLocation(data, {
        checkers: hubs.slice(0, n),
        bounds: 'calibrated',
        calibration: MULTILATERATION_CALIBRATION,
        vote: 'multilateration',
        falseKm: 1000,
      });
      console.log(
        `${n} checkers, multilateration: honest failed ${e.falsePositives.length}/${e.honest}, caught ${pct(e.detected, e.falseClaims)}`,
      );
      expect(e.falsePositives).toEqual([]);
      caught.push(e.detected / e.falseClaims);
    }
    for (let i = 1; i < caught.length; i++) expect(caught[i]).toBeGreaterThan(caught[i - 1]!);
    // stop 22's calibration, every slow path counted, failed honest servers with 8 checkers
    const v1 = evaluateLocation(data, {
      checkers: hubs.slice(0, 8),
      bounds: 'calibrated',
      calibration: MULTILATERATION_CALIBRATION_V1,
      vote: 'multilateration',
      forgive: 0,
      falseKm: 1000,
    });
    expect(v1.falsePositives.length).toBeGreaterThan(0);
  });

  it("votes robust to one dishonest checker's shared RTT (what locationSlashNeedsRobust slashes) catch fewer lies: 45.9% against 78.5% with 5 checkers", () => {
    const judge = (vote: 'multilateration' | 'robust') =>
      evaluateLocation(data, {
        checkers: FIVE,
        bounds: 'calibrated',
        calibration: MULTILATERATION_CALIBRATION,
        vote,
        falseKm: 1000,
      });
    const all = judge('multilateration');
    const robust = judge('robust');
    console.log(
      `5 checkers: every vantage point together ${pct(all.detected, all.falseClaims)}, robust to one checker ${pct(robust.detected, robust.falseClaims)}`,
    );
    expect(robust.falsePositives).toEqual([]);
    expect(robust.falseClaims).toBe(all.falseClaims);
    expect([all.detected, robust.detected]).toEqual([40_059, 23_393]);
  });

  it(`a checker calibrated on too few landmarks fails honest servers: the other checkers alone fail most, ${MIN_CALIBRATION_LANDMARKS} more fail none`, () => {
    const honestFailed = (k: number) =>
      evaluateLocation(data, {
        checkers: FIVE,
        bounds: 'calibrated',
        calibration: MULTILATERATION_CALIBRATION,
        calibrationLandmarks: k,
        vote: 'multilateration',
        falseKm: 1000,
      });
    const alone = honestFailed(0);
    const few = honestFailed(16);
    const enough = honestFailed(MIN_CALIBRATION_LANDMARKS);
    console.log(
      `5 checkers calibrated on the other 4 and k landmarks: k = 0 failed ${alone.falsePositives.length}/${alone.honest}, ` +
        `k = 16 ${few.falsePositives.length}, k = ${MIN_CALIBRATION_LANDMARKS} ${enough.falsePositives.length}`,
    );
    expect([alone.falsePositives.length, alone.honest]).toEqual([154, 234]);
    expect(few.falsePositives).toHaveLength(11);
    expect(enough.falsePositives).toEqual([]);
  });

  it('the tried judges: the likelihood ratio adds refutations to multilateration, landmarks join per claim, k-medians places checkers where hosts are', () => {
    const base = {
      checkers: FIVE,
      bounds: 'calibrated',
      calibration: MULTILATERATION_CALIBRATION,
      falseKm: 1000,
    } as const;
    const multi = evaluateLocation(data, { ...base, vote: 'multilateration' });
    const lik = evaluateLocation(data, { ...base, vote: 'likelihood' });
    const loose = evaluateLocation(data, { ...base, vote: 'likelihood', likelihoodFactor: 1.25 });
    const lm = evaluateLocation(data, { ...base, vote: 'multilateration', landmarks: 1 });
    console.log(
      `5 checkers: multilateration ${pct(multi.detected, multi.falseClaims)}; + likelihood ratio ` +
        `${pct(lik.detected, lik.falseClaims)} (honest failed ${lik.falsePositives.length}), × 1.25 ` +
        `${pct(loose.detected, loose.falseClaims)} (${loose.falsePositives.length}); + 1 landmark ` +
        `${pct(lm.detected, lm.falseClaims)} (${lm.falsePositives.length})`,
    );
    // the ratio only adds refutations, and a looser threshold fewer
    expect(lik.falseClaims).toBe(multi.falseClaims);
    expect(lik.detected).toBeGreaterThan(multi.detected);
    expect(loose.detected).toBeLessThan(lik.detected);
    expect(loose.detected).toBeGreaterThanOrEqual(multi.detected);
    expect(lik.falsePositives.length).toBeGreaterThanOrEqual(loose.falsePositives.length);
    // measured (docs/verification.md): the tried judges fail honest hosts or catch little more
    expect(lik.falsePositives.length).toBeGreaterThan(0);
    expect(lm.falsePositives.length).toBeGreaterThan(0);
    expect(() => evaluateLocation(data, { ...base, vote: 'likelihood', landmarks: 1 })).toThrow(RangeError);
    expect(() => evaluateLocation(data, { checkers: FIVE, vote: 'likelihood' })).toThrow(/calibrated/);
    const spread = spreadVantagePoints(data, 5);
    expect(spread).toEqual(spreadVantagePoints(data, 5));
    expect(spread.map((id) => data.servers.get(id)!.city)).toEqual([
      'Budapest',
      'Cincinnati',
      'Hong Kong',
      'Canberra',
      'Bogota',
    ]);
  });

  it("what no judge can tell apart with 5 hubs: an oracle knowing the claimed server's own RTTs catches 90% only by failing servers near each other", () => {
    // the tolerances of docs/verification.md's table: the best that fails none of the pairs of
    // servers within 100 km of each other, and the one that catches 90%
    const sep = vectorSeparability(data, FIVE, [
      { baseMs: 0, perMm: 10 },
      { baseMs: 20, perMm: 0 },
    ]);
    const [fair, ninety] = sep.byTolerance;
    console.log(
      `5 hubs, oracle: ${pct(fair!.caught, sep.falseClaims)} failing none of ${sep.samePlace} pairs; ` +
        `${pct(ninety!.caught, sep.falseClaims)} failing ${ninety!.samePlaceFailed}`,
    );
    expect(sep.samePlace).toBe(59);
    expect(fair!.samePlaceFailed).toBe(0);
    expect(ninety!.caught / sep.falseClaims).toBeGreaterThanOrEqual(0.9);
    expect(ninety!.samePlaceFailed).toBe(17);
    // the multilateration the checkers vote with catches more than that fair oracle
    const multi = evaluateLocation(data, {
      checkers: FIVE,
      bounds: 'calibrated',
      calibration: MULTILATERATION_CALIBRATION,
      vote: 'multilateration',
      falseKm: 1000,
    });
    expect(multi.detected / multi.falseClaims).toBeGreaterThan(fair!.caught / sep.falseClaims);
    // the claims the oracle misses are the near ones
    expect(fair!.byKm[0]).toEqual({ fromKm: 1000, claims: 5784, caught: 817 });
    expect(ninety!.byKm[0]).toEqual({ fromKm: 1000, claims: 5784, caught: 3117 });
  });
});
