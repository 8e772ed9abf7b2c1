import { describe, expect, it } from 'vitest';
import { ath } from '../../../src/core/index.js';
import { leaseFunds, type Lease } from '../../../src/ledger/index.js';
import {
  GENESIS_TIME,
  MINUTE_MS,
  TestNet,
  alice,
  bob,
  conserved,
  escrow,
  governor,
  host,
  leasePayload,
  makeGenesis,
  stranger,
} from './fixtures.js';

const G = GENESIS_TIME;
/** 2 ATH per GPU-hour, one GPU: 1/30 ATH a minute */
const PRICE = ath(2);
const perMs = (ms: number) => (PRICE * BigInt(ms)) / 3_600_000n;
const GRACE = 10 * MINUTE_MS;

/** A pausing network; alice opens a 1-GPU lease of an hour with a 10-minute deposit at G. */
function pausing(params: Record<string, unknown> = { pauseGraceMs: GRACE }) {
  const t = new TestNet(makeGenesis(params));
  t.onlineContainer(host, 2, PRICE);
  t.deposit(alice, ath(100));
  t.at(G);
  const r = t.tx(alice, 'lease.open', { ...leasePayload(host.address, 1, 3600, PRICE), depositSec: 600 });
  return { t, lease: String(r.lease), locked: BigInt(String(r.escrow)) };
}
const lease = (t: TestNet, id: string): Lease => t.ledger.lease(id)!;

