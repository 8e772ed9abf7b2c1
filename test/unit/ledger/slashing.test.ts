import { describe, expect, it } from 'vitest';
import { ath } from '../../../src/core/index.js';
import {
  DAY_MS,
  EPOCH_MS,
  GENESIS_TIME,
  HOUR_MS,
  MINUTE_MS,
  TestNet,
  alice,
  bob,
  conserved,
  host,
  leasePayload,
  makeGenesis,
} from './fixtures.js';

const G = GENESIS_TIME;
const VEST = 45 * DAY_MS;

describe('slashing: downtime while serving', () => {
  it('closes open leases at the first offline observation, refunds the user, slashes 1/3 × K × coefficient', () => {
    const t = new TestNet();
    t.onlineContainer(host, 2, ath(6)); // stake 6000
    t.deposit(alice, ath(100));
    const { lease } = t.tx(alice, 'lease.open', leasePayload(host.address, 1, 2 * 3600, ath(6))); // 12 locked
    const treasury0 = t.ledger.treasury().balance;
    // 20 minutes served and settled: 2 ATH, 1.6 vesting for the host
    t.at(G + 20 * MINUTE_MS);
    t.settle(host, lease);
    // checker 0 sees it down at +30 min, checker 1 at +40 min: the majority decides then
    t.at(G + 30 * MINUTE_MS);
    expect(t.report(host.address, false, 0)).toMatchObject({ decided: false });
    t.at(G + 40 * MINUTE_MS);
    const r = t.report(host.address, false, 1);
    const slash = ath('1999.8'); // 3333 bps of 6000
    expect(r).toEqual({
      container: host.address,
      decided: true,
      ok: false,
      status: 'offline',
      slashed: slash.toString(),
      closedLeases: lease,
    });
    // closed at the first offline observation; the user pays nothing beyond what was settled
    // (20 minutes = 2 ATH): time served but not yet settled is the host's loss
    expect(t.ledger.lease(lease as string)).toMatchObject({
      status: 'closed',
      closedAt: G + 30 * MINUTE_MS,
      settledAt: G + 20 * MINUTE_MS,
      charged: ath(2),
      hostShare: ath('1.6'),
      protocolShare: ath('0.4'),
      closedBy: host.address,
      closeReason: 'container went offline; unsettled time refunded',
    });
    expect(t.ledger.account(alice.address).escrow).toBe(ath(100) - ath(2));
    // slashed: the 1.6 ATH of unvested host earnings first, then 1998.2 of stake; to the treasury
    expect(t.ledger.vesting(host.address)).toEqual([]);
    expect(t.ledger.container(host.address)).toMatchObject({
      status: 'offline',
      stake: ath(6000) - (slash - ath('1.6')),
      slashed: slash,
      suspended: true,
      gpusLeased: 0,
      openLeases: 0,
    });
    expect(t.ledger.treasury().balance - treasury0).toBe(ath('0.4') + slash);
    conserved(t);

    // back online, but suspended: not matched until topped up
    t.advance(MINUTE_MS);
    t.report(host.address, true, 0);
    t.report(host.address, true, 1);
    expect(t.ledger.isServing(t.ledger.container(host.address)!)).toBe(false);
    const e = t.expectRejectTx(
      alice,
      'lease.open',
      leasePayload(host.address, 1, 60, ath(6)),
      'CONTAINER_UNAVAILABLE',
    );
    expect(e.message).toMatch(/suspended/);
    expect(t.tx(host, 'container.stake', { amount: ath('1998.2') - 1n })).toMatchObject({ suspended: true });
    expect(t.tx(host, 'container.stake', { amount: 1n })).toEqual({
      container: host.address,
      stake: ath(6000).toString(),
      suspended: false,
    });
    t.tx(alice, 'lease.open', leasePayload(host.address, 1, 60, ath(6)));
    conserved(t);
  });

  it('closes every open lease of the container, each at its own settled time at the earliest', () => {
    const t = new TestNet();
    t.onlineContainer(host, 4, ath(1));
    t.deposit(alice, ath(100));
    t.deposit(bob, ath(100));
    const a = t.tx(alice, 'lease.open', leasePayload(host.address, 2, 3600, ath(1))).lease as string;
    t.at(G + 10 * MINUTE_MS);
    const b = t.tx(bob, 'lease.open', leasePayload(host.address, 1, 3600, ath(1))).lease as string;
    // both checkers observed the outage at +5 min, before bob's lease opened
    t.at(G + 20 * MINUTE_MS);
    t.report(host.address, false, 0, 'liveness', G + 5 * MINUTE_MS);
    const r = t.report(host.address, false, 1, 'liveness', G + 6 * MINUTE_MS);
    expect(String(r.closedLeases).split(',').sort()).toEqual([a, b].sort());
    // nothing was settled: alice and bob pay nothing (alice's lease closes at the outage)
    expect(t.ledger.lease(a)).toMatchObject({ status: 'closed', closedAt: G + 5 * MINUTE_MS });
    expect(t.ledger.lease(a)!.charged).toBe(0n);
    expect(t.ledger.lease(b)).toMatchObject({ status: 'closed', charged: 0n, closedAt: G + 10 * MINUTE_MS });
    expect(t.ledger.account(bob.address).escrow).toBe(ath(100));
    expect(t.ledger.container(host.address)).toMatchObject({ gpusLeased: 0, openLeases: 0 });
    conserved(t);
  });

  it('offline while idle: no slash, and no capacity rewards for that time', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1);
    const treasury0 = t.ledger.treasury().balance;
    t.at(G + 5 * MINUTE_MS);
    t.report(host.address, false, 0);
    expect(t.report(host.address, false, 2)).toEqual({
      container: host.address,
      decided: true,
      ok: false,
      status: 'offline',
    });
    expect(t.ledger.container(host.address)).toMatchObject({
      status: 'offline',
      stake: ath(3000),
      slashed: 0n,
      suspended: false,
    });
    expect(t.ledger.treasury().balance).toBe(treasury0);
    expect(t.closeEpochsThrough(0)[0]).toMatchObject({ capacityRewarded: 0 });
    // back online during epoch 1: rewarded again from epoch 2
    t.at(G + EPOCH_MS + MINUTE_MS);
    t.report(host.address, true, 0);
    t.report(host.address, true, 2);
    expect(t.closeEpochsThrough(1)[0]).toMatchObject({ capacityRewarded: 0 });
    expect(t.closeEpochsThrough(2)[0]).toMatchObject({ capacityRewarded: 1 });
    conserved(t);
  });
});

