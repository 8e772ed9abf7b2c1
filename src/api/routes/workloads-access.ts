/**
 * Users' sessions into their running leases, relayed to the lease's container: a WebSocket at
 * `GET /v1/leases/:id/exec` (shells, `aethir exec`) or `/v1/leases/:id/files` (`aethir cp`),
 * carrying the session protocol of src/container/lease-access.ts unchanged. The token (a lease
 * token signed by the lease's user, scope exec or files; `Authorization: Bearer` or `?token=`) is
 * checked here, before the upgrade, and again by the container, which trusts no API node.
 */
import websocket from '@fastify/websocket';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import WebSocket from 'ws';
import { z } from 'zod';
import { AethirError } from '../../core/errors.js';
import { verifyLeaseToken } from '../../core/lease-token.js';
import type { Lease } from '../../ledger/model.js';
import type { ApiContext } from './common.js';

const Params = z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be an id') });
const Query = z.object({ token: z.string().max(2000).optional() }).strict();

function tokenOf(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^Bearer\s+(\S+)$/i.exec(h) : null;
  return m?.[1] ?? (req.query as { token?: string } | undefined)?.token;
}

type Door = { url: string; token: string };

/**
 * Where a session goes, checked before the upgrade (a refused session is a plain HTTP error): a
 * token signed by `user` for `id` and `scope`, a subject that is live (`state` null, else why
 * not), and the door its container's signed endpoint announces.
 */
function doorOf(
  node: ApiContext['node'],
  token: string | undefined,
  o: {
    id: string;
    user: string;
    container: string;
    scope: 'exec' | 'files';
    what: string;
    state: string | null;
  },
): Door {
  if (!token)
    throw new AethirError(
      'UNAUTHORIZED',
      `${o.what}'s ${o.scope} session needs a lease token signed by its user (Authorization: Bearer …)`,
    );
  verifyLeaseToken(token, {
    chainId: node.chainId,
    lease: o.id,
    user: o.user,
    scope: o.scope,
    now: node.now(),
  });
  if (o.state !== null) throw new AethirError('CONFLICT', `${o.what} is ${o.state}`);
  const endpoint = node.endpointOf({ id: o.id, container: o.container, status: 'open' } as Lease);
  if (!endpoint)
    throw new AethirError('UNAVAILABLE', `the container of ${o.what} announces no endpoint server`);
  return {
    url: endpoint.replace(/^http/, 'ws').replace(/\/l\/[A-Za-z0-9_-]+\/$/, `/x/${o.id}/${o.scope}`),
    token,
  };
}

export const workloadsAccessRoutes: FastifyPluginAsync<ApiContext> = async (app, ctx) => {
  const node = ctx.node;
  await app.register(websocket, { options: { maxPayload: 1 << 20 } });
  /** A WebSocket route relayed to the door `open` finds for the request's id and token. */
  const doorRoute = (url: string, open: (id: string, token: string | undefined) => Door) =>
    app.route({
      method: 'GET',
      url,
      preValidation: async (req) => {
        const params = Params.safeParse(req.params);
        const query = Query.safeParse(req.query);
        if (!params.success || !query.success) throw new AethirError('INVALID_ARGUMENT', 'bad id or query');
        (req as FastifyRequest & { door?: Door }).door = open(params.data.id, tokenOf(req));
      },
      handler: () => {
        throw new AethirError('INVALID_ARGUMENT', 'this route is a WebSocket (Upgrade: websocket)');
      },
      wsHandler: (client, req) => {
        const door = (req as FastifyRequest & { door?: Door }).door!;
        relay(client, door.url, door.token);
      },
    });
  for (const kind of ['exec', 'files'] as const)
    doorRoute(`/v1/leases/:id/${kind}`, (id, token) => {
      const lease = node.ledger.lease(id);
      if (!lease) throw new AethirError('NOT_FOUND', `no lease ${id}`);
      // an ended interruptible lease's checkpoint, while its host keeps it (copies only)
      const keep = node.ledger.params.checkpointKeepMs;
      const kept =
        kind === 'files' &&
        lease.interruptible === true &&
        lease.status === 'closed' &&
        lease.closedAt !== null &&
        keep !== undefined &&
        node.now() <= lease.closedAt + keep;
      const state = lease.status === 'open' || kept ? null : lease.status;
      return doorOf(node, token, { ...lease, scope: kind, what: `lease ${lease.id}`, state });
    });
  // `aethir cp` into and out of a persistent volume with no lease running: the same tar-stream
  // protocol, with a lease token its owner signed for the volume's id (scope files).
  doorRoute('/v1/volumes/:id/files', (id, token) => {
    const v = node.ledger.volume(id);
    if (!v) throw new AethirError('NOT_FOUND', `no volume ${id}`);
    const state = v.status === 'active' ? null : v.status;
    return doorOf(node, token, {
      id: v.id,
      user: v.owner,
      container: v.container,
      scope: 'files',
      what: `volume ${v.name}`,
      state,
    });
  });
};

/** Pipes two WebSockets into each other, frame for frame (text stays text), closing both together. */
function relay(client: WebSocket, url: string, token: string): void {
  const queued: Array<[WebSocket.RawData, boolean]> = [];
  const up = new WebSocket(url, { headers: { 'x-aethir-lease-token': token }, maxPayload: 1 << 20 });
  client.on('message', (d, isBinary) => {
    if (up.readyState === WebSocket.OPEN) up.send(d, { binary: isBinary });
    else queued.push([d, isBinary]);
  });
  up.on('open', () => {
    for (const [d, b] of queued.splice(0)) up.send(d, { binary: b });
  });
  up.on('message', (d, isBinary) => {
    if (client.readyState === WebSocket.OPEN) client.send(d, { binary: isBinary });
  });
  // The container's refusal (its HTTP status and message) reaches the user as an error frame.
  up.on('unexpected-response', (_req, res) => {
    let body = '';
    res.on('data', (c: Buffer) => (body += c.toString()));
    res.on('end', () => {
      let message = `the container refused the session (${res.statusCode})`;
      let code = 'UNAVAILABLE';
      try {
        const e = (JSON.parse(body) as { error?: { code?: string; message?: string } }).error;
        if (e?.message) message = e.message;
        if (e?.code) code = e.code;
      } catch {
        // not JSON: the status says it
      }
      if (client.readyState === WebSocket.OPEN) client.send(JSON.stringify({ type: 'error', code, message }));
      client.close(1011);
    });
  });
  up.on('error', (e) => {
    if (client.readyState === WebSocket.OPEN)
      client.send(
        JSON.stringify({
          type: 'error',
          code: 'UNAVAILABLE',
          message: `container unreachable: ${e.message}`,
        }),
      );
    client.close(1011);
  });
  up.on('close', (code) => client.close(code === 1005 || code === 1006 ? 1011 : code));
  client.on('close', () => up.terminate());
  client.on('error', () => up.terminate());
}
