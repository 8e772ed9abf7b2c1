import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AethirError, ManualClock, ath, keyPairFromSeed } from '../../../src/core/index.js';
import { LedgerFault, isRejection, signTx } from '../../../src/ledger/index.js';
import { Chain } from '../../../src/node/chain.js';
import { SqliteChainStore } from '../../../src/store/index.js';
import { CHAIN_ID, GENESIS_TIME, alice, makeGenesis } from '../ledger/fixtures.js';
import { injectFault } from '../ledger/inject-fault.js';

/**
 * Bugs halt, rejections don't (the embedded chain; test/integration/node/ledger-fault.test.ts
 * holds a replica behind the shared log to the same outcome). Only an AethirError with a
 * rejection code rejects a transaction; anything else thrown while one applies stops the
 * node's ledger with a LedgerFault, its store and its state at the last good block.
 */
const dir = mkdtempSync(path.join(os.tmpdir(), 'aethir-fault-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let restore: (() => void) | null = null;
afterEach(() => {
  restore?.();
  restore = null;
});

/** a payee with nothing at genesis */
const bob = keyPairFromSeed('test:fault-payee');
const transfer = (nonce: number, amount: bigint) =>
  signTx(alice, CHAIN_ID, 'transfer', nonce, { to: bob.address, amount });

describe('a fault in apply halts the embedded chain', () => {
  it('at the last good block: the fault answers, the batch is not sealed, later submissions are refused', () => {
    const file = path.join(dir, 'halt.sqlite');
    const clock = new ManualClock(GENESIS_TIME);
    const chain = Chain.open(new SqliteChainStore(file), clock, () => makeGenesis());
    clock.advance(1000);
    const good = chain.submit(transfer(0, ath(1)));
    // a rejection is no fault: the chain goes on
    const [over] = chain.submitMany([transfer(1, ath(10_000_000))]);
    expect(over).toMatchObject({ ok: false, error: { code: 'INSUFFICIENT_FUNDS' } });
    expect(chain.halted).toBeNull();

    restore = injectFault('transfer', (tx) => (tx.payload as { amount: bigint }).amount === ath(2));
    clock.advance(1000);
    // one batch: a good transfer, then the faulting one, then another good one
    const outcomes = chain.submitMany([transfer(1, ath(3)), transfer(2, ath(2)), transfer(3, ath(4))]);
    const fault = outcomes[1]!;
    expect(fault.ok).toBe(false);
    const err = (fault as { error: AethirError }).error;
    expect(err).toBeInstanceOf(LedgerFault);
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toMatch(
      /^ledger fault at block 2 applying transfer [0-9a-f]{16}: TypeError: injected fault/,
    );
    for (const o of [outcomes[0]!, outcomes[2]!])
      expect(o).toMatchObject({
        ok: false,
        error: { code: 'UNAVAILABLE', message: /^the ledger halted: ledger fault/ },
      });
    expect(chain.halted).toBe(err);

    // nothing of the batch stayed: the head, the state and the store are block 1's
    expect(chain.head.height).toBe(1);
    expect(chain.head.root).toBe(good.root);
    expect(chain.ledger.root()).toBe(good.root);
    expect(chain.ledger.account(bob.address).balance).toBe(ath(1));
    expect(chain.store.head()!.height).toBe(1);

    // the node's ledger stays stopped, even for a transaction that would apply
    restore();
    restore = null;
    expect(() => chain.submit(transfer(1, ath(3)))).toThrow(
      expect.objectContaining({ code: 'UNAVAILABLE', message: expect.stringMatching(/^the ledger halted/) }),
    );
    expect(chain.head.height).toBe(1);
    chain.close();

    // restarted (with the bug fixed) it opens at the last good block and goes on from there
    const again = Chain.open(new SqliteChainStore(file), clock, () => makeGenesis());
    expect(again.head).toEqual(expect.objectContaining({ height: 1, root: good.root }));
    expect(again.submit(transfer(1, ath(2))).height).toBe(2);
    expect(again.ledger.account(bob.address).balance).toBe(ath(3));
    again.close();
  });

  it('a malformed transaction is a rejection, never a fault, whatever it holds', () => {
    const clock = new ManualClock(GENESIS_TIME);
    const chain = Chain.open(new SqliteChainStore(':memory:'), clock, () => makeGenesis());
    const bad = { ...transfer(0, ath(1)), payload: { to: bob.address, amount: { toString: 5 } } };
    const codes = [null, 7, 'tx', [], bad, { ...transfer(0, ath(1)), nonce: -1 }].map((raw) => {
      try {
        chain.submit(raw);
      } catch (e) {
        expect(isRejection(e), String(e)).toBe(true);
        return (e as AethirError).code;
      }
      return 'applied';
    });
    expect(codes).toEqual([
      'INVALID_TRANSACTION',
      'INVALID_TRANSACTION',
      'INVALID_TRANSACTION',
      'INVALID_TRANSACTION',
      'BAD_SIGNATURE',
      'INVALID_TRANSACTION',
    ]);
    expect(chain.halted).toBeNull();
    expect(chain.submit(transfer(0, ath(1))).height).toBe(1);
    chain.close();
  });
});
