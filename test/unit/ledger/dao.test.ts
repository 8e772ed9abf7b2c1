import { describe, expect, it } from 'vitest';
import { ath, type KeyPair } from '../../../src/core/index.js';
import {
  DEFAULT_PARAMS,
  historicWeight,
  proposalPhase,
  weightAt,
  weightAtCreation,
  type Choice,
  type Proposal,
  type TxResult,
} from '../../../src/ledger/index.js';
import {
  DAY_MS,
  EPOCH_MS,
  GENESIS_TIME,
  HOUR_MS,
  MINUTE_MS,
  TestNet,
  alice,
  bob,
  carol,
  checkers,
  governor,
  host,
  host2,
  host3,
  leasePayload,
  stranger,
} from './fixtures.js';

/**
 * The DAO in the ledger: voting-escrow locks, proposals (parameters, treasury spends, council
 * seats), votes weighed at the proposal's creation, quorum and majority, the timelock, council
 * ratification of operational changes, execution by anyone, and the lockers' revenue share.
 * Every block time is explicit; every amount is exact; the supply invariant is checked after
 * every accepted transaction (DaoNet) and every rejection (TestNet.expectReject).
 */

const WEEK_MS = 7 * DAY_MS;
const YEAR_MS = 365 * DAY_MS;
const LOCK_MAX = DEFAULT_PARAMS.lockMaxMs; // 4 years
const VOTING = DEFAULT_PARAMS.votingPeriodMs; // 3 days
const TIMELOCK = DEFAULT_PARAMS.timelockMs; // 2 days
const MIN_WEIGHT = DEFAULT_PARAMS.proposalMinWeight; // 10 000 ATH

/** amount × remaining / lockMaxMs, floored: the weight of a lock with `remaining` ms left. */
function w(amount: bigint, remaining: number): bigint {
  return (amount * BigInt(remaining)) / BigInt(LOCK_MAX);
}

type Action =
  | { kind: 'params'; changes: Record<string, unknown> }
  | { kind: 'treasury'; to: string; amount: bigint }
  | { kind: 'council'; constituency: string; member: string | null };

/** A TestNet that checks the supply invariant after every accepted transaction, with DAO helpers. */
class DaoNet extends TestNet {
  override applyRaw(raw: unknown): TxResult {
    const r = super.applyRaw(raw);
    expect(this.ledger.totalHeld()).toBe(this.ledger.chain.supply);
    return r;
  }

  lock(k: KeyPair, amount: bigint, until: number): TxResult {
    return this.tx(k, 'dao.lock', { amount, until });
  }

  propose(k: KeyPair, actions: Action[], title = 'a proposal'): number {
    const r = this.tx(k, 'dao.propose', { title, actions });
    return r.proposal as number;
  }

  vote(k: KeyPair, proposal: number, choice: Choice): TxResult {
    return this.tx(k, 'dao.vote', { proposal, choice });
  }

  execute(proposal: number, by: KeyPair = stranger): TxResult {
    return this.tx(by, 'dao.execute', { proposal });
  }

  ratify(k: KeyPair, proposal: number): TxResult {
    return this.tx(k, 'dao.ratify', { proposal });
  }

  proposal(id: number): Proposal {
    const p = this.ledger.proposal(id);
    expect(p, `proposal ${id}`).toBeDefined();
    return p!;
  }

  phase(id: number): string {
    return this.ledger.proposalPhase(this.proposal(id), this.time).phase;
  }

  /** Expects dao.execute of `proposal` to be refused with CONFLICT naming `phase`. */
  expectNotExecutable(proposal: number, phase: string): void {
    const e = this.expectRejectTx(stranger, 'dao.execute', { proposal }, 'CONFLICT');
    expect(e.details).toEqual({ phase });
    expect(e.message).toContain(phase);
  }
}

/**
 * alice, bob and carol lock 90 000, 40 000 and 10 ATH for 4 years at genesis; the clock then
 * moves one hour, so that weight counts for proposals made from then on.
 */
function withLockers(): DaoNet {
  const t = new DaoNet();
  const end = t.time + LOCK_MAX;
  t.lock(alice, ath(90_000), end);
  t.lock(bob, ath(40_000), end);
  t.lock(carol, ath(10), end);
  t.advance(HOUR_MS);
  return t;
}

/**
 * The vote of a locker of withLockers() on a proposal made at `createdAt`: the lock as it stood
 * before the proposal's block, weighed at the proposal's time.
 */
function voteWeight(amount: bigint, createdAt: number): bigint {
  return w(amount, GENESIS_TIME + LOCK_MAX - createdAt);
}

