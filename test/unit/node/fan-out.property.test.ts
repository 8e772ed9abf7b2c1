import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../../../src/bus/index.js';
import { AethirError, ManualClock, SeededRng } from '../../../src/core/index.js';
import { Indexer } from '../../../src/indexer/index.js';
import type { Container, Ledger, SignedTx } from '../../../src/ledger/index.js';
import { Chain } from '../../../src/node/chain.js';
import { fanOutBlock, leaseEventsOn, rebuildIndex } from '../../../src/node/roles.js';
import { MemoryChainStore } from '../../../src/store/index.js';
import { CONTAINERS, GENESIS, buildTx, stepsArb, type Ctx, type Step } from '../ledger/tx-generator.js';

/**
 * Views never go stale: random transaction sequences (the ledger's generator: every type,
 * valid and invalid, with slashes, parameter changes, coefficient updates, unbonding...) go
 * through a real Chain, one block per transaction, whose blocks fan out (fanOutBlock) to a real
 * Indexer and to the container agents' subscriptions on a bus (leaseEventsOn). After every
 * block the index equals one rebuilt from scratch from the ledger, and what it saw of each
 * container (its required stake, whether it serves) is what the ledger says now; at the end each
 * container was told of exactly the leases that opened and closed on it, each once.
 */

function newIndexer(ledger: () => Ledger, clock: ManualClock): Indexer {
  return new Indexer({
    clock,
    rng: new SeededRng('fan-out'),
    requiredStake: (c) => ledger().requiredStakeOf(c),
    reputation: (c) => ledger().reputationOf(c).score,
    reservationTtlMs: 30_000,
    offlineAfterMs: 60_000,
  });
}

interface Derived {
  requiredStake: bigint;
  serving: boolean;
}

const derived = (ledger: Ledger, c: Container): Derived => ({
  requiredStake: ledger.requiredStakeOf(c),
  serving: ledger.isServing(c),
});

function run(steps: Step[]): { blocks: number; upserts: number; told: number } {
  const clock = new ManualClock(GENESIS.time);
  const chain = Chain.open(new MemoryChainStore(), clock, () => GENESIS);
  const ledger = () => chain.ledger;
  const indexer = newIndexer(ledger, clock);
  // what the index was last given for each container, and what the ledger derived from it then
  const seen = new Map<string, Derived>();
  let upserts = 0;
  const sink = {
    upsert: (c: Container) => {
      upserts++;
      seen.set(c.id, derived(chain.ledger, c));
      indexer.upsert(c);
    },
    consume: indexer.consume.bind(indexer),
    bulk: indexer.bulk.bind(indexer),
  };
  const bus = new MemoryBus();
  const opened = new Map<string, string[]>();
  const closed = new Map<string, string[]>();
  const preempted = new Map<string, string[]>();
  for (const k of CONTAINERS) {
    opened.set(k.address, []);
    closed.set(k.address, []);
    preempted.set(k.address, []);
    leaseEventsOn(bus, k.address, (subject, msg) => {
      const m = msg as { lease: string | { id: string } };
      const id = typeof m.lease === 'string' ? m.lease : m.lease.id;
      (subject.startsWith('lease.opened.')
        ? opened
        : subject.startsWith('lease.preempted.')
          ? preempted
          : closed
      )
        .get(k.address)!
        .push(id);
    });
  }
  chain.onBlock((e) => fanOutBlock(e, chain.ledger, { indexer: sink, bus }));

  const c: Ctx = { ledger: chain.ledger, leases: [], reservations: [], accepted: [], time: GENESIS.time };
  let blocks = 0;
  for (const { op, nonceSkew, dt } of steps) {
    c.time += dt;
    c.ledger = chain.ledger;
    const raw = buildTx(c, op, nonceSkew);
    clock.set(c.time);
    const prevHash = chain.head.hash;
    try {
      const r = chain.submit(raw);
      blocks++;
      const tx = raw as SignedTx;
      if (tx.type === 'lease.open') c.leases.push(String(r.result.lease));
      if (tx.type === 'reservation.open') c.reservations!.push(String(r.result.reservation));
      c.accepted.push({ tx, height: r.height, time: chain.head.time, prevHash });
    } catch (e) {
      if (!(e instanceof AethirError) || e.code === 'INTERNAL') throw e;
    }
    // the index maintained block by block equals one rebuilt from the ledger now
    const fresh = newIndexer(ledger, clock);
    rebuildIndex(fresh, chain.ledger);
    expect(indexer.records()).toEqual(fresh.records());
    for (const ctr of chain.ledger.containers())
      expect(seen.get(ctr.id), `what the index saw of ${ctr.name}`).toEqual(derived(chain.ledger, ctr));
  }
  let told = 0;
  for (const k of CONTAINERS) {
    const mine = chain.ledger.leases().filter((l) => l.container === k.address);
    const ids = (xs: string[]) => [...xs].sort();
    expect(ids(opened.get(k.address)!), 'leases opened').toEqual(ids(mine.map((l) => l.id)));
    expect(ids(closed.get(k.address)!), 'leases closed').toEqual(
      ids(mine.filter((l) => l.status === 'closed').map((l) => l.id)),
    );
    // ...and of exactly its interruptible leases that a higher-paying one preempted, each once
    expect(ids(preempted.get(k.address)!), 'leases preempted').toEqual(
      ids(mine.filter((l) => l.preemptedAt !== undefined).map((l) => l.id)),
    );
    told += opened.get(k.address)!.length + closed.get(k.address)!.length;
  }
  chain.close();
  return { blocks, upserts, told };
}

const SEED = Number(process.env.LEDGER_PROPERTY_SEED ?? 20_261_206);

describe(`fanOutBlock (property; seed ${SEED}, set LEDGER_PROPERTY_SEED to change it)`, () => {
  it('keeps the index equal to one rebuilt from the ledger, and tells each agent of exactly its leases', () => {
    const total = { blocks: 0, upserts: 0, told: 0 };
    fc.assert(
      fc.property(stepsArb, (steps) => {
        const r = run(steps);
        total.blocks += r.blocks;
        total.upserts += r.upserts;
        total.told += r.told;
      }),
      { numRuns: 40, seed: SEED },
    );
    // not vacuous: blocks applied, the index was fed and agents were told
    expect(total.blocks).toBeGreaterThan(500);
    expect(total.upserts).toBeGreaterThan(100);
    expect(total.told).toBeGreaterThan(50);
  }, 120_000);
});
