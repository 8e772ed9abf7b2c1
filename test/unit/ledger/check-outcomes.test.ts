import { describe, expect, it } from 'vitest';
import { ath } from '../../../src/core/index.js';
import { MAX_INCIDENTS, type CheckKind } from '../../../src/ledger/index.js';
import {
  FRANKFURT,
  H100,
  MINUTE_MS,
  TestNet,
  alice,
  checkers,
  conserved,
  governor,
  escrow,
  gpuSpec,
  host,
  host2,
  host3,
  leasePayload,
  makeGenesis,
  registerPayload,
} from './fixtures.js';

const HOUR = 3_600_000;
/** 1 × H100 at the genesis coefficient */
const K_H100 = ath(3000);
/** the lower address of checkers 0 and 1: its words make the verdict's reason */
const [lowIdx, highIdx] = checkers[0].address < checkers[1].address ? [0, 1] : [1, 0];

/** host online with 1 H100; alice rents it for up to 2 hours at 1 ATH/h and the host settles 10 minutes. */
function serving(params?: Record<string, unknown>): { t: TestNet; lease: string } {
  const t = new TestNet(makeGenesis(params));
  t.onlineContainer(host, 1);
  t.deposit(alice, ath(10));
  const lease = String(t.tx(alice, 'lease.open', leasePayload(host.address, 1, 2 * 3600, ath(1))).lease);
  t.advance(10 * MINUTE_MS);
  t.settle(host, lease);
  t.advance(5 * MINUTE_MS);
  return { t, lease };
}

/** Checkers 0 and 1 agree on `check`; the lower address gives `reason` (the other another one). */
function decide(
  t: TestNet,
  check: CheckKind,
  ok: boolean,
  words: { reason?: string; score?: [number, number] } = {},
) {
  const say = (i: 0 | 1, reason?: string, score?: number) =>
    t.reportBy(checkers[i], host.address, ok, check, {
      ...(reason ? { reason } : {}),
      ...(score !== undefined ? { score } : {}),
    });
  say(highIdx as 0 | 1, words.reason ? 'the other words' : undefined, words.score?.[1]);
  return say(lowIdx as 0 | 1, words.reason, words.score?.[0]);
}

describe('capacity check failed', () => {
  it('slashes slashSpecBps, suspends with the reason, closes the open lease refunding unsettled time', () => {
    const { t, lease } = serving();
    const escrow0 = escrow(t, alice.address);
    const before = t.ledger.lease(lease)!;
    expect(before.charged).toBe(ath(1) / 6n); // 10 minutes of 1 ATH/h
    const at = t.time;
    // unvested host earnings go first, then stake
    const vested = t.vestedTotal(host.address);
    expect(vested).toBeGreaterThan(0n);
    const r = decide(t, 'capacity', false, { reason: 'GPU 0 reports 24 GiB, the spec claims 80 GiB' });
    const why = 'capacity check failed: GPU 0 reports 24 GiB, the spec claims 80 GiB';
    expect(r).toEqual({
      container: host.address,
      decided: true,
      ok: false,
      capacity: 'failed',
      slashed: K_H100.toString(),
      suspended: true,
      reason: why,
      closedLeases: lease,
    });
    const c = t.ledger.container(host.address)!;
    expect(c).toMatchObject({
      suspended: true,
      suspendedReason: why,
      stake: vested,
      slashed: K_H100,
      openLeases: 0,
    });
    expect(t.vestedTotal(host.address)).toBe(0n);
    expect(c.checks.capacity).toEqual({
      ok: false,
      at,
      reason: 'GPU 0 reports 24 GiB, the spec claims 80 GiB',
    });
    expect(c.incidents).toEqual([{ at, check: 'capacity', reason: why, slashed: K_H100, leases: [lease] }]);
    expect(c.rep).toMatchObject({ capacityFail: 1, capacityPass: 0, slashes: 1 });
    // the user paid for the 10 settled minutes only
    const l = t.ledger.lease(lease)!;
    expect(l).toMatchObject({ status: 'closed', charged: before.charged, closeReason: why, closedAt: at });
    expect(escrow(t, alice.address)).toBe(escrow0 + l.escrow - l.charged);
    expect(t.ledger.isServing(c)).toBe(false);
    t.deposit(alice, ath(1));
    const e = t.expectRejectTx(
      alice,
      'lease.open',
      leasePayload(host.address, 1, 60, ath(1)),
      'CONTAINER_UNAVAILABLE',
    );
    expect(e.message).toContain(why);
    conserved(t);
  });

  it('a top-up does not lift it; a later decided capacity pass does', () => {
    const { t } = serving();
    decide(t, 'capacity', false);
    const why = 'capacity check failed: the GPUs did not perform as the spec claims';
    expect(t.ledger.container(host.address)!.suspendedReason).toBe(why);
    t.tx(host, 'container.stake', { amount: K_H100 });
    expect(t.ledger.container(host.address)).toMatchObject({ suspended: true, suspendedReason: why });
    expect(t.ledger.container(host.address)!.stake).toBeGreaterThanOrEqual(K_H100);
    // re-registering keeps it too
    t.tx(host, 'container.register', registerPayload(1, ath(1)));
    expect(t.ledger.container(host.address)).toMatchObject({ suspended: true, suspendedReason: why });
    t.advance(MINUTE_MS);
    expect(decide(t, 'capacity', true)).toMatchObject({ capacity: 'passed' });
    const c = t.ledger.container(host.address)!;
    expect(c).toMatchObject({ suspended: false, suspendedReason: null });
    expect(c.checks.capacity).toEqual({
      ok: true,
      at: t.time,
      reason: 'the GPUs performed as the spec claims',
    });
    expect(c.rep).toMatchObject({ capacityFail: 1, capacityPass: 1 });
    expect(t.ledger.isServing(c)).toBe(true);
    conserved(t);
  });

  it('a pass with the stake below the requirement leaves it suspended for its stake', () => {
    const { t } = serving();
    decide(t, 'capacity', false);
    t.advance(MINUTE_MS);
    decide(t, 'capacity', true);
    expect(t.ledger.container(host.address)).toMatchObject({ suspended: true, suspendedReason: null });
    expect(t.ledger.container(host.address)!.stake).toBeLessThan(K_H100);
    t.tx(host, 'container.stake', { amount: K_H100 });
    expect(t.ledger.container(host.address)).toMatchObject({ suspended: false });
  });
});

