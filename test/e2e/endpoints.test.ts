import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ath } from '../../src/core/index.js';
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
    rmSync(home, { recursive: true, force: true });
  });

  it('proxies HTTP and WebSocket-style upgrades to the workload, and closes with the lease', async () => {
    const api = new ApiClient(node.url);
    const user = new TxSender(node.devnet.developer, api);
    await user.send('escrow.deposit', { amount: ath(1) });
    const container = node.devnet.localContainerId();
    const server = [
      "const http = require('http');",
      "const s = http.createServer((q, r) => r.end('hello ' + q.method + ' ' + q.url));",
      "s.on('upgrade', (q, sock) => { sock.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: echo\\r\\nConnection: Upgrade\\r\\n\\r\\n'); sock.pipe(sock); });",
      "s.listen(Number(process.env.AETHIR_PORT), '127.0.0.1', () => console.log('listening on ' + process.env.AETHIR_PORT));",
    ].join('\n');
    const opened = await user.send('lease.open', {
      container,
      gpus: 0,
      maxDurationSec: 120,
      maxPricePerHour: (await api.container(container))!.pricePerHour,
      workload: { command: [process.execPath, '-e', server] },
    });
    const lease = String(opened.result.lease);
    const view = await api.leaseView(lease);
    expect(view?.endpoint).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/l/${lease}/$`));
    const endpoint = view!.endpoint!;
    const body = await waitFor(
      async () => {
        const r = await fetch(`${endpoint}models?x=1`, { method: 'POST', body: 'q' }).catch(() => null);
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
          `GET ${url.pathname}ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n`,
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
    await user.send('lease.close', { lease, reason: 'done' });
    await waitFor(async () => (await fetch(endpoint)).status === 404, 10_000, 'the endpoint to close');
    expect((await api.leaseView(lease))?.endpoint).toBeNull();
  });
});
