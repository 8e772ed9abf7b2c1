import { z } from 'zod';
import { toJsonSafe } from '../../core/canonical.js';
import { leaseFunds } from '../../ledger/modules/leases/queries.js';
import { Address } from '../../ledger/schemas.js';
import { eventStream, router, type ApiPlugin } from './common.js';

const EventsQuery = z
  .object({
    /** only this user's lease-funds warnings (blocks are sent either way) */
    user: Address.optional(),
  })
  .strict();

/** How often the stream looks for leases whose escrow runs low between blocks. */
const FUNDS_CHECK_MS = 2_000;
/** The most leases one stream remembers having warned about (oldest forgotten first). */
const MAX_WARNED = 10_000;

/** The node's server-sent event stream of blocks, and warnings about leases running out of escrow. */
export const eventRoutes: ApiPlugin = async (app, ctx) => {
  const { node } = ctx;
  const route = router(app, ctx);
  route({
    method: 'GET',
    url: '/v1/events',
    tag: 'node',
    query: EventsQuery,
    summary:
      'Server-sent events: one "block" event per block, with each transaction\'s ledger events (LeaseToppedUp, LeasePaused, LeaseResumed among them); a "lease-funds" event when an open lease\'s escrow runs low (once per lease and top-up; ?user= for one user\'s), with its funds: runsOutAt, msLeft, endsAt',
    handler: ({ query, raw }, reply) => {
      const emit = eventStream(reply, raw);
      const send = (
        height: number,
        root: string,
        txs: Array<{ id: string; type: string; events?: unknown }>,
      ) => emit('block', JSON.stringify({ height, root, txs }));
      // warned about: lease id -> the escrow it had then (a top-up makes it warn again)
      const warned = new Map<string, bigint>();
      const checkFunds = () => {
        const ledger = node.ledger;
        const now = node.now();
        for (const l of ledger.leases()) {
          if (l.status !== 'open' || (query.user && l.user !== query.user)) continue;
          if (warned.get(l.id) === l.escrow) continue;
          const funds = leaseFunds(l, now, ledger.params.pauseGraceMs);
          if (!funds.low) continue;
          warned.set(l.id, l.escrow);
          if (warned.size > MAX_WARNED) warned.delete(warned.keys().next().value!);
          emit(
            'lease-funds',
            JSON.stringify({ lease: l.id, user: l.user, container: l.container, ...funds }),
          );
        }
      };
      send(node.head.height, node.head.root, []);
      checkFunds();
      const timer = setInterval(checkFunds, FUNDS_CHECK_MS);
      emit.onClose(() => clearInterval(timer));
      emit.onClose(
        node.onBlock((e) => {
          send(
            e.block.height,
            e.block.root,
            e.applied.map((a) => ({ id: a.id, type: a.tx.type, events: toJsonSafe(a.events) })),
          );
          checkFunds();
        }),
      );
    },
  });
};
