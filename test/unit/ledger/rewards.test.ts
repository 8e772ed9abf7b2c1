import { describe, expect, it } from 'vitest';
import { ath } from '../../../src/core/index.js';
import { K, type Container } from '../../../src/ledger/index.js';
import {
  DAY_MS,
  EPOCH_MS,
  GENESIS_TIME,
  HOUR_MS,
  MINUTE_MS,
  REWARD_POOL,
  RTX4090,
  TestNet,
  alice,
  bal,
  bob,
  carol,
  conserved,
  host,
  host2,
  host3,
  leasePayload,
  makeGenesis,
  registerPayload,
  stranger,
} from './fixtures.js';

const G = GENESIS_TIME;
const VEST = 45 * DAY_MS; // hostVestingMs

describe('host earnings vest', () => {
  it('paid daily into an entry claimable hostVestingMs after the end of the day', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1, ath(10));
    t.deposit(alice, ath(100));
    t.at(G + 23 * HOUR_MS);
    const { lease } = t.tx(alice, 'lease.open', leasePayload(host.address, 1, 2 * 3600, ath(10)));
    // day 0: 30 minutes = 5 ATH charged, 4 to the host
    t.at(G + 23.5 * HOUR_MS);
    t.settle(host, lease);
    // day 1: two more charges of 10 and 5 ATH land in one entry of the day
    t.at(G + 24.5 * HOUR_MS);
    t.settle(host, lease);
    t.at(G + 25 * HOUR_MS);
    t.hostClose(host, lease);
    const u0 = G + DAY_MS + VEST;
    const u1 = G + 2 * DAY_MS + VEST;
    expect(t.ledger.vesting(host.address)).toEqual([
      {
        key: K.vesting(host.address, 'host', u0),
        kind: 'host',
        amount: ath(4),
        earnedAt: G + 23.5 * HOUR_MS,
        unlockAt: u0,
      },
      {
        key: K.vesting(host.address, 'host', u1),
        kind: 'host',
        amount: ath(12),
        earnedAt: G + 24.5 * HOUR_MS,
        unlockAt: u1,
      },
    ]);
    expect(t.ledger.container(host.address)!.earned).toBe(ath(16));
    const balance0 = bal(t, host.address);
    // before the unlock: CONFLICT, root unchanged
    t.at(u0 - 1);
    const e = t.expectRejectTx(host, 'vesting.claim', {}, 'CONFLICT');
    expect(e.message).toMatch(/nothing is claimable/);
    // a fast claim is for checker rewards only
    t.expectRejectTx(host, 'vesting.claim', { fast: true }, 'CONFLICT');
    t.at(u0);
    expect(t.tx(host, 'vesting.claim', {})).toEqual({ claimed: ath(4).toString(), forfeited: '0' });
    expect(bal(t, host.address)).toBe(balance0 + ath(4));
    expect(t.ledger.vesting(host.address).map((v) => v.unlockAt)).toEqual([u1]);
    t.expectRejectTx(host, 'vesting.claim', {}, 'CONFLICT');
    t.at(u1 + 5 * DAY_MS);
    expect(t.tx(host, 'vesting.claim', {}).claimed).toBe(ath(12).toString());
    expect(bal(t, host.address)).toBe(balance0 + ath(16));
    expect(t.ledger.vesting(host.address)).toEqual([]);
    // nothing vesting at all
    t.expectRejectTx(stranger, 'vesting.claim', {}, 'CONFLICT');
    t.expectRejectTx(host, 'vesting.claim', { extra: 1 }, 'INVALID_TRANSACTION');
    conserved(t);
  });

  it('hostVestingMs is a parameter (0: claimable at the end of the day)', () => {
    const t = new TestNet(makeGenesis({ hostVestingMs: 0 }));
    t.onlineContainer(host, 1, ath(10));
    t.deposit(alice, ath(100));
    const { lease } = t.tx(alice, 'lease.open', leasePayload(host.address, 1, 3600, ath(10)));
    t.advance(HOUR_MS);
    t.tx(alice, 'lease.close', { lease });
    t.at(G + DAY_MS - 1);
    t.expectRejectTx(host, 'vesting.claim', {}, 'CONFLICT');
    t.at(G + DAY_MS);
    expect(t.tx(host, 'vesting.claim', {}).claimed).toBe(ath(8).toString());
  });
});

