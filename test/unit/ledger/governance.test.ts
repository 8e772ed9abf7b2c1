import { describe, expect, it } from 'vitest';
import { ath } from '../../../src/core/index.js';
import { DEFAULT_PARAMS, paramsToWire } from '../../../src/ledger/index.js';
import {
  DAY_MS,
  HOUR_MS,
  TestNet,
  alice,
  checkers,
  conserved,
  governor,
  host,
  leasePayload,
  makeGenesis,
  stranger,
} from './fixtures.js';

describe('params.update (governance)', () => {
  it('only the genesis governance key may change parameters; each change bumps the version', () => {
    const t = new TestNet();
    for (const k of [alice, host, checkers[0], stranger]) {
      const e = t.expectRejectTx(k, 'params.update', { changes: { feeHostBps: 8500 } }, 'UNAUTHORIZED');
      expect(e.message).toMatch(/governance/);
    }
    expect(t.tx(governor, 'params.update', { changes: { feeHostBps: 8500 } })).toEqual({
      version: 2,
      changed: 'feeHostBps',
    });
    expect(t.ledger.params).toEqual({ ...DEFAULT_PARAMS, version: 2, feeHostBps: 8500 });
    const r = t.tx(governor, 'params.update', {
      changes: { hostVestingMs: 10 * DAY_MS, emissionPerEpoch: ath(1).toString() },
    });
    expect(r).toEqual({ version: 3, changed: 'hostVestingMs,emissionPerEpoch' });
    expect(t.ledger.params).toMatchObject({
      version: 3,
      feeHostBps: 8500,
      hostVestingMs: 10 * DAY_MS,
      emissionPerEpoch: ath(1),
    });
    conserved(t);
  });

  it('an empty change is rejected and does not bump the version', () => {
    const t = new TestNet();
    t.expectRejectTx(governor, 'params.update', { changes: {} }, 'INVALID_TRANSACTION');
    expect(t.ledger.params.version).toBe(1);
  });

  it('a longer epochMs starts from the end of the last closed epoch: no period is paid twice', () => {
    const t = new TestNet();
    const [first] = t.closeEpochsThrough(0);
    expect(first!.epoch).toBe(0);
    const end0 = t.ledger.economics.lastEpochEnd;
    t.tx(governor, 'params.update', { changes: { epochMs: 60 * 60_000 } });
    expect(t.ledger.nextEpoch(t.time)).toMatchObject({ epoch: 1, end: end0 + 60 * 60_000, due: false });
    t.closeEpochsThrough(1);
    expect(t.ledger.economics.lastEpochEnd).toBe(end0 + 60 * 60_000);
    conserved(t);
  });

  it('without a governance authority in the genesis, parameters are fixed', () => {
    const t = new TestNet(makeGenesis(undefined, { governance: null }));
    t.expectRejectTx(governor, 'params.update', { changes: { feeHostBps: 8500 } }, 'UNAUTHORIZED');
    expect(t.ledger.params).toEqual(DEFAULT_PARAMS);
  });

  it('an unknown parameter, a value out of bounds or the version itself: INVALID_TRANSACTION, root unchanged', () => {
    const t = new TestNet();
    const kTable = paramsToWire(DEFAULT_PARAMS).kTable as Record<string, string>;
    const bad: Array<Record<string, unknown>> = [
      { bogus: 1 },
      { feeHostBps: 8500, bogus: 1 },
      { toString: 1 },
      { version: 7 },
      { feeHostBps: 4999 },
      { feeHostBps: 10_001 },
      { feeHostBps: 85.5 },
      { feeHostBps: '8500' },
      { epochMs: 999 },
      { checkerQuorumN: -1 },
      { checkerReassignMs: 999 },
      { slashLocationBps: 20_001 },
      { epochMs: DAY_MS + 1 },
      { unbondingMs: -1 },
      { emissionPerEpoch: '-1' },
      { emissionPerEpoch: 'lots' },
      { coefficientRefMonthlyRevenue: '0' },
      { qualityTierBps: [10_000, 12_500] },
      { checkerFastVestingMs: 181 * DAY_MS },
      { checkerMaxIncorrectPerWeek: 0 },
      { kTable: { h100: ath(1).toString() } },
      { kTable: { ...kTable, tpu: '1' } },
      { maxLeaseSeconds: 59 },
    ];
    for (const changes of bad) {
      const e = t.expectRejectTx(governor, 'params.update', { changes }, 'INVALID_TRANSACTION');
      expect(e.message.length, JSON.stringify(changes)).toBeGreaterThan(0);
    }
    t.expectRejectTx(governor, 'params.update', { changes: 'feeHostBps=1' }, 'INVALID_TRANSACTION');
    t.expectRejectTx(governor, 'params.update', {}, 'INVALID_TRANSACTION');
    expect(t.ledger.params).toEqual(DEFAULT_PARAMS);
    expect(t.nonce(governor)).toBe(0);
    // bounds are inclusive
    t.tx(governor, 'params.update', { changes: { feeHostBps: 5000, epochMs: DAY_MS } });
    t.tx(governor, 'params.update', { changes: { feeHostBps: 10_000, epochMs: 60_000 } });
    expect(t.ledger.params.version).toBe(3);
  });

  it('the next lease settles with the new feeHostBps', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1, ath(1));
    t.deposit(alice, ath(10));
    t.tx(governor, 'params.update', { changes: { feeHostBps: 8500 } });
    const { lease } = t.tx(alice, 'lease.open', leasePayload(host.address, 1, 3600, ath(1)));
    t.advance(HOUR_MS);
    t.tx(alice, 'lease.close', { lease });
    expect(t.ledger.lease(lease as string)).toMatchObject({
      charged: ath(1),
      hostShare: ath('0.85'),
      protocolShare: ath('0.15'),
    });
    expect(t.vestedTotal(host.address)).toBe(ath('0.85'));
    conserved(t);
  });

  it('a fee change while a lease is open applies to later charges only, and conserves supply', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1, ath(1));
    t.deposit(alice, ath(10));
    const { lease } = t.tx(alice, 'lease.open', leasePayload(host.address, 1, 3 * 3600, ath(1)));
    t.advance(HOUR_MS);
    t.settle(host, lease); // 1 ATH: 0.8 / 0.2
    // lowered: the charges after it are split 50/50, the 0.8 already vested stays
    t.tx(governor, 'params.update', { changes: { feeHostBps: 5000 } });
    t.advance(6 * 60_000);
    t.settle(host, lease); // +0.1 ATH: 0.05 / 0.05
    expect(t.ledger.lease(lease as string)).toMatchObject({
      charged: ath('1.1'),
      hostShare: ath('0.85'),
      protocolShare: ath('0.25'),
    });
    expect(t.vestedTotal(host.address)).toBe(ath('0.85'));
    conserved(t);
    // raised to 100%: the next charge goes all to the host
    t.tx(governor, 'params.update', { changes: { feeHostBps: 10_000 } });
    t.advance(54 * 60_000);
    t.tx(alice, 'lease.close', { lease }); // +0.9 ATH
    expect(t.ledger.lease(lease as string)).toMatchObject({
      charged: ath(2),
      hostShare: ath('1.75'),
      protocolShare: ath('0.25'),
    });
    expect(t.ledger.container(host.address)!.earned).toBe(ath('1.75'));
    expect(t.vestedTotal(host.address)).toBe(ath('1.75'));
    conserved(t);
  });

  it('a K table change moves the stake requirement of existing containers', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1, ath(1));
    const kTable = { ...(paramsToWire(DEFAULT_PARAMS).kTable as Record<string, string>) };
    kTable.h100 = ath(4000).toString();
    t.tx(governor, 'params.update', { changes: { kTable } });
    expect(t.ledger.requiredStakeOf(t.ledger.container(host.address)!)).toBe(ath(4000));
    t.deposit(alice, ath(10));
    t.expectRejectTx(alice, 'lease.open', leasePayload(host.address, 1, 60, ath(1)), 'CONTAINER_UNAVAILABLE');
    t.tx(host, 'container.stake', { amount: ath(1000) });
    t.tx(alice, 'lease.open', leasePayload(host.address, 1, 60, ath(1)));
  });
});
