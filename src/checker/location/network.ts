import type { Rng } from '../../core/clock.js';
import {
  drawPathFactor,
  estimateRttMs,
  haversineKm,
  normalDraw,
  LATENCY_MODEL,
  sampleRttMs,
  type LatencyModel,
} from '../../core/latency.js';
import { DEFAULT_BOUNDS, lowerMs } from './bounds.js';
import type { PlaceRtts, RttDataset } from './wonderproxy.js';

/** What a location checker measures a container by. */
export interface LocationTarget {
  /** the container's id */
  id: string;
  /** where it says it is */
  claimed: { lat: number; lon: number };
}

/**
 * The network, as a location checker sees it: one RTT sample from the checker's place to a
 * container, in ms, or null when the container does not answer. Production implements it with
 * real probes (a TCP connect or an echo to the container's endpoint); tests and the devnet inject
 * `ModelNetwork` or `TableNetwork`.
 */
export interface NetworkPort {
  rttMs(target: LocationTarget, from: { lat: number; lon: number }): Promise<number | null>;
}

type Where = { lat: number; lon: number };

/**
 * SIMULATED network: every RTT is drawn from the latency model (src/core/latency.ts, fitted on
 * WonderProxy's real RTTs) between the checker's place and the container's TRUE place, with an
 * injected Rng, so a run is reproducible from its seed. A container is where it claims to be
 * unless `whereIs` or `place()` says otherwise (a cheater: `place('c1', singapore)` while it
 * claims Frankfurt). Each checker–container path keeps one persistent deviation from the estimate
 * (the model's log-normal path factor), and samples add jitter.
 *
 * The model's log-normal spread is symmetric, real paths are not: none of WonderProxy's 57,262
 * pairs between correctly listed servers is faster than the bestline (bounds.ts), while a
 * log-normal draws a path at half the estimate once in 40. A simulated sample is therefore never
 * below the default lower line: the floor the real data shows, not a made-up one.
 *
 * Independent draws per path are not the Internet either: on WonderProxy's pairs a checker's
 * calibrated upper line is crossed by 0.15% of honest paths and 12% come within 20 ms of its lower
 * line, on the model's draws 0.43% and 21%, so with the devnet's three checkers the model refuted
 * 0.65% of honest hosts (a lone slow path beside a tight one: Singapore 524 ms to Paris beside
 * Ashburn's 62 ms), where random panels of three real servers refute 0.04%. With `measured`
 * (`CITY_RTTS`: WonderProxy's RTTs between the devnet's cities) no path is drawn: a path is the
 * model's estimate times the inflation (measured RTT over estimate) of the measured paths between
 * the three cities nearest each end, weighted by nearness (1 / (km + 1)² each end), so between
 * two cities of the table it is the measured RTT, and elsewhere what the routes between those
 * neighbourhoods show; plus the container's own access delay (0 to 2 ms, drawn once per
 * container: hosts in one city differ by their last mile) and the jitter. Mixing measured paths
 * with drawn ones does not work: checkers calibrate on landmarks in the table's cities, and a
 * host elsewhere judged on the model's wider draws was refuted 14% of the time.
 */
export class ModelNetwork implements NetworkPort {
  private readonly rng: Rng;
  private readonly model: Readonly<LatencyModel>;
  private readonly whereIs: ((id: string) => Where | undefined) | undefined;
  private readonly placed = new Map<string, Where>();
  private readonly paths = new Map<string, number>();
  private readonly silent = new Set<string>();
  private readonly measured: Readonly<PlaceRtts> | undefined;
  private readonly access = new Map<string, number>();

  constructor(opts: {
    rng: Rng;
    model?: Readonly<LatencyModel>;
    whereIs?: (id: string) => Where | undefined;
    /** measured RTTs between places (`CITY_RTTS`), replayed for paths between them */
    measured?: Readonly<PlaceRtts>;
  }) {
    this.rng = opts.rng;
    this.model = opts.model ?? LATENCY_MODEL;
    this.whereIs = opts.whereIs;
    this.measured = opts.measured;
  }

