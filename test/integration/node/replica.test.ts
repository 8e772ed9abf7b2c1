import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ath, generateKeyPair, systemClock, type KeyPair } from '../../../src/core/index.js';
import { parseGenesis, signTx, type Genesis } from '../../../src/ledger/index.js';
import { Replica, snapshotFromWire, snapshotToWire } from '../../../src/node/index.js';
import {
  JetStreamLog,
  MemoryChainStore,
  PgChainStore,
  SqliteChainStore,
  asyncChainStore,
  type AsyncChainStore,
} from '../../../src/store/index.js';

const NATS = process.env.AETHIR_TEST_NATS ?? 'nats://127.0.0.1:4222';
const PG = process.env.AETHIR_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const dir = mkdtempSync(join(tmpdir(), 'aethir-replica-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Net {
  chainId: string;
  genesis: Genesis;
  log: JetStreamLog;
  alice: KeyPair;
  bob: KeyPair;
}

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

let n = 0;
async function network(): Promise<Net> {
  const chainId = `t-replica-${process.pid}-${n++}-${Math.floor(Math.random() * 1e6)}`;
  const alice = generateKeyPair();
  const bob = generateKeyPair();
  const genesis = parseGenesis({
    chainId,
    time: systemClock.now(),
    allocations: [{ address: alice.address, amount: ath(1_000).toString() }],
    checkers: [bob.address],
  });
  const log = await JetStreamLog.connect({ servers: NATS, chainId });
  cleanup.push(async () => {
    await log.destroy();
    await log.close();
  });
  expect(await log.init(genesis)).toEqual({ created: true });
  return { chainId, genesis, log, alice, bob };
}

async function replica(net: Net, store: AsyncChainStore, name: string, snapshot?: string): Promise<Replica> {
  const r = await Replica.open(store, net.log, {
    name: `${name}-${net.chainId}`,
    clock: systemClock,
    snapshot: snapshot ? snapshotFromWire(snapshot) : undefined,
  });
  await r.start();
  cleanup.push(async () => {
    await r.stop();
    await store.close();
  });
  return r;
}

const memory = () => asyncChainStore(new MemoryChainStore(), 'memory');
const sqlite = (file: string) => asyncChainStore(new SqliteChainStore(join(dir, file)), 'sqlite');
async function postgres(): Promise<AsyncChainStore> {
  const schema = `t_replica_${process.pid}_${n++}`;
  const store = await PgChainStore.open({ url: PG, schema });
  cleanup.push(async () => {
    const c = new pg.Client({ connectionString: PG });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  });
  return store;
}

const transfer = (net: Net, nonce: number, amount: bigint) =>
  signTx(net.alice, net.chainId, 'transfer', nonce, { to: net.bob.address, amount });

describe('Replica over the JetStream log', () => {
  it('replicas on memory, SQLite and PostgreSQL agree on every block, rejected entries included', async () => {
    const net = await network();
    const a = await replica(net, memory(), 'mem');
    const b = await replica(net, await postgres(), 'pg');
    const c = await replica(net, sqlite('agree.sqlite'), 'sqlite');
    for (let i = 0; i < 20; i++) expect((await a.submit(transfer(net, i, ath(1)))).ok).toBe(true);
    // Appended behind the check's back: over the balance. Every replica rejects it alike.
    const bad = transfer(net, 20, ath(5_000));
    const { seq } = await net.log.append(bad);
    await Promise.all([a, b, c].map((r) => r.waitForHeight(seq - 1)));
    const blocks = await Promise.all([a, b, c].map((r) => r.store.blocks(0, 1_000)));
    expect(blocks[0]!.length).toBe(22);
    expect(blocks[1]).toEqual(blocks[0]);
    expect(blocks[2]).toEqual(blocks[0]);
    const last = blocks[0]![21]!;
    expect(last.txs).toEqual([]);
    expect(last.root).toBe(blocks[0]![20]!.root);
    expect(a.ledger.account(net.bob.address).balance).toBe(ath(20));
  });

  it('a retried submission is applied once (JetStream de-duplicates by transaction id)', async () => {
    const net = await network();
    const a = await replica(net, memory(), 'dedup');
    const tx = transfer(net, 0, ath(3));
    const first = await net.log.append(tx);
    const again = await net.log.append(tx);
    expect(again).toEqual({ seq: first.seq, duplicate: true });
    const o = await a.submit(tx);
    expect(o.ok, o.ok ? '' : `${o.error.code}: ${o.error.message}`).toBe(true);
    await a.waitForHeight(first.seq - 1);
    expect(a.head.height).toBe(1);
    expect(a.ledger.account(net.bob.address).balance).toBe(ath(3));
  });

  it('rejects what its check can see without appending to the log', async () => {
    const net = await network();
    const a = await replica(net, memory(), 'check');
    const before = await net.log.lastSeq();
    const o = await a.submit(transfer(net, 0, ath(10_000)));
    expect(o.ok).toBe(false);
    if (!o.ok) expect(o.error.code).toBe('INSUFFICIENT_FUNDS');
    const forged = { ...transfer(net, 0, ath(1)), chainId: 'other-chain' };
    const w = await a.submit(forged);
    expect(!w.ok && w.error.code).toBe('WRONG_CHAIN');
    expect(await net.log.lastSeq()).toBe(before);
    expect(a.head.height).toBe(0);
  });

  it('resumes from its own store after a restart, without re-applying', async () => {
    const net = await network();
    const first = await replica(net, sqlite('resume.sqlite'), 'resume');
    for (let i = 0; i < 5; i++) await first.submit(transfer(net, i, ath(1)));
    await first.stop();
    await first.store.close();
    for (let i = 5; i < 9; i++) await net.log.append(transfer(net, i, ath(1)));
    const again = await Replica.open(sqlite('resume.sqlite'), net.log, {
      name: `resume-${net.chainId}`,
      clock: systemClock,
    });
    expect(again.head.height).toBe(5);
    await again.start();
    cleanup.push(() => again.stop());
    await again.waitForHeight(9);
    expect(again.ledger.account(net.bob.address).balance).toBe(ath(9));
    expect(again.ledger.account(net.alice.address).nonce).toBe(9);
  });

  it('starts from a snapshot and catches up; refuses a tampered or foreign snapshot', async () => {
    const net = await network();
    const a = await replica(net, memory(), 'src');
    for (let i = 0; i < 6; i++) await a.submit(transfer(net, i, ath(2)));
    const wire = snapshotToWire(a.snapshot());
    const b = await replica(net, sqlite('snap.sqlite'), 'snap', wire);
    expect((await b.store.blocks(0, 100))[0]!.height).toBe(6);
    await a.submit(transfer(net, 6, ath(2)));
    await b.waitForHeight(7);
    expect(b.head.root).toBe(a.head.root);

    const tampered = snapshotFromWire(wire);
    tampered.state = tampered.state.map(([k, v]) =>
      k.includes(net.bob.address) ? [k, { ...(v as object), balance: ath(999) }] : [k, v],
    );
    await expect(
      Replica.open(memory(), net.log, { name: 'tampered', clock: systemClock, snapshot: tampered }),
    ).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
    const other = await network();
    await expect(
      Replica.open(memory(), other.log, {
        name: 'foreign',
        clock: systemClock,
        snapshot: snapshotFromWire(wire),
      }),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('refuses a store of another chain and a second, different genesis', async () => {
    const one = await network();
    const two = await network();
    const store = sqlite('one.sqlite');
    const r = await replica(one, store, 'one');
    await r.stop();
    await expect(Replica.open(store, two.log, { name: 'mixed', clock: systemClock })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    await expect(one.log.init(two.genesis)).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await one.log.init(one.genesis)).toEqual({ created: false });
  });
});