describe('location check failed', () => {
  it('slashes slashLocationBps, suspends and closes leases; a pass lifts it', () => {
    const { t, lease } = serving();
    const at = t.time;
    const vested = t.vestedTotal(host.address);
    const r = decide(t, 'location', false);
    const why = 'location check failed: the measured latency does not fit the declared location';
    expect(r).toMatchObject({
      location: 'failed',
      slashed: (K_H100 / 2n).toString(),
      suspended: true,
      reason: why,
    });
    const c = t.ledger.container(host.address)!;
    expect(c).toMatchObject({
      suspended: true,
      suspendedReason: why,
      stake: K_H100 / 2n + vested,
      openLeases: 0,
    });
    expect(c.incidents).toEqual([
      { at, check: 'location', reason: why, slashed: K_H100 / 2n, leases: [lease] },
    ]);
    expect(c.checks.location).toMatchObject({ ok: false, at });
    expect(c.rep).toMatchObject({ locationFail: 1, slashes: 1 });
    expect(t.ledger.lease(lease)).toMatchObject({ status: 'closed', closeReason: why });
    t.tx(host, 'container.stake', { amount: K_H100 / 2n });
    t.advance(MINUTE_MS);
    expect(decide(t, 'location', true)).toMatchObject({ location: 'passed' });
    expect(t.ledger.container(host.address)).toMatchObject({ suspended: false, suspendedReason: null });
    expect(t.ledger.container(host.address)!.rep).toMatchObject({ locationFail: 1, locationPass: 1 });
    conserved(t);
  });

  it('slashLocationBps is a parameter; a pass of one check does not lift the failure of another', () => {
    const { t } = serving({ slashLocationBps: 0, slashSpecBps: 0 });
    decide(t, 'capacity', false, { reason: 'fake GPUs' });
    t.advance(MINUTE_MS);
    expect(decide(t, 'location', false, { reason: 'rtt 180 ms' })).toMatchObject({ slashed: '0' });
    expect(t.ledger.container(host.address)).toMatchObject({
      suspendedReason: 'location check failed: rtt 180 ms',
      stake: K_H100,
      slashed: 0n,
    });
    t.advance(MINUTE_MS);
    decide(t, 'location', true);
    expect(t.ledger.container(host.address)).toMatchObject({
      suspended: true,
      suspendedReason: 'capacity check failed: fake GPUs',
    });
    t.advance(MINUTE_MS);
    decide(t, 'capacity', true);
    expect(t.ledger.container(host.address)).toMatchObject({ suspended: false, suspendedReason: null });
    // nothing was slashed: no slash counted, but the lease closed by the first failure is an incident
    const c = t.ledger.container(host.address)!;
    expect(c.rep.slashes).toBe(0);
    expect(c.incidents.map((i) => i.check)).toEqual(['capacity']);
  });
});

