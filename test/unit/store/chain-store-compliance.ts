import { afterEach, describe, expect, it } from 'vitest';
import { AethirError, ath } from '../../../src/core/index.js';
import {
  LedgerState,
  blockHash,
  genesisBlock,
  txId,
  verifyChain,
  type Block,
  type SignedTx,
  type TxResult,
} from '../../../src/ledger/index.js';
import type { AsyncChainStore } from '../../../src/store/index.js';
import {
  TestNet,
  alice,
  bob,
  carol,
  checkers,
  host,
  leasePayload,
  registerPayload,
} from '../ledger/fixtures.js';

/**
 * A ledger that seals blocks by hand. Each tx is signed by a thunk run just before it applies,
 * so one block may hold several txs of the same sender with consecutive nonces.
 */
class Chain {
  readonly t = new TestNet();
  readonly blocks: Block[];

  constructor() {
    this.blocks = [genesisBlock(this.t.genesis, this.t.ledger)];
    this.t.ledger.state.takeDirty();
  }

  get head(): Block {
    return this.blocks.at(-1)!;
  }

  next(...sign: Array<(t: TestNet) => SignedTx>) {
    const t = this.t.advance(1000);
    const height = this.head.height + 1;
    const txs: SignedTx[] = [];
    const txIds: string[] = [];
    const results: TxResult[] = [];
    for (const s of sign) {
      const { tx, result } = t.ledger.apply(s(t), { height, time: t.time, prevHash: '' });
      txs.push(tx.tx);
      txIds.push(tx.id);
      results.push(result);
    }
    const partial = { height, time: t.time, prevHash: this.head.hash, txs, root: t.ledger.root() };
    const block = { ...partial, hash: blockHash(partial, txIds) };
    this.blocks.push(block);
    return { block, changes: t.ledger.state.takeDirty(), txIds, results };
  }

  /** seals a block and appends it to `store`, with its tx ids or without (the store computes them) */
  async add(store: AsyncChainStore, ...sign: Array<(t: TestNet) => SignedTx>): Promise<Block> {
    const { block, changes, txIds } = this.next(...sign);
    await store.append(block, changes, block.height % 2 ? txIds : undefined);
    return block;
  }

  /** a block with no txs carrying arbitrary state changes (the ledger does not see them) */
  synthetic(changes: Array<[string, unknown]>): { block: Block; changes: Array<[string, unknown]> } {
    const partial = {
      height: this.head.height + 1,
      time: this.head.time,
      prevHash: this.head.hash,
      txs: [],
      root: 'x',
    };
    const block = { ...partial, hash: blockHash(partial) };
    this.blocks.push(block);
    return { block, changes };
  }
}

const pay = (from: typeof alice, to: typeof alice, amount: bigint) => (t: TestNet) =>
  t.sign(from, 'transfer', { to: to.address, amount });

async function expectCode(p: Promise<unknown>, code: string): Promise<AethirError> {
  const e = await p.then(
    () => expect.unreachable(`expected ${code}`),
    (e: unknown) => e,
  );
  expect(e, String(e)).toBeInstanceOf(AethirError);
  expect((e as AethirError).code, (e as Error).message).toBe(code);
  return e as AethirError;
}

async function rootOf(store: AsyncChainStore): Promise<string> {
  return LedgerState.fromEntries(await store.loadState()).root();
}

/**
 * The contract of `AsyncChainStore`, run against every adapter. `open` gives a fresh, empty
 * store per call; `cleanup` runs for each after it is closed (e.g. to drop its schema).
 */
