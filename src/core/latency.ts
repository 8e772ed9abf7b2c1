import type { Rng } from './clock.js';

/**
 * The network latency model: the round-trip time between two points on Earth, estimated from
 * the great-circle distance between them.
 *
 *   rtt(a, b) = baseMs + 2 × distanceKm(a, b) × inflation / FIBER_KM_PER_MS
 *
 * Light in fibre covers about 204 km per millisecond; real paths are longer than the great
 * circle (cables follow coasts and roads, traffic goes through exchange points) and every hop
 * adds queuing and processing time. `inflation` is the ratio of the real path to the great
 * circle, `baseMs` the fixed cost of the first and last miles and the equipment.
 *
 * The constants are fitted on real measurements: WonderProxy's "A day in the life of the
 * internet" (2020-07-19, via sm86/geo-latency-data @ ad13da0f): 246 servers with their
 * coordinates and the average RTT of 59,887 server pairs over one day. The fit minimises the
 * mean absolute relative error (least absolute deviations, by iteratively reweighted least
 * squares) of the average RTT; `fitLatencyModel` does it and test/unit/core/latency.test.ts
 * recomputes it on the real data and checks the constants below against it.
 *
 * Result on that data: median relative error 16.6%, p90 46% (the p90 is long paths that detour,
 * e.g. through another continent). The indexer uses `estimateRttMs`; the simulator draws from
 * `sampleRttMs`, which spreads paths around the estimate as the real data does and adds
 * per-sample jitter, from an injected Rng so that a run is reproducible from its seed.
 */

/** Speed of light in optical fibre (refractive index ≈ 1.468), km per millisecond. */
export const FIBER_KM_PER_MS = 299_792.458 / 1.468 / 1000;

export interface LatencyModel {
  /** fixed cost of a round trip, whatever the distance (ms) */
  baseMs: number;
  /** real path length / great-circle distance */
  inflation: number;
  /** standard deviation of ln(real RTT / estimate) across paths: how far a path strays */
  pathLogSigma: number;
  /** typical jitter of one sample, relative to the path's RTT (median mdev / avg) */
  jitter: number;
}

/**
 * Fitted on WonderProxy 2020-07-19 (see the module comment): base 7.495 ms, inflation 1.7375,
 * path spread σ = 0.342 (log), jitter 0.51%.
 */
export const LATENCY_MODEL: Readonly<LatencyModel> = Object.freeze({
  baseMs: 7.495,
  inflation: 1.7375,
  pathLogSigma: 0.3423,
  jitter: 0.00506,
});

/** milliseconds of round trip per km of great-circle distance, for a model */
export function msPerKm(model: Readonly<LatencyModel> = LATENCY_MODEL): number {
  return (2 * model.inflation) / FIBER_KM_PER_MS;
}

const EARTH_RADIUS_KM = 6371.0088;
const RAD = Math.PI / 180;

/**
 * Great-circle distance in km between two coordinates (haversine), the same formula as
 * `distanceKm` in geo.ts, on plain numbers so hot loops need no objects.
 */
export function haversineKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const dLat = (lat2 - lat1) * RAD;
  const dLon = (lon2 - lon1) * RAD;
  const s1 = Math.sin(dLat / 2);
  const s2 = Math.sin(dLon / 2);
  const h = s1 * s1 + Math.cos(lat1 * RAD) * Math.cos(lat2 * RAD) * s2 * s2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** The RTT the model expects over a great-circle distance. */
export function rttForKm(km: number, model: Readonly<LatencyModel> = LATENCY_MODEL): number {
  return model.baseMs + km * msPerKm(model);
}

/** The largest distance whose estimated RTT stays within `rttMs` (negative: none). */
export function kmForRtt(rttMs: number, model: Readonly<LatencyModel> = LATENCY_MODEL): number {
  return (rttMs - model.baseMs) / msPerKm(model);
}

/** The estimated round-trip time between two points, in ms. */
export function estimateRttMs(
  a: { lat: number; lon: number },
  b: { lat: number; lon: number },
  model: Readonly<LatencyModel> = LATENCY_MODEL,
): number {
  return rttForKm(haversineKm(a.lat, a.lon, b.lat, b.lon), model);
}

