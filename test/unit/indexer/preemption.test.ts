import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock, SeededRng, ath, isAethirError, type KeyPair } from '../../../src/core/index.js';
import { Indexer, type MatchResult } from '../../../src/indexer/index.js';
import type { Lease } from '../../../src/ledger/index.js';
import {
  TestNet,
  alice,
  bob,
  carol,
  host,
  host2,
  host3,
  leasePayload,
  makeGenesis,
} from '../ledger/fixtures.js';

/**
 * A plain match (no --container) reaches GPUs that interruptible leases hold: the index offers
 * them to a request that would pay more than their bid (the container's on-demand price, or a
 * higher bid), only when no container has the GPUs truly free, and says so in the match. The
 * ledger decides the preemption when the lease opens (preemptFor); these tests drive both.
 */

const NOTICE_MS = 30_000;

/** An indexer following `t`'s ledger (containers and open interruptible leases), heartbeats now. */
function follow(t: TestNet, hosts: KeyPair[], clock: ManualClock): Indexer {
  const ix = new Indexer({
    clock,
    rng: new SeededRng('preemption'),
    requiredStake: (c) => t.ledger.requiredStakeOf(c),
    reservationTtlMs: 10_000,
    offlineAfterMs: 3_600_000,
  });
  sync(t, ix, hosts, clock);
  return ix;
}

/** What fanOutBlock tells an index after a block: the containers, and the leases as they are now. */
function sync(t: TestNet, ix: Indexer, hosts: KeyPair[], clock: ManualClock): void {
  clock.set(t.time);
  for (const h of hosts) {
    ix.upsert(t.ledger.container(h.address)!);
    ix.heartbeat(h.address, t.time);
  }
  for (const l of t.ledger.leases()) if (l.interruptible) ix.lease(l);
}

const spot = (c: string, gpus: number, bid: bigint, seconds = 3600) => ({
  ...leasePayload(c, gpus, seconds, ath(5)),
  interruptible: true,
  bidPerHour: bid,
});

function net(): TestNet {
  const t = new TestNet(makeGenesis({ preemptNoticeMs: NOTICE_MS }));
  for (const [u, a] of [
    [alice, 500],
    [bob, 500],
    [carol, 9],
  ] as const)
    t.deposit(u, ath(a));
  return t;
}

