import { describe, expect, it } from 'vitest';
import { findCity, haversineKm, type City } from '../../../../src/core/index.js';
import {
  calibrateLandmark,
  claimMarginMs,
  forgivenSlowPaths,
  DEFAULT_BOUNDS,
  feasibleFraction,
  lowerMs,
  multilaterate,
  restingOn,
  upperMs,
  type LocationBounds,
  type Vantage,
} from '../../../../src/checker/location/index.js';

const at = (name: string) => findCity(name);
const place = (c: City) => ({ city: c.city, country: c.country, lat: c.lat, lon: c.lon });

/** Calibrated bounds like Frankfurt's own on WonderProxy (docs/verification.md): default lower line. */
const B: LocationBounds = { lower: DEFAULT_BOUNDS.lower, upper: { baseMs: 58.6, msPerKm: 0.0328 } };

/** An honest RTT from `from` to a host at `to`: 20% of the way between the lines, plus `extraMs`. */
function honestRtt(from: City, to: City, extraMs = 0): number {
  const km = haversineKm(from.lat, from.lon, to.lat, to.lon);
  return lowerMs(B, km) + 0.2 * (upperMs(B, km) - lowerMs(B, km)) + extraMs;
}

const vantagesFor = (truth: City, names: string[], extraMs = 0): Vantage[] =>
  names.map((n) => ({ from: place(at(n)), rttMs: honestRtt(at(n), truth, extraMs), bounds: B }));

const FIVE = ['Frankfurt', 'Ashburn', 'Singapore', 'Los Angeles', 'Sao Paulo'];

