import { describe, expect, it } from 'vitest';
import { ManualClock, SeededRng, ath } from '../../../src/core/index.js';
import { DEFAULT_PARAMS, type Params } from '../../../src/ledger/index.js';
import { Indexer } from '../../../src/indexer/index.js';
import {
  OFFLINE_AFTER_MS,
  OTHER_USER,
  TTL_MS,
  USER,
  container,
  gpus,
  need,
  noMatch,
  req,
  ruledOut,
  setup,
} from './fixtures.js';

describe('Indexer eligibility', () => {
  it('matches an online, staked, fitting container', () => {
    const { indexer, add } = setup();
    add(container('c1'));
    const m = indexer.match(req());
    expect(m.container.id).toBe('c1');
    expect(m.candidates).toBe(1);
    expect(m.score).toEqual({
      strategy: 'lowest-fee',
      cost: 0.5, // 1 ATH against the reference price of 2 ATH (no budget given)
      pricePerHour: ath(1),
      latencyMs: null,
      qualityTier: 1,
      reputation: 1,
      parts: { fee: 0.5, latency: 0, quality: 0 },
    });
    expect(indexer.size()).toBe(1);
  });

  it('rules out containers the ledger marks offline or pending', () => {
    const { indexer, add } = setup();
    add(container('off', { status: 'offline' }), container('pending', { status: 'pending' }));
    const e = noMatch(() => indexer.match(req()));
    expect(ruledOut(e)).toEqual({ offline: 2 });
  });

  it('rules out a container that never heartbeated', () => {
    const { indexer } = setup();
    indexer.upsert(container('silent'));
    expect(ruledOut(noMatch(() => indexer.match(req())))).toEqual({ offline: 1 });
  });

  it('rules out a container whose last heartbeat is older than offlineAfterMs', () => {
    const { clock, indexer, add } = setup();
    add(container('c1'));
    clock.advance(OFFLINE_AFTER_MS);
    expect(indexer.match(req()).container.id).toBe('c1'); // exactly at the limit: still fresh
    clock.advance(1);
    expect(ruledOut(noMatch(() => indexer.match(req())))).toEqual({ offline: 1 });
    // A new heartbeat brings it back; an older one does not move lastHeartbeat backwards.
    indexer.heartbeat('c1', clock.now());
    indexer.heartbeat('c1', clock.now() - 10 * OFFLINE_AFTER_MS);
    expect(indexer.match(req({ user: OTHER_USER })).container.id).toBe('c1');
  });

  it('keeps the last heartbeat across upserts, and ignores heartbeats of unknown containers', () => {
    const { clock, indexer, add } = setup();
    indexer.heartbeat('ghost', clock.now());
    expect(indexer.size()).toBe(0);
    add(container('c1'));
    indexer.upsert(container('c1', { pricePerHour: ath(2) }));
    const m = indexer.match(req());
    expect(m.container.pricePerHour).toBe(ath(2));
  });

  it('rules out suspended and unbonding containers', () => {
    const { indexer, add } = setup();
    add(
      container('susp', { suspended: true }),
      container('unb', { unbonding: 1n, unbondingUntil: 1 }),
      container('ok'),
    );
    expect(indexer.match(req()).container.id).toBe('ok');
    indexer.upsert(container('ok', { suspended: true }));
    expect(ruledOut(noMatch(() => indexer.match(req())))).toEqual({ suspended: 2, unbonding: 1 });
  });

  it('rules out a container staked below its requirement (K table × coefficient)', () => {
    const { indexer, add } = setup();
    const required = need(container('x').spec);
    add(container('poor', { stake: required - 1n }), container('exact', { stake: required }));
    const m = indexer.match(req());
    expect(m.container.id).toBe('exact');
    // candidates are counted before the checks made one container at a time (stake among them)
    expect(m.candidates).toBe(2);
    indexer.release(m.reservation.id);
    indexer.upsert(container('exact', { stake: required - 1n }));
    expect(ruledOut(noMatch(() => indexer.match(req())))).toEqual({ 'stake below requirement': 2 });
  });

  it('follows the current parameters for the stake requirement', () => {
    let params: Params = DEFAULT_PARAMS;
    const clock = new ManualClock();
    const indexer = new Indexer({
      clock,
      rng: new SeededRng(1),
      requiredStake: (c) => need(c.spec, params),
      reservationTtlMs: TTL_MS,
      offlineAfterMs: OFFLINE_AFTER_MS,
    });
    indexer.upsert(container('c1'));
    indexer.heartbeat('c1', clock.now());
    params = {
      ...DEFAULT_PARAMS,
      kTable: {
        ...DEFAULT_PARAMS.kTable,
        other: DEFAULT_PARAMS.kTable.other * 2n,
        rtx4090: DEFAULT_PARAMS.kTable.rtx4090 * 2n,
      },
    };
    expect(ruledOut(noMatch(() => indexer.match(req())))).toEqual({ 'stake below requirement': 1 });
  });

  it('filters by region prefix', () => {
    const { indexer, add } = setup();
    const us = { city: 'Dallas', country: 'US', region: 'us-central', lat: 32.7, lon: -96.8 };
    add(container('eu'), container('us', { location: us }));
    expect(indexer.match(req({ region: 'eu' })).container.id).toBe('eu');
    expect(indexer.match(req({ region: 'us-central', user: OTHER_USER })).container.id).toBe('us');
    const e = noMatch(() => indexer.match(req({ region: 'eu-west' })));
    expect(ruledOut(e)).toEqual({ region: 2 });
  });

  it('filters by GPU model, whole words, case-insensitive; CPU-only hosts never match a model', () => {
    const { indexer, add } = setup();
    add(
      container('rtx', { model: 'NVIDIA GeForce RTX 4090' }),
      container('h100', { model: 'NVIDIA H100 80GB HBM3' }),
      container('cpu', { gpusTotal: 0 }),
    );
    expect(indexer.match(req({ gpuModel: 'h100' })).container.id).toBe('h100');
    expect(indexer.match(req({ gpuModel: '4090', user: OTHER_USER })).container.id).toBe('rtx');
    const e = noMatch(() => indexer.match(req({ gpus: 0, gpuModel: 'A100' })));
    expect(ruledOut(e)).toEqual({ 'gpu model': 3 });
  });

  it('requires every GPU of a mixed host to match the model', () => {
    const { indexer, add } = setup();
    const spec = {
      gpus: [...gpus(1, 'NVIDIA H100'), ...gpus(1, 'NVIDIA A100')],
      cpu: { model: 'x', cores: 8 },
      memoryMiB: 1024,
      source: 'declared' as const,
    };
    add(container('mixed', { spec }));
    expect(ruledOut(noMatch(() => indexer.match(req({ gpuModel: 'H100' }))))).toEqual({ 'gpu model': 1 });
    expect(indexer.match(req({ gpuModel: 'nvidia' })).container.id).toBe('mixed');
  });

  it('rules out a container with fewer GPUs than asked', () => {
    const { indexer, add } = setup();
    add(container('two', { gpusTotal: 2 }), container('eight', { gpusTotal: 8, pricePerHour: ath(5) }));
    expect(indexer.match(req({ gpus: 4 })).container.id).toBe('eight');
    expect(ruledOut(noMatch(() => indexer.match(req({ gpus: 9 }))))).toEqual({ 'not enough GPUs': 2 });
  });

  it('rules out a container priced above the budget (the budget itself is fine)', () => {
    const { indexer, add } = setup();
    add(container('cheap', { pricePerHour: ath(2) }), container('dear', { pricePerHour: ath(3) }));
    const m = indexer.match(req({ maxPricePerHour: ath(2) }));
    expect(m.container.id).toBe('cheap');
    // candidates are counted per group of containers, before the budget
    expect(m.candidates).toBe(2);
    const e = noMatch(() => indexer.match(req({ maxPricePerHour: ath(2) - 1n })));
    expect(ruledOut(e)).toEqual({ 'price above budget': 2 });
  });

  it('rules out a container whose GPUs are busy with leases', () => {
    const { indexer, add } = setup();
    add(container('full', { gpusTotal: 2, gpusLeased: 2, openLeases: 1 }));
    add(container('half', { gpusTotal: 2, gpusLeased: 1, openLeases: 1 }));
    expect(indexer.match(req({ gpus: 1 })).container.id).toBe('half');
    const e = noMatch(() => indexer.match(req({ gpus: 2, user: OTHER_USER })));
    expect(ruledOut(e)).toEqual({ 'GPUs busy': 2 });
  });

  it('a CPU-only request (gpus 0) matches a CPU-only host', () => {
    const { indexer, add } = setup();
    add(container('cpu', { gpusTotal: 0, pricePerHour: ath('0.1') }));
    const m = indexer.match(req({ gpus: 0 }));
    expect(m.container.id).toBe('cpu');
    expect(m.reservation.gpus).toBe(0);
  });
});

