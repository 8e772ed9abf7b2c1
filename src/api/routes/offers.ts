import { z } from 'zod';
import { toJsonSafe } from '../../core/canonical.js';
import { MAX_OFFERS } from '../../indexer/indexer.js';
import { defaultIsolation, parseQuery } from '../../indexer/query.js';
import { STRATEGIES } from '../../indexer/request.js';
import { containerOut, router, type ApiPlugin } from './common.js';

/** Who browses: offers reserve nothing, so no user is needed; the indexer's request wants one. */
const BROWSER = 'ath1' + '0'.repeat(40);

const OffersQuery = z
  .object({
    /** the offers query language (src/indexer/query.ts), e.g. `gpu_ram>=24 num_gpus>=2 region=eu price<2` */
    q: z.string().max(2000).default(''),
    strategy: z.enum(STRATEGIES).default('lowest-fee'),
    limit: z.coerce.number().int().min(1).max(MAX_OFFERS).default(20),
  })
  .strict();

/**
 * Offers: what a request could rent now, best first (the first is what `POST /v1/match` would
 * give it), with price, place, GPUs, VRAM, reputation, sandbox kind and free GPUs. Unsigned, and
 * it reserves nothing: browsing takes no GPU from anyone.
 */
export const offersRoutes: ApiPlugin = async (app, ctx) => {
  const { node } = ctx;
  const route = router(app, ctx);
  route({
    method: 'GET',
    url: '/v1/offers',
    tag: 'indexer',
    summary:
      'What a query (q: "gpu_ram>=24 num_gpus>=2 region=eu price<2") could rent now, best first; reserves nothing',
    query: OffersQuery,
    handler: async ({ query }: { query: z.output<typeof OffersQuery> }) => {
      const { q, strategy, limit } = query;
      const request = parseQuery(q);
      const isolation = request.isolation ?? defaultIsolation(request.gpus);
      const { offers, total } = await node.offers({ ...request, isolation, user: BROWSER, strategy }, limit);
      return toJsonSafe({
        query: q,
        strategy,
        isolation,
        total,
        offers: offers.map((o) => ({
          container: containerOut(node, o.container),
          score: o.score,
          gpusFree: o.gpusFree,
        })),
      });
    },
  });
};
