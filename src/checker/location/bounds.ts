import { FIBER_KM_PER_MS } from '../../core/latency.js';

/**
 * The distance bounds of the location check (docs/verification.md, "Location"): for a checker,
 * the RTTs a container at great-circle distance d from it may show, as two lines
 *
 *   lowerMs(d) = lower.baseMs + lower.msPerKm · d   ≤   RTT   ≤   upperMs(d) = upper.baseMs + upper.msPerKm · d
 *
 * The lower line is Gueye et al.'s "bestline" (Constraint-based geolocation of Internet hosts,
 * IEEE/ACM ToN 2006): the line under all of a landmark's (distance, min RTT) points that is closest
 * to them, with a slope at least that of light in fibre and a non-negative intercept, so it never
 * allows more distance than physics does. An RTT below it means the container is closer to the
 * checker than its claim allows; queuing and detours only add delay, so no container can beat it
 * by waiting. The upper line is a high quantile line of (distance, average RTT) plus slack: a
 * container slower than it answers like one much farther away than it claims (or it adds delay on
 * purpose, which a checker cannot tell from distance: either way the claim is not confirmed).
 */

/** A line RTT = baseMs + msPerKm × km. */
export interface RttLine {
  baseMs: number;
  msPerKm: number;
}

export interface LocationBounds {
  /** no RTT from a container at distance d is below this line (the bestline, minus slack) */
  lower: RttLine;
  /** an honest container's RTT stays below this line (a high quantile line, plus slack) */
  upper: RttLine;
}

/** Round trip over a great-circle distance at the speed of light in fibre: ms per km. */
export const LIGHT_MS_PER_KM = 2 / FIBER_KM_PER_MS;

/** Quantile of the upper line, and the slack added to it (ms), used by `calibrateLandmark`. */
export const UPPER_QUANTILE = 0.99;
export const UPPER_SLACK_MS = 30;
/** Slack (ms) taken off the bestline's intercept, used by `calibrateLandmark`. */
export const LOWER_SLACK_MS = 1;

/**
 * The calibration checkers use for multilateration (multilaterate.ts), chosen on WonderProxy's
 * pairs (bench/location.bench.ts: each checker's bounds 2-fold cross-validated, no honest server
 * failed with 3, 5, 8 or 12 checkers; these three numbers were chosen by looking at those held-out
 * results, so they are not themselves held out):
 * - the bestline's intercept at most 0 before its 1 ms of slack (`maxLowerBaseMs`): an intercept
 *   fitted on a landmark's far points overshoots its near ones (Luxembourg's bestline starts at
 *   5.4 ms, Paris answers it in 8.2 ms from 288 km);
 * - its slope less 15% (long paths on fast cables: Sydney answers Los Angeles 8.5 ms under the
 *   bestline Los Angeles fits on the other servers, Auckland answers Sydney 0.4 ms under Sydney's);
 * - the 99% quantile line plus 60 ms (paths that one slow link delays for some vantage points
 *   only: Cape Town, Vladivostok; with 8 or more vantage points multilaterate.ts also forgives
 *   the slowest path).
 */
export const MULTILATERATION_CALIBRATION: Readonly<CalibrationOptions> = Object.freeze({
  lowerSlackFraction: 0.15,
  upperSlackMs: 60,
  maxLowerBaseMs: 0,
});

/** The calibration of stop 22 (the bench's baseline): slope less 7%, 99% line plus 60 ms. */
export const MULTILATERATION_CALIBRATION_V1: Readonly<CalibrationOptions> = Object.freeze({
  lowerSlackFraction: 0.07,
  upperSlackMs: 60,
});

