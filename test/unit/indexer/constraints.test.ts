import { describe, expect, it } from 'vitest';
import { ath, estimateRttMs, kmForRtt } from '../../../src/core/index.js';
import {
  city,
  container,
  locationOf,
  nearest,
  noMatch,
  OTHER_USER,
  relaxations,
  req,
  ruledOut,
  setup,
} from './fixtures.js';

const H100 = 'NVIDIA H100 80GB HBM3';
const A100 = 'NVIDIA A100-SXM4-40GB';
const T4 = 'Tesla T4';

describe('hardware constraints', () => {
  it('gpuModels: every GPU must match one of the listed models', () => {
    const { indexer, add } = setup();
    add(
      container('h100', { model: H100, pricePerHour: ath(3) }),
      container('a100', { model: A100, pricePerHour: ath(2) }),
      container('t4', { model: T4 }),
    );
    expect(indexer.match(req({ gpuModels: ['H100', 'A100'] })).container.id).toBe('a100');
    expect(indexer.match(req({ gpuModels: ['H100'], user: OTHER_USER })).container.id).toBe('h100');
    expect(ruledOut(noMatch(() => indexer.match(req({ gpuModels: ['L40S'] }))))).toEqual({ 'gpu model': 3 });
  });

  it('minGpuClass: the weakest GPU of the host must be of that class or better', () => {
    const { indexer, add } = setup();
    add(container('t4', { model: T4, pricePerHour: ath('0.2') }), container('a100', { model: A100 }));
    expect(indexer.match(req()).container.id).toBe('t4');
    expect(indexer.match(req({ minGpuClass: 'a100', user: OTHER_USER })).container.id).toBe('a100');
    const e = noMatch(() => indexer.match(req({ minGpuClass: 'h100' })));
    expect(ruledOut(e)).toEqual({ 'gpu model': 2 });
    expect(nearest(e)).toMatchObject({ constraint: 'gpuModels', value: [T4] });
  });

  it('minVramMiB: every GPU must have at least that much memory', () => {
    const { indexer, add } = setup();
    add(
      container('small', { model: T4, memoryMiB: 15_360, pricePerHour: ath('0.2') }),
      container('big', { model: A100, memoryMiB: 40_960 }),
    );
    expect(indexer.match(req({ minVramMiB: 16_000 })).container.id).toBe('big');
    const e = noMatch(() => indexer.match(req({ minVramMiB: 80_000 })));
    expect(ruledOut(e)).toEqual({ VRAM: 2 });
    expect(nearest(e)).toMatchObject({
      constraint: 'minVramMiB',
      value: 40_960,
      change: (80_000 - 40_960) / 80_000,
    });
  });

  it('minCpuCores, minMemoryMiB: the host registers at least that many cores and that much memory', () => {
    const { indexer, add } = setup();
    const host = (cores: number, memoryMiB: number) => ({
      gpus: [],
      cpu: { model: 'EPYC', cores },
      memoryMiB,
      source: 'declared' as const,
    });
    add(
      container('small', { spec: host(8, 16_384), pricePerHour: ath('0.1') }),
      container('wide', { spec: host(64, 32_768), pricePerHour: ath('0.2') }),
      container('big', { spec: host(64, 262_144), pricePerHour: ath('0.3') }),
    );
    expect(indexer.match(req({ gpus: 0 })).container.id).toBe('small');
    expect(indexer.match(req({ gpus: 0, minCpuCores: 32, user: OTHER_USER })).container.id).toBe('wide');
    expect(indexer.match(req({ gpus: 0, minCpuCores: 32, minMemoryMiB: 131_072 })).container.id).toBe('big');
    const e = noMatch(() => indexer.match(req({ gpus: 0, minMemoryMiB: 1 << 20 })));
    expect(ruledOut(e)).toEqual({ 'cpu or memory': 3 });
    expect(e.message).toBe('no container matches: of 3, ruled out: 3 cpu or memory');
  });

  it('minComputeCapability: as probed, else from the model; CPU-only hosts never match', () => {
    const { indexer, add } = setup();
    add(
      container('t4', { model: T4, pricePerHour: ath('0.2') }), // 7.5 by model
      container('probed', { model: 'Some Future GPU', cc: '10.0', pricePerHour: ath(5) }),
      container('cpu', { gpusTotal: 0 }),
    );
    expect(indexer.match(req({ minComputeCapability: 7.5 })).container.id).toBe('t4');
    expect(indexer.match(req({ minComputeCapability: '9.0', user: OTHER_USER })).container.id).toBe('probed');
    const e = noMatch(() => indexer.match(req({ gpus: 0, minComputeCapability: 12 })));
    expect(ruledOut(e)).toEqual({ 'compute capability': 3 });
    expect(nearest(e)).toMatchObject({ constraint: 'minComputeCapability', value: 10 });
  });

  it('rules out by the first hardware reason: model, then VRAM, then capability, then count', () => {
    const { indexer, add } = setup();
    add(container('t4', { model: T4, memoryMiB: 15_360, gpusTotal: 1 }));
    const both = req({ gpus: 2, gpuModels: ['A100'], minVramMiB: 40_000, minComputeCapability: 8 });
    expect(ruledOut(noMatch(() => indexer.match(both)))).toEqual({ 'gpu model': 1 });
    expect(ruledOut(noMatch(() => indexer.match({ ...both, gpuModels: undefined })))).toEqual({ VRAM: 1 });
    expect(
      ruledOut(noMatch(() => indexer.match({ ...both, gpuModels: undefined, minVramMiB: undefined }))),
    ).toEqual({ 'compute capability': 1 });
    expect(ruledOut(noMatch(() => indexer.match(req({ gpus: 2 }))))).toEqual({ 'not enough GPUs': 1 });
  });
});

