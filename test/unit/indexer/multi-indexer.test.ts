import { describe, expect, it } from 'vitest';
import { ManualClock, SeededRng, ath, isAethirError } from '../../../src/core/index.js';
import { Indexer } from '../../../src/indexer/index.js';
import { TestNet, alice, bob, host, leasePayload } from '../ledger/fixtures.js';

/**
 * Several indexers serve one network, each holding its own short reservations. They never
 * double-book a GPU because the decision is the ordered log's: the ledger re-checks capacity
 * when `lease.open` is applied, in log order, so of two users sent to the same last GPU by two
 * indexers exactly one gets it; the other is told CAPACITY_EXHAUSTED and re-matches, and its
 * indexer, following the ledger, no longer offers that GPU.
 */
describe('two indexers on one ledger', () => {
  it('never give the last GPU twice: the log decides, the loser re-matches', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1, ath(1));
    const clock = new ManualClock(t.time);
    const make = (seed: string) => {
      const ix = new Indexer({
        clock,
        rng: new SeededRng(seed),
        requiredStake: (c) => t.ledger.requiredStakeOf(c),
        reservationTtlMs: 10_000,
        offlineAfterMs: 60_000,
      });
      ix.upsert(t.ledger.container(host.address)!);
      ix.heartbeat(host.address, clock.now());
      return ix;
    };
    const a = make('indexer-a');
    const b = make('indexer-b');
    // each indexer, unaware of the other's reservation, offers the same last GPU
    expect(a.match({ user: alice.address, gpus: 1 }).container.id).toBe(host.address);
    expect(b.match({ user: bob.address, gpus: 1 }).container.id).toBe(host.address);
    for (const u of [alice, bob]) t.deposit(u, ath(100));
    // both users open; the log orders them: alice first, bob second
    const outcomes = [alice, bob].map((u) => {
      try {
        return String(t.tx(u, 'lease.open', leasePayload(host.address, 1, 3600, ath(1))).lease);
      } catch (e) {
        return isAethirError(e) ? e.code : 'unexpected';
      }
    });
    expect(outcomes[0]).toMatch(/^L/);
    expect(outcomes[1]).toBe('CAPACITY_EXHAUSTED');
    expect(t.ledger.container(host.address)!.gpusLeased).toBe(1);
    // the indexers follow the ledger: nobody is offered the GPU again
    for (const ix of [a, b]) {
      ix.upsert(t.ledger.container(host.address)!);
      expect(() => ix.match({ user: bob.address, gpus: 1 })).toThrow(/no container matches/);
    }
  });
});
