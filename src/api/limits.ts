import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';
import { defaultConfig, type Config } from '../core/config.js';
import { AethirError, ErrorCodes, type ErrorCode } from '../core/errors.js';

/**
 * What one client may hold of an API node: how long it may take to send a request, how many
 * connections and event streams it may keep open, how many requests it may make a minute, how
 * large and how deeply nested a body may be. A stranger can only be told "not now" (429 with
 * Retry-After) or "bad request" (400), never hold the node. Values come from the node's
 * configuration (src/core/config.ts: defaults, file, AETHIR_API_* environment, --limit flags);
 * README "API limits" lists them.
 */
export interface ApiLimits {
  /** the whole request (headers and body) must arrive within this (ms); a slower one gets 408 and is closed */
  requestTimeoutMs: number;
  /** the request's headers must arrive within this (ms) of the connection or the previous request */
  headersTimeoutMs: number;
  /** an idle keep-alive connection is closed after this (ms) */
  keepAliveTimeoutMs: number;
  /** largest JSON body (bytes) of a route not listed in ROUTE_BODY_LIMITS */
  bodyLimitBytes: number;
  /** deepest nesting of arrays and objects in a JSON body */
  maxJsonDepth: number;
  /** open connections, all clients together (the node refuses more) */
  maxConnections: number;
  /** open connections from one client address (429 past it) */
  maxConnectionsPerIp: number;
  /** open event and log streams from one client address (429 past it) */
  maxStreamsPerIp: number;
  /** requests a minute from one client address, all routes together (429 past it) */
  rateLimitPerMinute: number;
  /** POST /v1/match requests a minute from one client address (429 past it) */
  matchRateLimitPerMinute: number;
}

/** The API limits a node's configuration sets. */
export function apiLimitsOf(config: Config): ApiLimits {
  return {
    requestTimeoutMs: config.apiRequestTimeoutMs,
    headersTimeoutMs: config.apiHeadersTimeoutMs,
    keepAliveTimeoutMs: config.apiKeepAliveTimeoutMs,
    bodyLimitBytes: config.apiBodyLimitBytes,
    maxJsonDepth: config.apiMaxJsonDepth,
    maxConnections: config.apiMaxConnections,
    maxConnectionsPerIp: config.apiMaxConnectionsPerIp,
    maxStreamsPerIp: config.apiMaxStreamsPerIp,
    rateLimitPerMinute: config.apiRateLimitPerMinute,
    matchRateLimitPerMinute: config.apiMatchRateLimitPerMinute,
  };
}

/** The limits of a node configured with nothing but the defaults (src/core/config.ts). */
export const DEFAULT_API_LIMITS: Readonly<ApiLimits> = apiLimitsOf(defaultConfig({}));

/** Bodies that are small by nature get a smaller cap than bodyLimitBytes (bytes, by route). */
export const ROUTE_BODY_LIMITS: Readonly<Record<string, number>> = {
  '/v1/match': 16 << 10,
  '/v1/leases/:id/receipts': 16 << 10,
};

/** Routes whose response stays open (event and log streams), counted against maxStreamsPerIp. */
const STREAM_ROUTES = new Set(['/v1/events', '/v1/containers/:address/events', '/v1/leases/:id/logs']);
const isStream = (req: FastifyRequest): boolean =>
  STREAM_ROUTES.has(req.routeOptions.url ?? '') &&
  (req.query as { follow?: string } | undefined)?.follow !== 'false';

/** An error as every route answers it (README "Errors"; /openapi.json's Error). */
const errorJson = (code: ErrorCode, message: string) =>
  JSON.stringify({ error: { code, message, retryable: ErrorCodes[code].retryable } });

/**
 * What a connection that broke HTTP itself is answered (a request too slow, headers too large,
 * malformed bytes) before it is closed: the API's Error shape, not the framework's.
 */
function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, text, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout', 'the request did not arrive within the time this API allows']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'the request headers are larger than this API takes']
        : [400, 'Bad Request', 'malformed HTTP request'];
  const body = errorJson('INVALID_ARGUMENT', message);
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  socket.destroy(err);
}