describe("a location refutation that rests on one other checker's measurement (params.locationSlashNeedsRobust)", () => {
  const liar = checkers[2].address;
  /** checkers 0 and 1 refute the claim; each says whether its refutation rests on checker 2's RTT */
  const refute = (t: TestNet, rests: [boolean, boolean]) => {
    t.reportBy(checkers[0], host.address, false, 'location', {
      reason: 'RTT from Singapore, SG is 2 ms',
      ...(rests[0] ? { restsOn: liar } : {}),
    });
    return t.reportBy(checkers[1], host.address, false, 'location', {
      reason: 'RTT from Singapore, SG is 2 ms',
      ...(rests[1] ? { restsOn: liar } : {}),
    });
  };

  it('suspends the host and closes its lease, refunded, but slashes nothing when the majority rests on one', () => {
    for (const rests of [
      [true, true],
      [true, false],
    ] as [boolean, boolean][]) {
      const { t, lease } = serving({ locationSlashNeedsRobust: true });
      const stake = t.ledger.container(host.address)!.stake;
      const escrow0 = escrow(t, alice.address);
      const at = t.time;
      const r = refute(t, rests);
      const why =
        "location check failed: RTT from Singapore, SG is 2 ms (held only with one other checker's measurement: suspended, not slashed)";
      expect(r).toMatchObject({
        location: 'failed',
        slashed: '0',
        suspended: true,
        reason: why,
        fragile: true,
      });
      const c = t.ledger.container(host.address)!;
      expect(c).toMatchObject({ suspended: true, suspendedReason: why, stake, slashed: 0n, openLeases: 0 });
      expect(c.incidents).toEqual([{ at, check: 'location', reason: why, slashed: 0n, leases: [lease] }]);
      expect(c.rep).toMatchObject({ locationFail: 1, slashes: 0 });
      const l = t.ledger.lease(lease)!;
      expect(l).toMatchObject({ status: 'closed', closeReason: why });
      expect(escrow(t, alice.address)).toBe(escrow0 + l.escrow - l.charged);
      // a later pass lifts it as any location failure
      t.advance(MINUTE_MS);
      t.reportBy(checkers[0], host.address, true, 'location');
      t.reportBy(checkers[1], host.address, true, 'location');
      expect(t.ledger.container(host.address)).toMatchObject({ suspended: false, suspendedReason: null });
      conserved(t);
    }
  });

  it('slashes as before when a majority refutes without resting on another checker, or where the parameter is absent', () => {
    const robust = serving({ locationSlashNeedsRobust: true }).t;
    const r = refute(robust, [false, false]);
    expect(r).toMatchObject({ location: 'failed', slashed: (K_H100 / 2n).toString() });
    expect(r).not.toHaveProperty('fragile');
    expect(robust.ledger.container(host.address)!.rep).toMatchObject({ slashes: 1 });
    const before = serving().t; // (recorded networks: no such parameter)
    expect(before.ledger.params.locationSlashNeedsRobust).toBeUndefined();
    expect(refute(before, [true, true])).toMatchObject({
      location: 'failed',
      slashed: (K_H100 / 2n).toString(),
    });
  });

  it('a network without the parameter turns it on by governance: from then on such a round slashes nothing', () => {
    const first = serving();
    const t = first.t;
    expect(refute(t, [true, true])).toMatchObject({ slashed: (K_H100 / 2n).toString() });
    t.tx(governor, 'params.update', { changes: { locationSlashNeedsRobust: true } });
    expect(t.ledger.params.locationSlashNeedsRobust).toBe(true);
    t.advance(MINUTE_MS);
    t.reportBy(checkers[0], host.address, true, 'location');
    t.reportBy(checkers[1], host.address, true, 'location');
    t.tx(host, 'container.stake', { amount: K_H100 / 2n });
    t.advance(MINUTE_MS);
    const slashed = t.ledger.container(host.address)!.slashed;
    expect(refute(t, [true, true])).toMatchObject({ location: 'failed', slashed: '0', fragile: true });
    expect(t.ledger.container(host.address)!.slashed).toBe(slashed);
    conserved(t);
  });

  it('takes restsOn only on a refuting location report, naming another checker', () => {
    const { t } = serving({ locationSlashNeedsRobust: true });
    const bad = (payload: Record<string, unknown>, message: RegExp) => {
      const e = t.expectRejectTx(
        checkers[0],
        'checker.report',
        { container: host.address, check: 'location', ok: false, observedAt: t.time, ...payload },
        'INVALID_TRANSACTION',
      );
      expect(e.message).toMatch(message);
    };
    bad({ ok: true, restsOn: liar }, /only a refuting location report rests on another checker/);
    bad({ check: 'capacity', restsOn: liar }, /only a refuting location report rests on another checker/);
    bad({ restsOn: checkers[0].address }, /^a report cannot rest on its own checker$/);
    bad({ restsOn: host.address }, /^restsOn ath1\w+ is not a checker of this network$/);
    bad({ restsOn: 'checker-2' }, /restsOn/);
    expect(t.ledger.round(host.address, 'location')?.votes ?? {}).toEqual({});
  });
});

