import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ath, keyPairFromSeed, sealEnv, signLeaseToken } from '../../src/core/index.js';
import { signReceipt, signTx, type SignedTx } from '../../src/ledger/index.js';
import type { RunningNode } from '../../src/node/index.js';
import { startInProcessDevnet, tempHome } from './helpers.js';

/** The HTTP API against a real devnet: validation, signatures, nonces, amounts, docs, metrics. */
describe('HTTP API', () => {
  let node: RunningNode;
  let url: string;
  const home = tempHome();

  beforeAll(async () => {
    // hosts settle running leases every half second here (the default is a minute)
    node = await startInProcessDevnet(home, { settleIntervalMs: 500 });
    url = node.url;
  });
  afterAll(async () => {
    await node?.stop();
  });

  const get = async (path: string) => {
    const r = await fetch(url + path);
    return { status: r.status, body: (await r.json()) as any };
  };
  const post = async (path: string, body: unknown, raw = false) => {
    const r = await fetch(url + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: raw ? (body as string) : JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as any };
  };
  const root = async () => (await get('/v1/status')).body.root as string;
  /** the user's lease token: what the log routes take */
  const bearer = (lease: string) => ({
    authorization: `Bearer ${signLeaseToken(dev(), { chainId: 'aethir-devnet', lease, exp: Date.now() + 60_000 })}`,
  });
  const dev = () => node.devnet.developer;
  const nonce = async (address: string) => (await get(`/v1/accounts/${address}`)).body.nonce as number;

  async function expectRejected(tx: unknown, status: number, code: string, raw = false): Promise<void> {
    const before = await root();
    const heightBefore = (await get('/v1/status')).body.height;
    const r = await post('/v1/transactions', tx, raw);
    expect(r.status).toBe(status);
    expect(r.body.error.code).toBe(code);
    expect(typeof r.body.error.message).toBe('string');
    expect(await root()).toBe(before);
    expect((await get('/v1/status')).body.height).toBe(heightBefore);
  }

  it('health, status, openapi and metrics', async () => {
    expect((await get('/health')).body.ok).toBe(true);
    const spec = (await get('/openapi.json')).body;
    expect(spec.openapi).toBe('3.1.0');
    expect(
      spec.paths['/v1/transactions'].post.requestBody.content['application/json'].schema.properties,
    ).toHaveProperty('sig');
    expect(
      spec.paths['/v1/match'].post.requestBody.content['application/json'].schema.properties.gpus.maximum,
    ).toBe(64);
    const m = await fetch(url + '/metrics');
    const text = await m.text();
    expect(m.headers.get('content-type')).toMatch(/text\/plain/);
    expect(text).toMatch(/^aethir_ledger_height \d+$/m);
    expect(text).toMatch(/^aethir_containers\{status="online"\} 1$/m);
  });

  it('accepts a signed transfer and returns its block and root', async () => {
    const to = keyPairFromSeed('api-recipient').address;
    const tx = signTx(dev(), 'aethir-devnet', 'transfer', await nonce(dev().address), { to, amount: ath(5) });
    const r = await post('/v1/transactions', tx);
    expect(r.status).toBe(201);
    // the root the answer names is the root of the block that holds it (the checkers' reports
    // may have landed further blocks since)
    const blocks = (await get('/v1/blocks?limit=500')).body.blocks as Array<Record<string, unknown>>;
    const block = blocks.find((b) => b.height === r.body.height)!;
    expect(block).toBeDefined();
    expect(r.body.root).toBe(block.root);
    expect((await get(`/v1/accounts/${to}`)).body.balance).toBe(ath(5).toString());
    const t = await get(`/v1/transactions/${r.body.id}`);
    expect(t.body.height).toBe(r.body.height);
  });

  it('rejects a malformed body with INVALID_ARGUMENT / INVALID_TRANSACTION and changes nothing', async () => {
    await expectRejected('{not json', 400, 'INVALID_ARGUMENT', true);
    await expectRejected({ hello: 'world' }, 400, 'INVALID_ARGUMENT');
    const tx = signTx(dev(), 'aethir-devnet', 'transfer', await nonce(dev().address), {
      to: 'ath1nope',
      amount: '1',
    });
    await expectRejected(tx, 400, 'INVALID_TRANSACTION');
  });

  it('rejects a bad signature, a foreign key and another chain', async () => {
    const n = await nonce(dev().address);
    const to = keyPairFromSeed('x').address;
    const tx = signTx(dev(), 'aethir-devnet', 'transfer', n, { to, amount: '1' });
    const tampered: SignedTx = { ...tx, payload: { ...tx.payload, amount: '1000' } };
    await expectRejected(tampered, 401, 'BAD_SIGNATURE');
    const other = keyPairFromSeed('other');
    await expectRejected(
      { ...signTx(other, 'aethir-devnet', 'transfer', 0, { to, amount: '1' }), from: dev().address },
      401,
      'BAD_SIGNATURE',
    );
    await expectRejected(
      signTx(dev(), 'another-chain', 'transfer', n, { to, amount: '1' }),
      400,
      'WRONG_CHAIN',
    );
  });

  it('rejects a replayed nonce', async () => {
    const to = keyPairFromSeed('replay').address;
    const tx = signTx(dev(), 'aethir-devnet', 'transfer', await nonce(dev().address), { to, amount: '7' });
    expect((await post('/v1/transactions', tx)).status).toBe(201);
    await expectRejected(tx, 409, 'NONCE_MISMATCH');
    expect((await get(`/v1/accounts/${to}`)).body.balance).toBe('7');
  });

  it('rejects negative, zero, fractional and over-balance amounts', async () => {
    const n = await nonce(dev().address);
    const to = keyPairFromSeed('amounts').address;
    for (const amount of ['-5', '0', '1.5', '1e3', 5 as unknown as string])
      await expectRejected(
        signTx(dev(), 'aethir-devnet', 'transfer', n, { to, amount }),
        400,
        'INVALID_TRANSACTION',
      );
    await expectRejected(
      signTx(dev(), 'aethir-devnet', 'transfer', n, { to, amount: ath(10_000_000_000) }),
      402,
      'INSUFFICIENT_FUNDS',
    );
    const poor = keyPairFromSeed('poor');
    await expectRejected(
      signTx(poor, 'aethir-devnet', 'transfer', 0, { to, amount: '1' }),
      402,
      'INSUFFICIENT_FUNDS',
    );
  });

  it('validates queries and paths', async () => {
    expect((await get('/v1/accounts/not-an-address')).status).toBe(400);
    expect((await get('/v1/leases?limit=0')).body.error.code).toBe('INVALID_ARGUMENT');
    expect((await get('/v1/leases/Lnope')).status).toBe(404);
    expect((await post('/v1/match', { user: dev().address, gpus: -1 })).body.error.code).toBe(
      'INVALID_ARGUMENT',
    );
    expect((await post('/v1/match', { user: dev().address, gpus: 1 })).body.error.code).toBe('NO_MATCH');
    expect((await get('/v1/nothing-here')).body.error.code).toBe('NOT_FOUND');
  });

  it("match takes the user's place by name or coordinates; an ambiguous or unknown name is a 400", async () => {
    for (const location of ['Portland, OR, US', '45.50,-73.57']) {
      const r = await post('/v1/match', { user: dev().address, gpus: 1, location, maxLatencyMs: 80 });
      expect(r.body.error.code).toBe('NO_MATCH');
    }
    const ambiguous = await post('/v1/match', { user: dev().address, gpus: 0, location: 'Portland' });
    expect([ambiguous.status, ambiguous.body.error.code]).toEqual([400, 'INVALID_ARGUMENT']);
    expect(ambiguous.status).toBe(400);
    expect(ambiguous.body.error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(ambiguous.body.error.message).toMatch(/^ambiguous location "Portland": 3 cities/);
    const unknown = await post('/v1/match', { user: dev().address, gpus: 0, location: 'Xyzzyville' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/^unknown location "Xyzzyville"/);
  });

  it('streams a lease log from the first byte, even when the client connects late', async () => {
    const m = await post('/v1/match', { user: dev().address, gpus: 0 });
    expect(m.status).toBe(200);
    expect(
      (
        await post(
          '/v1/transactions',
          signTx(dev(), 'aethir-devnet', 'escrow.deposit', await nonce(dev().address), { amount: ath(100) }),
        )
      ).status,
    ).toBe(201);
    const tx = signTx(dev(), 'aethir-devnet', 'lease.open', await nonce(dev().address), {
      container: m.body.container.id,
      gpus: 0,
      maxDurationSec: 60,
      maxPricePerHour: m.body.container.pricePerHour,
      workload: {
        command: ['node', '-e', 'console.log("first"); setTimeout(() => console.log("last"), 300)'],
      },
    });
    const opened = await post('/v1/transactions', tx);
    expect(opened.status).toBe(201);
    const lease = opened.body.result.lease;
    await new Promise((r) => setTimeout(r, 100));
    const res = await fetch(`${url}/v1/leases/${lease}/logs`, { headers: bearer(lease) });
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(
      lines
        .filter((l) => l.type === 'stdout')
        .map((l) => l.data)
        .join(''),
    ).toBe('first\nlast\n');
    expect(lines.at(-1)).toMatchObject({ type: 'exit', exitCode: 0 });
  });

  it("the host settles a running lease with the user's receipts as it goes; the user closes it and is refunded the rest", async () => {
    const m = await post('/v1/match', { user: dev().address, gpus: 0 });
    const tx = signTx(dev(), 'aethir-devnet', 'lease.open', await nonce(dev().address), {
      container: m.body.container.id,
      gpus: 0,
      maxDurationSec: 600,
      maxPricePerHour: m.body.container.pricePerHour,
      workload: { command: ['sleep', '60'] },
    });
    const lease = (await post('/v1/transactions', tx)).body.result.lease;
    const opened = (await get(`/v1/leases/${lease}`)).body;
    // the user's client acknowledges 200 ms of service: the host settles up to that, no more
    await new Promise((r) => setTimeout(r, 300));
    const receipt = signReceipt(dev(), 'aethir-devnet', { lease, servedMs: 200, seq: 1, at: Date.now() });
    expect((await post(`/v1/leases/${lease}/receipts`, receipt)).status).toBe(202);
    const deadline = Date.now() + 20_000;
    let l = opened;
    while (BigInt(l.charged) === 0n && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      l = (await get(`/v1/leases/${lease}`)).body;
    }
    expect(l.status).toBe('open');
    expect(l).toMatchObject({ lastReceiptSeq: 1, receiptServedMs: 200 });
    expect(BigInt(l.charged)).toBe((BigInt(l.pricePerHour) * 200n) / 3_600_000n);
    // the same receipt again is stale: refused before it reaches the bus
    expect((await post(`/v1/leases/${lease}/receipts`, receipt)).body.error.code).toBe('CONFLICT');
    const settles = (await get(`/v1/transactions?type=lease.settle&from=${m.body.container.id}`)).body
      .transactions;
    expect(settles.length).toBeGreaterThan(0);

    // the unused escrow goes back to the user's escrow balance
    const escrowBefore = BigInt((await get(`/v1/accounts/${dev().address}`)).body.escrow);
    const close = signTx(dev(), 'aethir-devnet', 'lease.close', await nonce(dev().address), { lease });
    const r = await post('/v1/transactions', close);
    expect(r.status).toBe(201);
    const closed = (await get(`/v1/leases/${lease}`)).body;
    expect(closed.status).toBe('closed');
    expect(closed.closedBy).toBe(dev().address);
    expect(BigInt(r.body.result.refund)).toBe(BigInt(closed.escrow) - BigInt(closed.charged));
    expect(BigInt((await get(`/v1/accounts/${dev().address}`)).body.escrow)).toBe(
      escrowBefore + BigInt(r.body.result.refund),
    );
    // the workload is killed: its log ends with an exit
    const res = await fetch(`${url}/v1/leases/${lease}/logs`, { headers: bearer(lease) });
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((x) => JSON.parse(x));
    expect(lines.at(-1)).toMatchObject({ type: 'exit', reason: 'killed' });
    // no receipts for a closed lease
    const late = signReceipt(dev(), 'aethir-devnet', { lease, servedMs: 400, seq: 2, at: Date.now() });
    expect((await post(`/v1/leases/${lease}/receipts`, late)).status).toBe(409);
  });

  it("takes a usage receipt only from the lease's user, for that lease, well-formed", async () => {
    const m = await post('/v1/match', { user: dev().address, gpus: 0 });
    const tx = signTx(dev(), 'aethir-devnet', 'lease.open', await nonce(dev().address), {
      container: m.body.container.id,
      gpus: 0,
      maxDurationSec: 600,
      maxPricePerHour: m.body.container.pricePerHour,
      workload: { command: ['sleep', '30'] },
    });
    const lease = (await post('/v1/transactions', tx)).body.result.lease;
    const r = { lease, servedMs: 100, seq: 1, at: Date.now() };
    const mallory = keyPairFromSeed('api-test:mallory');
    const cases: Array<[string, unknown, number, string]> = [
      ['another key', signReceipt(mallory, 'aethir-devnet', r), 403, 'UNAUTHORIZED'],
      ['another chain', signReceipt(dev(), 'other-chain', r), 401, 'BAD_SIGNATURE'],
      ['tampered', { ...signReceipt(dev(), 'aethir-devnet', r), servedMs: 10_000 }, 401, 'BAD_SIGNATURE'],
      ['malformed', { ...signReceipt(dev(), 'aethir-devnet', r), seq: -1 }, 400, 'INVALID_ARGUMENT'],
    ];
    for (const [what, body, status, code] of cases) {
      const res = await post(`/v1/leases/${lease}/receipts`, body);
      expect([what, res.status, res.body.error.code]).toEqual([what, status, code]);
    }
    const forOther = signReceipt(dev(), 'aethir-devnet', { ...r, lease: 'Lnosuchlease' });
    expect((await post(`/v1/leases/${lease}/receipts`, forOther)).body.error.code).toBe('INVALID_ARGUMENT');
    expect((await post('/v1/leases/Lnosuchlease/receipts', forOther)).status).toBe(404);
    const ok = await post(`/v1/leases/${lease}/receipts`, signReceipt(dev(), 'aethir-devnet', r));
    expect(ok).toEqual({ status: 202, body: { accepted: true, lease, seq: 1 } });
    const close = signTx(dev(), 'aethir-devnet', 'lease.close', await nonce(dev().address), { lease });
    expect((await post('/v1/transactions', close)).status).toBe(201);
  });

  /** Sends `type` signed by `k` with its next nonce; the created response's body. */
  const send = async (
    k: ReturnType<typeof keyPairFromSeed>,
    type: Parameters<typeof signTx>[2],
    payload: Record<string, unknown>,
  ) => {
    const r = await post(
      '/v1/transactions',
      signTx(k, 'aethir-devnet', type, await nonce(k.address), payload),
    );
    expect([type, r.status, r.body.error?.message]).toEqual([type, 201, undefined]);
    return r.body;
  };
  const logsOf = async (lease: string, headers: Record<string, string>) => {
    const r = await fetch(`${url}/v1/leases/${lease}/logs?follow=false`, { headers });
    return { status: r.status, text: await r.text() };
  };

  it("copying another user's sealed env into one's own lease gets it refused by the container: the workload never starts", async () => {
    const attacker = keyPairFromSeed('api:attacker');
    await send(dev(), 'transfer', { to: attacker.address, amount: ath(10) });
    await send(attacker, 'escrow.deposit', { amount: ath(5) });
    await send(dev(), 'escrow.deposit', { amount: ath(5) });
    const m = await post('/v1/match', { user: dev().address, gpus: 0 });
    const c = m.body.container;
    expect(c.encKey).toBe(node.devnet.chain.ledger.container(c.id)!.encKey);
    expect(c.encKey).toMatch(/^[0-9a-f]{64}$/);
    const sealedEnv = await sealEnv({ HF_TOKEN: 'hf_victims_token' }, c.encKey, {
      chainId: 'aethir-devnet',
      user: dev().address,
      container: c.id,
    });
    const open = (k: ReturnType<typeof keyPairFromSeed>) =>
      send(k, 'lease.open', {
        container: c.id,
        gpus: 0,
        maxDurationSec: 60,
        maxPricePerHour: c.pricePerHour,
        workload: { command: ['sh', '-c', 'echo "got:$HF_TOKEN"'], sealedEnv },
      });
    const victim = (await open(dev())).result.lease as string;
    const copied = (await open(attacker)).result.lease as string;
    const token = (k: ReturnType<typeof keyPairFromSeed>, lease: string) => ({
      authorization: `Bearer ${signLeaseToken(k, { chainId: 'aethir-devnet', lease, exp: Date.now() + 60_000 })}`,
    });
    const exitOf = async (k: ReturnType<typeof keyPairFromSeed>, lease: string) => {
      for (let i = 0; i < 200; i++) {
        const r = await logsOf(lease, token(k, lease));
        if (r.text.includes('"type":"exit"')) return r.text;
        await new Promise((res) => setTimeout(res, 100));
      }
      throw new Error(`lease ${lease} never exited`);
    };
    expect(await exitOf(dev(), victim)).toContain('got:hf_victims_token');
    const stolen = await exitOf(attacker, copied);
    expect(stolen).not.toContain('hf_victims_token');
    expect(stolen).toContain(
      'env not opened: the sealed value of HF_TOKEN was sealed for another lease (chain, user, container or name differ)',
    );
  });

  it("reading another user's logs is refused: no token, a non-owner's token, another lease's token", async () => {
    const m = await post('/v1/match', { user: dev().address, gpus: 0 });
    const lease = (
      await send(dev(), 'lease.open', {
        container: m.body.container.id,
        gpus: 0,
        maxDurationSec: 60,
        maxPricePerHour: m.body.container.pricePerHour,
        workload: { command: ['echo', 'private output'] },
      })
    ).result.lease as string;
    const stranger = keyPairFromSeed('api:stranger');
    const tok = (k: ReturnType<typeof keyPairFromSeed>, forLease: string) =>
      `Bearer ${signLeaseToken(k, { chainId: 'aethir-devnet', lease: forLease, exp: Date.now() + 60_000 })}`;
    const cases: Array<[Record<string, string>, string]> = [
      [
        {},
        "a lease's logs need a lease token signed by its user (Authorization: Bearer …; aethir lease token)",
      ],
      [{ authorization: tok(stranger, lease) }, "the lease token is not signed by the lease's user"],
      [
        { authorization: tok(dev(), 'Lsomeotherlease') },
        `the lease token is for lease Lsomeotherlease, not ${lease}`,
      ],
    ];
    for (const [headers, message] of cases) {
      const r = await logsOf(lease, headers);
      expect(r.status).toBe(403);
      expect(JSON.parse(r.text).error).toMatchObject({ code: 'UNAUTHORIZED', message });
    }
    // the lease id in the query, as a browser would: the same refusal
    const q = await fetch(
      `${url}/v1/leases/${lease}/logs?follow=false&token=${tok(stranger, lease).slice(7)}`,
    );
    expect(q.status).toBe(403);
  });
});
