import { describe, expect, it } from 'vitest';
import { ath } from '../../../src/core/index.js';
import {
  DAY_MS,
  HOUR_MS,
  MINUTE_MS,
  TestNet,
  alice,
  bob,
  carol,
  host,
  host2,
  leasePayload,
  makeGenesis,
  registerPayload,
  stranger,
} from './fixtures.js';

const PRICE = ath(2); // on demand, per GPU-hour
const RESERVED = ath('1.5'); // reserved, per GPU-hour
const DAILY_1 = RESERVED * 24n; // one GPU, one day: 36 ATH

/** host online with `gpus` H100s selling reserved capacity; alice and bob with escrow. */
function market(gpus = 2, params: Record<string, unknown> = {}) {
  const t = new TestNet(makeGenesis(params));
  t.onlineContainer(host, gpus, PRICE);
  t.tx(host, 'container.register', { ...registerPayload(gpus, PRICE), reservedPricePerHour: RESERVED });
  t.deposit(alice, ath(500));
  t.deposit(bob, ath(500));
  return t;
}

const reserve = (t: TestNet, gpus: number, days: number, max = ath(5)) =>
  t.tx(alice, 'reservation.open', { container: host.address, gpus, days, maxPricePerHour: max });

describe('reserved capacity on the ledger', () => {
  it('books GPUs for days, locks the whole period, and runs leases on it at no extra charge', () => {
    const t = market(2);
    const start = t.time;
    const r = reserve(t, 1, 3);
    const id = r.reservation as string;
    expect(r.escrow).toBe((DAILY_1 * 3n).toString());
    expect(t.ledger.account(alice.address).escrow).toBe(ath(500) - DAILY_1 * 3n);
    expect(t.ledger.container(host.address)).toMatchObject({ gpusReserved: 1, gpusLeased: 0 });
    expect(t.lastEvents.map((e) => e.type)).toEqual(['ContainerChanged', 'ReservationOpened']);
    // two leases, one after the other, on the reservation: nothing more locked or charged
    const before = t.ledger.account(alice.address).escrow;
    const l1 = t.tx(alice, 'lease.open', { ...leasePayload(host.address, 1, 3600, ath(1)), reservation: id });
    expect(l1.escrow).toBe('0');
    // a second one at once: the reservation's one GPU is in use
    const busy = t.expectRejectTx(
      alice,
      'lease.open',
      { ...leasePayload(host.address, 1, 3600, ath(1)), reservation: id },
      'CAPACITY_EXHAUSTED',
    );
    expect(busy.message).toBe(`reservation ${id} has 0 of its 1 GPUs free, 1 asked`);
    t.advance(HOUR_MS);
    t.hostClose(host, l1.lease);
    const l2 = t.tx(alice, 'lease.open', { ...leasePayload(host.address, 1, null, ath(1)), reservation: id });
    // open-ended on a reservation: it may run to the reservation's end, no deposit
    expect(t.ledger.lease(l2.lease as string)).toMatchObject({
      reservation: id,
      pricePerHour: 0n,
      escrow: 0n,
      // (at most the longest lease a network allows: 30 days by default)
      maxDurationSec: (start + 3 * DAY_MS - t.time) / 1000,
      openEnded: false,
    });
    expect(t.ledger.account(alice.address).escrow).toBe(before);
    expect(t.ledger.lease(l1.lease as string)!.charged).toBe(0n);
  });

  it('the host is paid completed days; a user cancel keeps the day begun and refunds the rest exactly', () => {
    const t = market(2);
    const start = t.time;
    const id = reserve(t, 2, 3).reservation as string;
    const daily = RESERVED * 2n * 24n;
    // a settle in the first day pays nothing yet (the day is the user's until it ends)
    t.advance(HOUR_MS);
    expect(t.tx(host, 'reservation.settle', { reservation: id }).charged).toBe('0');
    t.at(start + DAY_MS + HOUR_MS);
    expect(t.tx(host, 'reservation.settle', { reservation: id }).charged).toBe(daily.toString());
    expect(t.ledger.container(host.address)!.earned).toBe((daily * 8000n) / 10_000n);
    const escrowBefore = t.ledger.account(alice.address).escrow;
    const r = t.tx(alice, 'reservation.cancel', { reservation: id });
    // two days begun (the second at its start, paid in advance), the third refunded
    expect(r).toMatchObject({ charged: (daily * 2n).toString(), refund: daily.toString() });
    expect(t.ledger.account(alice.address).escrow - escrowBefore).toBe(daily);
    expect(t.ledger.container(host.address)!.gpusReserved).toBe(0);
    expect(t.ledger.totalHeld()).toBe(t.ledger.chain.supply);
  });

  it('a host that fails refunds pro rata to the first offline observation and is slashed', () => {
    const t = market(2);
    const start = t.time;
    const id = reserve(t, 1, 2).reservation as string;
    const lease = t.tx(alice, 'lease.open', {
      ...leasePayload(host.address, 1, 600, ath(1)),
      reservation: id,
    }).lease as string;
    t.at(start + 6 * HOUR_MS);
    t.report(host.address, false, 0);
    t.at(start + 7 * HOUR_MS);
    const out = t.report(host.address, false, 1);
    expect(out).toMatchObject({ status: 'offline', closedLeases: `${lease},${id}` });
    expect(BigInt(out.slashed as string)).toBeGreaterThan(0n);
    // 6 hours of 48 served: 6/24 of a day's price, the rest back
    const due = (DAILY_1 * BigInt(6 * HOUR_MS)) / BigInt(DAY_MS);
    expect(t.ledger.reservation(id)).toMatchObject({
      status: 'closed',
      charged: due,
      closedAt: start + 6 * HOUR_MS,
    });
    expect(t.ledger.account(alice.address).escrow).toBe(ath(500) - due);
    expect(t.ledger.lease(lease)!.status).toBe('closed');
    expect(t.ledger.totalHeld()).toBe(t.ledger.chain.supply);
  });

  it('a period over is closed by anyone, paid in full; its GPUs are free again', () => {
    const t = market(1);
    const start = t.time;
    const id = reserve(t, 1, 1).reservation as string;
    t.expectRejectTx(stranger, 'reservation.close', { reservation: id }, 'CONFLICT');
    t.at(start + DAY_MS);
    expect(t.tx(stranger, 'reservation.close', { reservation: id })).toMatchObject({
      charged: DAILY_1.toString(),
    });
    expect(t.ledger.container(host.address)!.gpusReserved).toBe(0);
    t.tx(bob, 'lease.open', leasePayload(host.address, 1, 600, ath(5)));
  });

  it('an ended reservation not yet closed gives its GPUs back at the next lease.open', () => {
    const t = market(1);
    const id = reserve(t, 1, 1).reservation as string;
    t.advance(DAY_MS);
    t.tx(bob, 'lease.open', leasePayload(host.address, 1, 600, ath(5)));
    expect(t.ledger.reservation(id)).toMatchObject({ status: 'closed', charged: DAILY_1 });
  });

  describe('attacks: refused, nothing changes', () => {
    it('reserving more GPUs than the host has free', () => {
      const t = market(2);
      const e = t.expectRejectTx(
        alice,
        'reservation.open',
        { container: host.address, gpus: 3, days: 1, maxPricePerHour: ath(5) },
        'CAPACITY_EXHAUSTED',
      );
      expect(e.message).toMatch(/has 2 GPUs free to reserve \(of 2\), 3 asked/);
      t.tx(bob, 'lease.open', leasePayload(host.address, 1, 600, ath(5)));
      reserve(t, 1, 1);
      t.expectRejectTx(
        alice,
        'reservation.open',
        { container: host.address, gpus: 1, days: 1, maxPricePerHour: ath(5) },
        'CAPACITY_EXHAUSTED',
      );
    });

    it('leasing reserved GPUs as someone else, or its user on another container', () => {
      const t = market(2);
      const id = reserve(t, 2, 1).reservation as string;
      const e = t.expectRejectTx(
        bob,
        'lease.open',
        { ...leasePayload(host.address, 1, 600, ath(5)), reservation: id },
        'UNAUTHORIZED',
      );
      expect(e.message).toBe(`reservation ${id} belongs to another account`);
      // nor on demand: every GPU is booked
      t.expectRejectTx(bob, 'lease.open', leasePayload(host.address, 1, 600, ath(5)), 'CAPACITY_EXHAUSTED');
      // nor interruptible at any bid
      t.expectRejectTx(
        bob,
        'lease.open',
        { ...leasePayload(host.address, 1, 600, ath(5)), interruptible: true, bidPerHour: PRICE },
        'CAPACITY_EXHAUSTED',
      );
      t.expectRejectTx(bob, 'reservation.cancel', { reservation: id }, 'UNAUTHORIZED');
      t.expectRejectTx(bob, 'reservation.settle', { reservation: id }, 'UNAUTHORIZED');
      t.expectRejectTx(
        alice,
        'lease.open',
        { ...leasePayload(carol.address, 1, 600, ath(5)), reservation: id },
        'NOT_FOUND',
      );
    });

    it('bad reservations: no reserved price, above the limit, days out of range, too little escrow', () => {
      const t = market(2);
      t.expectRejectTx(
        alice,
        'reservation.open',
        { container: host.address, gpus: 1, days: 1, maxPricePerHour: ath(1) },
        'INVALID_TRANSACTION',
      );
      for (const days of [0, 367, 1.5, -1])
        t.expectRejectTx(
          alice,
          'reservation.open',
          { container: host.address, gpus: 1, days, maxPricePerHour: ath(5) },
          'INVALID_TRANSACTION',
        );
      t.expectRejectTx(
        alice,
        'reservation.open',
        { container: host.address, gpus: 2, days: 30, maxPricePerHour: ath(5) },
        'INSUFFICIENT_FUNDS',
      );
      // a reserved price above the on-demand one is no discount
      t.expectRejectTx(
        host,
        'container.register',
        { ...registerPayload(2, PRICE), reservedPricePerHour: PRICE + 1n },
        'INVALID_TRANSACTION',
      );
    });
  });
});