describe('qos check', () => {
  it('failed while serving: the leases close (unsettled time refunded), slashDowntimeBps, no check suspension', () => {
    const { t, lease } = serving();
    const at = t.time;
    const why = 'qos check failed: the stream froze for 40 s';
    expect(decide(t, 'qos', false, { reason: 'the stream froze for 40 s', score: [0.1, 0.2] })).toMatchObject(
      {
        qos: 'failed',
        slashed: ((K_H100 * 3333n) / 10_000n).toString(),
        closedLeases: lease,
      },
    );
    const c = t.ledger.container(host.address)!;
    // below its stake requirement (as after any slash) until it tops up; no suspension by the check itself
    expect(c).toMatchObject({ status: 'online', suspended: true, suspendedReason: null, openLeases: 0 });
    expect(c.incidents).toEqual([
      { at, check: 'qos', reason: why, slashed: (K_H100 * 3333n) / 10_000n, leases: [lease] },
    ]);
    expect(c.checks.qos).toEqual({ ok: false, at, reason: 'the stream froze for 40 s' });
    expect(c.rep).toMatchObject({ qosCount: 1, qosMilli: 150, slashes: 1 });
    expect(t.ledger.lease(lease)).toMatchObject({ status: 'closed', charged: ath(1) / 6n, closeReason: why });
    t.tx(host, 'container.stake', { amount: K_H100 });
    expect(t.ledger.container(host.address)!.suspended).toBe(false);
    conserved(t);
  });

  it('failed while idle: nothing to close, no slash, no incident', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1);
    expect(decide(t, 'qos', false)).toEqual({
      container: host.address,
      decided: true,
      ok: false,
      qos: 'failed',
    });
    const c = t.ledger.container(host.address)!;
    expect(c).toMatchObject({ slashed: 0n, incidents: [], suspended: false });
    expect(c.checks.qos).toMatchObject({
      ok: false,
      reason: 'the service stopped or degraded while serving',
    });
  });

  it('passed: the median score of the agreeing votes sets the quality tier', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1);
    const tier = () => t.ledger.container(host.address)!.qualityTier;
    expect(decide(t, 'qos', true, { score: [0.99, 0.97] })).toMatchObject({ qos: 'passed', qualityTier: 3 });
    expect(tier()).toBe(3);
    t.advance(MINUTE_MS);
    decide(t, 'qos', true, { score: [0.85, 0.8] });
    expect(tier()).toBe(2);
    t.advance(MINUTE_MS);
    decide(t, 'qos', true, { score: [0.9, 0.5] });
    expect(tier()).toBe(1); // median 0.7
    t.advance(MINUTE_MS);
    decide(t, 'qos', true, { score: [0.95, 0.95] });
    expect(tier()).toBe(3);
    // without scores the tier stays
    t.advance(MINUTE_MS);
    expect(decide(t, 'qos', true)).toMatchObject({ qos: 'passed', qualityTier: 3 });
    expect(tier()).toBe(3);
    expect(t.ledger.container(host.address)!.rep).toMatchObject({
      qosCount: 4,
      qosMilli: 980 + 825 + 700 + 950,
    });
  });

  it("the dissenting vote's score does not count", () => {
    const t = new TestNet();
    t.onlineContainer(host, 1);
    t.reportBy(checkers[2], host.address, false, 'qos', { score: 0 });
    t.reportBy(checkers[0], host.address, true, 'qos', { score: 0.96 });
    t.reportBy(checkers[1], host.address, true, 'qos', { score: 0.98 });
    expect(t.ledger.container(host.address)!.qualityTier).toBe(3);
    expect(t.ledger.container(host.address)!.rep.qosMilli).toBe(970);
  });
});