export function describeChainStoreCompliance(
  name: string,
  open: () => Promise<AsyncChainStore>,
  cleanup?: (store: AsyncChainStore) => Promise<void> | void,
): void {
  describe(`AsyncChainStore compliance: ${name}`, () => {
    const opened: AsyncChainStore[] = [];
    afterEach(async () => {
      for (const s of opened.splice(0)) {
        await s.close();
        await cleanup?.(s);
      }
    });
    const fresh = async () => {
      const s = await open();
      opened.push(s);
      return s;
    };
    /** a fresh store holding a new chain's genesis */
    const seeded = async () => {
      const store = await fresh();
      const c = new Chain();
      await store.init(c.t.genesis, c.blocks[0]!, c.t.ledger.state.entries());
      return { store, c, t: c.t };
    };

    it('starts empty', async () => {
      const s = await fresh();
      expect(s.kind).toBe(name);
      expect(await s.readGenesis()).toBeUndefined();
      expect(await s.head()).toBeUndefined();
      expect(await s.block(0)).toBeUndefined();
      expect(await s.blocks(0, 10)).toEqual([]);
      expect(await s.recentBlocks(10)).toEqual([]);
      expect(await s.recentTxs(10)).toEqual([]);
      expect(await s.tx('nope')).toBeUndefined();
      expect(await s.loadState()).toEqual([]);
    });

    it('holds genesis, block 0 and the genesis state after init, and refuses a second init', async () => {
      const { store, c, t } = await seeded();
      expect(await store.readGenesis()).toEqual(t.genesis);
      expect(await store.head()).toEqual(c.blocks[0]);
      expect(await store.block(0)).toEqual(c.blocks[0]);
      expect(new Map(await store.loadState())).toEqual(new Map(t.ledger.state.entries()));
      expect(await rootOf(store)).toBe(t.ledger.root());

      await expectCode(store.init(t.genesis, c.blocks[0]!, [['intruder', 1n]]), 'CONFLICT');
      expect(await store.head()).toEqual(c.blocks[0]);
      expect(await rootOf(store)).toBe(t.ledger.root());
    });

    it('appends blocks and reads back blocks, txs and state (bigints included)', async () => {
      const { store, c, t } = await seeded();
      const b1 = await c.add(store, pay(alice, bob, ath(1)), pay(bob, carol, ath(2)), pay(alice, carol, 3n));
      const b2 = await c.add(store, pay(carol, alice, 5n));
      const b3 = await c.add(store);
      expect(await store.head()).toEqual(b3);
      expect(await store.block(1)).toEqual(b1);
      expect(await store.block(2)).toEqual(b2);
      expect(await store.block(4)).toBeUndefined();
      expect(await store.blocks(0, 100)).toEqual(c.blocks);

      const stored = new Map(await store.loadState());
      expect(stored).toEqual(new Map(t.ledger.state.entries()));
      expect(stored.get(`acct/${alice.address}`)).toMatchObject({ balance: expect.any(BigInt) });
      expect(await rootOf(store)).toBe(t.ledger.root());
    });

    it('pages blocks(from, limit) in height order', async () => {
      const { store, c } = await seeded();
      for (let i = 0; i < 6; i++) await c.add(store);
      const pages: Block[][] = [];
      for (let from = 0; ;) {
        const page = await store.blocks(from, 3);
        if (!page.length) break;
        expect(page.length).toBeLessThanOrEqual(3);
        pages.push(page);
        from = page.at(-1)!.height + 1;
      }
      expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
      expect(pages.flat()).toEqual(c.blocks);
      expect(await store.blocks(5, 10)).toEqual(c.blocks.slice(5));
      expect(await store.blocks(2, 1)).toEqual([c.blocks[2]]);
      expect(await store.blocks(2, 0)).toEqual([]);
      expect(await store.blocks(7, 10)).toEqual([]);
    });

    it('lists recent blocks newest first', async () => {
      const { store, c } = await seeded();
      for (let i = 0; i < 4; i++) await c.add(store);
      expect(await store.recentBlocks(2)).toEqual([c.blocks[4], c.blocks[3]]);
      expect(await store.recentBlocks(100)).toEqual([...c.blocks].reverse());
      expect(await store.recentBlocks(0)).toEqual([]);
    });

    it('finds txs by id and lists recent txs newest first, filtered by sender and type', async () => {
      const { store, c, t } = await seeded();
      // odd heights are appended with their tx ids, even ones without: both index the same way
      const b1 = await c.add(store, pay(alice, bob, ath(1)), pay(bob, carol, ath(2)));
      const b2 = await c.add(store, pay(alice, carol, 5n), (t) =>
        t.sign(alice, 'escrow.deposit', { amount: 7n }),
      );
      await c.add(store);
      const [tx1a, tx1b] = b1.txs as [SignedTx, SignedTx];
      const [tx2a, tx2b] = b2.txs as [SignedTx, SignedTx];

      expect(await store.tx(txId(tx1b))).toEqual({
        id: txId(tx1b),
        height: 1,
        index: 1,
        time: b1.time,
        tx: tx1b,
      });
      expect(await store.tx(txId(tx2a))).toEqual({
        id: txId(tx2a),
        height: 2,
        index: 0,
        time: b2.time,
        tx: tx2a,
      });
      expect(await store.tx('00'.repeat(32))).toBeUndefined();

      const recent = await store.recentTxs(10);
      expect(recent.map((r) => [r.height, r.index])).toEqual([
        [2, 1],
        [2, 0],
        [1, 1],
        [1, 0],
      ]);
      expect(recent[0]).toEqual({ id: txId(tx2b), height: 2, index: 1, time: b2.time, tx: tx2b });
      expect(await store.recentTxs(3)).toEqual(recent.slice(0, 3));
      expect(await store.recentTxs(0)).toEqual([]);
      expect((await store.recentTxs(10, { from: alice.address })).map((r) => r.tx)).toEqual([
        tx2b,
        tx2a,
        tx1a,
      ]);
      expect((await store.recentTxs(1, { from: alice.address })).map((r) => r.tx)).toEqual([tx2b]);
      expect((await store.recentTxs(10, { type: 'escrow.deposit' })).map((r) => r.tx)).toEqual([tx2b]);
      expect((await store.recentTxs(10, { from: bob.address, type: 'transfer' })).map((r) => r.tx)).toEqual([
        tx1b,
      ]);
      expect(await store.recentTxs(10, { from: carol.address })).toEqual([]);
      expect(await store.recentTxs(10, { type: 'lease.open' })).toEqual([]);
      expect(t.ledger.account(alice.address).nonce).toBe(3);
    });

    it('applies deletions and overwrites, and keeps strings that look like encodings as strings', async () => {
      const { store, c } = await seeded();
      const weird = { name: '#42', path: '\\#x', n: 42n, big: 2n ** 70n, list: ['#', '\\', -1n] };
      const first = c.synthetic([
        ['scratch', { a: 1n }],
        ['weird', weird],
        ['gone-soon', 'x'],
      ]);
      await store.append(first.block, first.changes);
      const second = c.synthetic([
        ['scratch', { a: 2n }],
        ['gone-soon', undefined],
        ['treasury', undefined],
        ['never-held', undefined],
      ]);
      await store.append(second.block, second.changes);
      const state = new Map(await store.loadState());
      expect(state.get('scratch')).toEqual({ a: 2n });
      expect(state.get('weird')).toEqual(weird);
      expect(state.has('gone-soon')).toBe(false);
      expect(state.has('treasury')).toBe(false);
      expect(state.has('never-held')).toBe(false);
    });

    it('hands out copies: mutating what was read changes nothing held', async () => {
      const { store, c } = await seeded();
      const b1 = await c.add(store, pay(alice, bob, 1n));
      const state = await store.loadState();
      const acct = state.find(([k]) => k === `acct/${alice.address}`)![1] as { balance: bigint };
      acct.balance = 0n;
      const read = (await store.block(1))!;
      read.txs.length = 0;
      read.hash = 'tampered';
      (await store.tx(txId(b1.txs[0]!)))!.tx.payload.amount = '999';
      expect(await store.block(1)).toEqual(b1);
      expect(await store.tx(txId(b1.txs[0]!))).toMatchObject({ tx: b1.txs[0] });
      expect(await rootOf(store)).toBe(c.t.ledger.root());
    });

    it('starts from a snapshot: the first block held is the snapshot head, none before it', async () => {
      const store = await fresh();
      const c = new Chain();
      c.next(pay(alice, bob, ath(1)));
      c.next(pay(bob, carol, ath(1)));
      const { block: snap, txIds } = c.next(pay(alice, carol, 9n));
      await store.init(c.t.genesis, snap, c.t.ledger.state.entries());
      expect(await store.head()).toEqual(snap);
      expect(await store.block(0)).toBeUndefined();
      expect(await store.block(2)).toBeUndefined();
      expect(await store.blocks(0, 10)).toEqual([snap]);
      expect(await store.tx(txIds[0]!)).toMatchObject({ height: 3, index: 0, tx: snap.txs[0] });
      expect(await rootOf(store)).toBe(c.t.ledger.root());

      const b4 = await c.add(store, pay(carol, alice, 1n));
      expect(await store.head()).toEqual(b4);
      expect(await store.recentBlocks(10)).toEqual([b4, snap]);
      expect(await store.blocks(0, 10)).toEqual([snap, b4]);
      expect((await store.recentTxs(10)).map((r) => r.height)).toEqual([4, 3]);
      expect(await rootOf(store)).toBe(c.t.ledger.root());
    });

    it('writes a block and its changes atomically: a rejected append leaves both as they were', async () => {
      const { store, c, t } = await seeded();
      const b1 = await c.add(store, pay(alice, bob, 1n));
      const root = await rootOf(store);
      // a second block at a held height, with a state change that must not land
      const dup = { ...b1, hash: 'ff'.repeat(32) };
      await expect(
        store.append(dup, [[`acct/${alice.address}`, { balance: 0n, nonce: 0 }]]),
      ).rejects.toThrow();
      // a block that is new but carries a change that cannot be encoded
      const bad = c.synthetic([
        ['fine', 1n],
        ['broken', () => 0],
      ]);
      await expect(store.append(bad.block, bad.changes)).rejects.toThrow();
      expect(await store.head()).toEqual(b1);
      expect(await store.block(bad.block.height)).toBeUndefined();
      expect(await rootOf(store)).toBe(root);
      expect(await rootOf(store)).toBe(t.ledger.root());
      expect(new Map(await store.loadState()).has('fine')).toBe(false);
      // and the store still takes the right block afterwards
      c.blocks.pop();
      const b2 = await c.add(store, pay(bob, alice, 1n));
      expect(await store.head()).toEqual(b2);
    });

    it('replays a real ledger: the stored state has the ledger root and the stored log verifies', async () => {
      const { store, c, t } = await seeded();
      await c.add(store, pay(alice, bob, ath(1)), pay(bob, carol, ath(2)));
      await c.add(
        store,
        (t) => t.sign(host, 'container.register', registerPayload(2, ath(1))),
        (t) =>
          t.sign(host, 'container.stake', {
            amount: t.ledger.requiredStakeFor(['NVIDIA H100 80GB HBM3', 'NVIDIA H100 80GB HBM3']),
          }),
        (t) => t.sign(alice, 'escrow.deposit', { amount: ath(10) }),
      );
      await c.add(
        store,
        (t) =>
          t.sign(checkers[0], 'checker.report', {
            container: host.address,
            check: 'liveness',
            ok: true,
            observedAt: t.time,
          }),
        (t) =>
          t.sign(checkers[1], 'checker.report', {
            container: host.address,
            check: 'liveness',
            ok: true,
            observedAt: t.time,
          }),
      );
      const opened = c.next((t) => t.sign(alice, 'lease.open', leasePayload(host.address, 2, 3600, ath(1))));
      await store.append(opened.block, opened.changes);
      const lease = (opened.results[0] as { lease: string }).lease;
      expect(lease).toEqual(expect.any(String));
      t.advance(600_000);
      await c.add(store, (t) => t.sign(host, 'lease.settle', { lease, receipt: t.receipt(lease) }));
      t.advance(600_000);
      await c.add(store, (t) => t.sign(alice, 'lease.close', { lease }), pay(carol, bob, 1n));
      expect(t.ledger.lease(lease)!.status).toBe('closed');

      expect(await rootOf(store)).toBe(t.ledger.root());
      expect(await store.head()).toEqual(c.head);
      const log = await store.blocks(0, 1000);
      expect(verifyChain(t.genesis, log)).toMatchObject({
        ok: true,
        height: c.head.height,
        txs: 11,
        root: t.ledger.root(),
      });
    });
  });
}
