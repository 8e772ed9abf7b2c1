import { describe, expect, it } from 'vitest';
import { ath } from '../../../src/core/index.js';
import { TestNet, alice, bob, host, leasePayload } from './fixtures.js';

describe('Ledger.check (dry run before appending to a shared log)', () => {
  it('answers what apply would, and changes nothing', () => {
    const t = new TestNet();
    t.ledger.state.takeDirty();
    const root = t.ledger.root();
    const bobBefore = t.ledger.account(bob.address).balance;
    expect(bobBefore).toBe(ath(50_000));
    const tx = t.sign(alice, 'transfer', { to: bob.address, amount: ath(5) });
    const checked = t.ledger.check(tx, t.ctx());
    expect(t.ledger.root()).toBe(root);
    expect(t.ledger.account(alice.address).nonce).toBe(0);
    expect(t.ledger.state.takeDirty()).toEqual([]);
    expect(t.applyRaw(tx)).toEqual(checked.result);
    expect(t.ledger.account(bob.address).balance).toBe(bobBefore + ath(5));
  });

  it('throws the same typed error as apply, with the state untouched', () => {
    const t = new TestNet();
    t.onlineContainer(host, 1);
    const root = t.ledger.root();
    const ctx = t.ctx();
    const broke = t.sign(alice, 'transfer', { to: bob.address, amount: ath(10_000_000_000) });
    expect(() => t.ledger.check(broke, ctx)).toThrow(expect.objectContaining({ code: 'INSUFFICIENT_FUNDS' }));
    const noEscrow = t.sign(alice, 'lease.open', leasePayload(host.address, 1, 3600, ath(1)));
    expect(() => t.ledger.check(noEscrow, ctx)).toThrow(
      expect.objectContaining({ code: 'INSUFFICIENT_FUNDS' }),
    );
    const stale = t.sign(alice, 'transfer', { to: bob.address, amount: 1n }, 7);
    expect(() => t.ledger.check(stale, ctx)).toThrow(expect.objectContaining({ code: 'NONCE_MISMATCH' }));
    expect(t.ledger.root()).toBe(root);
  });
});