describe('apps', () => {
  it('without an app source, a request naming an app matches nothing and says why', () => {
    const { indexer, add } = setup();
    add(container('c1'), container('c2', { status: 'offline' }));
    const e = noMatch(() => indexer.match(req({ app: 'cyberpunk' })));
    expect(ruledOut(e)).toEqual({ offline: 1, 'app not installed': 1 });
    expect(nearest(e)).toMatchObject({ constraint: 'app', value: null, text: '1 GPU' });
  });

  it('with appsOf, only containers with the app pre-installed match', () => {
    const apps: Record<string, string[]> = { c1: ['chess'], c2: ['cyberpunk', 'chess'] };
    const { indexer, add } = setup({ appsOf: (c) => apps[c.id] ?? [] });
    add(container('c1'), container('c2', { pricePerHour: ath(2) }), container('c3'));
    expect(indexer.match(req({ app: 'cyberpunk' })).container.id).toBe('c2');
    expect(indexer.match(req({ app: 'chess', user: OTHER_USER })).container.id).toBe('c1');
    // the app list follows upserts
    apps.c3 = ['cyberpunk'];
    indexer.upsert(container('c3', { pricePerHour: ath('0.5') }));
    expect(indexer.match(req({ app: 'cyberpunk', gpus: 0 })).container.id).toBe('c3');
  });

  it('apps reported in heartbeats are matched; each heartbeat replaces the list, upserts keep it', () => {
    const { clock, indexer, add } = setup({ appsOf: (c) => (c.id === 'c3' ? ['chess'] : []) });
    add(container('c1'), container('c2', { pricePerHour: ath(2) }), container('c3'));
    noMatch(() => indexer.match(req({ app: 'demo' })));
    clock.advance(1000);
    indexer.heartbeat('c2', clock.now(), 2, ['demo', 'demo@1.0.0']);
    expect(indexer.match(req({ app: 'demo' })).container.id).toBe('c2');
    expect(indexer.match(req({ app: 'demo@1.0.0', user: OTHER_USER })).container.id).toBe('c2');
    noMatch(() => indexer.match(req({ app: 'demo@2.0.0', user: 'ath1' + 'c'.repeat(40) })));
    // a ledger update of the container keeps what its heartbeats said
    indexer.upsert(container('c2', { pricePerHour: ath(3) }));
    expect(indexer.match(req({ app: 'demo', gpus: 0, user: 'ath1' + 'd'.repeat(40) })).container.id).toBe(
      'c2',
    );
    // a stale heartbeat changes nothing; a later one without apps takes them away
    indexer.heartbeat('c2', clock.now() - 500, 2);
    expect(indexer.match(req({ app: 'demo', gpus: 0, user: 'ath1' + 'e'.repeat(40) })).container.id).toBe(
      'c2',
    );
    // reported apps add to appsOf's
    indexer.heartbeat('c3', clock.now(), 2, ['demo']);
    expect(indexer.match(req({ app: 'chess', gpus: 0 })).container.id).toBe('c3');
    clock.advance(1000);
    indexer.heartbeat('c2', clock.now(), 2);
    indexer.heartbeat('c3', clock.now(), 2);
    const e = noMatch(() => indexer.match(req({ app: 'demo', gpus: 0, user: 'ath1' + 'f'.repeat(40) })));
    expect(ruledOut(e)).toEqual({ 'app not installed': 3 });
    expect(indexer.match(req({ app: 'chess', gpus: 0, user: 'ath1' + 'f'.repeat(40) })).container.id).toBe(
      'c3',
    );
    indexer.checkInvariants();
  });
});

