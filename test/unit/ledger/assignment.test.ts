import { describe, expect, it } from 'vitest';
import { ath, keyPairFromSeed, sha256Hex, type KeyPair } from '../../../src/core/index.js';
import {
  Ledger,
  LedgerState,
  genesisEpochSeed,
  nextEpochSeed,
  rankCheckers,
} from '../../../src/ledger/index.js';
import {
  CHAIN_ID,
  DAY_MS,
  GENESIS_TIME,
  MINUTE_MS,
  TestNet,
  conserved,
  host,
  host2,
  host3,
  makeGenesis,
  registerPayload,
} from './fixtures.js';

/** Seven checkers: enough for 2N+1 = 3 assigned and stand-ins to reassign to. */
const SEVEN: KeyPair[] = Array.from({ length: 7 }, (_, i) => keyPairFromSeed(`test:checker7-${i}`));
const byAddress = new Map(SEVEN.map((k) => [k.address, k]));
const key = (address: string): KeyPair => byAddress.get(address)!;

/** Seven checkers, `host` registered, the clock a minute past genesis. */
function net7(params?: Record<string, unknown>): TestNet {
  const t = new TestNet(makeGenesis(params, { checkers: SEVEN }));
  t.tx(host, 'container.register', registerPayload(1, ath(1)));
  t.advance(MINUTE_MS);
  return t;
}

/** Every genesis checker in the draw order of `container` this epoch. */
function ranked(t: TestNet, container: string): string[] {
  return rankCheckers(t.ledger.epochSeed(), container, t.ledger.chain.checkers);
}

const ids = (n: number) =>
  Array.from({ length: n }, (_, i) => `ath1${sha256Hex(`container-${i}`).slice(0, 40)}`);

describe('epoch seed', () => {
  it('starts from the chain id and genesis time, and chains each epoch.close with the previous block hash', () => {
    const t = new TestNet();
    const s0 = genesisEpochSeed(CHAIN_ID, GENESIS_TIME);
    expect(s0).toMatch(/^[0-9a-f]{64}$/);
    expect(s0).toBe(sha256Hex(`aethir-epoch-seed\u0000${CHAIN_ID}${GENESIS_TIME}`));
    expect(t.ledger.epochSeed()).toBe(s0);
    t.closeEpochsThrough(0);
    const block = t.accepted[t.accepted.length - 1]!;
    const s1 = nextEpochSeed(s0, block.prevHash, 0);
    expect(s1).toBe(sha256Hex(`${s0}\u0000${block.prevHash}\u0000${0}`));
    expect(t.ledger.epochSeed()).toBe(s1);
    expect(t.ledger.economics.epochSeed).toBe(s1);
    t.closeEpochsThrough(1);
    expect(t.ledger.epochSeed()).toBe(nextEpochSeed(s1, t.accepted[t.accepted.length - 1]!.prevHash, 1));
  });

  it('a different previous block gives a different seed (and the replay needs the same hashes)', () => {
    const t = new TestNet();
    t.closeEpochsThrough(0);
    const a = t.accepted[0]!;
    const other = Ledger.fromGenesis(t.genesis);
    other.apply(a.tx, { ...a, prevHash: '00'.repeat(32) });
    expect(other.epochSeed()).not.toBe(t.ledger.epochSeed());
    const same = Ledger.fromGenesis(t.genesis);
    same.apply(a.tx, a);
    expect(same.root()).toBe(t.ledger.root());
  });

  it('state written before the seed existed reads the genesis seed, and older containers and params read with defaults', () => {
    const t = new TestNet();
    t.tx(host, 'container.register', registerPayload(1, ath(1)));
    const legacy = [...t.ledger.state.entries()].map(([k, v]): [string, unknown] => {
      if (k === 'econ') {
        const { epochSeed: _s, ...rest } = v as Record<string, unknown>;
        return [k, rest];
      }
      if (k === 'params') {
        const {
          checkerQuorumN: _n,
          checkerReassignMs: _r,
          simulatedHardware: _h,
          slashLocationBps: _l,
          ...rest
        } = v as Record<string, unknown>;
        return [k, rest];
      }
      if (k.startsWith('ctr/')) {
        const {
          checks: _c,
          incidents: _i,
          rep: _r,
          suspendedReason: _s,
          ...rest
        } = v as Record<string, unknown>;
        return [k, rest];
      }
      return [k, v];
    });
    const old = Ledger.fromState(LedgerState.fromEntries(legacy));
    const root = old.root();
    expect(old.epochSeed()).toBe(genesisEpochSeed(CHAIN_ID, GENESIS_TIME));
    expect(old.params).toMatchObject({
      checkerQuorumN: 1,
      checkerReassignMs: 120_000,
      simulatedHardware: false,
    });
    const c = old.container(host.address)!;
    expect(c).toMatchObject({ suspendedReason: null, checks: {}, incidents: [] });
    expect(c.rep.upMs).toBe(0);
    expect(old.reputationOf(c).score).toBe(1);
    expect(old.assignedCheckers(host.address, t.time)).toHaveLength(3);
    // reading writes nothing
    expect(old.root()).toBe(root);
  });
});