describe('lease deposits, pauses and top-ups', () => {
  it('locks only the deposit; a network without pauseGraceMs refuses deposits', () => {
    const { t, locked } = pausing();
    expect(locked).toBe(perMs(10 * MINUTE_MS));
    t.expectRejectTx(
      alice,
      'lease.open',
      { ...leasePayload(host.address, 1, 60, PRICE), depositSec: 61 },
      'INVALID_TRANSACTION',
    );
    const old = new TestNet(makeGenesis());
    old.onlineContainer(host, 2, PRICE);
    old.deposit(alice, ath(100));
    const e = old.expectRejectTx(
      alice,
      'lease.open',
      { ...leasePayload(host.address, 1, 3600, PRICE), depositSec: 600 },
      'INVALID_TRANSACTION',
    );
    expect(e.message).toMatch(/does not pause leases/);
  });

  it('pauses a lease whose escrow ran out: charged exactly its escrow, up to when it ran out', () => {
    const { t, lease: id, locked } = pausing();
    const before = lease(t, id);
    expect(leaseFunds(before, G + 9 * MINUTE_MS).low).toBe(true);
    expect(leaseFunds(before, G).runsOutAt).toBe(G + 10 * MINUTE_MS);
    t.at(G + 12 * MINUTE_MS);
    const r = t.tx(host, 'lease.pause', { lease: id, receipt: t.receipt(id, 60 * MINUTE_MS) });
    expect(r).toMatchObject({ pausedAt: G + 10 * MINUTE_MS, closesAt: G + 10 * MINUTE_MS + GRACE });
    const l = lease(t, id);
    expect(l).toMatchObject({
      status: 'paused',
      charged: locked,
      pausedAt: G + 600_000,
      settledAt: G + 600_000,
    });
    expect(t.lastEvents.map((e) => e.type).filter((e) => e.startsWith('Lease'))).toEqual([
      'LeaseSettled',
      'LeasePaused',
    ]);
    // its GPU stays its own (it resumes on it), nothing more is charged or settled
    expect(t.ledger.container(host.address)).toMatchObject({ gpusLeased: 1, openLeases: 1 });
    t.expectRejectTx(host, 'lease.settle', { lease: id, receipt: t.receipt(id, 61 * MINUTE_MS) }, 'CONFLICT');
    t.expectRejectTx(host, 'lease.pause', { lease: id }, 'CONFLICT');
    expect(leaseFunds(l, t.time, GRACE)).toMatchObject({ msLeft: 0, closesAt: G + 600_000 + GRACE });
    conserved(t);
  });

  it('refuses a host that pauses a lease with escrow left, as the receipts and block time show', () => {
    const { t, lease: id } = pausing();
    t.at(G + 5 * MINUTE_MS);
    const e = t.expectRejectTx(host, 'lease.pause', { lease: id, receipt: t.receipt(id) }, 'CONFLICT');
    expect(e.message).toMatch(/still has escrow/);
    // the time has passed, but the user's receipts acknowledge only 5 minutes of it
    t.at(G + 20 * MINUTE_MS);
    t.expectRejectTx(host, 'lease.pause', { lease: id, receipt: t.receipt(id, 5 * MINUTE_MS) }, 'CONFLICT');
    t.expectRejectTx(host, 'lease.pause', { lease: id }, 'CONFLICT');
    // not the host: nobody else pauses it, the user included
    t.expectRejectTx(alice, 'lease.pause', { lease: id }, 'UNAUTHORIZED');
    t.expectRejectTx(stranger, 'lease.pause', { lease: id }, 'UNAUTHORIZED');
    // a receipt signed by someone else than the user does not count
    t.expectRejectTx(
      host,
      'lease.pause',
      { lease: id, receipt: t.receipt(id, 60 * MINUTE_MS, { key: bob }) },
      'UNAUTHORIZED',
    );
  });

  it('refuses pausing on a network without pauseGraceMs, and a lease at its maximum duration', () => {
    const old = new TestNet(makeGenesis());
    old.onlineContainer(host, 2, PRICE);
    old.deposit(alice, ath(100));
    const id = String(old.tx(alice, 'lease.open', leasePayload(host.address, 1, 600, PRICE)).lease);
    old.advance(20 * MINUTE_MS);
    old.expectRejectTx(host, 'lease.pause', { lease: id, receipt: old.receipt(id) }, 'INVALID_TRANSACTION');
    const { t } = pausing();
    const full = String(
      t.tx(alice, 'lease.open', { ...leasePayload(host.address, 1, 600, PRICE), depositSec: 600 }).lease,
    );
    t.advance(11 * MINUTE_MS);
    const e = t.expectRejectTx(host, 'lease.pause', { lease: full, receipt: t.receipt(full) }, 'CONFLICT');
    expect(e.message).toMatch(/maximum duration/);
  });

  it('a top-up within the grace period resumes it: the paused time is neither charged nor counted', () => {
    const { t, lease: id, locked } = pausing();
    t.at(G + 11 * MINUTE_MS);
    t.tx(host, 'lease.pause', { lease: id, receipt: t.receipt(id, 60 * MINUTE_MS) });
    const balance = t.ledger.account(alice.address).balance;
    t.at(G + 15 * MINUTE_MS); // 5 minutes paused
    const add = perMs(20 * MINUTE_MS);
    const r = t.tx(alice, 'lease.topup', { lease: id, amount: add });
    expect(r).toMatchObject({ resumed: true, escrow: (locked + add).toString() });
    expect(t.lastEvents.map((e) => e.type)).toEqual(['LeaseToppedUp', 'LeaseResumed']);
    expect(t.ledger.account(alice.address).balance).toBe(balance - add);
    const l = lease(t, id);
    expect(l).toMatchObject({
      status: 'open',
      pausedAt: null,
      pausedMs: 5 * MINUTE_MS,
      settledAt: G + 15 * MINUTE_MS,
    });
    expect(leaseFunds(l, t.time)).toMatchObject({
      runsOutAt: G + 35 * MINUTE_MS,
      endsAt: G + 65 * MINUTE_MS,
    });
    // 7 more minutes run: charged for 17 in all, the 5 paused not
    t.at(G + 22 * MINUTE_MS);
    t.tx(host, 'lease.settle', { lease: id, receipt: t.receipt(id, 60 * MINUTE_MS) });
    expect(lease(t, id).charged).toBe(perMs(17 * MINUTE_MS));
    // the user stops it: exactly the unspent escrow comes back
    const esc = escrow(t, alice.address);
    t.at(G + 25 * MINUTE_MS);
    const closed = t.tx(alice, 'lease.close', { lease: id });
    expect(BigInt(String(closed.charged))).toBe(perMs(20 * MINUTE_MS));
    expect(escrow(t, alice.address)).toBe(esc + locked + add - perMs(20 * MINUTE_MS));
    conserved(t);
  });

  it('a running lease can be topped up ahead; amounts are bounded by the rest of its maximum duration', () => {
    const { t, lease: id, locked } = pausing();
    t.at(G + 5 * MINUTE_MS);
    const room = perMs(60 * MINUTE_MS) - locked;
    const e = t.expectRejectTx(alice, 'lease.topup', { lease: id, amount: room + 1n }, 'INVALID_TRANSACTION');
    expect(e.details?.max).toBe(room.toString());
    t.expectRejectTx(
      alice,
      'lease.topup',
      { lease: id, amount: (10n ** 39n).toString() },
      'INVALID_TRANSACTION',
    );
    for (const amount of ['0', '-1', '1.5', 'abc', '', (10n ** 41n).toString()])
      t.expectRejectTx(alice, 'lease.topup', { lease: id, amount }, 'INVALID_TRANSACTION');
    t.expectRejectTx(alice, 'lease.topup', { lease: id, amount: 5 }, 'INVALID_TRANSACTION');
    t.expectRejectTx(alice, 'lease.topup', { lease: id }, 'INVALID_TRANSACTION');
    t.expectRejectTx(alice, 'lease.topup', { lease: id, amount: '1', extra: 1 }, 'INVALID_TRANSACTION');
    expect(t.tx(alice, 'lease.topup', { lease: id, amount: room })).toMatchObject({ resumed: false });
    t.expectRejectTx(alice, 'lease.topup', { lease: id, amount: 1n }, 'INVALID_TRANSACTION');
    expect(leaseFunds(lease(t, id), t.time)).toMatchObject({ low: false, runsOutAt: G + 60 * MINUTE_MS });
  });

  it('only the lease user tops up, from a balance that covers it', () => {
    const { t, lease: id } = pausing();
    for (const k of [bob, stranger, host])
      t.expectRejectTx(k, 'lease.topup', { lease: id, amount: ath(1) / 100n }, 'UNAUTHORIZED');
    t.expectRejectTx(alice, 'lease.topup', { lease: 'Lnope', amount: '1' }, 'NOT_FOUND');
    // alice moves nearly all of her balance away: the top-up is more than what is left
    const bal = t.ledger.account(alice.address).balance;
    t.tx(alice, 'transfer', { to: bob.address, amount: bal - 10n });
    t.expectRejectTx(alice, 'lease.topup', { lease: id, amount: 11n }, 'INSUFFICIENT_FUNDS');
    t.tx(alice, 'lease.topup', { lease: id, amount: 10n });
    expect(t.ledger.account(alice.address).balance).toBe(0n);
  });

  it('after the grace period a top-up is refused and the host closes it: nothing more charged', () => {
    const { t, lease: id, locked } = pausing();
    t.at(G + 11 * MINUTE_MS);
    t.tx(host, 'lease.pause', { lease: id, receipt: t.receipt(id, 60 * MINUTE_MS) });
    t.at(G + 10 * MINUTE_MS + GRACE + 1);
    const e = t.expectRejectTx(alice, 'lease.topup', { lease: id, amount: ath(1) / 10n }, 'CONFLICT');
    expect(e.message).toMatch(/grace period/);
    const esc = escrow(t, alice.address);
    const r = t.tx(host, 'lease.close', { lease: id, reason: 'paused past its grace period' });
    expect(r).toMatchObject({ charged: locked.toString(), refund: '0' });
    expect(escrow(t, alice.address)).toBe(esc);
    expect(t.ledger.container(host.address)).toMatchObject({ gpusLeased: 0, openLeases: 0 });
    // no top-up of a closed lease
    t.expectRejectTx(alice, 'lease.topup', { lease: id, amount: '1' }, 'CONFLICT');
    t.expectRejectTx(host, 'lease.close', { lease: id }, 'CONFLICT');
    conserved(t);
  });

  it('the user may close a paused lease; a failed check closes paused leases too', () => {
    const { t, lease: id } = pausing();
    t.at(G + 11 * MINUTE_MS);
    t.tx(host, 'lease.pause', { lease: id, receipt: t.receipt(id, 60 * MINUTE_MS) });
    expect(t.tx(alice, 'lease.close', { lease: id })).toMatchObject({ refund: '0' });
    const other = String(
      t.tx(alice, 'lease.open', { ...leasePayload(host.address, 1, 3600, PRICE), depositSec: 60 }).lease,
    );
    t.advance(2 * MINUTE_MS);
    t.tx(host, 'lease.pause', { lease: other, receipt: t.receipt(other) });
    t.report(host.address, false, 0);
    t.report(host.address, false, 1);
    expect(lease(t, other).status).toBe('closed');
    expect(t.ledger.container(host.address)).toMatchObject({ gpusLeased: 0, openLeases: 0 });
    conserved(t);
  });

  it('governance may turn pausing on later: from that parameter version on', () => {
    const t = new TestNet(makeGenesis());
    t.onlineContainer(host, 2, PRICE);
    t.deposit(alice, ath(100));
    const id = String(t.tx(alice, 'lease.open', leasePayload(host.address, 1, 600, PRICE)).lease);
    t.advance(11 * MINUTE_MS);
    t.expectRejectTx(host, 'lease.pause', { lease: id, receipt: t.receipt(id) }, 'INVALID_TRANSACTION');
    t.tx(governor, 'params.update', { changes: { pauseGraceMs: GRACE } });
    expect(t.ledger.params.pauseGraceMs).toBe(GRACE);
    const next = String(
      t.tx(alice, 'lease.open', { ...leasePayload(host.address, 1, 3600, PRICE), depositSec: 60 }).lease,
    );
    t.advance(2 * MINUTE_MS);
    t.tx(host, 'lease.pause', { lease: next, receipt: t.receipt(next) });
    expect(lease(t, next).status).toBe('paused');
  });
});
