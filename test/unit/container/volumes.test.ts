import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VolumeLostError, VolumeStore, checkMounts, fullMargin } from '../../../src/container/volumes.js';

const root = typeof process.geteuid === 'function' && process.geteuid() === 0;
const mkfs = (() => {
  try {
    execFileSync('mkfs.ext4', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

// Loop mounts need root and e2fsprogs: this VM has both (docs/sdk.md says why a loop image).
describe.skipIf(!root || !mkfs)('volume store (real loop-mounted ext4 images)', () => {
  const base = mkdtempSync(path.join(tmpdir(), 'aethir-vol-'));
  const store = new VolumeStore(path.join(base, 'data', 'volumes'), path.join(base, 'mnt'));
  afterAll(async () => {
    await store.unmountAll();
    rmSync(base, { recursive: true, force: true });
  });

  it('creates a sparse image, mounts it, and keeps the data across unmount (agent restart) and remount', async () => {
    const v = { id: 'Vkeep1', sizeMiB: 16 };
    const mnt = await store.ensure(v);
    expect(mnt).toBe(store.mountOf(v.id));
    writeFileSync(path.join(mnt, 'hello.txt'), 'written by lease 1');
    // sparse: far less disk than its size is used
    expect(statSync(store.imageOf(v.id)).blocks * 512).toBeLessThan(16 * 1024 * 1024);
    await store.unmountAll();
    expect(existsSync(path.join(mnt, 'hello.txt'))).toBe(false);
    // a new store (a restarted agent) over the same directories
    const again = new VolumeStore(store.dir, store.mountRoot);
    await again.ensure(v);
    expect(readFileSync(path.join(mnt, 'hello.txt'), 'utf8')).toBe('written by lease 1');
  });

  it('is its own quota: a write past the size fails with ENOSPC, and watchFull fires', async () => {
    const v = { id: 'Vquota1', sizeMiB: 16 };
    const mnt = await store.ensure(v);
    let full = false;
    const stop = store.watchFull(v.id, () => (full = true), 20);
    let err: NodeJS.ErrnoException | null = null;
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${path.join(mnt, 'big')}`, 'bs=1M', 'count=64'], {
        stdio: 'pipe',
      });
    } catch (e) {
      err = e as NodeJS.ErrnoException;
    }
    expect(String((err as { stderr?: Buffer } | null)?.stderr ?? '')).toMatch(/No space left on device/);
    expect(statSync(path.join(mnt, 'big')).size).toBeLessThanOrEqual(16 * 1024 * 1024);
    await new Promise((r) => setTimeout(r, 200));
    stop();
    expect(full).toBe(true);
  });

  it('a writer that starts on a full volume is not stopped for it (it may free space)', async () => {
    const v = { id: 'Vquota1', sizeMiB: 16 }; // filled by the test before
    await store.ensure(v);
    let full = false;
    const stop = store.watchFull(v.id, () => (full = true), 20);
    await new Promise((r) => setTimeout(r, 150));
    expect(full).toBe(false);
    rmSync(path.join(store.mountOf(v.id), 'big'));
    execFileSync('sync');
    await new Promise((r) => setTimeout(r, 100));
    stop();
    expect(full).toBe(false);
  });

  it('hands the tree to a lease uid, keeps one writer at a time', async () => {
    const v = { id: 'Vowner1', sizeMiB: 16 };
    const mnt = await store.ensure(v);
    writeFileSync(path.join(mnt, 'f'), 'x');
    await store.handTo(v.id, 200_123);
    expect(statSync(path.join(mnt, 'f')).uid).toBe(200_123);
    expect(statSync(mnt).uid).toBe(200_123);
    const release = await store.takeWriter(v.id, 'Llease1');
    await expect(store.takeWriter(v.id, 'Llease2')).rejects.toThrow(/already has a writer \(lease Llease1\)/);
    await release();
    const r2 = await store.takeWriter(v.id, 'Llease2');
    // a restarted agent drops locks of leases no longer running
    await store.clearWriters(new Set());
    await (
      await store.takeWriter(v.id, 'Llease3')
    )();
    await r2();
  });

  it('reports a provisioned volume whose image is gone as lost, and refuses bad ids', async () => {
    const v = { id: 'Vlost1', sizeMiB: 16 };
    await store.ensure(v);
    await store.unmountAll();
    rmSync(store.imageOf(v.id));
    await expect(store.ensure(v)).rejects.toBeInstanceOf(VolumeLostError);
    for (const id of ['../x', 'V../../etc', 'V', 'Vx/y', ''])
      await expect(store.ensure({ id, sizeMiB: 16 })).rejects.toThrow(/bad volume id/);
  });

  it('remove unmounts and frees it', async () => {
    const v = { id: 'Vgone1', sizeMiB: 16 };
    await store.ensure(v);
    await store.remove(v.id);
    expect(existsSync(store.imageOf(v.id))).toBe(false);
    expect(existsSync(store.mountOf(v.id))).toBe(false);
    expect(await store.list()).not.toContain(v.id);
  });
});

describe('checkMounts: what a runtime binds', () => {
  it('refuses relative, escaping, root and odd-character mounts', () => {
    for (const m of [
      { source: 'rel', target: '/data' },
      { source: '/v/../../etc', target: '/data' },
      { source: '/v', target: '/data/../etc' },
      { source: '/v', target: '/' },
      { source: '/v', target: '/data:rw' },
      { source: '/v,x', target: '/data' },
      { source: '/v', target: 'data' },
    ])
      expect(() => checkMounts([m]), JSON.stringify(m)).toThrow(/bad mount/);
    expect(() => checkMounts([{ source: '/var/lib/aethir/volumes/x/V1', target: '/data' }])).not.toThrow();
  });
  it('full means less than 1 MiB, or 2% up to 64 MiB, free', () => {
    expect(fullMargin(16 << 20)).toBe(1 << 20);
    expect(fullMargin(1024 << 20)).toBe(Math.floor((1024 << 20) / 50));
    expect(fullMargin(50 * 1024 ** 3)).toBe(64 << 20);
  });
});
