import { describe, expect, it } from 'vitest';
import { ath } from '../../../src/core/index.js';
import type { Container } from '../../../src/ledger/index.js';
import { normalizeRequest, type MatchRequest, type Relaxation } from '../../../src/indexer/index.js';
import { IndexStore } from '../../../src/indexer/index-store.js';
import { container, gpus, locationOf, USER } from './fixtures.js';

/**
 * The index (src/indexer/index-store.ts) on its own, every expected value worked out by hand in
 * this file: which container wins, the costs and round trips behind it, and how many containers
 * each constraint rules out. Nothing here calls the scoring helpers (costOf, scoreOf, better,
 * rttForKm) that the index and the reference matcher share, so a mistake in them shows here.
 */

const OFFLINE_AFTER_MS = 30_000;
const T0 = 1_000_000;
/** the latency model by hand: 7.495 ms + 2 × km × 1.7375 (path inflation) / (c / 1.468) */
const rttByHand = (km: number) => 7.495 + (2 * km * 1.7375 * 1.468) / 299.792458;
/** great-circle km along one meridian (same longitude): R × Δlat in radians */
const meridianKm = (dLat: number) => (6371.0088 * Math.abs(dLat) * Math.PI) / 180;

function store(opts: { stake?: bigint; reputation?: (c: Container) => number; apps?: string[] } = {}) {
  return new IndexStore({
    offlineAfterMs: OFFLINE_AFTER_MS,
    requiredStake: () => opts.stake ?? 0n,
    reputation: opts.reputation ?? (() => 1),
    appsOf: () => opts.apps ?? [],
  });
}

/** Adds containers (each heartbeats at T0 with all its GPUs free unless `free` says otherwise). */
function fill(s: IndexStore, cs: Array<Container & { free?: number }>) {
  for (const c of cs) {
    s.upsert(c, T0);
    s.heartbeat(c.id, T0, c.free ?? c.gpusTotal - c.gpusLeased, T0);
  }
}

function match(s: IndexStore, req: Partial<MatchRequest>, now = T0) {
  s.advance(now);
  s.beginMatch();
  const Q = s.prepare(normalizeRequest({ user: USER, gpus: 1, ...req } as MatchRequest));
  const r = s.search(Q);
  return {
    id: r.slot >= 0 ? s.ids[r.slot]! : null,
    latencyMs: r.latencyMs,
    candidates: s.candidates(Q),
    // explain() counts why nothing was found (an eligible container there is an inconsistency)
    ruledOut: r.slot >= 0 ? null : s.explain(Q),
  };
}

describe('IndexStore: lowest-fee', () => {
  it('picks the cheapest; at one price, the lowest id', () => {
    const s = store();
    fill(s, [
      container('c-3', { pricePerHour: ath(3) }),
      container('c-2b', { pricePerHour: ath(2) }),
      container('c-2a', { pricePerHour: ath(2) }),
      container('c-5', { pricePerHour: ath(5) }),
    ]);
    expect(s.size()).toBe(4);
    const m = match(s, {});
    expect(m).toMatchObject({ id: 'c-2a', latencyMs: null, candidates: 4 });
    // the cheapest gone, the next two in price order
    s.upsert(container('c-2a', { pricePerHour: ath(2), status: 'offline' }), T0);
    expect(match(s, {}).id).toBe('c-2b');
    s.upsert(container('c-2b', { pricePerHour: ath(9) }), T0);
    expect(match(s, {}).id).toBe('c-3');
  });

  it('a price budget rules out what costs more: 2 of 3 here', () => {
    const s = store();
    fill(s, [
      container('a', { pricePerHour: ath(1) + 1n }),
      container('b', { pricePerHour: ath(4) }),
      container('c', { pricePerHour: ath(1) }),
    ]);
    expect(match(s, { maxPricePerHour: ath(1) }).id).toBe('c');
    const none = match(s, { maxPricePerHour: ath(1) - 1n });
    expect(none.id).toBeNull();
    expect(none.ruledOut).toEqual({ 'price above budget': 3 });
  });
});

