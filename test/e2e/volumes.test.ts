/**
 * Persistent volumes through the real CLI on a devnet whose own container keeps them (this
 * machine: root, loop devices, mkfs.ext4, the lease sandbox): created near a place, written by
 * one lease, read by the next after the whole node (agent included) restarted, copied into and
 * out of without a lease, a writer stopped at its quota with a clear status, and strangers refused.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signLeaseToken } from '../../src/core/index.js';
import { canKeepVolumes } from '../../src/container/volumes.js';
import { ApiClient } from '../../src/sdk/index.js';
import { Keystore } from '../../src/node/index.js';
import { BIN, ROOT, cli, startDevnet, tempHome, waitFor, type DevnetProcess } from './helpers.js';

const can = canKeepVolumes();

describe.skipIf(!can.ok)('persistent volumes (CLI, devnet, real loop-mounted images)', () => {
  const home = tempHome('aethir-volumes-');
  const env = { AETHIR_HOME: home };
  let devnet: DevnetProcess;
  let api: ApiClient;
  const background: ChildProcess[] = [];
  const run = (args: string[], timeoutMs = 90_000) =>
    cli(args, { ...env, AETHIR_API: devnet.url }, { timeoutMs });
  // a 10 s epoch: the checkers challenge each volume's proof of storage every 10 s
  const start = () =>
    startDevnet(['--demo-containers', '0', '--location', 'Paris, FR', '--epoch', '10'], env);

  beforeAll(async () => {
    devnet = await start();
    api = new ApiClient(devnet.url);
  }, 120_000);

  afterAll(async () => {
    for (const c of background) c.kill('SIGKILL');
    await devnet?.stop();
  });

  let volumeId = '';

  it('creates a volume near a place on a host that offers them, locking its deposit', async () => {
    const bad = await run(['volume', 'create', 'data', '--size', '0G', '--near', 'Paris, FR']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/a volume holds 16 MiB to/);
    const absurd = await run(['volume', 'create', 'data', '--size', '100T', '--near', 'Paris, FR']);
    expect(absurd.code).not.toBe(0);
    const r = await run(['volume', 'create', 'data', '--size', '64M', '--near', 'Paris, FR', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      volume: { id: string; sizeMiB: number; status: string; escrow: string };
    };
    volumeId = out.volume.id;
    expect(out.volume).toMatchObject({ sizeMiB: 64, status: 'active' });
    expect(BigInt(out.volume.escrow)).toBeGreaterThan(0n);
    const ls = await run(['volume', 'ls']);
    expect(ls.stdout).toMatch(/data\s+V[0-9a-f]+\s+64 MiB/);
    // one name per owner
    expect((await run(['volume', 'create', 'data', '--size', '64M', '--near', 'Paris, FR'])).stderr).toMatch(
      /already have a volume named data/,
    );
  });

  it('a lease writes it; after the node (and its agent) restarts, the next lease reads it', async () => {
    const w = await run([
      'rent',
      '--volume',
      'data:/data',
      '--',
      'sh',
      '-c',
      'echo kept-across-restarts > /data/note.txt && ls -ln /data',
    ]);
    expect(w.code, w.stderr).toBe(0);
    expect(await devnet.stop()).toBe(0);
    // the agent unmounted it on the way down; the image stays under the data dir
    devnet = await start();
    api = new ApiClient(devnet.url);
    const r = await run(['rent', '--volume', 'data:/data', '--', 'cat', '/data/note.txt']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('kept-across-restarts\n');
  }, 180_000);

  it('copies into and out of the volume with no lease running', async () => {
    const local = join(home, 'in');
    mkdirSync(join(local, 'sub'), { recursive: true });
    writeFileSync(join(local, 'sub', 'a.txt'), 'copied in');
    const up = await run(['cp', local, 'data:incoming']);
    expect(up.code, up.stderr).toBe(0);
    const out = join(home, 'out');
    const down = await run(['cp', 'data:note.txt', out]);
    expect(down.code, down.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('kept-across-restarts\n');
    const r = await run(['rent', '--volume', 'data:/data', '--', 'cat', '/data/incoming/sub/a.txt']);
    expect(r.stdout).toBe('copied in');
    // a path that leaves the volume is refused before anything moves
    const esc = await run(['cp', 'data:../../etc/passwd', join(home, 'esc')]);
    expect(esc.code).not.toBe(0);
    expect(esc.stderr).toMatch(/leaves/);
    expect(existsSync(join(home, 'esc'))).toBe(false);
  }, 120_000);

  it('a writer that exceeds the quota is stopped with a clear status', async () => {
    const r = await run([
      'rent',
      '--volume',
      'data:/data',
      '--',
      'sh',
      '-c',
      'dd if=/dev/zero of=/data/big bs=1M count=200; sleep 30',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/stopped at a limit: volume data is full \(its quota of 64 MiB\)/);
    const lease = (await api.leases({ status: 'closed', limit: 1 }))[0]!;
    expect(lease.closeReason).toMatch(/volume data is full/);
    // the data written before is still there, and the big file was cut at the quota
    const ok = await run([
      'rent',
      '--volume',
      'data:/data',
      '--',
      'sh',
      '-c',
      'cat /data/note.txt; rm /data/big',
    ]);
    expect(ok.stdout).toBe('kept-across-restarts\n');
  }, 120_000);

  it("refuses two writers at once, someone else's volume, and cp into another user's volume", async () => {
    // a writer holding the volume
    const child = spawn(process.execPath, [BIN, 'rent', '--volume', 'data:/data', '--', 'sleep', '60'], {
      cwd: ROOT,
      env: { ...process.env, ...env, AETHIR_API: devnet.url },
    });
    background.push(child);
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.resume();
    await waitFor(async () => /lease (L[0-9a-f]+) opened/.test(err), 60_000, `writer lease (${err})`);
    const second = await run(['rent', '--volume', 'data:/data', '--', 'true']);
    expect(second.code).not.toBe(0);
    expect(second.stderr).toMatch(/one writer at a time/);
    // a reader beside it is fine
    const reader = await run([
      'rent',
      '--volume',
      'data:/data:ro',
      '--',
      'sh',
      '-c',
      'cat /data/note.txt; touch /data/x 2>&1 || true',
    ]);
    expect(reader.stdout).toMatch(/kept-across-restarts\nt?o?u?c?h?.*Read-only file system/s);
    child.kill('SIGINT');

    // mallory: a key of her own, funded
    expect((await run(['keys', 'new', 'mallory'])).code).toBe(0);
    const mallory = new Keystore(join(home, 'keys')).load('mallory');
    expect((await run(['transfer', mallory.address, '100'])).code).toBe(0);
    const theirs = await run([
      'rent',
      '--key',
      'mallory',
      '--volume',
      `${volumeId}:/data`,
      '--',
      'cat',
      '/data/note.txt',
    ]);
    expect(theirs.code).not.toBe(0);
    expect(theirs.stderr).toMatch(/you have no volume/);
    expect(theirs.stdout).toBe('');
    const cpTheirs = await run(['cp', '--key', 'mallory', join(home, 'in'), `${volumeId}:x`]);
    expect(cpTheirs.code).not.toBe(0);
    expect(cpTheirs.stderr).toMatch(/you have no volume/);
    // straight at the API with a token she signed for the volume's id: refused before any upgrade
    const token = signLeaseToken(mallory, {
      chainId: await api.chainId(),
      lease: volumeId,
      exp: Date.now() + 60_000,
      scope: ['files'],
    });
    const refused = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`${devnet.url.replace(/^http/, 'ws')}/v1/volumes/${volumeId}/files`, {
        headers: { authorization: `Bearer ${token}` },
      });
      ws.on('unexpected-response', (_req, res) => resolve(String(res.statusCode)));
      ws.on('open', () => {
        ws.close();
        resolve('opened');
      });
      ws.on('error', () => resolve('error'));
    });
    expect(refused).toMatch(/^40[13]$/);
    const r = await run(['rent', '--volume', 'data:/data', '--', 'ls', '/data/incoming/sub']);
    expect(r.stdout).toBe('a.txt\n');
  }, 180_000);

  it('delete refunds the unused escrow and frees the image', async () => {
    await waitFor(async () => (await api.leases({ status: 'open' })).length === 0, 60_000, 'leases closed');
    const r = await run(['volume', 'delete', 'data', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { refund: string; charged: string };
    const v = (await api.volumeView(volumeId))!;
    expect(v.status).toBe('deleted');
    expect(BigInt(out.refund)).toBe(BigInt(v.escrow) - BigInt(v.charged));
    await waitFor(
      async () => !existsSync(join(home, 'devnet', 'volumes', volumeId)),
      60_000,
      'the image freed',
    );
  }, 120_000);

  it("the checkers mark a volume whose image was emptied behind the agent's back lost: refunded, host slashed", async () => {
    const r = await run(['volume', 'create', 'probe', '--size', '16M', '--near', 'Paris, FR', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const id = (JSON.parse(r.stdout) as { volume: { id: string } }).volume.id;
    const dir = join(home, 'devnet', 'volumes', id);
    await waitFor(async () => existsSync(join(dir, 'meta.json')), 60_000, 'the volume provisioned');
    const host = (await api.volumeView(id))!.container;
    // the honest host proves it (the checkers start one period after creation): a passing storage
    // report on this volume, signed by a checker
    type Report = { check: string; volume?: string; ok: boolean; reason?: string };
    const proved = await waitFor(
      async () => {
        const res = await fetch(`${devnet.url}/v1/checkers/reports?limit=200`);
        const { reports } = (await res.json()) as { reports: Report[] };
        return reports.find((x) => x.check === 'storage' && x.volume === id && x.ok) ?? false;
      },
      60_000,
      'a passing storage check of the volume',
    );
    expect(proved.reason).toMatch(/^proved it holds the volume in \d+ ms$/);
    expect((await api.volumeView(id))!.status).toBe('active');
    const slashedBefore = BigInt((await api.container(host))!.slashed);
    // the host frees the disk: the image becomes a sparse file of zeros of the same size (the
    // agent still sees its file and its mount; only the canary blocks tell)
    const image = join(dir, 'image.ext4');
    const size = statSync(image).size;
    truncateSync(image, 0);
    truncateSync(image, size);
    await waitFor(
      async () => (await api.volumeView(id))?.status === 'lost',
      90_000,
      'the volume marked lost',
    );
    const v = (await api.volumeView(id))!;
    expect(v.closedBy, v.closeReason ?? '').toBe('checkers');
    expect(v.closeReason).toMatch(/storage check failed/);
    expect(BigInt(v.escrow) - BigInt(v.charged)).toBeGreaterThan(0n);
    expect(BigInt((await api.container(host))!.slashed)).toBeGreaterThan(slashedBefore);
  }, 150_000);
});
