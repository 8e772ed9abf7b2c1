import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHECKPOINT_TARGET } from '../../../src/container/runtimes/docker.js';
import { collect, newRuntime, spec, text, useEngine, waitRunning } from './docker-helpers.js';

useEngine();

/**
 * An interruptible lease on a Docker host: its checkpoint directory is bound in (the workload
 * sees it at $AETHIR_CHECKPOINT_DIR, not the host's path), it gets SIGTERM with the preemption
 * notice as the stop grace, what it wrote stays on the host after the container is gone, and the
 * lease's disk quota covers the directory too.
 */
describe('the Docker runtime keeps an interruptible lease’s checkpoint', () => {
  const dirs: string[] = [];
  const hostDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'aethir-ckpt-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('SIGTERM with the notice as grace: the workload checkpoints, the file outlives the container', async () => {
    const dir = hostDir();
    const rt = newRuntime();
    // busybox sh: on TERM it takes 2 s (more than the runtime's own 1 s grace) to write its checkpoint
    const w = await rt.start(
      spec(
        [
          'sh',
          '-c',
          'trap \'sleep 2; echo "step 42" > "$AETHIR_CHECKPOINT_DIR/ckpt.txt"; exit 0\' TERM; echo "dir=$AETHIR_CHECKPOINT_DIR"; while true; do sleep 0.1; done',
        ],
        { env: { AETHIR_CHECKPOINT_DIR: dir }, writablePaths: [dir] },
      ),
    );
    await waitRunning(w);
    await new Promise((r) => setTimeout(r, 500));
    await w.kill('preempted', { graceMs: 6_000 });
    const events = await collect(w);
    // the tenant sees the directory where it is bound, never the host's path
    expect(text(events, 'stdout')).toContain(`dir=${CHECKPOINT_TARGET}\n`);
    expect(text(events, 'stdout')).not.toContain(dir);
    expect(readFileSync(join(dir, 'ckpt.txt'), 'utf8')).toBe('step 42\n');
  }, 60_000);

  it('a checkpoint over the lease’s disk quota stops the workload, saying so', async () => {
    const dir = hostDir();
    const w = await newRuntime().start(
      spec(
        ['sh', '-c', 'dd if=/dev/zero of="$AETHIR_CHECKPOINT_DIR/big" bs=1M count=3 2>/dev/null; sleep 30'],
        {
          env: { AETHIR_CHECKPOINT_DIR: dir },
          writablePaths: [dir],
          limits: { diskMiB: 2, wallSeconds: 60 },
        },
      ),
    );
    const exit = await w.exited;
    expect(exit).toMatchObject({ reason: 'timeout', limit: 'diskMiB' });
    expect(exit.message).toMatch(/disk quota of 2 MiB exceeded in its checkpoint directory/);
    expect(existsSync(join(dir, 'big'))).toBe(true);
  }, 60_000);
});