describe('IndexStore: GPUs, hardware and state', () => {
  it('counts each ruled-out container once, under its first reason', () => {
    const s = store({ stake: ath(100) });
    fill(s, [
      container('ok', { stake: ath(100) }), // 2 × RTX 4090, staked
      container('off', { status: 'offline', stake: ath(100) }),
      container('susp', { suspended: true, stake: ath(100) }),
      container('unb', { unbonding: 1n, stake: ath(100) }),
      container('h100', { model: 'NVIDIA H100 80GB HBM3', memoryMiB: 81_559, stake: ath(100) }),
      container('one', { gpusTotal: 1, stake: ath(100) }),
      container('busy', { gpusLeased: 1, stake: ath(100) }),
      container('poor', { stake: ath(100) - 1n }),
    ]);
    const m = match(s, { gpus: 2, gpuModel: 'RTX 4090' });
    expect(m.id).toBe('ok');
    expect(m.candidates).toBe(2); // 'ok' and 'poor': the stake is checked per container
    const none = match(s, { gpus: 2, gpuModel: 'RTX 4090', minVramMiB: 24_565 });
    expect(none.id).toBeNull();
    expect(none.ruledOut).toEqual({
      offline: 1,
      suspended: 1,
      unbonding: 1,
      'gpu model': 1, // the H100
      VRAM: 4, // 24,564 MiB < 24,565: ok, one, busy, poor
    });
    const two = match(s, { gpus: 2, gpuModel: 'RTX 4090', minVramMiB: 24_564, maxPricePerHour: ath(5) });
    expect(two.id).toBe('ok');
    s.upsert(container('ok', { stake: ath(100), status: 'offline' }), T0);
    const rest = match(s, { gpus: 2, gpuModel: 'RTX 4090' });
    expect(rest.id).toBeNull();
    expect(rest.ruledOut).toEqual({
      offline: 2,
      suspended: 1,
      unbonding: 1,
      'gpu model': 1,
      'not enough GPUs': 1, // 'one' has a single GPU
      'GPUs busy': 1, // 'busy' has one of two leased
      'stake below requirement': 1, // 'poor': 1 unit short
    });
  });

  it('free GPUs follow heartbeats and reservations; a silent container leaves the index', () => {
    const s = store();
    fill(s, [container('a', { gpusTotal: 4, model: 'NVIDIA A100-SXM4-80GB', memoryMiB: 81_920 })]);
    expect(match(s, { gpus: 4 }).id).toBe('a');
    s.heartbeat('a', T0 + 1, 3, T0 + 1); // one GPU busy outside the ledger
    expect(match(s, { gpus: 4 }, T0 + 1).ruledOut).toEqual({ 'GPUs busy': 1 });
    expect(match(s, { gpus: 3 }, T0 + 1).id).toBe('a');
    const slot = s.slot('a')!;
    s.setReserved(slot, 2, T0 + 1); // 3 free − 2 reserved = 1
    expect(match(s, { gpus: 2 }, T0 + 1).ruledOut).toEqual({ 'GPUs busy': 1 });
    expect(match(s, { gpus: 1 }, T0 + 1).id).toBe('a');
    s.setReserved(slot, 0, T0 + 1);
    // an older heartbeat changes nothing
    s.heartbeat('a', T0, 0, T0 + 1);
    expect(match(s, { gpus: 3 }, T0 + 1).id).toBe('a');
    // silent for offlineAfterMs: still in at exactly the limit, out 1 ms later
    expect(match(s, { gpus: 1 }, T0 + 1 + OFFLINE_AFTER_MS).id).toBe('a');
    const gone = match(s, { gpus: 1 }, T0 + 2 + OFFLINE_AFTER_MS);
    expect(gone.id).toBeNull();
    expect(gone.ruledOut).toEqual({ offline: 1 });
    // a fresh heartbeat brings it back
    s.heartbeat('a', T0 + 3 + OFFLINE_AFTER_MS, 4, T0 + 3 + OFFLINE_AFTER_MS);
    expect(match(s, { gpus: 4 }, T0 + 3 + OFFLINE_AFTER_MS).id).toBe('a');
  });

  it('reputation and apps are checked per container', () => {
    const s = store({ reputation: (c) => (c.id === 'low' ? 0.4 : 0.9), apps: [] });
    fill(s, [container('low', { pricePerHour: ath(1) }), container('high', { pricePerHour: ath(2) })]);
    expect(match(s, {}).id).toBe('low');
    expect(match(s, { minReputation: 0.5 }).id).toBe('high');
    const none = match(s, { minReputation: 0.95 });
    expect(none.ruledOut).toEqual({ reputation: 2 });
    expect(match(s, { app: 'game' }).ruledOut).toEqual({ 'app not installed': 2 });
  });
});