describe('slashing: specs below the claim (capacity check)', () => {
  it('a failed capacity majority slashes slashSpecBps × requiredStake (1 × K × coefficient)', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1);
    const treasury0 = t.ledger.treasury().balance;
    t.advance(MINUTE_MS);
    t.report(host.address, true, 0, 'capacity');
    expect(t.report(host.address, true, 1, 'capacity')).toEqual({
      container: host.address,
      decided: true,
      ok: true,
      capacity: 'passed',
    });
    t.advance(MINUTE_MS);
    t.report(host.address, false, 0, 'capacity');
    t.report(host.address, true, 1, 'capacity');
    expect(t.report(host.address, false, 2, 'capacity')).toEqual({
      container: host.address,
      decided: true,
      ok: false,
      capacity: 'failed',
      slashed: ath(3000).toString(),
      suspended: true,
      reason: 'capacity check failed: the GPUs did not perform as the spec claims',
    });
    expect(t.ledger.container(host.address)).toMatchObject({
      status: 'online',
      stake: 0n,
      slashed: ath(3000),
      suspended: true,
      suspendedReason: 'capacity check failed: the GPUs did not perform as the spec claims',
    });
    expect(t.ledger.treasury().balance - treasury0).toBe(ath(3000));
    t.deposit(alice, ath(10));
    t.expectRejectTx(alice, 'lease.open', leasePayload(host.address, 1, 60, ath(1)), 'CONTAINER_UNAVAILABLE');
    conserved(t);
  });

  it('stake on its way out (unbonding) is still slashable, after the stake', () => {
    const t = new TestNet(makeGenesis({ slashSpecBps: 20_000 }));
    t.onlineContainer(host, 1);
    t.tx(host, 'container.unstake', { amount: ath(1000) });
    t.report(host.address, false, 0, 'capacity');
    expect(t.report(host.address, false, 1, 'capacity').slashed).toBe(ath(3000).toString());
    expect(t.ledger.container(host.address)).toMatchObject({ stake: 0n, unbonding: 0n, slashed: ath(3000) });
    conserved(t);
  });

  it('takes no more than the container holds', () => {
    const t = new TestNet(makeGenesis({ slashSpecBps: 20_000 }));
    t.onlineContainer(host, 1);
    t.report(host.address, false, 0, 'capacity');
    expect(t.report(host.address, false, 1, 'capacity').slashed).toBe(ath(3000).toString());
    expect(t.ledger.container(host.address)).toMatchObject({ stake: 0n, slashed: ath(3000) });
    conserved(t);
  });

  it('takes unvested host and reward entries first, latest unlock first, then stake', () => {
    // 12-hour epochs; a capacity failure costs 25 bps of 6000 = 15 ATH
    const t = new TestNet(makeGenesis({ epochMs: 12 * HOUR_MS, slashSpecBps: 25 }));
    t.onlineContainer(host, 2, ath(1));
    t.deposit(alice, ath(100));
    const { lease } = t.tx(alice, 'lease.open', leasePayload(host.address, 1, 48 * 3600, ath(1)));
    const A = G + DAY_MS + VEST; // host earnings of day 0
    const B = G + 2 * DAY_MS + VEST; // host earnings of day 1
    const R = G + 12 * HOUR_MS + VEST; // rewards of epoch 0
    t.at(G + 10 * HOUR_MS);
    t.settle(host, lease); // 10 charged: 8 to A
    t.closeEpochsThrough(0); // 5000 capacity + 5000 delivery: 10000 to R
    t.at(G + 25 * HOUR_MS);
    t.settle(host, lease); // 25 charged: 12 more to B
    expect([t.vested(host.address, 'host', A), t.vested(host.address, 'host', B)]).toEqual([ath(8), ath(12)]);
    expect(t.vested(host.address, 'reward', R)).toBe(ath(10_000));
    const treasury0 = t.ledger.treasury().balance;
    t.report(host.address, false, 0, 'capacity');
    expect(t.report(host.address, false, 1, 'capacity').slashed).toBe(ath(15).toString());
    // B (latest) is gone, 3 taken from A; the earlier-unlocking reward is untouched
    expect(t.vested(host.address, 'host', B)).toBe(0n);
    expect(t.vested(host.address, 'host', A)).toBe(ath(5));
    expect(t.vested(host.address, 'reward', R)).toBe(ath(10_000));
    t.advance(MINUTE_MS);
    t.report(host.address, false, 0, 'capacity');
    t.report(host.address, false, 1, 'capacity');
    expect(t.vested(host.address, 'host', A)).toBe(0n);
    expect(t.vested(host.address, 'reward', R)).toBe(ath(9990));
    // the stake was never touched; the failed check suspends it all the same, its lease closed
    expect(t.ledger.container(host.address)).toMatchObject({
      stake: ath(6000),
      slashed: ath(30),
      suspended: true,
      suspendedReason: expect.stringMatching(/^capacity check failed/),
      openLeases: 0,
    });
    expect(t.ledger.lease(String(lease))).toMatchObject({
      status: 'closed',
      closeReason: expect.stringMatching(/^capacity check failed/),
    });
    expect(t.ledger.treasury().balance - treasury0).toBe(ath(30));
    conserved(t);
  });
});