describe('dao.lock / dao.unlock (voting escrow)', () => {
  it('locks for 1 week to 4 years; outside that: INVALID_TRANSACTION, root unchanged', () => {
    const t = new DaoNet();
    const t0 = t.time;
    t.expectRejectTx(alice, 'dao.lock', { amount: ath(1), until: t0 + WEEK_MS - 1 }, 'INVALID_TRANSACTION');
    t.expectRejectTx(alice, 'dao.lock', { amount: ath(1), until: t0 + LOCK_MAX + 1 }, 'INVALID_TRANSACTION');
    t.expectRejectTx(alice, 'dao.lock', { amount: ath(1), until: t0 - 1 }, 'INVALID_TRANSACTION');
    t.expectRejectTx(alice, 'dao.lock', { amount: ath(1), until: 0 }, 'INVALID_TRANSACTION');
    // nothing to lock, or more than the balance, or a malformed amount
    t.expectRejectTx(alice, 'dao.lock', { amount: 0n, until: t0 + YEAR_MS }, 'INVALID_TRANSACTION');
    t.expectRejectTx(alice, 'dao.lock', { amount: 0n, until: 0 }, 'INVALID_TRANSACTION');
    t.expectRejectTx(alice, 'dao.lock', { amount: '-1', until: t0 + YEAR_MS }, 'INVALID_TRANSACTION');
    t.expectRejectTx(alice, 'dao.lock', { amount: ath(100_001), until: t0 + YEAR_MS }, 'INSUFFICIENT_FUNDS');
    t.expectRejectTx(stranger, 'dao.lock', { amount: 1n, until: t0 + YEAR_MS }, 'INSUFFICIENT_FUNDS');
    expect(t.ledger.locks()).toEqual([]);
    expect(t.nonce(alice)).toBe(0);

    // the bounds are inclusive
    expect(t.lock(alice, ath(1000), t0 + WEEK_MS)).toEqual({
      amount: ath(1000).toString(),
      end: t0 + WEEK_MS,
      weight: w(ath(1000), WEEK_MS).toString(),
    });
    expect(t.lock(bob, ath(1000), t0 + LOCK_MAX)).toEqual({
      amount: ath(1000).toString(),
      end: t0 + LOCK_MAX,
      weight: ath(1000).toString(),
    });
    expect(t.ledger.account(alice.address).balance).toBe(ath(99_000));
    expect(t.ledger.account(bob.address).balance).toBe(ath(49_000));
    expect(t.ledger.lock(bob.address)).toEqual({
      amount: ath(1000),
      end: t0 + LOCK_MAX,
      history: [{ height: 2, at: t0, amount: ath(1000), end: t0 + LOCK_MAX }],
    });
  });

  it('weight = amount × remaining / lockMaxMs, decaying linearly to 0 at the end', () => {
    const t = new DaoNet();
    const t0 = t.time;
    t.lock(alice, ath(1000), t0 + LOCK_MAX);
    const l = t.ledger;
    expect(l.weightOf(alice.address, t0)).toBe(ath(1000));
    expect(l.weightOf(alice.address, t0 + YEAR_MS)).toBe(ath(750));
    expect(l.weightOf(alice.address, t0 + 2 * YEAR_MS)).toBe(ath(500));
    expect(l.weightOf(alice.address, t0 + 3 * YEAR_MS)).toBe(ath(250));
    expect(l.weightOf(alice.address, t0 + LOCK_MAX - 1)).toBe(w(ath(1000), 1));
    expect(l.weightOf(alice.address, t0 + LOCK_MAX)).toBe(0n);
    expect(l.weightOf(alice.address, t0 + LOCK_MAX + YEAR_MS)).toBe(0n);
    expect(l.weightOf(bob.address, t0)).toBe(0n);
    // a 1-year lock weighs a quarter; the total is the sum of the locks
    t.lock(bob, ath(400), t0 + YEAR_MS);
    expect(l.weightOf(bob.address, t0)).toBe(ath(100));
    expect(l.totalWeight(t0)).toBe(ath(1100));
    expect(l.totalWeight(t0 + YEAR_MS)).toBe(ath(750));
    expect(l.totalWeight(t0 + LOCK_MAX)).toBe(0n);
  });

  it('increases the amount (same end) and extends the end (same amount); never shortens', () => {
    const t = new DaoNet();
    const t0 = t.time;
    t.lock(alice, ath(1000), t0 + 2 * YEAR_MS);
    t.advance(DAY_MS);
    const t1 = t.time;
    // more ATH, same end: `until` 0 keeps the end
    expect(t.lock(alice, ath(500), 0)).toEqual({
      amount: ath(1500).toString(),
      end: t0 + 2 * YEAR_MS,
      weight: w(ath(1500), t0 + 2 * YEAR_MS - t1).toString(),
    });
    expect(t.ledger.account(alice.address).balance).toBe(ath(98_500));
    // a later end, no more ATH
    t.advance(DAY_MS);
    const t2 = t.time;
    expect(t.lock(alice, 0n, t2 + 3 * YEAR_MS)).toEqual({
      amount: ath(1500).toString(),
      end: t2 + 3 * YEAR_MS,
      weight: ath(1125).toString(),
    });
    expect(t.ledger.account(alice.address).balance).toBe(ath(98_500));
    // an earlier `until` does not shorten the lock
    t.lock(alice, ath(100), t2 + WEEK_MS);
    expect(t.ledger.lock(alice.address)).toMatchObject({ amount: ath(1600), end: t2 + 3 * YEAR_MS });
    // extending past 4 years from now is refused
    t.expectRejectTx(alice, 'dao.lock', { amount: 0n, until: t2 + LOCK_MAX + 1 }, 'INVALID_TRANSACTION');
    // one entry per block that changed it
    expect(t.ledger.lock(alice.address)!.history).toEqual([
      { height: 1, at: t0, amount: ath(1000), end: t0 + 2 * YEAR_MS },
      { height: 2, at: t1, amount: ath(1500), end: t0 + 2 * YEAR_MS },
      { height: 3, at: t2, amount: ath(1500), end: t2 + 3 * YEAR_MS },
      { height: 4, at: t2, amount: ath(1600), end: t2 + 3 * YEAR_MS },
    ]);
  });

  it('withdraws only after expiry (CONFLICT before), exactly the amount locked', () => {
    const t = new DaoNet();
    const t0 = t.time;
    t.expectRejectTx(alice, 'dao.unlock', {}, 'NOT_FOUND');
    t.lock(alice, ath(1000), t0 + WEEK_MS);
    t.lock(alice, ath(234), 0);
    t.at(t0 + WEEK_MS - 1);
    const e = t.expectRejectTx(alice, 'dao.unlock', {}, 'CONFLICT');
    expect(e.details).toEqual({ end: t0 + WEEK_MS });
    t.at(t0 + WEEK_MS);
    expect(t.tx(alice, 'dao.unlock', {})).toEqual({ withdrawn: ath(1234).toString() });
    expect(t.ledger.account(alice.address).balance).toBe(ath(100_000));
    expect(t.ledger.lock(alice.address)).toMatchObject({ amount: 0n, end: t0 + WEEK_MS });
    expect(t.ledger.weightOf(alice.address, t.time)).toBe(0n);
    t.expectRejectTx(alice, 'dao.unlock', {}, 'NOT_FOUND');
  });

  it('an expired lock must be withdrawn before locking again', () => {
    const t = new DaoNet();
    const t0 = t.time;
    t.lock(bob, ath(1000), t0 + WEEK_MS);
    t.at(t0 + WEEK_MS);
    for (const payload of [
      { amount: ath(1), until: t.time + YEAR_MS },
      { amount: ath(1), until: 0 },
      { amount: 0n, until: t.time + YEAR_MS },
    ]) {
      const e = t.expectRejectTx(bob, 'dao.lock', payload, 'CONFLICT');
      expect(e.message).toMatch(/withdraw/);
    }
    t.tx(bob, 'dao.unlock', {});
    expect(t.lock(bob, ath(10), t.time + YEAR_MS)).toEqual({
      amount: ath(10).toString(),
      end: t.time + YEAR_MS,
      weight: ath('2.5').toString(),
    });
    expect(t.ledger.account(bob.address).balance).toBe(ath(49_990));
  });
});