describe('reputation', () => {
  it('minReputation rules out containers below it (default reputation: 1)', () => {
    const rep: Record<string, number> = { shaky: 0.4 };
    const { indexer, add } = setup({ reputation: (c) => rep[c.id] ?? 1 });
    add(container('shaky', { pricePerHour: ath('0.5') }), container('solid', { pricePerHour: ath(2) }));
    expect(indexer.match(req()).container.id).toBe('shaky');
    const m = indexer.match(req({ minReputation: 0.9, user: OTHER_USER }));
    expect(m.container.id).toBe('solid');
    expect(m.score.reputation).toBe(1);
    indexer.release(m.reservation.id);
    rep.solid = 0.7;
    indexer.upsert(container('solid', { pricePerHour: ath(2) }));
    const e = noMatch(() => indexer.match(req({ gpus: 2, minReputation: 0.9 })));
    expect(ruledOut(e)).toEqual({ 'GPUs busy': 1, reputation: 1 });
    expect(nearest(e)).toMatchObject({ constraint: 'minReputation', value: 0.7 });
    expect(nearest(e)!.text).toBe('2 GPUs reputation ≥ 0.7');
  });
});

describe('place and latency', () => {
  // Frankfurt–Amsterdam ≈ 360 km, Frankfurt–New York ≈ 6200 km
  const fra = city('Frankfurt');

  it('maxLatencyMs bounds the estimated RTT from the user', () => {
    const { indexer, add } = setup();
    add(
      container('fra', { at: 'Frankfurt', pricePerHour: ath(3) }),
      container('ams', { at: 'Amsterdam', pricePerHour: ath(2) }),
      container('nyc', { at: 'New York', pricePerHour: ath(1) }),
    );
    const at = { lat: fra.lat, lon: fra.lon };
    expect(indexer.match(req({ location: at })).container.id).toBe('nyc');
    const m = indexer.match(req({ location: at, maxLatencyMs: 20, user: OTHER_USER }));
    expect(m.container.id).toBe('ams');
    expect(m.score.latencyMs).toBe(estimateRttMs(at, city('Amsterdam')));
    // below the model's base (7.5 ms) nothing is close enough, even in the user's own city;
    // Amsterdam and New York have one of their two GPUs reserved: busy comes before latency
    const e = noMatch(() => indexer.match(req({ gpus: 2, location: at, maxLatencyMs: 7 })));
    expect(ruledOut(e)).toEqual({ 'GPUs busy': 2, latency: 1 });
    // only Frankfurt fails on latency alone (Amsterdam and New York have a GPU reserved)
    expect(relaxations(e)).toEqual([
      {
        constraint: 'maxLatencyMs',
        value: 7.5,
        change: 0.5 / 7,
        text: '2 GPUs within 7.5 ms',
      },
    ]);
  });

  it('a region without coordinates places the user at its reference city', () => {
    const { indexer, add } = setup();
    add(
      container('ams', { at: 'Amsterdam', pricePerHour: ath(2) }),
      container('dub', { at: 'Dublin', pricePerHour: ath(1) }),
    );
    // eu-west's reference city is Amsterdam: Dublin is ~750 km away, ~20 ms
    const m = indexer.match(req({ region: 'eu-west', maxLatencyMs: 12 }));
    expect(m.container.id).toBe('ams');
    expect(m.score.latencyMs).toBe(estimateRttMs(city('Amsterdam'), city('Amsterdam')));
  });

  it('containers spread inside a cell are checked one by one at the edge of the bound', () => {
    const { indexer, add } = setup();
    const limit = 15;
    const km = kmForRtt(limit);
    // along a meridian from the user: 1° of latitude ≈ 111.2 km; same region, same 4° cell
    const at = { lat: 48.5, lon: 8.5 };
    const deg = km / 111.195;
    const place = (dLat: number) => ({ ...locationOf('Frankfurt'), lat: at.lat + dLat, lon: at.lon });
    add(
      container('inside', { location: place(deg - 0.02), pricePerHour: ath(2) }),
      container('outside', { location: place(deg + 0.02), pricePerHour: ath(1) }),
    );
    expect(indexer.match(req({ location: at, maxLatencyMs: limit })).container.id).toBe('inside');
    const e = noMatch(() =>
      indexer.match(req({ gpus: 1, location: at, maxLatencyMs: limit, maxPricePerHour: ath('0.9') })),
    );
    // outside fails latency and price: latency comes first; inside: over the budget
    expect(ruledOut(e)).toEqual({ latency: 1, 'price above budget': 1 });
  });
});

