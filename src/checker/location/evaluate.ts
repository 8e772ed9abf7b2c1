import { haversineKm } from '../../core/latency.js';
import {
  calibrateLandmark,
  DEFAULT_BOUNDS,
  lowerMs,
  upperMs,
  type CalibrationOptions,
  type LocationBounds,
} from './bounds.js';
import type { Place } from './judge.js';
import { fitDelayModel, likelihoodRatio, vectorScore, type DelayModel } from './likelihood.js';
import { claimMarginMs, type Vantage } from './multilaterate.js';
import { impossibleServers, type RttDataset, type RttServer } from './wonderproxy.js';

/**
 * The location check on real pairs (docs/verification.md, "Location"): checkers placed at
 * WonderProxy servers vote on every other server's claim, with the RTTs the data measured between
 * them. Shared by test/unit/checker/location and bench/location.bench.ts.
 */

export type BoundsMode = 'default' | 'calibrated';

export interface EvaluationOptions {
  /** server ids of the checkers */
  checkers: readonly string[];
  /**
   * 'default': every checker uses DEFAULT_BOUNDS (fitted on all pairs: in-sample);
   * 'calibrated': each checker calibrates its own bounds (`calibrateLandmark`) on its RTTs to the
   * servers of the other half of the data (2-fold cross-validation: a server is never judged by
   * bounds fitted on its own RTTs)
   */
  bounds?: BoundsMode | Readonly<LocationBounds>;
  /** options of `calibrateLandmark` for 'calibrated' (default: its defaults) */
  calibration?: CalibrationOptions;
  /**
   * 'calibrated' only: each checker calibrates on the other checkers and this many servers of the
   * other half (in a fixed shuffled order), as a checker of `aethir node` calibrates on the other
   * checkers' beacons and the containers verified so far. Default: every server of the other half.
   */
  calibrationLandmarks?: number;
  /** a false claim is a server at least this far away (default 2,000 km) */
  falseKm?: number;
  /**
   * 'majority' (default; the per-checker band): each checker votes on its own RTT, the majority
   * decides; 'multilateration': every checker's RTT together (`multilaterate`): the
   * claim must lie in every checker's annulus
   */
  vote?: VoteMode;
  /**
   * the RTT a false claim is judged on: 'avg' (default; a day's average, as if the liar answered
   * with queuing) or 'min' (the day's lowest, what a checker's minimum of samples tends to)
   */
  falseColumn?: 'min' | 'avg';
  /**
   * multilateration: how many of the slowest paths the access delay leaves out (default
   * `forgivenSlowPaths` of the number of vantage points; 0: every path counts, as at stop 22)
   */
  forgive?: number;
  /**
   * 'likelihood' only (calibrated bounds): the likelihood-ratio threshold is this many times the
   * largest ratio of an honest host of the calibration half (default 1)
   */
  likelihoodFactor?: number;
  /**
   * calibrated bounds only: for each claim, this many verified landmarks (servers of the
   * calibration half, the nearest to the claimed place) join the checkers as vantage points, with
   * the data's RTT between landmark and container: what a checker's signed echo through the
   * landmark measures (checker → container → landmark → checker, less the checker's own RTTs to
   * both); the landmarks' bounds: `calibrateLandmark` over the calibration half's pairs. Default 0.
   */
  landmarks?: number;
}

/**
 * 'robust': each checker votes on every checker's RTT together but refutes only what holds without
 * any one other checker's (`restingOn`: another checker's shared RTT may be a lie), the majority
 * decides: what params.locationSlashNeedsRobust slashes.
 * 'likelihood': multilateration, and also refuted when the RTT vector's likelihood ratio
 * (likelihood.ts: the claim against the best-fitting server's place) is beyond a threshold set on
 * the calibration half (its honest hosts' largest ratio × `likelihoodFactor`)
 */
export type VoteMode = 'majority' | 'multilateration' | 'likelihood' | 'robust';

export interface Evaluation {
  checkers: string[];
  vote: VoteMode;
  bounds: BoundsMode | 'given';
  /** honest containers (every server but the checkers and the impossible ones) */
  honest: number;
  /** honest containers the majority flagged, with the min or the average RTT of the day */
  falsePositives: string[];
  /**
   * the smallest vote margin over honest containers (ms): the majority's weakest needed vote,
   * min(rtt − lower, upper − rtt) of the checker that tips the majority; above 0: no false positive
   * ('likelihood': the multilateration margin, or just under 0 for a host the ratio alone refutes)
   */
  marginMs: number;
  /** false claims: (container, claimed server) pairs at least falseKm apart */
  falseClaims: number;
  /** of which the majority flagged (average RTTs) */
  detected: number;
}

