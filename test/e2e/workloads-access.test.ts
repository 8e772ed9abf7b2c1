/**
 * Images, shells, exec and cp through the real CLI, on one devnet with two containers: this
 * machine (host-process runtime, lease sandbox) and one joined over HTTP running workloads on
 * Podman's Docker API (`--runtime docker`). Images come from a real registry on loopback
 * (Debian's docker-registry, the busybox image pushed into it by Podman). Terminals are real
 * pseudo-terminals (node-pty driving bin/aethir.js).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { pack as tarPack } from 'tar-stream';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, signLeaseToken } from '../../src/core/index.js';
import { ApiClient } from '../../src/sdk/index.js';
import { Keystore } from '../../src/node/index.js';
import { BIN, ROOT, cli, startDevnet, tempHome, waitFor, type DevnetProcess } from './helpers.js';
import { REGISTRY, loopbackRegistry, removeImage, startDockerHost } from './docker-host.js';

const pty = createRequire(import.meta.url)('node-pty') as {
  spawn(
    file: string,
    args: string[],
    o: { cols: number; rows: number; cwd: string; env: Record<string, string> },
  ): {
    onData(f: (d: string) => void): void;
    onExit(f: (e: { exitCode: number }) => void): void;
    write(d: string): void;
    resize(c: number, r: number): void;
    kill(s?: string): void;
  };
};

const IMAGE = `${REGISTRY}/aethir/busybox:e2e`;

function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

describe('workloads: images, shell, exec and cp on a Docker host and a sandboxed host', () => {
  const home = tempHome('aethir-access-');
  const env = { AETHIR_HOME: home };
  let devnet: DevnetProcess;
  let dockerHost: { stop(): Promise<void> } | null = null;
  let registry: { stop(): void } | null = null;
  const background: ChildProcess[] = [];
  let api: ApiClient;
  let hostLease = '';
  let dockLease = '';
  const run = (args: string[], timeoutMs = 90_000) =>
    cli(args, { ...env, AETHIR_API: devnet.url }, { timeoutMs });

  /** `aethir rent …` left running in the background; resolves with its lease id. */
  const rentInBackground = async (args: string[]): Promise<string> => {
    const child = spawn(process.execPath, [BIN, 'rent', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env, AETHIR_API: devnet.url },
    });
    background.push(child);
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.resume();
    let id = '';
    await waitFor(
      async () => !!(id = /lease (L[0-9a-f]+) opened/.exec(err)?.[1] ?? ''),
      60_000,
      `lease (${err})`,
    );
    return id;
  };

  beforeAll(async () => {
    // the registry, with the test image pushed into it
    registry = await loopbackRegistry(home, [IMAGE]);
    devnet = await startDevnet(['--demo-containers', '0', '--location', 'Frankfurt, DE'], env);
    api = new ApiClient(devnet.url);
    dockerHost = await startDockerHost({
      url: devnet.url,
      dataDir: join(home, 'dock'),
      name: 'dock-host',
      env,
      api,
      run: (a) => run(a),
    });
  }, 180_000);

  afterAll(async () => {
    for (const c of background) c.kill('SIGKILL');
    await dockerHost?.stop();
    await devnet?.stop();
    registry?.stop();
    removeImage(IMAGE);
  });

  it('an image from the registry runs on the Docker host, its pull shown; hosts without a Docker engine are ruled out at match time; a missing image costs nothing', async () => {
    const r = await run(['rent', '--image', IMAGE, '--', 'sh', '-c', 'echo from-image; id -u']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('from-image\n65534\n');
    expect(r.stderr).toContain('matched dock-host');
    expect(r.stderr).toContain(`aethir: pulling ${IMAGE}:`);
    // now cached: the heartbeat says so, and the score has no image part to pay
    const user = new Keystore(join(home, 'keys')).load('developer').address;
    await waitFor(
      async () => {
        const m = await api.match({ user, gpus: 0, image: IMAGE });
        return m.score.parts.image === 0;
      },
      20_000,
      'image reported cached',
    );
    const other = await api.match({ user, gpus: 0, image: `${REGISTRY}/aethir/other:1` });
    expect(other.score.parts.image).toBe(0.25);
    // the sandboxed host (Frankfurt) runs no images: ruled out, with that reason
    const near = await api.match({ user, gpus: 0, image: IMAGE, region: 'eu' }).catch((e: Error) => e);
    expect((near as { details?: { ruledOut?: Record<string, number> } }).details?.ruledOut).toMatchObject({
      'no Docker engine': 1,
    });
    const missing = await run(['rent', '--image', `${REGISTRY}/aethir/nope:1`, '--json', '--', 'true']);
    const s = JSON.parse(missing.stdout);
    expect(missing.code).toBe(127);
    expect(s.charged).toBe('0');
    expect(s.reason).toMatch(/not found/);
  });

  it('exec runs inside each lease (its sandbox uid, its container user); exit code = the command’s', async () => {
    // one after the other: both pay with the developer key (one nonce sequence)
    // --region eu: the sandboxed host (Frankfurt); the image lease can only go to the Docker host
    hostLease = await rentInBackground(['--region', 'eu', '--', 'sh', '-c', 'echo ready > state; sleep 600']);
    dockLease = await rentInBackground(['--image', IMAGE, '--', 'sh', '-c', 'sleep 600']);
    const h = await waitFor(
      async () => {
        const r = await run([
          'exec',
          hostLease,
          '--',
          'sh',
          '-c',
          'id -u; cat state; ls /proc | grep -c "^[0-9]"; exit 7',
        ]);
        return r.code === 7 ? r : null;
      },
      30_000,
      'exec on the host lease',
    );
    const [uid, state, procs] = h!.stdout.trim().split('\n');
    expect(Number(uid)).toBeGreaterThanOrEqual(200_000);
    expect(state).toBe('ready');
    expect(Number(procs)).toBeLessThan(10);
    const d = await waitFor(
      async () => {
        const r = await run(['exec', dockLease, '--', 'sh', '-c', 'id -u; exit 9']);
        return r.code === 9 ? r : null;
      },
      60_000,
      'exec on the docker lease',
    );
    expect(d!.stdout).toBe('65534\n');
  });

  it('shell through a real terminal: size and resize, Ctrl-C, a full-screen program, two at once, the exit code', async () => {
    const open = () => {
      const p = pty.spawn(process.execPath, [BIN, 'shell', hostLease], {
        cols: 100,
        rows: 30,
        cwd: ROOT,
        env: { ...(process.env as Record<string, string>), ...env, AETHIR_API: devnet.url },
      });
      let out = '';
      p.onData((d) => (out += d));
      const exit = new Promise<number>((r) => p.onExit((e) => r(e.exitCode)));
      const see = (s: string | RegExp) =>
        waitFor(
          async () => (typeof s === 'string' ? out.includes(s) : s.test(out)),
          20_000,
          `${s} in ${out}`,
        );
      return { p, see, exit, out: () => out };
    };
    const a = open();
    const b = open();
    await a.see('$ ');
    await b.see('$ ');
    a.p.write('stty size\r');
    await a.see('30 100');
    a.p.resize(120, 40);
    await new Promise((r) => setTimeout(r, 200));
    a.p.write('stty size\r');
    await a.see('40 120');
    b.p.write('echo b-$((20+1))\r');
    await b.see('b-21');
    a.p.write('sleep 30 && echo NOT-INTERRUPTED\r');
    await new Promise((r) => setTimeout(r, 500));
    a.p.write('\x03');
    a.p.write('echo after-$((6*7))\r');
    await a.see('after-42');
    expect(a.out()).not.toMatch(/^NOT-INTERRUPTED/m);
    // top draws a full screen (cursor addressing) and sees only the lease's processes
    a.p.write('top -n 1\r');
    const ESC = String.fromCharCode(27);
    const plain = () => a.out().replace(new RegExp(`${ESC}(\\[[0-9;?]*[A-Za-z]|\\([AB]|[=>])`, 'g'), '');
    await waitFor(async () => /Tasks:\s+\d+\s+total/.test(plain()), 20_000, 'top in the terminal');
    expect(a.out()).toContain(`${ESC}[`);
    a.p.write('exit 5\r');
    b.p.write('exit\r');
    expect(await a.exit).toBe(5);
    expect(await b.exit).toBe(0);
  });

  it('cp round-trips a tree byte for byte (both runtimes), with excludes; paths cannot leave the lease', async () => {
    const src = join(home, 'data');
    mkdirSync(join(src, 'sub/deeper'), { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'hello\n');
    writeFileSync(
      join(src, 'sub/b.bin'),
      Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 251)),
    );
    writeFileSync(join(src, 'sub/deeper/c.txt'), 'ünï ✓\n');
    writeFileSync(join(src, 'model.ckpt'), 'big');
    const want = tree(src);
    delete want['model.ckpt'];
    for (const lease of [hostLease, dockLease]) {
      const up = await run(['cp', src, `${lease}:data`, '--exclude', '*.ckpt', '--json']);
      expect(up.code, up.stderr).toBe(0);
      expect(JSON.parse(up.stdout).files).toBe(3);
      const back = join(home, `back-${lease}`);
      const down = await run(['cp', `${lease}:data`, back]);
      expect(down.code, down.stderr).toBe(0);
      expect(tree(back)).toEqual(want);
    }
    for (const bad of [`${hostLease}:../x`, `${hostLease}:/etc`]) {
      const r = await run(['cp', src, bad]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/leaves the lease's directory|is absolute/);
    }
  });

  it('a crafted archive (../, absolute path, symlink out) is refused before the lease writes anything', async () => {
    const key = new Keystore(join(home, 'keys')).load('developer');
    const token = signLeaseToken(key, {
      chainId: await api.chainId(),
      lease: hostLease,
      exp: Date.now() + 60_000,
      scope: ['files'],
    });
    for (const entry of [
      { name: '../escaped.txt', type: 'file' as const },
      { name: '/tmp/abs.txt', type: 'file' as const },
      { name: 'link', type: 'symlink' as const, linkname: '../../../etc' },
    ]) {
      const pk = tarPack();
      pk.entry(
        entry.type === 'file' ? { name: entry.name, size: 2 } : entry,
        entry.type === 'file' ? 'x\n' : undefined,
      );
      pk.finalize();
      const chunks: Buffer[] = [];
      for await (const c of pk) chunks.push(c as Buffer);
      const ws = new WebSocket(`${devnet.url.replace('http', 'ws')}/v1/leases/${hostLease}/files`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const msgs: string[] = [];
      ws.on('message', (d, bin) => !bin && msgs.push(d.toString()));
      await new Promise((r) => ws.once('open', r));
      ws.send(JSON.stringify({ type: 'upload', path: 'evil' }));
      ws.send(Buffer.concat([Buffer.from([0]), ...chunks]));
      ws.send(JSON.stringify({ type: 'eof' }));
      await new Promise((r) => ws.once('close', r));
      expect(msgs.map((m) => JSON.parse(m))).toContainEqual(
        expect.objectContaining({ type: 'error', code: 'INVALID_ARGUMENT' }),
      );
    }
    const r = await run([
      'exec',
      hostLease,
      '--',
      'sh',
      '-c',
      'ls -A evil 2>/dev/null | wc -l; ls ../escaped.txt 2>&1 | wc -l',
    ]);
    expect(r.stdout.trim().split('\n')[0]).toBe('0');
  });

  it("refused: another key's token, a token for another lease, a forged token at the container's own door, a closed lease", async () => {
    const chainId = await api.chainId();
    const stranger = signLeaseToken(await generateKeyPair(), {
      chainId,
      lease: hostLease,
      exp: Date.now() + 60_000,
      scope: ['exec'],
    });
    const key = new Keystore(join(home, 'keys')).load('developer');
    const forOther = signLeaseToken(key, {
      chainId,
      lease: dockLease,
      exp: Date.now() + 60_000,
      scope: ['exec'],
    });
    const status = async (url: string, token: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
        ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('error', () => undefined);
      });
    const viaApi = `${devnet.url.replace('http', 'ws')}/v1/leases/${hostLease}/exec`;
    expect(await status(viaApi, stranger)).toBe(403);
    expect(await status(viaApi, forOther)).toBe(403);
    // the container checks for itself: straight to its door, bypassing the API, a stranger's token fails
    const view = await api.leaseView(hostLease);
    const door = view!.endpoint!.replace('http', 'ws').replace(/\/l\/(L[0-9a-f]+)\/$/, '/x/$1/exec');
    expect(await status(door, stranger)).toBe(403);
    // a closed lease: its user's own token opens nothing
    const own = signLeaseToken(key, { chainId, lease: hostLease, exp: Date.now() + 60_000, scope: ['exec'] });
    background[0]!.kill('SIGINT'); // rent's Ctrl-C closes the lease
    await waitFor(async () => (await api.lease(hostLease))?.status === 'closed', 30_000, 'lease closed');
    expect(await status(viaApi, own)).toBe(409);
    // the host refuses too: 409 while its agent still holds the lease, 404 once it has let it go
    expect([404, 409]).toContain(await status(door, own));
    const r = await run(['shell', hostLease]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is closed/);
  });

  it('rent -it runs the command interactively in an image, like docker run -it; exit code = its own', async () => {
    const p = pty.spawn(process.execPath, [BIN, 'rent', '-it', '--image', IMAGE, '--', 'sh'], {
      cols: 90,
      rows: 25,
      cwd: ROOT,
      env: { ...(process.env as Record<string, string>), ...env, AETHIR_API: devnet.url },
    });
    let out = '';
    p.onData((d) => (out += d));
    const exit = new Promise<number>((r) => p.onExit((e) => r(e.exitCode)));
    await waitFor(async () => out.includes('$ '), 60_000, 'a prompt').catch((e: Error) => {
      throw new Error(`${e.message}: ${out}`);
    });
    p.write('echo inside-$((6*7)); exit 3\r');
    expect(await exit).toBe(3);
    expect(out).toContain('inside-42');
  });
});