describe('multilaterate', () => {
  it('passes an honest claim seen from five vantage points', () => {
    const m = multilaterate(place(at('Warsaw')), vantagesFor(at('Warsaw'), FIVE));
    expect(m.ok).toBe(true);
    expect(m.constraints).toHaveLength(5);
    expect(m.reason).toMatch(/^Warsaw, PL fits all 5 vantage points/);
  });

  it('passes an honest host behind a slow access link (the same delay on every path)', () => {
    const m = multilaterate(place(at('Mumbai')), vantagesFor(at('Mumbai'), FIVE, 150));
    expect(m.ok).toBe(true);
    expect(m.accessDelayMs).toBeGreaterThan(0);
  });

  it('refutes a host in Singapore claiming Frankfurt: the Singapore vantage point is too fast', () => {
    const m = multilaterate(place(at('Frankfurt')), vantagesFor(at('Singapore'), FIVE));
    expect(m.ok).toBe(false);
    expect(m.reason).toMatch(
      /^RTT from Singapore, SG is [\d.]+ ms: the container is within [\d,]+ km of Singapore, SG, but it claims Frankfurt, DE/,
    );
  });

  it('refutes a claim near one vantage point by a host near another (too slow from one, too fast from the other)', () => {
    // a host in Ashburn claims Paris: Frankfurt sees it far too slow, Ashburn far too fast
    const m = multilaterate(place(at('Paris')), vantagesFor(at('Ashburn'), ['Frankfurt', 'Ashburn']));
    expect(m.ok).toBe(false);
  });

  it("says when a refutation rests on one other checker's measurement alone (a false low RTT refutes any honest host)", () => {
    const truth = at('Warsaw');
    const shared = (vs: Vantage[]) => vs.map((v, i) => (i === 0 ? v : { ...v, by: `checker-${i}` }));
    const untrusted = (v: Vantage) => v.by !== undefined;
    // an honest host, and Singapore's checker says it answered in 2 ms
    const poisoned = shared(vantagesFor(truth, FIVE));
    poisoned[2] = { ...poisoned[2]!, rttMs: 2 };
    expect(multilaterate(place(truth), poisoned).ok).toBe(false);
    expect(restingOn(place(truth), poisoned, untrusted)).toEqual([2]);
    // the same RTT measured by the voter itself is its own word: nothing it cannot check
    const own = [poisoned[2]!, ...poisoned.filter((_, i) => i !== 2)].map((v, i) =>
      i === 0 ? { ...v, by: undefined } : v,
    );
    expect(restingOn(place(truth), own, untrusted)).toEqual([]);
    // a host in Los Angeles claiming Frankfurt is refuted without any one of the others
    const far = shared(vantagesFor(at('Los Angeles'), FIVE));
    expect(multilaterate(place(at('Frankfurt')), far).ok).toBe(false);
    expect(restingOn(place(at('Frankfurt')), far, untrusted)).toEqual([]);
    // a host in Singapore claiming Frankfurt: Frankfurt's vote rests on Singapore's disk (to
    // Frankfurt alone it is slow, which may be access delay); Singapore's own vote does not
    const sg = shared(vantagesFor(at('Singapore'), FIVE));
    expect(restingOn(place(at('Frankfurt')), sg, untrusted)).toEqual([2]);
    const sgOwn = [sg[2]!, ...sg.filter((_, i) => i !== 2)].map((v, i) =>
      i === 0 ? { ...v, by: undefined } : v,
    );
    expect(restingOn(place(at('Frankfurt')), sgOwn, untrusted)).toEqual([]);
    // an honest claim rests on nothing
    expect(restingOn(place(truth), shared(vantagesFor(truth, FIVE)), untrusted)).toEqual([]);
  });

  it('one vantage point alone never refutes a claim for being slow (that may be access delay)', () => {
    const truth = at('Sydney');
    const m = multilaterate(place(at('Frankfurt')), [
      { from: place(at('Frankfurt')), rttMs: honestRtt(at('Frankfurt'), truth), bounds: B },
    ]);
    expect(m.ok).toBe(true);
  });

  it('more vantage points never loosen the verdict and shrink the feasible region', () => {
    const truth = at('Chicago');
    const names = ['Frankfurt', 'Singapore', 'Ashburn', 'Los Angeles', 'Sao Paulo', 'Tokyo', 'Dallas'];
    const areas: number[] = [];
    const margins: number[] = [];
    for (let n = 1; n <= names.length; n++) {
      const vs = vantagesFor(truth, names.slice(0, n));
      areas.push(feasibleFraction(vs, 3));
      margins.push(claimMarginMs(vs, place(at('Toronto'))));
    }
    for (let i = 1; i < areas.length; i++) {
      expect(areas[i]).toBeLessThanOrEqual(areas[i - 1]!);
      expect(margins[i]).toBeLessThanOrEqual(margins[i - 1]!);
    }
    expect(areas[areas.length - 1]!).toBeLessThan(areas[0]! / 3);
    // the truth itself stays inside
    expect(claimMarginMs(vantagesFor(truth, names), place(truth))).toBeGreaterThanOrEqual(0);
  });

  it('rejects vantage points with impossible places or RTTs', () => {
    expect(() => multilaterate(place(at('Paris')), [])).toThrow(/at least one vantage point/);
    expect(() => multilaterate(place(at('Paris')), [{ from: { lat: 91, lon: 0 }, rttMs: 5 }])).toThrow(
      /vantage point 1: needs a place/,
    );
    expect(() =>
      multilaterate(place(at('Paris')), [{ from: { lat: 0, lon: 0 }, rttMs: Number.NaN }]),
    ).toThrow(/RTT of 0 ms or more/);
    expect(() => multilaterate(place(at('Paris')), [{ from: { lat: 0, lon: 0 }, rttMs: -1 }])).toThrow(
      /RTT of 0 ms or more/,
    );
  });
  it('with 8 or more vantage points one slow path is forgiven, never a fast one', () => {
    expect([1, 7, 8, 14, 15].map(forgivenSlowPaths)).toEqual([0, 0, 1, 1, 2]);
    const truth = at('Chicago');
    const EIGHT = [...FIVE, 'Tokyo', 'Sydney', 'Johannesburg'];
    const vs = vantagesFor(truth, EIGHT);
    // one detour of 400 ms on the Tokyo path: no common access delay explains it
    vs[5] = { ...vs[5]!, rttMs: vs[5]!.rttMs + 400 };
    expect(claimMarginMs(vs, place(truth), 0)).toBeLessThan(0);
    expect(claimMarginMs(vs, place(truth))).toBeGreaterThanOrEqual(0);
    const m = multilaterate(place(truth), vs);
    expect(m.ok).toBe(true);
    expect(m.marginMs).toBeCloseTo(claimMarginMs(vs, place(truth)), 9);
    // the same eight, two paths slow: only one is forgiven
    const two = [...vs];
    two[6] = { ...two[6]!, rttMs: two[6]!.rttMs + 400 };
    expect(multilaterate(place(truth), two).ok).toBe(false);
    // a path faster than its bestline still refutes (a liar near Frankfurt claiming Chicago)
    const liar = vantagesFor(at('Paris'), EIGHT);
    expect(multilaterate(place(truth), liar).ok).toBe(false);
    expect(multilaterate(place(truth), liar).reason).toMatch(/within .* km of Frankfurt/);
  });

  it('calibrateLandmark caps the bestline intercept with maxLowerBaseMs', () => {
    // far points on a line with a 20 ms intercept, one near point under it
    const pts = [2000, 4000, 6000, 8000].map((d) => ({ distanceKm: d, rttMs: 20 + 0.0102 * d }));
    const free = calibrateLandmark(pts, { lowerSlackMs: 0 });
    expect(free.lower.baseMs).toBeGreaterThan(15);
    const capped = calibrateLandmark(pts, { lowerSlackMs: 1, maxLowerBaseMs: 0 });
    expect(capped.lower.baseMs).toBe(-1);
    expect(capped.lower.msPerKm).toBeCloseTo(free.lower.msPerKm, 9);
  });
});