interface Ctx {
  data: RttDataset;
  checkers: RttServer[];
  rtt: Map<string, { min: number; avg: number }>;
  boundsFor: (checker: number, target: string) => Readonly<LocationBounds>;
  /** calibrated only: the fold of a server, and each checker's bounds that judge fold f */
  fold?: Map<string, number>;
  fitted?: LocationBounds[][];
}

/** The data's RTTs by `source>destination`. */
function rttIndex(data: RttDataset): Map<string, { min: number; avg: number }> {
  const rtt = new Map<string, { min: number; avg: number }>();
  for (const p of data.pairs) rtt.set(`${p.source}>${p.destination}`, { min: p.minMs, avg: p.avgMs });
  return rtt;
}

function context(
  data: RttDataset,
  checkerIds: readonly string[],
  mode: BoundsMode | Readonly<LocationBounds>,
  bad: Set<string>,
  calibration: CalibrationOptions = {},
  landmarksPerChecker?: number,
): Ctx {
  const checkers = checkerIds.map((id) => {
    const s = data.servers.get(id);
    if (!s) throw new RangeError(`no server ${id} in the data set`);
    return s;
  });
  const rtt = rttIndex(data);
  if (mode === 'default') return { data, checkers, rtt, boundsFor: () => DEFAULT_BOUNDS };
  if (typeof mode === 'object') return { data, checkers, rtt, boundsFor: () => mode };
  const ids = [...data.servers.keys()].sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  const fold = new Map(ids.map((id, i) => [id, i % 2]));
  // calibrationLandmarks: the servers each fold's checkers calibrate on, the first k of the other
  // fold in a fixed shuffled order (by a hash of the id), with the other checkers
  const shuffled = [...ids].sort((a, b) => idHash(a) - idHash(b) || a.localeCompare(b));
  const chosen = [0, 1].map((f) =>
    landmarksPerChecker === undefined
      ? null
      : new Set(
          shuffled
            .filter((id) => fold.get(id) !== f && !bad.has(id) && !checkerIds.includes(id))
            .slice(0, landmarksPerChecker),
        ),
  );
  // per checker, per fold: bounds from its RTTs to the servers of the other fold
  const fitted = checkers.map((c) =>
    [0, 1].map((f) => {
      const avg: Array<{ distanceKm: number; rttMs: number }> = [];
      const min: Array<{ distanceKm: number; rttMs: number }> = [];
      for (const p of data.pairs) {
        if (p.source !== c.id || p.destination === c.id) continue;
        const picked = chosen[f]
          ? chosen[f].has(p.destination) || checkerIds.includes(p.destination)
          : fold.get(p.destination) !== f && !bad.has(p.destination) && !checkerIds.includes(p.destination);
        if (!picked) continue;
        avg.push({ distanceKm: p.km, rttMs: p.avgMs });
        min.push({ distanceKm: p.km, rttMs: p.minMs });
      }
      return calibrateLandmark(avg, { lowerMeasurements: min, ...calibration });
    }),
  );
  return { data, checkers, rtt, fold, fitted, boundsFor: (i, target) => fitted[i]![fold.get(target) ?? 0]! };
}

/** A fixed pseudo-random order of server ids (FNV-1a). */
function idHash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** What each checker measured to `target` (null: no RTT), with its bounds, as vantage points. */
function vantages(ctx: Ctx, target: string, col: 'min' | 'avg', asFold?: number): Array<Vantage | null> {
  return ctx.checkers.map((c, i) => {
    const m = ctx.rtt.get(`${c.id}>${target}`);
    const bounds = asFold === undefined ? ctx.boundsFor(i, target) : ctx.fitted![i]![asFold]!;
    return m ? { from: c, rttMs: m[col], bounds } : null;
  });
}

const present = (vs: Array<Vantage | null>): Vantage[] => vs.filter((v): v is Vantage => v !== null);

