import { z } from 'zod';
import { router, type ApiPlugin } from './common.js';

/** Checkers' signed reports. */
export const checkerRoutes: ApiPlugin = async (app, ctx) => {
  const { node } = ctx;
  const route = router(app, ctx);
  route({
    method: 'GET',
    url: '/v1/checkers/reports',
    tag: 'checkers',
    summary:
      "Recent reports signed by checkers (liveness, capacity, location, qos, storage: with the volume), with each checker's reason in plain words (a location refutation that holds only with another checker's shared measurement names it: restsOn)",
    query: z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }).strict(),
    // Reports are transactions: read back from the log, so they survive restarts.
    handler: async ({ query }) => ({
      reports: (await node.recentTxs(query.limit, { type: 'checker.report' })).map((t) => {
        const p = t.tx.payload as {
          container: string;
          check?: string;
          volume?: string;
          ok: boolean;
          observedAt: number;
          reason?: string;
          restsOn?: string;
        };
        return {
          checker: t.tx.from,
          container: p.container,
          check: p.check ?? 'liveness',
          ...(p.volume !== undefined ? { volume: p.volume } : {}),
          ok: p.ok,
          observedAt: p.observedAt,
          height: t.height,
          ...(p.reason !== undefined ? { reason: p.reason } : {}),
          // a location refutation that holds only with this other checker's shared measurement
          ...(p.restsOn !== undefined ? { restsOn: p.restsOn } : {}),
        };
      }),
    }),
  });
};
