import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AethirError } from '../../core/errors.js';
import type { Bus } from '../../bus/bus.js';
import type { Container } from '../../ledger/model.js';
import { Address } from '../../ledger/schemas.js';
import type { ApiBackend } from '../backend.js';
import { containerView } from '../views.js';

/**
 * What every route plugin of the API shares: the node it serves, how a route is declared (once,
 * with the zod schemas that both validate its input and describe it in /openapi.json), and the
 * parameter schemas and helpers several resources use.
 */

/** A route as declared by a plugin: its schemas validate the request and generate /openapi.json. */
export interface RouteDef {
  method: 'GET' | 'POST';
  url: string;
  summary: string;
  tag: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  handler: (req: { params: any; query: any; body: any; raw: FastifyRequest }, reply: FastifyReply) => unknown;
}

/** What createApiServer hands every route plugin (as its options). */
export interface ApiContext {
  node: ApiBackend;
  /** every route declared so far, in order: /openapi.json describes them */
  routes: RouteDef[];
  /** the node's bus, where checkers reach containers (see check-relay.ts) */
  bus: Bus | undefined;
  /** the longest a relayed check waits for the container's answer */
  checkTimeoutMs: number;
  /** counters of transactions submitted here */
  counters: {
    txAccepted: (labels: { type: string }) => void;
    txRejected: (labels: { code: string }) => void;
  };
}

/** One resource's routes, registered on the API's Fastify instance. */
export type ApiPlugin = FastifyPluginAsync<ApiContext>;

/** `route(def)` declares a route on `app` (a plugin's instance) and records it for /openapi.json. */
export function router(app: FastifyInstance, ctx: ApiContext): (def: RouteDef) => void {
  return (def) => {
    ctx.routes.push(def);
    app.route({
      method: def.method,
      url: def.url,
      handler: async (req, reply) => {
        const params = parse(def.params, req.params, 'path');
        const query = parse(def.query, req.query, 'query');
        const body = parse(def.body, req.body, 'body');
        return def.handler({ params, query, body, raw: req }, reply);
      },
    });
  };
}

function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return value as T;
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const i = r.error.issues[0]!;
  throw new AethirError(
    'INVALID_ARGUMENT',
    `invalid ${where}: ${i.path.join('.') || '(root)'}: ${i.message}`,
    {
      details: { issues: r.error.issues.map((x) => ({ path: x.path.join('.'), message: x.message })) },
    },
  );
}

export const AddressParam = z.object({ address: Address });
export const IdParam = z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be an id') });
export const ListQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    user: Address.optional(),
    container: Address.optional(),
    status: z.string().max(20).optional(),
  })
  .strict();

/** A container as the API shows it. */
export const containerOut = (node: ApiBackend, c: Container) => containerView(c, node.ledger);

/**
 * Takes over the response as a server-sent event stream: `emit(event, data)` writes one event, a
 * comment every 15 s keeps proxies from closing it, and `onClose(fn)` runs fn when the client goes.
 */
export function eventStream(
  reply: FastifyReply,
  req: FastifyRequest,
): ((event: string, data: string) => void) & { onClose: (fn: () => void) => void } {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
  const closers: Array<() => void> = [() => clearInterval(ping)];
  req.raw.on('close', () => closers.forEach((fn) => fn()));
  const emit = (event: string, data: string) => void res.write(`event: ${event}\ndata: ${data}\n\n`);
  return Object.assign(emit, { onClose: (fn: () => void) => void closers.push(fn) });
}
