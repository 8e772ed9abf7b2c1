/**
 * exec into a lease's running container through the Engine API (Podman's service): as the
 * container's user, with a terminal (size, Ctrl-C, exit code) or pipes (stdout/stderr apart,
 * stdin to EOF: what cp's tar needs).
 */
import { describe, expect, it } from 'vitest';
import type { ExecSession } from '../../../src/container/runtimes/exec.js';
import { newRuntime, spec, useEngine, waitRunning } from './docker-helpers.js';

function collect(s: ExecSession): { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  s.onData((stream, d) => (stream === 'stdout' ? (out += d.toString()) : (err += d.toString())));
  return { out: () => out, err: () => err };
}

async function until(cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('exec in a Docker-runtime lease', () => {
  useEngine();

  it("pipes: the container's user and files, stdout and stderr apart, stdin to EOF, the exit code", async () => {
    const rt = newRuntime();
    const w = await rt.start(spec(['sh', '-c', 'echo hello > note; sleep 30']));
    await waitRunning(w);
    const s = await w.exec!({ command: ['sh', '-c', 'id -u; cat note; wc -c; echo oops >&2; exit 5'] });
    const o = collect(s);
    s.write(Buffer.from('12345'));
    s.end();
    expect(await s.exited).toEqual({ exitCode: 5, signal: null });
    expect(
      o
        .out()
        .split('\n')
        .map((l) => l.trim()),
    ).toEqual(['65534', 'hello', '5', '']);
    expect(o.err()).toBe('oops\n');
    await w.kill();
    await expect(w.exec!({ command: ['true'] })).rejects.toThrow(/has ended/);
  });

  it('a terminal: size, resize, Ctrl-C to the foreground job, exit code', async () => {
    const rt = newRuntime();
    const w = await rt.start(spec(['sleep', '30']));
    await waitRunning(w);
    const s = await w.exec!({ command: ['sh'], tty: { cols: 93, rows: 31 } });
    const o = collect(s);
    s.write(Buffer.from('stty size\n'));
    await until(() => o.out().includes('31 93'));
    s.resize(120, 40);
    await new Promise((r) => setTimeout(r, 200));
    s.write(Buffer.from('stty size\n'));
    await until(() => o.out().includes('40 120'));
    s.write(Buffer.from('sleep 20 && echo not-interrupted\n'));
    await new Promise((r) => setTimeout(r, 300));
    s.signal('SIGINT');
    s.write(Buffer.from('echo after-$((40+2))\n'));
    await until(() => o.out().includes('after-42'));
    expect(o.out()).not.toMatch(/^not-interrupted/m);
    s.write(Buffer.from('exit 4\n'));
    expect(await s.exited).toEqual({ exitCode: 4, signal: null });
    await w.kill();
  });
});