  /** Registers where container `id` really is (whatever it claims). */
  place(id: string, where: Where): this {
    this.placed.set(id, { lat: where.lat, lon: where.lon });
    return this;
  }

  /** Container `id` stops answering (true) or answers again (false). */
  mute(id: string, muted = true): this {
    if (muted) this.silent.add(id);
    else this.silent.delete(id);
    return this;
  }

  /** Where the container really is: registered, else `whereIs`, else its claim. */
  truePlace(target: LocationTarget): Where {
    return this.placed.get(target.id) ?? this.whereIs?.(target.id) ?? target.claimed;
  }

  rttMs(target: LocationTarget, from: Where): Promise<number | null> {
    if (this.silent.has(target.id)) return Promise.resolve(null);
    const to = this.truePlace(target);
    const measured = this.measuredMs(from, to);
    if (measured !== undefined) {
      let access = this.access.get(target.id);
      if (access === undefined) {
        access = 2 * this.rng.next();
        this.access.set(target.id, access);
      }
      return Promise.resolve(
        (measured + access) * (1 + this.model.jitter * Math.abs(normalDraw(this.rng)) * 1.2533),
      );
    }
    const key = `${from.lat},${from.lon}>${target.id}@${to.lat},${to.lon}`;
    let path = this.paths.get(key);
    if (path === undefined) {
      path = drawPathFactor(this.rng, this.model);
      this.paths.set(key, path);
    }
    const km = haversineKm(from.lat, from.lon, to.lat, to.lon);
    const rtt = sampleRttMs(from, to, this.rng, { model: this.model, pathFactor: path });
    return Promise.resolve(Math.max(rtt, lowerMs(DEFAULT_BOUNDS, km)));
  }

  /**
   * The model's estimate for a to b, times the measured paths' inflation (measured RTT over the
   * model's estimate) between the table's places near a and those near b, weighted by nearness:
   * between two places of the table the measured RTT itself (to 0.1%), elsewhere what the paths
   * between their neighbourhoods show. Undefined without a table, or where it holds no pair.
   */
  private measuredMs(a: Where, b: Where): number | undefined {
    const t = this.measured;
    if (!t) return undefined;
    const na = neighbours(t, a);
    const nb = neighbours(t, b);
    let sum = 0;
    let weights = 0;
    for (const p of na)
      for (const q of nb) {
        if (p.i === q.i) continue;
        const ms = t.rttMs[p.i]?.[q.i];
        if (ms === null || ms === undefined) continue;
        const w = p.w * q.w;
        sum += (w * ms) / estimateRttMs(t.places[p.i]!, t.places[q.i]!, this.model);
        weights += w;
      }
    return weights > 0 ? estimateRttMs(a, b, this.model) * (sum / weights) : undefined;
  }
}

/** The places of a table nearest `w` that stand for it: the 3 nearest, weighted 1 / (km + 1)². */
function neighbours(t: Readonly<PlaceRtts>, w: Where): Array<{ i: number; w: number }> {
  return t.places
    .map((p, i) => ({ i, km: haversineKm(w.lat, w.lon, p.lat, p.lon) }))
    .sort((x, y) => x.km - y.km)
    .slice(0, 3)
    .map(({ i, km }) => ({ i, w: 1 / (km + 1) ** 2 }));
}

/**
 * RTTs from real measurements (WonderProxy, `parseWonderProxy`): the checker's place and the
 * target's id must be servers of the data set (the checker is matched by coordinates, within
 * 1 km); the target's TRUE place is its server, whatever it claims. Answers each pair's average
 * RTT over the day (`column: 'min'`: the lowest), the same for every sample; null for a pair
 * never measured.
 */
export class TableNetwork implements NetworkPort {
  private readonly rtt = new Map<string, number>();
  private readonly coords: Array<{ id: string; lat: number; lon: number }>;