describe('checker assignment', () => {
  it('is deterministic: the same seed, container and checkers give the same order, whatever the input order', () => {
    const seed = genesisEpochSeed(CHAIN_ID, GENESIS_TIME);
    const all = SEVEN.map((k) => k.address);
    const r = rankCheckers(seed, host.address, all);
    expect([...r].sort()).toEqual([...all].sort());
    expect(rankCheckers(seed, host.address, [...all].reverse())).toEqual(r);
    const hashes = r.map((c) => sha256Hex(`${seed}\u0000${host.address}\u0000${c}`));
    expect([...hashes].sort()).toEqual(hashes);
    // two nodes from the same genesis assign alike
    const a = net7();
    const b = net7();
    expect(a.ledger.assignedCheckers(host.address, a.time)).toEqual(
      b.ledger.assignedCheckers(host.address, b.time),
    );
    expect(a.ledger.assignedCheckers(host.address, a.time)).toEqual(r.slice(0, 3));
    expect(a.ledger.quorumOf(host.address, a.time)).toBe(2);
  });

  it('differs across epochs: the seed changes at epoch.close', () => {
    const t = net7();
    const containers = ids(20);
    const before = containers.map((c) => t.ledger.assignedCheckers(c, t.time).join());
    t.closeEpochsThrough(0);
    const after = containers.map((c) => t.ledger.assignedCheckers(c, t.time).join());
    const changed = before.filter((s, i) => s !== after[i]).length;
    expect(changed).toBeGreaterThan(10);
  });

  it('spreads the work roughly evenly: 7 checkers, 300 containers, each checker on 25%..60% of them', () => {
    const t = net7();
    const count = new Map<string, number>();
    for (const c of ids(300))
      for (const a of t.ledger.assignedCheckers(c, t.time)) count.set(a, (count.get(a) ?? 0) + 1);
    expect(count.size).toBe(7);
    for (const [, n] of count) {
      expect(n / 300).toBeGreaterThanOrEqual(0.25);
      expect(n / 300).toBeLessThanOrEqual(0.6);
    }
    expect([...count.values()].reduce((s, n) => s + n, 0)).toBe(900);
  });

  it('refuses a report from a checker not assigned to the container, leaving the state root unchanged', () => {
    const t = net7();
    const order = ranked(t, host.address);
    const outsider = key(order[5]!);
    const e = t.expectRejectTx(
      outsider,
      'checker.report',
      { container: host.address, check: 'liveness', ok: true, observedAt: t.time },
      'UNAUTHORIZED',
    );
    expect(e.message).toBe(`checker ${outsider.address} is not assigned to container rig in epoch 0`);
    // assigned ones may report
    expect(t.reportBy(key(order[0]!), host.address, true)).toMatchObject({ decided: false });
  });

  it("reassigns an unresponsive checker's task: checkerReassignMs after the first vote the 4th-ranked checker may vote and decide", () => {
    const t = net7();
    const order = ranked(t, host.address);
    const fourth = key(order[3]!);
    const report = { container: host.address, check: 'liveness', ok: true };
    t.reportBy(key(order[0]!), host.address, true);
    const first = t.time;
    expect(t.ledger.round(host.address, 'liveness')!.firstVoteAt).toBe(first);
    t.advance(120_000 - 1);
    t.expectRejectTx(fourth, 'checker.report', { ...report, observedAt: t.time }, 'UNAUTHORIZED');
    expect(t.ledger.assignedCheckers(host.address, t.time, 'liveness')).toEqual(order.slice(0, 3));
    t.advance(1);
    expect(t.ledger.assignedCheckers(host.address, t.time, 'liveness')).toEqual(order.slice(0, 4));
    // the base set and the quorum stay: a majority of the 2N+1
    expect(t.ledger.assignedCheckers(host.address, t.time)).toEqual(order.slice(0, 3));
    expect(t.ledger.quorumOf(host.address, t.time)).toBe(2);
    expect(t.reportBy(fourth, host.address, true)).toMatchObject({
      decided: true,
      ok: true,
      status: 'online',
    });
    // the next round starts without a first vote, so without reassignment
    expect(t.ledger.round(host.address, 'liveness')!.firstVoteAt).toBeNull();
    expect(t.ledger.assignedCheckers(host.address, t.time, 'liveness')).toEqual(order.slice(0, 3));
    // one more per further period, never more than there are checkers
    t.reportBy(key(order[1]!), host.address, false);
    t.advance(2 * 120_000);
    expect(t.ledger.assignedCheckers(host.address, t.time, 'liveness')).toEqual(order.slice(0, 5));
    t.advance(100 * 120_000);
    expect(t.ledger.assignedCheckers(host.address, t.time, 'liveness')).toEqual(order);
    // rounds of other checks are not affected
    expect(t.ledger.assignedCheckers(host.address, t.time, 'capacity')).toEqual(order.slice(0, 3));
  });

  it('N = 2: five checkers are assigned and three of them decide', () => {
    const t = net7({ checkerQuorumN: 2 });
    const order = ranked(t, host.address);
    expect(t.ledger.assignedCheckers(host.address, t.time)).toEqual(order.slice(0, 5));
    expect(t.ledger.quorumOf(host.address, t.time)).toBe(3);
    expect(t.reportBy(key(order[4]!), host.address, true)).toMatchObject({ decided: false });
    expect(t.reportBy(key(order[0]!), host.address, false)).toMatchObject({ decided: false });
    expect(t.reportBy(key(order[1]!), host.address, true)).toMatchObject({ decided: false });
    expect(t.reportBy(key(order[2]!), host.address, true)).toMatchObject({ decided: true, ok: true });
    t.expectRejectTx(
      key(order[5]!),
      'checker.report',
      { container: host.address, check: 'liveness', ok: true, observedAt: t.time },
      'UNAUTHORIZED',
    );
    // N = 0: one checker decides alone
    const solo = net7({ checkerQuorumN: 0 });
    const o = ranked(solo, host.address);
    expect(solo.ledger.assignedCheckers(host.address, solo.time)).toEqual([o[0]]);
    expect(solo.reportBy(key(o[0]!), host.address, true)).toMatchObject({ decided: true });
  });

  it('counts votes cast before the epoch changed, by a checker no longer assigned', () => {
    const t = net7({ epochMs: MINUTE_MS, checkerReassignMs: DAY_MS });
    t.tx(host2, 'container.register', registerPayload(1, ath(1), 'rig2'));
    t.tx(host3, 'container.register', registerPayload(1, ath(1), 'rig3'));
    const before = new Map([host, host2, host3].map((h) => [h.address, ranked(t, h.address).slice(0, 3)]));
    // every container gets one vote from its first-ranked checker in epoch 0
    for (const [c, set] of before) t.reportBy(key(set[0]!), c, true);
    t.closeEpochsThrough(0);
    // a container whose epoch-0 voter is not assigned any more
    const target = [...before].find(([c, set]) => !t.ledger.assignedCheckers(c, t.time).includes(set[0]!));
    expect(target, "some epoch-0 voter dropped out of its container's set").toBeDefined();
    const [c, set] = target!;
    const gone = key(set[0]!);
    t.expectRejectTx(
      gone,
      'checker.report',
      { container: c, check: 'liveness', ok: true, observedAt: t.time },
      'UNAUTHORIZED',
    );
    const now = t.ledger.assignedCheckers(c, t.time);
    expect(t.reportBy(key(now[0]!), c, true)).toMatchObject({ decided: true, ok: true });
    expect(t.ledger.checker(gone.address)!.correctTotal).toBe(1);
  });
});

