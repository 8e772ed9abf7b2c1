import { describe, expect, it } from 'vitest';
import { ath } from '../../../src/core/index.js';
import {
  CHECKER_POOL,
  DAY_MS,
  GENESIS_TIME,
  MINUTE_MS,
  TestNet,
  bal,
  checkers,
  conserved,
  host,
  host2,
  makeGenesis,
  registerPayload,
} from './fixtures.js';

const G = GENESIS_TIME;
const [c0, c1, c2] = checkers;
const CHECKER_VEST = 180 * DAY_MS;
const FAST = 30 * DAY_MS;

function rec(t: TestNet, i: 0 | 1 | 2) {
  return t.ledger.checker(checkers[i].address)!;
}
/** host registered (pending), clock one minute past genesis */
function net(params?: Record<string, unknown>, pools?: { rewards: bigint; checkers: bigint }): TestNet {
  const t = new TestNet(makeGenesis(params, pools ? { pools } : {}));
  t.tx(host, 'container.register', registerPayload(1, ath(1)));
  t.tx(host2, 'container.register', registerPayload(1, ath(1)));
  t.advance(MINUTE_MS);
  return t;
}

describe('checker rounds', () => {
  it('2 of 3 decide: the agreeing checkers are counted correct, the dissenting one incorrect', () => {
    const t = net();
    const T = t.time;
    expect(t.report(host.address, true, 0)).toMatchObject({ decided: false });
    expect(t.report(host.address, false, 2)).toMatchObject({ decided: false });
    expect(t.report(host.address, true, 1)).toMatchObject({ decided: true, ok: true, status: 'online' });
    expect(rec(t, 0)).toMatchObject({ day: 0, correct: 1, correctTotal: 1, incorrectTotal: 0 });
    expect(rec(t, 1)).toMatchObject({ day: 0, correct: 1, correctTotal: 1, incorrectTotal: 0 });
    expect(rec(t, 2)).toMatchObject({
      correct: 0,
      correctTotal: 0,
      incorrectTotal: 1,
      incorrectAt: [T],
      bannedUntil: 0,
    });
    // the votes of each check kind are separate rounds
    t.advance(MINUTE_MS);
    t.report(host.address, false, 0, 'capacity');
    expect(t.ledger.round(host.address, 'liveness')!.votes).toEqual({});
    expect(Object.keys(t.ledger.round(host.address, 'capacity')!.votes)).toEqual([c0.address]);
    conserved(t);
  });

  it('a late vote (observed before the round opened) is judged against the previous outcome', () => {
    const t = net();
    const opened1 = t.time;
    t.report(host.address, true, 0);
    t.report(host.address, true, 1); // decided "online" at opened1: the next round opens then
    t.advance(30_000);
    // checker 2 observed it up before the new round: correct, and not a vote in the new round
    expect(t.report(host.address, true, 2, 'liveness', opened1 - 1)).toEqual({
      container: host.address,
      late: true,
    });
    expect(rec(t, 2)).toMatchObject({ correct: 1, incorrectTotal: 0 });
    expect(t.ledger.round(host.address, 'liveness')!.votes).toEqual({});
    // a second round decides "offline"; a late dissent on it is incorrect, but a missed failure is
    // not a strike (only a false accusation is)
    t.advance(MINUTE_MS);
    const opened2 = t.time;
    t.report(host.address, false, 0);
    t.report(host.address, false, 1);
    t.advance(MINUTE_MS);
    t.report(host.address, true, 2, 'liveness', opened2 - 10);
    expect(rec(t, 2)).toMatchObject({ correct: 1, incorrectTotal: 1, incorrectAt: [] });
    // a vote observed before the previous round opened is too late to count at all
    const before = rec(t, 2);
    expect(t.report(host.address, false, 2, 'liveness', opened1 - 1)).toMatchObject({ late: true });
    expect(rec(t, 2)).toEqual(before);
  });

  it('a late vote cannot be counted twice, nor add to a vote already counted in that round', () => {
    const t = net();
    const opened = t.time;
    t.report(host.address, true, 0);
    t.report(host.address, true, 1);
    t.advance(MINUTE_MS);
    // checker 0 already voted in the decided round: re-sending its observation counts nothing
    for (let i = 0; i < 3; i++) t.report(host.address, true, 0, 'liveness', opened - 1);
    expect(rec(t, 0)).toMatchObject({ correct: 1, correctTotal: 1 });
    // checker 2's late vote counts once
    for (let i = 0; i < 3; i++) t.report(host.address, true, 2, 'liveness', opened - 1);
    expect(rec(t, 2)).toMatchObject({ correct: 1, correctTotal: 1 });
  });

  it('2 incorrect reports within 7 days ban a checker for checkerBanMs: its reports are refused', () => {
    const t = net();
    // first incorrect report
    t.report(host.address, true, 0);
    t.report(host.address, false, 2);
    t.report(host.address, true, 1);
    // exactly 7 days later the first one has left the window: no ban
    t.advance(7 * DAY_MS);
    t.report(host.address, true, 0);
    t.report(host.address, false, 2);
    t.report(host.address, true, 1);
    expect(rec(t, 2)).toMatchObject({ bannedUntil: 0, incorrectTotal: 2 });
    // a second one within the week: banned for 30 days
    t.advance(6 * DAY_MS);
    t.report(host.address, true, 0);
    t.report(host.address, false, 2);
    const bannedAt = t.time;
    t.report(host.address, true, 1);
    expect(rec(t, 2)).toMatchObject({
      bannedUntil: bannedAt + 30 * DAY_MS,
      incorrectAt: [],
      incorrectTotal: 3,
    });
    t.advance(MINUTE_MS);
    const e = t.expectRejectTx(
      c2,
      'checker.report',
      { container: host.address, check: 'liveness', ok: true, observedAt: t.time },
      'UNAUTHORIZED',
    );
    expect(e.message).toMatch(/suspended/);
    t.at(bannedAt + 30 * DAY_MS - 1);
    t.expectRejectTx(
      c2,
      'checker.report',
      { container: host.address, check: 'capacity', ok: true, observedAt: t.time },
      'UNAUTHORIZED',
    );
    t.at(bannedAt + 30 * DAY_MS);
    t.report(host.address, true, 2);
  });

  it('dissent on capacity, location and QoS is not a strike: no incorrectAt, no ban; a false liveness accusation is', () => {
    const t = net();
    const strikesAllowed = t.ledger.params.checkerMaxIncorrectPerWeek;
    expect(strikesAllowed).toBe(2);
    // checker 2 dissents from checkers 0 and 1 on every round of the independent measurements,
    // both ways (says "failed" when they say passed, and "passed" when they say failed), twice
    // as often as a week's strikes allow
    let dissents = 0;
    for (const check of ['capacity', 'location', 'qos'] as const)
      for (let i = 0; i < 2 * strikesAllowed; i++) {
        const majority = i % 2 === 0;
        t.advance(MINUTE_MS);
        expect(t.report(host.address, majority, 0, check)).toMatchObject({ decided: false });
        expect(t.report(host.address, !majority, 2, check)).toMatchObject({ decided: false });
        expect(t.report(host.address, majority, 1, check)).toMatchObject({ decided: true, ok: majority });
        dissents++;
        expect(rec(t, 2), `${check} round ${i}`).toMatchObject({
          incorrectTotal: dissents,
          incorrectAt: [],
          bannedUntil: 0,
        });
      }
    expect(dissents).toBe(12);
    // still a checker in good standing: its next report is accepted
    t.advance(MINUTE_MS);
    expect(t.report(host.address, true, 2, 'capacity')).toMatchObject({ decided: false });
    // a false liveness accusation ("down" when the majority saw it up) is a strike...
    t.advance(MINUTE_MS);
    t.report(host.address, true, 0);
    t.report(host.address, false, 2);
    const first = t.time;
    expect(t.report(host.address, true, 1)).toMatchObject({ decided: true, ok: true });
    expect(rec(t, 2)).toMatchObject({ incorrectTotal: 13, incorrectAt: [first], bannedUntil: 0 });
    // ...and the week's second one bans it
    t.advance(MINUTE_MS);
    t.report(host.address, true, 0);
    t.report(host.address, false, 2);
    const second = t.time;
    t.report(host.address, true, 1);
    expect(rec(t, 2)).toMatchObject({
      incorrectTotal: 14,
      incorrectAt: [],
      bannedUntil: second + 30 * DAY_MS,
    });
    // the agreeing checkers were never struck
    for (const i of [0, 1] as const) expect(rec(t, i)).toMatchObject({ incorrectTotal: 0, incorrectAt: [] });
  });

  it('checkerMaxIncorrectPerWeek and checkerBanMs are parameters', () => {
    const t = net({ checkerMaxIncorrectPerWeek: 1, checkerBanMs: DAY_MS });
    t.report(host.address, true, 0);
    t.report(host.address, false, 2);
    t.report(host.address, true, 1);
    expect(rec(t, 2).bannedUntil).toBe(t.time + DAY_MS);
  });
});