describe('Indexer ranking', () => {
  it('lowest-fee picks the cheapest eligible container', () => {
    const { indexer, add } = setup();
    add(
      container('c-mid', { pricePerHour: ath(2) }),
      container('c-cheap', { pricePerHour: ath('0.5') }),
      container('c-dear', { pricePerHour: ath(9) }),
      container('c-cheaper-but-offline', { pricePerHour: ath('0.1'), status: 'offline' }),
    );
    const m = indexer.match(req());
    expect(m.container.id).toBe('c-cheap');
    expect(m.candidates).toBe(3);
    expect(m.score.pricePerHour).toBe(ath('0.5'));
  });

  it('breaks price ties by container id, whatever the insertion order', () => {
    for (const order of [
      ['c', 'a', 'b'],
      ['b', 'c', 'a'],
      ['a', 'b', 'c'],
    ]) {
      const { indexer, add } = setup();
      add(...order.map((id) => container(id)));
      expect(indexer.match(req({ gpus: 0 })).container.id).toBe('a');
    }
  });

  it('best-experience puts quality first when nothing is known of where the user is', () => {
    const { indexer, add } = setup();
    add(
      container('cheap-tier1', { pricePerHour: ath(1), qualityTier: 1 }),
      container('dear-tier3', { pricePerHour: ath(2), qualityTier: 3 }),
    );
    expect(indexer.match(req({ gpus: 0 })).container.id).toBe('cheap-tier1');
    const b = indexer.match(req({ gpus: 0, strategy: 'best-experience' }));
    expect(b.container.id).toBe('dear-tier3');
    expect(b.score.strategy).toBe('best-experience');
    expect(b.score.parts).toEqual({ fee: 0.1 * (2 / 2), latency: 0, quality: 0 });
    // balanced: the fee weighs more: 0.5·(1/2) + 0.15·1 = 0.4 < 0.5·(2/2) + 0 = 0.5
    expect(indexer.match(req({ gpus: 0, strategy: 'balanced' })).container.id).toBe('cheap-tier1');
  });
});

