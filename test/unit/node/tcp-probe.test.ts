import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCity } from '../../../src/core/index.js';
import { LocationChecker, ProbeNetwork, probeAddress } from '../../../src/checker/location/index.js';
import { TcpRttProbe } from '../../../src/node/tcp-probe.js';

let server: Server;
let port = 0;
let accepted = 0;

beforeAll(async () => {
  server = createServer((s) => {
    accepted++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

describe('TcpRttProbe and ProbeNetwork against a real TCP server', () => {
  it('times a TCP handshake to a listening server over loopback', async () => {
    const before = accepted;
    const rtt = await new TcpRttProbe().rttMs('localhost', port, 2000);
    expect(rtt).not.toBeNull();
    expect(rtt!).toBeGreaterThan(0);
    expect(rtt!).toBeLessThan(2000);
    await new Promise((r) => setTimeout(r, 50));
    expect(accepted).toBe(before + 1);
  });

  it('gives null for a refused port and for a name that does not resolve', async () => {
    const probe = new TcpRttProbe();
    expect(await probe.rttMs('127.0.0.1', await closedPort(), 2000)).toBeNull();
    expect(await probe.rttMs('no-such-host.invalid', 80, 2000)).toBeNull();
  });

  it('a checker measures a container through its endpoint URL: the minimum of 5 real handshakes', async () => {
    const before = accepted;
    const network = new ProbeNetwork({
      probe: new TcpRttProbe(),
      addressOf: (id) => (id === 'c1' ? `http://127.0.0.1:${port}` : undefined),
    });
    const fra = findCity('Frankfurt');
    const checker = new LocationChecker({ network, from: fra });
    const rtt = await checker.measure({ id: 'c1', claimed: fra });
    expect(rtt).not.toBeNull();
    await new Promise((r) => setTimeout(r, 50));
    expect(accepted).toBe(before + 5);
    // loopback is ~0 km: a claim of Frankfurt from a Frankfurt checker passes, Singapore does not
    const here = await checker.check({ id: 'c1', claimed: fra }, [], rtt);
    expect(here!.ok).toBe(true);
    const sin = findCity('Singapore');
    const far = await checker.check({ id: 'c1', claimed: sin }, [], rtt);
    expect(far!.ok).toBe(false);
    expect(far!.reason).toMatch(/but it claims Singapore, SG/);
    // a container with no known endpoint gets no verdict
    expect(await checker.check({ id: 'c2', claimed: fra })).toBeNull();
  });

  it('parses probe addresses and refuses what is not one', () => {
    expect(probeAddress('http://10.0.0.5:8080/l/x/')).toEqual({ host: '10.0.0.5', port: 8080 });
    expect(probeAddress('https://gpu.example')).toEqual({ host: 'gpu.example', port: 443 });
    expect(probeAddress('http://[::1]:9000')).toEqual({ host: '::1', port: 9000 });
    expect(probeAddress('host:9000')).toEqual({ host: 'host', port: 9000 });
    expect(probeAddress('host')).toBeNull();
    expect(probeAddress('http://h:0')).toBeNull();
    expect(probeAddress('::::')).toBeNull();
  });
});