describe('IndexStore: latency', () => {
  // The user on the equator at longitude 10; containers due north of it, so the great-circle
  // distance is R × Δlat. Where they sit is all that differs (their city names do not matter).
  const at = (lat: number) => ({ ...locationOf('Frankfurt'), lat, lon: 10 });
  const user = { lat: 0, lon: 10 };

  it('reports the round trip of the winner, from the distance by hand', () => {
    const s = store();
    fill(s, [container('near', { location: at(9), pricePerHour: ath(3) })]);
    const m = match(s, { location: user, strategy: 'best-experience' });
    expect(m.id).toBe('near');
    expect(m.latencyMs).toBeCloseTo(rttByHand(meridianKm(9)), 9);
  });

  it('best-experience trades price for latency and quality by its weights (0.1, 0.6, 0.3)', () => {
    const s = store();
    // cost = 0.1 × price/2 + 0.6 × rtt/100 + 0.3 × (3 − tier)/2
    const near = { lat: 9, price: 3, tier: 2 };
    const far = { lat: 45, price: 1, tier: 3 };
    const cost = (x: typeof near) =>
      0.1 * (x.price / 2) + 0.6 * (rttByHand(meridianKm(x.lat)) / 100) + (0.3 * (3 - x.tier)) / 2;
    // near: 0.15 + 0.6 × (7.495 + 1000.75 × 0.017016…)/100 + 0.15 ≈ 0.447; far: 0.05 + 0.6 × 0.941… ≈ 0.615
    expect(cost(near)).toBeLessThan(cost(far));
    fill(s, [
      container('near', { location: at(near.lat), pricePerHour: ath(near.price), qualityTier: near.tier }),
      container('far', { location: at(far.lat), pricePerHour: ath(far.price), qualityTier: far.tier }),
    ]);
    expect(match(s, { location: user, strategy: 'best-experience' }).id).toBe('near');
    // lowest-fee ignores where the user is
    expect(match(s, { location: user }).id).toBe('far');
    // balanced (0.5, 0.35, 0.15): near 0.75 + 0.0916 + 0.075 = 0.917; far 0.25 + 0.508 + 0 = 0.758
    const balanced = (x: typeof near) =>
      0.5 * (x.price / 2) + 0.35 * (rttByHand(meridianKm(x.lat)) / 100) + (0.15 * (3 - x.tier)) / 2;
    expect(balanced(far)).toBeLessThan(balanced(near));
    expect(match(s, { location: user, strategy: 'balanced' }).id).toBe('far');
  });

  it('maxLatencyMs rules out what is farther than its bound, by the distance by hand', () => {
    const s = store();
    fill(s, [
      container('n10', { location: at(10), pricePerHour: ath(2) }),
      container('n20', { location: at(20), pricePerHour: ath(1) }),
    ]);
    const r10 = rttByHand(meridianKm(10)); // ≈ 26.4 ms
    const r20 = rttByHand(meridianKm(20)); // ≈ 45.3 ms
    // a bound between the two: only the nearer one, though it costs more
    const m = match(s, { location: user, maxLatencyMs: (r10 + r20) / 2 });
    expect(m.id).toBe('n10');
    expect(m.latencyMs).toBeCloseTo(r10, 9);
    // just under the nearer one's round trip: neither
    const none = match(s, { location: user, maxLatencyMs: r10 - 0.01 });
    expect(none.id).toBeNull();
    expect(none.ruledOut).toEqual({ latency: 2 });
    // and the relaxation names the bound that would find one: r10 rounded up to 0.1 ms
    s.beginMatch();
    const relax = s.relaxations(
      normalizeRequest({ user: USER, gpus: 1, location: user, maxLatencyMs: r10 - 0.01 }),
    );
    expect(relax.find((r: Relaxation) => r.constraint === 'maxLatencyMs')?.value).toBe(
      Math.ceil(r10 * 10) / 10,
    );
  });
});

describe('IndexStore: GPU counts of containers sharing hardware', () => {
  it('a request for g GPUs never gets a container with fewer free, whatever the price', () => {
    const s = store();
    fill(s, [
      container('cheap-2', { gpusTotal: 2, pricePerHour: ath(1) }),
      container('dear-8', {
        spec: { ...container('x').spec, gpus: gpus(8) },
        gpusTotal: 8,
        pricePerHour: ath(7),
      }),
    ]);
    expect(match(s, { gpus: 2 }).id).toBe('cheap-2');
    expect(match(s, { gpus: 3 }).id).toBe('dear-8');
    expect(match(s, { gpus: 9 }).ruledOut).toEqual({ 'not enough GPUs': 2 });
  });
});