describe('Indexer NO_MATCH', () => {
  it('says so when no container has joined', () => {
    const { indexer } = setup();
    const e = noMatch(() => indexer.match(req()));
    expect(e.message).toMatch(/no containers have joined/);
    expect(e.details).toEqual({ containers: 0, ruledOut: {}, nearest: null, relaxations: [] });
    expect(e.retryable).toBe(true);
  });

  it('counts every constraint that ruled a container out', () => {
    const { indexer, add } = setup();
    const us = { city: 'Dallas', country: 'US', region: 'us-central', lat: 32.7, lon: -96.8 };
    add(
      container('offline1', { status: 'offline' }),
      container('offline2', { status: 'pending' }),
      container('unstaked', { stake: 0n }),
      container('region', { location: us }),
      container('model', { model: 'NVIDIA A100' }),
      container('small', { gpusTotal: 1 }),
      container('dear', { pricePerHour: ath(100) }),
      container('busy', { gpusLeased: 1 }),
    );
    indexer.upsert(container('stale'));
    const e = noMatch(() =>
      indexer.match(req({ gpus: 2, region: 'eu', gpuModel: '4090', maxPricePerHour: ath(10) })),
    );
    expect(e.details).toMatchObject({ containers: 9 });
    expect(ruledOut(e)).toEqual({
      offline: 3,
      'stake below requirement': 1,
      region: 1,
      'gpu model': 1,
      'not enough GPUs': 1,
      'price above budget': 1,
      'GPUs busy': 1,
    });
    expect(e.message).toContain('of 9');
    expect(e.message).toContain('3 offline');
    expect(e.message).toContain('1 GPUs busy');
  });
});

