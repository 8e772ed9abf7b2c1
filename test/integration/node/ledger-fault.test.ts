import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { AethirError, ManualClock, ath, generateKeyPair, systemClock } from '../../../src/core/index.js';
import { LedgerFault, parseGenesis, signTx, type Genesis } from '../../../src/ledger/index.js';
import { Chain, Replica } from '../../../src/node/index.js';
import { JetStreamLog, SqliteChainStore, asyncChainStore } from '../../../src/store/index.js';
import { injectFault } from '../../unit/ledger/inject-fault.js';

/**
 * Bugs halt, rejections don't, in both compositions alike: an injected fault (a TypeError in
 * the transfer handler, for a 2 ATH transfer) stops an embedded Chain and a Replica behind the
 * JetStream log with the same LedgerFault, their stores and states at the same last good block;
 * neither seals an empty block for it. A replica halts whether the fault shows in the dry run
 * before appending (the entry never reaches the log) or when it applies an entry appended
 * behind its back; restarted with the bug gone, it goes on from its last good block.
 */
const NATS = process.env.AETHIR_TEST_NATS ?? 'nats://127.0.0.1:4222';
const dir = mkdtempSync(join(tmpdir(), 'aethir-fault-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

const alice = generateKeyPair();
const bob = generateKeyPair();
let n = 0;

async function network(): Promise<{ genesis: Genesis; log: JetStreamLog }> {
  const chainId = `t-fault-${process.pid}-${n++}-${Math.floor(Math.random() * 1e6)}`;
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
  await log.init(genesis);
  return { genesis, log };
}

async function replica(net: { log: JetStreamLog }, file: string, lines: string[] = []): Promise<Replica> {
  const store = asyncChainStore(new SqliteChainStore(join(dir, file)), 'sqlite');
  const r = await Replica.open(store, net.log, {
    name: `${file}-${n++}`,
    clock: systemClock,
    log: (l) => lines.push(l),
  });
  await r.start();
  cleanup.push(async () => {
    await r.stop();
    await store.close();
  });
  return r;
}

const transfer = (g: Genesis, nonce: number, amount: bigint) =>
  signTx(alice, g.chainId, 'transfer', nonce, { to: bob.address, amount });
const isTwo = (tx: { payload: unknown }) => (tx.payload as { amount: bigint }).amount === ath(2);

/** What the outcome of a fault is, for comparing compositions. */
function outcome(e: AethirError, head: { height: number; root: string }, storeHead: number, bobHas: bigint) {
  return {
    fault: e instanceof LedgerFault,
    code: e.code,
    message: e.message.split(': TypeError')[0],
    height: head.height,
    root: head.root,
    storeHead,
    bobHas,
  };
}

describe('a fault in apply halts a replica as it halts the embedded chain', () => {
  it('same fault, same last good block, no empty block; the replica goes on from there once restarted', async () => {
    const net = await network();
    // the embedded chain
    const chain = Chain.open(
      new SqliteChainStore(join(dir, 'chain.sqlite')),
      new ManualClock(net.genesis.time),
      () => net.genesis,
    );
    cleanup.push(async () => chain.close());
    chain.submit(transfer(net.genesis, 0, ath(1)));
    let restore = injectFault('transfer', isTwo);
    cleanup.push(async () => restore());
    const [c] = chain.submitMany([transfer(net.genesis, 1, ath(2))]);
    const chainOutcome = outcome(
      (c as { error: AethirError }).error,
      chain.head,
      chain.store.head()!.height,
      chain.ledger.account(bob.address).balance,
    );
    expect(chainOutcome).toMatchObject({
      fault: true,
      code: 'INTERNAL',
      height: 1,
      storeHead: 1,
      bobHas: ath(1),
    });
    expect(chainOutcome.message).toMatch(/^ledger fault at block 2 applying transfer [0-9a-f]{16}$/);

    // a replica, the entry appended behind its back: the fault shows when it applies it
    restore();
    const lines: string[] = [];
    const r = await replica(net, 'apply.sqlite', lines);
    expect((await r.submit(transfer(net.genesis, 0, ath(1)))).ok).toBe(true);
    restore = injectFault('transfer', isTwo);
    const { seq } = await net.log.append(transfer(net.genesis, 1, ath(2)));
    expect(seq).toBe(3);
    await vi.waitFor(() => expect(r.halted).toBeInstanceOf(LedgerFault), { timeout: 10_000 });
    expect(
      outcome(r.halted!, r.head, (await r.store.head())!.height, r.ledger.account(bob.address).balance),
    ).toEqual(chainOutcome);
    expect(r.ledger.root()).toBe(r.head.root);
    expect(await r.store.blocks(0, 10)).toHaveLength(2);
    expect(lines.some((l) => l.includes('LEDGER HALTED at block 1: ledger fault at block 2'))).toBe(true);
    // stopped: nothing more applies, later submissions are refused
    const later = await r.submit(transfer(net.genesis, 1, ath(3)));
    expect(later).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE', message: /^the ledger halted/ } });
    await expect(r.start()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(r.head.height).toBe(1);

    // restarted without the bug, on the same store: it applies the entry from its last good block
    restore();
    await r.stop();
    const again = await replica(net, 'apply.sqlite');
    await again.waitForHeight(2, 10_000);
    expect(again.ledger.account(bob.address).balance).toBe(ath(3));
  });

  it('a fault in the dry run before appending halts the replica too, and the entry never reaches the log', async () => {
    const net = await network();
    const r = await replica(net, 'check.sqlite');
    expect((await r.submit(transfer(net.genesis, 0, ath(1)))).ok).toBe(true);
    const root = r.head.root;
    const restore = injectFault('transfer', isTwo);
    cleanup.push(async () => restore());
    const o = await r.submit(transfer(net.genesis, 1, ath(2)));
    expect(o.ok).toBe(false);
    const e = (o as { error: AethirError }).error;
    expect(e).toBeInstanceOf(LedgerFault);
    expect(e.message).toMatch(
      /^ledger fault at block 2 applying transfer [0-9a-f]{16}: TypeError: injected fault/,
    );
    expect(r.halted).toBe(e);
    expect(await net.log.lastSeq()).toBe(2);
    expect(r.head).toMatchObject({ height: 1, root });
  });
});
