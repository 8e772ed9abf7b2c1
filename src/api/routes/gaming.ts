import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AethirError } from '../../core/errors.js';
import { verifyLeaseToken } from '../../core/lease-token.js';
import { AnswerBody, SessionRequest } from '../../gaming/signalling.js';
import { IdParam, router, type ApiPlugin } from './common.js';

/**
 * Game-session signalling (docs/gaming.md), with the lease owner's authority: the browser's lease
 * token (scope `endpoint`, signed by the lease's user) is checked here, then the offer/answer
 * exchange is relayed to the session's host through the lease's endpoint (where the container's
 * endpoint proxy checks the token again). The media itself never passes through this node: it
 * flows peer to peer (WebRTC) between the player's browser and the host.
 *
 *   POST /v1/leases/:id/gaming/session              { resolution?, bitrateKbps? } -> { session, offer }
 *   POST /v1/leases/:id/gaming/session/:sid/answer  { type: "answer", sdp }        -> 204
 *   GET  /v1/leases/:id/gaming/stats                the host's encoder figures (fps, encode ms, bitrate)
 */
const AnswerParams = IdParam.extend({ sid: z.string().regex(/^[0-9a-f]{32}$/, 'must be a session id') });
/** how long the host may take to answer (an offer waits for its ICE candidates) */
const RELAY_TIMEOUT_MS = 10_000;

export const gamingRoutes: ApiPlugin = async (app, ctx) => {
  const { node } = ctx;
  const route = router(app, ctx);
  /** The lease's endpoint, for a request that carries its user's token. */
  const endpointFor = (req: FastifyRequest, id: string): { endpoint: string; token: string } => {
    const lease = node.ledger.lease(id);
    if (!lease) throw new AethirError('NOT_FOUND', `no lease ${id}`);
    const m = /^Bearer\s+(\S+)$/i.exec(String(req.headers.authorization ?? ''));
    if (!m)
      throw new AethirError(
        'UNAUTHORIZED',
        "a game session needs a lease token signed by the lease's user (Authorization: Bearer …)",
      );
    verifyLeaseToken(m[1]!, {
      chainId: node.chainId,
      lease: lease.id,
      user: lease.user,
      scope: 'endpoint',
      now: node.now(),
    });
    if (lease.status !== 'open') throw new AethirError('CONFLICT', `lease ${lease.id} is ${lease.status}`);
    const endpoint = node.endpointOf(lease);
    if (!endpoint)
      throw new AethirError('UNAVAILABLE', `lease ${lease.id} has no endpoint yet (the session is starting)`);
    // the container says where its endpoint is: this node only ever calls a lease route of an
    // endpoint proxy there (never any URL a host names), and follows no redirect
    if (!isLeaseEndpoint(endpoint, lease.id))
      throw new AethirError('UNAVAILABLE', `lease ${lease.id}'s endpoint is not a lease endpoint`);
    return { endpoint: endpoint.replace(/\/*$/, '/'), token: m[1]! };
  };

  const relay = async (
    target: { endpoint: string; token: string },
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: unknown }> => {
    let res: Response;
    try {
      res = await fetch(target.endpoint + path, {
        method,
        headers: {
          'x-aethir-lease-token': target.token,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(RELAY_TIMEOUT_MS),
        redirect: 'manual',
      });
    } catch (e) {
      throw new AethirError('UNAVAILABLE', `the game host does not answer: ${(e as Error).message}`);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (
      res.status >= 500 ||
      (res.status >= 300 && res.status < 400) ||
      (res.status >= 400 && !isErrorBody(json))
    )
      throw new AethirError('UNAVAILABLE', `the game host answered HTTP ${res.status}`);
    return { status: res.status, json };
  };

  route({
    method: 'POST',
    url: '/v1/leases/:id/gaming/session',
    tag: 'gaming',
    summary:
      "Starts a game session (Authorization: Bearer <the lease user's token, scope endpoint>): the host's WebRTC offer",
    params: IdParam,
    body: SessionRequest,
    handler: async ({ params, body, raw }, reply) => {
      const r = await relay(endpointFor(raw, params.id), 'POST', 'session', body);
      if (r.status === 200 && !isOffer(r.json))
        throw new AethirError('UNAVAILABLE', 'the game host answered without an offer');
      return reply.status(r.status).send(r.json);
    },
  });
  route({
    method: 'POST',
    url: '/v1/leases/:id/gaming/session/:sid/answer',
    tag: 'gaming',
    summary: "The browser's SDP answer to a game session's offer (same authority)",
    params: AnswerParams,
    body: AnswerBody,
    handler: async ({ params, body, raw }, reply) => {
      const r = await relay(endpointFor(raw, params.id), 'POST', `session/${params.sid}/answer`, body);
      return r.status === 204 ? reply.status(204).send() : reply.status(r.status).send(r.json);
    },
  });
  route({
    method: 'GET',
    url: '/v1/leases/:id/gaming/stats',
    tag: 'gaming',
    summary:
      "A game session host's figures: fps, render and encode ms per frame, bitrate, loss (same authority)",
    params: IdParam,
    handler: async ({ params, raw }, reply) => {
      const r = await relay(endpointFor(raw, params.id), 'GET', 'stats');
      return reply.status(r.status).send(r.json);
    },
  });
};

function isLeaseEndpoint(endpoint: string, lease: string): boolean {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    return false;
  }
  return (
    (u.protocol === 'http:' || u.protocol === 'https:') &&
    !u.username &&
    !u.password &&
    !u.search &&
    !u.hash &&
    u.pathname.replace(/\/?$/, '/').endsWith(`/l/${lease}/`)
  );
}

function isErrorBody(v: unknown): boolean {
  const e = (v as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return typeof e?.code === 'string' && typeof e?.message === 'string';
}

function isOffer(v: unknown): boolean {
  const o = v as { session?: unknown; offer?: { type?: unknown; sdp?: unknown } } | null;
  return typeof o?.session === 'string' && o.offer?.type === 'offer' && typeof o.offer.sdp === 'string';
}