describe('verdicts', () => {
  it('the reason is that of the agreeing vote from the lowest checker address that gave one', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1);
    t.reportBy(checkers[2], host.address, true, 'capacity', { reason: 'dissent' });
    decide(t, 'capacity', false, { reason: 'fake GPU' });
    expect(t.ledger.container(host.address)!.checks.capacity!.reason).toBe('fake GPU');
    // only the higher address gave words: those
    const t2 = new TestNet();
    t2.onlineContainer(host, 1);
    t2.reportBy(checkers[highIdx as 0 | 1], host.address, false, 'location', { reason: 'rtt 300 ms' });
    t2.reportBy(checkers[lowIdx as 0 | 1], host.address, false, 'location');
    expect(t2.ledger.container(host.address)!.suspendedReason).toBe('location check failed: rtt 300 ms');
  });

  it('a liveness verdict is recorded, and going offline while serving is an incident', () => {
    const { t, lease } = serving();
    const at = t.time;
    t.reportBy(checkers[0], host.address, false, 'liveness', { reason: 'no heartbeat for 3 minutes' });
    expect(t.reportBy(checkers[1], host.address, false)).toMatchObject({
      status: 'offline',
      closedLeases: lease,
    });
    const c = t.ledger.container(host.address)!;
    expect(c.checks.liveness).toMatchObject({ ok: false, at });
    expect(c.incidents).toHaveLength(1);
    expect(c.incidents[0]).toMatchObject({
      check: 'liveness',
      leases: [lease],
      slashed: (K_H100 * 3333n) / 10_000n,
    });
    expect(c.incidents[0]!.reason).toMatch(/^offline while serving: /);
    expect(c.suspendedReason).toBeNull();
  });

  it('keeps the newest incidents only', () => {
    const t = new TestNet(makeGenesis({ slashSpecBps: 1 }));
    t.onlineContainer(host, 1);
    for (let i = 0; i < MAX_INCIDENTS + 5; i++) {
      t.advance(MINUTE_MS);
      decide(t, 'capacity', false, { reason: `failure ${i}` });
    }
    const c = t.ledger.container(host.address)!;
    expect(c.incidents).toHaveLength(MAX_INCIDENTS);
    expect(c.incidents[0]!.reason).toBe('capacity check failed: failure 5');
    expect(c.rep.slashes).toBe(MAX_INCIDENTS + 5);
  });

  it('a reason must be plain words, 1..300 characters; scores and timings are bounded', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1);
    const base = { container: host.address, check: 'qos', ok: true, observedAt: t.time };
    for (const bad of [
      { reason: '' },
      { reason: 'x'.repeat(301) },
      { reason: 'two\nlines' },
      { score: 1.5 },
      { score: -0.1 },
      { rttMs: 60_001 },
      { proveMs: 1.5 },
      { check: 'vibes' },
    ])
      t.expectRejectTx(checkers[0], 'checker.report', { ...base, ...bad }, 'INVALID_TRANSACTION');
    expect(
      t.reportBy(checkers[0], host.address, true, 'location', { rttMs: 12.5, reason: 'x'.repeat(300) }),
    ).toMatchObject({ decided: false });
    expect(t.reportBy(checkers[0], host.address, true, 'capacity', { proveMs: 1234 })).toMatchObject({
      decided: false,
    });
  });
});

