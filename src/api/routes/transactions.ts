import { z } from 'zod';
import { AethirError } from '../../core/errors.js';
import { Address } from '../../ledger/schemas.js';
import { SignedTxSchema, TX_TYPES, txId } from '../../ledger/tx.js';
import { txView } from '../views.js';
import { router, type ApiPlugin } from './common.js';

const TxListQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(50),
    from: Address.optional(),
    type: z.enum(TX_TYPES as [string, ...string[]]).optional(),
  })
  .strict();

/** Transactions (submit, list, one) and blocks. */
export const transactionRoutes: ApiPlugin = async (app, ctx) => {
  const { node } = ctx;
  const route = router(app, ctx);
  // Group commit: the transactions of concurrent requests share one block and one fsync.
  route({
    method: 'POST',
    url: '/v1/transactions',
    tag: 'transactions',
    summary: 'Submit a signed transaction; answers once it is in a durable block',
    body: SignedTxSchema,
    handler: async ({ body }, reply) => {
      const o = await node.submit(body);
      if (!o.ok) {
        ctx.counters.txRejected({ code: o.error.code });
        throw o.error;
      }
      ctx.counters.txAccepted({ type: body.type });
      return reply.status(201).send({ id: o.id, height: o.height, root: o.root, result: o.result });
    },
  });
  route({
    method: 'GET',
    url: '/v1/transactions',
    tag: 'transactions',
    summary: 'Recent transactions, newest first',
    query: TxListQuery,
    handler: async ({ query }) => ({
      transactions: (await node.recentTxs(query.limit, { from: query.from, type: query.type })).map(txView),
    }),
  });
  route({
    method: 'GET',
    url: '/v1/transactions/:id',
    tag: 'transactions',
    summary: 'One transaction and the block it is in',
    params: z.object({ id: z.string().regex(/^[0-9a-f]{64}$/, 'must be a transaction id (64 hex)') }),
    handler: async ({ params }) => {
      const t = await node.tx(params.id);
      if (!t) throw new AethirError('NOT_FOUND', `no transaction ${params.id}`);
      return txView(t);
    },
  });
  route({
    method: 'GET',
    url: '/v1/blocks',
    tag: 'transactions',
    summary: 'Recent blocks, newest first',
    query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(20) }).strict(),
    handler: async ({ query }) => ({
      blocks: (await node.recentBlocks(query.limit)).map((b) => ({
        ...b,
        txs: b.txs.map((t) => ({ id: txId(t), type: t.type, from: t.from })),
      })),
    }),
  });
};
