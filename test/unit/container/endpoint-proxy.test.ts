import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndpointProxy } from '../../../src/container/endpoint-proxy.js';
import { keyPairFromSeed, signLeaseToken } from '../../../src/core/index.js';

const user = keyPairFromSeed('proxy:user');
const CHAIN = 'proxy-chain';
const LEASE = 'Lproxytest';

/** A raw upgrade request through the proxy; what came back first (status line and headers). */
function upgrade(base: string, path: string): Promise<string> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(u.port), u.hostname, () =>
      sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n`),
    );
    let got = '';
    sock.on('data', (d) => {
      got += d;
      if (got.includes('\r\n\r\n')) {
        sock.destroy();
        resolve(got);
      }
    });
    sock.on('end', () => resolve(got));
    sock.on('error', reject);
  });
}

describe('EndpointProxy: WebSocket upgrades need the lease token too', () => {
  const proxy = new EndpointProxy({ host: '127.0.0.1' });
  const seen: string[] = [];
  let upstream: Server;
  let base = '';

  beforeAll(async () => {
    base = await proxy.start();
    const port = await proxy.open(LEASE, { chainId: CHAIN, user: user.address });
    upstream = createServer();
    upstream.on('upgrade', (q, sock) => {
      seen.push(q.url!);
      sock.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
    });
    await new Promise<void>((r) => upstream.listen(port, '127.0.0.1', () => r()));
  });
  afterAll(async () => {
    await proxy.stop();
    await new Promise((r) => upstream.close(r));
  });

  it('an upgrade without a token, or with a non-owner token, is refused 401 and never reaches the workload', async () => {
    const stranger = signLeaseToken(keyPairFromSeed('proxy:stranger'), {
      chainId: CHAIN,
      lease: LEASE,
      exp: Date.now() + 60_000,
    });
    expect(await upgrade(base, `/l/${LEASE}/ws`)).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n/);
    expect(await upgrade(base, `/l/${LEASE}/ws?token=${stranger}`)).toMatch(
      /^HTTP\/1\.1 401 Unauthorized\r\n/,
    );
    expect(seen).toEqual([]);
  });

  it("the user's token opens it, and the workload gets the path without the token", async () => {
    const token = signLeaseToken(user, { chainId: CHAIN, lease: LEASE, exp: Date.now() + 60_000 });
    expect(await upgrade(base, `/l/${LEASE}/ws?room=1&token=${token}`)).toMatch(/^HTTP\/1\.1 101 /);
    expect(seen).toEqual(['/ws?room=1']);
  });

  it('a lease id it does not route is 404, token or not', async () => {
    const token = signLeaseToken(user, { chainId: CHAIN, lease: 'Lother', exp: Date.now() + 60_000 });
    expect(await upgrade(base, `/l/Lother/ws?token=${token}`)).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
  });
});

describe("EndpointProxy.publicAddress: where players reach a sandboxed lease's UDP port", () => {
  const at = async (publicUrl: string | undefined, host = '127.0.0.1') => {
    const p = new EndpointProxy({ host, ...(publicUrl ? { publicUrl } : {}) });
    const before = await p.publicAddress();
    await p.start();
    try {
      return [before, await p.publicAddress()];
    } finally {
      await p.stop();
    }
  };
  it("the endpoint URL's host: an IPv4 literal as it is, a name looked up, nothing before the start", async () => {
    expect(await at(undefined)).toEqual([undefined, '127.0.0.1']);
    expect(await at('http://203.0.113.7:8080/')).toEqual([undefined, '203.0.113.7']);
    expect(await at('http://localhost:9')).toEqual([undefined, '127.0.0.1']);
    // a name with no address: none (the lease's UDP port stays on loopback)
    expect((await at('http://no-such-host.invalid:9'))[1]).toBeUndefined();
  });
});
