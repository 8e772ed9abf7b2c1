import { describe, expect, it } from 'vitest';
import { judgeQos, type QosInput } from '../../../src/checker/index.js';

const ATH = 10n ** 18n;
const base = (over: Partial<QosInput> = {}): QosInput => ({
  now: 100_000,
  windowMs: 10_000,
  heartbeat: { receivedAt: 99_000, runningLeases: 1 },
  offlineAfterMs: 5_000,
  leases: [{ id: 'l1', user: 'u1', openedAt: 50_000, samples: [], paid: ATH }],
  previousShortfall: false,
  ...over,
});
const samples = (n: number, ok: boolean, latencyMs?: number) =>
  Array.from({ length: n }, (_, i) => ({
    receivedAt: 95_000 + i,
    ok,
    ...(latencyMs !== undefined ? { latencyMs } : {}),
  }));

describe('judgeQos', () => {
  it('has nothing to say about a lease younger than one period', () => {
    expect(
      judgeQos(
        base({ leases: [{ id: 'l1', user: 'u1', openedAt: 95_000, samples: samples(3, false), paid: ATH }] }),
      ),
    ).toBeNull();
  });

  it("never fails a host on users' receipts, however many users say down: their samples lower the score", () => {
    const v = judgeQos(
      base({
        heartbeat: { receivedAt: 99_000, runningLeases: 2 },
        leases: [
          { id: 'l1', user: 'u1', openedAt: 50_000, samples: samples(3, false), paid: ATH },
          { id: 'l2', user: 'u2', openedAt: 50_000, samples: samples(2, false), paid: ATH },
        ],
      }),
    )!;
    expect(v).toEqual({
      ok: true,
      score: 0,
      reason: 'serving 2 leases; quality score 0.00 from the receipts of 2 paying users',
      shortfall: false,
    });
  });

  it('weighs each user by what they paid here, capped per user; samples of users who paid nothing count for nothing', () => {
    const lease = (i: number, ok: boolean, paid: bigint) => ({
      id: `l${i}`,
      user: `u${i}`,
      openedAt: 50_000,
      samples: samples(4, ok, 10),
      paid,
    });
    // a thousand throwaway keys that paid nothing against one user who paid 1 ATH
    const sybils = Array.from({ length: 1000 }, (_, i) => lease(i + 2, false, 0n));
    const honest = judgeQos(
      base({
        heartbeat: { receivedAt: 99_000, runningLeases: 1001 },
        leases: [lease(1, true, ATH), ...sybils],
      }),
    )!;
    expect(honest).toMatchObject({ ok: true, score: 1 });
    // they weigh what they paid: 1,000 keys of 0.001 ATH each weigh as much as the one user
    const cheap = Array.from({ length: 1000 }, (_, i) => lease(i + 2, false, ATH / 1000n));
    expect(
      judgeQos(
        base({
          heartbeat: { receivedAt: 99_000, runningLeases: 1001 },
          leases: [lease(1, true, ATH), ...cheap],
        }),
      )!.score,
    ).toBe(0.5);
    // one whale weighs at most the cap
    const whale = judgeQos(
      base({
        heartbeat: { receivedAt: 99_000, runningLeases: 2 },
        leases: [lease(1, true, 3n * ATH), lease(2, false, 1000n * ATH)],
        userWeightCap: 3n * ATH,
      }),
    )!;
    expect(whale.score).toBe(0.5);
    // nobody paid: no score
    expect(judgeQos(base({ leases: [lease(1, false, 0n)] }))).toMatchObject({ ok: true, score: null });
  });

  it('one bad sample is not enough, and old samples do not count', () => {
    expect(
      judgeQos(
        base({ leases: [{ id: 'l1', user: 'u1', openedAt: 0, samples: samples(1, false), paid: ATH }] }),
      )!.ok,
    ).toBe(true);
    const old = samples(5, false).map((s) => ({ ...s, receivedAt: 10_000 }));
    expect(
      judgeQos(base({ leases: [{ id: 'l1', user: 'u1', openedAt: 0, samples: old, paid: ATH }] }))!.ok,
    ).toBe(true);
  });

  it('fails when the container runs fewer leases than are open on two looks in a row, not on one', () => {
    const once = judgeQos(base({ heartbeat: { receivedAt: 99_000, runningLeases: 0 } }))!;
    expect(once).toMatchObject({ ok: true, shortfall: true });
    const twice = judgeQos(
      base({ heartbeat: { receivedAt: 99_000, runningLeases: 0 }, previousShortfall: true }),
    )!;
    expect(twice.ok).toBe(false);
    expect(twice.reason).toMatch(/reports running 0 of its 1 open lease on two looks in a row/);
    // a lease opened less than a period ago may still be starting: it is not counted
    const starting = { id: 'l2', user: 'u2', openedAt: 99_000, samples: [], paid: 0n };
    const lenient = base({
      heartbeat: { receivedAt: 99_000, runningLeases: 1 },
      leases: [...base().leases, starting],
      previousShortfall: true,
    });
    expect(judgeQos(lenient)).toMatchObject({ ok: true, shortfall: false });
    // a stale heartbeat says nothing: silence is liveness's business
    expect(
      judgeQos(base({ heartbeat: { receivedAt: 10_000, runningLeases: 0 }, previousShortfall: true }))!.ok,
    ).toBe(true);
  });

  it('scores the share of good samples, lowered for slow round trips and an overloaded host', () => {
    const mixed = [...samples(3, true, 20), ...samples(1, false, 20)];
    expect(
      judgeQos(base({ leases: [{ id: 'l1', user: 'u1', openedAt: 0, samples: mixed, paid: ATH }] }))!.score,
    ).toBe(0.75);
    expect(
      judgeQos(
        base({ leases: [{ id: 'l1', user: 'u1', openedAt: 0, samples: samples(4, true, 100), paid: ATH }] }),
      )!.score,
    ).toBe(0.5);
    const loaded = base({
      heartbeat: { receivedAt: 99_000, runningLeases: 1, load: 3 },
      leases: [{ id: 'l1', user: 'u1', openedAt: 0, samples: samples(4, true, 10), paid: ATH }],
    });
    expect(judgeQos(loaded)!.score).toBe(0.8);
    expect(judgeQos(base())!).toMatchObject({ ok: true, score: null });
  });
});