describe('dao.propose', () => {
  it('needs proposalMinWeight (UNAUTHORIZED below)', () => {
    const t = new DaoNet();
    const t0 = t.time;
    const actions = [{ kind: 'params', changes: { feeHostBps: 8500 } }];
    // no lock at all, then a lock too small
    let e = t.expectRejectTx(carol, 'dao.propose', { title: 'fees', actions }, 'UNAUTHORIZED');
    expect(e.details).toEqual({ needed: MIN_WEIGHT.toString(), weight: '0' });
    t.lock(carol, ath(10), t0 + LOCK_MAX);
    e = t.expectRejectTx(carol, 'dao.propose', { title: 'fees', actions }, 'UNAUTHORIZED');
    expect(e.details).toEqual({ needed: MIN_WEIGHT.toString(), weight: ath(10).toString() });
    // exactly the minimum: bob's 10 000 ATH for 4 years, in the block it is locked
    t.lock(bob, MIN_WEIGHT, t0 + LOCK_MAX);
    expect(t.tx(bob, 'dao.propose', { title: 'fees', actions })).toEqual({
      proposal: 0,
      votingEnds: t0 + VOTING,
      operational: false,
    });
    // a millisecond later it has decayed below
    t.advance(1);
    t.expectRejectTx(bob, 'dao.propose', { title: 'fees again', actions }, 'UNAUTHORIZED');
    expect(t.ledger.dao.nextProposal).toBe(1);
    expect(t.proposal(0)).toMatchObject({
      id: 0,
      title: 'fees',
      proposer: bob.address,
      createdAt: t0,
      createdHeight: 3,
      votingEnds: t0 + VOTING,
      executableAt: t0 + VOTING + TIMELOCK,
      totalWeight: MIN_WEIGHT + ath(10),
      votes: {},
      tally: { for: 0n, against: 0n, abstain: 0n },
      ratifiedBy: [],
      status: 'active',
      outcome: null,
    });
  });

  it('an out-of-bounds or unknown parameter cannot even be proposed (INVALID_TRANSACTION)', () => {
    const t = withLockers();
    const bad: Array<Record<string, unknown>> = [
      {},
      { feeHostBps: 4999 },
      { feeHostBps: 10_001 },
      { feeHostBps: '8500' },
      { bogus: 1 },
      { toString: 1 },
      { version: 2 },
      { epochMs: 999 },
      { checkerQuorumN: 17 },
      { simulatedHardware: 'yes' },
      { quorumBps: 0 },
      { lockMinMs: DAY_MS - 1 },
      { kTable: { h100: ath(1).toString() } },
      { checkerFastVestingMs: 181 * DAY_MS },
      { lockMinMs: 300 * DAY_MS, lockMaxMs: 200 * DAY_MS },
    ];
    for (const changes of bad)
      t.expectRejectTx(
        alice,
        'dao.propose',
        { title: 'bad', actions: [{ kind: 'params', changes }] },
        'INVALID_TRANSACTION',
      );
    // one bad action spoils the proposal, whatever else it holds
    t.expectRejectTx(
      alice,
      'dao.propose',
      {
        title: 'mixed',
        actions: [
          { kind: 'params', changes: { feeHostBps: 8500 } },
          { kind: 'treasury', to: carol.address, amount: ath(1) },
          { kind: 'params', changes: { bogus: 1 } },
        ],
      },
      'INVALID_TRANSACTION',
    );
    // malformed payloads
    for (const payload of [
      { title: 'no actions', actions: [] },
      { title: 'x', actions: [{ kind: 'params', changes: { feeHostBps: 8500 } }] },
      { title: 'seat', actions: [{ kind: 'council', constituency: 'miners', member: carol.address }] },
      { title: 'spend', actions: [{ kind: 'treasury', to: carol.address, amount: 0n }] },
      { title: 'spend', actions: [{ kind: 'treasury', to: 'nobody', amount: 1n }] },
      { title: 'what', actions: [{ kind: 'mint', amount: 1n }] },
    ])
      t.expectRejectTx(alice, 'dao.propose', payload, 'INVALID_TRANSACTION');
    expect(t.ledger.dao.nextProposal).toBe(0);
    expect(t.ledger.proposals()).toEqual([]);
    // inclusive bounds are fine, and several params actions merge
    const id = t.propose(alice, [
      { kind: 'params', changes: { feeHostBps: 5000 } },
      { kind: 'params', changes: { feeHostBps: 10_000, quorumBps: 1 } },
    ]);
    expect(id).toBe(0);
  });

  it('a treasury spend larger than the treasury cannot be proposed', () => {
    const t = withLockers();
    const treasury = t.ledger.treasury().balance;
    t.expectRejectTx(
      alice,
      'dao.propose',
      { title: 'too much', actions: [{ kind: 'treasury', to: carol.address, amount: treasury + 1n }] },
      'INSUFFICIENT_FUNDS',
    );
    // nor can several spends that add up to more than it holds
    const twoThirds = (treasury * 2n) / 3n;
    t.expectRejectTx(
      alice,
      'dao.propose',
      {
        title: 'too much, in parts',
        actions: [
          { kind: 'treasury', to: carol.address, amount: twoThirds },
          { kind: 'treasury', to: bob.address, amount: twoThirds },
        ],
      },
      'INSUFFICIENT_FUNDS',
    );
    expect(t.ledger.dao.nextProposal).toBe(0);
    // all of it is allowed
    expect(t.propose(alice, [{ kind: 'treasury', to: carol.address, amount: treasury }])).toBe(0);
  });
});