describe('matching onto interruptible capacity', () => {
  it('an on-demand request preempts a lower bid when no host has GPUs free, and says so; the ledger agrees', () => {
    const t = net();
    const clock = new ManualClock(t.time);
    t.onlineContainer(host, 2, ath(2));
    const a = t.tx(alice, 'lease.open', spot(host.address, 2, ath('0.5'))).lease as string;
    const ix = follow(t, [host], clock);
    const m = ix.match({ user: bob.address, gpus: 2 });
    expect(m.container.id).toBe(host.address);
    expect(m.preemptsInterruptible).toBe(true);
    // the renter's business is that it preempts, not whose leases: nothing names them
    expect(JSON.stringify(m, (_, v) => (typeof v === 'bigint' ? v.toString() : v))).not.toContain(a);
    const b = t.tx(bob, 'lease.open', leasePayload(host.address, 2, 600, ath(5)));
    expect(b.preempted).toBe(a);
    ix.consume(bob.address, host.address);
    sync(t, ix, [host], clock);
    // now nothing is left to preempt: the next request is told there is no match
    expect(() => ix.match({ user: carol.address, gpus: 1 })).toThrow(/no container matches/);
  });

  it('truly free GPUs first: a host with GPUs free wins over a cheaper one that would need preempting', () => {
    const t = net();
    const clock = new ManualClock(t.time);
    t.onlineContainer(host, 1, ath(1));
    t.onlineContainer(host2, 1, ath(3));
    t.tx(alice, 'lease.open', spot(host.address, 1, ath('0.5')));
    const ix = follow(t, [host, host2], clock);
    const m = ix.match({ user: bob.address, gpus: 1 });
    expect(m.container.id).toBe(host2.address);
    expect(m.preemptsInterruptible).toBeUndefined();
    // once host2 is taken, the cheap interruptible one is preempted
    t.tx(bob, 'lease.open', leasePayload(host2.address, 1, 600, ath(5)));
    ix.consume(bob.address, host2.address);
    sync(t, ix, [host, host2], clock);
    const n = ix.match({ user: carol.address, gpus: 1 });
    expect(n).toMatchObject({ container: { id: host.address }, preemptsInterruptible: true });
  });

  it('a bid preempts only lower bids; an equal or lower bid, or one above the host’s price, never does', () => {
    const t = net();
    const clock = new ManualClock(t.time);
    t.onlineContainer(host, 1, ath(2));
    t.tx(alice, 'lease.open', spot(host.address, 1, ath('0.8')));
    const ix = follow(t, [host], clock);
    for (const bid of [ath('0.8'), ath('0.5')])
      expect(() => ix.match({ user: bob.address, gpus: 1, bidPerHour: bid })).toThrow(/no container matches/);
    // above the host's on-demand price: the ledger would refuse it, so the index does not offer it
    expect(() => ix.match({ user: bob.address, gpus: 1, bidPerHour: ath(3) })).toThrow(
      /no container matches/,
    );
    const m = ix.match({ user: bob.address, gpus: 1, bidPerHour: ath('0.9') });
    expect(m).toMatchObject({ container: { id: host.address }, preemptsInterruptible: true });
    const opened = t.tx(bob, 'lease.open', spot(host.address, 1, ath('0.9')));
    expect(opened.preempted).toBeDefined();
  });

  it('a reservation on preemptible GPUs keeps them from the next request, as free ones are kept', () => {
    const t = net();
    const clock = new ManualClock(t.time);
    t.onlineContainer(host, 2, ath(2));
    t.tx(alice, 'lease.open', spot(host.address, 2, ath('0.5')));
    const ix = follow(t, [host], clock);
    expect(ix.match({ user: bob.address, gpus: 2 }).preemptsInterruptible).toBe(true);
    expect(() => ix.match({ user: carol.address, gpus: 1 })).toThrow(/no container matches/);
    ix.checkInvariants();
    // the reservation expires: they are on offer again
    clock.advance(10_001);
    expect(ix.match({ user: carol.address, gpus: 1 }).container.id).toBe(host.address);
  });

  it('the rest of the request still applies: an offline or over-budget host is not offered for preemption', () => {
    const t = net();
    const clock = new ManualClock(t.time);
    t.onlineContainer(host, 1, ath(2));
    t.tx(alice, 'lease.open', spot(host.address, 1, ath('0.5')));
    const ix = follow(t, [host], clock);
    expect(() => ix.match({ user: bob.address, gpus: 1, maxPricePerHour: ath(1) })).toThrow(
      /no container matches/,
    );
    expect(() => ix.match({ user: bob.address, gpus: 1, gpuModel: 'A100' })).toThrow(/no container matches/);
    clock.advance(3_600_001);
    expect(() => ix.match({ user: bob.address, gpus: 1 })).toThrow(/no container matches/);
  });

  it('preempted and closed interruptible leases are forgotten; CPU requests (0 GPUs) never preempt', () => {
    const t = net();
    const clock = new ManualClock(t.time);
    t.onlineContainer(host, 1, ath(2));
    const a = t.tx(alice, 'lease.open', spot(host.address, 1, ath('0.5'))).lease as string;
    const ix = follow(t, [host], clock);
    // a forged or stale record cannot make a closed lease preemptible again
    const closed: Lease = { ...t.ledger.lease(a)!, status: 'closed' };
    ix.lease(closed);
    expect(() => ix.match({ user: bob.address, gpus: 1 })).toThrow(/no container matches/);
    ix.lease(t.ledger.lease(a)!);
    expect(ix.find({ user: bob.address, gpus: 1 }).preemptsInterruptible).toBe(true);
    ix.lease({ ...t.ledger.lease(a)!, preemptedAt: t.time });
    expect(() => ix.find({ user: bob.address, gpus: 1 })).toThrow(/no container matches/);
    expect(ix.find({ user: bob.address, gpus: 0 }).preemptsInterruptible).toBeUndefined();
  });
});

/**
 * Random markets: hosts with interruptible leases at random bids, then random requests (on
 * demand or at a bid), each matched by the index and opened on the ledger as the renter would.
 * Nothing is double-booked: every match the index gives opens (the ledger finds the GPUs, free or
 * by preempting), and once the notices end the GPUs of the leases still running fit every host;
 * a match that preempts was made only when no host had the GPUs free; a request never preempts a
 * lease bidding as much or more than it pays.
 */