describe('interruptible leases on the ledger', () => {
  const interruptible = (bid: bigint | string, gpus = 2) => ({
    ...leasePayload(host.address, gpus, 3600, ath(5)),
    interruptible: true,
    bidPerHour: bid,
  });

  it('runs at the bid; a higher on-demand request preempts it with notice; charged only to the preemption', () => {
    const t = market(2, { preemptNoticeMs: 30_000 });
    const bid = ath('0.8');
    const a = t.tx(alice, 'lease.open', interruptible(bid)).lease as string;
    expect(t.ledger.lease(a)).toMatchObject({ interruptible: true, pricePerHour: bid, escrow: bid * 2n });
    t.advance(30 * MINUTE_MS);
    const preemptAt = t.time;
    const b = t.tx(bob, 'lease.open', leasePayload(host.address, 1, 600, ath(5)));
    expect(b.preempted).toBe(a);
    expect(b.startsAt).toBe(preemptAt + 30_000);
    expect(t.lastEvents).toContainEqual({
      type: 'LeasePreempted',
      lease: a,
      container: host.address,
      user: alice.address,
      by: b.lease,
      at: preemptAt,
      stopAt: preemptAt + 30_000,
    });
    // b starts when the notice ends: nothing charged for the notice
    expect(t.ledger.lease(b.lease as string)).toMatchObject({ openedAt: preemptAt + 30_000 });
    // the host closes a after the notice with a receipt for all of it: charged only to the preemption
    t.advance(45_000);
    t.hostClose(host, a, { reason: 'preempted' });
    const closed = t.ledger.lease(a)!;
    expect(closed.charged).toBe((bid * 2n * BigInt(30 * MINUTE_MS)) / BigInt(HOUR_MS));
    expect(t.ledger.account(alice.address).escrow).toBe(ath(500) - closed.charged);
    expect(t.ledger.container(host.address)).toMatchObject({ gpusLeased: 1, openLeases: 1 });
  });

  it('a higher bid preempts a lower one, an equal or lower one does not', () => {
    const t = market(1);
    const a = t.tx(alice, 'lease.open', interruptible(ath('0.5'), 1)).lease as string;
    t.expectRejectTx(bob, 'lease.open', interruptible(ath('0.5'), 1), 'CAPACITY_EXHAUSTED');
    t.expectRejectTx(bob, 'lease.open', interruptible(ath('0.4'), 1), 'CAPACITY_EXHAUSTED');
    const b = t.tx(bob, 'lease.open', interruptible(ath('0.6'), 1));
    expect(b.preempted).toBe(a);
    // an on-demand lease at the host's price is not preempted by anything
    const t2 = market(1);
    t2.tx(alice, 'lease.open', leasePayload(host.address, 1, 600, ath(5)));
    t2.expectRejectTx(bob, 'lease.open', interruptible(PRICE, 1), 'CAPACITY_EXHAUSTED');
  });

  it('bids below zero, zero, absurd or without interruptible are refused; nothing changes', () => {
    const t = market(2);
    for (const bid of ['-1', '0', '1e18', 'NaN', '1'.repeat(41)])
      t.expectRejectTx(alice, 'lease.open', interruptible(bid), 'INVALID_TRANSACTION');
    const above = t.expectRejectTx(alice, 'lease.open', interruptible(PRICE + 1n), 'INVALID_TRANSACTION');
    expect(above.message).toMatch(/above container .*'s on-demand price/);
    t.expectRejectTx(
      alice,
      'lease.open',
      { ...leasePayload(host.address, 1, 600, ath(5)), bidPerHour: ath(1) },
      'INVALID_TRANSACTION',
    );
    t.expectRejectTx(
      alice,
      'lease.open',
      { ...leasePayload(host.address, 1, 600, ath(5)), interruptible: true },
      'INVALID_TRANSACTION',
    );
    t.expectRejectTx(
      alice,
      'lease.open',
      { ...leasePayload(host.address, 1, 600, ath(5)), interruptible: false, bidPerHour: ath(1) },
      'INVALID_TRANSACTION',
    );
  });

  it('a host cannot preempt: it has no preempt transaction, and its own close charges only what receipts acknowledge', () => {
    const t = market(2);
    const a = t.tx(alice, 'lease.open', interruptible(ath('0.5'))).lease as string;
    t.advance(10 * MINUTE_MS);
    // a "preempt notice" the host makes up: not a transaction type
    t.expectReject(t.sign(host, 'lease.preempt' as never, { lease: a }), 'INVALID_TRANSACTION');
    // it rents its own GPUs to get a "higher bid": a container cannot rent itself
    t.expectRejectTx(host, 'lease.open', leasePayload(host.address, 1, 600, ath(5)), 'INVALID_TRANSACTION');
    expect(t.ledger.lease(a)!.preemptedAt).toBeUndefined();
    // a lease that is not interruptible is never preempted, whatever the price
    const t2 = market(1);
    t2.tx(alice, 'lease.open', leasePayload(host.address, 1, 600, ath(5)));
    t2.expectRejectTx(bob, 'lease.open', leasePayload(host.address, 1, 600, ath(5)), 'CAPACITY_EXHAUSTED');
  });

  it('resume: only the same user, only an interruptible lease, only on the host that kept its checkpoint', () => {
    const t = market(2);
    const a = t.tx(alice, 'lease.open', interruptible(ath('0.5'), 1)).lease as string;
    t.tx(alice, 'lease.close', { lease: a });
    t.expectRejectTx(bob, 'lease.open', { ...interruptible(ath('0.5'), 1), resumes: a }, 'UNAUTHORIZED');
    const plain = t.tx(bob, 'lease.open', leasePayload(host.address, 1, 600, ath(5))).lease as string;
    t.expectRejectTx(
      bob,
      'lease.open',
      { ...interruptible(ath('0.5'), 1), resumes: plain },
      'INVALID_TRANSACTION',
    );
    const r = t.tx(alice, 'lease.open', { ...interruptible(ath('0.5'), 1), resumes: a });
    expect(t.ledger.lease(r.lease as string)!.resumes).toBe(a);
  });
});

describe('resuming an interruptible lease on another host (params.checkpointKeepMs)', () => {
  const KEEP = 3_600_000;
  const on = (c: string, bid: bigint) => ({
    ...leasePayload(c, 1, 600, ath(5)),
    interruptible: true,
    bidPerHour: bid,
  });
  function twoHosts(params: Record<string, unknown>) {
    const t = market(1, { preemptNoticeMs: 10_000, ...params });
    t.onlineContainer(host2, 1, PRICE);
    const a = t.tx(alice, 'lease.open', on(host.address, ath('0.5'))).lease as string;
    return { t, a };
  }

  it('without the parameter (networks from before) a checkpoint resumes only where it was kept', () => {
    const { t, a } = twoHosts({});
    t.hostClose(host, a);
    const e = t.expectRejectTx(
      alice,
      'lease.open',
      { ...on(host2.address, ath('0.5')), resumes: a },
      'INVALID_TRANSACTION',
    );
    expect(e.message).toMatch(/kept on container .*no params.checkpointKeepMs/);
  });

  it('with it: on any host once the old lease ended, within the keep time, by its user only', () => {
    const { t, a } = twoHosts({ checkpointKeepMs: KEEP });
    // still running: its checkpoint is not final
    t.expectRejectTx(alice, 'lease.open', { ...on(host2.address, ath('0.5')), resumes: a }, 'CONFLICT');
    t.hostClose(host, a);
    t.expectRejectTx(bob, 'lease.open', { ...on(host2.address, ath('0.5')), resumes: a }, 'UNAUTHORIZED');
    t.at(t.ledger.lease(a)!.closedAt! + KEEP);
    const r = t.tx(alice, 'lease.open', { ...on(host2.address, ath('0.5')), resumes: a });
    expect(t.ledger.lease(r.lease as string)).toMatchObject({ container: host2.address, resumes: a });
    t.advance(1);
    const root = t.ledger.root();
    const late = t.expectRejectTx(
      alice,
      'lease.open',
      { ...on(host2.address, ath('0.6')), resumes: a },
      'CONFLICT',
    );
    expect(late.message).toMatch(/checkpoint was kept until .*: start without it/);
    expect(t.ledger.root()).toBe(root);
  });
});
