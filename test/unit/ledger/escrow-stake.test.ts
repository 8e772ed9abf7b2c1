import { describe, expect, it } from 'vitest';
import { ath } from '../../../src/core/index.js';
import {
  DEFAULT_PARAMS,
  GPU_CLASSES,
  gpuClass,
  paramsToWire,
  requiredStake,
  stakeBase,
} from '../../../src/ledger/index.js';
import {
  A100,
  DAY_MS,
  EPOCH_MS,
  FRANKFURT,
  GENESIS_TIME,
  H100,
  HOUR_MS,
  RTX4090,
  TestNet,
  alice,
  bal,
  bob,
  conserved,
  escrow,
  gpuSpec,
  host,
  host2,
  leasePayload,
  makeGenesis,
  registerPayload,
  stranger,
} from './fixtures.js';

const PRICE = ath(2); // per GPU-hour

describe('escrow.deposit and escrow.withdraw', () => {
  it('deposit moves balance into escrow, withdraw moves it back, exactly', () => {
    const t = new TestNet();
    expect(t.deposit(alice, ath(500))).toEqual({ escrow: ath(500).toString() });
    expect(t.ledger.account(alice.address)).toEqual({ balance: ath(99_500), escrow: ath(500), nonce: 1 });
    expect(t.tx(alice, 'escrow.withdraw', { amount: ath(200) })).toEqual({ escrow: ath(300).toString() });
    expect(t.ledger.account(alice.address)).toEqual({ balance: ath(99_700), escrow: ath(300), nonce: 2 });
    // over-withdraw: INSUFFICIENT_FUNDS, root unchanged (expectReject checks the root)
    const e = t.expectRejectTx(alice, 'escrow.withdraw', { amount: ath(300) + 1n }, 'INSUFFICIENT_FUNDS');
    expect(e.details).toEqual({ needed: (ath(300) + 1n).toString(), escrow: ath(300).toString() });
    // a deposit over the balance, and anything from an empty account
    t.expectRejectTx(alice, 'escrow.deposit', { amount: ath(99_700) + 1n }, 'INSUFFICIENT_FUNDS');
    t.expectRejectTx(stranger, 'escrow.deposit', { amount: 1n }, 'INSUFFICIENT_FUNDS');
    t.expectRejectTx(stranger, 'escrow.withdraw', { amount: 1n }, 'INSUFFICIENT_FUNDS');
    for (const amount of [0n, '-1', '1.5', 'x'])
      for (const type of ['escrow.deposit', 'escrow.withdraw'] as const)
        t.expectRejectTx(alice, type, { amount }, 'INVALID_TRANSACTION');
    // the exact escrow can be withdrawn
    t.tx(alice, 'escrow.withdraw', { amount: ath(300) });
    expect(t.ledger.account(alice.address)).toEqual({ balance: ath(100_000), escrow: 0n, nonce: 3 });
    conserved(t);
  });

  it('lease.open without enough escrow is INSUFFICIENT_FUNDS, whatever the balance', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1, PRICE);
    const open = leasePayload(host.address, 1, 3600, PRICE); // locks 2 ATH
    const e = t.expectRejectTx(alice, 'lease.open', open, 'INSUFFICIENT_FUNDS');
    expect(e.details).toEqual({ needed: ath(2).toString(), escrow: '0' });
    t.deposit(alice, ath(2) - 1n);
    t.expectRejectTx(alice, 'lease.open', open, 'INSUFFICIENT_FUNDS');
    t.deposit(alice, 1n);
    const r = t.tx(alice, 'lease.open', open);
    expect(r.escrow).toBe(ath(2).toString());
    expect(escrow(t, alice.address)).toBe(0n);
    expect(bal(t, alice.address)).toBe(ath(100_000) - ath(2));
    conserved(t);
  });

  it('escrow locked by a lease cannot be withdrawn; the refund on close can', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1, PRICE);
    t.deposit(alice, ath(5));
    const { lease } = t.tx(alice, 'lease.open', leasePayload(host.address, 1, 3600, PRICE));
    t.expectRejectTx(alice, 'escrow.withdraw', { amount: ath(3) + 1n }, 'INSUFFICIENT_FUNDS');
    t.advance(15 * 60_000); // 0.5 ATH charged
    t.tx(alice, 'lease.close', { lease });
    expect(escrow(t, alice.address)).toBe(ath('4.5'));
    t.tx(alice, 'escrow.withdraw', { amount: ath('4.5') });
    expect(bal(t, alice.address)).toBe(ath(100_000) - ath('0.5'));
    conserved(t);
  });

  it('an open-ended lease (no maxDurationSec) locks price × gpus × openEndedDepositSeconds', () => {
    const t = new TestNet();
    t.onlineContainer(host, 2, PRICE);
    t.deposit(alice, ath(1000));
    const r = t.tx(alice, 'lease.open', leasePayload(host.address, 2, null, PRICE));
    // 2 ATH × 2 GPUs × 86400 s = 96 ATH
    expect(r.escrow).toBe(ath(96).toString());
    expect(t.ledger.lease(r.lease as string)).toMatchObject({
      openEnded: true,
      maxDurationSec: DEFAULT_PARAMS.openEndedDepositSeconds,
      escrow: ath(96),
    });
    expect(escrow(t, alice.address)).toBe(ath(904));
    // charges stop when the deposit is used up
    t.advance(25 * HOUR_MS);
    t.settle(host, r.lease);
    expect(t.ledger.lease(r.lease as string)!.charged).toBe(ath(96));
    // the deposit follows the parameter
    const t2 = new TestNet(makeGenesis({ openEndedDepositSeconds: 3600 }));
    t2.onlineContainer(host, 2, PRICE);
    t2.deposit(alice, ath(1000));
    expect(t2.tx(alice, 'lease.open', leasePayload(host.address, 2, null, PRICE)).escrow).toBe(
      ath(4).toString(),
    );
    conserved(t);
  });
});

