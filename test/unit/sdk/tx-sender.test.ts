import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AethirError, ManualClock, ath, keyPairFromSeed } from '../../../src/core/index.js';
import { parseGenesis, type SignedTx } from '../../../src/ledger/index.js';
import { SqliteChainStore } from '../../../src/store/index.js';
import { Chain, InProcessNetwork } from '../../../src/node/index.js';
import { TxSender, type NetworkClient, type SubmitResult } from '../../../src/sdk/index.js';

const alice = keyPairFromSeed('tx-sender:alice');
const bob = keyPairFromSeed('tx-sender:bob');
const checker = keyPairFromSeed('tx-sender:checker');

let clock: ManualClock;
let chain: Chain;
let network: InProcessNetwork;

beforeEach(() => {
  clock = new ManualClock();
  chain = Chain.open(new SqliteChainStore(':memory:'), clock, () =>
    parseGenesis({
      chainId: 'tx-sender-test',
      time: clock.now(),
      allocations: [{ address: alice.address, amount: ath(1000).toString() }],
      checkers: [checker.address],
    }),
  );
  network = new InProcessNetwork(chain);
});

afterEach(() => {
  chain.close();
});

/** A NetworkClient that forwards to another and records what was submitted. */
class Recording implements NetworkClient {
  readonly submitted: SignedTx[] = [];
  chainIdCalls = 0;
  accountCalls = 0;
  /** runs before each submit is forwarded */
  beforeSubmit: ((tx: SignedTx) => Promise<void>) | null = null;
  /** runs after each submit was forwarded; may throw to simulate a lost response */
  afterSubmit: ((r: SubmitResult) => void) | null = null;

  constructor(private readonly inner: NetworkClient) {}
  chainId() {
    this.chainIdCalls++;
    return this.inner.chainId();
  }
  params() {
    return this.inner.params();
  }
  requiredStake(models: string[]) {
    return this.inner.requiredStake(models);
  }
  account(a: string) {
    this.accountCalls++;
    return this.inner.account(a);
  }
  container(id: string) {
    return this.inner.container(id);
  }
  lease(id: string) {
    return this.inner.lease(id);
  }
  openLeasesOf(c: string) {
    return this.inner.openLeasesOf(c);
  }
  async submit(tx: SignedTx): Promise<SubmitResult> {
    this.submitted.push(tx);
    await this.beforeSubmit?.(tx);
    const r = await this.inner.submit(tx);
    this.afterSubmit?.(r);
    return r;
  }
}

function transfer(amount = 1) {
  return { to: bob.address, amount: ath(amount) };
}

async function rejection(p: Promise<unknown>): Promise<AethirError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(AethirError);
    return e as AethirError;
  }
  throw new Error('expected a rejection');
}

describe('TxSender', () => {
  it('signs for the network’s chain and the account’s next nonce', async () => {
    const rec = new Recording(network);
    const s = new TxSender(alice, rec);
    const r = await s.send('transfer', transfer());
    expect(r.height).toBe(1);
    expect(r.root).toBe(chain.head.root);
    expect(rec.submitted[0]).toMatchObject({
      chainId: 'tx-sender-test',
      type: 'transfer',
      from: alice.address,
      nonce: 0,
      payload: { to: bob.address, amount: ath(1).toString() },
    });
    expect(chain.ledger.account(bob.address).balance).toBe(ath(1));
  });

  it('queued sends get consecutive nonces, in the order they were queued', async () => {
    const rec = new Recording(network);
    const s = new TxSender(alice, rec);
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => s.send('transfer', transfer(n))));
    expect(results.map((r) => r.height)).toEqual([1, 2, 3, 4, 5]);
    expect(rec.submitted.map((t) => t.nonce)).toEqual([0, 1, 2, 3, 4]);
    expect(rec.submitted.map((t) => t.payload.amount)).toEqual([1, 2, 3, 4, 5].map((n) => ath(n).toString()));
    expect(chain.ledger.account(alice.address).nonce).toBe(5);
    // The chain id and the starting nonce are asked once, not per transaction.
    expect(rec.chainIdCalls).toBe(1);
    expect(rec.accountCalls).toBe(1);
  });

  it('recovers with one retry when another sender with the same key used the nonce meanwhile', async () => {
    const rec = new Recording(network);
    const mine = new TxSender(alice, rec);
    const other = new TxSender(alice, network);
    await mine.send('transfer', transfer(1)); // mine now expects nonce 1
    await other.send('transfer', transfer(2)); // ...which the other client just used
    rec.submitted.length = 0;
    const r = await mine.send('transfer', transfer(3));
    expect(r.height).toBe(3);
    expect(rec.submitted.map((t) => t.nonce)).toEqual([1, 2]);
    expect(chain.ledger.account(alice.address).nonce).toBe(3);
    expect(chain.ledger.account(bob.address).balance).toBe(ath(6));
    // and it carries on from the refreshed nonce
    await mine.send('transfer', transfer(1));
    expect(rec.submitted.at(-1)!.nonce).toBe(3);
  });

  it('retries a nonce mismatch only once', async () => {
    const rec = new Recording(network);
    const mine = new TxSender(alice, rec);
    const other = new TxSender(alice, network);
    await mine.send('transfer', transfer());
    // Every submit of ours races with the other client, which always wins.
    rec.beforeSubmit = async () => {
      await other.send('transfer', transfer());
    };
    rec.submitted.length = 0;
    const e = await rejection(mine.send('transfer', transfer()));
    expect(e.code).toBe('NONCE_MISMATCH');
    expect(rec.submitted).toHaveLength(2);
    // Blocks: 1 ours, 2 and 3 the other client's. Once the race is over, the next send succeeds.
    rec.beforeSubmit = null;
    await expect(mine.send('transfer', transfer())).resolves.toMatchObject({ height: 4 });
    expect(chain.ledger.account(alice.address).nonce).toBe(4);
  });

  it('a rejected transaction does not use up the nonce, and the queue goes on', async () => {
    const rec = new Recording(network);
    const s = new TxSender(alice, rec);
    const [tooMuch, ok] = await Promise.allSettled([
      s.send('transfer', transfer(1_000_000)),
      s.send('transfer', transfer(1)),
    ]);
    expect(tooMuch.status).toBe('rejected');
    expect(((tooMuch as PromiseRejectedResult).reason as AethirError).code).toBe('INSUFFICIENT_FUNDS');
    expect(ok.status).toBe('fulfilled');
    expect(rec.submitted.map((t) => t.nonce)).toEqual([0, 0]);
    expect(chain.ledger.account(alice.address).nonce).toBe(1);
  });

  it('after a transport error it asks the network for the nonce again', async () => {
    const rec = new Recording(network);
    const s = new TxSender(alice, rec);
    // The transaction lands, but its answer is lost on the way back.
    rec.afterSubmit = () => {
      throw new Error('socket hang up');
    };
    await expect(s.send('transfer', transfer())).rejects.toThrow('socket hang up');
    rec.afterSubmit = null;
    const accountCalls = rec.accountCalls;
    await s.send('transfer', transfer());
    expect(rec.accountCalls).toBe(accountCalls + 1);
    expect(rec.submitted.map((t) => t.nonce)).toEqual([0, 1]);
    expect(chain.ledger.account(bob.address).balance).toBe(ath(2));
  });
});
