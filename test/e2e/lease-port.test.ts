/**
 * A lease's own port, logs kept on the host, a copy cut mid-way, and an SDL image deploy, through
 * the real CLI on one devnet with two containers: this machine (host-process runtime, lease
 * sandbox) and one joined over HTTP running workloads on Podman's Docker API. Images come from a
 * real registry on loopback (Debian's docker-registry; the busybox image pushed by Podman). The
 * devnet runs on a fixed port with its data on disk, so it can be restarted under the Docker host:
 * what its API kept in memory is gone, what the host kept on disk is not.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, signLeaseToken } from '../../src/core/index.js';
import { Keystore } from '../../src/node/index.js';
import { ApiClient } from '../../src/sdk/index.js';
import { BIN, ROOT, cli, startDevnet, tempHome, waitFor, type DevnetProcess } from './helpers.js';
import { REGISTRY, freePort, loopbackRegistry, removeImage, startDockerHost } from './docker-host.js';

const IMAGE = `${REGISTRY}/aethir/busybox:port`;
const HTTPD = (port: number, text: string) =>
  `mkdir -p www && echo ${text} > www/index.html && exec httpd -f -p ${port} -h www`;

describe("a lease's own port, logs kept on the host, cp cut mid-way, an SDL image deploy", () => {
  const home = tempHome('aethir-port-');
  const data = join(home, 'devnet');
  const env = { AETHIR_HOME: home };
  let devnet: DevnetProcess | null = null;
  let devnetPort = 0;
  let url = '';
  let dockerHost: { stop(): Promise<void> } | null = null;
  let registry: { stop(): void } | null = null;
  const servers: Server[] = [];
  let api: ApiClient;
  const run = (args: string[], timeoutMs = 90_000, apiUrl = url) =>
    cli(args, { ...env, AETHIR_API: apiUrl }, { timeoutMs });
  const startNet = async () => {
    devnet = await startDevnet(
      ['--demo-containers', '0', '--location', 'Frankfurt, DE', '--data', data, '--port', String(devnetPort)],
      env,
    );
    url = devnet.url;
    api = new ApiClient(url);
  };
  /** `rent --detach --json …`: the lease id, its endpoint (with the token) and the port */
  const detach = async (args: string[]) => {
    const r = await run(['rent', '--detach', '--max-duration', '10m', '--json', ...args]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    return JSON.parse(r.stdout) as { lease: string; endpoint: string; port?: number; token: string };
  };
  const get = async (u: string) => {
    const res = await fetch(u).catch((e: Error) => ({ status: 0, text: async () => e.message }));
    return { status: res.status, text: await res.text() };
  };

  beforeAll(async () => {
    // pushed, then pulled into the engine from the registry, which then goes (the engine has the
    // image; the registry lock is free for the other files at once)
    registry = await loopbackRegistry(home, [IMAGE], { pullBack: true });
    registry.stop();
    devnetPort = await freePort();
    await startNet();
    dockerHost = await startDockerHost({
      url,
      dataDir: join(home, 'dock'),
      name: 'dock-port',
      env,
      api,
      run: (a) => run(a),
    });
  }, 180_000);

  afterAll(async () => {
    for (const s of servers) s.close();
    // the Docker host ends its workloads on SIGINT; killed only if it does not exit in time
    await dockerHost?.stop();
    await devnet?.stop();
    registry?.stop();
    removeImage(IMAGE);
  });

  it('rent --image --detach --port: the endpoint it prints reaches that port in the container, with the owner token only; leases ls shows it', async () => {
    const d = await detach([
      '--image',
      IMAGE,
      '--port',
      '8888',
      '--',
      'sh',
      '-c',
      HTTPD(8888, 'hello-from-8888'),
    ]);
    expect(d.port).toBe(8888);
    expect(d.endpoint).toMatch(new RegExp(`/l/${d.lease}/\\?token=`));
    const page = await waitFor(
      async () => {
        const r = await get(d.endpoint);
        return r.status === 200 ? r : undefined;
      },
      60_000,
      'the image lease answering on its port',
    );
    expect(page.text).toBe('hello-from-8888\n');
    // the owner's authority: without the token, nothing
    const bare = await get(d.endpoint.replace(/\?token=.*$/, ''));
    expect(bare.status).toBe(401);
    const stranger = signLeaseToken(generateKeyPair(), {
      chainId: await api.chainId(),
      lease: d.lease,
      exp: Date.now() + 60_000,
    });
    expect((await get(d.endpoint.replace(/token=.*$/, `token=${stranger}`))).status).toBe(401);
    // leases ls --mine: the endpoint and the port it forwards to, the image; --json the same
    const ls = await run(['leases', 'ls', '--mine']);
    expect(ls.code).toBe(0);
    const row = ls.stdout.split('\n').find((l) => l.includes(d.lease))!;
    expect(row).toContain(`/l/${d.lease}/ -> :8888`);
    expect(row).toContain(IMAGE);
    const js = JSON.parse((await run(['leases', 'ls', '--mine', '--json'])).stdout).leases;
    expect(js.find((l: { id: string }) => l.id === d.lease)).toMatchObject({
      workload: { image: IMAGE, port: 8888 },
      endpoint: expect.stringMatching(new RegExp(`/l/${d.lease}/$`)),
    });
    expect((await run(['stop', d.lease])).code).toBe(0);
  });

  it("a sandboxed host-process lease's --port: the endpoint reaches its server; naming a port the host serves on reaches nothing of the host's", async () => {
    const d = await detach([
      '--region',
      'eu',
      '--port',
      '8000',
      '--',
      'node',
      '-e',
      "require('http').createServer((q,s)=>s.end('sandboxed-8000 '+process.env.AETHIR_PORT)).listen(8000,'127.0.0.1')",
    ]);
    const page = await waitFor(
      async () => {
        const r = await get(d.endpoint);
        return r.status === 200 ? r : undefined;
      },
      30_000,
      'the sandboxed lease answering on its port',
    );
    expect(page.text).toBe('sandboxed-8000 8000');
    expect((await run(['stop', d.lease])).code).toBe(0);
    // The attack, on both runtimes: the host serves on loopback port P; a lease names P as its
    // port (and serves nothing). The endpoint must never reach the host's service.
    const host = createServer((s: Socket) =>
      s.end('HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\nhost-secret'),
    );
    servers.push(host);
    await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
    const p = (host.address() as AddressInfo).port;
    expect((await get(`http://127.0.0.1:${p}/`)).text).toBe('host-secret');
    for (const where of [
      ['--region', 'eu'],
      ['--image', IMAGE],
    ]) {
      const a = await detach([...where, '--port', String(p), '--', 'sleep', '600']);
      await waitFor(async () => (await api.leaseView(a.lease))?.endpoint, 30_000, 'endpoint');
      // give the workload time to start, then ask several times
      let seen = '';
      for (let i = 0; i < 10; i++) {
        const r = await get(a.endpoint);
        seen += `${r.status} ${r.text}\n`;
        await new Promise((res) => setTimeout(res, 300));
      }
      expect(seen).not.toContain('host-secret');
      expect(seen).toMatch(/502 .*does not answer on its port/);
      expect((await run(['stop', a.lease])).code).toBe(0);
    }
  });

  it('a port out of range or not a number is refused before anything is opened', async () => {
    const user = new Keystore(join(home, 'keys')).load('developer').address;
    const before = (await api.leases({ user })).length;
    const bads = ['0', '65536', '-1', '80.5', 'http'];
    const [app, any, ...refused] = await Promise.all([
      run(['rent', '--port', '8000', '--app', 'llm-chat']),
      run(['rent', '--port', '8000', '--isolation', 'any', '--', 'true']),
      ...bads.map((bad) => run(['rent', '--detach', '--port', bad, '--', 'true'])),
    ]);
    for (const r of refused) {
      expect(r.code, r.stderr).not.toBe(0);
      expect(r.stderr).toMatch(/--port/);
    }
    expect(app.code).not.toBe(0);
    expect(any.stderr).toContain("--port needs the lease's own network");
    expect((await api.leases({ user })).length).toBe(before);
  });

  it('aethir deploy brings up an SDL service from an image, its global expose port as the lease endpoint', async () => {
    const sdl = join(home, 'web.yaml');
    writeFileSync(
      sdl,
      `version: "2.0"
services:
  web:
    image: ${IMAGE}
    command: ["sh", "-c"]
    args: ["${HTTPD(8080, 'hello-from-sdl')}"]
    expose:
      - port: 8080
        as: 80
        to:
          - global: true
profiles:
  compute:
    small:
      resources:
        cpu:
          units: 500m
        memory:
          size: 128Mi
        storage:
          size: 512Mi
  placement:
    dc:
      pricing:
        small:
          denom: uakt
          amount: 1000
deployment:
  web:
    dc:
      profile: small
      count: 1
`,
    );
    const r = await run(['deploy', sdl, '--akt-rate', '100', '--max-duration', '10m', '--json']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const st = JSON.parse((await run(['deployments', 'status', 'web', '--json'])).stdout);
    const lease = st.deployment.leases[0];
    const view = await api.leaseView(lease.lease);
    expect(view?.workload).toMatchObject({ image: IMAGE, port: 8080, publicEndpoint: true });
    const page = await waitFor(
      async () => {
        const g = await get(view!.endpoint!);
        return g.status === 200 ? g : undefined;
      },
      60_000,
      'the deployed service answering',
    );
    expect(page.text).toBe('hello-from-sdl\n');
    expect((await run(['deployments', 'close', 'web'])).code).toBe(0);
  });

  it('cp cut by a dropped connection exits 1, saying what went whole and how to copy again', async () => {
    const d = await detach(['--region', 'eu', '--', 'sleep', '600']);
    const src = join(home, 'big');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'a.bin'), Buffer.alloc(512 * 1024, 1));
    writeFileSync(join(src, 'b.bin'), Buffer.alloc(8 << 20, 2));
    // a TCP proxy in front of the API that cuts a WebSocket (the copy) after 2 MiB
    const cutter = createServer((down: Socket) => {
      const up = connect(devnetPort, '127.0.0.1');
      let bytes = 0;
      let ws = false;
      down.on('data', (c: Buffer) => {
        if (!ws && /upgrade: websocket/i.test(c.toString('latin1'))) ws = true;
        bytes += c.length;
        if (ws && bytes > 2 << 20) {
          down.destroy();
          up.destroy();
          return;
        }
        up.write(c);
      });
      up.on('data', (c) => down.write(c));
      up.on('error', () => down.destroy());
      down.on('error', () => up.destroy());
      up.on('close', () => down.destroy());
      down.on('close', () => up.destroy());
    });
    servers.push(cutter);
    await new Promise<void>((r) => cutter.listen(0, '127.0.0.1', r));
    const via = `http://127.0.0.1:${(cutter.address() as AddressInfo).port}`;
    await waitFor(async () => (await run(['exec', d.lease, '--', 'true'])).code === 0, 30_000, 'lease up');
    const r = await run(['cp', src, `${d.lease}:data`], 60_000, via);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/UNAVAILABLE.*dropped during the copy/);
    expect(r.stderr).toMatch(/1 file sent whole .*the last: a\.bin; b\.bin was cut/);
    expect(r.stderr).toContain(`retry: aethir cp ${src} ${d.lease}:data`);
    // and the same copy, run again without the cut, goes through
    const again = await run(['cp', src, `${d.lease}:data`, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).files).toBe(2);
    expect((await run(['stop', d.lease])).code).toBe(0);
  });

  it('an image lease whose deposit runs out is paused with its container frozen; a top-up resumes the same process', async () => {
    const counter = 'i=0; while true; do i=$((i+1)); echo "$i" > n; echo "tick $i"; sleep 1; done';
    const { lease } = await detach(['--image', IMAGE, '--deposit', '3s', '--', 'sh', '-c', counter]);
    const leaseOf = async () => (await api.leaseView(lease))!;
    await waitFor(async () => (await leaseOf()).status === 'paused', 60_000, 'the lease to be paused');
    // frozen, not destroyed: the engine still has the container, paused
    const inspect = () =>
      spawnSync('podman', ['inspect', '-f', '{{.State.Paused}}', `aethir-${lease}`], { encoding: 'utf8' });
    expect(inspect().stdout.trim()).toBe('true');
    const ticks = async () =>
      [...(await run(['logs', lease])).stdout.matchAll(/tick (\d+)\n/g)].map((m) => Number(m[1]));
    const before = await ticks();
    const last = before.at(-1)!;
    expect(before).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    const top = await run(['lease', 'topup', lease, '--amount', '0.005']);
    expect(top.code, top.stderr).toBe(0);
    await waitFor(async () => (await ticks()).includes(last + 2), 60_000, 'the counter to go on');
    // the same process, woken where it stopped: its count goes on, nothing ran twice
    const after = await ticks();
    expect(after.slice(0, last + 2)).toEqual(Array.from({ length: last + 2 }, (_, i) => i + 1));
    expect(inspect().stdout.trim()).toBe('false');
    expect((await run(['stop', lease])).code).toBe(0);
    await waitFor(async () => inspect().status !== 0, 30_000, 'the container to be removed');
  }, 150_000);

  it("docs/sdk.md's access example runs: the endpoint of --port, exec, a terminal, cp, through the SDK alone", async () => {
    const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'examples/sdk-lease-access.ts'], {
        cwd: ROOT,
        env: { ...process.env, ...env, AETHIR_API: url, AETHIR_EXAMPLE_QUERY: 'region=eu' },
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('close', (code) => resolve({ code, out, err }));
    });
    expect(r.err).toBe('');
    expect(r.code, r.out).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines.map((l) => l.split(':')[0])).toEqual(['detach', 'endpoint', 'exec', 'shell', 'cp', 'stop']);
    expect(lines[1]).toBe('endpoint: served on 8000');
    expect(lines[2]).toMatch(/^exec: uid \d{6}, exit code 4$/);
    expect(lines[3]).toBe('shell: sizes 30 100, 40 120, exit code 5');
    expect(lines[4]).toBe('cp: 2 files up, 2 back, identical');
  });

  it('logs are read from the host after the API node restarted: the whole output, --since, -f live, owner only', async () => {
    const d = await detach([
      '--image',
      IMAGE,
      '--',
      'sh',
      '-c',
      'echo started; echo to-stderr >&2; i=0; while true; do i=$((i+1)); echo tick-$i; sleep 1; done',
    ]);
    await waitFor(
      async () => (await run(['logs', d.lease])).stdout.includes('tick-3'),
      60_000,
      'three ticks',
    );
    // restart the API (the devnet, on the same port and data); the Docker host stays up
    await devnet!.stop();
    await startNet();
    await waitFor(
      async () => {
        const r = await run(['logs', d.lease]);
        return r.code === 0 && r.stdout.startsWith('started\n') ? r : undefined;
      },
      60_000,
      'the kept logs after the restart',
    );
    const after = await run(['logs', d.lease]);
    expect(after.stdout).toMatch(/^started\ntick-1\ntick-2\ntick-3\n/);
    expect(after.stderr).toContain('to-stderr');
    // --since: only the recent ticks, not the start
    const recent = await run(['logs', d.lease, '--since', '2s']);
    expect(recent.code).toBe(0);
    expect(recent.stdout).not.toContain('started');
    expect(recent.stdout).toMatch(/tick-\d+/);
    // -f: what was kept, then new ticks as they come, until the lease is stopped
    const f = spawn(process.execPath, [BIN, 'logs', d.lease, '-f'], {
      cwd: ROOT,
      env: { ...process.env, ...env, AETHIR_API: url },
    });
    let out = '';
    f.stdout!.on('data', (c) => (out += c));
    f.stderr!.resume();
    const lastBefore = Math.max(...[...after.stdout.matchAll(/tick-(\d+)/g)].map((m) => Number(m[1])));
    await waitFor(
      async () => out.includes(`tick-${lastBefore + 2}\n`),
      30_000,
      `live ticks past ${lastBefore} in ${out.slice(-200)}`,
    );
    expect(out.startsWith('started\ntick-1\n')).toBe(true);
    // each tick once: the host's file and this node's memory overlap, nothing is shown twice
    const ticks = [...out.matchAll(/tick-(\d+)/g)].map((m) => Number(m[1]));
    expect(new Set(ticks).size).toBe(ticks.length);
    const exited = new Promise((r) => f.on('exit', r));
    expect((await run(['stop', d.lease])).code).toBe(0);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    f.kill('SIGKILL');
    // another key's token: refused by the API, the host's file never read for it
    const token = signLeaseToken(generateKeyPair(), {
      chainId: await api.chainId(),
      lease: d.lease,
      exp: Date.now() + 60_000,
    });
    const res = await fetch(`${url}/v1/leases/${d.lease}/logs?follow=false`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('started');
  });
});
