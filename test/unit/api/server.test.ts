import type { FastifyInstance } from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServer } from '../../../src/api/server.js';
import { ath, generateKeyPair, loadConfig, ManualClock } from '../../../src/core/index.js';
import { signTx, txId, type SignedTx } from '../../../src/ledger/index.js';
import { Devnet } from '../../../src/node/devnet.js';
import { Keystore } from '../../../src/node/keystore.js';
import { devnetBackend } from '../../../src/node/devnet-backend.js';

/**
 * The HTTP API of src/api/server.ts on a real devnet (SQLite chain, its own container), through
 * fastify's inject: each route answers what the ledger holds; bad input is refused with a 4xx and
 * an error that names what is wrong, and changes nothing (the state root and height stay).
 */
describe('the API server', () => {
  const home = mkdtempSync(join(tmpdir(), 'aethir-api-'));
  const clock = new ManualClock(Date.UTC(2026, 4, 4));
  let devnet: Devnet;
  let api: FastifyInstance;
  const stranger = generateKeyPair();

  beforeAll(async () => {
    const config = loadConfig({
      env: { AETHIR_HOME: home },
      flags: { port: 0, dataDir: join(home, 'devnet'), demoContainers: 0, checkIntervalMs: 3_600_000 },
    });
    devnet = await Devnet.start({ config, clock });
    api = await createApiServer(devnetBackend(devnet));
  });
  afterAll(async () => {
    await api?.close();
    await devnet?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  const get = async (url: string) => {
    const r = await api.inject({ method: 'GET', url });
    return { status: r.statusCode, body: r.json() as any };
  };
  const post = async (url: string, payload: unknown) => {
    const r = await api.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json' },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });
    return { status: r.statusCode, body: r.json() as any };
  };
  const unchanged = async <T>(fn: () => Promise<T>): Promise<T> => {
    const { height, root } = devnet.chain.head;
    const out = await fn();
    expect(devnet.chain.head.height).toBe(height);
    expect(devnet.chain.head.root).toBe(root);
    return out;
  };
  const dev = () => devnet.developer;
  const tx = (
    type: Parameters<typeof signTx>[2],
    payload: Record<string, unknown>,
    nonce?: number,
  ): SignedTx =>
    signTx(
      dev(),
      devnet.chain.chainId,
      type,
      nonce ?? devnet.chain.ledger.account(dev().address).nonce,
      payload,
    );

  it('GET /health and /v1/status report the head of the chain', async () => {
    expect(await get('/health')).toEqual({
      status: 200,
      body: { ok: true, height: devnet.chain.head.height },
    });
    const s = await get('/v1/status');
    expect(s.status).toBe(200);
    expect(s.body).toMatchObject({
      chainId: devnet.chain.chainId,
      height: devnet.chain.head.height,
      root: devnet.chain.head.root,
      time: devnet.chain.head.time,
      checkers: devnet.chain.ledger.chain.checkers,
      containers: { total: 1, online: expect.any(Number) },
      leases: { open: 0, total: 0 },
    });
  });

  it('GET /v1/accounts/:address: balance, escrow and nonce as decimal strings; an unknown address holds 0', async () => {
    const a = devnet.chain.ledger.account(dev().address);
    expect(await get(`/v1/accounts/${dev().address}`)).toEqual({
      status: 200,
      body: {
        address: dev().address,
        balance: a.balance.toString(),
        escrow: a.escrow.toString(),
        nonce: a.nonce,
        vesting: { locked: '0', claimable: '0', entries: [] },
      },
    });
    expect((await get(`/v1/accounts/${stranger.address}`)).body).toMatchObject({ balance: '0', nonce: 0 });
    // its proof: only for an account the state holds
    const proof = await get(`/v1/accounts/${dev().address}/proof`);
    expect(proof.status).toBe(200);
    expect(proof.body).toMatchObject({ root: devnet.chain.ledger.root(), key: `acct/${dev().address}` });
    expect(await get(`/v1/accounts/${stranger.address}/proof`)).toEqual({
      status: 404,
      body: {
        error: {
          code: 'NOT_FOUND',
          message: `account ${stranger.address} is not in the state (it never held funds)`,
          retryable: false,
        },
      },
    });
  });

  it('refuses malformed paths and queries with 400 and the field that is wrong', async () => {
    const bad = await get('/v1/accounts/not-an-address');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'invalid path: address: must be an address (ath1 + 40 hex)',
    });
    expect((await get('/v1/containers?limit=0')).body.error.message).toMatch(/^invalid query: limit: /);
    expect((await get('/v1/containers?limit=1001')).status).toBe(400);
    expect((await get('/v1/containers?colour=red')).body.error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/^invalid query: \(root\): .*colour/),
    });
    expect((await get('/v1/leases/bad%20id!')).body.error.message).toBe('invalid path: id: must be an id');
    expect((await get('/v1/transactions/abc')).body.error.message).toBe(
      'invalid path: id: must be a transaction id (64 hex)',
    );
    expect((await get('/v1/transactions?type=steal')).status).toBe(400);
  });

  it('answers 404 with a reason for what does not exist, and for an unknown route', async () => {
    expect((await get(`/v1/containers/${stranger.address}`)).body.error).toEqual({
      code: 'NOT_FOUND',
      message: `no container ${stranger.address}`,
      retryable: false,
    });
    expect((await get('/v1/leases/nope')).body.error.message).toBe('no lease nope');
    expect((await get(`/v1/transactions/${'0'.repeat(64)}`)).status).toBe(404);
    expect(await get('/v1/nothing-here')).toEqual({
      status: 404,
      body: { error: { code: 'NOT_FOUND', message: 'no route GET /v1/nothing-here', retryable: false } },
    });
  });

  it("GET /v1/containers lists the ledger's containers; limit and status filter it", async () => {
    const ids = devnet.chain.ledger.containers().map((c) => c.id);
    const all = await get('/v1/containers');
    expect(all.body.containers.map((c: { id: string }) => c.id)).toEqual(ids);
    expect((await get('/v1/containers?status=no-such-status')).body.containers).toEqual([]);
    const one = await get(`/v1/containers/${ids[0]}`);
    expect(one.body).toMatchObject({ id: ids[0], name: devnet.chain.ledger.container(ids[0]!)!.name });
  });

  it('POST /v1/transactions applies a signed transfer (201) with exact balances, then finds it', async () => {
    const before = devnet.chain.ledger.account(dev().address).balance;
    const t = tx('transfer', { to: stranger.address, amount: ath(7) });
    const r = await post('/v1/transactions', t);
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      id: txId(t),
      height: devnet.chain.head.height,
      root: devnet.chain.head.root,
    });
    expect(devnet.chain.ledger.account(stranger.address).balance).toBe(ath(7));
    expect(devnet.chain.ledger.account(dev().address).balance).toBe(before - ath(7));
    expect((await get(`/v1/accounts/${stranger.address}`)).body.balance).toBe(ath(7).toString());
    const found = await get(`/v1/transactions/${txId(t)}`);
    expect(found.status).toBe(200);
    expect(JSON.stringify(found.body)).toContain(txId(t));
    const listed = await get(`/v1/transactions?from=${dev().address}&type=transfer&limit=1`);
    expect(listed.body.transactions).toHaveLength(1);
    expect(JSON.stringify(listed.body.transactions[0])).toContain(txId(t));
  });

  it('POST /v1/transactions refuses forged, replayed, malformed and oversized transactions, changing nothing', async () => {
    const balance = () => devnet.chain.ledger.account(stranger.address).balance;
    const held = balance();
    // a signature over another payload
    const good = tx('transfer', { to: stranger.address, amount: ath(1) });
    const forged = { ...good, payload: { ...good.payload, amount: ath(1_000).toString() } };
    const f = await unchanged(() => post('/v1/transactions', forged));
    expect(f.status).toBe(401);
    expect(f.body.error.code).toBe('BAD_SIGNATURE');
    // signed by someone else than `from`
    const other = signTx(stranger, devnet.chain.chainId, 'transfer', 0, {
      to: stranger.address,
      amount: '1',
    });
    const imp = await unchanged(() => post('/v1/transactions', { ...other, from: dev().address }));
    expect(imp).toEqual({
      status: 401,
      body: {
        error: {
          code: 'BAD_SIGNATURE',
          message: 'public key does not belong to the sending address',
          retryable: false,
        },
      },
    });
    // an old nonce (a replay)
    const stale = tx('transfer', { to: stranger.address, amount: ath(1) }, 0);
    const n = await unchanged(() => post('/v1/transactions', stale));
    expect(n.status).toBe(409);
    expect(n.body.error).toMatchObject({ code: 'NONCE_MISMATCH', retryable: true });
    // another chain
    const wrong = signTx(
      dev(),
      'aethir-elsewhere',
      'transfer',
      devnet.chain.ledger.account(dev().address).nonce,
      {
        to: stranger.address,
        amount: '1',
      },
    );
    const w = await unchanged(() => post('/v1/transactions', wrong));
    expect(w.body.error.code).toBe('WRONG_CHAIN');
    // more than the balance
    const broke = signTx(stranger, devnet.chain.chainId, 'transfer', 0, {
      to: dev().address,
      amount: ath(8).toString(),
    });
    const b = await unchanged(() => post('/v1/transactions', broke));
    expect(b.status).toBe(402);
    expect(b.body.error.code).toBe('INSUFFICIENT_FUNDS');
    // not a transaction at all, not JSON, too big
    const m = await unchanged(() => post('/v1/transactions', { hello: 'world' }));
    expect(m.status).toBe(400);
    expect(m.body.error.message).toMatch(/^invalid body: /);
    const j = await unchanged(() => post('/v1/transactions', '{"tx": '));
    expect(j.status).toBe(400);
    expect(j.body.error.code).toBe('INVALID_ARGUMENT');
    const big = await unchanged(() => post('/v1/transactions', { pad: 'x'.repeat(1 << 20) }));
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('INVALID_ARGUMENT');
    expect(balance()).toBe(held);
  });

  it('GET /v1/checkers/reports names the checker a location refutation rests on (restsOn)', async () => {
    const keys = new Keystore(join(home, 'devnet', 'keys'));
    const [a, b] = [keys.load('checker-1'), keys.load('checker-2')];
    const container = devnet.localContainerId();
    const report = signTx(
      a,
      devnet.chain.chainId,
      'checker.report',
      devnet.chain.ledger.account(a.address).nonce,
      {
        container,
        check: 'location',
        ok: false,
        observedAt: clock.now(),
        reason: 'RTT from Singapore, SG is 2 ms',
        rttMs: 2,
        restsOn: b.address,
      },
    );
    expect((await post('/v1/transactions', report)).status).toBe(201);
    const r = await get('/v1/checkers/reports?limit=5');
    expect(r.status).toBe(200);
    expect(r.body.reports.find((x: any) => x.checker === a.address && x.check === 'location')).toMatchObject({
      container,
      ok: false,
      reason: 'RTT from Singapore, SG is 2 ms',
      restsOn: b.address,
    });
  });

  it('POST /v1/match validates its request strictly', async () => {
    const r = await unchanged(() => post('/v1/match', { user: dev().address, gpus: 65 }));
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/^invalid body: gpus: /);
    const extra = await unchanged(() => post('/v1/match', { user: dev().address, steal: true }));
    expect(extra.body.error.message).toMatch(/^invalid body: \(root\): .*steal/);
    expect((await post('/v1/match', { user: 'me' })).body.error.message).toBe(
      'invalid body: user: must be an address (ath1 + 40 hex)',
    );
  });

  it('GET /openapi.json describes every route, and /metrics counts requests by route and status', async () => {
    const spec = await get('/openapi.json');
    expect(spec.status).toBe(200);
    expect(Object.keys(spec.body.paths)).toEqual(
      expect.arrayContaining(['/v1/status', '/v1/accounts/{address}', '/v1/transactions', '/v1/match']),
    );
    const m = await api.inject({ method: 'GET', url: '/metrics' });
    expect(m.statusCode).toBe(200);
    expect(m.body).toMatch(
      /aethir_http_requests_total\{method="GET",route="\/v1\/accounts\/:address",status="400"\} \d+/,
    );
    expect(m.body).toMatch(/aethir_transactions_total\{type="transfer"\} 1\b/);
    expect(m.body).toMatch(/aethir_transactions_rejected_total\{code="NONCE_MISMATCH"\} 1\b/);
  });
});