  constructor(data: RttDataset, opts: { column?: 'min' | 'avg' } = {}) {
    const col = opts.column ?? 'avg';
    for (const p of data.pairs)
      this.rtt.set(`${p.source}>${p.destination}`, col === 'min' ? p.minMs : p.avgMs);
    this.coords = [...data.servers.values()].map((s) => ({ id: s.id, lat: s.lat, lon: s.lon }));
  }

  /** The server at (or within 1 km of) a place, if any. */
  serverAt(where: Where): string | undefined {
    let best: string | undefined;
    let bestKm = 1;
    for (const s of this.coords) {
      const km = haversineKm(where.lat, where.lon, s.lat, s.lon);
      if (km <= bestKm) {
        best = s.id;
        bestKm = km;
      }
    }
    return best;
  }

  /** The measured RTT between two servers, by id. */
  between(source: string, destination: string): number | null {
    return this.rtt.get(`${source}>${destination}`) ?? null;
  }

  rttMs(target: LocationTarget, from: Where): Promise<number | null> {
    const source = this.serverAt(from);
    return Promise.resolve(source === undefined ? null : this.between(source, target.id));
  }
}

/**
 * SIMULATED landmarks for a ModelNetwork: `perPlace` hosts in each of the given places (the
 * latency model gives each its own path), for a checker's calibration (calibrateOnLandmarks).
 */
export function simulatedLandmarks(
  places: ReadonlyArray<{ city: string; lat: number; lon: number }>,
  perPlace = 4,
): Array<{ id: string; lat: number; lon: number }> {
  return places.flatMap((p) =>
    Array.from({ length: perPlace }, (_, k) => ({ id: `landmark:${p.city}:${k}`, lat: p.lat, lon: p.lon })),
  );
}

/**
 * Times one round trip to host:port (a TCP handshake: SYN to SYN-ACK), in ms, or null when it
 * does not answer within timeoutMs. The socket and the timer live outside src/checker (the node's
 * `TcpRttProbe`), so checker code stays deterministic; tests can inject their own.
 */
export interface RttProbe {
  rttMs(host: string, port: number, timeoutMs: number): Promise<number | null>;
}

/** "http://10.0.0.5:8080/x", "https://h", "h:9000" -> host and port; null when it is not one. */
export function probeAddress(address: string): { host: string; port: number } | null {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `tcp://${address}`);
  } catch {
    return null;
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const fallback = url.protocol === 'https:' ? 443 : url.protocol === 'http:' ? 80 : NaN;
  const port = url.port ? Number(url.port) : fallback;
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { host, port };
}

/**
 * The REAL network: each sample is one TCP handshake from this checker to the target's address
 * (a container's endpoint from its heartbeat; a landmark's API), timed by the injected probe.
 * The checker takes the minimum of its samples (queuing only adds delay). A target without a
 * known address, or one that does not answer, gives null: no location verdict (liveness).
 * `from` is where the probe runs: this machine, whatever the caller passes.
 */
export class ProbeNetwork implements NetworkPort {
  private readonly probe: RttProbe;
  private readonly addressOf: (id: string) => string | null | undefined;
  private readonly timeoutMs: number;

  constructor(opts: {
    probe: RttProbe;
    /** a target's address: "http://host:port" or "host:port" */
    addressOf: (id: string) => string | null | undefined;
    /** how long one handshake may take (default 2 s) */
    timeoutMs?: number;
  }) {
    this.probe = opts.probe;
    this.addressOf = opts.addressOf;
    this.timeoutMs = opts.timeoutMs ?? 2000;
  }

  async rttMs(target: LocationTarget): Promise<number | null> {
    const address = this.addressOf(target.id);
    const at = address ? probeAddress(address) : null;
    if (!at) return null;
    const rtt = await this.probe.rttMs(at.host, at.port, this.timeoutMs);
    return rtt !== null && Number.isFinite(rtt) && rtt >= 0 ? rtt : null;
  }
}