describe('strategies', () => {
  const user = { lat: city('Frankfurt').lat, lon: city('Frankfurt').lon };
  function network() {
    const s = setup();
    s.add(
      container('far-cheap', { at: 'New York', pricePerHour: ath('0.5') }),
      container('near-dear', { at: 'Frankfurt', pricePerHour: ath(3) }),
      container('mid', { at: 'Warsaw', pricePerHour: ath('1.2') }),
      container('near-good', { at: 'Amsterdam', pricePerHour: ath('2.5'), qualityTier: 3 }),
    );
    return s;
  }

  it('lowest-fee: the cheapest, wherever it is', () => {
    const { indexer } = network();
    expect(indexer.match(req({ gpus: 0, location: user })).container.id).toBe('far-cheap');
  });

  it('best-experience: latency and quality first; the score shows its parts', () => {
    const { indexer } = network();
    const m = indexer.match(req({ gpus: 0, location: user, strategy: 'best-experience' }));
    // Amsterdam is a few ms further than Frankfurt but tier 3 (quality part 0 instead of 0.3)
    expect(m.container.id).toBe('near-good');
    const lat = estimateRttMs(user, city('Amsterdam'));
    expect(m.score).toEqual({
      strategy: 'best-experience',
      cost: 0.1 * (2.5 / 2) + 0.6 * (lat / 100) + 0,
      pricePerHour: ath('2.5'),
      latencyMs: lat,
      qualityTier: 3,
      reputation: 1,
      parts: { fee: 0.1 * (2.5 / 2), latency: 0.6 * (lat / 100), quality: 0 },
    });
    const { fee, latency, quality } = m.score.parts;
    expect(fee + latency + quality).toBeCloseTo(m.score.cost, 12);
  });

  it('balanced: the documented weighted sum decides', () => {
    const { indexer } = network();
    const m = indexer.match(req({ gpus: 0, location: user, strategy: 'balanced', maxPricePerHour: ath(4) }));
    const cost = (price: number, to: string, tier = 1) =>
      0.5 * (price / 4) + 0.35 * (estimateRttMs(user, city(to)) / 100) + 0.15 * ((3 - tier) / 2);
    const costs = {
      'far-cheap': cost(0.5, 'New York'),
      'near-dear': cost(3, 'Frankfurt'),
      mid: cost(1.2, 'Warsaw'),
      'near-good': cost(2.5, 'Amsterdam', 3),
    };
    const best = Object.entries(costs).sort((a, b) => a[1] - b[1])[0]![0];
    expect(m.container.id).toBe(best);
    expect(m.score.cost).toBeCloseTo(costs[best as keyof typeof costs], 12);
  });

  it('equal costs go to the lower price, then the lower id', () => {
    const { indexer, add } = setup();
    add(
      container('b', { at: 'Frankfurt', pricePerHour: ath(1) }),
      container('a', { at: 'Frankfurt', pricePerHour: ath(1) }),
    );
    expect(indexer.match(req({ gpus: 0, location: user, strategy: 'best-experience' })).container.id).toBe(
      'a',
    );
  });
});

