import { haversineKm } from '../../core/latency.js';
import { DEFAULT_BOUNDS, lowerMs, maxKmFor, minKmFor, upperMs, type LocationBounds } from './bounds.js';

/** A place: coordinates, and for the reasons a city and country when known. */
export interface Place {
  city?: string;
  country?: string;
  lat: number;
  lon: number;
}

export interface LocationJudgement {
  /** the claim is consistent with the RTT */
  ok: boolean;
  /** in plain words, for the report and the operator */
  reason: string;
  /** the RTT judged: the minimum of the samples */
  rttMs: number;
  /** great-circle distance from the checker to the claimed place */
  claimedKm: number;
  /** the nearest an honest container with this RTT can be (upper line) */
  minKm: number;
  /** the farthest any container with this RTT can be (lower line) */
  maxKm: number;
}

export interface JudgeInput {
  /** the checker's place */
  from: Place;
  /** the container's claimed place */
  claimed: Place;
  /** RTT samples in ms; the minimum is judged (queuing only adds delay) */
  samples: readonly number[];
  /** default DEFAULT_BOUNDS; a checker passes its own from `calibrateLandmark` */
  bounds?: Readonly<LocationBounds>;
}

/** "Frankfurt, DE", or the coordinates when the city is unknown. */
export function placeName(p: Place): string {
  if (p.city) return p.country ? `${p.city}, ${p.country}` : p.city;
  return `${p.lat.toFixed(2)}, ${p.lon.toFixed(2)}`;
}

export function fmtMs(ms: number): string {
  return ms < 100 ? ms.toFixed(1) : Math.round(ms).toLocaleString('en-US');
}

export function fmtKm(km: number): string {
  if (!Number.isFinite(km)) return '∞';
  return (km >= 1000 ? Math.round(km / 10) * 10 : Math.round(km)).toLocaleString('en-US');
}

/**
 * One checker's verdict on a claimed place from its RTT samples to the container: consistent
 * iff lowerMs(d) ≤ min(samples) ≤ upperMs(d), with d the great-circle distance from the checker
 * to the claimed place (docs/verification.md, "Location"). Each checker votes on its own; the
 * ledger takes the majority.
 */
export function judgeLocation(input: JudgeInput): LocationJudgement {
  const bounds = input.bounds ?? DEFAULT_BOUNDS;
  let rttMs = Number.POSITIVE_INFINITY;
  for (const s of input.samples) if (Number.isFinite(s) && s >= 0 && s < rttMs) rttMs = s;
  if (!Number.isFinite(rttMs)) throw new RangeError('judgeLocation needs at least one RTT sample');
  const { from, claimed } = input;
  const claimedKm = haversineKm(from.lat, from.lon, claimed.lat, claimed.lon);
  const minKm = minKmFor(bounds, rttMs);
  const maxKm = maxKmFor(bounds, rttMs);
  const here = placeName(from);
  const there = placeName(claimed);
  const head = `RTT from ${here} is ${fmtMs(rttMs)} ms`;
  let ok = true;
  let reason: string;
  if (rttMs < lowerMs(bounds, claimedKm)) {
    ok = false;
    reason =
      `${head}: the container is within ${fmtKm(maxKm)} km of ${here}, ` +
      `but it claims ${there}, ${fmtKm(claimedKm)} km away`;
  } else if (rttMs > upperMs(bounds, claimedKm)) {
    ok = false;
    reason =
      `${head}: too slow for a container ${fmtKm(claimedKm)} km away in ${there} ` +
      `(at most ${fmtMs(upperMs(bounds, claimedKm))} ms; it answers like one ${fmtKm(minKm)} km or more away)`;
  } else {
    reason =
      `${head}: consistent with ${there}, ${fmtKm(claimedKm)} km away ` +
      `(this RTT allows ${fmtKm(minKm)} to ${fmtKm(maxKm)} km)`;
  }
  return { ok, reason, rttMs, claimedKm, minKm, maxKm };
}
