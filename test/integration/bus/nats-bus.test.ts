import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { NatsBus, type NatsBusStatus } from '../../../src/bus/index.js';
import type { LeaseOpenedMsg } from '../../../src/container/index.js';
import { describeBusCompliance, eventually } from '../../unit/bus/bus-compliance.js';

const NATS = process.env.AETHIR_TEST_NATS ?? 'nats://127.0.0.1:4222';
const NATS_SERVER = process.env.AETHIR_NATS_SERVER ?? '/usr/sbin/nats-server';

/** A fresh namespace per bus, so tests (and leftovers of earlier runs) never see each other. */
function uniquePrefix(): string {
  return `aethir.test-${randomBytes(6).toString('hex')}.`;
}

const opened: NatsBus[] = [];
async function openBus(prefix = uniquePrefix(), servers = NATS): Promise<NatsBus> {
  const bus = await NatsBus.connect({ servers, prefix, name: 'aethir-bus-test' });
  opened.push(bus);
  return bus;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((b) => b.close()));
});

describeBusCompliance('NatsBus', () => openBus(), { validates: true });

describe('NatsBus', () => {
  it('drops and counts a malformed message from a raw client; the next valid one is delivered', async () => {
    const bus = await openBus();
    const got: unknown[] = [];
    bus.subscribe('hb.*', (d) => got.push(d));
    await bus.flush();
    const raw = await connect({ servers: NATS });
    try {
      const te = new TextEncoder();
      raw.publish(bus.wireSubject('hb.c1'), te.encode('{"container": "c1", "at": '));
      raw.publish(bus.wireSubject('hb.c1'), te.encode('{"container":"c1","at":"#notabigint"}'));
      raw.publish(bus.wireSubject('hb.c1'), te.encode('{"container":"c1","at":1}'));
      raw.publish(
        bus.wireSubject('hb.c1'),
        te.encode('{"container":"c1","at":1,"freeGpus":2,"runningLeases":0}'),
      );
      await raw.flush();
    } finally {
      await raw.close();
    }
    await eventually(() => expect(got).toHaveLength(1));
    expect(got).toEqual([{ container: 'c1', at: 1, freeGpus: 2, runningLeases: 0 }]);
    expect(bus.stats()).toMatchObject({ droppedMalformed: 3, malformedByKind: { hb: 3 }, dropped: 0 });
  });

  it('a lease with bigint amounts crosses the wire intact', async () => {
    const a = await openBus();
    const b = await openBus(a.prefix);
    const got: LeaseOpenedMsg[] = [];
    b.subscribe('lease.opened.*', (m) => got.push(m as LeaseOpenedMsg));
    await b.flush();
    const lease: LeaseOpenedMsg['lease'] = {
      id: 'Lbig',
      user: 'ath1' + 'a'.repeat(40),
      container: 'ath1' + 'b'.repeat(40),
      gpus: 8,
      pricePerHour: 2n ** 100n,
      maxDurationSec: 60,
      openEnded: true,
      workload: { command: ['sh', '-c', 'echo #not-a-bigint'] },
      escrow: 123456789012345678901234567890n,
      charged: 0n,
      hostShare: 0n,
      protocolShare: 0n,
      openedAt: 1,
      settledAt: 1,
      closedAt: null,
      status: 'open',
      exitCode: null,
      closeReason: null,
      closedBy: null,
      lastReceiptSeq: 0,
      receiptServedMs: 0,
    };
    a.publish(`lease.opened.${lease.container}`, { lease });
    await eventually(() => expect(got).toHaveLength(1));
    expect(got[0]!.lease).toEqual(lease);
    expect(typeof got[0]!.lease.pricePerHour).toBe('bigint');
  });

  it('buses under different prefixes share a server without seeing each other', async () => {
    const a = await openBus();
    const a2 = await openBus(a.prefix);
    const b = await openBus();
    const gotA: unknown[] = [];
    const gotB: unknown[] = [];
    a.subscribe('>', (d) => gotA.push(d));
    b.subscribe('>', (d) => gotB.push(d));
    b.serve('rpc.who', () => 'b');
    await Promise.all([a.flush(), b.flush()]);
    a2.publish('x.y', 'for a');
    b.publish('x.y', 'for b');
    await eventually(() => expect([gotA, gotB]).toEqual([['for a'], ['for b']]));
    await expect(a.request('rpc.who', null, { timeoutMs: 2_000 })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
    await expect(b.request('rpc.who', null)).resolves.toBe('b');
    // a raw subscriber sees the namespacing on the wire
    const raw = await connect({ servers: NATS });
    try {
      const sub = raw.subscribe(`${a.prefix}>`, { max: 1 });
      await raw.flush();
      a2.publish('x.z', 1);
      for await (const m of sub) expect(m.subject).toBe(`${a.prefix}ev.x.z`);
      expect(a.wireSubject('match.request', true)).toBe(`${a.prefix}rpc.match.request`);
    } finally {
      await raw.close();
    }
  });

  it('refuses a prefix with wildcards or spaces', async () => {
    await expect(NatsBus.connect({ servers: NATS, prefix: 'aethir.*.' })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    });
    await expect(NatsBus.connect({ servers: NATS, prefix: 'a b' })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    });
  });

  it('connect fails with UNAVAILABLE when no server listens', async () => {
    const port = await freePort();
    await expect(
      NatsBus.connect({ servers: `nats://127.0.0.1:${port}`, prefix: uniquePrefix() }),
    ).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('publish after close does not throw and is counted', async () => {
    const bus = await openBus();
    await bus.close();
    expect(() => bus.publish('x', 1)).not.toThrow();
    expect(bus.stats().publishFailed).toBe(1);
    await expect(bus.request('x', 1)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  describe('with its own nats-server', () => {
    let server: ChildProcess | undefined;
    let dir: string | undefined;
    const proxies: { close(): Promise<void> }[] = [];

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((b) => b.close()));
      if (server) await kill(server);
      server = undefined;
      await Promise.all(proxies.splice(0).map((p) => p.close()));
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    });

    it('survives a server restart: an existing subscription gets messages published after it', async () => {
      dir = mkdtempSync(join(tmpdir(), 'aethir-nats-'));
      const port = await freePort();
      const url = `nats://127.0.0.1:${port}`;
      server = await startNats(port, dir);
      // `sub` reaches the server over a slow link: what it sends arrives 200 ms late. Its SUB after
      // the reconnect then lands well after `connected` turns true, as under a loaded CI machine.
      const slow = await delayingProxy(port, 200);
      proxies.push(slow);

      const sub = await openBus(uniquePrefix(), `nats://127.0.0.1:${slow.port}`);
      const pub = await openBus(sub.prefix, url);
      const statuses: NatsBusStatus['type'][] = [];
      sub.onStatus((s) => statuses.push(s.type));
      const got: unknown[] = [];
      sub.subscribe('hb.*', (d) => got.push(d));
      sub.serve('rpc.ping', () => 'pong');
      await sub.flush();
      pub.publish('hb.c1', { container: 'c1', at: 1, freeGpus: 0, runningLeases: 0 });
      await eventually(() => expect(got).toHaveLength(1));

      await kill(server);
      await eventually(() => expect(sub.connected).toBe(false), 15_000);
      // While the server is down publishing is buffered, never thrown.
      expect(() =>
        pub.publish('hb.c1', { container: 'c1', at: 2, freeGpus: 0, runningLeases: 0 }),
      ).not.toThrow();

      server = await startNats(port, dir);
      await eventually(() => expect(sub.connected && pub.connected).toBe(true), 15_000, 50);
      // Core NATS delivers only to subscriptions the server holds when the message arrives, and
      // the two clients are separate connections: `sub` resends its SUB on reconnect, but pub's
      // message can reach the server first and go to no one. A round trip on `sub` (its commands
      // are handled in order) proves the server holds the subscription again.
      await sub.flush();
      pub.publish('hb.c1', { container: 'c1', at: 3, freeGpus: 0, runningLeases: 0 });
      await eventually(() => expect(got.map((m) => (m as { at: number }).at)).toContain(3), 15_000, 50);
      await expect(pub.request('rpc.ping', null)).resolves.toBe('pong');
      expect(statuses).toEqual(expect.arrayContaining(['disconnect', 'reconnect']));
      expect(sub.stats()).toMatchObject({ disconnects: 1, reconnects: 1, droppedMalformed: 0 });
    }, 60_000);
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * A TCP proxy to 127.0.0.1:`port` that holds each chunk from the client for `delayMs` (in order)
 * and passes the server's bytes straight back; a side that closes closes the other.
 */
async function delayingProxy(
  port: number,
  delayMs: number,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const srv = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port });
    sockets.add(client).add(upstream);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('data', (b: Buffer) => setTimeout(() => upstream.writable && upstream.write(b), delayMs));
    upstream.on('data', (b: Buffer) => client.writable && client.write(b));
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  if (!addr || typeof addr !== 'object') throw new Error('proxy: no port');
  return {
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  };
}

async function startNats(port: number, storeDir: string): Promise<ChildProcess> {
  const child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4_000)));
  try {
    await waitForPort(port, 15_000, () => child.exitCode !== null);
  } catch (e) {
    await kill(child);
    throw new Error(`nats-server did not start: ${(e as Error).message}\n${stderr}`);
  }
  return child;
}

async function waitForPort(port: number, timeoutMs: number, gaveUp: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !gaveUp()) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} not listening`);
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}
