import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VolumeStore, canKeepVolumes } from '../src/container/volumes.js';
import { nowNs, row, type BenchOptions, type Row } from './harness.js';

/**
 * Persistent volumes on this machine (src/container/volumes.ts):
 *  - sequential write throughput (1 MiB writes, fsync at the end) into a loop-mounted ext4 volume
 *    vs. the same writes into a plain directory on the filesystem that holds the image;
 *  - bringing a volume up after an agent restart (mount of an existing image) vs. provisioning
 *    it the first time (sparse image, mkfs.ext4, mount), both for a 1 GiB volume.
 */
function writeMiB(dir: string, mib: number): number {
  const buf = Buffer.alloc(1 << 20, 7);
  const file = join(dir, `bench-${process.pid}`);
  const t0 = nowNs();
  const fd = openSync(file, 'w');
  for (let i = 0; i < mib; i++) writeSync(fd, buf);
  fsyncSync(fd);
  closeSync(fd);
  const s = Number(nowNs() - t0) / 1e9;
  rmSync(file);
  return mib / s;
}

export async function runVolumes(opts: BenchOptions): Promise<Row[]> {
  const can = canKeepVolumes();
  if (!can.ok) {
    opts.log(`volumes: skipped (${can.why})`);
    return [];
  }
  const base = mkdtempSync(join(tmpdir(), 'aethir-bench-vol-'));
  const store = new VolumeStore(join(base, 'images'), join(base, 'mnt'));
  const plain = join(base, 'plain');
  mkdirSync(plain);
  const rows: Row[] = [];
  try {
    const mib = opts.quick ? 64 : 256;
    const rounds = opts.quick ? 2 : 5;
    const t0 = nowNs();
    const mnt = await store.ensure({ id: 'Vbench1', sizeMiB: 1024 });
    const provisionMs = Number(nowNs() - t0) / 1e6;
    await store.unmountAll();
    const t1 = nowNs();
    await store.ensure({ id: 'Vbench1', sizeMiB: 1024 });
    const remountMs = Number(nowNs() - t1) / 1e6;
    const vol: number[] = [];
    const dir: number[] = [];
    // interleaved rounds, so drift in the machine's load hits both alike
    for (let i = 0; i < rounds; i++) {
      vol.push(writeMiB(mnt, mib));
      dir.push(writeMiB(plain, mib));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    rows.push(
      row({
        suite: 'volumes',
        name: `write ${mib} MiB into a loop-mounted volume (median of ${rounds})`,
        value: median(vol),
        unit: 'MiB/s',
        baseline: median(dir),
        baselineName: 'the same writes into a plain directory on the host filesystem',
        better: 'higher',
      }),
      row({
        suite: 'volumes',
        name: 'bring a 1 GiB volume up after an agent restart (mount)',
        value: remountMs,
        unit: 'ms',
        baseline: provisionMs,
        baselineName: 'provisioning it the first time (sparse image, mkfs.ext4, mount)',
        better: 'lower',
      }),
    );
  } finally {
    await store.unmountAll();
    rmSync(base, { recursive: true, force: true });
  }
  return rows;
}