describe('dao.vote', () => {
  it('counts for, against and abstain with the weight at creation; quorum and majority decide', () => {
    const t = withLockers();
    const id = t.propose(bob, [{ kind: 'params', changes: { feeHostBps: 9000 } }]);
    const created = t.time;
    const p0 = t.proposal(id);
    const rem = GENESIS_TIME + LOCK_MAX - created;
    expect(p0.totalWeight).toBe(w(ath(90_000), rem) + w(ath(40_000), rem) + w(ath(10), rem));
    t.advance(DAY_MS); // votes later in the period weigh what the voter had at creation
    const wa = voteWeight(ath(90_000), created);
    const wb = voteWeight(ath(40_000), created);
    const wc = voteWeight(ath(10), created);
    expect(t.vote(alice, id, 'against')).toEqual({
      proposal: id,
      choice: 'against',
      weight: wa.toString(),
      changed: false,
    });
    t.vote(bob, id, 'for');
    t.vote(carol, id, 'abstain');
    expect(t.proposal(id).tally).toEqual({ for: wb, against: wa, abstain: wc });
    expect(t.proposal(id).votes).toEqual({
      [alice.address]: { choice: 'against', weight: wa },
      [bob.address]: { choice: 'for', weight: wb },
      [carol.address]: { choice: 'abstain', weight: wc },
    });
    expect(t.phase(id)).toBe('voting');
    t.at(created + VOTING);
    const ph = t.ledger.proposalPhase(t.proposal(id), t.time);
    expect(ph).toEqual({
      phase: 'rejected',
      quorum: (p0.totalWeight * 400n) / 10_000n,
      turnout: wa + wb + wc,
      passed: false,
    });
    expect(t.execute(id)).toEqual({ proposal: id, status: 'rejected' });
    expect(t.proposal(id)).toMatchObject({
      status: 'rejected',
      outcome: 'did not pass (quorum or majority)',
    });
    expect(t.ledger.params).toEqual(DEFAULT_PARAMS);
  });

  it('a second vote by the same account replaces the first: it counts once', () => {
    const t = withLockers();
    const id = t.propose(alice, [{ kind: 'params', changes: { feeHostBps: 9000 } }]);
    const wb = voteWeight(ath(40_000), t.time);
    t.vote(bob, id, 'for');
    t.vote(bob, id, 'for');
    expect(t.proposal(id).tally).toEqual({ for: wb, against: 0n, abstain: 0n });
    expect(t.vote(bob, id, 'against')).toEqual({
      proposal: id,
      choice: 'against',
      weight: wb.toString(),
      changed: true,
    });
    expect(t.proposal(id).tally).toEqual({ for: 0n, against: wb, abstain: 0n });
    t.vote(bob, id, 'abstain');
    expect(t.proposal(id).tally).toEqual({ for: 0n, against: 0n, abstain: wb });
    expect(Object.keys(t.proposal(id).votes)).toEqual([bob.address]);
    // bob ends up against: with alice not voting, it is rejected
    t.vote(bob, id, 'against');
    t.at(t.proposal(id).votingEnds);
    expect(t.phase(id)).toBe('rejected');
  });

  it('weight bought or locked after creation does not vote; an increase after creation does not raise the vote', () => {
    const t = withLockers();
    const id = t.propose(alice, [{ kind: 'params', changes: { feeHostBps: 9000 } }]);
    const created = t.time;
    // host had no lock at creation: locking now gives no vote on this proposal
    t.expectRejectTx(host, 'dao.vote', { proposal: id, choice: 'for' }, 'UNAUTHORIZED');
    t.advance(MINUTE_MS);
    t.lock(host, ath(20_000), t.time + LOCK_MAX);
    const e = t.expectRejectTx(host, 'dao.vote', { proposal: id, choice: 'for' }, 'UNAUTHORIZED');
    expect(e.message).toMatch(/when this proposal was made/);
    // ATH bought after creation and locked: no vote either
    t.tx(host2, 'transfer', { to: stranger.address, amount: ath(5000) });
    t.lock(stranger, ath(5000), t.time + LOCK_MAX);
    t.expectRejectTx(stranger, 'dao.vote', { proposal: id, choice: 'against' }, 'UNAUTHORIZED');
    // bob adds 10 000 ATH and extends: his vote still weighs his lock as it was at creation
    t.advance(MINUTE_MS);
    t.lock(bob, ath(10_000), t.time + LOCK_MAX);
    expect(t.ledger.weightOf(bob.address, t.time)).toBe(ath(50_000));
    const wb = voteWeight(ath(40_000), created);
    expect(t.vote(bob, id, 'against')).toMatchObject({ weight: wb.toString() });
    expect(t.proposal(id).tally.against).toBe(wb);
    // and the new locks do count for a proposal made after them
    t.advance(MINUTE_MS);
    const later = t.propose(host, [{ kind: 'params', changes: { feeHostBps: 8800 } }]);
    t.advance(MINUTE_MS);
    expect(t.vote(host, later, 'for')).toMatchObject({
      weight: w(ath(20_000), LOCK_MAX - 2 * MINUTE_MS).toString(),
    });
    expect(t.vote(stranger, later, 'for')).toMatchObject({
      weight: w(ath(5000), LOCK_MAX - 2 * MINUTE_MS).toString(),
    });
    expect(t.vote(bob, later, 'for')).toMatchObject({
      weight: w(ath(50_000), LOCK_MAX - MINUTE_MS).toString(),
    });
  });

  it('voting after votingEnds, on an unknown or a closed proposal: refused', () => {
    const t = withLockers();
    const id = t.propose(alice, [{ kind: 'params', changes: { feeHostBps: 9000 } }]);
    t.expectRejectTx(alice, 'dao.vote', { proposal: 7, choice: 'for' }, 'NOT_FOUND');
    t.expectRejectTx(alice, 'dao.vote', { proposal: id, choice: 'maybe' }, 'INVALID_TRANSACTION');
    t.at(t.proposal(id).votingEnds - 1);
    t.vote(alice, id, 'for');
    t.at(t.proposal(id).votingEnds);
    const e = t.expectRejectTx(bob, 'dao.vote', { proposal: id, choice: 'against' }, 'CONFLICT');
    expect(e.message).toMatch(/ended/);
    t.expectRejectTx(alice, 'dao.vote', { proposal: id, choice: 'against' }, 'CONFLICT');
    expect(t.proposal(id).tally).toEqual({
      for: voteWeight(ath(90_000), t.proposal(id).createdAt),
      against: 0n,
      abstain: 0n,
    });
  });

  it('below quorum: marked rejected by dao.execute; abstentions count toward the quorum, not the majority', () => {
    const t = withLockers();
    // carol alone (10 ATH of weight) is far below 4% of the total
    const low = t.propose(bob, [{ kind: 'params', changes: { feeHostBps: 9000 } }]);
    t.vote(carol, low, 'for');
    t.advance(MINUTE_MS);
    // alice abstains, carol votes for: quorum reached, 10 for to 0 against passes
    const abst = t.propose(bob, [{ kind: 'params', changes: { feeHostBps: 9500 } }]);
    t.vote(carol, abst, 'for');
    t.vote(alice, abst, 'abstain');
    t.at(t.proposal(low).votingEnds);
    const ph = t.ledger.proposalPhase(t.proposal(low), t.time);
    expect(ph.turnout).toBe(voteWeight(ath(10), t.proposal(low).createdAt));
    expect(ph.turnout < ph.quorum).toBe(true);
    expect(ph).toMatchObject({ phase: 'rejected', passed: false });
    expect(t.execute(low, host3)).toEqual({ proposal: low, status: 'rejected' });
    expect(t.proposal(low).status).toBe('rejected');
    expect(t.phase(low)).toBe('rejected');
    t.at(t.proposal(abst).executableAt);
    expect(t.ledger.proposalPhase(t.proposal(abst), t.time)).toMatchObject({
      phase: 'executable',
      passed: true,
    });
    expect(t.execute(abst)).toEqual({ proposal: abst, status: 'executed' });
    expect(t.ledger.params.feeHostBps).toBe(9500);
    expect(t.proposal(low).status).toBe('rejected');
  });

  it('proposalPhase: quorum is inclusive, a tie fails, nothing voted fails', () => {
    const p: Proposal = {
      id: 0,
      title: 't',
      proposer: alice.address,
      actions: [],
      operational: false,
      createdAt: 0,
      createdHeight: 1,
      votingEnds: 100,
      executableAt: 200,
      totalWeight: 10_000n,
      votes: {},
      tally: { for: 0n, against: 0n, abstain: 0n },
      ratifiedBy: [],
      status: 'active',
      outcome: null,
    };
    const at = (tally: Proposal['tally'], t = 150, extra: Partial<Proposal> = {}, council = 0) =>
      proposalPhase({ ...p, ...extra, tally }, t, 400, council);
    expect(at({ for: 400n, against: 0n, abstain: 0n })).toEqual({
      phase: 'timelock',
      quorum: 400n,
      turnout: 400n,
      passed: true,
    });
    expect(at({ for: 399n, against: 0n, abstain: 0n }).phase).toBe('rejected');
    expect(at({ for: 1n, against: 0n, abstain: 399n }).phase).toBe('timelock');
    expect(at({ for: 300n, against: 300n, abstain: 0n }).phase).toBe('rejected');
    expect(at({ for: 300n, against: 301n, abstain: 0n }).phase).toBe('rejected');
    expect(at({ for: 0n, against: 0n, abstain: 0n }, 150, { totalWeight: 0n }).phase).toBe('rejected');
    expect(at({ for: 400n, against: 0n, abstain: 0n }, 99).phase).toBe('voting');
    expect(at({ for: 400n, against: 0n, abstain: 0n }, 199).phase).toBe('timelock');
    expect(at({ for: 400n, against: 0n, abstain: 0n }, 200).phase).toBe('executable');
    const op = { operational: true };
    expect(at({ for: 400n, against: 0n, abstain: 0n }, 200, op).phase).toBe('executable');
    expect(at({ for: 400n, against: 0n, abstain: 0n }, 200, op, 1).phase).toBe('awaiting-ratification');
    expect(
      at({ for: 400n, against: 0n, abstain: 0n }, 200, { ...op, ratifiedBy: [carol.address] }, 1).phase,
    ).toBe('executable');
    expect(at({ for: 400n, against: 0n, abstain: 0n }, 200, { status: 'executed' }).phase).toBe('executed');
    expect(at({ for: 400n, against: 0n, abstain: 0n }, 200, { status: 'failed' }).phase).toBe('failed');
  });

  it('the cut is the proposal block: a lock in an earlier block at the same time votes, a later one does not', () => {
    const t = new DaoNet();
    const t0 = t.time;
    t.lock(alice, ath(20_000), t0 + LOCK_MAX); // height 1
    t.lock(bob, ath(10_000), t0 + LOCK_MAX); // height 2
    const id = t.propose(alice, [{ kind: 'params', changes: { feeHostBps: 9000 } }]); // height 3, same time
    expect(t.proposal(id)).toMatchObject({ createdHeight: 3, createdAt: t0, totalWeight: ath(30_000) });
    t.lock(host, ath(10_000), t0 + LOCK_MAX); // height 4, same time: after the proposal
    t.lock(bob, ath(10_000), 0); // bob doubles his lock after the proposal
    t.advance(DAY_MS);
    expect(t.vote(alice, id, 'for')).toMatchObject({ weight: ath(20_000).toString() });
    expect(t.vote(bob, id, 'against')).toMatchObject({ weight: ath(10_000).toString() });
    t.expectRejectTx(host, 'dao.vote', { proposal: id, choice: 'against' }, 'UNAUTHORIZED');
    expect(t.proposal(id).tally).toEqual({ for: ath(20_000), against: ath(10_000), abstain: 0n });
  });

  it('weightAt / historicWeight / weightAtCreation read a lock as it stood', () => {
    const lock = {
      amount: 300n,
      end: 1000,
      history: [
        { height: 5, at: 100, amount: 100n, end: 500 },
        { height: 6, at: 200, amount: 200n, end: 1000 },
        { height: 7, at: 200, amount: 300n, end: 1000 },
      ],
    };
    expect(weightAtCreation(lock, 5, 150, 1000)).toBe(0n);
    expect(weightAtCreation(lock, 6, 150, 1000)).toBe(35n);
    expect(weightAtCreation(lock, 7, 200, 1000)).toBe(160n);
    expect(weightAtCreation(lock, 8, 200, 1000)).toBe(240n);
    expect(weightAtCreation(lock, 6, 500, 1000)).toBe(0n);
    expect(weightAtCreation(undefined, 8, 200, 1000)).toBe(0n);
    expect(weightAt(lock, 0, 1000)).toBe(300n);
    expect(weightAt(lock, 1000, 1000)).toBe(0n);
    expect(weightAt(undefined, 0, 1000)).toBe(0n);
    expect(historicWeight(lock, 99, 1000)).toBe(0n);
    expect(historicWeight(lock, 100, 1000)).toBe(40n);
    expect(historicWeight(lock, 199, 1000)).toBe(30n);
    expect(historicWeight(lock, 200, 1000)).toBe(240n);
    expect(historicWeight(lock, 1000, 1000)).toBe(0n);
    expect(historicWeight(undefined, 100, 1000)).toBe(0n);
  });
});