describe('Indexer reservations', () => {
  function lastTwoGpus() {
    const s = setup();
    s.add(container('c1', { gpusTotal: 4, gpusLeased: 2, openLeases: 1 }));
    return s;
  }

  it('a match reserves the GPUs for reservationTtlMs', () => {
    const { clock, indexer } = lastTwoGpus();
    const m = indexer.match(req({ gpus: 2 }));
    expect(m.reservation).toMatchObject({
      container: 'c1',
      user: USER,
      gpus: 2,
      expiresAt: clock.now() + TTL_MS,
    });
    expect(m.reservation.id).toMatch(/^R[0-9a-f]{16}$/);
  });

  it('reservation ids are deterministic for a seed and distinct', () => {
    const ids = (seed: string) => {
      const clock = new ManualClock();
      const indexer = new Indexer({
        clock,
        rng: new SeededRng(seed),
        requiredStake: (c) => need(c.spec),
        reservationTtlMs: TTL_MS,
        offlineAfterMs: OFFLINE_AFTER_MS,
      });
      indexer.upsert(container('cpu', { gpusTotal: 0 }));
      indexer.heartbeat('cpu', clock.now());
      return [0, 1, 2].map(() => indexer.match(req({ gpus: 0 })).reservation.id);
    };
    const a = ids('s');
    expect(ids('s')).toEqual(a);
    expect(new Set(a).size).toBe(3);
    expect(ids('t')).not.toEqual(a);
  });

  it('the second request for the last free GPUs is ruled out until the reservation expires', () => {
    const { clock, indexer } = lastTwoGpus();
    indexer.match(req({ gpus: 2 }));
    const e = noMatch(() => indexer.match(req({ gpus: 2, user: OTHER_USER })));
    expect(ruledOut(e)).toEqual({ 'GPUs busy': 1 });
    // Fewer GPUs than reserved are still busy too: 4 total - 2 leased - 2 reserved = 0 free.
    expect(ruledOut(noMatch(() => indexer.match(req({ gpus: 1, user: OTHER_USER }))))).toEqual({
      'GPUs busy': 1,
    });
    clock.advance(TTL_MS - 1);
    noMatch(() => indexer.match(req({ gpus: 2, user: OTHER_USER })));
    clock.advance(1); // expiresAt <= now: expired
    // The container kept heartbeating meanwhile.
    indexer.heartbeat('c1', clock.now());
    const m = indexer.match(req({ gpus: 2, user: OTHER_USER }));
    expect(m.container.id).toBe('c1');
    expect(m.reservation.user).toBe(OTHER_USER);
  });

  it('release() frees the reserved GPUs at once, and only once', () => {
    const { indexer } = lastTwoGpus();
    const first = indexer.match(req({ gpus: 2 }));
    noMatch(() => indexer.match(req({ gpus: 2, user: OTHER_USER })));
    expect(indexer.release(first.reservation.id)).toBe(true);
    expect(indexer.release(first.reservation.id)).toBe(false);
    expect(indexer.release('R-unknown')).toBe(false);
    expect(indexer.match(req({ gpus: 2, user: OTHER_USER })).container.id).toBe('c1');
  });

  it('consume() drops the user’s reservation on that container once its lease opened', () => {
    const { indexer } = lastTwoGpus();
    indexer.match(req({ gpus: 2 }));
    // Someone else's consume, or one for another container, leaves the reservation alone.
    indexer.consume(OTHER_USER, 'c1');
    indexer.consume(USER, 'c2');
    noMatch(() => indexer.match(req({ gpus: 2, user: OTHER_USER })));
    // The lease opened: the ledger now counts those GPUs as leased, the reservation is used up.
    indexer.consume(USER, 'c1');
    indexer.upsert(container('c1', { gpusTotal: 4, gpusLeased: 4, openLeases: 2 }));
    expect(ruledOut(noMatch(() => indexer.match(req({ gpus: 1, user: OTHER_USER }))))).toEqual({
      'GPUs busy': 1,
    });
    // When that lease closes, all 2 GPUs are free again (no reservation left to double count).
    indexer.upsert(container('c1', { gpusTotal: 4, gpusLeased: 2, openLeases: 1 }));
    expect(indexer.match(req({ gpus: 2, user: OTHER_USER })).container.id).toBe('c1');
  });

  it('a reservation on one container does not block another', () => {
    const { indexer, add } = lastTwoGpus();
    add(container('c2', { pricePerHour: ath(2) }));
    expect(indexer.match(req({ gpus: 2 })).container.id).toBe('c1');
    const m = indexer.match(req({ gpus: 2, user: OTHER_USER }));
    expect(m.container.id).toBe('c2');
    expect(m.candidates).toBe(1);
  });

  it.each([-1, 1.5, 65, Number.NaN, Infinity])('rejects gpus = %s with INVALID_ARGUMENT', (g) => {
    const { indexer, add } = setup();
    add(container('c1'));
    expect(() => indexer.match(req({ gpus: g }))).toThrowError(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  it('accepts the bounds 0 and 64', () => {
    const { indexer, add } = setup();
    add(container('big', { gpusTotal: 64 }));
    expect(indexer.match(req({ gpus: 64 })).container.id).toBe('big');
    expect(indexer.match(req({ gpus: 0, user: OTHER_USER })).container.id).toBe('big');
  });
});