describe('epoch.close', () => {
  it('closes only the next epoch, only after its end (CONFLICT otherwise); anyone may send it', () => {
    const t = new TestNet();
    t.expectRejectTx(stranger, 'epoch.close', { epoch: 0 }, 'CONFLICT');
    t.at(G + EPOCH_MS - 1);
    t.expectRejectTx(stranger, 'epoch.close', { epoch: 0 }, 'CONFLICT');
    t.expectRejectTx(stranger, 'epoch.close', { epoch: 1 }, 'CONFLICT');
    t.expectRejectTx(stranger, 'epoch.close', { epoch: -1 }, 'INVALID_TRANSACTION');
    t.expectRejectTx(stranger, 'epoch.close', { epoch: 0.5 }, 'INVALID_TRANSACTION');
    expect(t.ledger.nextEpoch(t.time)).toEqual({ epoch: 0, end: G + EPOCH_MS, due: false });
    t.at(G + EPOCH_MS);
    expect(t.ledger.nextEpoch(t.time)).toEqual({ epoch: 0, end: G + EPOCH_MS, due: true });
    expect(t.tx(stranger, 'epoch.close', { epoch: 0 })).toEqual({
      epoch: 0,
      emitted: '0',
      capacityRewarded: 0,
      deliveryRewarded: 0,
    });
    expect(t.ledger.economics.lastEpoch).toBe(0);
    t.expectRejectTx(alice, 'epoch.close', { epoch: 0 }, 'CONFLICT');
    t.expectRejectTx(alice, 'epoch.close', { epoch: 1 }, 'CONFLICT');
    // late closes are fine, one epoch at a time
    t.at(G + 10 * EPOCH_MS);
    t.expectRejectTx(alice, 'epoch.close', { epoch: 2 }, 'CONFLICT');
    t.tx(alice, 'epoch.close', { epoch: 1 });
    t.tx(bob, 'epoch.close', { epoch: 2 });
    expect(t.ledger.economics.lastEpoch).toBe(2);
    expect(t.ledger.rewardPool().balance).toBe(REWARD_POOL);
  });

  it('Proof of Capacity: to containers online since before the epoch start, weighted by stake base', () => {
    const t = new TestNet();
    t.onlineContainer(host, 2); // K = 6000
    t.onlineContainer(host2, 1, ath(1), RTX4090); // K = 400
    // host3 comes online during epoch 0: rewarded from epoch 1 on
    t.at(G + 5 * MINUTE_MS);
    t.onlineContainer(host3, 4, ath(1), RTX4090); // K = 1600
    t.at(G + EPOCH_MS);
    const r0 = t.tx(stranger, 'epoch.close', { epoch: 0 });
    // emission 10000 ATH: 50% capacity (split 6000:400), 50% delivery (no delivery: not emitted)
    expect(r0).toEqual({ epoch: 0, emitted: ath(5000).toString(), capacityRewarded: 2, deliveryRewarded: 0 });
    const u0 = G + EPOCH_MS + VEST;
    expect(t.vested(host.address, 'reward', u0)).toBe(ath('4687.5'));
    expect(t.vested(host2.address, 'reward', u0)).toBe(ath('312.5'));
    expect(t.ledger.vesting(host3.address)).toEqual([]);
    expect(t.ledger.rewardPool().balance).toBe(REWARD_POOL - ath(5000));
    t.at(G + 2 * EPOCH_MS);
    const r1 = t.tx(stranger, 'epoch.close', { epoch: 1 });
    expect(r1).toMatchObject({ emitted: ath(5000).toString(), capacityRewarded: 3 });
    const u1 = u0 + EPOCH_MS;
    // 6000 : 400 : 1600 of 5000
    expect(t.vested(host.address, 'reward', u1)).toBe(ath(3750));
    expect(t.vested(host2.address, 'reward', u1)).toBe(ath(250));
    expect(t.vested(host3.address, 'reward', u1)).toBe(ath(1000));
    // rewards vest: not claimable before their unlock
    t.at(u0 - 1);
    t.expectRejectTx(host, 'vesting.claim', {}, 'CONFLICT');
    t.at(u0);
    const balance0 = bal(t, host.address);
    expect(t.tx(host, 'vesting.claim', {}).claimed).toBe(ath('4687.5').toString());
    expect(bal(t, host.address)).toBe(balance0 + ath('4687.5'));
    conserved(t);
  });

  it('Proof of Capacity skips offline, re-connected, under-staked, suspended and unbonding containers', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1); // serving all epoch
    t.onlineContainer(host2, 1); // unbonding
    t.onlineContainer(host3, 1); // fails a capacity check: slashed to 0, suspended
    t.onlineContainer(alice, 1); // goes offline (idle: no slash) and stays offline
    t.onlineContainer(bob, 1); // offline then online again during the epoch
    // carol: registered and voted online, but one unit short of the requirement
    t.tx(alice, 'transfer', { to: carol.address, amount: ath(5000) });
    t.tx(carol, 'container.register', registerPayload(1, ath(1)));
    t.tx(carol, 'container.stake', { amount: ath(3000) - 1n });
    t.report(carol.address, true, 0);
    t.report(carol.address, true, 1);
    expect(t.ledger.container(carol.address)!.status).toBe('online');
    t.at(G + MINUTE_MS);
    t.tx(host2, 'container.unstake', { amount: 1n });
    t.report(host3.address, false, 0, 'capacity');
    t.report(host3.address, false, 1, 'capacity');
    expect(t.ledger.container(host3.address)).toMatchObject({ status: 'online', suspended: true, stake: 0n });
    t.report(alice.address, false, 0);
    t.report(alice.address, false, 1);
    expect(t.ledger.container(alice.address)).toMatchObject({ status: 'offline', stake: ath(3000) });
    t.report(bob.address, false, 0);
    t.report(bob.address, false, 1);
    t.at(G + 2 * MINUTE_MS);
    t.report(bob.address, true, 0);
    t.report(bob.address, true, 1);
    const [r0] = t.closeEpochsThrough(0);
    expect(r0).toMatchObject({ emitted: ath(5000).toString(), capacityRewarded: 1 });
    const u0 = G + EPOCH_MS + VEST;
    expect(t.vested(host.address, 'reward', u0)).toBe(ath(5000));
    for (const k of [host2, host3, alice, bob, carol])
      expect(t.ledger.vesting(k.address), k.address).toEqual([]);
    // bob, online again since before epoch 1, is rewarded there
    const [r1] = t.closeEpochsThrough(1);
    expect(r1).toMatchObject({ capacityRewarded: 2 });
    expect(t.vested(bob.address, 'reward', u0 + EPOCH_MS)).toBe(ath(2500));
    conserved(t);
  });

  it('Proof of Delivery: weighted by delivered GPU-ms × quality tier; the counter resets each epoch', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1, ath(4));
    t.onlineContainer(host2, 1, ath(4));
    // the quality tier comes from QoS measurements (checker issue); set it directly here
    t.ledger.state.atomically(() =>
      t.ledger.state.set(K.container(host2.address), {
        ...t.ledger.container(host2.address)!,
        qualityTier: 3,
      } satisfies Container),
    );
    t.deposit(alice, ath(10));
    t.deposit(bob, ath(10));
    const a = t.tx(alice, 'lease.open', leasePayload(host.address, 1, 3600, ath(4))).lease;
    const b = t.tx(bob, 'lease.open', leasePayload(host2.address, 1, 3600, ath(4))).lease;
    t.at(G + EPOCH_MS);
    t.settle(host, a);
    t.settle(host2, b);
    expect(t.ledger.container(host.address)!.epochDeliveredGpuMs).toBe(EPOCH_MS);
    expect(t.ledger.container(host2.address)!.epochDeliveredGpuMs).toBe(EPOCH_MS);
    const r0 = t.tx(stranger, 'epoch.close', { epoch: 0 });
    expect(r0).toEqual({
      epoch: 0,
      emitted: ath(10_000).toString(),
      capacityRewarded: 2,
      deliveryRewarded: 2,
    });
    // capacity 5000 split 1:1; delivery 5000 split 900000 × 10000 : 900000 × 15000 = 2000 : 3000
    const u0 = G + EPOCH_MS + VEST;
    expect(t.vested(host.address, 'reward', u0)).toBe(ath(2500 + 2000));
    expect(t.vested(host2.address, 'reward', u0)).toBe(ath(2500 + 3000));
    expect(t.ledger.container(host.address)!.epochDeliveredGpuMs).toBe(0);
    expect(t.ledger.container(host2.address)!.epochDeliveredGpuMs).toBe(0);
    // nothing settled during epoch 1: capacity only
    t.at(G + 2 * EPOCH_MS);
    expect(t.tx(stranger, 'epoch.close', { epoch: 1 })).toMatchObject({
      emitted: ath(5000).toString(),
      deliveryRewarded: 0,
    });
    // a 2-GPU-equivalent delivery by host alone takes the whole delivery share
    t.at(G + 2 * EPOCH_MS + MINUTE_MS);
    t.settle(host, a);
    t.at(G + 3 * EPOCH_MS);
    expect(t.tx(stranger, 'epoch.close', { epoch: 2 })).toMatchObject({
      emitted: ath(10_000).toString(),
      deliveryRewarded: 1,
    });
    expect(t.vested(host.address, 'reward', u0 + 2 * EPOCH_MS)).toBe(ath(2500 + 5000));
    expect(t.ledger.rewardPool().balance).toBe(REWARD_POOL - ath(25_000));
    conserved(t);
  });

  it('emission decays by emissionDecayBps per year: 85% in year 2, 72.25% in year 3', () => {
    // one-day epochs: year 2 starts at epoch 365
    const t = new TestNet(makeGenesis({ epochMs: DAY_MS }));
    t.onlineContainer(host, 1);
    const results = t.closeEpochsThrough(730);
    // capacity share only (no delivery): 50% of the emission
    expect(results[0]!.emitted).toBe(ath(5000).toString());
    expect(results[364]!.emitted).toBe(ath(5000).toString());
    expect(results[365]!.emitted).toBe(ath(4250).toString());
    expect(results[729]!.emitted).toBe(ath(4250).toString());
    expect(results[730]!.emitted).toBe(ath('3612.5').toString());
    expect(t.ledger.rewardPool().balance).toBe(REWARD_POOL - ath(365 * 5000 + 365 * 4250 + 3612.5));
    expect(t.vested(host.address, 'reward', G + 366 * DAY_MS + VEST)).toBe(ath(4250));
    conserved(t);
  });

  it('emission never exceeds what the reward pool holds', () => {
    const t = new TestNet(makeGenesis(undefined, { pools: { rewards: ath(3000), checkers: 0n } }));
    t.onlineContainer(host, 1);
    const [r0, r1] = t.closeEpochsThrough(1);
    // 3000 available: 1500 capacity paid, the 1500 delivery share stays in the pool
    expect(r0!.emitted).toBe(ath(1500).toString());
    expect(r1!.emitted).toBe(ath(750).toString());
    expect(t.ledger.rewardPool().balance).toBe(ath(750));
    // an empty pool pays nothing
    const empty = new TestNet(makeGenesis(undefined, { pools: null }));
    empty.onlineContainer(host, 1);
    expect(empty.closeEpochsThrough(0)[0]!.emitted).toBe('0');
    expect(empty.ledger.vesting(host.address)).toEqual([]);
    conserved(t);
  });
});

