import { describe, expect, it } from 'vitest';
import { judgeQos, type QosInput } from '../../../src/checker/index.js';

const base = (over: Partial<QosInput> = {}): QosInput => ({
  now: 100_000,
  windowMs: 10_000,
  heartbeat: { receivedAt: 99_000, runningLeases: 1 },
  offlineAfterMs: 5_000,
  leases: [{ id: 'l1', user: 'u1', openedAt: 50_000, samples: [] }],
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
      judgeQos(base({ leases: [{ id: 'l1', user: 'u1', openedAt: 95_000, samples: samples(3, false) }] })),
    ).toBeNull();
  });

  it("fails when every sample in the period says down on the leases of two different users, not on one user's word", () => {
    const one = judgeQos(
      base({ leases: [{ id: 'l1', user: 'u1', openedAt: 50_000, samples: samples(3, false) }] }),
    )!;
    expect(one).toMatchObject({ ok: true, score: 0 });
    const v = judgeQos(
      base({
        heartbeat: { receivedAt: 99_000, runningLeases: 2 },
        leases: [
          { id: 'l1', user: 'u1', openedAt: 50_000, samples: samples(3, false) },
          { id: 'l2', user: 'u2', openedAt: 50_000, samples: samples(2, false) },
        ],
      }),
    )!;
    expect(v).toMatchObject({ ok: false, score: 0 });
    expect(v.reason).toMatch(
      /service stopped while serving: 2 users' receipts report it down \(leases l1, l2/,
    );
  });

  it('one bad sample is not enough, and old samples do not count', () => {
    expect(
      judgeQos(base({ leases: [{ id: 'l1', user: 'u1', openedAt: 0, samples: samples(1, false) }] }))!.ok,
    ).toBe(true);
    const old = samples(5, false).map((s) => ({ ...s, receivedAt: 10_000 }));
    expect(judgeQos(base({ leases: [{ id: 'l1', user: 'u1', openedAt: 0, samples: old }] }))!.ok).toBe(true);
  });

  it('fails when the container runs fewer leases than are open on two looks in a row, not on one', () => {
    const once = judgeQos(base({ heartbeat: { receivedAt: 99_000, runningLeases: 0 } }))!;
    expect(once).toMatchObject({ ok: true, shortfall: true });
    const twice = judgeQos(
      base({ heartbeat: { receivedAt: 99_000, runningLeases: 0 }, previousShortfall: true }),
    )!;
    expect(twice.ok).toBe(false);
    expect(twice.reason).toMatch(/reports running 0 of its 1 open lease on two looks in a row/);
    // a stale heartbeat says nothing: silence is liveness's business
    expect(
      judgeQos(base({ heartbeat: { receivedAt: 10_000, runningLeases: 0 }, previousShortfall: true }))!.ok,
    ).toBe(true);
  });

  it('scores the share of good samples, lowered for slow round trips and an overloaded host', () => {
    const mixed = [...samples(3, true, 20), ...samples(1, false, 20)];
    expect(judgeQos(base({ leases: [{ id: 'l1', user: 'u1', openedAt: 0, samples: mixed }] }))!.score).toBe(
      0.75,
    );
    expect(
      judgeQos(base({ leases: [{ id: 'l1', user: 'u1', openedAt: 0, samples: samples(4, true, 100) }] }))!
        .score,
    ).toBe(0.5);
    const loaded = base({
      heartbeat: { receivedAt: 99_000, runningLeases: 1, load: 3 },
      leases: [{ id: 'l1', user: 'u1', openedAt: 0, samples: samples(4, true, 10) }],
    });
    expect(judgeQos(loaded)!.score).toBe(0.8);
    expect(judgeQos(base())!).toMatchObject({ ok: true, score: null });
  });
});