describe('dao.execute', () => {
  it('the headline: feeHostBps 8000 → 8500 passes, waits its timelock, executes, and the next lease settles 85/15', () => {
    const t = new DaoNet();
    t.onlineContainer(host, 1, ath(1));
    t.deposit(carol, ath(5));
    const t0 = t.time;
    t.lock(alice, ath(50_000), t0 + LOCK_MAX);
    t.lock(bob, ath(20_000), t0 + LOCK_MAX);
    t.advance(HOUR_MS);
    const created = t.time;
    expect(
      t.tx(alice, 'dao.propose', {
        title: 'fee split 85/15',
        actions: [{ kind: 'params', changes: { feeHostBps: 8500 } }],
      }),
    ).toEqual({ proposal: 0, votingEnds: created + VOTING, operational: false });
    const rem = LOCK_MAX - HOUR_MS;
    expect(t.proposal(0).totalWeight).toBe(w(ath(50_000), rem) + w(ath(20_000), rem));
    t.vote(alice, 0, 'for');
    t.vote(bob, 0, 'against');
    expect(t.proposal(0).tally).toEqual({
      for: w(ath(50_000), rem),
      against: w(ath(20_000), rem),
      abstain: 0n,
    });
    t.expectNotExecutable(0, 'voting');
    t.at(created + VOTING - 1);
    t.expectNotExecutable(0, 'voting');
    t.at(created + VOTING);
    expect(t.phase(0)).toBe('timelock');
    t.expectNotExecutable(0, 'timelock');
    t.at(created + VOTING + TIMELOCK - 1);
    t.expectNotExecutable(0, 'timelock');
    expect(t.ledger.params.feeHostBps).toBe(8000);
    // the timelock has run: anyone may execute, here someone with no ATH and no lock
    t.at(created + VOTING + TIMELOCK);
    expect(t.phase(0)).toBe('executable');
    expect(t.execute(0, stranger)).toEqual({ proposal: 0, status: 'executed' });
    expect(t.ledger.params).toEqual({ ...DEFAULT_PARAMS, version: 2, feeHostBps: 8500 });
    expect(t.proposal(0)).toMatchObject({ status: 'executed', outcome: 'executed' });
    t.expectNotExecutable(0, 'executed');
    expect(t.ledger.params.version).toBe(2);

    // the next lease: 1 ATH for one hour, 0.85 to the host, 0.15 to the treasury
    const treasury = t.ledger.treasury().balance;
    const { lease } = t.tx(carol, 'lease.open', leasePayload(host.address, 1, 3600, ath(1)));
    t.advance(HOUR_MS);
    t.tx(carol, 'lease.close', { lease });
    expect(t.ledger.lease(lease as string)).toMatchObject({
      charged: ath(1),
      hostShare: ath('0.85'),
      protocolShare: ath('0.15'),
    });
    expect(t.vestedTotal(host.address)).toBe(ath('0.85'));
    expect(t.ledger.treasury().balance - treasury).toBe(ath('0.15'));
    expect(t.ledger.dao.incomeSince).toBe(ath('0.15'));
    expect(t.ledger.account(carol.address)).toMatchObject({ balance: ath(5), escrow: ath(4) });
  });

  it('a treasury spend moves exactly the amount from the treasury to the recipient', () => {
    const t = withLockers();
    const amount = ath('1234.000000000000000567');
    const id = t.propose(alice, [{ kind: 'treasury', to: host3.address, amount }], 'grant');
    t.vote(alice, id, 'for');
    t.at(t.proposal(id).executableAt);
    const treasury = t.ledger.treasury().balance;
    const before = t.ledger.account(host3.address).balance;
    expect(t.execute(id, bob)).toEqual({ proposal: id, status: 'executed' });
    expect(t.ledger.treasury().balance).toBe(treasury - amount);
    expect(t.ledger.account(host3.address).balance).toBe(before + amount);
    expect(t.ledger.params.version).toBe(1); // no parameter changed
  });

  it('a parameter action that became invalid by execution time marks the proposal failed, applying nothing', () => {
    const t = withLockers();
    // valid now: fast vesting 100 days, below the 180 days of vesting
    const id = t.propose(alice, [
      { kind: 'treasury', to: host3.address, amount: ath(1) },
      { kind: 'params', changes: { checkerFastVestingMs: 100 * DAY_MS } },
    ]);
    t.vote(alice, id, 'for');
    // meanwhile the vesting period is cut to 50 days
    t.tx(governor, 'params.update', { changes: { checkerVestingMs: 50 * DAY_MS } });
    t.at(t.proposal(id).executableAt);
    const treasury = t.ledger.treasury().balance;
    expect(t.execute(id)).toEqual({ proposal: id, status: 'failed' });
    expect(t.proposal(id).status).toBe('failed');
    expect(t.proposal(id).outcome).toMatch(/checkerFastVestingMs/);
    expect(t.ledger.params).toEqual({ ...DEFAULT_PARAMS, version: 2, checkerVestingMs: 50 * DAY_MS });
    expect(t.ledger.treasury().balance).toBe(treasury);
    expect(t.ledger.account(host3.address).balance).toBe(ath(20_000));
    t.expectNotExecutable(id, 'failed');
  });

  it('a spend the treasury cannot pay any more by execution time fails', () => {
    const t = withLockers();
    const twoThirds = (t.ledger.treasury().balance * 2n) / 3n;
    const a = t.propose(alice, [{ kind: 'treasury', to: host2.address, amount: twoThirds }]);
    const b = t.propose(alice, [{ kind: 'treasury', to: host3.address, amount: twoThirds }]);
    t.vote(alice, a, 'for');
    t.vote(alice, b, 'for');
    t.at(t.proposal(b).executableAt);
    expect(t.execute(a)).toEqual({ proposal: a, status: 'executed' });
    const treasury = t.ledger.treasury().balance;
    expect(t.execute(b)).toEqual({ proposal: b, status: 'failed' });
    expect(t.ledger.treasury().balance).toBe(treasury);
    expect(t.ledger.account(host2.address).balance).toBe(ath(20_000) + twoThirds);
    expect(t.ledger.account(host3.address).balance).toBe(ath(20_000));
  });

  it('an unknown proposal: NOT_FOUND', () => {
    const t = withLockers();
    t.expectRejectTx(stranger, 'dao.execute', { proposal: 0 }, 'NOT_FOUND');
    t.expectRejectTx(stranger, 'dao.ratify', { proposal: 0 }, 'NOT_FOUND');
  });
});

