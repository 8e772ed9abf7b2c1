import type { FastifyInstance } from 'fastify';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServer } from '../../../../src/api/server.js';
import { loadConfig, ManualClock } from '../../../../src/core/index.js';
import { Devnet } from '../../../../src/node/devnet.js';
import { devnetBackend } from '../../../../src/node/devnet-backend.js';

/** GET /v1/offers on a real devnet (its own container and two demo hosts), through fastify's inject. */
describe('GET /v1/offers', () => {
  const home = mkdtempSync(join(tmpdir(), 'aethir-offers-'));
  const clock = new ManualClock(Date.UTC(2026, 4, 4));
  let devnet: Devnet;
  let api: FastifyInstance;

  beforeAll(async () => {
    const config = loadConfig({
      env: { AETHIR_HOME: home },
      flags: { port: 0, dataDir: join(home, 'devnet'), demoContainers: 2, checkIntervalMs: 3_600_000 },
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
  const q = (s: string, more = '') => `/v1/offers?q=${encodeURIComponent(s)}${more}`;

  it('lists the online containers best first, as match ranks them, and changes nothing', async () => {
    const { height, root } = devnet.chain.head;
    const r = await get(q('sandbox=false'));
    expect(r.status).toBe(200);
    const online = devnet.chain.ledger.containers().filter((c) => c.status === 'online');
    expect(r.body).toMatchObject({
      query: 'sandbox=false',
      strategy: 'lowest-fee',
      isolation: 'any',
      total: online.length,
    });
    const cheapest = [...online].sort((a, b) =>
      a.pricePerHour !== b.pricePerHour ? (a.pricePerHour < b.pricePerHour ? -1 : 1) : a.id < b.id ? -1 : 1,
    );
    expect(r.body.offers.map((o: any) => o.container.id)).toEqual(cheapest.map((c) => c.id));
    expect(r.body.offers[0]).toMatchObject({
      score: { strategy: 'lowest-fee', pricePerHour: cheapest[0]!.pricePerHour.toString() },
    });
    expect((await get(q('sandbox=false', '&limit=1'))).body.offers).toHaveLength(1);
    expect(devnet.chain.head.height).toBe(height);
    expect(devnet.chain.head.root).toBe(root);
  });

  it('a GPU query defaults to sandboxed hosts, as rent does; sandbox=false takes any host', async () => {
    const gpuHosts = devnet.chain.ledger.containers().filter((c) => c.status === 'online' && c.gpusTotal > 0);
    const sandboxed = gpuHosts.filter((c) => c.spec.isolation === 'sandbox').length;
    const any = await get(q('num_gpus>=1 sandbox=false'));
    expect(any.body).toMatchObject({ isolation: 'any', total: gpuHosts.length });
    const dflt = await get(q('num_gpus>=1'));
    if (sandboxed) expect(dflt.body).toMatchObject({ isolation: 'sandbox', total: sandboxed });
    else expect(dflt.body.error.message).toMatch(/not sandboxed/);
  });

  it('refuses a bad query with the column of the bad token, and bad parameters', async () => {
    const r = await get(q('price<<2'));
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { column: 7, query: 'price<<2' },
    });
    expect((await get(q('x'.repeat(2001)))).status).toBe(400);
    expect((await get(q('', '&limit=0'))).status).toBe(400);
    expect((await get(q('', '&strategy=cheapest'))).status).toBe(400);
    expect((await get(q('', '&user=ath1'))).body.error.message).toMatch(
      /invalid query: .*user|Unrecognized key/,
    );
  });

  it('never answers a query string with a server error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 60 }), async (s) => {
        const r = await get(q(s));
        expect([200, 400, 404, 422]).toContain(r.status);
      }),
      { numRuns: 200 },
    );
  });
});