/**
 * The default bounds, for a checker that has not calibrated its own: `calibrateLandmark` over all
 * 56,621 pairs of WonderProxy's "A day in the life of the internet" (2020-07-19, via
 * sm86/geo-latency-data @ ad13da0f) between the 239 servers whose listed coordinates are physically
 * possible (`impossibleServers` removes 7): lower = the bestline of the pairs' min RTTs (intercept
 * 0.216 ms, 0.010156 ms per km: 98.5 km of distance per ms of RTT, 3.7% slower than light in
 * fibre) minus 1 ms; upper = the 99% quantile line of the pairs' average RTTs (176.3 ms +
 * 0.0208 ms/km) plus 30 ms. Pooled over every place on Earth, the upper line has to allow the
 * worst-connected hosts (Lagos, Kampala, hosts behind China's firewall), so it is loose: a checker
 * should calibrate its own (`calibrateLandmark` on its RTTs to landmarks), which is much tighter
 * (Frankfurt's own: 58.6 ms + 0.0328 ms/km). test/unit/checker/location/wonderproxy.test.ts
 * recomputes these constants from the data.
 */
export const DEFAULT_BOUNDS: Readonly<LocationBounds> = Object.freeze({
  lower: Object.freeze({ baseMs: -0.784, msPerKm: 0.010156 }),
  upper: Object.freeze({ baseMs: 206.32, msPerKm: 0.020796 }),
});

export function lowerMs(bounds: Readonly<LocationBounds>, km: number): number {
  return Math.max(0, bounds.lower.baseMs + bounds.lower.msPerKm * km);
}

export function upperMs(bounds: Readonly<LocationBounds>, km: number): number {
  return bounds.upper.baseMs + bounds.upper.msPerKm * km;
}

/** The farthest a container answering in `rttMs` can be (from the lower line). */
export function maxKmFor(bounds: Readonly<LocationBounds>, rttMs: number): number {
  return Math.max(0, (rttMs - bounds.lower.baseMs) / bounds.lower.msPerKm);
}

/** The nearest an honest container answering in `rttMs` can be (from the upper line). */
export function minKmFor(bounds: Readonly<LocationBounds>, rttMs: number): number {
  if (bounds.upper.msPerKm <= 0) return rttMs > bounds.upper.baseMs ? Number.POSITIVE_INFINITY : 0;
  return Math.max(0, (rttMs - bounds.upper.baseMs) / bounds.upper.msPerKm);
}

/** One measurement a landmark calibrates on: the RTT to a host at a known distance. */
export interface LandmarkMeasurement {
  distanceKm: number;
  rttMs: number;
}

export interface CalibrationOptions {
  /** quantile of the upper line (default UPPER_QUANTILE) */
  upperQuantile?: number;
  /** ms added to the upper line (default UPPER_SLACK_MS) */
  upperSlackMs?: number;
  /** ms taken off the bestline (default LOWER_SLACK_MS) */
  lowerSlackMs?: number;
  /**
   * share of the bestline's slope taken off it (default 0), never below light in fibre: slack
   * that grows with distance, for the long paths (transoceanic cables) a landmark's calibration
   * points may not show
   */
  lowerSlackFraction?: number;
  /**
   * the bestline's intercept is capped at this (ms) before `lowerSlackMs` is taken off (default:
   * no cap); 0 makes the lower line start at the origin, so short paths are judged by its slope
   */
  maxLowerBaseMs?: number;
  /**
   * separate RTTs for the lower line (e.g. each pair's minimum over a day, where `measurements`
   * hold averages); default: `measurements`
   */
  lowerMeasurements?: readonly LandmarkMeasurement[];
}

/**
 * A checker's own bounds from its RTTs to hosts at known places (other checkers, landmarks):
 * the bestline of the points (minus `lowerSlackMs`) and their `upperQuantile` line (plus
 * `upperSlackMs`). Points faster than light in fibre are impossible (the host is not where it is
 * said to be) and are left out. Needs at least 2 usable points; with few points the quantile line
 * is crude, so a checker should calibrate on dozens.
 */