/**
 * Verified landmarks near a claim (option `landmarks`): per fold f, the servers of the other fold
 * (not checkers) with bounds pooled over their pairs; `near(target, col, claimed)` gives the k
 * nearest the claimed place (ties by id), the target left out, as vantage points.
 */
function landmarkPanel(
  ctx: Ctx,
  places: readonly RttServer[],
  checkerIds: readonly string[],
  k: number,
  calibration: CalibrationOptions,
): (target: string, col: 'min' | 'avg', claimed: Place) => Vantage[] {
  if (!ctx.fold) throw new RangeError("landmarks need bounds 'calibrated'");
  const fold = ctx.fold;
  const per = [0, 1].map((f) => {
    const verified = places.filter((s) => fold.get(s.id) !== f && !checkerIds.includes(s.id));
    const ids = new Set(verified.map((s) => s.id));
    const avg: Array<{ distanceKm: number; rttMs: number }> = [];
    const min: Array<{ distanceKm: number; rttMs: number }> = [];
    for (const p of ctx.data.pairs)
      if (ids.has(p.source) && ids.has(p.destination)) {
        avg.push({ distanceKm: p.km, rttMs: p.avgMs });
        min.push({ distanceKm: p.km, rttMs: p.minMs });
      }
    return { verified, bounds: calibrateLandmark(avg, { lowerMeasurements: min, ...calibration }) };
  });
  return (target, col, claimed) => {
    const { verified, bounds } = per[fold.get(target) ?? 0]!;
    const out: Vantage[] = [];
    const byDistance = verified
      .filter((s) => s.id !== target)
      .map((s) => ({ s, km: haversineKm(s.lat, s.lon, claimed.lat, claimed.lon) }))
      .sort((a, b) => a.km - b.km || Number(a.s.id) - Number(b.s.id));
    for (const { s } of byDistance) {
      if (out.length >= k) break;
      const m = ctx.rtt.get(`${s.id}>${target}`) ?? ctx.rtt.get(`${target}>${s.id}`);
      if (m) out.push({ from: s, rttMs: m[col], bounds });
    }
    return out;
  };
}

/**
 * The likelihood judge of each fold f (vote 'likelihood'): a DelayModel fitted on the honest hosts
 * of the other fold (their RTTs judged with the bounds that judge fold f), and the threshold: the
 * largest likelihood ratio among those hosts, × factor. Candidates: every possible server's place.
 */
function likelihoodJudge(
  ctx: Ctx,
  places: readonly RttServer[],
  checkerIds: readonly string[],
  factor: number,
): (target: string, vs: Vantage[], claimed: Place, col: 'min' | 'avg') => boolean {
  if (!ctx.fold || !ctx.fitted) throw new RangeError("vote 'likelihood' needs bounds 'calibrated'");
  const fold = ctx.fold;
  const judges = [0, 1].map((f) => {
    const hosts = places.filter((s) => fold.get(s.id) !== f && !checkerIds.includes(s.id));
    const cal = hosts.flatMap((h) =>
      (['min', 'avg'] as const).map((col) => ({ at: h, vantages: present(vantages(ctx, h.id, col, f)) })),
    );
    const model: DelayModel = fitDelayModel(cal);
    let tau = 0;
    for (const h of cal) {
      // a host under some lower line has ratio ∞: the disks refute it, it sets no threshold
      const r = h.vantages.length ? likelihoodRatio(model, h.vantages, h.at, places) : 0;
      if (Number.isFinite(r)) tau = Math.max(tau, r);
    }
    return { model, tau: tau * factor };
  });
  const best = new Map<string, number>();
  return (target, vs, claimed, col) => {
    if (vs.length === 0) return false;
    const j = judges[fold.get(target) ?? 0]!;
    const key = `${target}/${col}`;
    let b = best.get(key);
    if (b === undefined) {
      b = Number.POSITIVE_INFINITY;
      for (const p of places) b = Math.min(b, vectorScore(j.model, vs, p));
      best.set(key, b);
    }
    const at = vectorScore(j.model, vs, claimed);
    return at === Number.POSITIVE_INFINITY || at - Math.min(b, at) > j.tau;
  };
}

/**
 * The margin that decides a claim (< 0: flagged): 'majority', the vote that tips the majority of
 * the checkers that answered, each on its own band lower ≤ RTT ≤ upper ('robust': each on all of
 * them, less the other checker that helps the claim most); 'multilateration', `claimMarginMs` over
 * all of them. null: no checker measured the target.
 */
