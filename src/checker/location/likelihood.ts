import { haversineKm } from '../../core/latency.js';
import { DEFAULT_BOUNDS, lowerMs } from './bounds.js';
import type { Place } from './judge.js';
import type { Vantage } from './multilaterate.js';

/**
 * A probabilistic judge of a whole RTT vector (after Spotter, Laki et al. 2011, and Posit,
 * Eriksson et al. 2012): docs/verification.md, "Location", tried and measured, not what the
 * checkers vote with (it fails honest hosts on the bench; see there). For a place p and each
 * vantage point i, the residual r_i(p) = rtt_i − lower_i(d_i(p)) is the delay above the fastest
 * path of that length; the host's access delay h(p) = max(0, min_i r_i(p)) is common to all its
 * paths, and ε_i(p) = r_i(p) − h(p) is what path i adds of its own. A `DelayModel` holds, per
 * distance bin, the ε of honest hosts at known places (calibration), and the score of p is
 *
 *   score(p) = Σ_i −log S_bin(d_i(p))(ε_i(p))      (S: the empirical survival function)
 *
 * i.e. how unlikely each path's own delay is at that length. The shape of the vector counts, not
 * only each ring: a liar whose RTTs fit every ring still has paths too slow, relative to its
 * others, for the place it claims. The likelihood ratio compares the claim with the place that
 * explains the vector best among candidates (a gazetteer, or the servers of the data): score(claim)
 * − min_p score(p). A single slow path costs at most log(n + 1) (the survival function is floored
 * at 1 / (n + 1) of its n calibration points), so one detour cannot fail an honest host alone.
 * Deterministic: no sampling, ties by order.
 */

/** The distance bins (km) of a DelayModel: [0, 500), [500, 1,500), …, [10,000, ∞). */
export const DELAY_BINS_KM: readonly number[] = Object.freeze([0, 500, 1500, 3000, 6000, 10000]);

export interface DelayModel {
  /** per bin of DELAY_BINS_KM, the honest paths' own delays ε (ms), sorted ascending */
  residuals: number[][];
}

function binOf(km: number): number {
  let b = 0;
  while (b + 1 < DELAY_BINS_KM.length && km >= DELAY_BINS_KM[b + 1]!) b++;
  return b;
}

/** Each vantage point's residual over its lower line at place p, and the distance. */
function residuals(vantages: readonly Vantage[], p: Place): Array<{ r: number; km: number }> {
  return vantages.map((v) => {
    const km = haversineKm(v.from.lat, v.from.lon, p.lat, p.lon);
    return { r: v.rttMs - lowerMs(v.bounds ?? DEFAULT_BOUNDS, km), km };
  });
}

/**
 * A DelayModel from hosts at known places (verified containers, landmarks), each with the RTTs
 * its vantage points measured (hosts with fewer than 2 are skipped). A bin no path fell in judges
 * every delay in it as ordinary (S = 1).
 */
export function fitDelayModel(hosts: ReadonlyArray<{ at: Place; vantages: readonly Vantage[] }>): DelayModel {
  const out: number[][] = DELAY_BINS_KM.map(() => []);
  for (const h of hosts) {
    if (h.vantages.length < 2) continue;
    const rs = residuals(h.vantages, h.at);
    let access = Number.POSITIVE_INFINITY;
    for (const x of rs) access = Math.min(access, x.r);
    access = Math.max(0, access);
    for (const x of rs) if (Number.isFinite(x.r)) out[binOf(x.km)]!.push(Math.max(0, x.r - access));
  }
  for (const b of out) b.sort((a, c) => a - c);
  return { residuals: out };
}

/** Share of the model's paths in the bin of `km` with a delay of at least `eps`, floored. */
function survival(model: DelayModel, km: number, eps: number): number {
  const arr = model.residuals[binOf(km)] ?? [];
  if (arr.length === 0) return 1;
  const at = eps - 1e-6; // delays equal but for rounding count as equal
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (arr[m]! < at) lo = m + 1;
    else hi = m;
  }
  return (arr.length - lo + 0.5) / (arr.length + 1);
}

/**
 * How unlikely the RTT vector is for a host at `p` (see the module comment); 0 is ordinary, ∞ is
 * impossible: some RTT is under its vantage point's lower line (CBG's disk excludes p).
 */
export function vectorScore(model: DelayModel, vantages: readonly Vantage[], p: Place): number {
  if (vantages.length === 0) throw new RangeError('vectorScore needs at least one vantage point');
  const rs = residuals(vantages, p);
  let access = Number.POSITIVE_INFINITY;
  for (const x of rs) access = Math.min(access, x.r);
  if (access < 0) return Number.POSITIVE_INFINITY;
  let s = 0;
  for (const x of rs) s -= Math.log(survival(model, x.km, Math.max(0, x.r - access)));
  return s;
}

/**
 * score(claimed) − the lowest score among `candidates` (never below 0: the claim is one of them);
 * ∞ when the claim is impossible.
 */
export function likelihoodRatio(
  model: DelayModel,
  vantages: readonly Vantage[],
  claimed: Place,
  candidates: readonly Place[],
): number {
  const at = vectorScore(model, vantages, claimed);
  if (at === Number.POSITIVE_INFINITY) return at;
  let best = at;
  for (const c of candidates) best = Math.min(best, vectorScore(model, vantages, c));
  return at - best;
}