export function calibrateLandmark(
  measurements: readonly LandmarkMeasurement[],
  opts: CalibrationOptions = {},
): LocationBounds {
  const usable = (ms: readonly LandmarkMeasurement[]) =>
    ms.filter(
      (m) =>
        Number.isFinite(m.distanceKm) &&
        Number.isFinite(m.rttMs) &&
        m.distanceKm >= 0 &&
        m.rttMs > 0 &&
        m.rttMs >= m.distanceKm * LIGHT_MS_PER_KM,
    );
  const up = usable(measurements);
  const low = opts.lowerMeasurements ? usable(opts.lowerMeasurements) : up;
  if (up.length < 2 || low.length < 2)
    throw new RangeError('calibrateLandmark needs at least two measurements that light in fibre allows');
  const best = bestline(low);
  const q = quantileLine(up, opts.upperQuantile ?? UPPER_QUANTILE);
  return {
    lower: {
      baseMs:
        Math.min(best.baseMs, opts.maxLowerBaseMs ?? Number.POSITIVE_INFINITY) -
        (opts.lowerSlackMs ?? LOWER_SLACK_MS),
      msPerKm: Math.max(LIGHT_MS_PER_KM, best.msPerKm * (1 - (opts.lowerSlackFraction ?? 0))),
    },
    upper: { baseMs: q.baseMs + (opts.upperSlackMs ?? UPPER_SLACK_MS), msPerKm: q.msPerKm },
  };
}

/**
 * Gueye et al.'s bestline: among the lines y = b + m·x with m ≥ LIGHT_MS_PER_KM and b ≥ 0 that lie
 * under every point, the one closest to them (least total vertical distance). For a slope m the
 * highest intercept is min(y − m·x); the total distance is concave in m, so a ternary search over
 * m finds the optimum. Points must be at or above the speed-of-light line.
 */
export function bestline(points: readonly LandmarkMeasurement[]): RttLine {
  const m0 = LIGHT_MS_PER_KM;
  let mMax = Number.POSITIVE_INFINITY;
  let sumX = 0;
  for (const p of points) {
    sumX += p.distanceKm;
    if (p.distanceKm > 0) mMax = Math.min(mMax, p.rttMs / p.distanceKm);
  }
  if (!Number.isFinite(mMax)) mMax = m0; // all points at distance 0: the slope does not matter
  const intercept = (m: number) => {
    let b = Number.POSITIVE_INFINITY;
    for (const p of points) b = Math.min(b, p.rttMs - m * p.distanceKm);
    return b;
  };
  // maximise n·b(m) + m·Σx, i.e. minimise Σ(y − b − m·x)
  const f = (m: number) => points.length * intercept(m) + m * sumX;
  let lo = m0;
  let hi = Math.max(m0, mMax);
  for (let i = 0; i < 100 && hi - lo > 1e-12; i++) {
    const a = lo + (hi - lo) / 3;
    const c = hi - (hi - lo) / 3;
    if (f(a) < f(c)) lo = a;
    else hi = c;
  }
  const m = (lo + hi) / 2;
  return { baseMs: Math.max(0, intercept(m)), msPerKm: m };
}

/**
 * The q-quantile line of the points (linear quantile regression: the line minimising the pinball
 * loss), with a slope of at least light in fibre. For a slope m the best intercept is the
 * q-quantile of y − m·x; the loss is convex in m, searched by ternary search.
 */
export function quantileLine(points: readonly LandmarkMeasurement[], q: number): RttLine {
  if (!(q > 0 && q < 1)) throw new RangeError(`quantile must lie in (0, 1), got ${q}`);
  const n = points.length;
  const res = new Float64Array(n);
  const fit = (m: number): { b: number; loss: number } => {
    for (let i = 0; i < n; i++) res[i] = points[i]!.rttMs - m * points[i]!.distanceKm;
    const sorted = Float64Array.from(res).sort();
    const b = sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!;
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const r = res[i]! - b;
      loss += r >= 0 ? q * r : (q - 1) * r;
    }
    return { b, loss };
  };
  let maxX = 0;
  let maxY = 0;
  for (const p of points) {
    maxX = Math.max(maxX, p.distanceKm);
    maxY = Math.max(maxY, p.rttMs);
  }
  let lo = LIGHT_MS_PER_KM;
  let hi = Math.max(lo, maxX > 0 ? (2 * maxY) / maxX : lo);
  for (let i = 0; i < 80 && hi - lo > 1e-9; i++) {
    const a = lo + (hi - lo) / 3;
    const c = hi - (hi - lo) / 3;
    if (fit(a).loss > fit(c).loss) lo = a;
    else hi = c;
  }
  const m = (lo + hi) / 2;
  return { baseMs: fit(m).b, msPerKm: m };
}
