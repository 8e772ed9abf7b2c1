import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AethirError, ath, CITIES, ManualClock, SeededRng } from '../../../src/core/index.js';
import type { Container } from '../../../src/ledger/index.js';
import {
  GPU_CLASS_ORDER,
  Indexer,
  referenceMatch,
  STRATEGIES,
  type MatchRequest,
  type ReferenceEntry,
} from '../../../src/indexer/index.js';
import { container, gpus, need, OFFLINE_AFTER_MS, TTL_MS } from './fixtures.js';

/**
 * The fast index must answer exactly what the plain reference answers: the same container (and
 * score), or NO_MATCH with the same counts per reason and the same relaxations. Random networks,
 * random requests, and random updates and time passing between requests.
 */

const SPECS = [
  [],
  gpus(1),
  gpus(2),
  gpus(4, 'NVIDIA H100 80GB HBM3', 81_559),
  gpus(8, 'NVIDIA A100-SXM4-40GB', 40_960),
  gpus(2, 'NVIDIA A10', 24_576, '8.6'),
  [...gpus(1, 'NVIDIA H100 80GB HBM3', 81_559), ...gpus(1, 'NVIDIA A100-SXM4-80GB', 81_920)],
  gpus(1, 'Tesla T4', 15_360),
];
/** a few cities, so that buckets hold several containers (and cells straddle latency bounds) */
const PLACES = ['Frankfurt', 'Amsterdam', 'Paris', 'Milan', 'Warsaw', 'New York', 'Chicago', 'Singapore'].map(
  (n) => CITIES.find((c) => c.city === n)!,
);
const PRICES = ['0.5', '1', '1', '1.5', '2', '2', '3'];
const APPS = ['game-a', 'game-b'];

const containerArb = fc.record({
  /** mostly two specs, so that buckets are shared */
  spec: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(1, 3) },
    fc.integer({ min: 0, max: SPECS.length - 1 }),
  ),
  city: fc.integer({ min: 0, max: PLACES.length - 1 }),
  /** off the city centre, degrees (spreads containers inside cells: edge cells) */
  jitter: fc.option(
    fc.tuple(
      fc.double({ min: -1.5, max: 1.5, noNaN: true }),
      fc.double({ min: -1.5, max: 1.5, noNaN: true }),
    ),
  ),
  price: fc.constantFrom(...PRICES),
  status: fc.constantFrom(...Array<string>(8).fill('online'), 'offline', 'pending') as fc.Arbitrary<
    Container['status']
  >,
  suspended: fc.integer({ min: 0, max: 9 }).map((x) => x === 0),
  unbonding: fc.integer({ min: 0, max: 9 }).map((x) => (x === 0 ? 1n : 0n)),
  stakeDelta: fc.constantFrom(0n, 0n, 0n, 0n, 0n, ath(1), -1n),
  leased: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.integer({ min: 0, max: 8 })),
  // tiers are whole 1..3 on the ledger; 2.5 checks the index does not rely on it
  tier: fc.oneof(
    { weight: 6, arbitrary: fc.constant(1) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 3 }) },
    fc.constant(2.5),
  ),
  heartbeat: fc.constantFrom('fresh', 'fresh', 'fresh', 'fresh', 'fresh', 'stale', 'none'),
  hbFree: fc.option(fc.integer({ min: 0, max: 8 }), { freq: 2 }),
  reputation: fc.integer({ min: 0, max: 100 }).map((x) => x / 100),
  apps: fc.subarray(APPS),
  isolation: fc.constantFrom('sandbox', 'sandbox', 'none', undefined),
  cores: fc.constantFrom(4, 8, 64),
  memoryMiB: fc.constantFrom(16_384, 65_536, 524_288),
});
type Drawn = typeof containerArb extends fc.Arbitrary<infer T> ? T : never;

function build(i: number, d: Drawn): Container {
  const city = PLACES[d.city]!;
  const spec = {
    gpus: SPECS[d.spec]!,
    cpu: { model: 'x', cores: d.cores },
    memoryMiB: d.memoryMiB,
    source: 'declared' as const,
    ...(d.isolation ? { isolation: d.isolation } : {}),
  };
  const total = spec.gpus.length;
  return container(`c${String(i).padStart(3, '0')}`, {
    spec,
    location: {
      city: city.city,
      country: city.country,
      region: city.region,
      lat: Math.max(-90, Math.min(90, city.lat + (d.jitter?.[0] ?? 0))),
      lon: Math.max(-180, Math.min(180, city.lon + (d.jitter?.[1] ?? 0))),
    },
    pricePerHour: ath(d.price),
    status: d.status,
    suspended: d.suspended,
    unbonding: d.unbonding,
    stake: need(spec) + d.stakeDelta,
    gpusTotal: total,
    gpusLeased: Math.min(total, d.leased),
    qualityTier: d.tier,
  });
}