describe('staking coefficient', () => {
  it('recomputed at the first epoch close past coefficientPeriodMs from monthly revenue per GPU', () => {
    const t = new TestNet(makeGenesis({ epochMs: DAY_MS }));
    t.onlineContainer(host, 1, ath(175));
    t.deposit(alice, ath(175));
    const { lease } = t.tx(alice, 'lease.open', leasePayload(host.address, 1, 3600, ath(175)));
    t.advance(HOUR_MS);
    t.tx(alice, 'lease.close', { lease });
    expect(t.ledger.economics.revenueSince).toBe(ath(140));
    for (const r of t.closeEpochsThrough(5)) expect(r.coefficientBps).toBeUndefined();
    expect(t.ledger.economics.coefficientBps).toBe(10_000);
    // a week: 140 ATH per GPU → 600 ATH a month → 600 / 500 = 1.2
    const [week1] = t.closeEpochsThrough(6);
    expect(week1!.coefficientBps).toBe(12_000);
    expect(t.ledger.economics).toMatchObject({
      coefficientBps: 12_000,
      coefficientUpdatedAt: G + 7 * DAY_MS,
      revenueSince: 0n,
    });
    // the requirement follows: 3000 × 1.2 = 3600; host holds 3000
    expect(t.ledger.requiredStakeFor(['NVIDIA H100'])).toBe(ath(3600));
    expect(t.ledger.isServing(t.ledger.container(host.address)!)).toBe(false);
    t.deposit(bob, ath(10_000));
    t.expectRejectTx(bob, 'lease.open', leasePayload(host.address, 1, 60, ath(175)), 'CONTAINER_UNAVAILABLE');
    expect(t.closeEpochsThrough(7)[0]).toMatchObject({ capacityRewarded: 0 });
    t.tx(host, 'container.stake', { amount: ath(600) });
    t.tx(bob, 'lease.open', leasePayload(host.address, 1, 60, ath(175)));
    // a week without revenue: clamped to the minimum (0.5)
    const [week2] = t.closeEpochsThrough(13).slice(-1);
    expect(week2!.coefficientBps).toBe(5000);
    expect(t.ledger.requiredStakeFor(['NVIDIA H100'])).toBe(ath(1500));
  });

  it('is clamped to [coefficientMinBps, coefficientMaxBps] and counts every non-unbonding GPU', () => {
    const run = (params: Record<string, unknown>) => {
      const t = new TestNet(makeGenesis({ epochMs: DAY_MS, ...params }));
      t.onlineContainer(host, 1, ath(175));
      t.deposit(alice, ath(175));
      const { lease } = t.tx(alice, 'lease.open', leasePayload(host.address, 1, 3600, ath(175)));
      t.advance(HOUR_MS);
      t.tx(alice, 'lease.close', { lease });
      return t;
    };
    // 600 ATH a month against a reference of 100: 6.0, clamped to 3.0
    expect(
      run({ coefficientRefMonthlyRevenue: ath(100).toString() }).closeEpochsThrough(6)[6]!.coefficientBps,
    ).toBe(30_000);
    expect(
      run({
        coefficientRefMonthlyRevenue: ath(100).toString(),
        coefficientMaxBps: 50_000,
      }).closeEpochsThrough(6)[6]!.coefficientBps,
    ).toBe(50_000);
    // against 10000: 0.06, clamped to the minimum
    expect(
      run({
        coefficientRefMonthlyRevenue: ath(10_000).toString(),
        coefficientMinBps: 2000,
      }).closeEpochsThrough(6)[6]!.coefficientBps,
    ).toBe(2000);
    // a second, idle 3-GPU container counts in the average; a coefficientPeriodMs of two weeks
    // waits for the close of the 14th day
    const t = run({ coefficientPeriodMs: 14 * DAY_MS, coefficientMinBps: 1000 });
    t.onlineContainer(host2, 3);
    const rs = t.closeEpochsThrough(13);
    expect(rs.slice(0, 13).every((r) => r.coefficientBps === undefined)).toBe(true);
    // 140 ATH over 14 days on 4 GPUs: 140 × 30 / 14 / 4 = 75 ATH a month → 0.15
    expect(rs[13]!.coefficientBps).toBe(1500);
  });
});