describe('the council', () => {
  it('without a council, an operational change executes after its timelock, unratified', () => {
    const t = withLockers();
    const r = t.tx(alice, 'dao.propose', {
      title: 'shorter timelock',
      actions: [{ kind: 'params', changes: { timelockMs: DAY_MS } }],
    });
    expect(r.operational).toBe(true);
    const id = r.proposal as number;
    t.vote(alice, id, 'for');
    t.at(t.proposal(id).votingEnds);
    expect(t.ledger.councilMajority()).toBe(0);
    expect(t.phase(id)).toBe('timelock');
    t.at(t.proposal(id).executableAt);
    expect(t.execute(id)).toEqual({ proposal: id, status: 'executed' });
    expect(t.ledger.params).toMatchObject({ timelockMs: DAY_MS, version: 2 });
  });

  it('seats are filled by a council proposal; operational changes then need a majority of the filled seats', () => {
    const t = withLockers();
    const seat = t.propose(
      alice,
      [
        { kind: 'council', constituency: 'providers', member: carol.address },
        { kind: 'council', constituency: 'checkers', member: checkers[0].address },
      ],
      'seat the council',
    );
    expect(t.proposal(seat).operational).toBe(false);
    t.vote(alice, seat, 'for');
    t.at(t.proposal(seat).executableAt);
    expect(t.execute(seat)).toEqual({ proposal: seat, status: 'executed' });
    expect(t.ledger.dao.council).toEqual({
      providers: carol.address,
      checkers: checkers[0].address,
      indexers: null,
      holders: null,
    });
    expect(t.ledger.councilMajority()).toBe(2);

    t.advance(MINUTE_MS);
    const op = t.propose(bob, [{ kind: 'params', changes: { epochMs: 30 * MINUTE_MS } }], 'epoch 30 min');
    const econ = t.propose(bob, [{ kind: 'params', changes: { feeHostBps: 8200 } }], 'fees');
    const lost = t.propose(bob, [{ kind: 'params', changes: { checkerBanMs: DAY_MS } }], 'bans');
    expect(t.proposal(op).operational).toBe(true);
    expect(t.proposal(lost).operational).toBe(true);
    let e = t.expectRejectTx(carol, 'dao.ratify', { proposal: op }, 'CONFLICT');
    expect(e.message).toMatch(/still running/);
    t.vote(alice, op, 'for');
    t.vote(alice, econ, 'for');
    t.vote(alice, lost, 'against');
    t.at(t.proposal(op).votingEnds);
    expect(t.phase(op)).toBe('awaiting-ratification');
    // no ratification for an economic change, nor for one that lost its vote
    e = t.expectRejectTx(carol, 'dao.ratify', { proposal: econ }, 'CONFLICT');
    expect(e.message).toMatch(/no ratification/);
    e = t.expectRejectTx(carol, 'dao.ratify', { proposal: lost }, 'CONFLICT');
    expect(e.message).toMatch(/did not pass/);
    // the timelock has run, but ratification has not happened
    t.at(t.proposal(op).executableAt);
    expect(t.phase(op)).toBe('awaiting-ratification');
    t.expectNotExecutable(op, 'awaiting-ratification');
    for (const k of [stranger, alice, checkers[1]])
      t.expectRejectTx(k, 'dao.ratify', { proposal: op }, 'UNAUTHORIZED');
    expect(t.ratify(carol, op)).toEqual({ proposal: op, ratifications: 1, needed: 2 });
    t.expectRejectTx(carol, 'dao.ratify', { proposal: op }, 'CONFLICT');
    expect(t.phase(op)).toBe('awaiting-ratification');
    t.expectNotExecutable(op, 'awaiting-ratification');
    expect(t.ratify(checkers[0], op)).toEqual({ proposal: op, ratifications: 2, needed: 2 });
    expect(t.proposal(op).ratifiedBy).toEqual([carol.address, checkers[0].address]);
    expect(t.phase(op)).toBe('executable');
    expect(t.execute(op, host)).toEqual({ proposal: op, status: 'executed' });
    expect(t.execute(econ, host)).toEqual({ proposal: econ, status: 'executed' });
    expect(t.execute(lost, host)).toEqual({ proposal: lost, status: 'rejected' });
    expect(t.ledger.params).toEqual({
      ...DEFAULT_PARAMS,
      version: 3,
      epochMs: 30 * MINUTE_MS,
      feeHostBps: 8200,
    });
  });
  it('a member holding two seats ratifies once and counts once: operational changes do not deadlock', () => {
    const t = withLockers();
    const seat = t.propose(alice, [
      { kind: 'council', constituency: 'providers', member: carol.address },
      { kind: 'council', constituency: 'holders', member: carol.address },
    ]);
    t.vote(alice, seat, 'for');
    t.at(t.proposal(seat).executableAt);
    t.execute(seat);
    // one member, two seats: a majority of the members is carol alone
    expect(t.ledger.councilMajority()).toBe(1);
    const op = t.propose(alice, [{ kind: 'params', changes: { checkerMaxIncorrectPerWeek: 3 } }]);
    t.vote(alice, op, 'for');
    t.at(t.proposal(op).executableAt);
    t.expectNotExecutable(op, 'awaiting-ratification');
    expect(t.ratify(carol, op)).toEqual({ proposal: op, ratifications: 1, needed: 1 });
    expect(t.execute(op)).toEqual({ proposal: op, status: 'executed' });
    expect(t.ledger.params.checkerMaxIncorrectPerWeek).toBe(3);
    // a seat vacated by proposal (member null) no longer counts
    const vacate = t.propose(alice, [
      { kind: 'council', constituency: 'holders', member: null },
      { kind: 'council', constituency: 'indexers', member: bob.address },
    ]);
    t.vote(alice, vacate, 'for');
    t.at(t.proposal(vacate).executableAt);
    t.execute(vacate);
    expect(t.ledger.dao.council).toEqual({
      providers: carol.address,
      checkers: null,
      indexers: bob.address,
      holders: null,
    });
    expect(t.ledger.councilMajority()).toBe(2);
  });
});