describe('stake requirement: Σ K(GPU class) × staking coefficient', () => {
  it('gpuClass maps GPU models to the classes of the K table', () => {
    const cases: Array<[string, string]> = [
      ['NVIDIA H100 80GB HBM3', 'h100'],
      ['NVIDIA H800', 'h100'],
      ['NVIDIA H200', 'h200'],
      ['NVIDIA GH200 480GB', 'h200'],
      ['NVIDIA B200', 'h200'],
      [A100, 'a100'],
      ['NVIDIA A800 40GB', 'a100'],
      ['NVIDIA L40S', 'l40s'],
      ['NVIDIA L4', 'l40s'],
      ['NVIDIA A10G', 'l40s'],
      ['NVIDIA RTX A6000', 'l40s'],
      [RTX4090, 'rtx4090'],
      ['NVIDIA GeForce RTX 5090', 'rtx4090'],
      ['NVIDIA GeForce RTX 3090', 'rtx3090'],
      ['NVIDIA RTX A5000', 'rtx3090'],
      ['Tesla T4', 'other'],
      ['AMD Instinct MI300X', 'other'],
    ];
    for (const [model, cls] of cases) expect(gpuClass(model), model).toBe(cls);
    for (const c of GPU_CLASSES) expect(DEFAULT_PARAMS.kTable[c]).toBeGreaterThan(0n);
  });

  it('stakeBase sums K per GPU (a CPU host: K(cpu)); requiredStake scales it by the coefficient', () => {
    const p = DEFAULT_PARAMS;
    expect(stakeBase(p, [])).toBe(ath(100));
    expect(stakeBase(p, [H100])).toBe(ath(3000));
    const mixed = [H100, H100, RTX4090, A100, 'Tesla T4'];
    // 3000 + 3000 + 400 + 1500 + 200
    expect(stakeBase(p, mixed)).toBe(ath(8100));
    expect(requiredStake(p, 10_000, mixed)).toBe(ath(8100));
    expect(requiredStake(p, 15_000, mixed)).toBe(ath(12_150));
    expect(requiredStake(p, 5000, mixed)).toBe(ath(4050));
    expect(requiredStake(p, 3333, mixed)).toBe(ath('2699.73'));
    expect(requiredStake(p, 20_000, [])).toBe(ath(200));
  });

  it('a mixed-GPU container must hold Σ K × coefficient; one unit short is not leasable', () => {
    const t = new TestNet();
    const spec = { ...gpuSpec(0), gpus: [H100, RTX4090].map((model) => ({ model, memoryMiB: 24_000 })) };
    const r = t.tx(host, 'container.register', {
      name: 'mixed',
      spec,
      pricePerHour: PRICE,
      location: FRANKFURT,
    });
    expect(r.requiredStake).toBe(ath(3400).toString());
    t.tx(host, 'container.stake', { amount: ath(3400) - 1n });
    t.report(host.address, true, 0);
    t.report(host.address, true, 1);
    expect(t.ledger.isServing(t.ledger.container(host.address)!)).toBe(false);
    t.deposit(alice, ath(10));
    const open = leasePayload(host.address, 1, 60, PRICE);
    const e = t.expectRejectTx(alice, 'lease.open', open, 'CONTAINER_UNAVAILABLE');
    expect(e.message).toMatch(/not staked enough/);
    t.tx(host, 'container.stake', { amount: 1n });
    t.tx(alice, 'lease.open', open);
  });

  it('a CPU host (no GPUs) stakes K(cpu)', () => {
    const t = new TestNet();
    const r = t.tx(host, 'container.register', registerPayload(0, PRICE, 'cpu-box'));
    expect(r.requiredStake).toBe(ath(100).toString());
    t.tx(host, 'container.stake', { amount: ath(100) });
    t.report(host.address, true, 0);
    t.report(host.address, true, 2);
    t.deposit(alice, ath(10));
    const lease = t.tx(alice, 'lease.open', leasePayload(host.address, 0, 3600, PRICE));
    expect(lease.escrow).toBe(PRICE.toString());
  });

  it('the K table is a parameter', () => {
    const kTable = { ...(paramsToWire(DEFAULT_PARAMS).kTable as Record<string, string>) };
    kTable.h100 = ath(7000).toString();
    const t = new TestNet(makeGenesis({ kTable }));
    expect(t.tx(host, 'container.register', registerPayload(2, PRICE)).requiredStake).toBe(
      ath(14_000).toString(),
    );
  });
});

