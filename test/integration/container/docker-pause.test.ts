import { describe, expect, it } from 'vitest';
import type { RunningWorkload } from '../../../src/container/runtimes/runtime.js';
import { collect, engine, newRuntime, spec, text, useEngine, waitRunning } from './docker-helpers.js';

useEngine();

const idOf = (w: RunningWorkload) => (w as RunningWorkload & { containerId: string }).containerId;

/**
 * A paused lease on the Docker runtime (its escrow ran out): kill with keepFiles freezes the
 * container (its processes stop, its tmpfs files and memory stay), a start with reuseFiles thaws it
 * where it stopped, and removeFiles (the grace period ended, or the lease closed) removes it.
 */
describe('DockerRuntime: a paused lease is frozen, not destroyed', () => {
  it('freezes on kill with keepFiles, thaws on the next start with reuseFiles, files and process intact', async () => {
    const rt = newRuntime();
    // a counter the process keeps in memory and in a file of its working directory (a tmpfs)
    const s = spec([
      'sh',
      '-c',
      'echo kept > f; i=0; while true; do i=$((i+1)); echo "$i" > n; echo "tick $i"; sleep 0.2; done',
    ]);
    const w = await rt.start(s);
    await waitRunning(w);
    const id = idOf(w);
    const early = live(w);
    for (let i = 0; i < 100 && !early.stdout().includes('tick 3'); i++)
      await new Promise((r) => setTimeout(r, 100));
    await w.kill('its escrow ran out: paused', { keepFiles: true });
    const exit = await w.exited;
    expect(exit).toMatchObject({ type: 'exit', reason: 'killed', exitCode: null });
    const inspect = (await engine('GET', `/containers/${id}/json`)).json;
    expect(inspect.State.Paused).toBe(true);
    const before = text(await collect(w), 'stdout');
    const last = Number(/tick (\d+)\n$/.exec(before)![1]);

    // frozen: nothing runs (the counter file does not move)
    await new Promise((r) => setTimeout(r, 700));
    const resumed = await rt.start({ ...s, reuseFiles: true });
    expect(idOf(resumed)).toBe(id);
    const later = live(resumed);
    const session = await resumed.exec!({ command: ['sh', '-c', 'cat f'] });
    let seen = '';
    session.onData((_stream, d) => (seen += d.toString()));
    await session.exited;
    expect(seen).toBe('kept\n');
    // the same process goes on counting from where it stopped; the old output is not replayed
    let after = '';
    for (let i = 0; i < 100 && !/tick \d+\n/.test(after); i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = later.stdout();
    }
    const first = Number(/tick (\d+)/.exec(after)![1]);
    expect(first).toBe(last + 1);
    expect(after).not.toContain('tick 1\n');
    await resumed.kill();
    await resumed.exited;
    expect((await engine('GET', `/containers/${id}/json`)).status).toBe(404);
  });

  it('removeFiles removes a frozen container; a start without reuseFiles does not thaw it', async () => {
    const rt = newRuntime();
    const s = spec(['sleep', '1000']);
    const w = await rt.start(s);
    await waitRunning(w);
    const id = idOf(w);
    await w.kill('paused', { keepFiles: true });
    expect((await engine('GET', `/containers/${id}/json`)).json.State.Paused).toBe(true);
    await rt.removeFiles(s.leaseId);
    expect((await engine('GET', `/containers/${id}/json`)).status).toBe(404);
    await rt.removeFiles(s.leaseId); // nothing left: no error
  });
});

/** The workload's stdout (replayed from its start, then as it comes). */
function live(w: RunningWorkload): { stdout: () => string } {
  let out = '';
  void (async () => {
    for await (const e of w.events()) if (e.type === 'stdout') out += e.data;
  })();
  return { stdout: () => out };
}
