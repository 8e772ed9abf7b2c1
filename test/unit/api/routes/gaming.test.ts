import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { ApiBackend } from '../../../../src/api/backend.js';
import { createApiServer } from '../../../../src/api/server.js';
import { addressOf, generateKeyPair, signLeaseToken } from '../../../../src/core/index.js';

/**
 * Game-session signalling on the API node (src/api/routes/gaming.ts), against a stand-in game
 * host: the user's token is required, and the node only ever calls the lease route of an endpoint
 * proxy, never another URL a container names (no request leaves for it), and follows no redirect.
 */
describe('gaming routes: the lease owner’s authority, and only lease endpoints', () => {
  const user = generateKeyPair();
  const chainId = 'test-chain';
  let endpoint = '';
  let host: Server;
  let hostUrl = '';
  const seen: string[] = [];
  let api: FastifyInstance;
  let answer: (res: import('node:http').ServerResponse) => void = () => {};

  beforeAll(async () => {
    host = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers['x-aethir-lease-token'] ? 'token' : 'no-token'}`);
      answer(res);
    });
    await new Promise<void>((r) => host.listen(0, '127.0.0.1', () => r()));
    hostUrl = `http://127.0.0.1:${(host.address() as { port: number }).port}`;
    const lease = { id: 'L1', user: addressOf(user.publicKey), status: 'open' };
    const node = {
      chainId,
      now: () => Date.now(),
      ledger: { lease: (id: string) => (id === 'L1' ? lease : undefined) },
      endpointOf: () => endpoint,
      closeSubmissions: () => {},
      onBlock: () => () => {},
    } as unknown as ApiBackend;
    api = await createApiServer(node);
  });
  afterAll(async () => {
    await api?.close();
    host?.closeAllConnections();
    await new Promise((r) => host?.close(r));
  });

  const token = () => signLeaseToken(user, { chainId, lease: 'L1', exp: Date.now() + 60_000 });
  const session = (auth = token()) =>
    api.inject({
      method: 'POST',
      url: '/v1/leases/L1/gaming/session',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${auth}` },
      payload: '{}',
    });

  it('relays to the lease endpoint with the token, and passes the offer back', async () => {
    endpoint = `${hostUrl}/l/L1/`;
    const offer = { session: 'a'.repeat(32), offer: { type: 'offer', sdp: 'v=0\r\n' } };
    answer = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(offer));
    seen.length = 0;
    const r = await session();
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual(offer);
    expect(seen).toEqual(['POST /l/L1/session token']);
  });

  it('refuses a container endpoint that is not this lease’s route, without calling it', async () => {
    seen.length = 0;
    for (const bad of [
      `${hostUrl}/`,
      `${hostUrl}/l/L2/`,
      `${hostUrl}/admin?x=/l/L1/`,
      `http://user:pw@127.0.0.1:1/l/L1/`,
      `file:///etc/l/L1/`,
      'not a url',
    ]) {
      endpoint = bad;
      const r = await session();
      expect(r.statusCode).toBe(503);
      expect(r.json().error.message).toBe("lease L1's endpoint is not a lease endpoint");
    }
    expect(seen).toEqual([]);
  });

  it('does not follow a redirect, nor pass on a host answer that is not an offer', async () => {
    endpoint = `${hostUrl}/l/L1/`;
    answer = (res) => res.writeHead(302, { location: 'http://127.0.0.1:5432/' }).end();
    seen.length = 0;
    const r = await session();
    expect(r.statusCode).toBe(503);
    expect(r.json().error.message).toBe('the game host answered HTTP 302');
    expect(seen).toEqual(['POST /l/L1/session token']);
    answer = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"secret":"x"}');
    const notOffer = await session();
    expect(notOffer.statusCode).toBe(503);
    expect(notOffer.json().error.message).toBe('the game host answered without an offer');
  });

  it("needs the lease user's token", async () => {
    endpoint = `${hostUrl}/l/L1/`;
    seen.length = 0;
    const none = await api.inject({ method: 'POST', url: '/v1/leases/L1/gaming/session', payload: {} });
    expect(none.statusCode).toBe(403);
    const other = signLeaseToken(generateKeyPair(), { chainId, lease: 'L1', exp: Date.now() + 60_000 });
    expect((await session(other)).json().error.message).toBe(
      "the lease token is not signed by the lease's user",
    );
    const unknown = await api.inject({
      method: 'POST',
      url: '/v1/leases/L9/gaming/session',
      headers: { authorization: `Bearer ${token()}` },
      payload: {},
    });
    expect(unknown.statusCode).toBe(404);
    expect(seen).toEqual([]);
  });
});
