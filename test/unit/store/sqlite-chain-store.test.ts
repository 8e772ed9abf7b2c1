import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AethirError, ath } from '../../../src/core/index.js';
import {
  LedgerState,
  blockHash,
  genesisBlock,
  txId,
  verifyChain,
  type Block,
  type SignedTx,
} from '../../../src/ledger/index.js';
import { SqliteChainStore } from '../../../src/store/index.js';
import { TestNet, alice, bob, carol } from '../ledger/fixtures.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'aethir-store-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const open: SqliteChainStore[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

let n = 0;
function freshPath(): string {
  return path.join(tmp, `case-${n++}`, 'nested', 'chain.db');
}
function openStore(file: string): SqliteChainStore {
  const s = new SqliteChainStore(file);
  open.push(s);
  return s;
}

/** A ledger driven through a store by hand: init, then one block per `add` of txs. */
function seeded(file: string) {
  const t = new TestNet();
  const store = openStore(file);
  const b0 = genesisBlock(t.genesis, t.ledger);
  t.ledger.state.takeDirty();
  store.init(t.genesis, b0, t.ledger.state.entries());
  const blocks: Block[] = [b0];
  /** applies several txs in one block at the current time and appends it */
  const add = (build: () => SignedTx[]) => {
    t.advance(1000);
    const height = blocks.length;
    const txs: SignedTx[] = [];
    for (const raw of build()) txs.push(t.ledger.apply(raw, { height, time: t.time, prevHash: '' }).tx.tx);
    const partial = { height, time: t.time, prevHash: blocks[height - 1]!.hash, txs, root: t.ledger.root() };
    const block = { ...partial, hash: blockHash(partial) };
    store.append(block, t.ledger.state.takeDirty());
    blocks.push(block);
    return block;
  };
  return { t, store, blocks, add };
}

function rootOf(store: SqliteChainStore): string {
  return LedgerState.fromEntries(store.loadState()).root();
}

function expectCode(fn: () => unknown, code: string): AethirError {
  try {
    fn();
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(AethirError);
    expect((e as AethirError).code, (e as Error).message).toBe(code);
    return e as AethirError;
  }
  return expect.unreachable(`expected ${code}`) as never;
}

describe('SqliteChainStore', () => {
  it('starts empty and creates its directory', () => {
    const file = freshPath();
    const s = openStore(file);
    expect(existsSync(path.dirname(file))).toBe(true);
    expect(s.readGenesis()).toBeUndefined();
    expect(s.head()).toBeUndefined();
    expect(s.block(0)).toBeUndefined();
    expect([...s.blocks()]).toEqual([]);
    expect(s.recentBlocks(10)).toEqual([]);
    expect(s.recentTxs(10)).toEqual([]);
    expect(s.tx('nope')).toBeUndefined();
    expect([...s.loadState()]).toEqual([]);
  });

  it('round-trips genesis, blocks, txs and state', () => {
    const { t, store, blocks, add } = seeded(freshPath());
    expect(store.readGenesis()).toEqual(t.genesis);
    expect(store.head()).toEqual(blocks[0]);
    expect(rootOf(store)).toBe(t.ledger.root());

    const b1 = add(() => [
      t.sign(alice, 'transfer', { to: bob.address, amount: ath(1) }),
      t.sign(bob, 'transfer', { to: carol.address, amount: ath(2) }),
    ]);
    const b2 = add(() => [t.sign(alice, 'transfer', { to: carol.address, amount: 5n })]);
    const b3 = add(() => []);

    expect(store.head()).toEqual(b3);
    expect(store.block(1)).toEqual(b1);
    expect(store.block(2)).toEqual(b2);
    expect(store.block(99)).toBeUndefined();
    expect([...store.blocks()]).toEqual(blocks);
    expect([...store.blocks(2)]).toEqual([b2, b3]);
    expect(store.recentBlocks(2)).toEqual([b3, b2]);

    // txs are indexed by id with their height, position and block time
    const [tx1a, tx1b] = b1.txs as [SignedTx, SignedTx];
    const id = (tx: SignedTx) => txId(tx);
    expect(store.tx(id(tx1b))).toEqual({ id: id(tx1b), height: 1, index: 1, time: b1.time, tx: tx1b });
    expect(store.tx(id(tx1a))).toMatchObject({ height: 1, index: 0, tx: tx1a });

    // newest first, with filters
    const recent = store.recentTxs(10);
    expect(recent.map((r) => [r.height, r.index])).toEqual([
      [2, 0],
      [1, 1],
      [1, 0],
    ]);
    expect(recent[0]).toEqual({ id: id(b2.txs[0]!), height: 2, index: 0, time: b2.time, tx: b2.txs[0] });
    expect(store.recentTxs(1)).toHaveLength(1);
    expect(store.recentTxs(10, { from: alice.address }).map((r) => r.height)).toEqual([2, 1]);
    expect(store.recentTxs(10, { from: bob.address, type: 'transfer' }).map((r) => r.tx)).toEqual([tx1b]);
    expect(store.recentTxs(10, { type: 'lease.open' })).toEqual([]);

    // the state round-trips value by value (bigints included) and gives the same root
    const stored = new Map(store.loadState());
    const live = new Map(t.ledger.state.entries());
    expect(stored).toEqual(live);
    expect(rootOf(store)).toBe(t.ledger.root());
    expect(verifyChain(t.genesis, store.blocks())).toMatchObject({
      ok: true,
      height: 3,
      root: t.ledger.root(),
    });
  });

  it('refuses a second init', () => {
    const { t, store, blocks } = seeded(freshPath());
    expectCode(() => store.init(t.genesis, blocks[0]!, []), 'CONFLICT');
  });

  it('writes a block and its state changes atomically: a failed append leaves both as they were', () => {
    const { t, store, blocks, add } = seeded(freshPath());
    add(() => [t.sign(alice, 'transfer', { to: bob.address, amount: 1n })]);
    const head = store.head();
    const root = rootOf(store);
    // a second block at an existing height violates the primary key after the state write
    const dup = { ...blocks[1]!, hash: 'ff'.repeat(32) };
    expect(() => store.append(dup, [[`acct/${alice.address}`, { balance: 0n, nonce: 0 }]])).toThrow();
    expect(store.head()).toEqual(head);
    expect(rootOf(store)).toBe(root);
  });

  it('applies deletions', () => {
    const { store, blocks } = seeded(freshPath());
    const b0 = blocks[0]!;
    const partial = { height: 1, time: b0.time, prevHash: b0.hash, txs: [], root: 'x' };
    store.append({ ...partial, hash: blockHash(partial) }, [
      ['scratch', { a: 1n }],
      ['treasury', undefined],
    ]);
    const state = new Map(store.loadState());
    expect(state.get('scratch')).toEqual({ a: 1n });
    expect(state.has('treasury')).toBe(false);
  });

  it('keeps strings that look like encoded bigints as strings', () => {
    const { store, blocks } = seeded(freshPath());
    const b0 = blocks[0]!;
    const partial = { height: 1, time: b0.time, prevHash: b0.hash, txs: [], root: 'x' };
    const value = { name: '#42', path: '\\#x', n: 42n, list: ['#', '\\'] };
    store.append({ ...partial, hash: blockHash(partial) }, [['weird', value]]);
    expect(new Map(store.loadState()).get('weird')).toEqual(value);
  });

  it('reopening the file gives the same genesis, head, blocks and state', () => {
    const file = freshPath();
    const { t, store, blocks, add } = seeded(file);
    add(() => [t.sign(alice, 'transfer', { to: bob.address, amount: ath(3) })]);
    add(() => [t.sign(bob, 'transfer', { to: alice.address, amount: ath(1) })]);
    store.close();
    store.close(); // closing twice is harmless
    const again = openStore(file);
    expect(again.readGenesis()).toEqual(t.genesis);
    expect(again.head()).toEqual(blocks[2]);
    expect([...again.blocks()]).toEqual(blocks);
    expect(new Map(again.loadState())).toEqual(new Map(t.ledger.state.entries()));
    expect(rootOf(again)).toBe(t.ledger.root());
  });

  it('reports a state row that does not decode as STORE_CORRUPT', () => {
    const file = freshPath();
    const { t, store } = seeded(file);
    store.close();
    const db = new Database(file);
    db.prepare('UPDATE state SET value = ? WHERE key = ?').run('{"balance":"#1', `acct/${alice.address}`);
    db.close();
    const again = openStore(file);
    const e = expectCode(() => [...again.loadState()], 'STORE_CORRUPT');
    expect(e.message).toContain(`acct/${alice.address}`);
    // the store stays usable after the failed read
    expect(again.readGenesis()).toEqual(t.genesis);
    expect(again.head()?.height).toBe(0);
  });
});
