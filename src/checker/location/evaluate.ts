import { haversineKm } from '../../core/latency.js';
import {
  calibrateLandmark,
  DEFAULT_BOUNDS,
  lowerMs,
  upperMs,
  type CalibrationOptions,
  type LocationBounds,
} from './bounds.js';
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
}

export interface Evaluation {
  checkers: string[];
  bounds: BoundsMode | 'given';
  /** honest containers (every server but the checkers and the impossible ones) */
  honest: number;
  /** honest containers the majority flagged, with the min or the average RTT of the day */
  falsePositives: string[];
  /**
   * the smallest vote margin over honest containers (ms): the majority's weakest needed vote,
   * min(rtt − lower, upper − rtt) of the checker that tips the majority; above 0: no false positive
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
  return { data, checkers, rtt, boundsFor: (i, target) => fitted[i]![fold.get(target) ?? 0]! };
}

/** Each checker's margin for a claim (negative: that checker votes "not consistent"); null: no RTT. */
function margins(ctx: Ctx, target: string, claimed: { lat: number; lon: number }, col: 'min' | 'avg') {
  return ctx.checkers.map((c, i) => {
    const m = ctx.rtt.get(`${c.id}>${target}`);
    if (!m) return null;
    const rtt = m[col];
    const b = ctx.boundsFor(i, target);
    const km = haversineKm(c.lat, c.lon, claimed.lat, claimed.lon);
    return Math.min(rtt - lowerMs(b, km), upperMs(b, km) - rtt);
  });
}

/** The margin of the vote that decides the majority of the checkers that answered (< 0: flagged). */
function majorityMargin(ms: Array<number | null>): number | null {
  const got = ms.filter((m): m is number => m !== null).sort((a, b) => b - a);
  if (got.length === 0) return null;
  const need = Math.floor(got.length / 2) + 1; // ok votes a strict majority needs
  return got[need - 1]!;
}

export function evaluateLocation(data: RttDataset, opts: EvaluationOptions): Evaluation {
  const mode = opts.bounds ?? 'default';
  const falseKm = opts.falseKm ?? 2000;
  const bad = impossibleServers(data);
  const ctx = context(data, opts.checkers, mode, bad, opts.calibration);
  const targets = [...data.servers.values()].filter((s) => !bad.has(s.id) && !opts.checkers.includes(s.id));
  let honest = 0;
  let marginMs = Number.POSITIVE_INFINITY;
  const falsePositives: string[] = [];
  for (const t of targets) {
    let counted = false;
    let flagged = false;
    for (const col of ['min', 'avg'] as const) {
      const m = majorityMargin(margins(ctx, t.id, t, col));
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
  const places = [...data.servers.values()].filter((s) => !bad.has(s.id));
  for (const t of targets) {
    for (const c of places) {
      if (haversineKm(t.lat, t.lon, c.lat, c.lon) < falseKm) continue;
      const m = majorityMargin(margins(ctx, t.id, c, 'avg'));
      if (m === null) continue;
      falseClaims++;
      if (m < 0) detected++;
    }
  }
  return {
    checkers: ctx.checkers.map((c) => `${c.city}, ${c.country}`),
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
): { flags: (target: string, claimed: { lat: number; lon: number }) => boolean | null } {
  const ctx = context(data, checkers, mode, impossibleServers(data), calibration);
  return {
    flags: (target, claimed) => {
      const m = majorityMargin(margins(ctx, target, claimed, 'avg'));
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
