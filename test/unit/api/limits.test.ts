import type { FastifyInstance } from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_API_LIMITS, jsonTextDepth, type ApiLimits } from '../../../src/api/limits.js';
import { createApiServer } from '../../../src/api/server.js';
import { signTelemetry } from '../../../src/bus/index.js';
import { generateKeyPair, loadConfig, ManualClock } from '../../../src/core/index.js';
import { Devnet } from '../../../src/node/devnet.js';
import { devnetBackend } from '../../../src/node/devnet-backend.js';

/**
 * The API's limits on real sockets (a devnet's API listening on loopback): slow bodies, idle
 * connections, stream and connection floods and request floods are cut at the configured limits
 * with the documented answers (408, 429 + Retry-After), while an honest client is still served;
 * JSON nested deeper than the limit is a 400 before any handler runs, and changes nothing.
 */
describe('API limits', () => {
  const home = mkdtempSync(join(tmpdir(), 'aethir-limits-'));
  const clock = new ManualClock(Date.UTC(2026, 4, 4));
  let devnet: Devnet;
  const servers: FastifyInstance[] = [];
  const opened: Socket[] = [];

  beforeAll(async () => {
    const config = loadConfig({
      env: { AETHIR_HOME: home },
      flags: { port: 0, dataDir: join(home, 'devnet'), demoContainers: 0, checkIntervalMs: 3_600_000 },
    });
    devnet = await Devnet.start({ config, clock });
  });
  afterAll(async () => {
    for (const s of opened) s.destroy();
    for (const s of servers) await s.close();
    await devnet?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  const serve = async (limits: Partial<ApiLimits>) => {
    const api = await createApiServer(devnetBackend(devnet), {
      limits: { ...DEFAULT_API_LIMITS, ...limits },
    });
    servers.push(api);
    await api.listen({ port: 0, host: '127.0.0.1' });
    const addr = api.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    return { api, port, url: `http://127.0.0.1:${port}` };
  };
  const raw = (port: number): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
      opened.push(s);
    });
  /** everything the server writes until it closes the connection, and when it closed */
  const untilClosed = (s: Socket): Promise<{ text: string; at: number }> =>
    new Promise((resolve) => {
      let text = '';
      s.on('data', (d) => (text += d.toString()));
      s.on('error', () => undefined);
      s.on('close', () => resolve({ text, at: Date.now() }));
    });
  const unchanged = async <T>(fn: () => Promise<T>): Promise<T> => {
    const { height, root } = devnet.chain.head;
    const out = await fn();
    expect(devnet.chain.head.height).toBe(height);
    expect(devnet.chain.head.root).toBe(root);
    return out;
  };
  const nested = (depth: number, leaf = '1') => '['.repeat(depth) + leaf + ']'.repeat(depth);

  it('jsonTextDepth counts nesting on the text, skipping strings and escapes, and stops past the limit', () => {
    expect(jsonTextDepth('1', 5)).toBe(0);
    expect(jsonTextDepth('{"a":[1,{"b":[]}]}', 5)).toBe(4);
    expect(jsonTextDepth('{"a":"[[[[[[\\"[[[["}', 5)).toBe(1);
    expect(jsonTextDepth(nested(100_000), 64)).toBe(65);
  });

  it('JSON nested deeper than the limit gets 400 naming the limit on every JSON route, before any handler; changes nothing', async () => {
    const { url } = await serve({});
    const key = generateKeyPair();
    const deep10k = nested(10_000);
    const bodies: Array<[string, string]> = [
      ['/v1/transactions', `{"type":"transfer","payload":${deep10k}}`],
      ['/v1/telemetry', `{"container":"${key.address}","messages":[{"subject":"hb.x","data":${deep10k}}]}`],
      // (these two within their routes' 16 KiB body limit)
      ['/v1/match', `{"user":"${key.address}","location":${nested(5000)}}`],
      ['/v1/leases/L1/receipts', nested(5000)],
      // just past the limit
      ['/v1/transactions', nested(DEFAULT_API_LIMITS.maxJsonDepth + 1)],
    ];
    await unchanged(async () => {
      for (const [path, body] of bodies) {
        const r = await fetch(url + path, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        expect(r.status, path).toBe(400);
        const j = (await r.json()) as any;
        expect(j.error.code).toBe('INVALID_ARGUMENT');
        expect(j.error.message).toBe(
          `invalid body: JSON nested deeper than ${DEFAULT_API_LIMITS.maxJsonDepth} levels (the most this API takes)`,
        );
      }
      // at the limit, the body reaches the route's schema (which names what is wrong instead)
      const r = await fetch(url + '/v1/transactions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: nested(DEFAULT_API_LIMITS.maxJsonDepth),
      });
      expect(r.status).toBe(400);
      const message = ((await r.json()) as any).error.message as string;
      expect(message).toMatch(/^invalid body: /);
      expect(message).not.toContain('nested deeper');
    });
  });

  it('telemetry signed by a key that never registered a container gets 401 and reaches no one', async () => {
    const { url } = await serve({});
    const stranger = generateKeyPair();
    const before = devnet.bus.dropped;
    const env = signTelemetry(stranger, devnet.chain.chainId, clock.now(), [
      {
        subject: `hb.${stranger.address}`,
        data: { container: stranger.address, at: clock.now(), runningLeases: [] },
      },
    ]);
    const r = await unchanged(() =>
      fetch(url + '/v1/telemetry', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(env),
      }),
    );
    expect(r.status).toBe(401);
    expect(((await r.json()) as any).error).toMatchObject({
      code: 'UNAUTHENTICATED',
      message: `${stranger.address} is not a registered container of this network`,
    });
    expect(devnet.bus.dropped).toBe(before);
  });

  it('slow bodies and idle connections are cut at the request and header timeouts (408) while an honest client is served', async () => {
    const limits = { requestTimeoutMs: 1500, headersTimeoutMs: 1000, maxConnectionsPerIp: 400 };
    const { port, url } = await serve(limits);
    const started = Date.now();
    // 100 POSTs that promise 1000 bytes and send one every 250 ms (the attack, sped up)
    const slow = await Promise.all(Array.from({ length: 100 }, () => raw(port)));
    const slowClosed = slow.map(untilClosed);
    const drip = setInterval(() => {
      for (const s of slow) if (!s.destroyed) s.write('1');
    }, 250);
    for (const s of slow)
      s.write(
        'POST /v1/transactions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n',
      );
    // 20 connections that never send a byte
    const idle = await Promise.all(Array.from({ length: 20 }, () => raw(port)));
    const idleClosed = idle.map(untilClosed);
    // meanwhile, an honest client
    const honest: number[] = [];
    let honestOk = 0;
    const deadline = Date.now() + 2500;
    while (Date.now() < deadline) {
      const t = Date.now();
      const r = await fetch(url + '/v1/status');
      if (r.status === 200) honestOk++;
      await r.arrayBuffer();
      honest.push(Date.now() - t);
      await new Promise((res) => setTimeout(res, 50));
    }
    const cut = await Promise.all(slowClosed);
    const idleCut = await Promise.all(idleClosed);
    clearInterval(drip);
    for (const c of cut) {
      expect(c.text).toMatch(/^HTTP\/1\.1 408 /);
      expect(c.text).toContain('"code":"INVALID_ARGUMENT"');
      // cut at the limit, checked every quarter of the header timeout (and never before the limit)
      expect(c.at - started).toBeGreaterThanOrEqual(limits.requestTimeoutMs);
      expect(c.at - started).toBeLessThan(limits.requestTimeoutMs + 1500);
    }
    for (const c of idleCut) expect(c.at - started).toBeLessThan(limits.headersTimeoutMs + 1500);
    expect(honestOk).toBe(honest.length);
    honest.sort((a, b) => a - b);
    console.log(
      `[limits] slow-body flood: 100 slow POSTs + 20 idle sockets cut after ${Math.max(...cut.map((c) => c.at - started))} ms (limit ${limits.requestTimeoutMs} ms); honest client: ${honestOk}/${honest.length} served, p50 ${honest[honest.length >> 1]} ms, max ${honest[honest.length - 1]} ms`,
    );
  });

  it('a client holds at most maxStreamsPerIp event streams (429 + Retry-After past it); a closed one frees its slot', async () => {
    const limits = { maxStreamsPerIp: 16 };
    const { url } = await serve(limits);
    const aborts: AbortController[] = [];
    const open = async () => {
      const a = new AbortController();
      const r = await fetch(url + '/v1/events', { signal: a.signal });
      if (r.status === 200) aborts.push(a);
      else await r.arrayBuffer();
      return r;
    };
    const answers = await Promise.all(Array.from({ length: 200 }, open));
    const ok = answers.filter((r) => r.status === 200);
    const refused = answers.filter((r) => r.status !== 200);
    expect(ok).toHaveLength(16);
    expect(refused).toHaveLength(184);
    for (const r of refused) {
      expect(r.status).toBe(429);
      expect(r.headers.get('retry-after')).toBe('5');
    }
    // the honest client's plain requests are still served
    expect((await fetch(url + '/v1/status')).status).toBe(200);
    aborts.pop()!.abort();
    let again: Response | undefined;
    for (let i = 0; i < 50 && again?.status !== 200; i++) {
      again = await open();
      if (again.status !== 200) await new Promise((res) => setTimeout(res, 20));
    }
    expect(again!.status).toBe(200);
    for (const a of aborts) a.abort();
    console.log(
      `[limits] stream flood: 200 opened at once, ${ok.length} served, ${refused.length} refused 429`,
    );
  });

  it('past maxConnectionsPerIp a connection is answered 429 with Retry-After and closed', async () => {
    const { port, url } = await serve({ maxConnectionsPerIp: 8 });
    const held = await Promise.all(Array.from({ length: 8 }, () => raw(port)));
    const extra = await raw(port);
    const answer = await untilClosed(extra);
    expect(answer.text).toMatch(/^HTTP\/1\.1 429 Too Many Requests\r\n/);
    expect(answer.text).toContain('retry-after: 5\r\n');
    expect(answer.text).toContain('"code":"RATE_LIMITED"');
    for (const s of held) s.destroy();
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = await fetch(url + '/health').then(
        (r) => r.status,
        () => 0,
      );
      if (status !== 200) await new Promise((res) => setTimeout(res, 20));
    }
    expect(status).toBe(200);
  });

  it('requests past the per-minute rate limits get 429 RATE_LIMITED with Retry-After; /v1/match has its own, lower limit', async () => {
    const { url } = await serve({ rateLimitPerMinute: 30, matchRateLimitPerMinute: 5 });
    const statuses: number[] = [];
    for (let i = 0; i < 31; i++) {
      const r = await fetch(url + '/health');
      statuses.push(r.status);
      if (r.status === 429) {
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(((await r.json()) as any).error.code).toBe('RATE_LIMITED');
      } else await r.arrayBuffer();
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(30);
    expect(statuses[30]).toBe(429);
    const match = async () =>
      (
        await fetch(url + '/v1/match', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ user: generateKeyPair().address }),
        })
      ).status;
    const m: number[] = [];
    for (let i = 0; i < 6; i++) m.push(await match());
    expect(m.slice(0, 5).every((s) => s !== 429)).toBe(true);
    expect(m[5]).toBe(429);
  });

  it('a route with a small body limit refuses a larger body with 413', async () => {
    const { url } = await serve({});
    const r = await fetch(url + '/v1/match', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'x', app: 'a'.repeat(17 << 10) }),
    });
    expect(r.status).toBe(413);
  });
});