/** A standard normal draw (Box–Muller) from an injected Rng. */
export function normalDraw(rng: Rng): number {
  const u = 1 - rng.next(); // (0, 1]: log(0) never happens
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * One simulated RTT sample between two points: the estimate, times a log-normal path factor
 * (how far real paths of that length stray from the estimate), plus jitter. Deterministic for a
 * seeded Rng. A simulator that wants a path to keep its deviation draws `pathFactor` once per
 * pair and passes it in.
 */
export function sampleRttMs(
  a: { lat: number; lon: number },
  b: { lat: number; lon: number },
  rng: Rng,
  opts: { model?: Readonly<LatencyModel>; pathFactor?: number } = {},
): number {
  const model = opts.model ?? LATENCY_MODEL;
  const path = opts.pathFactor ?? drawPathFactor(rng, model);
  const rtt = estimateRttMs(a, b, model) * path;
  // |N(0,1)| has mean √(2/π) ≈ 0.8: scaled so the mean deviation is the measured jitter
  return rtt * (1 + model.jitter * Math.abs(normalDraw(rng)) * 1.2533);
}

/** A path's persistent deviation from the estimate: exp(σ·z). */
export function drawPathFactor(rng: Rng, model: Readonly<LatencyModel> = LATENCY_MODEL): number {
  return Math.exp(model.pathLogSigma * normalDraw(rng));
}

/** One measured path: its great-circle length, its average RTT and (optionally) its mdev. */
export interface RttSample {
  km: number;
  rttMs: number;
  mdevMs?: number;
}

export interface LatencyFit extends LatencyModel {
  samples: number;
  /** median |estimate − measured| / measured */
  medianRelError: number;
  /** 90th percentile of the same */
  p90RelError: number;
}

/**
 * Fits `baseMs` and `inflation` to measured RTTs by least absolute relative deviations
 * (iteratively reweighted least squares; robust to the long detours a plain least squares
 * would chase), then measures the path spread, the jitter and the relative errors.
 */
export function fitLatencyModel(samples: readonly RttSample[], iterations = 100): LatencyFit {
  const ok = samples.filter((s) => s.rttMs > 0 && Number.isFinite(s.km) && s.km >= 0);
  if (ok.length < 2) throw new RangeError('fitLatencyModel needs at least two samples');
  let base = 0;
  let slope = 0.0175;
  for (let it = 0; it < iterations; it++) {
    // weighted least squares of y ≈ base + slope·km with weight 1 / (y² · |relative residual|)
    let s00 = 0;
    let s01 = 0;
    let s11 = 0;
    let t0 = 0;
    let t1 = 0;
    for (const s of ok) {
      const y = s.rttMs;
      const rel = Math.abs(base + slope * s.km - y) / y;
      const w = it === 0 ? 1 / (y * y) : 1 / (y * y * Math.max(rel, 1e-4));
      s00 += w;
      s01 += w * s.km;
      s11 += w * s.km * s.km;
      t0 += w * y;
      t1 += w * y * s.km;
    }
    const det = s00 * s11 - s01 * s01;
    base = (t0 * s11 - t1 * s01) / det;
    slope = (s00 * t1 - s01 * t0) / det;
  }
  const rel: number[] = [];
  const logs: number[] = [];
  const jit: number[] = [];
  for (const s of ok) {
    const est = base + slope * s.km;
    rel.push(Math.abs(est - s.rttMs) / s.rttMs);
    logs.push(Math.log(s.rttMs / est));
    if (s.mdevMs !== undefined) jit.push(s.mdevMs / s.rttMs);
  }
  const mean = logs.reduce((a, b) => a + b, 0) / logs.length;
  const sigma = Math.sqrt(logs.reduce((a, b) => a + (b - mean) ** 2, 0) / logs.length);
  return {
    baseMs: base,
    inflation: (slope * FIBER_KM_PER_MS) / 2,
    pathLogSigma: sigma,
    jitter: jit.length ? quantile(jit, 0.5) : 0,
    samples: ok.length,
    medianRelError: quantile(rel, 0.5),
    p90RelError: quantile(rel, 0.9),
  };
}

/** Relative errors |estimate − measured| / measured of a model on measured paths. */
export function relativeErrors(
  samples: readonly RttSample[],
  model: Readonly<LatencyModel> = LATENCY_MODEL,
): { median: number; p90: number } {
  const rel = samples
    .filter((s) => s.rttMs > 0)
    .map((s) => Math.abs(rttForKm(s.km, model) - s.rttMs) / s.rttMs);
  return { median: quantile(rel, 0.5), p90: quantile(rel, 0.9) };
}

/** Nearest-rank quantile (q in 0..1) of a sample; sorts a copy. */
function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