describe('banned checkers', () => {
  it('are never assigned while banned, and are assigned again after the ban', () => {
    const t = net7();
    const order = ranked(t, host.address);
    const liar = key(order[0]!);
    for (let i = 0; i < 2; i++) {
      t.advance(MINUTE_MS);
      t.reportBy(liar, host.address, false);
      t.reportBy(key(order[1]!), host.address, true);
      t.reportBy(key(order[2]!), host.address, true);
    }
    const until = t.ledger.checker(liar.address)!.bannedUntil;
    expect(until).toBe(t.time + 30 * DAY_MS);
    for (const c of ids(300)) expect(t.ledger.assignedCheckers(c, t.time)).not.toContain(liar.address);
    for (const c of ids(50)) expect(t.ledger.assignedCheckers(c, until - 1)).not.toContain(liar.address);
    expect(t.ledger.assignedCheckers(host.address, until)).toContain(liar.address);
  });

  it('a lying checker is outvoted, counted incorrect, banned after its second strike, and replaced', () => {
    const t = net7();
    const order = ranked(t, host.address);
    const [liar, h1, h2, stand] = order.slice(0, 4).map(key) as [KeyPair, KeyPair, KeyPair, KeyPair];
    // an honest container: the liar says it is offline, twice, and is outvoted both times
    t.reportBy(h1, host.address, true);
    t.reportBy(h2, host.address, true);
    expect(t.ledger.container(host.address)!.status).toBe('online');
    for (let strike = 1; strike <= 2; strike++) {
      t.advance(10 * MINUTE_MS);
      expect(t.reportBy(liar, host.address, false, 'liveness', { reason: 'no answer' })).toMatchObject({
        decided: false,
      });
      t.reportBy(h1, host.address, true);
      expect(t.reportBy(h2, host.address, true)).toMatchObject({ decided: true, ok: true, status: 'online' });
      expect(t.ledger.checker(liar.address)!.incorrectTotal).toBe(strike);
    }
    const c = t.ledger.container(host.address)!;
    // never punished
    expect(c).toMatchObject({ status: 'online', slashed: 0n, suspended: false, incidents: [] });
    expect(c.checks.liveness).toMatchObject({ ok: true, reason: 'the container answered its checkers' });
    const rec = t.ledger.checker(liar.address)!;
    expect(rec.bannedUntil).toBe(t.time + 30 * DAY_MS);
    expect([
      t.ledger.checker(h1.address)!.incorrectTotal,
      t.ledger.checker(h2.address)!.incorrectTotal,
    ]).toEqual([0, 0]);
    // its next report is refused, and the next-ranked checker takes its place
    t.advance(MINUTE_MS);
    const e = t.expectRejectTx(
      liar,
      'checker.report',
      { container: host.address, check: 'liveness', ok: false, observedAt: t.time },
      'UNAUTHORIZED',
    );
    expect(e.message).toMatch(/suspended/);
    expect(t.ledger.assignedCheckers(host.address, t.time)).toEqual([h1, h2, stand].map((k) => k.address));
    t.reportBy(stand, host.address, true);
    expect(t.reportBy(h1, host.address, true)).toMatchObject({ decided: true, ok: true });
    // (correct answers on one question are credited once per epoch: this one was already)
    expect(t.ledger.round(host.address, 'liveness')!.prev!.voters).toContain(stand.address);
    conserved(t);
  });
});
