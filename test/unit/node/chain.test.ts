import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AethirError, ManualClock, ath, canonicalize, type KeyPair } from '../../../src/core/index.js';
import {
  genesisBlock,
  Ledger,
  verifyChain,
  type Block,
  type Genesis,
  type TxType,
} from '../../../src/ledger/index.js';
import { Chain, type BlockEvent } from '../../../src/node/chain.js';
import { SqliteChainStore, type ChainStore } from '../../../src/store/index.js';
import {
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
        () => submit(stranger, 'checker.report', { container: host.address, online: true, observedAt: 0 }),
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
    submit(host, 'container.stake', { amount: ath(2100) });
    submit(checkers[0], 'checker.report', { container: host.address, online: true, observedAt: clock.now() });
    submit(checkers[1], 'checker.report', { container: host.address, online: true, observedAt: clock.now() });
    clock.advance(1000);
    const open = submit(alice, 'lease.open', leasePayload(host.address, 2, 3600, ath(2)));
    const openedAt = chain.head.time;
    clock.advance(15 * 60_000);
    const settle = submit(host, 'lease.settle', { lease: open.result.lease });
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
    submit(host, 'container.stake', { amount: ath(1100) });
    submit(checkers[0], 'checker.report', { container: host.address, online: true, observedAt: clock.now() });
    submit(checkers[2], 'checker.report', { container: host.address, online: true, observedAt: clock.now() });
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