describe('preemption matching, property', () => {
  const HOSTS = [host, host2, host3];
  const USERS = [alice, bob, carol];
  it('never double-books, prefers free GPUs, and never lets a lower or equal bid preempt', () => {
    const seen = { preempting: 0, free: 0 };
    fc.assert(
      fc.property(
        fc.array(fc.record({ gpus: fc.integer({ min: 1, max: 4 }), price: fc.integer({ min: 2, max: 6 }) }), {
          minLength: 1,
          maxLength: 3,
        }),
        fc.array(
          fc.record({
            user: fc.integer({ min: 0, max: 2 }),
            gpus: fc.integer({ min: 1, max: 3 }),
            // tenths of an ATH, at most the cheapest host's price; 0: on demand
            bid: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 20 })),
            abandon: fc.boolean(),
          }),
          { minLength: 1, maxLength: 14 },
        ),
        (hosts, requests) => {
          const t = net();
          const clock = new ManualClock(t.time);
          hosts.forEach((h, i) => t.onlineContainer(HOSTS[i]!, h.gpus, ath(h.price)));
          const keys = HOSTS.slice(0, hosts.length);
          const ix = follow(t, keys, clock);
          // the index's reservations, as it holds them (a lease opened uses up its user's first on that host)
          let held: Array<{ user: string; host: string; gpus: number; expiresAt: number }> = [];
          for (const r of requests) {
            held = held.filter((h) => h.expiresAt > t.time);
            const user = USERS[r.user]!;
            const bid = r.bid === 0 ? undefined : ath(r.bid) / 10n;
            // what each host could give now: the ledger's free GPUs less the index's reservations
            const free = keys.map((k) => {
              const c = t.ledger.container(k.address)!;
              const mine = held.filter((h) => h.host === k.address).reduce((a, h) => a + h.gpus, 0);
              return c.gpusTotal - c.gpusLeased - (c.gpusReserved ?? 0) - mine;
            });
            let m: MatchResult;
            try {
              m = ix.match({
                user: user.address,
                gpus: r.gpus,
                ...(bid !== undefined ? { bidPerHour: bid } : {}),
              });
            } catch (e) {
              if (!isAethirError(e)) throw e;
              if (e.code === 'NO_MATCH' || /no container matches/.test(e.message)) continue;
              throw e;
            }
            const i = keys.findIndex((k) => k.address === m.container.id);
            held.push({
              user: user.address,
              host: m.container.id,
              gpus: r.gpus,
              expiresAt: m.reservation.expiresAt,
            });
            // preemption is the last resort: only when no host had the GPUs free
            if (m.preemptsInterruptible) expect(free.every((f) => f < r.gpus)).toBe(true);
            else expect(free[i]).toBeGreaterThanOrEqual(r.gpus);
            if (r.abandon) continue; // its reservation holds the GPUs until the TTL
            const pays = bid ?? m.container.pricePerHour;
            const before = new Map(t.ledger.leases().map((l) => [l.id, l]));
            const opened = t.tx(
              user,
              'lease.open',
              bid !== undefined
                ? spot(m.container.id, r.gpus, bid, 60)
                : leasePayload(m.container.id, r.gpus, 60, ath(10)),
            );
            const preempted = opened.preempted ? String(opened.preempted).split(',') : [];
            // the ledger preempts only where the index said it would (it may find free GPUs that
            // an abandoned reservation was holding in the index)
            if (preempted.length > 0) expect(m.preemptsInterruptible).toBe(true);
            seen.preempting += preempted.length > 0 ? 1 : 0;
            seen.free += preempted.length > 0 ? 0 : 1;
            for (const id of preempted) expect(before.get(id)!.pricePerHour).toBeLessThan(pays);
            ix.consume(user.address, m.container.id);
            const used = held.findIndex((h) => h.user === user.address && h.host === m.container.id);
            held.splice(used, 1);
            t.advance(1000);
            sync(t, ix, keys, clock);
            // once the notices end, the leases still running fit every host
            for (const k of keys) {
              const c = t.ledger.container(k.address)!;
              const running = t.ledger
                .leases()
                .filter(
                  (l) => l.container === k.address && l.status === 'open' && l.preemptedAt === undefined,
                )
                .reduce((a, l) => a + l.gpus, 0);
              expect(running).toBe(c.gpusLeased);
              expect(running).toBeLessThanOrEqual(c.gpusTotal);
            }
          }
          ix.checkInvariants();
        },
      ),
      { numRuns: 80 },
    );
    // the runs opened leases both ways: on free GPUs and by preempting
    expect(seen.preempting).toBeGreaterThan(2);
    expect(seen.free).toBeGreaterThan(2);
  });
});