/** Fastify's server options for these limits (timeouts are enforced by Node's HTTP server). */
export function serverOptions(l: ApiLimits) {
  return {
    clientErrorHandler,
    // a URL the router cannot take (malformed, or a path parameter over its length): the Error shape
    frameworkErrors: (
      err: { message: string; statusCode?: number },
      _req: FastifyRequest,
      reply: FastifyReply,
    ) =>
      void reply
        .code(err.statusCode ?? 400)
        .type('application/json')
        .send(errorJson('INVALID_ARGUMENT', err.message)),
    requestTimeout: l.requestTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    bodyLimit: l.bodyLimitBytes,
    // Node checks the request and header timeouts this often (its default, 30 s, would let a
    // slow body live 30 s past its limit).
    http: {
      headersTimeout: l.headersTimeoutMs,
      requestTimeout: l.requestTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(1000, l.headersTimeoutMs / 4)),
    },
  };
}

/**
 * How deeply a JSON text nests, scanned without parsing (strings skipped), stopping as soon as
 * it passes `limit`: a body is judged in O(length) before anything recursive touches it.
 */
export function jsonTextDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c)
        i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return max;
}

const retryAfter = (seconds: number) => ({ 'retry-after': String(seconds) });

/**
 * Installs the limits on `app` (before any route is declared): the per-address connection cap,
 * the JSON depth check, per-route body limits, per-address stream caps and rate limits.
 */
export async function installLimits(app: FastifyInstance, l: ApiLimits): Promise<{ streams: () => number }> {
  // Connections: past the cap for its address, a connection is answered 429 and closed at once.
  const conns = new Map<string, number>();
  app.server.maxConnections = l.maxConnections;
  app.server.on('connection', (socket: Socket) => {
    const ip = socket.remoteAddress ?? '?';
    const n = (conns.get(ip) ?? 0) + 1;
    conns.set(ip, n);
    socket.once('close', () => {
      const left = (conns.get(ip) ?? 1) - 1;
      if (left > 0) conns.set(ip, left);
      else conns.delete(ip);
    });
    if (n > l.maxConnectionsPerIp) {
      const body = errorJson(
        'RATE_LIMITED',
        `too many open connections from ${ip} (the most is ${l.maxConnectionsPerIp})`,
      );
      socket.end(
        `HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 5\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
      socket.destroySoon();
    }
  });

  // JSON bodies: depth checked on the text, then Fastify's own parser (prototype-poisoning safe).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string;
    const depth = jsonTextDepth(text, l.maxJsonDepth);
    if (depth > l.maxJsonDepth)
      return done(
        new AethirError(
          'INVALID_ARGUMENT',
          `invalid body: JSON nested deeper than ${l.maxJsonDepth} levels (the most this API takes)`,
        ),
        undefined,
      );
    parseJson(req, text, done);
  });

  app.addHook('onRoute', (route) => {
    const limit = ROUTE_BODY_LIMITS[route.url];
    if (limit !== undefined && route.bodyLimit === undefined)
      route.bodyLimit = Math.min(limit, l.bodyLimitBytes);
  });

  // Streams: counted from the request until its connection's response closes.
  const streams = new Map<string, number>();
  app.addHook('onRequest', async (req, reply) => {
    if (!isStream(req)) return;
    const ip = req.ip;
    const n = streams.get(ip) ?? 0;
    if (n >= l.maxStreamsPerIp) {
      reply.headers(retryAfter(5));
      throw new AethirError(
        'RATE_LIMITED',
        `too many open event and log streams from ${ip} (the most is ${l.maxStreamsPerIp}); close one first`,
      );
    }
    streams.set(ip, n + 1);
    reply.raw.once('close', () => {
      const left = (streams.get(ip) ?? 1) - 1;
      if (left > 0) streams.set(ip, left);
      else streams.delete(ip);
    });
  });

  const isMatch = (req: FastifyRequest) => req.routeOptions.url === '/v1/match';
  await app.register(rateLimit, {
    global: true,
    timeWindow: 60_000,
    keyGenerator: (req: FastifyRequest) => (isMatch(req) ? `match ${req.ip}` : req.ip),
    max: (_req: FastifyRequest, key: string) =>
      key.startsWith('match ') ? l.matchRateLimitPerMinute : l.rateLimitPerMinute,
    errorResponseBuilder: (req: FastifyRequest, ctx: { max: number; after: string }) =>
      new AethirError(
        'RATE_LIMITED',
        `too many requests from ${req.ip}${isMatch(req) ? ' to /v1/match' : ''} (the most is ${ctx.max} a minute); retry in ${ctx.after}`,
      ),
  });
  return { streams: () => [...streams.values()].reduce((a, b) => a + b, 0) };
}
