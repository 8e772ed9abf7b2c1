/**
 * Persistent volumes on a host (docs/sdk.md "Volumes"): each is an ext4 filesystem in a sparse
 * image file under the agent's private data directory (`<dataDir>/volumes/<id>/image.ext4`),
 * loop-mounted (nosuid, nodev) under a mount root outside that directory (bubblewrap binds with
 * the lease's credentials, which cannot pass a 0700 data dir), and bound into the leases that
 * mount it. The image's size is the quota: the kernel refuses a write past it (ENOSPC), and the
 * agent stops a writer whose volume is full with a clear status (`watchFull`).
 *
 * Why a loop-mounted image (the first choice of the three the design names): it caps the space
 * exactly whatever the host's filesystem is (no project-quota mount options needed), it survives
 * agent restarts and reboots as a plain file, it is remounted on first use after a reboot, and a
 * deleted volume frees its space at once. It needs root (mount), which a sandboxing host is.
 *
 * One writer at a time on a host: a lock file taken exclusively (`writer`, holding the lease id),
 * besides the ledger's own rule at lease.open.
 */
import { execFile } from 'node:child_process';
import { existsSync, statfsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { lchown, lstat, mkdir, open, readFile, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AethirError } from '../core/errors.js';
import { CANARY_BLOCK_BYTES, CANARY_REGION_BYTES, sealCanaries } from '../core/volume-proof.js';

const ID = /^V[A-Za-z0-9_-]{1,63}$/;

export interface VolumeInfo {
  id: string;
  sizeMiB: number;
  /**
   * the volume's proof of storage (params.volumeSealIterations when it was created): sealed canary
   * blocks for this host are appended after its filesystem (docs/verification.md)
   */
  seal?: { container: string; iterations: number };
}

interface Meta {
  id: string;
  sizeMiB: number;
  createdAt: number;
  /** the image ends with sealed canary blocks after its filesystem */
  canaries?: boolean;
}

function run(file: string, args: string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(file, args, { timeout: timeoutMs }, (err, stdout, stderr) =>
      err
        ? reject(new Error(`${file} ${args.join(' ')}: ${String(stderr).trim() || err.message}`))
        : resolve(stdout),
    ),
  );
}

/** Whether `dir` is a mount point now (from /proc/self/mountinfo). */
async function isMounted(dir: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const want = path.resolve(dir);
  return info.split('\n').some((l) => l.split(' ')[4] === want);
}

/** A volume the host cannot produce although it provisioned it: the agent reports it lost. */
export class VolumeLostError extends AethirError {
  constructor(id: string, why: string) {
    super('NOT_FOUND', `volume ${id} is lost: ${why}`);
    this.name = 'VolumeLostError';
  }
}

/**
 * Hands a tree to `uid`: every entry owned by someone else is chowned (links themselves, never
 * followed; nothing outside the tree is reached). `lost+found` at the top stays root's.
 */
export async function chownTree(root: string, uid: number, gid = uid): Promise<void> {
  // without following links (a link the workload made must not hand over anything outside); a
  // directory's entries at once (libuv's pool bounds the concurrency), subdirectories after
  const own = async (p: string, st: { uid: number; gid: number }) => {
    if (st.uid !== uid || st.gid !== gid) await lchown(p, uid, gid).catch(() => undefined);
  };
  const walk = async (dir: string): Promise<void> => {
    await own(dir, await lstat(dir));
    const entries = await readdir(dir, { withFileTypes: true });
    const names = entries.filter((e) => dir !== root || e.name !== 'lost+found');
    await Promise.all(
      names
        .filter((e) => !e.isDirectory())
        .map(async (e) => {
          const p = path.join(dir, e.name);
          await own(p, await lstat(p));
        }),
    );
    for (const e of names) if (e.isDirectory()) await walk(path.join(dir, e.name));
  };
  await walk(root);
}

/** A runtime's check of mounts: absolute plain targets, no `..` anywhere, existing directories. */
export function checkMounts(mounts: ReadonlyArray<{ source: string; target: string }>): void {
  for (const m of mounts) {
    const bad = (p: string) => !path.isAbsolute(p) || p.split('/').some((s) => s === '..' || s === '.');
    if (bad(m.source) || bad(m.target) || m.target === '/' || /[:,\s]/.test(m.target + m.source))
      throw new AethirError('INVALID_ARGUMENT', `bad mount ${JSON.stringify(m)}`);
  }
}

/** How little free space counts as full: 1 MiB, or 2% of the volume up to 64 MiB. */
export function fullMargin(totalBytes: number): number {
  return Math.max(1 << 20, Math.min(Math.floor(totalBytes / 50), 64 << 20));
}

export class VolumeStore {
  private readonly busy = new Map<string, Promise<unknown>>();

  /**
   * `dir`: where images and their metadata live (private); `mountRoot`: where they are mounted
   * (0711, outside the private data dir).
   */
  constructor(
    readonly dir: string,
    readonly mountRoot: string,
    private readonly now: () => number = () => Date.now(),
  ) {}

