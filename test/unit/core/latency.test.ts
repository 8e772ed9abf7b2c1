import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  CITIES,
  distanceKm,
  estimateRttMs,
  fitLatencyModel,
  haversineKm,
  kmForRtt,
  LATENCY_MODEL,
  relativeErrors,
  rttForKm,
  sampleRttMs,
  SeededRng,
  type RttSample,
} from '../../../src/core/index.js';

/** WonderProxy's real RTT measurements, shared by the workplace (../shared/data from the repo root). */
const DIR = fileURLToPath(new URL('../../../../shared/data/rtt/wonderproxy/', import.meta.url));
const SERVERS = `${DIR}servers-2020-07-19.csv`;
const PINGS = `${DIR}pings-2020-07-19-2020-07-20-grouped.csv`;
const present = existsSync(SERVERS) && existsSync(PINGS);
const title = present
  ? `the latency model against WonderProxy's real RTTs (${DIR})`
  : `the latency model against WonderProxy's real RTTs: SKIPPED, ${DIR} not found (real data lives in ../shared/data, only in the Aethir workplace)`;

/** server id -> coordinates; then every measured pair of distinct, known servers. */
function loadSamples(): RttSample[] {
  const servers = new Map<string, { lat: number; lon: number }>();
  const lines = readFileSync(SERVERS, 'utf8').trim().split('\n');
  const head = lines[0]!.split(',');
  const [iId, iLat, iLon] = ['id', 'latitude', 'longitude'].map((h) => head.indexOf(h));
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    servers.set(f[iId!]!, { lat: Number(f[iLat!]), lon: Number(f[iLon!]) });
  }
  const out: RttSample[] = [];
  const pings = readFileSync(PINGS, 'utf8').trim().split('\n');
  const ph = pings[0]!.split(',');
  const [iSrc, iDst, iAvg, iMdev] = ['source', 'destination', 'avg', 'mdev'].map((h) => ph.indexOf(h));
  for (const line of pings.slice(1)) {
    const f = line.split(',');
    if (f[iSrc!] === f[iDst!]) continue;
    const a = servers.get(f[iSrc!]!);
    const b = servers.get(f[iDst!]!);
    if (!a || !b) continue;
    out.push({
      km: haversineKm(a.lat, a.lon, b.lat, b.lon),
      rttMs: Number(f[iAvg!]),
      mdevMs: Number(f[iMdev!]),
    });
  }
  return out;
}

describe('latency model', () => {
  it('estimates an RTT from the great-circle distance: base + distance × inflation / fibre speed', () => {
    const fra = CITIES.find((c) => c.city === 'Frankfurt')!;
    const ams = CITIES.find((c) => c.city === 'Amsterdam')!;
    const syd = CITIES.find((c) => c.city === 'Sydney')!;
    expect(estimateRttMs(fra, fra)).toBe(LATENCY_MODEL.baseMs);
    const near = estimateRttMs(fra, ams);
    const far = estimateRttMs(fra, syd);
    // Frankfurt–Amsterdam is ~10 ms in practice; Frankfurt–Sydney ~250-300 ms
    expect(near).toBeGreaterThan(8);
    expect(near).toBeLessThan(15);
    expect(far).toBeGreaterThan(200);
    expect(far).toBeLessThan(350);
    expect(haversineKm(fra.lat, fra.lon, syd.lat, syd.lon)).toBeCloseTo(distanceKm(fra, syd), 6);
  });

  it('kmForRtt inverts rttForKm', () => {
    for (const ms of [10, 50, 80, 150]) expect(rttForKm(kmForRtt(ms))).toBeCloseTo(ms, 9);
    expect(kmForRtt(LATENCY_MODEL.baseMs / 2)).toBeLessThan(0);
  });

  it('samples are reproducible from a seed, spread around the estimate, never below zero', () => {
    const a = { lat: 50.11, lon: 8.68 };
    const b = { lat: 40.71, lon: -74.0 };
    const draw = (seed: string) => {
      const rng = new SeededRng(seed);
      return Array.from({ length: 2000 }, () => sampleRttMs(a, b, rng));
    };
    const xs = draw('lat');
    expect(draw('lat')).toEqual(xs);
    expect(draw('other')).not.toEqual(xs);
    expect(xs.every((x) => x > 0)).toBe(true);
    const est = estimateRttMs(a, b);
    const logs = xs.map((x) => Math.log(x / est));
    const mean = logs.reduce((s, x) => s + x, 0) / logs.length;
    const sd = Math.sqrt(logs.reduce((s, x) => s + (x - mean) ** 2, 0) / logs.length);
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(sd).toBeGreaterThan(LATENCY_MODEL.pathLogSigma * 0.9);
    expect(sd).toBeLessThan(LATENCY_MODEL.pathLogSigma * 1.1);
    // a fixed path factor leaves only the jitter
    const rng = new SeededRng(1);
    const fixed = Array.from({ length: 200 }, () => sampleRttMs(a, b, rng, { pathFactor: 1 }));
    for (const x of fixed) {
      expect(x).toBeGreaterThanOrEqual(est);
      expect(x).toBeLessThan(est * 1.1);
    }
  });

  it('fits a known line exactly', () => {
    const samples = Array.from({ length: 50 }, (_, i) => ({ km: i * 200, rttMs: rttForKm(i * 200) }));
    const fit = fitLatencyModel(samples);
    expect(fit.baseMs).toBeCloseTo(LATENCY_MODEL.baseMs, 3);
    expect(fit.inflation).toBeCloseTo(LATENCY_MODEL.inflation, 4);
    expect(fit.medianRelError).toBeLessThan(1e-6);
  });
});

describe.skipIf(!present)(title, () => {
  it('the constants in code are the fit on the real data (and its error is reported)', () => {
    const samples = loadSamples();
    expect(samples.length).toBeGreaterThan(50_000);
    const fit = fitLatencyModel(samples);
    const inCode = relativeErrors(samples, LATENCY_MODEL);
    console.log(
      `latency model fit on ${fit.samples} WonderProxy pairs: base ${fit.baseMs.toFixed(3)} ms, ` +
        `inflation ${fit.inflation.toFixed(4)}, path σ ${fit.pathLogSigma.toFixed(4)}, jitter ${(fit.jitter * 100).toFixed(3)}%; ` +
        `relative error median ${(fit.medianRelError * 100).toFixed(1)}%, p90 ${(fit.p90RelError * 100).toFixed(1)}% ` +
        `(constants in code: median ${(inCode.median * 100).toFixed(1)}%, p90 ${(inCode.p90 * 100).toFixed(1)}%)`,
    );
    expect(Math.abs(LATENCY_MODEL.baseMs - fit.baseMs)).toBeLessThan(0.05);
    expect(Math.abs(LATENCY_MODEL.inflation - fit.inflation) / fit.inflation).toBeLessThan(0.002);
    expect(Math.abs(LATENCY_MODEL.pathLogSigma - fit.pathLogSigma)).toBeLessThan(0.002);
    expect(Math.abs(LATENCY_MODEL.jitter - fit.jitter)).toBeLessThan(0.0002);
    // what the model is worth: the code's constants do as well as the fit
    expect(inCode.median).toBeLessThan(fit.medianRelError + 0.002);
    expect(inCode.p90).toBeLessThan(fit.p90RelError + 0.005);
    // and far better than distance alone at the speed of light in fibre, no base, no detours
    const naive = relativeErrors(samples, { baseMs: 0, inflation: 1, pathLogSigma: 0, jitter: 0 });
    expect(inCode.median).toBeLessThan(naive.median);
  });
});
