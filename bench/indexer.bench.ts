import { ath, CITIES, isAethirError, ManualClock, SeededRng, type Rng } from '../src/core/index.js';
import { DEFAULT_PARAMS, requiredStake, type Container, type Params } from '../src/ledger/index.js';
import { Indexer, type MatchRequest, type Strategy } from '../src/indexer/index.js';
import { syntheticAddress, syntheticContainer } from './fixtures.js';
import { interleavedSamples, percentile, row, sink, type BenchOptions, type Row } from './harness.js';

/**
 * Indexer.match latency and throughput over a realistic pool of containers, against a naive
 * matcher that maps every container through the full filter + score, then sorts, per request.
 * Every reservation is released right after its match so the pool never drains.
 */

const RESERVATION_TTL_MS = 15_000;
const OFFLINE_AFTER_MS = 7_000;

interface Tracked {
  c: Container;
  lastHeartbeat: number | null;
}

/** The baseline: no index, no early exit; every container is scored on every request. */
function naiveMatch(
  all: readonly Tracked[],
  req: MatchRequest,
  now: number,
  params: Params,
): Container | null {
  const strategy: Strategy = req.strategy ?? 'lowest-fee';
  const model = req.gpuModel?.toLowerCase();
  const scored = all.map((e) => {
    const c = e.c;
    let reason: string | null = null;
    if (c.status !== 'online' || e.lastHeartbeat === null || now - e.lastHeartbeat > OFFLINE_AFTER_MS)
      reason = 'offline';
    else if (c.stake < requiredStake(params, c.gpusTotal)) reason = 'stake below requirement';
    else if (req.region && !c.location.region.startsWith(req.region)) reason = 'region';
    else if (model && (c.gpusTotal === 0 || !c.spec.gpus.every((g) => g.model.toLowerCase().includes(model))))
      reason = 'gpu model';
    else if (c.gpusTotal < req.gpus) reason = 'not enough GPUs';
    else if (req.maxPricePerHour !== undefined && c.pricePerHour > req.maxPricePerHour)
      reason = 'price above budget';
    else if (c.gpusTotal - c.gpusLeased < req.gpus) reason = 'GPUs busy';
    const load = strategy === 'lowest-fee' ? 0 : c.openLeases + (c.spec.source === 'probed' ? 0 : 1);
    return { c, reason, price: c.pricePerHour, load };
  });
  const ok = scored
    .filter((s) => s.reason === null)
    .sort((a, b) => {
      if (strategy !== 'lowest-fee' && a.load !== b.load) return a.load - b.load;
      if (a.price !== b.price) return a.price < b.price ? -1 : 1;
      return a.load - b.load || (a.c.id < b.c.id ? -1 : 1);
    });
  return ok[0]?.c ?? null;
}

const MODELS = ['H100', 'H200', 'A100', 'L40S', '4090', '3090', 'A5000'];
const REGIONS = [...new Set(CITIES.map((c) => c.region))];
const REGION_PREFIXES = ['eu', 'us', 'ap', ...REGIONS];

function syntheticRequests(rng: Rng, n: number): MatchRequest[] {
  const users = Array.from({ length: 16 }, (_, i) => syntheticAddress('user', i));
  const strategies: Strategy[] = ['lowest-fee', 'lowest-fee', 'lowest-fee', 'best-experience', 'balanced'];
  return Array.from({ length: n }, () => {
    const r = rng.next();
    const gpus = r < 0.05 ? 0 : r < 0.5 ? 1 : r < 0.7 ? 2 : r < 0.85 ? 4 : 8;
    const req: MatchRequest = { gpus, user: rng.pick(users), strategy: rng.pick(strategies) };
    if (gpus > 0 && rng.next() < 0.5) req.gpuModel = rng.pick(MODELS);
    if (rng.next() < 0.5) req.region = rng.pick(REGION_PREFIXES);
    if (rng.next() < 0.3) req.maxPricePerHour = (ath(1) * BigInt(rng.int(500, 4000))) / 1000n;
    return req;
  });
}

