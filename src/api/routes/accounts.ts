import { canonicalize, toJsonSafe } from '../../core/canonical.js';
import { AethirError } from '../../core/errors.js';
import { AddressParam, router, type ApiPlugin } from './common.js';

/** Accounts: balance, escrow, vesting and nonce, and a Merkle proof of one. */
export const accountRoutes: ApiPlugin = async (app, ctx) => {
  const { node } = ctx;
  const ledger = () => node.ledger;
  const route = router(app, ctx);
  route({
    method: 'GET',
    url: '/v1/accounts/:address',
    tag: 'accounts',
    summary: 'Balance, escrow, vesting and next nonce of an account',
    params: AddressParam,
    handler: ({ params }) => {
      const l = ledger();
      const a = l.account(params.address);
      const now = node.now();
      let locked = 0n;
      let claimable = 0n;
      const entries = l.vesting(params.address);
      for (const e of entries)
        if (e.unlockAt <= now) claimable += e.amount;
        else locked += e.amount;
      return toJsonSafe({
        address: params.address,
        balance: a.balance,
        escrow: a.escrow,
        nonce: a.nonce,
        vesting: { locked, claimable, entries: entries.map(({ key: _k, ...e }) => e) },
      });
    },
  });
  route({
    method: 'GET',
    url: '/v1/accounts/:address/proof',
    tag: 'accounts',
    summary: 'A Merkle proof of the account under the current state root, checkable without the database',
    params: AddressParam,
    handler: ({ params }) => {
      const key = `acct/${params.address}`;
      const l = ledger();
      const p = l.state.prove(key);
      if (!p)
        throw new AethirError(
          'NOT_FOUND',
          `account ${params.address} is not in the state (it never held funds)`,
        );
      return {
        address: params.address,
        height: node.head.height,
        root: l.root(),
        key,
        value: canonicalize(l.state.get(key)),
        leaf: p.leaf,
        proof: p.proof,
      };
    },
  });
};
