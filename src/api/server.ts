import Fastify, { type FastifyInstance } from 'fastify';
import { volumeRoutes } from './routes/volumes.js';
import { z } from 'zod';
import { isAethirError } from '../core/errors.js';
import { maskTokens } from '../core/lease-token.js';
import type { Bus } from '../bus/bus.js';
import type { ApiBackend } from './backend.js';
import { DEFAULT_API_LIMITS, installLimits, serverOptions, type ApiLimits } from './limits.js';
import { Metrics } from './metrics.js';
import { router, type ApiContext, type RouteDef } from './routes/common.js';
import { nodeRoutes } from './routes/node.js';
import { accountRoutes } from './routes/accounts.js';
import { containerRoutes } from './routes/containers.js';
import { leaseRoutes } from './routes/leases.js';
import { reservationRoutes } from './routes/reservations.js';
import { appRoutes } from './routes/apps.js';
import { matchRoutes } from './routes/match.js';
import { offersRoutes } from './routes/offers.js';
import { transactionRoutes } from './routes/transactions.js';
import { daoRoutes } from './routes/dao.js';
import { checkerRoutes } from './routes/checkers.js';
import { eventRoutes } from './routes/events.js';
import { consoleRoutes } from './routes/console.js';
import { gamingRoutes } from './routes/gaming.js';
import { chainRoutes } from './routes/chain.js';
import { workloadsAccessRoutes } from './routes/workloads-access.js';

/**
 * The HTTP API under /v1. Every route is declared once with its zod schemas: the same schemas
 * validate requests and generate /openapi.json. The routes live in one Fastify plugin per
 * resource (./routes/*.ts); this file holds the instance, what all routes share (logging,
 * metrics, errors) and the API's description. State changes only through signed
 * transactions (POST /v1/transactions); the API never signs for anyone.
 */
