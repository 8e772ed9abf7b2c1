import { z } from 'zod';
import { genesisToWire } from '../../ledger/genesis.js';
import { router, type ApiPlugin } from './common.js';

/** Most blocks one GET /v1/chain/blocks answers. */
const MAX_BLOCKS_PER_PAGE = 500;

/**
 * The whole chain for anyone to replay (`aethir ledger verify --api URL`): the genesis and every
 * block with its transactions, oldest first. Nothing here needs trusting the node: a replay
 * recomputes every state root and block hash from the genesis.
 */
export const chainRoutes: ApiPlugin = async (app, ctx) => {
  const { node } = ctx;
  const route = router(app, ctx);
  route({
    method: 'GET',
    url: '/v1/chain/genesis',
    tag: 'chain',
    summary: "The chain's genesis (amounts as decimal strings): where a replay of its blocks starts",
    handler: () => genesisToWire(node.genesis),
  });
  route({
    method: 'GET',
    url: '/v1/chain/blocks',
    tag: 'chain',
    summary: `Whole blocks (every signed transaction), oldest first, from height \`from\` (at most ${MAX_BLOCKS_PER_PAGE})`,
    query: z
      .object({
        from: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
        limit: z.coerce.number().int().min(1).max(MAX_BLOCKS_PER_PAGE).default(100),
      })
      .strict(),
    handler: async ({ query }) => ({ blocks: await node.blocks(query.from, query.limit) }),
  });
};
