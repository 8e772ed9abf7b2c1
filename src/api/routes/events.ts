import { toJsonSafe } from '../../core/index.js';
import { eventStream, router, type ApiPlugin } from './common.js';

/** The node's server-sent event stream of blocks. */
export const eventRoutes: ApiPlugin = async (app, ctx) => {
  const { node } = ctx;
  const route = router(app, ctx);
  route({
    method: 'GET',
    url: '/v1/events',
    tag: 'node',
    summary: 'Server-sent events: one "block" event per block, with each transaction\'s ledger events',
    handler: (req, reply) => {
      const emit = eventStream(reply, req.raw);
      const send = (
        height: number,
        root: string,
        txs: Array<{ id: string; type: string; events?: unknown }>,
      ) => emit('block', JSON.stringify({ height, root, txs }));
      send(node.head.height, node.head.root, []);
      emit.onClose(
        node.onBlock((e) =>
          send(
            e.block.height,
            e.block.root,
            e.applied.map((a) => ({ id: a.id, type: a.tx.type, events: toJsonSafe(a.events) })),
          ),
        ),
      );
    },
  });
};