/** null three times out of four: each constraint is present in about a quarter of the requests */
const sometimes = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });

const requestArb: fc.Arbitrary<MatchRequest> = fc
  .record({
    gpus: fc.constantFrom(0, 1, 1, 1, 2, 4, 8, 9),
    gpuModels: sometimes(fc.subarray(['4090', 'H100', 'A100', 'A10', 'T4'], { minLength: 1 })),
    minGpuClass: sometimes(fc.constantFrom(...GPU_CLASS_ORDER)),
    minVramMiB: sometimes(fc.constantFrom(16_000, 24_564, 40_960, 81_559)),
    minComputeCapability: sometimes(fc.constantFrom(7.5, 8, 8.6, 9)),
    app: sometimes(fc.constantFrom('game-a', 'game-c')),
    region: sometimes(fc.constantFrom('eu', 'us', 'eu-west', 'ap', 'zz')),
    location: fc.option(fc.integer({ min: 0, max: PLACES.length - 1 }), { freq: 2 }),
    maxLatencyMs: fc.option(fc.constantFrom(15, 40, 90, 200), { freq: 2 }),
    maxPrice: sometimes(fc.constantFrom('0.5', '0.99', '1', '1.7', '3')),
    minReputation: sometimes(fc.constantFrom(0.3, 0.8)),
    isolation: sometimes(fc.constantFrom('sandbox' as const, 'any' as const)),
    minCpuCores: sometimes(fc.constantFrom(8, 32)),
    minMemoryMiB: sometimes(fc.constantFrom(65_536, 262_144)),
    strategy: fc.constantFrom(...STRATEGIES),
  })
  .map((r) => {
    const out: MatchRequest = { user: 'ath1' + 'a'.repeat(40), gpus: r.gpus, strategy: r.strategy };
    // each optional constraint present about a third of the time
    if (r.gpuModels && r.gpus > 0) out.gpuModels = r.gpuModels;
    if (r.minGpuClass && !r.gpuModels) out.minGpuClass = r.minGpuClass;
    if (r.minVramMiB) out.minVramMiB = r.minVramMiB;
    if (r.minComputeCapability) out.minComputeCapability = r.minComputeCapability;
    if (r.app) out.app = r.app;
    if (r.region) out.region = r.region;
    if (r.location !== null)
      out.location = { lat: PLACES[r.location]!.lat + 1, lon: PLACES[r.location]!.lon - 1 };
    if (r.maxLatencyMs && (out.location || (out.region && out.region !== 'zz')))
      out.maxLatencyMs = r.maxLatencyMs;
    if (r.maxPrice) out.maxPricePerHour = ath(r.maxPrice);
    if (r.minReputation) out.minReputation = r.minReputation;
    if (r.isolation) out.isolation = r.isolation;
    if (r.minCpuCores) out.minCpuCores = r.minCpuCores;
    if (r.minMemoryMiB) out.minMemoryMiB = r.minMemoryMiB;
    return out;
  });

const stepArb = fc.record({
  request: requestArb,
  advanceMs: fc.constantFrom(0, 0, 0, 0, 500, 2000, 6000, 11_000, 31_000),
  /** the containers drawn as heartbeating send one now (else they fall silent for this step) */
  heartbeats: fc.integer({ min: 0, max: 3 }).map((x) => x > 0),
  /** an update to one container before the request: price, status, leases, stake, a heartbeat */
  update: fc.option(
    fc.record({
      which: fc.nat(),
      kind: fc.constantFrom('price', 'status', 'leased', 'stake', 'heartbeat', 'move'),
      value: fc.nat({ max: 100 }),
    }),
  ),
});

interface Mirror {
  e: ReferenceEntry;
  hbFree: number | null;
  reserved: number;
}

function ledgerFree(c: Container): number {
  return Math.max(0, Math.min(c.spec.gpus.length, c.gpusTotal) - c.gpusLeased);
}

function refreshFree(m: Mirror): void {
  const lf = ledgerFree(m.e.c);
  m.e.freeGpus = Math.max(0, Math.min(64, (m.hbFree === null ? lf : Math.min(lf, m.hbFree)) - m.reserved));
}

