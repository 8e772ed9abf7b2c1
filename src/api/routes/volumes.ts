import { z } from 'zod';
import { toJsonSafe } from '../../core/canonical.js';
import { AethirError } from '../../core/errors.js';
import { Address } from '../../ledger/schemas.js';
import type { Volume } from '../../ledger/modules/volumes/queries.js';
import { IdParam, router, type ApiPlugin } from './common.js';

const VolumesQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    owner: Address.optional(),
    container: Address.optional(),
    name: z.string().max(63).optional(),
    status: z.enum(['active', 'deleted', 'lost']).optional(),
  })
  .strict();

/** A volume as the API shows it (amounts as strings); nothing in it is secret. */
export function volumeView(v: Volume): Record<string, unknown> {
  return toJsonSafe(v) as Record<string, unknown>;
}

/** Persistent volumes: the list (by owner, host, name, status) and one. */
export const volumeRoutes: ApiPlugin = async (app, ctx) => {
  const { node } = ctx;
  const route = router(app, ctx);
  route({
    method: 'GET',
    url: '/v1/volumes',
    tag: 'volumes',
    summary: 'Persistent volumes, newest first',
    query: VolumesQuery,
    handler: ({ query }) => ({
      volumes: node.ledger
        .volumes()
        .filter(
          (v) =>
            (!query.owner || v.owner === query.owner) &&
            (!query.container || v.container === query.container) &&
            (!query.name || v.name === query.name) &&
            (!query.status || v.status === query.status),
        )
        .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1))
        .slice(0, query.limit)
        .map(volumeView),
    }),
  });
  route({
    method: 'GET',
    url: '/v1/volumes/:id',
    tag: 'volumes',
    summary: 'One persistent volume: its host, size, price, escrow and charge',
    params: IdParam,
    handler: ({ params }) => {
      const v = node.ledger.volume(params.id);
      if (!v) throw new AethirError('NOT_FOUND', `no volume ${params.id}`);
      return volumeView(v);
    },
  });
};
