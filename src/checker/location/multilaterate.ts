import { haversineKm } from '../../core/latency.js';
import { DEFAULT_BOUNDS, lowerMs, maxKmFor, upperMs, type LocationBounds } from './bounds.js';
import { fmtKm, fmtMs, placeName, type Place } from './judge.js';

/**
 * Constraint-based geolocation with every vantage point together (Gueye, Ziviani, Crovella and
 * Fdida, IEEE/ACM ToN 2006), with a common access delay ("height", as in Octant: Wong, Stoyanov
 * and Sirer, NSDI 2007); docs/verification.md, "Location". Each vantage point i (a checker, or a
 * landmark at a verified place) measured rtt_i to the container; with d_i the distance from it to
 * the claimed place and its calibrated lines lower_i ≤ upper_i:
 *
 *   slack_i  = rtt_i − lower_i(d_i)      room under the RTT: the container is no farther than
 *                                          the bestline allows (CBG's disk; delay can be added,
 *                                          never removed, so nobody beats it)
 *   excess_i = rtt_i − upper_i(d_i)      delay above what an honest path of that length shows
 *
 * An honest host far behind a slow access link (Lagos, Vladivostok) is slow towards every vantage
 * point alike: that delay h ≥ 0 is common to all its paths. The claim is consistent iff some h
 * explains every excess without pushing any RTT under its bestline:
 *
 *   margin = min_i slack_i − max(0, max_i excess_i)  ≥  0
 *
 * So one vantage point can only refute a claim farther than its disk (a lone slow path is access
 * delay), while two together also refute a claim that is too slow from one and not slow from the
 * other: the container is nearer the second and farther from the first than it claims. Each added
 * vantage point can only lower the margin, so more checkers and landmarks shrink the region
 * (`feasibleFraction`) and catch more lies, where a majority of one-checker bands lowered
 * detection.
 *
 * One path can be slow for reasons of its own (a detour that only one vantage point's route
 * takes: Cape Town from Sydney, Vladivostok from Los Angeles), which no common access delay
 * explains. With 8 or more vantage points the slowest `forgivenSlowPaths(n)` of them are therefore
 * left out of the access delay (1 from 8 to 14, 2 from 15 to 21, …): their bestlines (slack) still
 * count. Delay can only be added, so this forgives nothing a liar could use to move closer.
 * Within each of those ranges more vantage points still never loosen the verdict.
 */

/** How many of n vantage points' slowest paths the access delay leaves out: ⌊(n − 1) / 7⌋. */
export function forgivenSlowPaths(n: number): number {
  return Math.max(0, Math.floor((n - 1) / 7));
}

export interface Vantage {
  /** where the vantage point is (a checker, or a landmark at a verified place) */
  from: Place;
  /** the RTT it measured to the container (the minimum of its samples) */
  rttMs: number;
  /** its calibrated bounds (`calibrateLandmark`); default DEFAULT_BOUNDS */
  bounds?: Readonly<LocationBounds>;
  /** the checker that measured it and shared it (its address); absent: this checker's own */
  by?: string;
}

export interface Constraint {
  from: Place;
  rttMs: number;
  /** distance from the vantage point to the claimed place */
  claimedKm: number;
  /** the farthest a container answering in rttMs can be (the bestline) */
  maxKm: number;
  /** rtt − lower(claimedKm): < 0, the container is nearer than its claim */
  slackMs: number;
  /** rtt − upper(claimedKm): > 0, slower than an honest path of that length */
  excessMs: number;
}

export interface Multilateration {
  /** the claimed place fits every vantage point's RTT (with one common access delay) */
  ok: boolean;
  /** in plain words: which vantage points refute the claim, or how many confirm it */
  reason: string;
  /** one per vantage point, in the order given */
  constraints: Constraint[];
  /** the access delay the claim needs: max(0, the largest excess but the forgiven ones) */
  accessDelayMs: number;
  /** min slack − access delay (< 0: refuted) */
  marginMs: number;
}

/** One vantage point's constraint on a claimed place. */
export function constraintOf(v: Vantage, claimed: Place): Constraint {
  const b = v.bounds ?? DEFAULT_BOUNDS;
  const claimedKm = haversineKm(v.from.lat, v.from.lon, claimed.lat, claimed.lon);
  return {
    from: v.from,
    rttMs: v.rttMs,
    claimedKm,
    maxKm: maxKmFor(b, v.rttMs),
    slackMs: v.rttMs - lowerMs(b, claimedKm),
    excessMs: v.rttMs - upperMs(b, claimedKm),
  };
}

/** The claim's margin over the vantage points (see the module comment). */
export function claimMarginMs(
  vantages: readonly Vantage[],
  claimed: Place,
  forgive = forgivenSlowPaths(vantages.length),
): number {
  let slack = Number.POSITIVE_INFINITY;
  // the forgive + 1 largest excesses, largest first
  const top: number[] = [];
  for (const v of vantages) {
    const b = v.bounds ?? DEFAULT_BOUNDS;
    const km = haversineKm(v.from.lat, v.from.lon, claimed.lat, claimed.lon);
    slack = Math.min(slack, v.rttMs - lowerMs(b, km));
    const e = v.rttMs - upperMs(b, km);
    if (top.length <= forgive || e > top[top.length - 1]!) {
      top.push(e);
      top.sort((a, c) => c - a);
      if (top.length > forgive + 1) top.pop();
    }
  }
  const excess = top.length > forgive ? top[forgive]! : 0;
  return slack - Math.max(0, excess);
}

