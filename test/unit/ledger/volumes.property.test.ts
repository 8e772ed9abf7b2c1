import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ath, isAethirError } from '../../../src/core/index.js';
import { volumeCost } from '../../../src/ledger/index.js';
import { volumeProblems } from '../../../src/ledger/modules/volumes/invariants.js';
import {
  HOUR_MS,
  MINUTE_MS,
  TestNet,
  alice,
  bob,
  escrow,
  host,
  leasePayload,
  registerPayload,
} from './fixtures.js';

const PRICE = 7_777_777n; // units per GiB-hour: odd, so rounding shows

type Op =
  | { k: 'create'; who: 0 | 1; sizeMiB: number; depositMin: number }
  | { k: 'topup'; who: 0 | 1; i: number; amount: number }
  | { k: 'settle'; i: number }
  | { k: 'delete'; who: 0 | 1 | 2; i: number }
  | { k: 'lost'; i: number }
  | { k: 'advance'; ms: number }
  | { k: 'down' }
  | { k: 'up' }
  | { k: 'lease'; who: 0 | 1; i: number; readOnly: boolean }
  | { k: 'closeLease'; i: number };

const who = fc.constantFrom(0 as const, 1 as const);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    k: fc.constant('create' as const),
    who,
    sizeMiB: fc.integer({ min: 16, max: 40 * 1024 }),
    depositMin: fc.integer({ min: 1, max: 600 }),
  }),
  fc.record({
    k: fc.constant('topup' as const),
    who,
    i: fc.nat(5),
    amount: fc.integer({ min: 1, max: 10 ** 9 }),
  }),
  fc.record({ k: fc.constant('settle' as const), i: fc.nat(5) }),
  fc.record({
    k: fc.constant('delete' as const),
    who: fc.constantFrom(0 as const, 1 as const, 2 as const),
    i: fc.nat(5),
  }),
  fc.record({ k: fc.constant('lost' as const), i: fc.nat(5) }),
  fc.record({ k: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 3 * HOUR_MS }) }),
  fc.record({ k: fc.constant('down' as const) }),
  fc.record({ k: fc.constant('up' as const) }),
  fc.record({ k: fc.constant('lease' as const), who, i: fc.nat(5), readOnly: fc.boolean() }),
  fc.record({ k: fc.constant('closeLease' as const), i: fc.nat(5) }),
);

describe('volumes: ledger invariants (property)', () => {
  it('supply is conserved, refunds are exact, nothing is billed twice or for time the host was down', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 40 }), (ops) => {
        const t = new TestNet();
        t.onlineContainer(host, 1);
        t.tx(host, 'container.register', {
          ...registerPayload(1, ath(1)),
          volumes: { pricePerGiBHour: PRICE, capacityGiB: 64 },
        });
        const users = [alice, bob] as const;
        for (const u of users) t.deposit(u, ath(5000));
        const start = new Map(users.map((u) => [u.address, escrow(t, u.address)]));
        const ids: string[] = [];
        const leases: string[] = [];
        /** the host's time online since each volume was created (what may be billed) */
        const onlineMs = new Map<string, number>();
        let down = false;
        const attempt = (f: () => unknown) => {
          try {
            f();
          } catch (e) {
            if (!isAethirError(e)) throw e;
          }
        };
        for (const o of ops) {
          const pick = (i: number) => ids[i % Math.max(1, ids.length)];
          switch (o.k) {
            case 'create':
              attempt(() => {
                const r = t.tx(users[o.who], 'volume.create', {
                  name: `v${ids.length}`,
                  container: host.address,
                  sizeMiB: o.sizeMiB,
                  maxPricePerGiBHour: PRICE,
                  depositSeconds: o.depositMin * 60,
                });
                ids.push(String(r.volume));
                onlineMs.set(String(r.volume), 0);
              });
              break;
            case 'topup':
              if (pick(o.i))
                attempt(() =>
                  t.tx(users[o.who], 'volume.topup', { volume: pick(o.i)!, amount: String(o.amount) }),
                );
              break;
            case 'settle':
              if (pick(o.i)) attempt(() => t.tx(host, 'volume.settle', { volume: pick(o.i)! }));
              break;
            case 'delete':
              if (pick(o.i))
                attempt(() =>
                  t.tx(o.who === 2 ? host : users[o.who], 'volume.delete', { volume: pick(o.i)! }),
                );
              break;
            case 'lost':
              if (pick(o.i)) attempt(() => t.tx(host, 'volume.lost', { volume: pick(o.i)!, reason: 'disk' }));
              break;
            case 'advance':
              t.advance(o.ms);
              if (!down)
                for (const id of ids)
                  if (t.ledger.volume(id)!.status === 'active') onlineMs.set(id, onlineMs.get(id)! + o.ms);
              break;
            case 'down':
              if (down) break;
              t.report(host.address, false, 0);
              t.report(host.address, false, 1);
              down = true;
              break;
            case 'up':
              if (!down) break;
              t.report(host.address, true, 0);
              t.report(host.address, true, 1);
              down = false;
              break;
            case 'lease':
              if (pick(o.i))
                attempt(() => {
                  const r = t.tx(users[o.who], 'lease.open', {
                    ...leasePayload(host.address, 0, 600, ath(1)),
                    workload: {
                      command: ['sh'],
                      volumes: [{ volume: pick(o.i)!, path: '/data', readOnly: o.readOnly }],
                    },
                  });
                  leases.push(String(r.lease));
                });
              break;
            case 'closeLease':
              if (leases.length)
                attempt(() => t.tx(alice, 'lease.close', { lease: leases[o.i % leases.length]! }));
              break;
          }
          // after every step
          expect(t.ledger.totalHeld()).toBe(t.ledger.chain.supply);
          expect(volumeProblems(t.ledger)).toEqual([]);
          const writers = new Map<string, number>();
          for (const l of t.ledger.leases())
            if (l.status === 'open')
              for (const m of l.workload.volumes ?? [])
                if (!m.readOnly) writers.set(m.volume, (writers.get(m.volume) ?? 0) + 1);
          for (const [, n] of writers) expect(n).toBe(1);
        }
        for (const v of t.ledger.volumes()) {
          // never billed for more than the time its host was online while it lived
          expect(v.servedMs).toBeLessThanOrEqual(onlineMs.get(v.id)!);
          expect(v.charged).toBeLessThanOrEqual(
            volumeCost(v.pricePerGiBHour, v.sizeMiB, onlineMs.get(v.id)!),
          );
          expect(v.owner === alice.address || v.owner === bob.address).toBe(true);
        }
        // close everything: each owner gets back exactly what was not charged
        for (const l of t.ledger.leases())
          if (l.status === 'open')
            t.tx(alice.address === l.user ? alice : bob, 'lease.close', { lease: l.id });
        for (const v of t.ledger.volumes())
          if (v.status === 'active')
            t.tx(v.owner === alice.address ? alice : bob, 'volume.delete', { volume: v.id });
        for (const u of users) {
          const charged = t.ledger
            .volumes()
            .filter((v) => v.owner === u.address)
            .reduce((s, v) => s + v.charged, 0n);
          const leaseCharged = t.ledger
            .leases()
            .filter((l) => l.user === u.address)
            .reduce((s, l) => s + l.charged, 0n);
          expect(escrow(t, u.address)).toBe(start.get(u.address)! - charged - leaseCharged);
        }
        expect(t.ledger.totalHeld()).toBe(t.ledger.chain.supply);
      }),
      { numRuns: 60 },
    );
  });
});

void MINUTE_MS;