export async function createApiServer(
  node: ApiBackend,
  opts: {
    logLevel?: string;
    /**
     * the node's bus, where checkers reach containers (`check.<container>`): with it, the node
     * relays their requests to the containers that joined over HTTP (see checkRelay)
     */
    bus?: Bus;
    /**
     * the longest a relayed check waits for the container's answer (default 60 s): a ceiling that
     * frees what no one waits for any more; the checker's own request timeout is normally shorter
     */
    checkTimeoutMs?: number;
    /** where the request log goes (default stdout) */
    logStream?: NodeJS.WritableStream;
    /** timeouts, caps and rate limits (default: the configuration's defaults) */
    limits?: ApiLimits;
  } = {},
): Promise<FastifyInstance> {
  const limits = opts.limits ?? DEFAULT_API_LIMITS;
  const app = Fastify({
    // Lease tokens travel in query strings: a logged URL has them masked.
    logger:
      opts.logLevel && opts.logLevel !== 'silent'
        ? {
            level: opts.logLevel,
            ...(opts.logStream ? { stream: opts.logStream } : {}),
            serializers: {
              req: (req: { method: string; url: string }) => ({
                method: req.method,
                url: maskTokens(req.url),
              }),
            },
          }
        : false,
    ...serverOptions(limits),
    // Log streams and event streams stay open; closing the node must not wait for them.
    forceCloseConnections: true,
  });
  // before any route: the rate limits and body limits attach to each route as it is declared
  const limited = await installLimits(app, limits);
  const metrics = new Metrics();
  const httpRequests = metrics.counter('aethir_http_requests_total', 'HTTP requests by route and status');
  const txAccepted = metrics.counter('aethir_transactions_total', 'transactions applied, by type');
  const txRejected = metrics.counter(
    'aethir_transactions_rejected_total',
    'transactions rejected, by error code',
  );
  const ledger = () => node.ledger;
  metrics.gauge('aethir_ledger_height', 'height of the last block', () => node.head.height);
  metrics.gauge('aethir_containers', 'containers by status', () => {
    const by: Record<string, number> = { pending: 0, online: 0, offline: 0 };
    for (const c of ledger().containers()) by[c.status] = (by[c.status] ?? 0) + 1;
    return Object.entries(by).map(([status, n]) => [{ status }, n]);
  });
  metrics.gauge('aethir_api_streams_open', 'open event and log streams', limited.streams);
  metrics.gauge('aethir_leases_open', 'open leases', () => node.openLeases().length);
  metrics.gauge('aethir_bus_handler_errors_total', 'bus messages whose handler failed', () =>
    node.busErrors(),
  );

  app.addHook('onClose', async () => node.closeSubmissions?.());
  app.addHook('onResponse', async (req, reply) => {
    httpRequests({
      method: req.method,
      route: req.routeOptions.url ?? 'unknown',
      status: String(reply.statusCode),
    });
  });

  app.setErrorHandler((err: unknown, _req, reply) => {
    if (isAethirError(err)) return reply.status(err.httpStatus).send({ error: err.toJSON() });
    const e = err as { statusCode?: number; message?: string; code?: string };
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500)
      return reply.status(e.statusCode).send({
        error: { code: 'INVALID_ARGUMENT', message: e.message ?? 'bad request', retryable: false },
      });
    return reply
      .status(500)
      .send({ error: { code: 'INTERNAL', message: e.message ?? 'internal error', retryable: false } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .status(404)
      .send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}`, retryable: false } }),
  );

  // One plugin per resource; registered in this order, which is also /openapi.json's.
  const ctx: ApiContext = {
    node,
    routes: [],
    bus: opts.bus,
    checkTimeoutMs: opts.checkTimeoutMs ?? 60_000,
    counters: { txAccepted, txRejected },
  };
  await app.register(nodeRoutes, ctx);
  await app.register(accountRoutes, ctx);
  await app.register(containerRoutes, ctx);
  await app.register(leaseRoutes, ctx);
  await app.register(volumeRoutes, ctx);
  await app.register(reservationRoutes, ctx);
  await app.register(workloadsAccessRoutes, ctx);
  await app.register(appRoutes, ctx);
  await app.register(matchRoutes, ctx);
  await app.register(offersRoutes, ctx);
  await app.register(transactionRoutes, ctx);
  await app.register(daoRoutes, ctx);
  await app.register(checkerRoutes, ctx);
  await app.register(eventRoutes, ctx);
  await app.register(gamingRoutes, ctx);
  await app.register(chainRoutes, ctx);
  const route = router(app, ctx);
  let openApiDoc: unknown;
  route({
    method: 'GET',
    url: '/metrics',
    tag: 'node',
    summary: 'Prometheus metrics',
    handler: (_r, reply) => reply.type('text/plain; version=0.0.4').send(metrics.render()),
  });
  route({
    method: 'GET',
    url: '/openapi.json',
    tag: 'node',
    summary: 'This API, described in OpenAPI 3.1',
    // built once: every route is declared by now
    handler: () => (openApiDoc ??= openApi(ctx.routes)),
  });

  await app.register(consoleRoutes);
  return app;
}

function openApi(routes: RouteDef[]): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  const schema = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const [where, s] of [
      ['path', r.params],
      ['query', r.query],
    ] as const) {
      if (!s) continue;
      const js = schema(s) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, p] of Object.entries(js.properties ?? {}))
        parameters.push({
          name,
          in: where,
          required: where === 'path' || (js.required ?? []).includes(name),
          schema: p,
        });
    }
    (paths[path] ??= {})[r.method.toLowerCase()] = {
      summary: r.summary,
      tags: [r.tag],
      ...(parameters.length ? { parameters } : {}),
      ...(r.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: schema(r.body) } } } }
        : {}),
      responses: {
        '200': { description: 'OK' },
        '4XX': {
          description: 'Error',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Aethir node API',
      version: '0.1.0',
      description: 'Amounts are decimal strings of units; 1 ATH = 10^18 units.',
    },
    paths,
    components: {
      schemas: {
        Error: {
          type: 'object',
          properties: {
            error: {
              type: 'object',
              properties: {
                code: { type: 'string' },
                message: { type: 'string' },
                retryable: { type: 'boolean' },
                details: { type: 'object' },
              },
              required: ['code', 'message', 'retryable'],
            },
          },
        },
      },
    },
  };
}
