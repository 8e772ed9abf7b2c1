import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ath, generateKeyPair, signLeaseToken, type KeyPair } from '../../src/core/index.js';
import type { RunningNode } from '../../src/node/index.js';
import { ApiClient, TxSender } from '../../src/sdk/index.js';
import { startInProcessDevnet, tempHome, waitFor } from './helpers.js';

/** A workload listening on its assigned port is reachable by its user through the lease's endpoint. */
describe('lease endpoints', () => {
  const home = tempHome('aethir-endpoint-');
  let node: RunningNode;
  beforeAll(async () => {
    node = await startInProcessDevnet(home, { demoContainers: 0 });
  });
  afterAll(async () => {
    await node?.stop();
  });

  /** A lease of the developer's whose workload runs `server` (a node program); its endpoint and tokens. */
  async function leaseServing(server: string, workload: { publicEndpoint?: true } = {}) {
    const api = new ApiClient(node.url);
    const user = new TxSender(node.devnet.developer, api);
    await user.send('escrow.deposit', { amount: ath(1) });
    const container = node.devnet.localContainerId();
    const opened = await user.send('lease.open', {
      container,
      gpus: 0,
      maxDurationSec: 120,
      maxPricePerHour: (await api.container(container))!.pricePerHour,
      workload: { command: [process.execPath, '-e', server], ...workload },
    });
    const lease = String(opened.result.lease);
    const view = await api.leaseView(lease);
    expect(view?.endpoint).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/l/${lease}/$`));
    const chainId = await api.chainId();
    const tokenBy = (key: KeyPair, claims: { lease?: string; exp?: number; chainId?: string } = {}) =>
      signLeaseToken(key, {
        chainId: claims.chainId ?? chainId,
        lease: claims.lease ?? lease,
        exp: claims.exp ?? Date.now() + 60_000,
      });
    const close = () => user.send('lease.close', { lease, reason: 'done' });
    return { api, lease, endpoint: view!.endpoint!, tokenBy, close };
  }
  /** A lease whose workload answers every request with what it received (its url and cookies). */
  const echoLease = (workload: { publicEndpoint?: true } = {}) =>
    leaseServing(
      [
        "const http = require('http');",
        "http.createServer((q, r) => { console.log('got ' + q.url); r.end(JSON.stringify({ url: q.url, cookie: q.headers.cookie ?? null, token: q.headers['x-aethir-lease-token'] ?? null })); })",
        "  .listen(Number(process.env.AETHIR_PORT), '127.0.0.1');",
      ].join('\n'),
      workload,
    );

  it('proxies HTTP and WebSocket-style upgrades to the workload, and closes with the lease', async () => {
    const { lease, endpoint, tokenBy, close } = await leaseServing(
      [
        "const http = require('http');",
        "const s = http.createServer((q, r) => r.end('hello ' + q.method + ' ' + q.url));",
        "s.on('upgrade', (q, sock) => { sock.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: echo\\r\\nConnection: Upgrade\\r\\n\\r\\n'); sock.pipe(sock); });",
        "s.listen(Number(process.env.AETHIR_PORT), '127.0.0.1', () => console.log('listening on ' + process.env.AETHIR_PORT));",
      ].join('\n'),
    );
    const token = tokenBy(node.devnet.developer, { exp: Date.now() + 120_000 });
    const auth = { 'x-aethir-lease-token': token };
    const body = await waitFor(
      async () => {
        const r = await fetch(`${endpoint}models?x=1`, { method: 'POST', body: 'q', headers: auth }).catch(
          () => null,
        );
        return r?.ok ? r.text() : undefined;
      },
      20_000,
      'the workload to answer through the endpoint',
    );
    expect(body).toBe('hello POST /models?x=1');

    // An upgrade (what WebSocket clients send) reaches the workload and the stream flows both ways.
    const { connect } = await import('node:net');
    const url = new URL(endpoint);
    const echoed = await new Promise<string>((resolve, reject) => {
      const sock = connect(Number(url.port), url.hostname, () => {
        sock.write(
          `GET ${url.pathname}ws?token=${token} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n`,
        );
      });
      let got = '';
      sock.on('data', (d) => {
        got += d;
        if (got.includes('101 Switching') && !got.includes('ping')) sock.write('ping');
        if (got.includes('ping')) {
          sock.destroy();
          resolve(got);
        }
      });
      sock.on('error', reject);
    });
    expect(echoed).toContain('101 Switching Protocols');
    expect(echoed).toContain('ping');

    // Another lease id, or this one after it closed: nothing there.
    expect((await fetch(`${url.origin}/l/Lnothing/`)).status).toBe(404);
    await close();
    await waitFor(
      async () => (await fetch(endpoint, { headers: auth })).status === 404,
      10_000,
      'the endpoint to close',
    );
    expect((await new ApiClient(node.url).leaseView(lease))?.endpoint).toBeNull();
  });

  it("opening another user's endpoint is refused: no token, forged, another lease's, expired, a non-owner's, another chain's", async () => {
    const { api, lease, endpoint, tokenBy, close } = await echoLease();
    const owner = node.devnet.developer;
    const good = tokenBy(owner);
    await waitFor(
      async () => (await fetch(endpoint, { headers: { 'x-aethir-lease-token': good } })).ok,
      20_000,
      'the workload to answer its user',
    );
    const sig = good.slice(-128);
    const forged = good.slice(0, -128) + (sig[0] === '0' ? '1' : '0') + sig.slice(1);
    const attempts: Array<[string, string | null, string]> = [
      [
        'no token',
        null,
        "this lease's endpoint needs a lease token signed by its user (?token=…; aethir lease token)",
      ],
      ['forged', forged, 'the lease token signature does not verify'],
      [
        'another lease',
        tokenBy(owner, { lease: 'Lanotherlease' }),
        `the lease token is for lease Lanotherlease, not ${lease}`,
      ],
      ['expired', tokenBy(owner, { exp: Date.now() - 1 }), 'the lease token has expired'],
      ['non-owner', tokenBy(generateKeyPair()), "the lease token is not signed by the lease's user"],
      [
        'another chain',
        tokenBy(owner, { chainId: 'another-chain' }),
        'the lease token is for chain "another-chain", not this one',
      ],
    ];
    for (const [what, token, message] of attempts) {
      const r = await fetch(token ? `${endpoint}secret?token=${token}` : `${endpoint}secret`);
      expect([what, r.status]).toEqual([what, 401]);
      expect(r.headers.get('set-cookie')).toBeNull();
      expect(((await r.json()) as { error: { message: string } }).error.message).toBe(message);
      if (token) {
        const r = await fetch(`${endpoint}secret`, { headers: { cookie: `aethir_lease_token=${token}` } });
        expect([what, r.status]).toEqual([what, 401]);
      }
    }
    // None of them reached the workload: it saw only its user's requests.
    const logs: string[] = [];
    for await (const e of api.logs(lease, good, AbortSignal.timeout(2_000)))
      if (e.type === 'stdout') logs.push(e.data);
    expect(logs.join('')).toContain('got /\n');
    expect(logs.join('')).not.toContain('/secret');
    await close();
  });

  it("a browser with the user's ?token= link gets a cookie scoped to the lease; the workload never sees the token", async () => {
    const { endpoint, lease, tokenBy, close } = await echoLease();
    const token = tokenBy(node.devnet.developer);
    const first = await waitFor(
      async () => {
        const r = await fetch(`${endpoint}page?a=1&token=${token}`);
        return r.ok ? r : undefined;
      },
      20_000,
      'the workload to answer',
    );
    const cookie = first.headers.get('set-cookie')!;
    expect(cookie).toMatch(
      new RegExp(
        `^aethir_lease_token=${token.replace(/\./g, '\\.')}; Path=/l/${lease}/; Max-Age=\\d+; HttpOnly; SameSite=Lax$`,
      ),
    );
    expect(await first.json()).toEqual({ url: '/page?a=1', cookie: null, token: null });
    // The cookie alone opens the next page; other cookies still reach the workload, the token does not.
    const next = await fetch(`${endpoint}next`, {
      headers: { cookie: `theme=dark; aethir_lease_token=${token}` },
    });
    expect(next.status).toBe(200);
    expect(await next.json()).toEqual({ url: '/next', cookie: 'theme=dark', token: null });
    await close();
  });

  it('a lease opened with publicEndpoint is reachable without a token', async () => {
    const { api, lease, endpoint, close } = await echoLease({ publicEndpoint: true });
    expect((await api.leaseView(lease))?.workload.publicEndpoint).toBe(true);
    const r = await waitFor(
      async () => {
        const x = await fetch(`${endpoint}hello`).catch(() => null);
        return x?.ok ? x : undefined;
      },
      20_000,
      'the public workload to answer',
    );
    expect(await r.json()).toEqual({ url: '/hello', cookie: null, token: null });
    await close();
  });
});