function decidingMargin(
  vs: Array<Vantage | null>,
  claimed: Place,
  vote: VoteMode,
  forgive?: number,
): number | null {
  const got = vs.filter((v): v is Vantage => v !== null);
  if (got.length === 0) return null;
  if (vote !== 'majority' && vote !== 'robust') return claimMarginMs(got, claimed, forgive);
  const ms = got
    .map((v, k) => {
      if (vote === 'robust') {
        // checker k's vote trusts its own RTT only: refuted iff refuted without any one other's
        // (restingOn empty); its margin is the best the claim gets without one of them
        if (got.length === 1) return claimMarginMs(got, claimed, forgive);
        let best = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < got.length; j++)
          if (j !== k)
            best = Math.max(
              best,
              claimMarginMs(
                got.filter((_, i) => i !== j),
                claimed,
                forgive,
              ),
            );
        return best;
      }
      const km = haversineKm(v.from.lat, v.from.lon, claimed.lat, claimed.lon);
      return Math.min(v.rttMs - lowerMs(v.bounds!, km), upperMs(v.bounds!, km) - v.rttMs);
    })
    .sort((a, b) => b - a);
  const need = Math.floor(ms.length / 2) + 1; // ok votes a strict majority needs
  return ms[need - 1]!;
}

export function evaluateLocation(data: RttDataset, opts: EvaluationOptions): Evaluation {
  const mode = opts.bounds ?? 'default';
  const vote = opts.vote ?? 'majority';
  const falseKm = opts.falseKm ?? 2000;
  const bad = impossibleServers(data);
  const ctx = context(data, opts.checkers, mode, bad, opts.calibration, opts.calibrationLandmarks);
  const targets = [...data.servers.values()].filter((s) => !bad.has(s.id) && !opts.checkers.includes(s.id));
  const places = [...data.servers.values()].filter((s) => !bad.has(s.id));
  if (opts.landmarks && vote === 'likelihood')
    throw new RangeError("landmarks join 'multilateration' or 'majority', not 'likelihood'");
  const lik =
    vote === 'likelihood' ? likelihoodJudge(ctx, places, opts.checkers, opts.likelihoodFactor ?? 1) : null;
  const near = opts.landmarks
    ? landmarkPanel(ctx, places, opts.checkers, opts.landmarks, opts.calibration ?? {})
    : null;
  const refutes = (target: string, col: 'min' | 'avg', claimed: Place): number | null => {
    const vs = [...vantages(ctx, target, col), ...(near ? near(target, col, claimed) : [])];
    const m = decidingMargin(vs, claimed, vote, opts.forgive);
    if (m === null || m < 0 || !lik) return m;
    return lik(target, present(vs), claimed, col) ? -Number.MIN_VALUE : m; // refuted by the ratio alone
  };
  let honest = 0;
  let marginMs = Number.POSITIVE_INFINITY;
  const falsePositives: string[] = [];
  for (const t of targets) {
    let counted = false;
    let flagged = false;
    for (const col of ['min', 'avg'] as const) {
      const m = refutes(t.id, col, t);
      if (m === null) continue;
      counted = true;
      marginMs = Math.min(marginMs, m);
      if (m < 0) flagged = true;
    }
    if (counted) honest++;
    if (flagged) falsePositives.push(`${t.city}, ${t.country} (${t.id})`);
  }
  let falseClaims = 0;
  let detected = 0;
  for (const t of targets) {
    for (const c of places) {
      if (haversineKm(t.lat, t.lon, c.lat, c.lon) < falseKm) continue;
      const m = refutes(t.id, opts.falseColumn ?? 'avg', c);
      if (m === null) continue;
      falseClaims++;
      if (m < 0) detected++;
    }
  }
  return {
    checkers: ctx.checkers.map((c) => `${c.city}, ${c.country}`),
    vote,
    bounds: typeof mode === 'object' ? 'given' : mode,
    honest,
    falsePositives,
    marginMs,
    falseClaims,
    detected,
  };
}

/**
 * A panel of checkers at servers of the data set: `flags(target, claimed)` is their majority on
 * one claim (server `target` claims the place `claimed`, average RTTs), null when no checker has a
 * measurement.
 */