describe('revenue share', () => {
  /**
   * alice and bob lock 3000 and 1000 ATH until two years after the end of epoch 0, so at that
   * end they weigh 1500 and 500; carol rents host's GPU for 10 minutes at 6 ATH/h: 1 ATH, of
   * which 0.2 is protocol income.
   */
  function withIncome(): { t: DaoNet; end0: number } {
    const t = new DaoNet();
    const end0 = GENESIS_TIME + EPOCH_MS;
    t.lock(alice, ath(3000), end0 + 2 * YEAR_MS);
    t.lock(bob, ath(1000), end0 + 2 * YEAR_MS);
    t.onlineContainer(host, 1, ath(6));
    t.deposit(carol, ath(2));
    const { lease } = t.tx(carol, 'lease.open', leasePayload(host.address, 1, 600, ath(6)));
    t.advance(10 * MINUTE_MS);
    t.tx(carol, 'lease.close', { lease });
    expect(t.ledger.lease(lease as string)).toMatchObject({ charged: ath(1), protocolShare: ath('0.2') });
    expect(t.ledger.dao.incomeSince).toBe(ath('0.2'));
    return { t, end0 };
  }

  it("pays revenueShareBps of the epoch's protocol income to lockers pro rata to weight, claimable at once", () => {
    const { t, end0 } = withIncome();
    const treasury = t.ledger.treasury().balance;
    const [r] = t.closeEpochsThrough(0);
    expect(t.time).toBe(end0);
    // 20% of 0.2 ATH = 0.04 ATH, split 1500 : 500
    expect(r!.revenueShared).toBe(ath('0.04').toString());
    expect(t.ledger.treasury().balance).toBe(treasury - ath('0.04'));
    expect(t.ledger.dao.incomeSince).toBe(0n);
    expect(t.vested(alice.address, 'revenue', end0)).toBe(ath('0.03'));
    expect(t.vested(bob.address, 'revenue', end0)).toBe(ath('0.01'));
    expect(t.ledger.vesting(alice.address)).toEqual([
      expect.objectContaining({ amount: ath('0.03'), kind: 'revenue', earnedAt: end0, unlockAt: end0 }),
    ]);
    expect(t.tx(alice, 'vesting.claim', {})).toEqual({
      claimed: ath('0.03').toString(),
      forfeited: '0',
    });
    expect(t.ledger.account(alice.address).balance).toBe(ath(97_000) + ath('0.03'));
    expect(t.ledger.vesting(alice.address)).toEqual([]);
    // no income since: the next epoch shares nothing
    const [r1] = t.closeEpochsThrough(1);
    expect(r1!.revenueShared).toBeUndefined();
    expect(t.vested(bob.address, 'revenue', end0 + EPOCH_MS)).toBe(0n);
    t.tx(bob, 'vesting.claim', {});
    expect(t.ledger.account(bob.address).balance).toBe(ath(49_000) + ath('0.01'));
  });

  it('weight locked after the epoch ended takes no share of it, even if the epoch is closed late', () => {
    const { t, end0 } = withIncome();
    t.at(end0 + MINUTE_MS);
    t.lock(host2, ath(10_000), t.time + YEAR_MS);
    t.lock(bob, ath(1000), 0); // bob doubles his lock after the end, too
    const r = t.tx(stranger, 'epoch.close', { epoch: 0 });
    expect(r.revenueShared).toBe(ath('0.04').toString());
    expect(t.vested(alice.address, 'revenue', end0)).toBe(ath('0.03'));
    expect(t.vested(bob.address, 'revenue', end0)).toBe(ath('0.01'));
    expect(t.vested(host2.address, 'revenue', end0)).toBe(0n);
  });

  it('without lockers, the share stays in the treasury', () => {
    const t = new DaoNet();
    t.onlineContainer(host, 1, ath(6));
    t.deposit(carol, ath(2));
    const { lease } = t.tx(carol, 'lease.open', leasePayload(host.address, 1, 600, ath(6)));
    t.advance(10 * MINUTE_MS);
    t.tx(carol, 'lease.close', { lease });
    const treasury = t.ledger.treasury().balance;
    const [r] = t.closeEpochsThrough(0);
    expect(r!.revenueShared).toBeUndefined();
    expect(t.ledger.treasury().balance).toBe(treasury);
    expect(t.ledger.dao.incomeSince).toBe(0n);
  });
});