describe('reputation', () => {
  it('a new container has a perfect score and no history', () => {
    const t = new TestNet();
    t.tx(host, 'container.register', registerPayload(1, ath(1)));
    expect(t.ledger.reputationOf(t.ledger.container(host.address)!)).toEqual({
      score: 1,
      uptime: null,
      capacityPassRate: null,
      locationPassRate: null,
      qos: null,
      slashes: 0,
    });
  });

  it('uptime, pass rates, QoS and slashes multiply into the score', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1); // online at T
    const T = t.time;
    t.at(T + HOUR);
    decide(t, 'liveness', false); // up 1 h (idle: no slash)
    t.at(T + HOUR + 30 * MINUTE_MS);
    decide(t, 'liveness', true); // down 30 min
    expect(t.ledger.container(host.address)!.rep).toMatchObject({
      upMs: HOUR,
      downMs: 30 * MINUTE_MS,
      lastLivenessAt: T + HOUR + 30 * MINUTE_MS,
    });
    decide(t, 'capacity', true);
    t.advance(MINUTE_MS);
    decide(t, 'capacity', true);
    t.advance(MINUTE_MS);
    decide(t, 'capacity', true);
    t.advance(MINUTE_MS);
    decide(t, 'location', true);
    decide(t, 'qos', true, { score: [0.9, 0.9] });
    let r = t.ledger.reputationOf(t.ledger.container(host.address)!);
    expect(r.uptime).toBeCloseTo(2 / 3, 12);
    expect(r).toMatchObject({ capacityPassRate: 1, locationPassRate: 1, qos: 0.9, slashes: 0 });
    expect(r.score).toBeCloseTo((2 / 3) * 0.95, 12);
    // a capacity failure: 3 of 4 passed, one slash
    t.advance(MINUTE_MS);
    decide(t, 'capacity', false);
    r = t.ledger.reputationOf(t.ledger.container(host.address)!);
    expect(r).toMatchObject({ capacityPassRate: 0.75, slashes: 1 });
    expect(r.score).toBeCloseTo((2 / 3) * 0.75 * 0.95 * 0.8, 12);
    expect(r.score).toBeGreaterThanOrEqual(0);
    expect(r.score).toBeLessThanOrEqual(1);
  });
});

describe('container.register', () => {
  it('refuses a GPU UUID already registered by another container (CONFLICT)', () => {
    const t = new TestNet();
    const spec = gpuSpec(2, H100, 'GPU-8f2a');
    t.tx(host, 'container.register', { ...registerPayload(2, ath(1), 'rig-a'), spec });
    const stolen = { ...gpuSpec(1, H100, 'GPU-other'), gpus: [spec.gpus[1]!] };
    const e = t.expectRejectTx(
      host2,
      'container.register',
      { name: 'rig-b', spec: stolen, pricePerHour: ath(1), location: FRANKFURT },
      'CONFLICT',
    );
    expect(e.message).toBe('GPU GPU-8f2a-1 is already registered by container rig-a');
    // the owner re-registers with the same GPUs
    expect(t.tx(host, 'container.register', { ...registerPayload(2, ath(2), 'rig-a'), spec })).toMatchObject({
      updated: true,
    });
    // the same GPU twice in one spec
    t.expectRejectTx(
      host3,
      'container.register',
      {
        ...registerPayload(2, ath(1)),
        spec: {
          ...spec,
          gpus: [
            { ...spec.gpus[0]!, uuid: 'GPU-x' },
            { ...spec.gpus[0]!, uuid: 'GPU-x' },
          ],
        },
      },
      'INVALID_TRANSACTION',
    );
    // GPUs without UUIDs are not compared
    t.tx(host2, 'container.register', registerPayload(2, ath(1), 'rig-b'));
    t.tx(host3, 'container.register', registerPayload(2, ath(1), 'rig-c'));
    // once the owner's spec drops the GPU, another container may register it
    t.tx(host, 'container.register', {
      ...registerPayload(1, ath(1), 'rig-a'),
      spec: { ...spec, gpus: [spec.gpus[0]!] },
    });
    t.tx(host2, 'container.register', {
      name: 'rig-b',
      spec: stolen,
      pricePerHour: ath(1),
      location: FRANKFURT,
    });
    conserved(t);
  });

  it('accepts a simulated spec only where the genesis allows simulated hardware', () => {
    const sim = { ...registerPayload(1, ath(1)), spec: { ...gpuSpec(1), source: 'simulated' } };
    const t = new TestNet();
    const e = t.expectRejectTx(host, 'container.register', sim, 'INVALID_TRANSACTION');
    expect(e.message).toBe(
      'simulated hardware is only accepted on a network whose genesis allows it (devnet)',
    );
    const dev = new TestNet(makeGenesis({ simulatedHardware: true }));
    expect(dev.tx(host, 'container.register', sim)).toMatchObject({ updated: false });
    expect(dev.ledger.container(host.address)!.spec.source).toBe('simulated');
  });
});