export function locationPanel(
  data: RttDataset,
  checkers: readonly string[],
  mode: BoundsMode | Readonly<LocationBounds> = 'default',
  calibration: CalibrationOptions = {},
  vote: VoteMode = 'majority',
): { flags: (target: string, claimed: { lat: number; lon: number }) => boolean | null } {
  const ctx = context(data, checkers, mode, impossibleServers(data), calibration);
  return {
    flags: (target, claimed) => {
      const m = decidingMargin(vantages(ctx, target, 'avg'), claimed, vote);
      return m === null ? null : m < 0;
    },
  };
}

/**
 * The default bounds recomputed from a data set: `calibrateLandmark` over every pair between
 * possible servers (average RTTs for the upper line, min RTTs for the bestline). On WonderProxy
 * 2020-07-19 this is DEFAULT_BOUNDS.
 */
export function calibrateOnDataset(data: RttDataset, opts: CalibrationOptions = {}): LocationBounds {
  const bad = impossibleServers(data);
  const avg: Array<{ distanceKm: number; rttMs: number }> = [];
  const min: Array<{ distanceKm: number; rttMs: number }> = [];
  for (const p of data.pairs) {
    if (bad.has(p.source) || bad.has(p.destination)) continue;
    avg.push({ distanceKm: p.km, rttMs: p.avgMs });
    min.push({ distanceKm: p.km, rttMs: p.minMs });
  }
  return calibrateLandmark(avg, { ...opts, lowerMeasurements: min });
}

/**
 * n checkers placed where the hosts are, as a deployment without hand-picked hubs would: greedy
 * k-medians over the data's possible servers (each pick lowers most the total distance from every
 * server to its nearest checker), starting from the server with most others within 2,000 km.
 * Deterministic: ties go to the lower id.
 */
export function spreadVantagePoints(data: RttDataset, n: number): string[] {
  const bad = impossibleServers(data);
  const all = [...data.servers.values()]
    .filter((s) => !bad.has(s.id))
    .sort((a, b) => Number(a.id) - Number(b.id) || a.id.localeCompare(b.id));
  const km = (a: RttServer, b: RttServer) => haversineKm(a.lat, a.lon, b.lat, b.lon);
  const dens = (s: RttServer) => all.filter((p) => km(p, s) < 2000).length;
  let first = all[0]!;
  for (const s of all) if (dens(s) > dens(first)) first = s;
  const chosen = [first];
  const near = all.map((s) => km(s, first));
  while (chosen.length < Math.min(n, all.length)) {
    let best: RttServer | null = null;
    let gain = -1;
    for (const p of all) {
      if (chosen.includes(p)) continue;
      let g = 0;
      all.forEach((q, i) => (g += Math.max(0, near[i]! - km(p, q))));
      if (g > gain) [best, gain] = [p, g];
    }
    chosen.push(best!);
    all.forEach((q, i) => (near[i] = Math.min(near[i]!, km(best!, q))));
  }
  return chosen.map((s) => s.id);
}

/**
 * Whether RTT vector `a` fits `b` within per-path tolerances, a common access delay taken out:
 * some δ has |a_i − b_i − δ| ≤ tol_i on every path i. Two hosts at one place that differ only in
 * their access links fit with tolerance 0.
 */
export function fitsVector(a: readonly number[], b: readonly number[], tolMs: readonly number[]): boolean {
  if (a.length !== b.length || a.length !== tolMs.length || a.length === 0)
    throw new RangeError('vectors and tolerances of the same, nonzero length');
  let lo = Number.NEGATIVE_INFINITY;
  let hi = Number.POSITIVE_INFINITY;
  a.forEach((x, i) => {
    const d = x - b[i]!;
    lo = Math.max(lo, d - tolMs[i]!);
    hi = Math.min(hi, d + tolMs[i]!);
  });
  return lo <= hi;
}

/** A tolerance per path: `baseMs` plus `perMm` ms per 1,000 km from the vantage point to the place. */
export interface VectorTolerance {
  baseMs: number;
  perMm: number;
}