describe('container.unstake and container.withdraw (unbonding)', () => {
  it('moves stake to unbonding for unbondingMs: no leasing, no rewards; withdraw only after', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1, PRICE); // stake 3000
    t.deposit(alice, ath(10));
    // serving: epochs 0..3 reward it
    for (const r of t.closeEpochsThrough(3)) expect(r.capacityRewarded).toBe(1);
    expect(t.time).toBe(GENESIS_TIME + 4 * EPOCH_MS);
    t.advance(60_000);
    const requested = t.time;
    const until = requested + 180 * DAY_MS;
    const r = t.tx(host, 'container.unstake', { amount: ath(1000) });
    expect(r).toEqual({ container: host.address, unbonding: ath(1000).toString(), until });
    expect(t.ledger.container(host.address)).toMatchObject({
      stake: ath(2000),
      unbonding: ath(1000),
      unbondingUntil: until,
      status: 'online',
    });
    // even topped up again, an unbonding container is neither matched nor rewarded
    t.tx(host, 'container.stake', { amount: ath(1000) });
    expect(t.ledger.isServing(t.ledger.container(host.address)!)).toBe(false);
    const e = t.expectRejectTx(
      alice,
      'lease.open',
      leasePayload(host.address, 1, 60, PRICE),
      'CONTAINER_UNAVAILABLE',
    );
    expect(e.message).toMatch(/unbonding/);
    const [epoch4] = t.closeEpochsThrough(4);
    expect(epoch4).toMatchObject({ epoch: 4, capacityRewarded: 0, emitted: '0' });
    // withdraw before the end: CONFLICT; at the end: the balance
    t.at(until - 1);
    const early = t.expectRejectTx(host, 'container.withdraw', {}, 'CONFLICT');
    expect(early.details).toEqual({ until });
    const balance0 = bal(t, host.address);
    t.at(until);
    expect(t.tx(host, 'container.withdraw', {})).toEqual({
      container: host.address,
      withdrawn: ath(1000).toString(),
    });
    expect(bal(t, host.address)).toBe(balance0 + ath(1000));
    expect(t.ledger.container(host.address)).toMatchObject({
      stake: ath(3000),
      unbonding: 0n,
      unbondingUntil: null,
    });
    // nothing left to withdraw
    t.expectRejectTx(host, 'container.withdraw', {}, 'CONFLICT');
    // matched again
    t.tx(alice, 'lease.open', leasePayload(host.address, 1, 60, PRICE));
    conserved(t);
  });

  it('refuses to unstake with open leases (CONFLICT), more than the stake, or for a non-container', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1, PRICE);
    t.deposit(alice, ath(10));
    const { lease } = t.tx(alice, 'lease.open', leasePayload(host.address, 1, 3600, PRICE));
    const e = t.expectRejectTx(host, 'container.unstake', { amount: ath(1) }, 'CONFLICT');
    expect(e.message).toMatch(/leases are open/);
    t.tx(alice, 'lease.close', { lease });
    t.expectRejectTx(host, 'container.unstake', { amount: ath(3000) + 1n }, 'INSUFFICIENT_FUNDS');
    t.expectRejectTx(bob, 'container.unstake', { amount: ath(1) }, 'NOT_FOUND');
    t.expectRejectTx(bob, 'container.withdraw', {}, 'NOT_FOUND');
    t.expectRejectTx(host, 'container.unstake', { amount: 0n }, 'INVALID_TRANSACTION');
    // the whole stake may be unstaked
    t.tx(host, 'container.unstake', { amount: ath(3000) });
    expect(t.ledger.container(host.address)).toMatchObject({ stake: 0n, unbonding: ath(3000) });
    conserved(t);
  });

  it('a second unstake adds to the unbonding amount and restarts the period for all of it', () => {
    const t = new TestNet();
    t.onlineContainer(host2, 1, PRICE);
    t.tx(host2, 'container.unstake', { amount: ath(1000) });
    t.advance(10 * DAY_MS);
    t.tx(host2, 'container.unstake', { amount: ath(500) });
    const until = t.time + 180 * DAY_MS;
    expect(t.ledger.container(host2.address)).toMatchObject({
      stake: ath(1500),
      unbonding: ath(1500),
      unbondingUntil: until,
    });
    t.at(until - 1);
    t.expectRejectTx(host2, 'container.withdraw', {}, 'CONFLICT');
    t.at(until);
    expect(t.tx(host2, 'container.withdraw', {}).withdrawn).toBe(ath(1500).toString());
  });

  it('unbondingMs is a parameter', () => {
    const t = new TestNet(makeGenesis({ unbondingMs: HOUR_MS }));
    t.onlineContainer(host, 1, PRICE);
    t.tx(host, 'container.unstake', { amount: ath(3000) });
    t.advance(HOUR_MS - 1);
    t.expectRejectTx(host, 'container.withdraw', {}, 'CONFLICT');
    t.advance(1);
    t.tx(host, 'container.withdraw', {});
    expect(bal(t, host.address)).toBe(ath(20_000));
  });
});
