import type { z } from 'zod';
import { resolvePlace, toJsonSafe } from '../../core/index.js';
import { MatchRequestJson } from '../../indexer/index.js';
import { containerOut, router, type ApiPlugin } from './common.js';

/** A place named in a request, as coordinates; an unknown or ambiguous name is INVALID_ARGUMENT. */
function placePoint(text: string): { lat: number; lon: number } {
  const p = resolvePlace(text);
  return { lat: p.lat, lon: p.lon };
}

/** Matching: the indexer finds and reserves a container. */
export const matchRoutes: ApiPlugin = async (app, ctx) => {
  const { node } = ctx;
  const route = router(app, ctx);
  route({
    method: 'POST',
    url: '/v1/match',
    tag: 'indexer',
    summary: 'Find the best container for a request and reserve it for a short time',
    body: MatchRequestJson,
    handler: async ({ body }: { body: z.output<typeof MatchRequestJson> }) => {
      const m = await node.match({
        ...body,
        location: typeof body.location === 'string' ? placePoint(body.location) : body.location,
      });
      return toJsonSafe({
        container: containerOut(node, m.container),
        reservation: m.reservation,
        score: m.score,
        candidates: m.candidates,
      });
    },
  });
};