export interface Separability {
  /** pairs of distinct possible servers (not checkers) within `sameKm` of each other, both with vectors */
  samePlace: number;
  /** false claims (average RTTs) where both the liar and the claimed server have whole vectors */
  falseClaims: number;
  byTolerance: Array<
    VectorTolerance & {
      /** same-place pairs where one server's vector does not fit the other's at the other's place */
      samePlaceFailed: number;
      /** false claims whose vector fits neither of the claimed server's own vectors (min, average) */
      caught: number;
      /** the same by distance from the truth: claims from `fromKm` up to the next band */
      byKm: Array<{ fromKm: number; claims: number; caught: number }>;
    }
  >;
}

/**
 * What any judge could tell apart with these vantage points (docs/verification.md, "What no judge
 * can tell apart"). An oracle judge knows the exact RTT vectors (min and average) of the honest
 * server at every claimed place and refutes a vector that fits neither within a tolerance: it
 * catches `caught` of the false claims. No real judge knows those vectors, and honest hosts at one
 * place do not share one: `samePlaceFailed` counts the pairs of servers within `sameKm` of each
 * other (honest hosts of one place) that the same oracle would fail, judging one at the other's
 * place. Average RTTs; a checker's RTT to its own server is 0.
 */
export function vectorSeparability(
  data: RttDataset,
  checkers: readonly string[],
  tolerances: readonly VectorTolerance[],
  opts: { falseKm?: number; sameKm?: number; bandsKm?: readonly number[] } = {},
): Separability {
  const falseKm = opts.falseKm ?? 1000;
  const sameKm = opts.sameKm ?? 100;
  const bands = opts.bandsKm ?? [falseKm, 2000, 3000, 5000];
  const bad = impossibleServers(data);
  const rtt = rttIndex(data);
  const vec = (id: string, col: 'min' | 'avg'): number[] | null => {
    const v: number[] = [];
    for (const c of checkers) {
      const m = c === id ? { min: 0, avg: 0 } : rtt.get(`${c}>${id}`);
      if (!m) return null;
      v.push(m[col]);
    }
    return v;
  };
  const km = (a: Place, b: Place) => haversineKm(a.lat, a.lon, b.lat, b.lon);
  const at = checkers.map((id) => {
    const s = data.servers.get(id);
    if (!s) throw new RangeError(`no server ${id} in the data set`);
    return s;
  });
  const tolAt = (p: Place, t: VectorTolerance) => at.map((c) => t.baseMs + (t.perMm * km(c, p)) / 1000);
  const places = [...data.servers.values()]
    .filter((s) => !bad.has(s.id))
    .sort((a, b) => Number(a.id) - Number(b.id) || a.id.localeCompare(b.id));
  const hosts = places.filter((s) => !checkers.includes(s.id));
  const pairs: Array<[RttServer, number[], RttServer, number[]]> = [];
  hosts.forEach((a, i) => {
    const va = vec(a.id, 'avg');
    for (const b of hosts.slice(i + 1)) {
      const vb = vec(b.id, 'avg');
      if (va && vb && km(a, b) <= sameKm) pairs.push([a, va, b, vb]);
    }
  });
  const claims: Array<{ v: number[]; place: RttServer; honest: number[][]; band: number }> = [];
  for (const a of hosts) {
    const v = vec(a.id, 'avg');
    if (!v) continue;
    for (const place of places) {
      const d = km(a, place);
      if (d < falseKm) continue;
      const honest = [vec(place.id, 'min'), vec(place.id, 'avg')].filter((h): h is number[] => h !== null);
      if (honest.length === 0) continue;
      let band = 0;
      while (band + 1 < bands.length && d >= bands[band + 1]!) band++;
      claims.push({ v, place, honest, band });
    }
  }
  return {
    samePlace: pairs.length,
    falseClaims: claims.length,
    byTolerance: tolerances.map((t) => {
      const samePlaceFailed = pairs.filter(
        ([a, va, b, vb]) => !fitsVector(va, vb, tolAt(b, t)) || !fitsVector(vb, va, tolAt(a, t)),
      ).length;
      const byKm = bands.map((fromKm) => ({ fromKm, claims: 0, caught: 0 }));
      for (const c of claims) {
        const tol = tolAt(c.place, t);
        byKm[c.band]!.claims++;
        if (!c.honest.some((h) => fitsVector(c.v, h, tol))) byKm[c.band]!.caught++;
      }
      return { ...t, samePlaceFailed, caught: byKm.reduce((s, b) => s + b.caught, 0), byKm };
    }),
  };
}
