import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import {
  AethirError,
  canonicalize,
  isAddress,
  isAethirError,
  maskTokens,
  resolvePlace,
  toJsonSafe,
  verifyLeaseToken,
} from '../core/index.js';
import {
  ReplyEnvelopeSchema,
  TelemetryEnvelope,
  checkMessage,
  checkReply,
  subjectKind,
  verifyEventsAuth,
  verifyTelemetry,
  EVENTS_AUTH_HEADER,
  type Bus,
} from '../bus/index.js';
import { fromReplyError, noResponder } from '../bus/reply.js';
import {
  SignedReceiptSchema,
  SignedTxSchema,
  TX_TYPES,
  AppName,
  AppVersion,
  appGpus,
  paramsToWire,
  publishedApp,
  txId,
  verifyReceipt,
  type Container,
} from '../ledger/index.js';
import { subjects } from '../container/subjects.js';
import type { ApiBackend } from './backend.js';
import { Metrics } from './metrics.js';
import { containerView, leaseView, txView } from './views.js';

// The console (web/src), built by scripts/build-web.mjs (npm install's prepare); built here if missing.
const WEB_DIR = fileURLToPath(new URL('../../web/dist/', import.meta.url));
let webBuild: Promise<unknown> | null = null;
const buildWeb = () =>
  (webBuild ??= import(new URL('../../scripts/build-web.mjs', import.meta.url).href).then((m) =>
    m.buildWeb(),
  ));

const AddressParam = z.object({
  address: z.string().refine(isAddress, 'must be an address (ath1 + 40 hex)'),
});
const IdParam = z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be an id') });
const ListQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    user: z.string().refine(isAddress, 'must be an address').optional(),
    container: z.string().refine(isAddress, 'must be an address').optional(),
    status: z.string().max(20).optional(),
  })
  .strict();
const MatchBody = z
  .object({
    user: z.string().refine(isAddress, 'must be an address (ath1 + 40 hex)'),
    gpus: z.number().int().min(0).max(64).default(0),
    gpuModel: z.string().min(1).max(80).optional(),
    region: z
      .string()
      .regex(/^[a-z]{2,12}(-[a-z]{2,12})?$/, 'must be a region such as eu or eu-west')
      .optional(),
    maxPricePerHour: z
      .string()
      .regex(/^\d{1,40}$/, 'must be units as a decimal string')
      .optional(),
    strategy: z.enum(['lowest-fee', 'best-experience', 'balanced']).default('lowest-fee'),
    gpuModels: z.array(z.string().min(1).max(80)).min(1).max(16).optional(),
    minGpuClass: z.enum(['other', 'rtx3090', 'rtx4090', 'l40s', 'a100', 'h100', 'h200']).optional(),
    minVramMiB: z.number().int().min(0).max(10_000_000).optional(),
    minComputeCapability: z
      .union([z.number().min(0).max(25), z.string().regex(/^\d{1,2}\.\d$/, 'must be like 8.6')])
      .optional(),
    app: z.string().min(1).max(120).optional(),
    /** where the user is: coordinates, or a place ("Montréal, CA", "Portland, OR, US", "45.5,-73.6") */
    location: z
      .union([
        z.object({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) }).strict(),
        z.string().min(1).max(200),
      ])
      .optional(),
    maxLatencyMs: z.number().positive().max(10_000).optional(),
    minReputation: z.number().min(0).max(1).optional(),
    isolation: z.enum(['sandbox', 'any']).optional(),
  })
  .strict();
/** A place named in a request, as coordinates; an unknown or ambiguous name is INVALID_ARGUMENT. */
function placePoint(text: string): { lat: number; lon: number } {
  const p = resolvePlace(text);
  return { lat: p.lat, lon: p.lon };
}
const LogsQuery = z
  .object({
    follow: z.enum(['true', 'false']).default('true'),
    /** a lease token (`aethir lease token`), where a header cannot be set */
    token: z.string().max(2000).optional(),
  })
  .strict();
const TxListQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(50),
    from: z.string().refine(isAddress, 'must be an address').optional(),
    type: z.enum(TX_TYPES as [string, ...string[]]).optional(),
  })
  .strict();

interface RouteDef {
  method: 'GET' | 'POST';
  url: string;
  summary: string;
  tag: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  handler: (req: { params: any; query: any; body: any; raw: FastifyRequest }, reply: FastifyReply) => unknown;
}

/**
 * Takes over the response as a server-sent event stream: `emit(event, data)` writes one event, a
 * comment every 15 s keeps proxies from closing it, and `onClose(fn)` runs fn when the client goes.
 */
/** A lease token from `Authorization: Bearer`, else the query's `token`. */
function leaseTokenOf(req: FastifyRequest, fromQuery: string | undefined): string | undefined {
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^Bearer\s+(\S+)$/i.exec(h) : null;
  return m?.[1] ?? fromQuery;
}

function eventStream(
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

/** Most check requests waiting for containers' answers at once, on one API node. */
const MAX_PENDING_CHECKS = 10_000;

interface PendingCheck {
  container: string;
  subject: string;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

/**
 * Checkers' requests (`check.<container>`) to containers that joined over HTTP and so are not on
 * the bus themselves. While at least one event stream of a container is open, this node serves
 * the container's check subject on its bus (once, however many streams are open) and relays each
 * request to every open stream of that container as an SSE `check` event `{ id, subject, data }`
 * (canonical JSON). Every stream, not only the newest: the streams are not authenticated, and a
 * stranger's stream must not keep the requests from the container. The container answers in its
 * signed telemetry, on subject `reply.<id>`: only the container the request went to can answer
 * it, once. When its last stream closes the node stops serving, and what is still waiting fails
 * UNAVAILABLE; an answer that does not come in `timeoutMs` fails TIMEOUT.
 */
function checkRelay(bus: Bus | undefined, timeoutMs: number) {
  const streams = new Map<string, { emits: Set<(event: string, data: string) => void>; stop: () => void }>();
  const pending = new Map<string, PendingCheck>();
  const take = (id: string): PendingCheck | undefined => {
    const p = pending.get(id);
    if (!p) return undefined;
    pending.delete(id);
    clearTimeout(p.timer);
    return p;
  };
  const relay = (container: string, subject: string, data: unknown): Promise<unknown> => {
    const c = checkMessage(subject, data);
    if (!c.ok) throw new AethirError('INVALID_ARGUMENT', `malformed ${c.kind} request: ${c.reason}`);
    const emits = streams.get(container)?.emits;
    if (!emits?.size) throw noResponder(subject);
    if (pending.size >= MAX_PENDING_CHECKS)
      throw new AethirError('UNAVAILABLE', 'too many checks are waiting for containers on this node');
    const id = randomBytes(16).toString('hex');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (take(id))
          reject(new AethirError('TIMEOUT', `container ${container} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      pending.set(id, { container, subject, resolve, reject, timer });
      const frame = canonicalize({ id, subject, data: c.data });
      for (const emit of emits) emit('check', frame);
    });
  };
  return {
    /** An event stream of `container` opened (and `emit` writes to it); returns: it closed. */
    open(container: string, emit: (event: string, data: string) => void): () => void {
      if (!bus) return () => undefined;
      let s = streams.get(container);
      if (!s) {
        const stop = bus.serve(subjects.check(container), (data, subject) => relay(container, subject, data));
        s = { emits: new Set<(event: string, data: string) => void>(), stop };
        streams.set(container, s);
      }
      const stream = s;
      stream.emits.add(emit);
      return () => {
        stream.emits.delete(emit);
        if (stream.emits.size || streams.get(container) !== stream) return;
        streams.delete(container);
        stream.stop();
        for (const [id, p] of [...pending])
          if (p.container === container && take(id))
            p.reject(new AethirError('UNAVAILABLE', `container ${container} disconnected from this node`));
      };
    },
    /** The request `id` if this node sent it to `container` and it waits for an answer. */
    waiting(id: string, container: string): PendingCheck | undefined {
      const p = pending.get(id);
      return p?.container === container ? p : undefined;
    },
    /** Settles request `id` with the container's answer (checked by the caller). */
    answer(id: string, reply: { result: unknown } | { error: { code: string; message: string } }): void {
      const p = take(id);
      if (!p) return;
      if ('error' in reply) p.reject(fromReplyError(reply.error));
      else p.resolve(reply.result);
    },
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

/**
 * The HTTP API under /v1. Every route is declared once with its zod schemas: the same schemas
 * validate requests and generate /openapi.json. State changes only through signed
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
  } = {},
): Promise<FastifyInstance> {
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
    bodyLimit: 1 << 20,
    // Log streams and event streams stay open; closing the node must not wait for them.
    forceCloseConnections: true,
  });
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

  const routes: RouteDef[] = [];
  const route = (def: RouteDef) => {
    routes.push(def);
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

  const containerOut = (c: Container) => containerView(c, ledger());
  const mustContainer = (id: string) => {
    const c = ledger().container(id);
    if (!c) throw new AethirError('NOT_FOUND', `no container ${id}`);
    return c;
  };

  route({
    method: 'GET',
    url: '/v1/snapshot',
    tag: 'node',
    summary:
      "This node's state at its head (canonical JSON: genesis, head block, state entries), for a new replica to start from",
    handler: (_req, reply) => {
      if (!node.snapshot)
        throw new AethirError(
          'NOT_FOUND',
          'this node serves no snapshots: it is an embedded devnet (copy its data directory instead)',
        );
      return reply.header('content-type', 'application/json').send(node.snapshot());
    },
  });
  route({
    method: 'GET',
    url: '/health',
    tag: 'node',
    summary: 'Liveness of this node',
    handler: () => ({ ok: true, height: node.head.height }),
  });
  route({
    method: 'GET',
    url: '/v1/status',
    tag: 'node',
    summary: 'Chain id, head block, state root and network counts',
    handler: () => {
      const l = ledger();
      const cs = l.containers();
      return {
        chainId: node.chainId,
        roles: node.roles,
        heartbeatIntervalMs: node.heartbeatIntervalMs,
        height: node.head.height,
        root: node.head.root,
        blockHash: node.head.hash,
        time: node.head.time,
        containers: { total: cs.length, online: cs.filter((c) => c.status === 'online').length },
        leases: { open: node.openLeases().length, total: l.leases().length },
        checkers: l.chain.checkers,
        treasury: l.treasury().balance.toString(),
        params: toJsonSafe(l.params),
        economics: {
          coefficientBps: l.economics.coefficientBps,
          lastEpoch: l.economics.lastEpoch,
          nextEpochEnd: l.nextEpoch(node.now()).end,
          rewardPool: l.rewardPool().balance.toString(),
          checkerPool: l.checkerPool().balance.toString(),
        },
      };
    },
  });
  route({
    method: 'GET',
    url: '/v1/accounts/:address',
    tag: 'accounts',
    summary: 'Balance, escrow, vesting and next nonce of an account',
    params: AddressParam,
    handler: ({ params }) => {
      const l = ledger();
      const a = l.account(params.address);
      const now = node.now();
      let locked = 0n;
      let claimable = 0n;
      const entries = l.vesting(params.address);
      for (const e of entries)
        if (e.unlockAt <= now) claimable += e.amount;
        else locked += e.amount;
      return toJsonSafe({
        address: params.address,
        balance: a.balance,
        escrow: a.escrow,
        nonce: a.nonce,
        vesting: { locked, claimable, entries: entries.map(({ key: _k, ...e }) => e) },
      });
    },
  });
  route({
    method: 'GET',
    url: '/v1/accounts/:address/proof',
    tag: 'accounts',
    summary: 'A Merkle proof of the account under the current state root, checkable without the database',
    params: AddressParam,
    handler: ({ params }) => {
      const key = `acct/${params.address}`;
      const l = ledger();
      const p = l.state.prove(key);
      if (!p)
        throw new AethirError(
          'NOT_FOUND',
          `account ${params.address} is not in the state (it never held funds)`,
        );
      return {
        address: params.address,
        height: node.head.height,
        root: l.root(),
        key,
        value: canonicalize(l.state.get(key)),
        leaf: p.leaf,
        proof: p.proof,
      };
    },
  });
  route({
    method: 'GET',
    url: '/v1/containers',
    tag: 'containers',
    summary: 'Containers on the network',
    query: ListQuery,
    handler: ({ query }) => ({
      containers: ledger()
        .containers()
        .filter((c) => !query.status || c.status === query.status)
        .slice(0, query.limit)
        .map(containerOut),
    }),
  });
  // Containers that joined over HTTP (aethir container start --network URL): their telemetry in,
  // their lease events and checkers' requests out, their answers in. The newest `at` per
  // container: a replayed batch is refused.
  const lastTelemetry = new Map<string, number>();
  const lastEventsAuth = new Map<string, number>();
  const checks = checkRelay(opts.bus, opts.checkTimeoutMs ?? 60_000);
  route({
    method: 'POST',
    url: '/v1/telemetry',
    tag: 'containers',
    summary:
      "A container's heartbeats, its workloads' output and its answers to checks (reply.<id>), signed by the container's key, onto this node's bus",
    body: TelemetryEnvelope,
    handler: ({ body }, reply) => {
      const e = body as TelemetryEnvelope;
      verifyTelemetry(e, node.chainId);
      if (e.at <= (lastTelemetry.get(e.container) ?? -1))
        throw new AethirError(
          'CONFLICT',
          `telemetry at ${e.at} is not newer than the last one from this container`,
        );
      if (Math.abs(e.at - node.now()) > 10 * 60_000)
        throw new AethirError(
          'INVALID_ARGUMENT',
          "telemetry time is more than 10 minutes off this node's clock",
        );
      const l = ledger();
      const checked: Array<{ subject: string; data: unknown }> = [];
      const answers = new Map<string, { result: unknown } | { error: { code: string; message: string } }>();
      for (const { subject, data } of e.messages) {
        const kind = subjectKind(subject);
        const tokens = subject.split('.');
        if (tokens[0] === 'reply') {
          // An answer to a check this node relayed to this very container, and not answered yet.
          const id = tokens.length === 2 ? tokens[1]! : '';
          const p = answers.has(id) ? undefined : checks.waiting(id, e.container);
          if (!p)
            throw new AethirError(
              'UNAUTHORIZED',
              `"${subject}" answers no check this node is waiting for from this container`,
            );
          const r = ReplyEnvelopeSchema.safeParse(data);
          if (!r.success || !('error' in r.data || 'result' in r.data))
            throw new AethirError(
              'INVALID_ARGUMENT',
              `malformed ${subject}: must be { result } or { error }`,
            );
          if ('error' in r.data) answers.set(id, r.data);
          else {
            const c = checkReply(p.subject, r.data.result);
            if (!c.ok) throw new AethirError('INVALID_ARGUMENT', `malformed ${subject}: ${c.reason}`);
            answers.set(id, { result: c.data });
          }
          continue;
        }
        const own =
          kind === 'hb'
            ? tokens[1] === e.container
            : (kind === 'lease.log' || kind === 'lease.exit') &&
              l.lease(tokens[1]!)?.container === e.container;
        if (!own)
          throw new AethirError(
            'UNAUTHORIZED',
            `a container may send only its heartbeats, its own leases' output and its answers to checks, not "${subject}"`,
          );
        const c = checkMessage(subject, data);
        if (!c.ok) throw new AethirError('INVALID_ARGUMENT', `malformed ${subject}: ${c.reason}`);
        checked.push({ subject, data: c.data });
      }
      lastTelemetry.set(e.container, e.at);
      for (const m of checked) node.publishTelemetry(m.subject, m.data);
      for (const [id, a] of answers) checks.answer(id, a);
      return reply.status(202).send({ accepted: checked.length + answers.size });
    },
  });
  route({
    method: 'GET',
    url: '/v1/containers/:address/events',
    tag: 'containers',
    summary:
      "Server-sent events for one container (canonical JSON): `lease` events, every open lease first, then lease.opened / lease.closed as they happen, and its leases' usage receipts; `check` events, checkers' requests { id, subject, data } for the container to answer in its telemetry on reply.<id>",
    params: AddressParam,
    handler: ({ params, raw }, reply) => {
      const id = (params as { address: string }).address;
      // Only the container itself: its leases' events and the checkers' probes are for it alone.
      const h = raw.headers[EVENTS_AUTH_HEADER];
      const at = verifyEventsAuth(typeof h === 'string' ? h : undefined, id, node.chainId, node.now());
      if (at <= (lastEventsAuth.get(id) ?? -1))
        throw new AethirError('UNAUTHORIZED', 'this event stream request was already used (replayed)');
      lastEventsAuth.set(id, at);
      const emit = eventStream(reply, raw);
      const send = (subject: string, msg: unknown) => emit('lease', canonicalize({ subject, msg }));
      emit.onClose(node.leaseEvents(id, send));
      // What happened before this connection: an agent that reconnects misses nothing.
      for (const lease of ledger().leases())
        if (lease.container === id && lease.status === 'open') send(`lease.opened.${id}`, { lease });
      emit.onClose(checks.open(id, emit));
    },
  });
  route({
    method: 'GET',
    url: '/v1/containers/:address',
    tag: 'containers',
    summary: 'One container',
    params: AddressParam,
    handler: ({ params }) => containerOut(mustContainer(params.address)),
  });
  route({
    method: 'GET',
    url: '/v1/leases',
    tag: 'leases',
    summary: 'Leases, newest first',
    query: ListQuery,
    handler: ({ query }) => ({
      leases: ledger()
        .leases()
        .filter(
          (l) =>
            (!query.user || l.user === query.user) && (!query.container || l.container === query.container),
        )
        .filter((l) => !query.status || l.status === query.status)
        .sort((a, b) => b.openedAt - a.openedAt || (a.id < b.id ? -1 : 1))
        .slice(0, query.limit)
        .map((l) => leaseView(l, node.endpointOf(l))),
    }),
  });
  route({
    method: 'GET',
    url: '/v1/leases/:id',
    tag: 'leases',
    summary: "One lease: escrow, charge and its split, and while it runs the endpoint of its workload's port",
    params: IdParam,
    handler: ({ params }) => {
      const l = ledger().lease(params.id);
      if (!l) throw new AethirError('NOT_FOUND', `no lease ${params.id}`);
      return leaseView(l, node.endpointOf(l));
    },
  });
  // Usage receipts: the user's client signs what it was served; the lease's container settles
  // with the latest one. Checked here (a forged or stale one never reaches the bus), and again
  // by the container and the ledger.
  route({
    method: 'POST',
    url: '/v1/leases/:id/receipts',
    tag: 'leases',
    summary:
      "A usage receipt signed by the lease's user (cumulative service acknowledged), passed to the lease's container",
    params: IdParam,
    body: SignedReceiptSchema,
    handler: ({ params, body }, reply) => {
      const l = ledger().lease(params.id);
      if (!l) throw new AethirError('NOT_FOUND', `no lease ${params.id}`);
      if (body.lease !== l.id)
        throw new AethirError('INVALID_ARGUMENT', `the receipt is for lease ${body.lease}, not ${l.id}`);
      if (l.status !== 'open') throw new AethirError('CONFLICT', `lease ${l.id} is ${l.status}`);
      const r = verifyReceipt(node.chainId, body, l.user);
      if (r.seq <= l.lastReceiptSeq)
        throw new AethirError(
          'CONFLICT',
          `receipt ${r.seq} is not newer than the last one the ledger accepted (${l.lastReceiptSeq})`,
        );
      node.publishTelemetry(subjects.leaseReceipt(l.id), r);
      return reply.status(202).send({ accepted: true, lease: l.id, seq: r.seq });
    },
  });
  route({
    method: 'GET',
    url: '/v1/leases/:id/logs',
    tag: 'leases',
    summary:
      "The workload's output as NDJSON: everything so far, then live until it exits (follow=false: only so far)",
    params: IdParam,
    query: LogsQuery,
    handler: async ({ params, query, raw }, reply) => {
      const lease = ledger().lease(params.id);
      if (!lease) throw new AethirError('NOT_FOUND', `no lease ${params.id}`);
      // The workload's output is its user's (or whom the user gave a token): a lease id is public.
      const token = leaseTokenOf(raw, query.token);
      if (!token)
        throw new AethirError(
          'UNAUTHORIZED',
          "a lease's logs need a lease token signed by its user (Authorization: Bearer …; aethir lease token)",
        );
      verifyLeaseToken(token, {
        chainId: node.chainId,
        lease: lease.id,
        user: lease.user,
        scope: 'logs',
        now: node.now(),
      });
      if (query.follow === 'false') {
        const s = node.logs.snapshot(params.id);
        reply.header('content-type', 'application/x-ndjson');
        return s.events.map((e) => JSON.stringify(e)).join('\n') + (s.events.length ? '\n' : '');
      }
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'application/x-ndjson',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
      });
      const abort = new AbortController();
      raw.raw.on('close', () => abort.abort());
      // A lease closed without its workload ever reporting an exit (container gone) ends the
      // stream after a grace period instead of leaving the client waiting forever.
      const stopWatch = node.onBlock(() => {
        const l = ledger().lease(params.id);
        if (l?.status === 'closed') setTimeout(() => abort.abort(), 3000).unref();
      });
      if (lease.status === 'closed') setTimeout(() => abort.abort(), 3000).unref();
      try {
        // Backpressure: a client that reads slowly is waited for here, not buffered for; the hub
        // meanwhile skips it ahead (with a marker) past what it no longer keeps.
        for await (const e of node.logs.follow(params.id, abort.signal)) {
          if (!res.write(JSON.stringify(e) + '\n'))
            await new Promise<void>((resolve) => {
              const done = () => {
                res.off('drain', done);
                res.off('close', done);
                resolve();
              };
              res.on('drain', done);
              res.on('close', done);
            });
          if (res.destroyed) break;
        }
      } finally {
        stopWatch();
        res.end();
      }
    },
  });
  route({
    method: 'GET',
    url: '/v1/apps',
    tag: 'apps',
    summary: 'Published apps: owner, latest version, GPUs a session needs, every version',
    handler: () => {
      const l = ledger();
      return toJsonSafe({
        apps: l.apps().map((a) => {
          const m = l.appRelease(a.name)!.manifest;
          return { ...a, description: m.description, gpus: appGpus(m) };
        }),
      });
    },
  });
  route({
    method: 'GET',
    url: '/v1/apps/:name',
    tag: 'apps',
    summary: "One app: a version's manifest (default: the latest), the app's owner and its versions",
    params: z.object({ name: AppName }),
    query: z.object({ version: AppVersion.optional() }).strict(),
    handler: ({ params, query }) => {
      const l = ledger();
      const app = l.app(params.name);
      if (!app) throw new AethirError('NOT_FOUND', `no app "${params.name}" is published`);
      const release = l.appRelease(params.name, query.version);
      if (!release)
        throw new AethirError(
          'NOT_FOUND',
          `app ${params.name} has no version ${query.version}; published: ${app.versions.join(', ')}`,
        );
      return toJsonSafe(publishedApp(app, release));
    },
  });
  route({
    method: 'POST',
    url: '/v1/match',
    tag: 'indexer',
    summary: 'Find the best container for a request and reserve it for a short time',
    body: MatchBody,
    handler: async ({ body }) => {
      const m = await node.match({
        user: body.user,
        gpus: body.gpus,
        gpuModel: body.gpuModel,
        region: body.region,
        maxPricePerHour: body.maxPricePerHour === undefined ? undefined : BigInt(body.maxPricePerHour),
        strategy: body.strategy,
        gpuModels: body.gpuModels,
        minGpuClass: body.minGpuClass,
        minVramMiB: body.minVramMiB,
        minComputeCapability: body.minComputeCapability,
        app: body.app,
        location: typeof body.location === 'string' ? placePoint(body.location) : body.location,
        maxLatencyMs: body.maxLatencyMs,
        minReputation: body.minReputation,
        isolation: body.isolation,
      });
      return toJsonSafe({
        container: containerOut(m.container),
        reservation: m.reservation,
        score: m.score,
        candidates: m.candidates,
      });
    },
  });
  // Group commit: the transactions of concurrent requests share one block and one fsync.
  route({
    method: 'POST',
    url: '/v1/transactions',
    tag: 'transactions',
    summary: 'Submit a signed transaction; answers once it is in a durable block',
    body: SignedTxSchema,
    handler: async ({ body }, reply) => {
      const o = await node.submit(body);
      if (!o.ok) {
        txRejected({ code: o.error.code });
        throw o.error;
      }
      txAccepted({ type: body.type });
      return reply.status(201).send({ id: o.id, height: o.height, root: o.root, result: o.result });
    },
  });
  route({
    method: 'GET',
    url: '/v1/transactions',
    tag: 'transactions',
    summary: 'Recent transactions, newest first',
    query: TxListQuery,
    handler: async ({ query }) => ({
      transactions: (await node.recentTxs(query.limit, { from: query.from, type: query.type })).map(txView),
    }),
  });
  route({
    method: 'GET',
    url: '/v1/transactions/:id',
    tag: 'transactions',
    summary: 'One transaction and the block it is in',
    params: z.object({ id: z.string().regex(/^[0-9a-f]{64}$/, 'must be a transaction id (64 hex)') }),
    handler: async ({ params }) => {
      const t = await node.tx(params.id);
      if (!t) throw new AethirError('NOT_FOUND', `no transaction ${params.id}`);
      return txView(t);
    },
  });
  route({
    method: 'GET',
    url: '/v1/blocks',
    tag: 'transactions',
    summary: 'Recent blocks, newest first',
    query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(20) }).strict(),
    handler: async ({ query }) => ({
      blocks: (await node.recentBlocks(query.limit)).map((b) => ({
        ...b,
        txs: b.txs.map((t) => ({ id: txId(t), type: t.type, from: t.from })),
      })),
    }),
  });
  const proposalView = (id: number) => {
    const l = ledger();
    const p = l.proposal(id);
    if (!p) throw new AethirError('NOT_FOUND', `no proposal ${id}`);
    const now = node.now();
    const phase = l.proposalPhase(p, now);
    // What executing it would change, parameter by parameter (current → proposed).
    const current = paramsToWire(l.params);
    const changes = p.actions.flatMap((a) =>
      a.kind === 'params'
        ? Object.entries(a.changes).map(([k, v]) => ({ parameter: k, from: current[k], to: v }))
        : [],
    );
    return toJsonSafe({
      ...p,
      phase: phase.phase,
      quorum: phase.quorum,
      turnout: phase.turnout,
      passing: phase.passed,
      votingLeftMs: Math.max(0, p.votingEnds - now),
      executableInMs: Math.max(0, p.executableAt - now),
      ratificationsNeeded: p.operational ? l.councilMajority() : 0,
      changes,
    });
  };
  route({
    method: 'GET',
    url: '/v1/dao',
    tag: 'dao',
    summary: 'The DAO: council seats, total voting weight, governance parameters',
    handler: () => {
      const l = ledger();
      const p = l.params;
      return toJsonSafe({
        council: l.dao.council,
        totalWeight: l.totalWeight(node.now()),
        proposals: l.dao.nextProposal,
        params: {
          lockMinMs: p.lockMinMs,
          lockMaxMs: p.lockMaxMs,
          proposalMinWeight: p.proposalMinWeight,
          votingPeriodMs: p.votingPeriodMs,
          quorumBps: p.quorumBps,
          timelockMs: p.timelockMs,
          revenueShareBps: p.revenueShareBps,
        },
      });
    },
  });
  route({
    method: 'GET',
    url: '/v1/dao/proposals',
    tag: 'dao',
    summary: 'Proposals, newest first, with their phase and tally',
    query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }).strict(),
    handler: ({ query }) => ({
      proposals: ledger()
        .proposals()
        .reverse()
        .slice(0, query.limit)
        .map((p) => proposalView(p.id)),
    }),
  });
  route({
    method: 'GET',
    url: '/v1/dao/proposals/:id',
    tag: 'dao',
    summary: 'One proposal: tally, quorum, time left and what it will change',
    params: z.object({ id: z.coerce.number().int().min(0) }),
    handler: ({ params }) => proposalView(params.id),
  });
  route({
    method: 'GET',
    url: '/v1/accounts/:address/lock',
    tag: 'dao',
    summary: "An account's lock and its voting weight now",
    params: AddressParam,
    handler: ({ params }) => {
      const l = ledger();
      const lock = l.lock(params.address);
      const now = node.now();
      return toJsonSafe({
        address: params.address,
        amount: lock?.amount ?? 0n,
        end: lock?.end ?? null,
        weight: l.weightOf(params.address, now),
        expired: lock ? lock.end <= now : false,
      });
    },
  });
  route({
    method: 'GET',
    url: '/v1/checkers/reports',
    tag: 'checkers',
    summary:
      "Recent reports signed by checkers (liveness, capacity, location, qos), with each checker's reason in plain words",
    query: z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }).strict(),
    // Reports are transactions: read back from the log, so they survive restarts.
    handler: async ({ query }) => ({
      reports: (await node.recentTxs(query.limit, { type: 'checker.report' })).map((t) => {
        const p = t.tx.payload as {
          container: string;
          check?: string;
          ok: boolean;
          observedAt: number;
          reason?: string;
        };
        return {
          checker: t.tx.from,
          container: p.container,
          check: p.check ?? 'liveness',
          ok: p.ok,
          observedAt: p.observedAt,
          height: t.height,
          ...(p.reason !== undefined ? { reason: p.reason } : {}),
        };
      }),
    }),
  });
  route({
    method: 'GET',
    url: '/v1/events',
    tag: 'node',
    summary: 'Server-sent events: one "block" event per block',
    handler: (req, reply) => {
      const emit = eventStream(reply, req.raw);
      const send = (height: number, root: string, txs: Array<{ id: string; type: string }>) =>
        emit('block', JSON.stringify({ height, root, txs }));
      send(node.head.height, node.head.root, []);
      emit.onClose(
        node.onBlock((e) =>
          send(
            e.block.height,
            e.block.root,
            e.applied.map((a) => ({ id: a.id, type: a.tx.type })),
          ),
        ),
      );
    },
  });
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
    handler: () => openApi(routes),
  });

  const staticFiles: Record<string, string> = {
    '/': 'index.html',
    '/app.js': 'app.js',
    '/app.css': 'app.css',
  };
  const types: Record<string, string> = {
    html: 'text/html; charset=utf-8',
    js: 'text/javascript; charset=utf-8',
    css: 'text/css; charset=utf-8',
  };
  for (const [url, file] of Object.entries(staticFiles)) {
    app.get(url, async (_req, reply) => {
      const body = await readFile(WEB_DIR + file).catch(
        async () => (await buildWeb(), readFile(WEB_DIR + file)),
      );
      return reply.type(types[file.split('.').pop()!]!).send(body);
    });
  }
  // the console's code-split parts (built names only: nothing else under web/dist is reachable)
  app.get('/chunks/:name', async (req, reply) => {
    const { name } = req.params as { name: string };
    const body =
      /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}\.js$/.test(name) && !name.includes('..')
        ? await readFile(`${WEB_DIR}chunks/${name}`).catch(() => null)
        : null;
    if (!body) throw new AethirError('NOT_FOUND', `no file ${req.url}`);
    return reply.type(types.js!).send(body);
  });
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