describe('explanations', () => {
  it('counts each container once, under the first constraint that rules it out', () => {
    const { indexer, add, clock } = setup();
    add(
      container('offline', { status: 'offline' }),
      container('susp', { suspended: true }),
      container('unb', { unbonding: 1n }),
      container('model', { model: A100 }),
      container('small', { gpusTotal: 1 }),
      container('us', { at: 'Dallas' }),
      container('dear', { pricePerHour: ath(9) }),
      container('busy', { gpusLeased: 2 }),
      container('poor', { stake: 1n }),
    );
    indexer.upsert(container('silent'));
    add(container('stale'));
    clock.advance(31_000);
    for (const id of ['offline', 'susp', 'unb', 'model', 'small', 'us', 'dear', 'busy', 'poor'])
      indexer.heartbeat(id, clock.now());
    const e = noMatch(() =>
      indexer.match(req({ gpus: 2, region: 'eu', gpuModel: '4090', maxPricePerHour: ath(5) })),
    );
    expect(ruledOut(e)).toEqual({
      offline: 3,
      suspended: 1,
      unbonding: 1,
      'gpu model': 1,
      'not enough GPUs': 1,
      region: 1,
      'price above budget': 1,
      'GPUs busy': 1,
      'stake below requirement': 1,
    });
    expect(Object.keys(ruledOut(e))).toEqual([
      'offline',
      'suspended',
      'unbonding',
      'gpu model',
      'not enough GPUs',
      'region',
      'GPUs busy',
      'price above budget',
      'stake below requirement',
    ]);
    expect(e.message).toMatch(/^no container matches: of 11, ruled out: 3 offline, 1 suspended/);
  });

  it('finds the smallest change of one constraint that matches, and names the nearest', () => {
    const { indexer, add } = setup();
    add(
      container('h100-fra', { model: H100, gpusTotal: 8, at: 'Frankfurt', pricePerHour: ath('2.1') }),
      container('h100-ams-busy', {
        model: H100,
        gpusTotal: 4,
        gpusLeased: 1,
        at: 'Amsterdam',
        pricePerHour: ath(1),
      }),
      container('a100-ams', { model: A100, gpusTotal: 4, at: 'Amsterdam', pricePerHour: ath('0.9') }),
    );
    const e = noMatch(() =>
      indexer.match(req({ gpus: 4, gpuModel: 'H100', region: 'eu-west', maxPricePerHour: ath('1.5') })),
    );
    expect(ruledOut(e)).toEqual({ region: 1, 'GPUs busy': 1, 'gpu model': 1 });
    // Frankfurt fails two constraints (region and price): relaxing one of them is not enough
    expect(relaxations(e).map((r) => [r.constraint, r.value, r.change])).toEqual([
      ['gpus', 3, 0.25],
      ['gpuModels', [A100], 1],
    ]);
    expect(nearest(e)!.text).toBe('3 H100s in eu-west at ≤ 1.5 ATH/h');
    expect(e.message).toContain('nearest match: 3 H100s in eu-west at ≤ 1.5 ATH/h');
  });

  it('a price relaxation names the lowest price that matches', () => {
    const { indexer, add } = setup();
    add(
      container('h100-a', { model: H100, gpusTotal: 4, at: 'Amsterdam', pricePerHour: ath('2.0991') }),
      container('h100-b', { model: H100, gpusTotal: 4, at: 'London', pricePerHour: ath('2.5') }),
    );
    const e = noMatch(() =>
      indexer.match(req({ gpus: 3, gpuModel: 'H100', region: 'eu-west', maxPricePerHour: ath(2) })),
    );
    expect(ruledOut(e)).toEqual({ 'price above budget': 2 });
    expect(relaxations(e)).toEqual([
      {
        constraint: 'maxPricePerHour',
        value: ath('2.0991').toString(),
        change: Number(ath('0.0991')) / Number(ath(2)),
        text: '3 H100s in eu-west at ≤ 2.1 ATH/h',
      },
    ]);
  });
});