describe('checker rewards', () => {
  /** Day 0: checker 0 gets 2 correct reports, checkers 1 and 2 one each. */
  function day0(t: TestNet): void {
    t.report(host.address, true, 0);
    t.report(host.address, true, 1); // liveness: c0, c1 correct
    t.advance(MINUTE_MS);
    t.report(host.address, true, 0, 'capacity');
    t.report(host.address, true, 2, 'capacity'); // capacity passed: c0, c2 correct
    expect([0, 1, 2].map((i) => rec(t, i as 0 | 1 | 2).correct)).toEqual([2, 1, 1]);
  }

  it('the epoch ending a day shares checkerPoolPerDay pro rata to correct reports, vesting 180 days', () => {
    const t = net();
    day0(t);
    const early = t.closeEpochsThrough(94);
    for (const r of early) expect(r.checkerDay).toBeUndefined();
    expect(t.ledger.checkerPool().balance).toBe(CHECKER_POOL);
    const [last] = t.closeEpochsThrough(95); // ends at genesis + 1 day
    expect(last).toMatchObject({ checkerDay: 0, checkerRewards: ath(50_000).toString() });
    expect(t.ledger.economics.lastCheckerDay).toBe(0);
    const unlock = G + DAY_MS + CHECKER_VEST;
    expect(t.vested(c0.address, 'checker', unlock)).toBe(ath(25_000));
    expect(t.vested(c1.address, 'checker', unlock)).toBe(ath(12_500));
    expect(t.vested(c2.address, 'checker', unlock)).toBe(ath(12_500));
    expect(t.ledger.vesting(c0.address)[0]).toMatchObject({ earnedAt: G + DAY_MS, unlockAt: unlock });
    expect(t.ledger.checkerPool().balance).toBe(CHECKER_POOL - ath(50_000));
    // day 1: only checkers 1 and 2 report (correctly): they share the whole day's pool
    t.report(host.address, false, 1);
    t.report(host.address, false, 2); // idle: offline, no slash
    const day1 = t.closeEpochsThrough(191);
    expect(day1.filter((r) => r.checkerDay !== undefined)).toEqual([
      expect.objectContaining({ checkerDay: 1, checkerRewards: ath(50_000).toString() }),
    ]);
    expect(t.vested(c1.address, 'checker', unlock + DAY_MS)).toBe(ath(25_000));
    expect(t.vested(c2.address, 'checker', unlock + DAY_MS)).toBe(ath(25_000));
    // day 2: no correct reports, nothing paid
    const [day2] = t.closeEpochsThrough(287).slice(-1);
    expect(day2).toMatchObject({ checkerDay: 2, checkerRewards: '0' });
    expect(t.ledger.checkerPool().balance).toBe(CHECKER_POOL - ath(100_000));
    conserved(t);
  });

  it('a banned checker earns no day rewards; the others share the whole pool', () => {
    const t = net({ epochMs: DAY_MS });
    day0(t);
    // checker 2 falsely accuses twice
    for (const c of [host, host2]) {
      t.advance(MINUTE_MS);
      t.report(c.address, true, 0);
      t.report(c.address, false, 2);
      t.report(c.address, true, 1);
    }
    expect(rec(t, 2).bannedUntil).toBeGreaterThan(G + DAY_MS);
    // the second round on each container falls in the same epoch: its correct answers are not
    // credited again (only the dissenter's incorrect one counts)
    expect([0, 1, 2].map((i) => rec(t, i as 0 | 1 | 2).correct)).toEqual([3, 2, 1]);
    const [r] = t.closeEpochsThrough(0);
    const unlock = G + DAY_MS + CHECKER_VEST;
    expect(t.vested(c0.address, 'checker', unlock)).toBe((ath(50_000) * 3n) / 5n);
    expect(t.vested(c1.address, 'checker', unlock)).toBe((ath(50_000) * 2n) / 5n);
    expect(t.ledger.vesting(c2.address)).toEqual([]);
    const paid = ath(50_000);
    expect(r!.checkerRewards).toBe(paid.toString());
    expect(t.ledger.checkerPool().balance).toBe(CHECKER_POOL - paid);
    conserved(t);
  });

  it('the day pool is capped at what the checker pool holds', () => {
    const t = net({ epochMs: DAY_MS }, { rewards: 0n, checkers: ath(10_000) });
    day0(t);
    expect(t.closeEpochsThrough(0)[0]!.checkerRewards).toBe(ath(10_000).toString());
    expect(t.ledger.checkerPool().balance).toBe(0n);
    expect(t.vested(c0.address, 'checker', G + DAY_MS + CHECKER_VEST)).toBe(ath(5000));
  });

  it('claims: full after checkerVestingMs; fast after checkerFastVestingMs pays 25%, 75% back to the pool', () => {
    const t = net({ epochMs: DAY_MS });
    day0(t);
    t.closeEpochsThrough(0);
    const earned = G + DAY_MS;
    const pool0 = t.ledger.checkerPool().balance;
    t.at(earned + FAST - 1);
    t.expectRejectTx(c0, 'vesting.claim', { fast: true }, 'CONFLICT');
    t.expectRejectTx(c0, 'vesting.claim', {}, 'CONFLICT');
    t.at(earned + FAST);
    const b0 = bal(t, c0.address);
    expect(t.tx(c0, 'vesting.claim', { fast: true })).toEqual({
      claimed: ath(6250).toString(),
      forfeited: ath(18_750).toString(),
    });
    expect(bal(t, c0.address)).toBe(b0 + ath(6250));
    expect(t.ledger.vesting(c0.address)).toEqual([]);
    expect(t.ledger.checkerPool().balance).toBe(pool0 + ath(18_750));
    // without `fast`, nothing is claimable before 180 days
    const e = t.expectRejectTx(c1, 'vesting.claim', {}, 'CONFLICT');
    expect(e.message).toMatch(/nothing is claimable/);
    t.at(earned + CHECKER_VEST);
    const b1 = bal(t, c1.address);
    expect(t.tx(c1, 'vesting.claim', {})).toEqual({ claimed: ath(12_500).toString(), forfeited: '0' });
    expect(bal(t, c1.address)).toBe(b1 + ath(12_500));
    // `fast` on an unlocked entry forfeits nothing
    expect(t.tx(c2, 'vesting.claim', { fast: true })).toEqual({
      claimed: ath(12_500).toString(),
      forfeited: '0',
    });
    conserved(t);
  });
});

