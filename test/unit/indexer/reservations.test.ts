import { describe, expect, it } from 'vitest';
import { AethirError, ath } from '../../../src/core/index.js';
import { MAX_REQUEST_KEYS, reservationCost, type MatchResult } from '../../../src/indexer/index.js';
import {
  container,
  matchOrNull,
  noMatch,
  OTHER_USER,
  req,
  ruledOut,
  setup,
  TTL_MS,
  USER,
} from './fixtures.js';

function codeOf(fn: () => unknown): { code: string; message: string; details?: unknown } {
  try {
    fn();
  } catch (e) {
    return e as AethirError;
  }
  throw new Error('expected a refusal');
}

describe('free GPUs', () => {
  it('follow heartbeats: a container reporting fewer free GPUs than the ledger is taken at its word', () => {
    const { indexer, add, clock } = setup();
    add(container('c1', { gpusTotal: 4 }));
    indexer.heartbeat('c1', clock.now() + 1, 1);
    expect(ruledOut(noMatch(() => indexer.match(req({ gpus: 2 }))))).toEqual({ 'GPUs busy': 1 });
    expect(indexer.match(req({ gpus: 1 })).container.id).toBe('c1');
  });

  it('never exceed the ledger: a heartbeat claiming more free GPUs than the ledger leaves leased ones leased', () => {
    const { indexer, add, clock } = setup();
    add(container('c1', { gpusTotal: 4, gpusLeased: 3 }));
    indexer.heartbeat('c1', clock.now() + 1, 4);
    expect(ruledOut(noMatch(() => indexer.match(req({ gpus: 2 }))))).toEqual({ 'GPUs busy': 1 });
  });

  it('an older heartbeat does not overwrite a newer one’s free GPUs', () => {
    const { indexer, add, clock } = setup();
    add(container('c1', { gpusTotal: 4 }));
    indexer.heartbeat('c1', clock.now() + 10, 0);
    indexer.heartbeat('c1', clock.now() + 5, 4);
    expect(ruledOut(noMatch(() => indexer.match(req({ gpus: 1 }))))).toEqual({ 'GPUs busy': 1 });
  });
});

