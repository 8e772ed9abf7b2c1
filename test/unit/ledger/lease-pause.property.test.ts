import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AethirError, ath, type KeyPair } from '../../../src/core/index.js';
import { MINUTE_MS, TestNet, alice, bob, host, leasePayload, makeGenesis, stranger } from './fixtures.js';

/**
 * Property: whatever mix of time passing, settles, pauses, top-ups (by anyone, of any amount)
 * and closes happens to a lease with a small deposit, the supply is conserved, the user's money
 * is exact (what they hold plus what the lease still holds plus what it was charged is what they
 * started with), only the user's top-ups apply, a closed lease takes none, the escrow never
 * exceeds what the lease's maximum duration can spend, and a rejection changes nothing.
 */
const PRICE = ath(3);
const GRACE = 5 * MINUTE_MS;
const MAX_SEC = 3600;

type Op =
  | { kind: 'wait'; ms: number }
  | { kind: 'settle' | 'pause'; servedMs: number | 'all' | 'none' }
  | { kind: 'topup'; by: 0 | 1 | 2 | 3; amount: bigint | string }
  | { kind: 'close'; by: 0 | 1 };

const WHO: KeyPair[] = [alice, bob, stranger, host];
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('wait' as const),
      ms: fc.integer({ min: 0, max: 15 * MINUTE_MS }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constantFrom('settle' as const, 'pause' as const),
      servedMs: fc.oneof(
        fc.constant('all' as const),
        fc.constant('none' as const),
        fc.nat({ max: 2 * MAX_SEC * 1000 }),
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('topup' as const),
      by: fc.oneof(
        { weight: 4, arbitrary: fc.constant(0 as const) },
        { weight: 1, arbitrary: fc.constantFrom(1 as const, 2 as const, 3 as const) },
      ),
      amount: fc.oneof(
        { weight: 4, arbitrary: fc.bigInt({ min: 1n, max: ath(1) }) },
        { weight: 1, arbitrary: fc.bigInt({ min: ath(1), max: 10n ** 39n }) },
        {
          weight: 1,
          arbitrary: fc.constantFrom<bigint | string>(0n, '-1', '1e3', 'x', (10n ** 40n).toString()),
        },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('close' as const),
      by: fc.constantFrom(0 as const, 1 as const),
    }),
  },
);

const wealth = (t: TestNet) => {
  const a = t.ledger.account(alice.address);
  return a.balance + a.escrow;
};

describe('lease pause and top-up (property)', () => {
  it('conserves supply, refunds exactly, takes only the user’s bounded top-ups, none after close', () => {
    const seen = { paused: 0, resumed: 0, refusedStranger: 0, closedRefused: 0 };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 900 }), fc.array(opArb, { maxLength: 40 }), (deposit, ops) => {
        const t = new TestNet(makeGenesis({ pauseGraceMs: GRACE }));
        t.onlineContainer(host, 2, PRICE);
        t.deposit(alice, ath(100));
        const id = String(
          t.tx(alice, 'lease.open', { ...leasePayload(host.address, 1, MAX_SEC, PRICE), depositSec: deposit })
            .lease,
        );
        const start = wealth(t) + t.ledger.lease(id)!.escrow;
        const supply = t.ledger.chain.supply;
        const whole = (PRICE * BigInt(MAX_SEC)) / 3600n;
        for (const op of ops) {
          const before = t.ledger.lease(id)!;
          const root = t.ledger.root();
          let raw: unknown;
          let signer: KeyPair;
          if (op.kind === 'wait') {
            t.advance(op.ms);
            continue;
          } else if (op.kind === 'topup') {
            signer = WHO[op.by]!;
            raw = t.sign(signer, 'lease.topup', { lease: id, amount: op.amount });
          } else if (op.kind === 'close') {
            signer = op.by === 0 ? alice : host;
            raw = t.sign(signer, 'lease.close', {
              lease: id,
              ...(op.by === 1 ? { receipt: t.receipt(id) } : {}),
            });
          } else {
            signer = host;
            const receipt =
              op.servedMs === 'none'
                ? undefined
                : t.receipt(id, op.servedMs === 'all' ? undefined : op.servedMs);
            raw = t.sign(host, op.kind === 'settle' ? 'lease.settle' : 'lease.pause', {
              lease: id,
              ...(receipt ? { receipt } : {}),
            });
          }
          let accepted = true;
          try {
            t.applyRaw(raw);
          } catch (e) {
            if (!(e instanceof AethirError)) throw e;
            accepted = false;
            expect(t.ledger.root()).toBe(root);
          }
          const l = t.ledger.lease(id)!;
          if (op.kind === 'pause' && accepted) seen.paused++;
          if (op.kind === 'topup' && !accepted && signer !== alice) seen.refusedStranger++;
          if (op.kind === 'topup' && before.status === 'closed') seen.closedRefused++;
          if (op.kind === 'topup' && accepted && before.status === 'paused') seen.resumed++;
          if (op.kind === 'topup' && accepted) {
            expect(signer).toBe(alice);
            expect(before.status).not.toBe('closed');
            expect(l.escrow - before.escrow).toBe(BigInt(op.amount));
            if (before.status === 'paused') expect(l.status).toBe('open');
          }
          if (op.kind === 'topup' && before.status === 'closed') expect(accepted).toBe(false);
          if (op.kind === 'pause' && accepted) expect(l.charged).toBe(l.escrow);
          expect(t.ledger.totalHeld()).toBe(supply);
          expect(l.charged <= l.escrow && l.escrow <= whole).toBe(true);
          // refunds exact: the user holds what they started with less what the lease was charged
          const held = l.status === 'closed' ? 0n : l.escrow - l.charged;
          expect(wealth(t) + held + l.charged).toBe(start);
          // never charged for paused time, nor past the maximum duration
          const billed = l.settledAt - l.openedAt - (l.pausedMs ?? 0);
          expect(billed >= 0 && billed <= MAX_SEC * 1000).toBe(true);
          expect(l.charged <= (PRICE * BigInt(billed)) / 3_600_000n).toBe(true);
        }
      }),
      { numRuns: 150, seed: 20_261_207 },
    );
    // the runs reach what they are about
    for (const [k, n] of Object.entries(seen)) expect(n, k).toBeGreaterThan(0);
  }, 120_000);
});
