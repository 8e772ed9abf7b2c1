import { toJsonSafe } from '../../core/canonical.js';
import { AethirError } from '../../core/errors.js';
import type { Reservation } from '../../ledger/model.js';
import { dailyPrice } from '../../ledger/modules/reservations/queries.js';
import { IdParam, ListQuery, router, type ApiPlugin } from './common.js';

/** A reservation as the API shows it: amounts as decimal strings, its daily price spelled out. */
export function reservationView(r: Reservation): Record<string, unknown> {
  return toJsonSafe({ ...r, dailyPrice: dailyPrice(r) }) as Record<string, unknown>;
}

/** Reserved capacity: GPUs booked for days (modules/reservations), the list and one. */
export const reservationRoutes: ApiPlugin = async (app, ctx) => {
  const { node } = ctx;
  const route = router(app, ctx);
  route({
    method: 'GET',
    url: '/v1/reservations',
    tag: 'leases',
    summary: 'Reservations (GPUs booked for days at a host’s reserved price), newest first',
    query: ListQuery,
    handler: ({ query }) => ({
      reservations: node.ledger
        .reservations()
        .filter(
          (r) =>
            (!query.user || r.user === query.user) &&
            (!query.container || r.container === query.container) &&
            (!query.status || r.status === query.status),
        )
        .sort((a, b) => b.startsAt - a.startsAt || (a.id < b.id ? -1 : 1))
        .slice(0, query.limit)
        .map(reservationView),
    }),
  });
  route({
    method: 'GET',
    url: '/v1/reservations/:id',
    tag: 'leases',
    summary: 'One reservation: its GPUs, period, escrow, what its host was paid, the GPUs its leases use',
    params: IdParam,
    handler: ({ params }) => {
      const r = node.ledger.reservation(params.id);
      if (!r) throw new AethirError('NOT_FOUND', `no reservation ${params.id}`);
      return reservationView(r);
    },
  });
};
