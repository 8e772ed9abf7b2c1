import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { generateKeyPair, systemClock } from '../../../src/core/index.js';
import { HttpBus } from '../../../src/sdk/http-bus.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

describe('HttpBus: a flood of output cannot grow the queue', () => {
  it('caps what is queued by bytes, dropping the oldest output first and keeping the exit', async () => {
    // A node that never answers: everything published stays queued.
    server = createServer(() => {});
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const bus = new HttpBus({
      base,
      key: generateKeyPair(),
      chainId: 'test',
      clock: systemClock,
      maxQueuedBytes: 1024 * 1024,
    });
    const chunk = 'x'.repeat(64 * 1024);
    bus.publish('lease.L1.log', { lease: 'L1', type: 'stdout', data: 'first', at: 1 });
    for (let i = 0; i < 200; i++)
      bus.publish('lease.L1.log', { lease: 'L1', type: 'stdout', data: chunk, at: 2 });
    bus.publish('lease.L1.exit', {
      lease: 'L1',
      type: 'exit',
      exitCode: 0,
      signal: null,
      reason: 'exited',
      at: 3,
    });
    const stats = bus.stats();
    // 12.8 MB published; about 1 MiB kept: 15 chunks (each ~64 KiB as JSON) and the exit.
    expect(stats.queued).toBe(16);
    expect(stats.dropped).toBe(201 + 1 - 16);
    // What is left: the newest output, then the exit (reached through the private queue).
    const queue = (bus as unknown as { queue: Array<{ subject: string; data: { at: number } }> }).queue;
    expect(queue.map((m) => m.subject)).toEqual([...Array(15).fill('lease.L1.log'), 'lease.L1.exit']);
    expect(queue.slice(0, 15).every((m) => m.data.at === 2)).toBe(true);
    await bus.close(50);
  });
});
