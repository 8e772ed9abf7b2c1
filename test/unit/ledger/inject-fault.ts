import type { TxContext } from '../../../src/ledger/index.js';
import { HANDLERS, type TxType } from '../../../src/ledger/registry.js';
import type { DecodedTx } from '../../../src/ledger/tx.js';

/**
 * Makes the handler of `type` throw a plain TypeError — a bug, not a rejection — for the
 * transactions `when` picks (after writing to the state, so a half-applied transaction would
 * show); returns the function that puts the real handler back.
 */
export function injectFault(type: TxType, when: (tx: DecodedTx) => boolean): () => void {
  const handlers = HANDLERS as unknown as Record<string, (ctx: TxContext, tx: DecodedTx) => unknown>;
  const real = handlers[type]!;
  handlers[type] = (ctx, tx) => {
    const r = real(ctx, tx);
    if (when(tx)) throw new TypeError(`injected fault: ${tx.type} is not a function of this state`);
    return r;
  };
  return () => {
    handlers[type] = real;
  };
}
