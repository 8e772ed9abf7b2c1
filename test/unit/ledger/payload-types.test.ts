import { describe, expect, it } from 'vitest';
import { decodeTx, signTx, type TxType } from '../../../src/ledger/index.js';
import type { TxSender } from '../../../src/sdk/index.js';
import { CHAIN_ID, alice, bob, host } from './fixtures.js';

/**
 * signTx and TxSender.send take each type's payload type from the registry: the lines marked
 * @ts-expect-error are wrong payloads, and `tsc --noEmit` (npm run typecheck) fails if any of
 * them compiles. The right ones sign and decode.
 */
describe('payload types come from the registry', () => {
  it('a right payload signs and decodes; amounts as bigint or decimal strings', () => {
    const ok = [
      signTx(alice, CHAIN_ID, 'transfer', 0, { to: bob.address, amount: 5n }),
      signTx(alice, CHAIN_ID, 'transfer', 0, { to: bob.address, amount: '5' }),
      // a defaulted field (check: 'liveness') may be left out
      signTx(alice, CHAIN_ID, 'checker.report', 0, { container: host.address, ok: true, observedAt: 1 }),
      signTx(alice, CHAIN_ID, 'dao.vote', 0, { proposal: 0, choice: 'for' }),
    ];
    expect(ok.map((t) => decodeTx(t, CHAIN_ID).type)).toEqual([
      'transfer',
      'transfer',
      'checker.report',
      'dao.vote',
    ]);
  });

  it('a wrong payload does not compile (and the ledger refuses it when forced)', () => {
    const wrong = [
      // @ts-expect-error a misspelt field
      signTx(alice, CHAIN_ID, 'transfer', 0, { to: bob.address, amont: 5n }),
      // @ts-expect-error a missing field
      signTx(alice, CHAIN_ID, 'escrow.deposit', 0, {}),
      // @ts-expect-error a number where the schema wants a lease id
      signTx(alice, CHAIN_ID, 'lease.close', 0, { lease: 5 }),
      // @ts-expect-error not a choice
      signTx(alice, CHAIN_ID, 'dao.vote', 0, { proposal: 0, choice: 'maybe' }),
    ];
    for (const t of wrong) expect(() => decodeTx(t, CHAIN_ID)).toThrow(/invalid .* payload/);
    const send = (s: TxSender) => {
      // @ts-expect-error TxSender.send checks the payload against the type too
      void s.send('container.stake', { amount: 5n, extra: true });
      void s.send('container.stake', { amount: 5n });
    };
    expect(typeof send).toBe('function');
  });

  it('a type known only at run time takes any record: the ledger checks it on arrival', () => {
    const type = 'transfer' as TxType;
    const t = signTx(alice, CHAIN_ID, type, 0, { to: bob.address, amount: 'lots' });
    expect(() => decodeTx(t, CHAIN_ID)).toThrow(/invalid transfer payload: amount/);
  });
});
