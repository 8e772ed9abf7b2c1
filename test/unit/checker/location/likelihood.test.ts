import { describe, expect, it } from 'vitest';
import { findCity, haversineKm, type City } from '../../../../src/core/index.js';
import {
  DEFAULT_BOUNDS,
  fitDelayModel,
  likelihoodRatio,
  lowerMs,
  vectorScore,
  type Vantage,
} from '../../../../src/checker/location/index.js';

const place = (name: string) => {
  const c: City = findCity(name);
  return { city: c.city, country: c.country, lat: c.lat, lon: c.lon };
};
type P = ReturnType<typeof place>;

const FIVE = ['Frankfurt', 'Ashburn', 'Singapore', 'Los Angeles', 'Sao Paulo'].map(place);
const CITIES_AT = ['Warsaw', 'Madrid', 'Stockholm', 'Chicago', 'Tokyo', 'Sydney', 'Mumbai', 'Dallas'].map(
  place,
);

/** An honest host's RTTs: the lower line, + its access delay, + a path delay that grows with length. */
const rtts = (truth: P, accessMs: number, pathMs = (km: number, i: number) => 0.004 * km + i): Vantage[] =>
  FIVE.map((from, i) => {
    const km = haversineKm(from.lat, from.lon, truth.lat, truth.lon);
    return { from, rttMs: lowerMs(DEFAULT_BOUNDS, km) + accessMs + pathMs(km, i) };
  });

// calibration: hosts at known places, each with a few access delays
const model = fitDelayModel(
  CITIES_AT.flatMap((c) => [0, 5, 40].map((a) => ({ at: c, vantages: rtts(c, a) }))),
);

describe('likelihood judge (Spotter-style score of the whole RTT vector)', () => {
  it('absorbs a common access delay: an honest vector scores the same at its place, slow or fast', () => {
    for (const c of CITIES_AT) {
      const s0 = vectorScore(model, rtts(c, 0), c);
      for (const access of [25, 120]) expect(vectorScore(model, rtts(c, access), c)).toBeCloseTo(s0, 9);
    }
  });

  it("refutes a liar by the shape of its vector: its ratio at the claim beyond every honest host's", () => {
    const tau = Math.max(...CITIES_AT.map((c) => likelihoodRatio(model, rtts(c, 7), c, CITIES_AT)));
    const vs = rtts(place('Madrid'), 10);
    // (Warsaw, 2,300 km away but in about the same direction from four of the five, is not beyond
    // it: the geometric limit docs/verification.md describes)
    for (const claim of ['Stockholm', 'Chicago', 'Tokyo', 'Mumbai'].map(place)) {
      expect(likelihoodRatio(model, vs, claim, CITIES_AT)).toBeGreaterThan(tau);
      expect(vectorScore(model, vs, claim)).toBeGreaterThan(vectorScore(model, vs, place('Madrid')));
    }
  });

  it('one path slower than any seen costs at most log(n + 1): one detour alone cannot fail a host', () => {
    const c = place('Warsaw');
    const vs = rtts(c, 5);
    const slow = vs.map((v, i) => (i === 2 ? { ...v, rttMs: v.rttMs + 500 } : v));
    const n = Math.max(...model.residuals.map((b) => b.length));
    expect(vectorScore(model, slow, c) - vectorScore(model, vs, c)).toBeLessThanOrEqual(
      Math.log(n + 1) + 1e-9,
    );
  });

  it('is deterministic, refuses an empty vector, and skips hosts with fewer than two vantage points', () => {
    const vs = rtts(place('Chicago'), 3);
    expect(vectorScore(model, vs, place('Dallas'))).toBe(vectorScore(model, vs, place('Dallas')));
    expect(() => vectorScore(model, [], place('Dallas'))).toThrow(RangeError);
    const lone = fitDelayModel([{ at: place('Dallas'), vantages: vs.slice(0, 1) }]);
    expect(lone.residuals.every((b) => b.length === 0)).toBe(true);
    // an empty model judges every delay as ordinary, but never a place some RTT is too fast for
    expect(vectorScore(lone, vs, place('Chicago'))).toBe(0);
    expect(vectorScore(lone, vs, place('Tokyo'))).toBe(Number.POSITIVE_INFINITY);
    expect(likelihoodRatio(lone, vs, place('Tokyo'), CITIES_AT)).toBe(Number.POSITIVE_INFINITY);
  });
});