export function runIndexer(opts: BenchOptions): Row[] {
  const rows: Row[] = [];
  for (const n of [1_000, 10_000]) {
    opts.log(`indexer: ${n} containers (setup)`);
    const rng = new SeededRng(`indexer:${n}`);
    const clock = new ManualClock();
    const params = DEFAULT_PARAMS;
    const indexer = new Indexer({
      clock,
      rng: new SeededRng(`indexer-reservations:${n}`),
      params: () => params,
      reservationTtlMs: RESERVATION_TTL_MS,
      offlineAfterMs: OFFLINE_AFTER_MS,
    });
    const tracked: Tracked[] = [];
    for (let i = 0; i < n; i++) {
      // ~10% offline, pending or under-staked; ~5% more whose heartbeats stopped a minute ago
      const c = syntheticContainer(rng, i, params, clock.now() - 86_400_000, { unavailableShare: 0.1 });
      const hb = rng.next() < 0.05 ? clock.now() - 60_000 : clock.now() - rng.int(0, 2_000);
      indexer.upsert(c);
      indexer.heartbeat(c.id, hb);
      tracked.push({ c, lastHeartbeat: hb });
    }
    const requests = syntheticRequests(rng, 1024);

    // The baseline must answer like the indexer does; a difference is reported, not fatal
    // (the indexer's ranking may legitimately move ahead of this copy of it).
    const checked = requests.slice(0, opts.quick ? 64 : n >= 10_000 ? 128 : 512);
    let agree = 0;
    let noMatch = 0;
    for (const req of checked) {
      let picked: string | null = null;
      try {
        const m = indexer.match(req);
        indexer.release(m.reservation.id);
        picked = m.container.id;
      } catch (e) {
        if (!isAethirError(e) || e.code !== 'NO_MATCH') throw e;
        noMatch++;
      }
      if ((naiveMatch(tracked, req, clock.now(), params)?.id ?? null) === picked) agree++;
    }
    opts.log(
      `indexer: ${n} containers: ${noMatch}/${checked.length} requests find no match; ` +
        `baseline agrees on ${agree}/${checked.length} picks`,
    );
    if (agree !== checked.length)
      opts.log('indexer: WARNING: the naive baseline ranks differently from Indexer.match');

    opts.log(`indexer: ${n} containers`);
    const res = interleavedSamples(
      opts.quick ? 1 : 3,
      {
        indexer: (i) => {
          try {
            const m = indexer.match(requests[i % requests.length]!);
            indexer.release(m.reservation.id);
            sink(m);
          } catch (e) {
            if (!isAethirError(e) || e.code !== 'NO_MATCH') throw e;
          }
        },
        naive: (i) => sink(naiveMatch(tracked, requests[i % requests.length]!, clock.now(), params)),
      },
      {
        warmupMs: opts.quick ? 30 : 150,
        durationMs: opts.quick ? 300 : n >= 10_000 ? 3_000 : 1_600,
        minIters: 100,
      },
    );
    const label = `Indexer.match, ${n.toLocaleString('en-US')} containers`;
    const baselineName = 'naive map + filter + score + sort';
    const rate = (s: { samplesUs: number[]; ns: number }) => (s.samplesUs.length * 1e9) / s.ns;
    for (const [stat, p] of [
      ['p50', 50],
      ['p99', 99],
    ] as const) {
      rows.push(
        row({
          suite: 'indexer',
          name: `${label}, ${stat}`,
          value: percentile(res.indexer.samplesUs, p),
          unit: 'µs',
          baseline: percentile(res.naive.samplesUs, p),
          baselineName,
          better: 'lower',
        }),
      );
    }
    rows.push(
      row({
        suite: 'indexer',
        name: `${label}, throughput`,
        value: rate(res.indexer),
        unit: 'matches/s',
        baseline: rate(res.naive),
        baselineName,
        better: 'higher',
      }),
    );
  }
  return rows;
}