describe('the fast index answers as the plain reference does', () => {
  it('same container and score, or the same NO_MATCH counts and relaxations', () => {
    fc.assert(
      fc.property(
        fc.array(containerArb, { minLength: 1, maxLength: 60, size: 'medium' }),
        fc.array(stepArb, { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        (drawn, steps, bulk) => {
          const clock = new ManualClock();
          const reputation = new Map<string, number>();
          const apps = new Map<string, readonly string[]>();
          const indexer = new Indexer({
            clock,
            rng: new SeededRng('eq'),
            requiredStake: (c) => need(c.spec),
            reservationTtlMs: TTL_MS,
            offlineAfterMs: OFFLINE_AFTER_MS,
            reputation: (c) => reputation.get(c.id) ?? 1,
            appsOf: (c) => apps.get(c.id) ?? [],
          });
          const mirrors: Mirror[] = [];
          const load = () => {
            drawn.forEach((d, i) => {
              const c = build(i, d);
              reputation.set(c.id, d.reputation);
              apps.set(c.id, d.apps);
              indexer.upsert(c);
              const m: Mirror = {
                e: { c, lastHeartbeat: null, freeGpus: 0, reputation: d.reputation, apps: d.apps },
                hbFree: null,
                reserved: 0,
              };
              if (d.heartbeat !== 'none') {
                const at = d.heartbeat === 'fresh' ? clock.now() : clock.now() - OFFLINE_AFTER_MS - 1;
                indexer.heartbeat(c.id, at, d.hbFree ?? undefined);
                m.e.lastHeartbeat = at;
                m.hbFree = d.hbFree;
              }
              refreshFree(m);
              mirrors.push(m);
            });
          };
          if (bulk) indexer.bulk(load);
          else load();
          const holds: Array<{ id: string; m: Mirror; gpus: number; expiresAt: number }> = [];

          for (const step of steps) {
            clock.advance(step.advanceMs);
            for (const h of holds.splice(0).filter((x) => {
              if (x.expiresAt <= clock.now()) {
                x.m.reserved -= x.gpus;
                refreshFree(x.m);
                return false;
              }
              return true;
            }))
              holds.push(h);
            if (step.heartbeats)
              drawn.forEach((d, i) => {
                if (d.heartbeat !== 'fresh') return;
                const m = mirrors[i]!;
                indexer.heartbeat(m.e.c.id, clock.now());
                if (m.e.lastHeartbeat === null || clock.now() > m.e.lastHeartbeat)
                  m.e.lastHeartbeat = clock.now();
              });
            if (step.update && mirrors.length) {
              const m = mirrors[step.update.which % mirrors.length]!;
              const v = step.update.value;
              const c = m.e.c;
              if (step.update.kind === 'heartbeat') {
                const free = v % 10 < 3 ? undefined : v % 9;
                indexer.heartbeat(c.id, clock.now(), free);
                if (m.e.lastHeartbeat === null || clock.now() > m.e.lastHeartbeat) {
                  m.e.lastHeartbeat = clock.now();
                  if (free !== undefined) m.hbFree = free;
                }
              } else {
                const next: Container =
                  step.update.kind === 'price'
                    ? { ...c, pricePerHour: ath(PRICES[v % PRICES.length]!) }
                    : step.update.kind === 'status'
                      ? { ...c, status: v % 2 ? 'online' : 'offline', suspended: v % 7 === 0 }
                      : step.update.kind === 'leased'
                        ? { ...c, gpusLeased: Math.min(c.gpusTotal, v % 9) }
                        : step.update.kind === 'stake'
                          ? { ...c, stake: need(c.spec) + BigInt(v % 3) - 1n }
                          : {
                              ...c,
                              location: {
                                ...CITIES[v % CITIES.length]!,
                                lat: CITIES[v % CITIES.length]!.lat + (v % 5) / 2,
                              },
                            };
                m.e.c = next;
                indexer.upsert(next);
              }
              refreshFree(m);
            }
            const ref = referenceMatch(
              mirrors.map((m) => m.e),
              step.request,
              { now: clock.now(), offlineAfterMs: OFFLINE_AFTER_MS, requiredStake: (c) => need(c.spec) },
            );
            let got: ReturnType<Indexer['match']> | AethirError;
            try {
              got = indexer.match(step.request);
            } catch (e) {
              if (!(e instanceof AethirError) || e.code !== 'NO_MATCH') throw e;
              got = e;
            }
            if (ref.ok) {
              expect(got, `${JSON.stringify(step.request, bigints)} should match`).not.toBeInstanceOf(
                AethirError,
              );
              const m = got as ReturnType<Indexer['match']>;
              expect(m.container.id).toBe(ref.container.id);
              expect(m.score).toEqual(ref.score);
              const mirror = mirrors.find((x) => x.e.c.id === m.container.id)!;
              mirror.reserved += step.request.gpus;
              refreshFree(mirror);
              holds.push({
                id: m.reservation.id,
                m: mirror,
                gpus: step.request.gpus,
                expiresAt: m.reservation.expiresAt,
              });
            } else {
              expect(got, `${JSON.stringify(step.request, bigints)}: ${ref.error.message}`).toBeInstanceOf(
                AethirError,
              );
              const e = got as AethirError;
              expect(e.message).toBe(ref.error.message);
              expect(e.details).toEqual(ref.error.details);
            }
            indexer.checkInvariants();
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});

function bigints(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}