describe('checker rewards cannot be farmed', () => {
  it('a colluding majority deciding round after round on one container is credited once per epoch', () => {
    const t = net();
    for (let i = 0; i < 5; i++) {
      t.advance(MINUTE_MS);
      t.report(host.address, i % 2 === 0, 0);
      t.report(host.address, i % 2 === 0, 1);
    }
    expect(rec(t, 0).correct).toBe(1);
    expect(rec(t, 1).correct).toBe(1);
    // the next epoch credits again
    t.closeEpochsThrough(0);
    t.advance(MINUTE_MS);
    t.report(host.address, true, 0);
    t.report(host.address, true, 1);
    expect(rec(t, 0).correctTotal).toBe(2);
  });
});

describe('checker days are paid whatever the epoch length', () => {
  it('with 7-hour epochs, every day that ended is paid once', () => {
    const t = net({ epochMs: 7 * 3_600_000 });
    t.report(host.address, true, 0);
    t.report(host.address, true, 1);
    // epochs end at 7h, 14h, 21h, 28h (day 0 ended), 35h, 42h, 49h (day 1 ended)
    const results = t.closeEpochsThrough(6);
    const paidDays = results.filter((r) => r.checkerDay !== undefined).map((r) => r.checkerDay);
    expect(paidDays).toEqual([0, 1]);
    expect(t.ledger.economics.lastCheckerDay).toBe(1);
    // day 0 had correct reports: its pool went to c0 and c1; day 1 had none: its pool stayed
    expect(t.ledger.checkerPool().balance).toBe(CHECKER_POOL - ath(50_000));
    conserved(t);
  });
});
