import { haversineKm } from '../../core/latency.js';
import { LIGHT_MS_PER_KM } from './bounds.js';

/**
 * WonderProxy's "A day in the life of the internet" (2020-07-19, via sm86/geo-latency-data @
 * ad13da0f), parsed: servers with their listed place, and the min/avg RTT of every measured pair.
 * The files live outside the project (../shared/data/rtt/wonderproxy/); callers read them and pass
 * the text, so this module does no I/O.
 */

export interface RttServer {
  id: string;
  city: string;
  country: string;
  lat: number;
  lon: number;
}

export interface RttPair {
  source: string;
  destination: string;
  /** great-circle distance between the listed places */
  km: number;
  /** lowest RTT over the day */
  minMs: number;
  /** average RTT over the day */
  avgMs: number;
}

export interface RttDataset {
  servers: Map<string, RttServer>;
  /** distinct, known servers only */
  pairs: RttPair[];
}

function columns(header: string, names: readonly string[]): number[] {
  const head = header.split(',');
  return names.map((n) => {
    const i = head.indexOf(n);
    if (i < 0) throw new RangeError(`column "${n}" missing from "${header}"`);
    return i;
  });
}

/** servers-*.csv and pings-*-grouped.csv, as text. */
export function parseWonderProxy(serversCsv: string, pingsCsv: string): RttDataset {
  const servers = new Map<string, RttServer>();
  const sLines = serversCsv.trim().split('\n');
  const [iId, iTitle, iCountry, iLat, iLon] = columns(sLines[0]!, [
    'id',
    'title',
    'country',
    'latitude',
    'longitude',
  ]);
  for (const line of sLines.slice(1)) {
    const f = line.split(',');
    const lat = Number(f[iLat!]);
    const lon = Number(f[iLon!]);
    if (!Number.isFinite(lat) || !Number.isFinite(lon)) continue;
    const id = f[iId!]!;
    servers.set(id, { id, city: f[iTitle!]!, country: f[iCountry!]!, lat, lon });
  }
  const pairs: RttPair[] = [];
  const pLines = pingsCsv.trim().split('\n');
  const [iSrc, iDst, iMin, iAvg] = columns(pLines[0]!, ['source', 'destination', 'min', 'avg']);
  for (const line of pLines.slice(1)) {
    const f = line.split(',');
    const source = f[iSrc!]!;
    const destination = f[iDst!]!;
    if (source === destination) continue;
    const a = servers.get(source);
    const b = servers.get(destination);
    const minMs = Number(f[iMin!]);
    const avgMs = Number(f[iAvg!]);
    if (!a || !b || !(minMs > 0) || !(avgMs > 0)) continue;
    pairs.push({ source, destination, km: haversineKm(a.lat, a.lon, b.lat, b.lon), minMs, avgMs });
  }
  return { servers, pairs };
}

/**
 * Servers whose listed coordinates are impossible: some pair with them is faster than light in
 * fibre over the listed distance, so one of the two is not where it is said to be. Removed
 * greedily, the server with most such pairs first, until no pair is impossible. In the 2020-07-19
 * data: La Ceiba (HN), Belfast (GB), Rome (IT), Prague (CZ), Wellington (NZ), Santiago (CL) and
 * Shenzhen (CN) — e.g. "La Ceiba" answers Secaucus, NJ in 3.7 ms over a listed 3,040 km.
 */
export function impossibleServers(data: RttDataset): Set<string> {
  const out = new Set<string>();
  for (;;) {
    const count = new Map<string, number>();
    for (const p of data.pairs) {
      if (out.has(p.source) || out.has(p.destination)) continue;
      if (p.minMs >= p.km * LIGHT_MS_PER_KM) continue;
      count.set(p.source, (count.get(p.source) ?? 0) + 1);
      count.set(p.destination, (count.get(p.destination) ?? 0) + 1);
    }
    if (count.size === 0) return out;
    const [worst] = [...count].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]!;
    out.add(worst);
  }
}

/** Measured RTTs between named places: `rttMs[i][j]` between `places[i]` and `places[j]`. */
export interface PlaceRtts {
  /** the places ("City, CC" and where), in the order of the matrix */
  places: Array<{ name: string; lat: number; lon: number }>;
  /** the WonderProxy server that stands in for each place, and how far it is from it (km) */
  servers: Array<{ id: string; city: string; km: number }>;
  /** symmetric, ms, 0 on the diagonal (a place to itself is not measured); null: never measured */
  rttMs: Array<Array<number | null>>;
}

/**
 * The measured RTT between each pair of `places`: each place stands in for its nearest server
 * (of the possible ones, within `maxKm`), and a pair's RTT is the lower of the two directions'
 * minimum RTTs over the day (a checker takes the minimum of its samples), to the µs. For the
 * devnet's simulated world (`CITY_RTTS`, replayed by ModelNetwork's `measured`); throws when a
 * place has no server near it.
 */
export function placeRtts(
  data: RttDataset,
  places: ReadonlyArray<{ city: string; country: string; lat: number; lon: number }>,
  maxKm = 150,
): PlaceRtts {
  const bad = impossibleServers(data);
  const candidates = [...data.servers.values()].filter((s) => !bad.has(s.id));
  const servers = places.map((p) => {
    let best: RttServer | undefined;
    let bestKm = Number.POSITIVE_INFINITY;
    for (const s of candidates) {
      const km = haversineKm(p.lat, p.lon, s.lat, s.lon);
      if (km < bestKm) [best, bestKm] = [s, km];
    }
    if (!best || bestKm > maxKm)
      throw new RangeError(`no WonderProxy server within ${maxKm} km of ${p.city}, ${p.country}`);
    return { id: best.id, city: best.city, km: Math.round(bestKm) };
  });
  const min = new Map<string, number>();
  for (const p of data.pairs) {
    const key = p.source < p.destination ? `${p.source}|${p.destination}` : `${p.destination}|${p.source}`;
    min.set(key, Math.min(min.get(key) ?? Number.POSITIVE_INFINITY, p.minMs));
  }
  const rttMs = servers.map((a, i) =>
    servers.map((b, j) => {
      if (i === j || a.id === b.id) return 0;
      const key = a.id < b.id ? `${a.id}|${b.id}` : `${b.id}|${a.id}`;
      const ms = min.get(key);
      return ms === undefined ? null : Math.round(ms * 1000) / 1000;
    }),
  );
  return {
    places: places.map((p) => ({ name: `${p.city}, ${p.country}`, lat: p.lat, lon: p.lon })),
    servers,
    rttMs,
  };
}