function checkVantage(v: Vantage, i: number): void {
  const ok =
    v &&
    v.from &&
    Number.isFinite(v.from.lat) &&
    Math.abs(v.from.lat) <= 90 &&
    Number.isFinite(v.from.lon) &&
    Math.abs(v.from.lon) <= 180 &&
    Number.isFinite(v.rttMs) &&
    v.rttMs >= 0;
  if (!ok)
    throw new RangeError(
      `vantage point ${i + 1}: needs a place (lat -90..90, lon -180..180) and an RTT of 0 ms or more`,
    );
}

const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;

/** Judges a claimed place with every vantage point's RTT together (see the module comment). */
export function multilaterate(
  claimed: Place,
  vantages: readonly Vantage[],
  forgive = forgivenSlowPaths(vantages.length),
): Multilateration {
  if (vantages.length === 0) throw new RangeError('multilaterate needs at least one vantage point');
  vantages.forEach(checkVantage);
  const constraints = vantages.map((v) => constraintOf(v, claimed));
  let tight = constraints[0]!; // least slack
  for (const c of constraints) if (c.slackMs < tight.slackMs) tight = c;
  // the slowest path that counts: the (forgive + 1)-th largest excess
  const bySlowness = [...constraints].sort((a, b) => b.excessMs - a.excessMs);
  const slow = bySlowness[Math.min(forgive, bySlowness.length - 1)]!;
  const accessDelayMs = forgive < bySlowness.length ? Math.max(0, slow.excessMs) : 0;
  const marginMs = tight.slackMs - accessDelayMs;
  const there = placeName(claimed);
  const at = (c: Constraint) => `RTT from ${placeName(c.from)} is ${fmtMs(c.rttMs)} ms`;
  if (marginMs >= 0) {
    const delay = accessDelayMs > 0 ? `, with ${fmtMs(accessDelayMs)} ms of access delay` : '';
    return {
      ok: true,
      reason:
        `${there} fits all ${plural(constraints.length, 'vantage point')}${delay} (tightest: ${at(tight)}, ` +
        `within ${fmtKm(tight.maxKm)} km; ${there} is ${fmtKm(tight.claimedKm)} km away)`,
      constraints,
      accessDelayMs,
      marginMs,
    };
  }
  let reason: string;
  if (tight.slackMs < 0)
    reason =
      `${at(tight)}: the container is within ${fmtKm(tight.maxKm)} km of ${placeName(tight.from)}, ` +
      `but it claims ${there}, ${fmtKm(tight.claimedKm)} km away`;
  else
    reason =
      `${at(slow)}: ${fmtMs(slow.excessMs)} ms slower than a container ${fmtKm(slow.claimedKm)} km away ` +
      `in ${there} would be, and ${at(tight)}, only ${fmtMs(tight.slackMs)} ms above the fastest path ` +
      `${fmtKm(tight.claimedKm)} km long: no access delay explains both, the container is nearer ` +
      `${placeName(tight.from)} than ${there} is`;
  const against = constraints.filter((c) => c.slackMs < accessDelayMs).length;
  return {
    ok: false,
    reason: `${reason} (${there} does not fit ${against} of ${plural(constraints.length, 'vantage point')})`,
    constraints,
    accessDelayMs,
    marginMs,
  };
}

/**
 * Whether a refutation stands on its own or rests on one vantage point it cannot check: the
 * indices of the `untrusted` vantage points (another checker's shared measurement) each of whose
 * removal alone lets the claim fit; empty when the claim fits, or when it is refuted without any
 * one of them (robust to one dishonest checker). One false shared RTT refutes any honest claim (a
 * low one draws a disk around its checker that leaves the host out; docs/verification.md,
 * "What the location check still cannot catch"); a vote that rests on one says so.
 */
export function restingOn(
  claimed: Place,
  vantages: readonly Vantage[],
  untrusted: (v: Vantage, i: number) => boolean,
): number[] {
  if (vantages.length === 0 || claimMarginMs(vantages, claimed) >= 0) return [];
  const out: number[] = [];
  vantages.forEach((v, i) => {
    if (!untrusted(v, i)) return;
    const rest = vantages.filter((_, j) => j !== i);
    if (rest.length > 0 && claimMarginMs(rest, claimed) >= 0) out.push(i);
  });
  return out;
}

/**
 * The share of the Earth's surface (area-weighted grid of `stepDeg` cells) where a container
 * could be given the vantage points' RTTs: the intersection of their annuli. Adding a vantage
 * point never grows it.
 */
export function feasibleFraction(vantages: readonly Vantage[], stepDeg = 2): number {
  vantages.forEach(checkVantage);
  let total = 0;
  let inside = 0;
  for (let lat = -90 + stepDeg / 2; lat < 90; lat += stepDeg) {
    const w = Math.cos((lat * Math.PI) / 180);
    for (let lon = -180 + stepDeg / 2; lon < 180; lon += stepDeg) {
      total += w;
      if (claimMarginMs(vantages, { lat, lon }) >= 0) inside += w;
    }
  }
  return inside / total;
}