describe('reservations', () => {
  it('take the reserved GPUs out of the free ones until the TTL ends', () => {
    const { indexer, add, clock } = setup();
    add(container('c1', { gpusTotal: 4 }));
    const m = indexer.match(req({ gpus: 3 }));
    expect(m.reservation.expiresAt).toBe(clock.now() + TTL_MS);
    expect(indexer.stats().reservations).toBe(1);
    expect(indexer.match(req({ gpus: 1, user: OTHER_USER })).container.id).toBe('c1');
    expect(ruledOut(noMatch(() => indexer.match(req({ gpus: 1 }))))).toEqual({ 'GPUs busy': 1 });
    clock.advance(TTL_MS);
    indexer.heartbeat('c1', clock.now());
    expect(indexer.match(req({ gpus: 4 })).container.id).toBe('c1');
    expect(indexer.stats().reservations).toBe(1);
  });

  it('consume() on lease open: the ledger now counts the GPUs, the reservation is gone', () => {
    const { indexer, add } = setup();
    add(container('c1', { gpusTotal: 4 }));
    const m = indexer.match(req({ gpus: 3 }));
    indexer.consume(USER, 'c1');
    // until the ledger's record arrives the GPUs look free again; the ledger re-checks on lease.open
    indexer.upsert(container('c1', { gpusTotal: 4, gpusLeased: 3, openLeases: 1 }));
    expect(indexer.stats().reservations).toBe(0);
    expect(indexer.release(m.reservation.id)).toBe(false);
    expect(ruledOut(noMatch(() => indexer.match(req({ gpus: 2 }))))).toEqual({ 'GPUs busy': 1 });
    indexer.consume(USER, 'nobody');
  });

  it('1,000 concurrent requests for the last 10 free GPUs: exactly 10 succeed, no GPU given twice', async () => {
    const { indexer, add, clock } = setup();
    // 300 containers, every GPU leased but 2 on each of 5 of them
    for (let i = 0; i < 300; i++) {
      const id = `c${String(i).padStart(3, '0')}`;
      const spare = i % 60 === 7;
      add(container(id, { gpusTotal: 4, gpusLeased: spare ? 2 : 4, pricePerHour: ath(1 + (i % 7) / 10) }));
    }
    const users = Array.from({ length: 1000 }, (_, i) => `ath1${i.toString(16).padStart(40, '0')}`);
    let ticks = 0;
    const results = await Promise.all(
      users.map(async (user, i) => {
        // interleave: each request waits a different number of turns of the event loop
        for (let k = 0; k < (i * 7919) % 5; k++) await new Promise((r) => setImmediate(r));
        ticks++;
        try {
          return indexer.match(req({ gpus: 1, user, strategy: i % 3 ? 'lowest-fee' : 'balanced' }));
        } catch (e) {
          if (e instanceof AethirError && e.code === 'NO_MATCH') return e;
          throw e;
        }
      }),
    );
    expect(ticks).toBe(1000);
    const won = results.filter((r): r is MatchResult => !(r instanceof AethirError));
    const lost = results.filter((r): r is AethirError => r instanceof AethirError);
    expect(won).toHaveLength(10);
    expect(lost).toHaveLength(990);
    const perContainer = new Map<string, number>();
    for (const m of won)
      perContainer.set(m.container.id, (perContainer.get(m.container.id) ?? 0) + m.reservation.gpus);
    expect([...perContainer.values()]).toEqual([2, 2, 2, 2, 2]);
    expect(new Set(won.map((m) => m.reservation.id)).size).toBe(10);
    for (const e of lost) expect(ruledOut(e)).toEqual({ 'GPUs busy': 300 });
    indexer.checkInvariants();
    // once the reservations run out, the 10 GPUs are free again
    clock.advance(TTL_MS);
    for (let i = 0; i < 300; i++) indexer.heartbeat(`c${String(i).padStart(3, '0')}`, clock.now());
    const again = users.slice(0, 20).map((user) => matchOrNull(() => indexer.match(req({ gpus: 1, user }))));
    // the first 10 get one each, then NO_MATCH (any other error fails the test)
    expect(again.map((m) => m !== null)).toEqual([...Array(10).fill(true), ...Array(10).fill(false)]);
  });

  it('mixed sizes never over-book and leave nothing unused: exactly the free GPUs are given', async () => {
    const { indexer, add } = setup();
    for (let i = 0; i < 50; i++) add(container(`c${i}`, { gpusTotal: 8, gpusLeased: 8 - (i % 4) }));
    const free = Array.from({ length: 50 }, (_, i) => i % 4);
    const totalFree = free.reduce((a, b) => a + b, 0);
    expect(totalFree).toBe(73);
    const results = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        await new Promise((r) => setImmediate(r));
        // NO_MATCH is null; any other error fails the test
        return matchOrNull(() =>
          indexer.match(req({ gpus: 1 + (i % 3), user: `ath1${i.toString(16).padStart(40, '0')}` })),
        );
      }),
    );
    const given = new Map<string, number>();
    for (const m of results)
      if (m) given.set(m.container.id, (given.get(m.container.id) ?? 0) + m.reservation.gpus);
    // no container is given more than it had free, and every free GPU was given: what was handed
    // out is exactly what was free, container by container
    for (let i = 0; i < 50; i++) expect(given.get(`c${i}`) ?? 0, `c${i}`).toBe(free[i]);
    expect(results.filter((m) => m !== null).reduce((a, m) => a + m!.reservation.gpus, 0)).toBe(totalFree);
    expect(results.filter((m) => m === null).length).toBeGreaterThan(0);
    // and the index agrees: no request for 1 GPU can still match
    expect(() => indexer.match(req({ gpus: 1 }))).toThrowError(expect.objectContaining({ code: 'NO_MATCH' }));
    indexer.checkInvariants();
  });
});

