import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AethirError, ManualClock, ath, canonicalize, type KeyPair } from '../../../src/core/index.js';
import {
  decodeTx,
  genesisBlock,
  Ledger,
  signReceipt,
  signTx,
  verifyChain,
  type Block,
  type Genesis,
  type TxType,
} from '../../../src/ledger/index.js';
import { Chain, type BlockEvent, type SubmitOutcome } from '../../../src/node/chain.js';
import { SubmitQueue } from '../../../src/node/submit-queue.js';
import { SqliteChainStore, type ChainStore } from '../../../src/store/index.js';
import {
  CHAIN_ID,
  GENESIS_TIME,
  HOUR_MS,
  alice,
  bob,
  carol,
  checkers,
  host,
  leasePayload,
  makeGenesis,
  registerPayload,
  signNext,
  stranger,
} from '../ledger/fixtures.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'aethir-chain-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const opened: ChainStore[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
});

let n = 0;
function freshPath(): string {
  return path.join(tmp, `case-${n++}`, 'chain.db');
}
function openStore(file = ':memory:'): SqliteChainStore {
  const s = new SqliteChainStore(file);
  opened.push(s);
  return s;
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

/** A fresh chain on an in-memory SQLite store, driven by a manual clock. */
function newChain(opts: { store?: ChainStore; genesis?: Genesis } = {}) {
  const clock = new ManualClock(GENESIS_TIME);
  const store = opts.store ?? openStore();
  const chain = Chain.open(store, clock, () => opts.genesis ?? makeGenesis());
  const submit = (k: KeyPair, type: TxType, payload: Record<string, unknown>) =>
    chain.submit(signNext(chain.ledger, k, type, payload));
  return { chain, clock, store, submit };
}

/** The stake a host registered with registerPayload(gpus) must hold on this chain now. */
function stakeFor(chain: Chain, gpus: number): bigint {
  return chain.ledger.requiredStakeFor(registerPayload(gpus, 1n).spec.gpus.map((g) => g.model));
}

/** The observable state of a chain: what must not move when a submit is rejected. */
function snapshot(chain: Chain) {
  return { head: chain.head, root: chain.ledger.root(), storeHead: chain.store.head() };
}

describe('Chain', () => {
  it('creates the chain from genesis in an empty store, once', () => {
    let made = 0;
    const store = openStore();
    const chain = Chain.open(store, new ManualClock(), () => {
      made++;
      return makeGenesis();
    });
    const g = makeGenesis();
    expect(made).toBe(1);
    expect(chain.chainId).toBe('test-chain');
    expect(chain.genesis).toEqual(g);
    expect(chain.head).toEqual(genesisBlock(g, Ledger.fromGenesis(g)));
    expect(store.head()).toEqual(chain.head);
    expect(store.readGenesis()).toEqual(g);
    // the genesis state is all persisted: nothing left dirty
    expect(chain.ledger.state.takeDirty()).toEqual([]);
    // opening the same store again does not call makeGenesis
    const again = Chain.open(store, new ManualClock(), () => {
      made++;
      return makeGenesis();
    });
    expect(made).toBe(1);
    expect(again.ledger.root()).toBe(chain.ledger.root());
  });

  it('seals each accepted tx into a durable block at the clock time', () => {
    const { chain, clock, store, submit } = newChain();
    const events: BlockEvent[] = [];
    chain.onBlock((e) => events.push(e));
    clock.advance(2500);
    const r = submit(alice, 'transfer', { to: bob.address, amount: ath(3) });
    expect(r.height).toBe(1);
    expect(r.root).toBe(chain.ledger.root());
    expect(r.result).toEqual({ to: bob.address, amount: ath(3).toString() });
    const head = chain.head;
    expect(head).toMatchObject({ height: 1, time: GENESIS_TIME + 2500, root: r.root });
    expect(head.txs).toHaveLength(1);
    expect(head.txs[0]!.from).toBe(alice.address);
    expect(store.head()).toEqual(head);
    expect(store.tx(r.id)).toMatchObject({ height: 1, index: 0, time: head.time });
    expect(events).toHaveLength(1);
    expect(events[0]!.block).toEqual(head);
    expect(events[0]!.applied).toMatchObject([{ id: r.id, result: r.result }]);
    expect(chain.ledger.account(bob.address).balance).toBe(ath(50_003));
    // the store's state matches the in-memory ledger
    expect(new Map(store.loadState())).toEqual(new Map(chain.ledger.state.entries()));
  });

  it('a rejected submit throws a typed error and leaves head, root, store and listeners untouched', () => {
    const { chain, clock, submit } = newChain();
    clock.advance(1000);
    const first = signNext(chain.ledger, alice, 'transfer', { to: bob.address, amount: 1n });
    chain.submit(first);
    const events: BlockEvent[] = [];
    chain.onBlock((e) => events.push(e));
    const before = snapshot(chain);
    clock.advance(1000);
    const cases: Array<[string, () => unknown]> = [
      ['NONCE_MISMATCH', () => chain.submit(first)],
      ['INSUFFICIENT_FUNDS', () => submit(carol, 'transfer', { to: bob.address, amount: ath(11) })],
      ['INVALID_TRANSACTION', () => submit(alice, 'transfer', { to: bob.address, amount: 0n })],
      ['INVALID_TRANSACTION', () => chain.submit({ nonsense: true })],
      ['BAD_SIGNATURE', () => chain.submit({ ...first, nonce: 1 })],
      [
        'UNAUTHORIZED',
        () => submit(stranger, 'checker.report', { container: host.address, ok: true, observedAt: 0 }),
      ],
      ['NOT_FOUND', () => submit(alice, 'lease.close', { lease: 'Lnothing' })],
    ];
    for (const [code, fn] of cases) {
      expectCode(fn, code);
      expect(snapshot(chain), code).toEqual(before);
    }
    expect(events).toEqual([]);
    expect([...chain.blocks()]).toHaveLength(2);
    // the chain keeps working after rejections
    expect(submit(alice, 'transfer', { to: bob.address, amount: 1n }).height).toBe(2);
  });

  it('block times never go backwards, even if the clock does', () => {
    const { chain, clock, submit } = newChain();
    const times: number[] = [];
    const step = (clockMs: number) => {
      clock.set(clockMs);
      submit(alice, 'transfer', { to: bob.address, amount: 1n });
      times.push(chain.head.time);
    };
    step(GENESIS_TIME - 10 * HOUR_MS); // a clock behind genesis: block at genesis time
    step(GENESIS_TIME + 5000);
    step(GENESIS_TIME + 1000); // clock jumps back
    step(0);
    step(GENESIS_TIME + 5001);
    step(GENESIS_TIME + 4000);
    expect(times).toEqual([
      GENESIS_TIME,
      GENESIS_TIME + 5000,
      GENESIS_TIME + 5000,
      GENESIS_TIME + 5000,
      GENESIS_TIME + 5001,
      GENESIS_TIME + 5001,
    ]);
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThanOrEqual(times[i - 1]!);
    expect(verifyChain(chain.genesis, chain.blocks())).toMatchObject({ ok: true, height: 6 });
  });

  it('lease charges follow the block clock, not the wall clock', () => {
    const { chain, clock, submit } = newChain();
    submit(host, 'container.register', registerPayload(2, ath(2)));
    submit(host, 'container.stake', { amount: stakeFor(chain, 2) });
    submit(alice, 'escrow.deposit', { amount: ath(100) });
    submit(checkers[0], 'checker.report', { container: host.address, ok: true, observedAt: clock.now() });
    submit(checkers[1], 'checker.report', { container: host.address, ok: true, observedAt: clock.now() });
    clock.advance(1000);
    const open = submit(alice, 'lease.open', leasePayload(host.address, 2, 3600, ath(2)));
    const openedAt = chain.head.time;
    clock.advance(15 * 60_000);
    // the user acknowledged an hour (more than ran): the block time caps the charge
    const lease = String(open.result.lease);
    const receipt = signReceipt(alice, CHAIN_ID, { lease, servedMs: HOUR_MS, seq: 1, at: clock.now() });
    const settle = submit(host, 'lease.settle', { lease, receipt });
    const perMs = (n: bigint) => (ath(2) * 2n * n) / BigInt(HOUR_MS);
    expect(settle.result.charged).toBe(perMs(15n * 60_000n).toString());
    // the clock jumps back 10 minutes: the close lands at the head's time and refunds nothing
    clock.set(clock.now() - 10 * 60_000);
    const close = submit(alice, 'lease.close', { lease: open.result.lease });
    expect(chain.head.time).toBe(openedAt + 15 * 60_000);
    expect(close.result.charged).toBe(perMs(15n * 60_000n).toString());
    expect(close.result.refund).toBe((ath(4) - perMs(15n * 60_000n)).toString());
    expect(chain.ledger.totalHeld()).toBe(chain.ledger.chain.supply);
  });

  it('uses whole milliseconds even when the clock reports fractions', () => {
    const { chain, clock, submit } = newChain();
    submit(host, 'container.register', registerPayload(1, ath(1)));
    submit(host, 'container.stake', { amount: stakeFor(chain, 1) });
    submit(alice, 'escrow.deposit', { amount: ath(100) });
    submit(checkers[0], 'checker.report', { container: host.address, ok: true, observedAt: clock.now() });
    submit(checkers[2], 'checker.report', { container: host.address, ok: true, observedAt: clock.now() });
    clock.advance(0.5);
    const open = submit(alice, 'lease.open', leasePayload(host.address, 1, 60, ath(1)));
    clock.advance(1000.25);
    const close = submit(alice, 'lease.close', { lease: open.result.lease });
    expect(Number.isInteger(chain.head.time)).toBe(true);
    expect(close.result.charged).toBe(((ath(1) * 1000n) / BigInt(HOUR_MS)).toString());
    for (const b of chain.blocks()) expect(Number.isInteger(b.time)).toBe(true);
  });

  it('keeps sequencing when a listener throws, and stops notifying after unsubscribe', () => {
    const { chain, submit } = newChain();
    const seen: number[] = [];
    chain.onBlock(() => {
      throw new Error('faulty listener');
    });
    const off = chain.onBlock((e) => seen.push(e.block.height));
    submit(alice, 'transfer', { to: bob.address, amount: 1n });
    off();
    submit(alice, 'transfer', { to: bob.address, amount: 1n });
    expect(seen).toEqual([1]);
    expect(chain.head.height).toBe(2);
  });

  it('a failed write answers UNAVAILABLE and falls back to the durable state', () => {
    const inner = openStore();
    let failNext = false;
    const flaky: ChainStore = Object.assign(Object.create(inner) as ChainStore, {
      append(block: Block, changes: Iterable<[string, unknown]>) {
        if (failNext) {
          failNext = false;
          throw new Error('disk full');
        }
        inner.append(block, changes);
      },
    });
    const { chain, submit } = newChain({ store: flaky });
    submit(alice, 'transfer', { to: bob.address, amount: 1n });
    const before = snapshot(chain);
    const events: BlockEvent[] = [];
    chain.onBlock((e) => events.push(e));
    failNext = true;
    const e = expectCode(() => submit(alice, 'transfer', { to: bob.address, amount: 5n }), 'UNAVAILABLE');
    expect(e.retryable).toBe(true);
    expect(snapshot(chain)).toEqual(before);
    expect(chain.ledger.account(alice.address).nonce).toBe(1);
    expect(events).toEqual([]);
    // the same tx can be retried and lands
    const r = submit(alice, 'transfer', { to: bob.address, amount: 5n });
    expect(r.height).toBe(2);
    expect(verifyChain(chain.genesis, chain.blocks())).toMatchObject({ ok: true, root: chain.ledger.root() });
  });

  it('close closes the store', () => {
    const { chain, store } = newChain();
    chain.close();
    expect(() => store.head()).toThrow();
  });
});

describe('Chain.open on a reopened SQLite file', () => {
  it('restores the same root and head from a reopened file', () => {
    const file = freshPath();
    const clock = new ManualClock(makeGenesis().time);
    const first = Chain.open(openStore(file), clock, () => makeGenesis());
    const submit = (k: KeyPair, type: TxType, p: Record<string, unknown>) => {
      clock.advance(1500);
      return first.submit(signNext(first.ledger, k, type, p));
    };
    submit(alice, 'transfer', { to: bob.address, amount: ath(7) });
    submit(host, 'container.register', registerPayload(1, ath(1)));
    submit(host, 'container.stake', { amount: ath(1100) });
    const root = first.ledger.root();
    const head = first.head;
    first.close();

    let called = 0;
    const reopened = Chain.open(openStore(file), new ManualClock(0), () => {
      called++;
      return makeGenesis();
    });
    expect(called).toBe(0);
    expect(reopened.ledger.root()).toBe(root);
    expect(reopened.head).toEqual(head);
    expect(reopened.genesis).toEqual(makeGenesis());
    expect(reopened.ledger.container(host.address)!.stake).toBe(ath(1100));
    expect(reopened.ledger.account(alice.address).nonce).toBe(1);
    // and it keeps going where it stopped
    const r = reopened.submit(
      signNext(reopened.ledger, alice, 'transfer', { to: carol.address, amount: 1n }),
    );
    expect(r.height).toBe(head.height + 1);
    expect(reopened.head.time).toBeGreaterThanOrEqual(head.time);
    expect(verifyChain(reopened.genesis, reopened.blocks())).toMatchObject({
      ok: true,
      root: reopened.ledger.root(),
    });
  });

  describe('a tampered state row makes Chain.open throw STORE_CORRUPT', () => {
    function prepared(): string {
      const file = freshPath();
      const clock = new ManualClock(makeGenesis().time);
      const chain = Chain.open(openStore(file), clock, () => makeGenesis());
      clock.advance(1000);
      chain.submit(signNext(chain.ledger, alice, 'transfer', { to: bob.address, amount: ath(7) }));
      chain.close();
      return file;
    }
    function tamper(file: string, sql: string, ...args: unknown[]): void {
      const db = new Database(file);
      try {
        const r = db.prepare(sql).run(...args);
        expect(r.changes).toBeGreaterThan(0);
      } finally {
        db.close();
      }
    }
    const reopen = (file: string) => Chain.open(openStore(file), new ManualClock(0), () => makeGenesis());

    it('baseline: the untouched file opens', () => {
      const file = prepared();
      expect(reopen(file).head.height).toBe(1);
    });

    it('a changed balance', () => {
      const file = prepared();
      tamper(
        file,
        'UPDATE state SET value = ? WHERE key = ?',
        canonicalize({ balance: ath(1_000_000), nonce: 1 }),
        `acct/${alice.address}`,
      );
      expectCode(() => reopen(file), 'STORE_CORRUPT');
    });

    it('a deleted row', () => {
      const file = prepared();
      tamper(file, 'DELETE FROM state WHERE key = ?', `acct/${bob.address}`);
      expectCode(() => reopen(file), 'STORE_CORRUPT');
    });

    it('an extra row', () => {
      const file = prepared();
      tamper(
        file,
        'INSERT INTO state (key, value) VALUES (?, ?)',
        `acct/${carol.address}x`,
        canonicalize({ balance: 1n, nonce: 0 }),
      );
      expectCode(() => reopen(file), 'STORE_CORRUPT');
    });

    it('a row that is not valid JSON', () => {
      const file = prepared();
      tamper(file, 'UPDATE state SET value = ? WHERE key = ?', '{"balance": "#1', `acct/${alice.address}`);
      expectCode(() => reopen(file), 'STORE_CORRUPT');
    });

    it('a row with a malformed bigint', () => {
      const file = prepared();
      tamper(
        file,
        'UPDATE state SET value = ? WHERE key = ?',
        '{"balance":"#12x","nonce":1}',
        `acct/${alice.address}`,
      );
      expectCode(() => reopen(file), 'STORE_CORRUPT');
    });

    it('a head block whose root does not match the state', () => {
      const file = prepared();
      tamper(file, 'UPDATE blocks SET root = ? WHERE height = 1', '0'.repeat(64));
      expectCode(() => reopen(file), 'STORE_CORRUPT');
    });

    it('a genesis without blocks', () => {
      const file = prepared();
      tamper(file, 'DELETE FROM blocks');
      expectCode(() => reopen(file), 'STORE_CORRUPT');
    });
  });
});

/** A store that counts appends and can be made to fail the next one. */
function countingStore(inner: ChainStore = openStore()) {
  const calls = { appends: 0, failNext: false };
  const store: ChainStore = Object.assign(Object.create(inner) as ChainStore, {
    append(block: Block, changes: Iterable<[string, unknown]>) {
      calls.appends++;
      if (calls.failNext) {
        calls.failNext = false;
        throw new Error('disk full');
      }
      inner.append(block, changes);
    },
  });
  return { store, calls };
}

function codes(outcomes: SubmitOutcome[]): Array<string> {
  return outcomes.map((o) => (o.ok ? 'ok' : o.error.code));
}

describe('Chain.submitMany (group commit)', () => {
  it('applies a mixed batch in order: one block, one append, rejected ones leave no trace', () => {
    const { store, calls } = countingStore();
    const { chain, clock } = newChain({ store });
    const events: BlockEvent[] = [];
    chain.onBlock((e) => events.push(e));
    clock.advance(3000);
    const a0 = signTx(alice, CHAIN_ID, 'transfer', 0, { to: bob.address, amount: ath(1) });
    const a1 = signTx(alice, CHAIN_ID, 'transfer', 1, { to: carol.address, amount: ath(2) });
    const b0 = signTx(bob, CHAIN_ID, 'transfer', 0, { to: alice.address, amount: ath(3) });
    const batch: unknown[] = [
      a0,
      a0, // replayed inside the same batch
      signTx(carol, CHAIN_ID, 'transfer', 0, { to: bob.address, amount: ath(11) }), // carol holds 10
      { ...b0, nonce: 1 }, // signature no longer matches
      { nonsense: true },
      signTx(stranger, CHAIN_ID, 'checker.report', 0, { container: host.address, ok: true, observedAt: 0 }),
      signTx(alice, 'other-chain', 'transfer', 1, { to: bob.address, amount: 1n }),
      a1, // depends on a0 (nonce 1) within the batch
      b0,
    ];
    const appendsBefore = calls.appends;
    const out = chain.submitMany(batch);
    expect(codes(out)).toEqual([
      'ok',
      'NONCE_MISMATCH',
      'INSUFFICIENT_FUNDS',
      'BAD_SIGNATURE',
      'INVALID_TRANSACTION',
      'UNAUTHORIZED',
      'WRONG_CHAIN',
      'ok',
      'ok',
    ]);
    for (const o of out) if (!o.ok) expect(o.error).toBeInstanceOf(AethirError);
    // one block with exactly the accepted ones, in order, at the clock time; one store write
    expect(calls.appends - appendsBefore).toBe(1);
    const head = chain.head;
    expect(head).toMatchObject({ height: 1, time: GENESIS_TIME + 3000, root: chain.ledger.root() });
    expect(head.txs).toEqual([a0, a1, b0]);
    expect(store.head()).toEqual(head);
    const accepted = out.filter((o) => o.ok);
    for (const [i, o] of accepted.entries()) {
      expect(o).toMatchObject({ height: 1, root: head.root });
      expect(store.tx(o.id)).toMatchObject({ height: 1, index: i });
    }
    // listeners: one event with every applied tx, ids and results as answered
    expect(events).toHaveLength(1);
    expect(events[0]!.block).toEqual(head);
    expect(events[0]!.applied.map((a) => ({ id: a.id, result: a.result }))).toEqual(
      accepted.map((o) => ({ id: o.id, result: o.result })),
    );
    // balances: only the accepted transfers moved money
    expect(chain.ledger.account(alice.address)).toMatchObject({ balance: ath(100_000 - 3 + 3), nonce: 2 });
    expect(chain.ledger.account(bob.address)).toMatchObject({ balance: ath(50_000 + 1 - 3), nonce: 1 });
    expect(chain.ledger.account(carol.address)).toMatchObject({ balance: ath(12), nonce: 0 });
    expect(chain.ledger.account(stranger.address).nonce).toBe(0);
    // the store holds the same state, and the log replays to the same root
    expect(new Map(store.loadState())).toEqual(new Map(chain.ledger.state.entries()));
    expect(verifyChain(chain.genesis, chain.blocks())).toMatchObject({ ok: true, txs: 3, root: head.root });
  });

  it('a batch with nothing accepted makes no block, no write and no event', () => {
    const { store, calls } = countingStore();
    const { chain, clock } = newChain({ store });
    const events: BlockEvent[] = [];
    chain.onBlock((e) => events.push(e));
    const before = snapshot(chain);
    const appendsBefore = calls.appends;
    clock.advance(1000);
    const bad = signTx(alice, CHAIN_ID, 'transfer', 5, { to: bob.address, amount: 1n });
    expect(codes(chain.submitMany([bad, { nonsense: true }]))).toEqual([
      'NONCE_MISMATCH',
      'INVALID_TRANSACTION',
    ]);
    expect(chain.submitMany([])).toEqual([]);
    expect(calls.appends).toBe(appendsBefore);
    expect(snapshot(chain)).toEqual(before);
    expect(events).toEqual([]);
  });

  it('submit is a batch of one and throws the typed error', () => {
    const { chain } = newChain();
    const tx = signNext(chain.ledger, alice, 'transfer', { to: bob.address, amount: 1n });
    const [o] = chain.submitMany([tx]);
    expect(o).toMatchObject({ ok: true, height: 1 });
    expectCode(() => chain.submit(tx), 'NONCE_MISMATCH');
    const r = chain.submit(signNext(chain.ledger, alice, 'transfer', { to: bob.address, amount: 1n }));
    expect(r).toEqual({
      id: expect.any(String),
      height: 2,
      root: chain.ledger.root(),
      result: expect.any(Object),
    });
  });

  it("a failed write answers UNAVAILABLE for the accepted ones, keeps the others' codes, and rolls back", () => {
    const { store, calls } = countingStore();
    const { chain, clock } = newChain({ store });
    chain.submit(signNext(chain.ledger, alice, 'transfer', { to: bob.address, amount: 1n }));
    const before = snapshot(chain);
    const events: BlockEvent[] = [];
    chain.onBlock((e) => events.push(e));
    clock.advance(1000);
    const a1 = signTx(alice, CHAIN_ID, 'transfer', 1, { to: bob.address, amount: 5n });
    const b0 = signTx(bob, CHAIN_ID, 'transfer', 0, { to: alice.address, amount: 7n });
    const stale = signTx(alice, CHAIN_ID, 'transfer', 0, { to: bob.address, amount: 1n });
    calls.failNext = true;
    const out = chain.submitMany([a1, stale, b0]);
    expect(codes(out)).toEqual(['UNAVAILABLE', 'NONCE_MISMATCH', 'UNAVAILABLE']);
    expect((out[0] as { error: AethirError }).error.retryable).toBe(true);
    expect(snapshot(chain)).toEqual(before);
    expect(chain.ledger.account(alice.address).nonce).toBe(1);
    expect(chain.ledger.account(bob.address).nonce).toBe(0);
    expect(events).toEqual([]);
    // retried, they land
    expect(codes(chain.submitMany([a1, b0]))).toEqual(['ok', 'ok']);
    expect(chain.head.height).toBe(2);
    expect(verifyChain(chain.genesis, chain.blocks())).toMatchObject({ ok: true, root: chain.ledger.root() });
  });

  it('submitManyDecoded applies pre-verified transactions and passes errors through', () => {
    const { chain } = newChain();
    const a0 = decodeTx(signTx(alice, CHAIN_ID, 'transfer', 0, { to: bob.address, amount: 2n }), CHAIN_ID);
    const a0again = a0;
    const err = new AethirError('BAD_SIGNATURE', 'signature does not verify');
    const out = chain.submitManyDecoded([a0, err, a0again]);
    expect(codes(out)).toEqual(['ok', 'BAD_SIGNATURE', 'NONCE_MISMATCH']);
    expect((out[1] as { error: AethirError }).error).toBe(err);
    expect(chain.head.txs).toEqual([a0.tx]);
    expect(verifyChain(chain.genesis, chain.blocks())).toMatchObject({ ok: true, root: chain.ledger.root() });
  });

  it('multi-transaction blocks survive a reopen of the SQLite file', () => {
    const file = freshPath();
    const clock = new ManualClock(GENESIS_TIME);
    const first = Chain.open(openStore(file), clock, () => makeGenesis());
    for (let b = 0; b < 3; b++) {
      clock.advance(1000);
      const txs = [alice, bob].flatMap((k) =>
        [0, 1, 2].map((j) =>
          signTx(k, CHAIN_ID, 'transfer', b * 3 + j, { to: carol.address, amount: BigInt(b * 3 + j + 1) }),
        ),
      );
      expect(codes(first.submitMany(txs))).toEqual(txs.map(() => 'ok'));
    }
    const root = first.ledger.root();
    const head = first.head;
    first.close();
    const reopened = Chain.open(openStore(file), new ManualClock(0), () => makeGenesis());
    expect(reopened.head).toEqual(head);
    expect(reopened.ledger.root()).toBe(root);
    expect(head).toMatchObject({ height: 3 });
    expect(verifyChain(reopened.genesis, reopened.blocks())).toMatchObject({ ok: true, txs: 18, root });
  });
});

describe('SubmitQueue', () => {
  const transfer = (k: KeyPair, nonce: number, amount = 1n) =>
    signTx(k, CHAIN_ID, 'transfer', nonce, { to: carol.address, amount });

  it('commits the submissions of one event-loop turn in one block, each caller getting its own result', async () => {
    const { store, calls } = countingStore();
    const { chain } = newChain({ store });
    const q = new SubmitQueue(chain);
    const events: BlockEvent[] = [];
    chain.onBlock((e) => events.push(e));
    const appendsBefore = calls.appends;
    const txs = [0, 1, 2, 3].map((n) => transfer(alice, n, BigInt(n + 1)));
    const pending = [...txs.map((t) => q.submit(t)), q.submit(transfer(bob, 7))];
    expect(q.size).toBe(5);
    const settled = await Promise.allSettled(pending);
    expect(settled.slice(0, 4).map((s) => s.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    const last = settled[4]!;
    expect(last.status).toBe('rejected');
    expect(((last as PromiseRejectedResult).reason as AethirError).code).toBe('NONCE_MISMATCH');
    expect(calls.appends - appendsBefore).toBe(1);
    expect(events).toHaveLength(1);
    expect(chain.head.txs).toEqual(txs);
    settled.slice(0, 4).forEach((s, i) => {
      const r = (s as PromiseFulfilledResult<{ id: string; height: number; root: string }>).value;
      expect(r).toMatchObject({ height: 1, root: chain.head.root });
      expect(store.tx(r.id)).toMatchObject({ height: 1, index: i });
    });
    expect(q.stats).toEqual({ batches: 1, txs: 5, largest: 5 });
  });

  it('resolves only once the block is durable', async () => {
    const { chain } = newChain();
    const q = new SubmitQueue(chain);
    const p = q.submit(transfer(alice, 0));
    // queued, not yet applied: nothing is acknowledged before the commit
    expect(chain.head.height).toBe(0);
    const r = await p;
    expect(chain.store.tx(r.id)).toMatchObject({ height: 1 });
  });

  it('splits at maxBatch and keeps the arrival order across blocks', async () => {
    const { chain } = newChain();
    const q = new SubmitQueue(chain, { maxBatch: 3 });
    const results = await Promise.all([0, 1, 2, 3, 4, 5, 6].map((n) => q.submit(transfer(alice, n))));
    expect(results.map((r) => r.height)).toEqual([1, 1, 1, 2, 2, 2, 3]);
    expect([...chain.blocks()].map((b) => b.txs.length)).toEqual([0, 3, 3, 1]);
    expect(q.stats).toMatchObject({ batches: 3, txs: 7, largest: 3 });
    expect(verifyChain(chain.genesis, chain.blocks())).toMatchObject({ ok: true, txs: 7 });
  });

  it('later turns make later blocks', async () => {
    const { chain } = newChain();
    const q = new SubmitQueue(chain);
    const r1 = await q.submit(transfer(alice, 0));
    const [r2, r3] = await Promise.all([q.submit(transfer(alice, 1)), q.submit(transfer(bob, 0))]);
    expect([r1.height, r2.height, r3.height]).toEqual([1, 2, 2]);
  });

  it('close commits what is waiting, then refuses with UNAVAILABLE', async () => {
    const { chain } = newChain();
    const q = new SubmitQueue(chain);
    const p = q.submit(transfer(alice, 0));
    q.close();
    expect(chain.head.height).toBe(1);
    await expect(p).resolves.toMatchObject({ height: 1 });
    await expect(q.submit(transfer(alice, 1))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(() => new SubmitQueue(chain, { maxBatch: 0 })).toThrow(RangeError);
  });
});
