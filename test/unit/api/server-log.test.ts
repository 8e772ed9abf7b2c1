import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createApiServer } from '../../../src/api/server.js';
import { keyPairFromSeed, loadConfig, signLeaseToken } from '../../../src/core/index.js';
import { Devnet } from '../../../src/node/devnet.js';
import { devnetBackend } from '../../../src/node/devnet-backend.js';

describe('API request log', () => {
  const home = mkdtempSync(join(tmpdir(), 'aethir-apilog-'));
  let devnet: Devnet;
  let api: FastifyInstance;
  let logged = '';

  beforeAll(async () => {
    const config = loadConfig({
      env: { AETHIR_HOME: home },
      flags: { port: 0, dataDir: join(home, 'devnet'), demoContainers: 0 },
    });
    devnet = await Devnet.start({ config });
    const stream = new PassThrough();
    stream.on('data', (d) => (logged += d));
    api = await createApiServer(devnetBackend(devnet), { logLevel: 'info', logStream: stream });
  });
  afterAll(async () => {
    await api?.close();
    await devnet?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('never holds a lease token: a token in the query is masked in the logged URL', async () => {
    const token = signLeaseToken(keyPairFromSeed('apilog:user'), {
      chainId: devnet.chain.chainId,
      lease: 'Lnosuchlease',
      exp: Date.now() + 60_000,
    });
    const r = await api.inject({
      method: 'GET',
      url: `/v1/leases/Lnosuchlease/logs?follow=false&token=${token}`,
    });
    expect(r.statusCode).toBe(404);
    expect(logged).toContain('/v1/leases/Lnosuchlease/logs?follow=false&token=alt1.***');
    expect(logged).not.toContain(token.split('.')[1]!);
    expect(logged).not.toContain(token.split('.')[2]!);
  });
});