describe('what a reservation costs its account', () => {
  it('an account holds at most maxReservationsPerAccount; the next is RATE_LIMITED until one is used or expires', () => {
    const { indexer, add, clock } = setup({ maxReservationsPerAccount: 2 });
    add(container('c1', { gpusTotal: 8 }));
    indexer.match(req());
    clock.advance(1000);
    indexer.match(req());
    const e = codeOf(() => indexer.match(req()));
    expect(e.code).toBe('RATE_LIMITED');
    expect(e.message).toBe(
      `account ${USER} already holds 2 open reservations (the most is 2): open a lease with one, or wait until one expires (${TTL_MS - 1000} ms)`,
    );
    // other accounts are not held back, and browsing (find) reserves nothing and is never capped
    expect(indexer.match(req({ user: OTHER_USER })).reservation.user).toBe(OTHER_USER);
    expect(indexer.find(req()).reservation).toBeNull();
    expect(indexer.stats().reservations).toBe(3);
    // a lease opened with one frees its place
    indexer.consume(USER, 'c1');
    expect(indexer.match(req()).reservation.user).toBe(USER);
    // expiry frees them too
    clock.advance(TTL_MS);
    indexer.heartbeat('c1', clock.now());
    indexer.match(req());
    indexer.match(req());
    expect(codeOf(() => indexer.match(req())).code).toBe('RATE_LIMITED');
  });

  it("is made only if the account's escrow covers what its reservations would lock for their TTL", () => {
    const escrow = new Map<string, bigint>([[USER, 0n]]);
    const { indexer, add } = setup({ escrowOf: (u) => escrow.get(u) ?? 0n });
    const price = ath(3.6); // 3.6 ATH an hour: 10 s of 2 GPUs lock exactly 0.02 ATH
    add(container('c1', { gpusTotal: 8, pricePerHour: price }));
    const cost = reservationCost(price, 2, TTL_MS);
    expect(cost).toBe(ath(0.02));
    const e = codeOf(() => indexer.match(req({ gpus: 2 })));
    expect(e.code).toBe('INSUFFICIENT_FUNDS');
    expect(e.details).toEqual({ needed: cost.toString(), escrow: '0' });
    expect(indexer.stats().reservations).toBe(0);
    // browsing costs nothing
    expect(indexer.find(req({ gpus: 2 })).container.id).toBe('c1');
    escrow.set(USER, cost);
    indexer.match(req({ gpus: 2 }));
    // the second needs the first's cost too
    const second = codeOf(() => indexer.match(req({ gpus: 2 })));
    expect(second.code).toBe('INSUFFICIENT_FUNDS');
    expect(second.details).toEqual({ needed: (2n * cost).toString(), escrow: cost.toString() });
    escrow.set(USER, 2n * cost);
    expect(indexer.match(req({ gpus: 2 })).reservation.gpus).toBe(2);
    // a CPU lease (0 GPUs) costs what one GPU would
    expect(reservationCost(price, 0, TTL_MS)).toBe(ath(0.01));
  });
});

describe('a signed request asked again (requestKey)', () => {
  it('gets the first answer, the same reservation, and holds nothing more, until its key lapses', () => {
    const { indexer, add, clock } = setup({ maxReservationsPerAccount: 2 });
    add(container('c1', { gpusTotal: 2 }));
    const key = { key: 'sig-1', until: clock.now() + 60_000 };
    const first = indexer.match(req({ gpus: 1 }), key);
    // a retry after a lost reply, or someone replaying the captured request
    for (let i = 0; i < 5; i++) expect(indexer.match(req({ gpus: 1 }), key)).toBe(first);
    expect(indexer.stats().reservations).toBe(1);
    // the other GPU is still free for another request (another signature)
    const other = indexer.match(req({ gpus: 1 }), { key: 'sig-2', until: clock.now() + 60_000 });
    expect(other.reservation.id).not.toBe(first.reservation.id);
    expect(indexer.stats().reservations).toBe(2);
    // a used reservation is not renewed by the replay either
    indexer.consume(USER, 'c1');
    expect(indexer.match(req({ gpus: 1 }), key)).toBe(first);
    expect(indexer.stats().reservations).toBe(1);
    // after `until` the key is forgotten (the node refuses the signature by then): a new request
    clock.advance(60_000);
    indexer.heartbeat('c1', clock.now());
    expect(indexer.match(req({ gpus: 1 }), key).reservation.id).not.toBe(first.reservation.id);
  });

  it('a refused request is not remembered: asked again once the escrow covers it, it reserves', () => {
    const escrow = new Map<string, bigint>([[USER, 0n]]);
    const { indexer, add, clock } = setup({ escrowOf: (u) => escrow.get(u) ?? 0n });
    add(container('c1', { gpusTotal: 2, pricePerHour: ath(3.6) }));
    const key = { key: 'sig-1', until: clock.now() + 60_000 };
    expect(codeOf(() => indexer.match(req({ gpus: 1 }), key)).code).toBe('INSUFFICIENT_FUNDS');
    escrow.set(USER, ath(1));
    expect(indexer.match(req({ gpus: 1 }), key).reservation.gpus).toBe(1);
    expect(indexer.stats().reservations).toBe(1);
  });

  it(`remembers at most maxRequestKeys (default ${MAX_REQUEST_KEYS.toLocaleString('en-US')}) keys, forgetting the oldest first`, () => {
    const { indexer, add, clock } = setup({ maxRequestKeys: 100 });
    add(container('c1', { gpusTotal: 64 }));
    const until = clock.now() + 60_000;
    const first = indexer.match(req({ gpus: 0 }), { key: 'k0', until });
    // fill the table with CPU matches (0 GPUs: nothing scarce is held)
    for (let i = 1; i < 100; i++) indexer.match(req({ gpus: 0, user: OTHER_USER }), { key: `k${i}`, until });
    expect(indexer.match(req({ gpus: 0 }), { key: 'k0', until })).toBe(first);
    indexer.match(req({ gpus: 0, user: OTHER_USER }), { key: 'k100', until });
    expect(indexer.match(req({ gpus: 0 }), { key: 'k0', until }).reservation.id).not.toBe(
      first.reservation.id,
    );
  });
});
