import { describe, expect, it } from 'vitest';
import { ath } from '../../../src/core/index.js';
import { DEFAULT_PARAMS, type LedgerEvent } from '../../../src/ledger/index.js';
import {
  DAY_MS,
  HOUR_MS,
  TestNet,
  alice,
  bob,
  checkers,
  governor,
  host,
  leasePayload,
  makeGenesis,
  registerPayload,
  stranger,
} from './fixtures.js';

/**
 * The typed events `Ledger.apply` returns beside each result: what derived views follow (the
 * index, the agents' lease events, the API's event stream). One test per kind, exact values.
 */

const of = <T extends LedgerEvent['type']>(events: LedgerEvent[], type: T) =>
  events.filter((e): e is Extract<LedgerEvent, { type: T }> => e.type === type);

/** host online with one H100 at 1 ATH/h, alice's escrow funded and a one-hour lease open. */
function withLease(): { t: TestNet; lease: string } {
  const t = new TestNet();
  t.onlineContainer(host, 1);
  t.deposit(alice, ath(10));
  t.advance(1000);
  const lease = String(t.tx(alice, 'lease.open', leasePayload(host.address, 1, 3600, ath(1))).lease);
  return { t, lease };
}

describe('ledger events', () => {
  it('Transferred: from, to and the amount; nothing else happened', () => {
    const t = new TestNet();
    t.tx(alice, 'transfer', { to: bob.address, amount: ath(3) });
    expect(t.lastEvents).toEqual([
      { type: 'Transferred', from: alice.address, to: bob.address, amount: ath(3) },
    ]);
    t.deposit(alice, ath(1));
    expect(t.lastEvents).toEqual([]);
  });

  it('ContainerChanged: once per transaction and container, for every write to it (unstake and withdraw too)', () => {
    const t = new TestNet(makeGenesis({ unbondingMs: HOUR_MS }));
    t.tx(host, 'container.register', registerPayload(1, ath(1)));
    expect(t.lastEvents).toEqual([{ type: 'ContainerChanged', id: host.address }]);
    t.tx(host, 'container.stake', { amount: ath(5) });
    expect(t.lastEvents).toEqual([{ type: 'ContainerChanged', id: host.address }]);
    t.tx(host, 'container.unstake', { amount: ath(5) });
    expect(t.lastEvents).toEqual([{ type: 'ContainerChanged', id: host.address }]);
    expect(t.ledger.container(host.address)!.unbonding).toBe(ath(5));
    t.advance(HOUR_MS);
    t.tx(host, 'container.withdraw', {});
    expect(t.lastEvents).toEqual([{ type: 'ContainerChanged', id: host.address }]);
  });

  it('LeaseOpened: the lease as opened, after its container changed', () => {
    const { t, lease } = withLease();
    expect(t.lastEvents).toEqual([
      { type: 'ContainerChanged', id: host.address },
      { type: 'LeaseOpened', lease: t.ledger.lease(lease) },
    ]);
    expect(of(t.lastEvents, 'LeaseOpened')[0]!.lease).toMatchObject({
      id: lease,
      user: alice.address,
      container: host.address,
      gpus: 1,
      status: 'open',
    });
  });

  it('LeaseSettled: the total charge after the settle', () => {
    const { t, lease } = withLease();
    t.advance(HOUR_MS / 2);
    const r = t.settle(host, lease);
    expect(of(t.lastEvents, 'LeaseSettled')).toEqual([
      { type: 'LeaseSettled', lease, container: host.address, charged: ath(1) / 2n },
    ]);
    expect(r.charged).toBe((ath(1) / 2n).toString());
  });

  it('LeaseClosed: by the user, by the container, and by the ledger when its container goes down', () => {
    const a = withLease();
    a.t.advance(60_000);
    a.t.tx(alice, 'lease.close', { lease: a.lease });
    expect(of(a.t.lastEvents, 'LeaseClosed')).toEqual([
      {
        type: 'LeaseClosed',
        lease: a.lease,
        container: host.address,
        user: alice.address,
        by: alice.address,
        reason: 'closed by user',
      },
    ]);

    const b = withLease();
    b.t.advance(60_000);
    b.t.hostClose(host, b.lease, { reason: 'workload finished', exitCode: 0 });
    expect(of(b.t.lastEvents, 'LeaseClosed')).toEqual([
      {
        type: 'LeaseClosed',
        lease: b.lease,
        container: host.address,
        user: alice.address,
        by: host.address,
        reason: 'workload finished',
      },
    ]);

    const c = withLease();
    c.t.advance(60_000);
    c.t.report(host.address, false, 0);
    expect(of(c.t.lastEvents, 'LeaseClosed')).toEqual([]);
    c.t.report(host.address, false, 1);
    expect(of(c.t.lastEvents, 'LeaseClosed')).toEqual([
      {
        type: 'LeaseClosed',
        lease: c.lease,
        container: host.address,
        user: alice.address,
        by: host.address,
        reason: 'container went offline; unsettled time refunded',
      },
    ]);
    expect(c.t.ledger.lease(c.lease)!.closeReason).toBe('container went offline; unsettled time refunded');
  });

  it('CheckDecided and Slashed: the verdict, then the penalty with what was taken and the leases it closed', () => {
    const { t, lease } = withLease();
    t.advance(60_000);
    t.report(host.address, false, 0);
    expect(of(t.lastEvents, 'CheckDecided')).toEqual([]);
    const r = t.report(host.address, false, 1);
    expect(of(t.lastEvents, 'CheckDecided')).toEqual([
      {
        type: 'CheckDecided',
        container: host.address,
        check: 'liveness',
        ok: false,
        reason: 'the container did not answer its checkers',
      },
    ]);
    const slashed = of(t.lastEvents, 'Slashed');
    expect(slashed).toEqual([
      {
        type: 'Slashed',
        container: host.address,
        check: 'liveness',
        amount: BigInt(String(r.slashed)),
        reason: 'offline while serving: the container did not answer its checkers',
        leases: [lease],
      },
    ]);
    expect(slashed[0]!.amount).toBeGreaterThan(0n);
    expect(t.ledger.container(host.address)!.slashed).toBe(slashed[0]!.amount);
    // the order they happened in: decided, leases closed, slashed
    expect(t.lastEvents.map((e) => e.type).filter((x) => x !== 'ContainerChanged')).toEqual([
      'CheckDecided',
      'LeaseClosed',
      'Slashed',
    ]);
  });

  it('EpochClosed: the epoch, what it emitted, and whether the staking coefficient moved', () => {
    const t = new TestNet(makeGenesis({ epochMs: DAY_MS }));
    t.onlineContainer(host, 1);
    const [r] = t.closeEpochsThrough(0);
    expect(t.lastEvents.filter((e) => e.type === 'EpochClosed')).toEqual([
      {
        type: 'EpochClosed',
        epoch: 0,
        emitted: BigInt(String(r!.emitted)),
        coefficientBps: 10_000,
        coefficientChanged: false,
      },
    ]);
    // a week in, the coefficient is recomputed: with no revenue it falls to its floor
    const week = t.closeEpochsThrough(6).at(-1)!;
    expect(week.coefficientBps).toBe(DEFAULT_PARAMS.coefficientMinBps);
    expect(of(t.lastEvents, 'EpochClosed')).toEqual([
      {
        type: 'EpochClosed',
        epoch: 6,
        emitted: BigInt(String(week.emitted)),
        coefficientBps: DEFAULT_PARAMS.coefficientMinBps,
        coefficientChanged: true,
      },
    ]);
  });

  it('ParamsChanged: params.update names the version and the parameters changed', () => {
    const t = new TestNet();
    t.tx(governor, 'params.update', { changes: { feeHostBps: 8500, slashDowntimeBps: 100 } });
    expect(t.lastEvents).toEqual([
      { type: 'ParamsChanged', version: 2, changed: ['feeHostBps', 'slashDowntimeBps'] },
    ]);
  });

  it('ProposalDecided (and ParamsChanged) from dao.execute: executed, or rejected by the vote', () => {
    const t = new TestNet();
    t.tx(alice, 'dao.lock', { amount: ath(90_000), until: t.time + DEFAULT_PARAMS.lockMaxMs });
    t.advance(HOUR_MS);
    const title = 'an 85/15 split';
    const actions = [{ kind: 'params', changes: { feeHostBps: 8500 } }];
    const yes = Number(t.tx(alice, 'dao.propose', { title, actions }).proposal);
    const no = Number(t.tx(alice, 'dao.propose', { title, actions }).proposal);
    t.tx(alice, 'dao.vote', { proposal: yes, choice: 'for' });
    t.tx(alice, 'dao.vote', { proposal: no, choice: 'against' });
    t.advance(DEFAULT_PARAMS.votingPeriodMs + DEFAULT_PARAMS.timelockMs);
    t.tx(stranger, 'dao.execute', { proposal: yes });
    expect(t.lastEvents).toEqual([
      { type: 'ParamsChanged', version: 2, changed: ['feeHostBps'] },
      { type: 'ProposalDecided', proposal: yes, status: 'executed' },
    ]);
    t.tx(stranger, 'dao.execute', { proposal: no });
    expect(t.lastEvents).toEqual([{ type: 'ProposalDecided', proposal: no, status: 'rejected' }]);
  });

  it('VestingClaimed: what was paid out once vested', () => {
    const { t, lease } = withLease();
    t.advance(HOUR_MS);
    t.hostClose(host, lease);
    const vested = t.vestedTotal(host.address);
    expect(vested).toBe((ath(1) * 8000n) / 10_000n);
    t.advance(DEFAULT_PARAMS.hostVestingMs + 86_400_000);
    t.tx(host, 'vesting.claim', {});
    expect(t.lastEvents).toEqual([
      { type: 'VestingClaimed', address: host.address, claimed: vested, forfeited: 0n },
    ]);
  });

  it('AppPublished: name, version and owner', () => {
    const t = new TestNet();
    const manifest = { name: 'demo', version: '1.0.0', services: { main: { command: ['true'], gpus: 0 } } };
    t.tx(alice, 'app.publish', { name: 'demo', version: '1.0.0', manifest });
    expect(t.lastEvents).toEqual([
      { type: 'AppPublished', name: 'demo', version: '1.0.0', owner: alice.address },
    ]);
  });

  it('a dry run (check) returns the events it would emit and applies nothing; a rejection emits none', () => {
    const t = new TestNet();
    const root = t.ledger.root();
    const raw = t.sign(alice, 'transfer', { to: bob.address, amount: ath(1) });
    expect(t.ledger.check(raw, t.ctx()).events).toEqual([
      { type: 'Transferred', from: alice.address, to: bob.address, amount: ath(1) },
    ]);
    expect(t.ledger.root()).toBe(root);
    t.expectRejectTx(
      checkers[0],
      'transfer',
      { to: bob.address, amount: ath(1_000_000_000) },
      'INSUFFICIENT_FUNDS',
    );
  });
});