  private check(id: string): void {
    if (!ID.test(id)) throw new AethirError('INVALID_ARGUMENT', `bad volume id ${JSON.stringify(id)}`);
  }
  private home(id: string): string {
    return path.join(this.dir, id);
  }
  imageOf(id: string): string {
    return path.join(this.home(id), 'image.ext4');
  }
  mountOf(id: string): string {
    return path.join(this.mountRoot, id);
  }

  /** One operation per volume at a time (creating, mounting, deleting). */
  private serial<T>(id: string, f: () => Promise<T>): Promise<T> {
    const prev = this.busy.get(id) ?? Promise.resolve();
    const next = prev.then(f, f);
    this.busy.set(
      id,
      next.catch(() => undefined),
    );
    return next;
  }

  private async meta(id: string): Promise<Meta | null> {
    try {
      return JSON.parse(await readFile(path.join(this.home(id), 'meta.json'), 'utf8')) as Meta;
    } catch {
      return null;
    }
  }

  /** The volumes provisioned here (their ids). */
  async list(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((n) => ID.test(n)).sort();
    } catch {
      return [];
    }
  }

  /**
   * Makes the volume exist and be mounted: creates its image the first time (sparse: disk is
   * used as it is written), remounts it after an agent restart or a reboot. A volume provisioned
   * before whose image is gone is lost (VolumeLostError).
   */
  async ensure(v: VolumeInfo): Promise<string> {
    this.check(v.id);
    return this.serial(v.id, async () => {
      const home = this.home(v.id);
      const image = this.imageOf(v.id);
      const m = await this.meta(v.id);
      if (m && !existsSync(image)) throw new VolumeLostError(v.id, 'its image file is gone');
      if (!m) {
        await mkdir(home, { recursive: true, mode: 0o700 });
        const fsBytes = v.sizeMiB * 1024 * 1024;
        const f = await open(image, 'w', 0o600);
        try {
          await f.truncate(fsBytes + (v.seal ? CANARY_REGION_BYTES : 0));
        } finally {
          await f.close();
        }
        // no reserved blocks: the owner gets every block of the size they pay for; the
        // filesystem is exactly the size paid for (the canaries are not part of it)
        await run('mkfs.ext4', ['-q', '-F', '-m', '0', '-L', v.id.slice(0, 16), image, `${v.sizeMiB}M`]);
        // the canaries after the filesystem: the loop device ends before them (sizelimit), so
        // nothing the user writes reaches them; only the host can lose them
        if (v.seal) {
          const blocks = await sealCanaries(v.seal.container, v.id, v.seal.iterations);
          const g = await open(image, 'r+');
          try {
            await g.write(Buffer.concat(blocks), 0, CANARY_REGION_BYTES, fsBytes);
          } finally {
            await g.close();
          }
        }
        const meta: Meta = { id: v.id, sizeMiB: v.sizeMiB, createdAt: this.now() };
        if (v.seal) meta.canaries = true;
        await writeFile(path.join(home, 'meta.json'), JSON.stringify(meta), { mode: 0o600 });
      }
      const mnt = this.mountOf(v.id);
      await mkdir(this.mountRoot, { recursive: true, mode: 0o711 });
      await mkdir(mnt, { recursive: true, mode: 0o700 });
      if (!(await isMounted(mnt))) {
        try {
          const limit = v.sizeMiB * 1024 * 1024;
          await run('mount', ['-o', `loop,sizelimit=${limit},nosuid,nodev`, image, mnt]);
        } catch (e) {
          throw new VolumeLostError(v.id, `its image does not mount: ${(e as Error).message}`);
        }
      }
      return mnt;
    });
  }

  /**
   * The canary blocks `indices` of a volume, read from its image (a storage challenge's answer is
   * made of them). Throws VolumeLostError when the image is gone or too short, and NOT_FOUND for a
   * volume provisioned without canaries (before its network proved volumes).
   */
  async readCanaries(id: string, indices: readonly number[]): Promise<Buffer[]> {
    this.check(id);
    const m = await this.meta(id);
    if (!m) throw new AethirError('NOT_FOUND', `volume ${id} is not provisioned on this host`);
    if (!m.canaries) throw new AethirError('NOT_FOUND', `volume ${id} has no canary blocks`);
    let f;
    try {
      f = await open(this.imageOf(id), 'r');
    } catch {
      throw new VolumeLostError(id, 'its image file is gone');
    }
    try {
      const base = m.sizeMiB * 1024 * 1024;
      const out: Buffer[] = [];
      for (const i of indices) {
        const b = Buffer.alloc(CANARY_BLOCK_BYTES);
        const { bytesRead } = await f.read(b, 0, CANARY_BLOCK_BYTES, base + i * CANARY_BLOCK_BYTES);
        if (bytesRead !== CANARY_BLOCK_BYTES) throw new VolumeLostError(id, 'its image is cut short');
        out.push(b);
      }
      return out;
    } finally {
      await f.close();
    }
  }

  /**
   * Hands the mounted volume's tree to `uid` (the lease about to write it): every entry owned by
   * another uid is chowned (links themselves, never followed). The tree stays 0700 to others.
   */
  async handTo(id: string, uid: number, gid = uid): Promise<void> {
    this.check(id);
    await chownTree(this.mountOf(id), uid, gid);
  }

  /**
   * Takes the volume's one writer slot for `lease` (a lock file created exclusively); throws
   * CONFLICT naming the writer. Returns its release.
   */
  async takeWriter(id: string, lease: string): Promise<() => Promise<void>> {
    this.check(id);
    const lock = path.join(this.home(id), 'writer');
    try {
      const f = await open(lock, 'wx', 0o600);
      await f.writeFile(lease);
      await f.close();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = (await readFile(lock, 'utf8').catch(() => '?')).trim();
      if (holder !== lease)
        throw new AethirError(
          'CONFLICT',
          `volume ${id} already has a writer (lease ${holder}): one writer at a time`,
        );
    }
    return async () => {
      const holder = (await readFile(lock, 'utf8').catch(() => '')).trim();
      if (holder === lease) await rm(lock, { force: true });
    };
  }

  /** Drops writer locks whose leases are not in `live` (after an agent restart). */
  async clearWriters(live: ReadonlySet<string>): Promise<void> {
    for (const id of await this.list()) {
      const lock = path.join(this.home(id), 'writer');
      const holder = (await readFile(lock, 'utf8').catch(() => '')).trim();
      if (holder && !live.has(holder)) await rm(lock, { force: true });
    }
  }

  /** Bytes used and free on a mounted volume. */
  usage(id: string): { usedBytes: number; freeBytes: number; totalBytes: number } {
    const s = statfsSync(this.mountOf(id));
    return {
      totalBytes: s.blocks * s.bsize,
      freeBytes: s.bavail * s.bsize,
      usedBytes: (s.blocks - s.bfree) * s.bsize,
    };
  }

  /**
   * Calls `onFull` once when the volume is full: ext4 refuses writes (ENOSPC) while it still
   * counts a few blocks free (held back for metadata and delayed allocation: 419 KiB of a
   * 16 MiB image here), so "full" is less than `fullMargin` free. Only a volume being filled
   * fires (its use grew since the last check, or since `usedBefore`, the bytes used when the
   * writer was attached): a writer that starts on a full volume may free space. Checks every
   * `everyMs`; returns the stop.
   */
  watchFull(id: string, onFull: () => void, everyMs = 250, usedBefore?: number): () => void {
    let prev = usedBefore ?? this.usedOr(id, Number.MAX_SAFE_INTEGER);
    const t = setInterval(() => {
      let u: ReturnType<VolumeStore['usage']>;
      try {
        u = this.usage(id);
      } catch {
        return;
      }
      const grew = u.usedBytes > prev;
      prev = u.usedBytes;
      if (grew && u.freeBytes < fullMargin(u.totalBytes)) {
        clearInterval(t);
        onFull();
      }
    }, everyMs);
    t.unref();
    return () => clearInterval(t);
  }

  /** Bytes used on a mounted volume (`fallback` when it cannot be read). */
  usedOr(id: string, fallback: number): number {
    try {
      return this.usage(id).usedBytes;
    } catch {
      return fallback;
    }
  }

  /** Unmounts and deletes a volume's data for good. */
  async remove(id: string): Promise<void> {
    this.check(id);
    return this.serial(id, async () => {
      const mnt = this.mountOf(id);
      if (await isMounted(mnt)) await run('umount', [mnt]).catch(() => run('umount', ['-l', mnt]));
      await rm(mnt, { recursive: true, force: true });
      await rm(this.home(id), { recursive: true, force: true });
    });
  }

  /** Unmounts every volume (the agent stopping; the images stay) and removes the empty mount points. */
  async unmountAll(): Promise<void> {
    for (const id of await this.list()) {
      const mnt = this.mountOf(id);
      if (await isMounted(mnt)) await run('umount', [mnt]).catch(() => run('umount', ['-l', mnt]));
      if (!(await isMounted(mnt))) await rmdir(mnt).catch(() => undefined);
    }
    await rmdir(this.mountRoot).catch(() => undefined);
  }
}

/** Whether this host can keep volumes: root (to mount), mkfs.ext4 and loop devices. */
export function canKeepVolumes(): { ok: true } | { ok: false; why: string } {
  if (typeof process.geteuid !== 'function' || process.geteuid() !== 0)
    return { ok: false, why: 'volumes need root (loop mounts)' };
  if (!existsSync('/dev/loop-control')) return { ok: false, why: 'no loop devices (/dev/loop-control)' };
  const mkfs = ['/usr/sbin/mkfs.ext4', '/sbin/mkfs.ext4', '/usr/bin/mkfs.ext4'].some((p) => existsSync(p));
  if (!mkfs)
    return { ok: false, why: 'mkfs.ext4 is not installed (Debian/Ubuntu: apt-get install e2fsprogs)' };
  return { ok: true };
}

/** Where a host's volumes are mounted: outside its private data directory (as lease directories). */
export function defaultVolumeMountRoot(dataDir: string): string {
  return path.join(
    '/var/lib/aethir/volumes',
    createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 12),
  );
}
