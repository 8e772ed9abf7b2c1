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
 * 'likelihood': multilateration, and also refuted when the RTT vector's likelihood ratio
 * (likelihood.ts: the claim against the best-fitting server's place) is beyond a threshold set on
 * the calibration half (its honest hosts' largest ratio × `likelihoodFactor`)
 */
export type VoteMode = 'majority' | 'multilateration' | 'likelihood';

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

function context(
  data: RttDataset,
  checkerIds: readonly string[],
  mode: BoundsMode | Readonly<LocationBounds>,
  bad: Set<string>,
  calibration: CalibrationOptions = {},
): Ctx {
  const checkers = checkerIds.map((id) => {
    const s = data.servers.get(id);
    if (!s) throw new RangeError(`no server ${id} in the data set`);
    return s;
  });
  const rtt = new Map<string, { min: number; avg: number }>();
  for (const p of data.pairs) rtt.set(`${p.source}>${p.destination}`, { min: p.minMs, avg: p.avgMs });
  if (mode === 'default') return { data, checkers, rtt, boundsFor: () => DEFAULT_BOUNDS };
  if (typeof mode === 'object') return { data, checkers, rtt, boundsFor: () => mode };
  const ids = [...data.servers.keys()].sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  const fold = new Map(ids.map((id, i) => [id, i % 2]));
  // per checker, per fold: bounds from its RTTs to the servers of the other fold
  const fitted = checkers.map((c) =>
    [0, 1].map((f) => {
      const avg: Array<{ distanceKm: number; rttMs: number }> = [];
      const min: Array<{ distanceKm: number; rttMs: number }> = [];
      for (const p of data.pairs) {
        if (p.source !== c.id || fold.get(p.destination) === f || bad.has(p.destination)) continue;
        if (checkerIds.includes(p.destination)) continue;
        avg.push({ distanceKm: p.km, rttMs: p.avgMs });
        min.push({ distanceKm: p.km, rttMs: p.minMs });
      }
      return calibrateLandmark(avg, { lowerMeasurements: min, ...calibration });
    }),
  );
  return { data, checkers, rtt, fold, fitted, boundsFor: (i, target) => fitted[i]![fold.get(target) ?? 0]! };
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
 * the checkers that answered, each on its own band lower ≤ RTT ≤ upper; 'multilateration',
 * `claimMarginMs` over all of them. null: no checker measured the target.
 */
function decidingMargin(
  vs: Array<Vantage | null>,
  claimed: Place,
  vote: VoteMode,
  forgive?: number,
): number | null {
  const got = vs.filter((v): v is Vantage => v !== null);
  if (got.length === 0) return null;
  if (vote !== 'majority') return claimMarginMs(got, claimed, forgive);
  const ms = got
    .map((v) => {
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
  const ctx = context(data, opts.checkers, mode, bad, opts.calibration);
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
