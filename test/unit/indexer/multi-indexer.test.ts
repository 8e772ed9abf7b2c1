import { describe, expect, it } from 'vitest';
import {
  ManualClock,
  SeededRng,
  ath,
  isAethirError,
  keyPairFromSeed,
  type KeyPair,
} from '../../../src/core/index.js';
import { Indexer } from '../../../src/indexer/index.js';
import { RTX4090, TestNet, alice, bob, host, host2, host3, leasePayload } from '../ledger/fixtures.js';
import { matchOrNull } from './fixtures.js';

/**
 * Several indexers serve one network, each holding its own short reservations. They never
 * double-book a GPU because the decision is the ordered log's: the ledger re-checks capacity
 * when `lease.open` is applied, in log order, so of two users sent to the same last GPU by two
 * indexers exactly one gets it; the other is told CAPACITY_EXHAUSTED and re-matches, and its
 * indexer, following the ledger, no longer offers that GPU.
 */
/** Two indexers, each with its own reservations, following the ledger's records of `hosts` (heartbeats now). */
function twoIndexers(t: TestNet, hosts: KeyPair[]): [Indexer, Indexer] {
  const clock = new ManualClock(t.time);
  const make = (seed: string) => {
    const ix = new Indexer({
      clock,
      rng: new SeededRng(seed),
      requiredStake: (c) => t.ledger.requiredStakeOf(c),
      reservationTtlMs: 10_000,
      offlineAfterMs: 60_000,
    });
    for (const h of hosts) {
      ix.upsert(t.ledger.container(h.address)!);
      ix.heartbeat(h.address, clock.now());
    }
    return ix;
  };
  return [make('indexer-a'), make('indexer-b')];
}

describe('two indexers on one ledger', () => {
  it('never give the last GPU twice: the log decides, the loser re-matches', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1, ath(1));
    const [a, b] = twoIndexers(t, [host]);
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

  it('many users racing through two indexers for 6 free GPUs: exactly 6 leases open, the losers re-match until nothing is left', async () => {
    const t = new TestNet();
    const hosts = [host, host2, host3];
    for (const h of hosts) t.onlineContainer(h, 2, ath(1), RTX4090);
    const free = hosts.reduce((n, h) => n + t.ledger.container(h.address)!.gpusTotal, 0);
    expect(free).toBe(6);
    const users = Array.from({ length: 24 }, (_, i) => keyPairFromSeed(`multi-indexer:user-${i}`));
    for (const u of users) {
      t.tx(alice, 'transfer', { to: u.address, amount: ath(10) });
      t.deposit(u, ath(5));
    }
    const indexers = twoIndexers(t, hosts);
    /** both indexers follow the ledger's record of a container (as they do from the log) */
    const follow = (id: string) => {
      for (const ix of indexers) ix.upsert(t.ledger.container(id)!);
    };
    const turns = async (n: number) => {
      for (let k = 0; k < n; k++) await new Promise((r) => setImmediate(r));
    };
    let exhausted = 0;
    // each user asks its indexer, holds the reservation a few turns of the event loop (signing),
    // then opens the lease on the ledger; told CAPACITY_EXHAUSTED, it re-matches
    const outcomes = await Promise.all(
      users.map(async (u, i) => {
        const ix = indexers[i % 2]!;
        for (let attempt = 0; attempt < 10; attempt++) {
          await turns((i * 7919 + attempt) % 4);
          const m = matchOrNull(() => ix.match({ user: u.address, gpus: 1 }));
          if (!m) return { user: u.address, lease: null, attempts: attempt + 1 };
          await turns(1 + ((i * 31) % 3));
          try {
            const r = t.tx(u, 'lease.open', leasePayload(m.container.id, 1, 3600, ath(1)));
            ix.consume(u.address, m.container.id);
            follow(m.container.id);
            return {
              user: u.address,
              lease: String(r.lease),
              container: m.container.id,
              attempts: attempt + 1,
            };
          } catch (e) {
            // the only way to lose the race: the log gave the GPU to someone else first
            if (!(isAethirError(e) && e.code === 'CAPACITY_EXHAUSTED')) throw e;
            exhausted++;
            ix.release(m.reservation.id);
            follow(m.container.id);
          }
        }
        throw new Error(`${u.address} still re-matching after 10 attempts`);
      }),
    );
    const won = outcomes.filter((o) => o.lease !== null);
    // exactly what was free was handed out, once each
    expect(won).toHaveLength(free);
    expect(new Set(won.map((o) => o.lease)).size).toBe(free);
    expect(new Set(won.map((o) => o.user)).size).toBe(free);
    for (const h of hosts) {
      const c = t.ledger.container(h.address)!;
      expect(c.gpusLeased, h.address).toBe(2);
      expect(won.filter((o) => o.container === h.address)).toHaveLength(2);
    }
    expect(outcomes.filter((o) => o.lease === null)).toHaveLength(users.length - free);
    // the two indexers did offer the same GPUs (each unaware of the other's reservations): the
    // ordered log decided, and the losers re-matched
    expect(exhausted).toBeGreaterThan(0);
    expect(Math.max(...outcomes.map((o) => o.attempts))).toBeGreaterThan(1);
    for (const ix of indexers) {
      ix.checkInvariants();
      expect(matchOrNull(() => ix.match({ user: alice.address, gpus: 1 }))).toBeNull();
    }
  });
});
