import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ath, ManualClock, SeededRng } from '../../../src/core/index.js';
import type { Container } from '../../../src/ledger/index.js';
import { Indexer } from '../../../src/indexer/index.js';
import {
  container,
  locationOf,
  matchOrNull,
  need,
  noMatch,
  OFFLINE_AFTER_MS,
  OTHER_USER,
  req,
  ruledOut,
  setup,
  TTL_MS,
} from './fixtures.js';

/** The index follows upserts and heartbeats as they come: no rebuild, no rescan. */
describe('incremental updates', () => {
  it('a price change moves the container in the ranking at once', () => {
    const { indexer, add } = setup();
    add(container('a', { pricePerHour: ath(2) }), container('b', { pricePerHour: ath(3) }));
    const first = indexer.match(req({ gpus: 0 }));
    expect(first.container.id).toBe('a');
    indexer.upsert(container('b', { pricePerHour: ath('1.5') }));
    expect(indexer.match(req({ gpus: 0 })).container.id).toBe('b');
    indexer.upsert(container('a', { pricePerHour: ath(1) }));
    expect(indexer.match(req({ gpus: 0 })).container.id).toBe('a');
    indexer.checkInvariants();
  });

  it('status, suspension, unbonding and stake come and go with upserts', () => {
    const { indexer, add } = setup();
    const c = container('c1');
    add(c);
    const cases: Array<[Partial<Container>, string]> = [
      [{ status: 'offline' }, 'offline'],
      [{ suspended: true }, 'suspended'],
      [{ unbonding: 5n, unbondingUntil: 1 }, 'unbonding'],
      [{ stake: need(c.spec) - 1n }, 'stake below requirement'],
    ];
    for (const [over, reason] of cases) {
      indexer.upsert({ ...c, ...over });
      expect(ruledOut(noMatch(() => indexer.match(req({ gpus: 0 }))))).toEqual({ [reason]: 1 });
      indexer.upsert(c);
      const m = indexer.match(req({ gpus: 0, user: OTHER_USER }));
      expect(m.container.id).toBe('c1');
      indexer.release(m.reservation.id);
    }
    indexer.checkInvariants();
  });

  it('a move changes the region and the latency', () => {
    const { indexer, add } = setup();
    add(container('c1', { location: locationOf('Frankfurt') }));
    expect(indexer.match(req({ region: 'eu', gpus: 0 })).container.id).toBe('c1');
    indexer.upsert(container('c1', { location: locationOf('Tokyo') }));
    expect(ruledOut(noMatch(() => indexer.match(req({ region: 'eu', gpus: 0 }))))).toEqual({ region: 1 });
    expect(indexer.match(req({ region: 'ap', gpus: 0, maxLatencyMs: 30 })).container.id).toBe('c1');
  });

  it('leases opening and closing change the free GPUs', () => {
    const { indexer, add } = setup();
    add(container('c1', { gpusTotal: 4 }));
    indexer.upsert(container('c1', { gpusTotal: 4, gpusLeased: 4, openLeases: 1 }));
    expect(ruledOut(noMatch(() => indexer.match(req())))).toEqual({ 'GPUs busy': 1 });
    indexer.upsert(container('c1', { gpusTotal: 4, gpusLeased: 1, openLeases: 1 }));
    expect(indexer.match(req({ gpus: 3 })).container.id).toBe('c1');
  });

  it('the quality tier follows upserts (best-experience)', () => {
    const { indexer, add } = setup();
    add(container('a', { qualityTier: 1 }), container('b', { qualityTier: 2, pricePerHour: ath(2) }));
    expect(indexer.match(req({ gpus: 0, strategy: 'best-experience' })).container.id).toBe('b');
    indexer.upsert(container('a', { qualityTier: 3 }));
    expect(indexer.match(req({ gpus: 0, strategy: 'best-experience' })).container.id).toBe('a');
  });

  it('the stake requirement is computed per hardware profile, not per container, and again when its version changes', () => {
    let version = 1;
    let calls = 0;
    let factor = 1n;
    const { indexer, add } = setup({
      requiredStake: (c) => {
        calls++;
        return need(c.spec) * factor;
      },
      stakeVersion: () => version,
    });
    for (let i = 0; i < 500; i++)
      add(
        container(`c${i}`, {
          model: i % 2 ? 'NVIDIA GeForce RTX 4090' : 'NVIDIA H100',
          pricePerHour: ath(1 + i),
        }),
      );
    for (let i = 0; i < 20; i++) indexer.release(indexer.match(req()).reservation.id);
    expect(calls).toBeLessThanOrEqual(2);
    // the coefficient doubles: nobody holds enough any more
    factor = 2n;
    version = 2;
    expect(ruledOut(noMatch(() => indexer.match(req())))).toEqual({ 'stake below requirement': 500 });
    expect(calls).toBeLessThanOrEqual(4);
  });

  it('bulk() builds the same index as one update at a time', () => {
    const mk = () =>
      new Indexer({
        clock: new ManualClock(),
        rng: new SeededRng(1),
        requiredStake: (c) => need(c.spec),
        reservationTtlMs: TTL_MS,
        offlineAfterMs: OFFLINE_AFTER_MS,
      });
    const a = mk();
    const b = mk();
    const cs = Array.from({ length: 300 }, (_, i) =>
      container(`c${(i * 7919) % 1000}`, {
        gpusTotal: 1 + (i % 4),
        gpusLeased: i % 3,
        pricePerHour: ath(1 + (i % 13) / 10),
        location: locationOf(['Frankfurt', 'Tokyo', 'Dallas', 'Paris'][i % 4]!),
      }),
    );
    const now = 1_700_000_000_000;
    for (const c of cs) {
      a.upsert(c);
      a.heartbeat(c.id, now);
    }
    b.bulk(() => {
      for (const c of cs) {
        b.upsert(c);
        b.heartbeat(c.id, now);
      }
    });
    a.checkInvariants();
    b.checkInvariants();
    for (const r of [req(), req({ gpus: 3, region: 'eu' }), req({ gpus: 2, maxPricePerHour: ath('1.3') })]) {
      expect(b.match(r).container.id).toBe(a.match(r).container.id);
    }
  });

  it('any sequence of updates keeps the index consistent', () => {
    // A container is matched only once upserted online and heartbeated (by the same id) within
    // OFFLINE_AFTER_MS: 8 ids, heartbeats and matches weighted up and medium-length runs make about
    // a third of the matches succeed (so both outcomes below occur whatever the seed), while
    // clock advances still send containers stale.
    const op = fc.record({
      id: fc.integer({ min: 0, max: 7 }),
      kind: fc.oneof(
        { arbitrary: fc.constant('upsert' as const), weight: 2 },
        { arbitrary: fc.constant('heartbeat' as const), weight: 3 },
        { arbitrary: fc.constant('match' as const), weight: 3 },
        { arbitrary: fc.constant('advance' as const), weight: 1 },
        { arbitrary: fc.constant('release' as const), weight: 1 },
      ),
      n: fc.nat({ max: 1000 }),
    });
    const outcomes = { matched: 0, noMatch: 0 };
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80, size: 'medium' }), (ops) => {
        const { indexer, clock } = setup();
        const held: string[] = [];
        for (const o of ops) {
          const id = `c${o.id}`;
          if (o.kind === 'upsert')
            indexer.upsert(
              container(id, {
                gpusTotal: 1 + (o.n % 4),
                gpusLeased: o.n % 3,
                pricePerHour: ath(1 + (o.n % 5)),
                status: o.n % 11 === 0 ? 'offline' : 'online',
                location: locationOf(o.n % 2 ? 'Frankfurt' : 'Seoul'),
              }),
            );
          else if (o.kind === 'heartbeat')
            indexer.heartbeat(id, clock.now(), o.n % 3 === 0 ? o.n % 5 : undefined);
          else if (o.kind === 'advance') clock.advance(o.n * 40);
          else if (o.kind === 'release') indexer.release(held.pop() ?? 'none');
          else {
            const m = matchOrNull(() =>
              indexer.match(req({ gpus: o.n % 3, region: o.n % 2 ? 'eu' : undefined })),
            );
            if (m) held.push(m.reservation.id);
            outcomes[m ? 'matched' : 'noMatch']++;
          }
          indexer.checkInvariants();
        }
      }),
      { numRuns: 200 },
    );
    // the runs did both: matches were made and requests found nothing (and nothing else was thrown)
    expect(outcomes.matched).toBeGreaterThan(0);
    expect(outcomes.noMatch).toBeGreaterThan(0);
  });
});
