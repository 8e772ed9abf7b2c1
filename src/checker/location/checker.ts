import { haversineKm } from '../../core/latency.js';
import { calibrateLandmark, type CalibrationOptions, type LocationBounds } from './bounds.js';
import { judgeLocation, type Place } from './judge.js';
import { multilaterate, restingOn, type Vantage } from './multilaterate.js';
import type { LocationTarget, NetworkPort } from './network.js';

export interface LocationCheckerOptions {
  network: NetworkPort;
  /** the checker's own place */
  from: { city: string; country: string; lat: number; lon: number };
  /** RTT samples per check; the minimum is judged (default 5) */
  samples?: number;
  /** the checker's calibrated bounds (`calibrateLandmark`); default DEFAULT_BOUNDS */
  bounds?: Readonly<LocationBounds>;
}

export interface LocationTargetClaim extends LocationTarget {
  /** the claimed place, with its city and country for the reason */
  claimed: Place;
}

export interface LocationVerdict {
  ok: boolean;
  reason: string;
  rttMs: number;
  /**
   * refuted only with another checker's shared measurement (`restingOn`): that checker's address
   * (the lowest, when several each hold it up); absent when the refutation stands without any one
   * other checker's measurement, or the claim fits
   */
  restsOn?: string;
}

/**
 * One checker's location check (docs/verification.md, "Location"): `samples` RTTs to the
 * container through the network port, judged by `judgeLocation` against the claimed place. The
 * verdict is this checker's vote (`checker.report { check: 'location', ok }`); the ledger takes
 * the majority of the checkers' votes. null when the container never answered: that is a
 * liveness matter, not a location verdict.
 */
export class LocationChecker {
  private readonly network: NetworkPort;
  private readonly from: LocationCheckerOptions['from'];
  private readonly samples: number;
  private readonly bounds: Readonly<LocationBounds> | undefined;

  constructor(opts: LocationCheckerOptions) {
    const samples = opts.samples ?? 5;
    if (!Number.isInteger(samples) || samples < 1)
      throw new RangeError(`samples must be a positive integer, got ${samples}`);
    this.network = opts.network;
    this.from = { ...opts.from };
    this.samples = samples;
    this.bounds = opts.bounds;
  }

  /** This checker's calibrated bounds (undefined: DEFAULT_BOUNDS). */
  get ownBounds(): Readonly<LocationBounds> | undefined {
    return this.bounds;
  }

  /** The minimum of `samples` RTTs to the target; null when it never answered. */
  async measure(target: LocationTarget): Promise<number | null> {
    let best: number | null = null;
    for (let i = 0; i < this.samples; i++) {
      const rtt = await this.network.rttMs(target, this.from);
      if (rtt !== null && Number.isFinite(rtt) && rtt >= 0 && (best === null || rtt < best)) best = rtt;
    }
    return best;
  }

  /**
   * This checker's vote. With `peers` (other vantage points' RTTs to the same container: other
   * checkers' signed measurements), every vantage point is judged together (`multilaterate`);
   * alone, on its own two-sided band (`judgeLocation`). `rttMs`: a measurement already taken.
   */
  async check(
    target: LocationTargetClaim,
    peers: readonly Vantage[] = [],
    rttMs?: number | null,
  ): Promise<LocationVerdict | null> {
    const rtt = rttMs === undefined ? await this.measure(target) : rttMs;
    if (rtt === null) return null;
    if (peers.length > 0) {
      const own: Vantage = { from: this.from, rttMs: rtt, ...(this.bounds ? { bounds: this.bounds } : {}) };
      const all = [own, ...peers];
      const m = multilaterate(target.claimed, all);
      const on = restingOn(target.claimed, all, (v, i) => i > 0 && v.by !== undefined)
        .map((i) => all[i]!.by!)
        .sort();
      return { ok: m.ok, reason: m.reason, rttMs: rtt, ...(on.length ? { restsOn: on[0]! } : {}) };
    }
    const got = [rtt];
    const j = judgeLocation({
      from: this.from,
      claimed: target.claimed,
      samples: got,
      ...(this.bounds ? { bounds: this.bounds } : {}),
    });
    return { ok: j.ok, reason: j.reason, rttMs: j.rttMs };
  }
}

export interface Landmark {
  /** a host at a known place (another checker, a landmark server) */
  id: string;
  lat: number;
  lon: number;
}

/**
 * How many landmarks must answer before a checker's own calibration replaces the default bounds.
 * Bounds fitted on fewer fail honest hosts: on WonderProxy's RTTs (bench `location`: 5 checkers,
 * each calibrated on the other 4 and k servers in 6 different orders), the other checkers alone
 * fail 154 of 234 honest servers, 16 more landmarks 11, 48 more up to 2, and 64 more none in all 6
 * orders; the default bounds fail none.
 */
export const MIN_CALIBRATION_LANDMARKS = 64;

/**
 * A checker's own calibration (Gueye et al.'s per-landmark bounds): the minimum of `samples` RTTs
 * from `from` to each landmark at a known place, fitted by `calibrateLandmark`. Landmarks that do
 * not answer are left out; fewer than `minLandmarks` answers (default MIN_CALIBRATION_LANDMARKS,
 * never below two) leave the default bounds (undefined), and fewer given are not probed at all.
 */
export async function calibrateOnLandmarks(
  network: NetworkPort,
  from: { lat: number; lon: number },
  landmarks: readonly Landmark[],
  samples = 5,
  opts: CalibrationOptions = {},
  minLandmarks = MIN_CALIBRATION_LANDMARKS,
): Promise<LocationBounds | undefined> {
  const need = Math.max(2, minLandmarks);
  if (landmarks.length < need) return undefined;
  const points: Array<{ distanceKm: number; rttMs: number }> = [];
  for (const l of landmarks) {
    const got: number[] = [];
    for (let i = 0; i < samples; i++) {
      const rtt = await network.rttMs({ id: l.id, claimed: { lat: l.lat, lon: l.lon } }, from);
      if (rtt !== null && Number.isFinite(rtt) && rtt >= 0) got.push(rtt);
    }
    if (got.length)
      points.push({ distanceKm: haversineKm(from.lat, from.lon, l.lat, l.lon), rttMs: Math.min(...got) });
  }
  if (points.length < need) return undefined;
  try {
    return calibrateLandmark(points, opts);
  } catch {
    return undefined;
  }
}
