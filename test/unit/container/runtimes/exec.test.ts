/**
 * A second process in a running lease (shell, exec, cp's tar) runs INSIDE the lease's sandbox:
 * its uid, its namespaces (it sees the workload's pid 1 and files, not the host's), its cgroup
 * (it is ended with the lease). Real bubblewrap, nsenter and node-pty.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostProcessRuntime, endedByLease } from '../../../../src/container/runtimes/host-process.js';
import type { ExecSession } from '../../../../src/container/runtimes/exec.js';
import { describeMissing, probeSandbox } from '../../../../src/container/runtimes/sandbox.js';

const probe = await probeSandbox({ uidBase: 236_000 });
const skipWhy = probe.ok ? '' : ` (skipped: ${describeMissing(probe.requirements)})`;
// the sandbox needs a lease directory other uids can traverse (not under a 0700 temp dir)
const tmp = join('/var/lib/aethir-test', `exec-${process.pid}`);
const runtimes: HostProcessRuntime[] = [];
afterAll(async () => {
  await Promise.all(runtimes.map((r) => r.stopAll()));
  rmSync(tmp, { recursive: true, force: true });
});

function collect(s: ExecSession): { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  s.onData((stream, d) => (stream === 'stdout' ? (out += d.toString()) : (err += d.toString())));
  return { out: () => out, err: () => err };
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!probe.ok)(`exec into a sandboxed lease${skipWhy}`, () => {
  const rt = () => {
    const r = new HostProcessRuntime({
      baseDir: join(tmp, 'sb'),
      sandbox: probe.ok ? probe.setup : undefined!,
      killGraceMs: 500,
    });
    runtimes.push(r);
    return r;
  };

  it("runs as the lease's uid in its namespaces and working directory, with its files; exit code passes through", async () => {
    const r = rt();
    const w = await r.start({
      leaseId: 'exec-a',
      command: ['sh', '-c', 'echo secret > mine.txt; sleep 30'],
      gpuIndices: [],
    });
    await until(() => {
      try {
        return readFileSync(join(w.workdir, 'mine.txt'), 'utf8') === 'secret\n';
      } catch {
        return false;
      }
    });
    const s = await w.exec!({
      command: [
        'sh',
        '-c',
        'id -u; pwd; cat mine.txt; ls /proc | grep -c "^[0-9]"; ls /root 2>&1 >/dev/null | head -c 0; test -e /root; echo root=$?; exit 7',
      ],
    });
    const o = collect(s);
    const exit = await s.exited;
    const lines = o.out().trim().split('\n');
    const workloadUid = statSync(w.workdir).uid;
    expect(lines[0]).toBe(String(workloadUid));
    expect(lines[1]).toBe(w.workdir);
    expect(lines[2]).toBe('secret');
    // only the lease's own processes: its pid 1, the workload, and this exec's (sh, ls, grep)
    expect(Number(lines[3])).toBeLessThan(8);
    expect(lines[4]).toBe('root=1');
    expect(exit).toEqual({ exitCode: 7, signal: null });
    await w.kill();
  });

  it('a terminal: its size, Ctrl-C interrupts the foreground program, the shell goes on, exit code', async () => {
    const r = rt();
    const w = await r.start({ leaseId: 'exec-b', command: ['sleep', '30'], gpuIndices: [] });
    await until(() => (w as unknown as { enter?: unknown }).enter !== undefined);
    const s = await w.exec!({ command: ['sh'], tty: { cols: 93, rows: 31 } });
    const o = collect(s);
    s.write(Buffer.from('stty size\n'));
    await until(() => o.out().includes('31 93'));
    s.resize(120, 40);
    s.write(Buffer.from('stty size\n'));
    await until(() => o.out().includes('40 120'));
    s.write(Buffer.from('sleep 20 && echo not-interrupted\n'));
    await new Promise((res) => setTimeout(res, 300));
    s.write(Buffer.from('\x03'));
    s.write(Buffer.from('echo after-$((40+2))\n'));
    await until(() => o.out().includes('after-42'));
    expect(o.out()).not.toMatch(/^not-interrupted/m); // (the echoed command line has it, not a line of its own)
    s.write(Buffer.from('exit 3\n'));
    const ex = await s.exited;
    expect(ex, o.out()).toEqual({ exitCode: 3, signal: null });
    await w.kill();
  });

  it('what an exec started ends with the lease (it is in the lease cgroup)', async () => {
    const r = rt();
    const w = await r.start({ leaseId: 'exec-c', command: ['sleep', '30'], gpuIndices: [] });
    await until(() => (w as unknown as { enter?: unknown }).enter !== undefined);
    const s = await w.exec!({ command: ['sleep', '61.5'] });
    const o = collect(s);
    await w.kill();
    const e = await s.exited;
    // ended when the lease ended, reported as the signal that ended it (SIGTERM to the lease, or
    // SIGKILL through its cgroup, also when the lease ended before the exec got inside: nsenter
    // then finds no namespaces and exits 1), and nothing of it is left
    expect(e.exitCode, o.err()).toBeNull();
    expect(['SIGTERM', 'SIGKILL']).toContain(e.signal);
    expect(spawnSync('pgrep', ['-f', 'sleep 61.5'], { encoding: 'utf8' }).stdout.trim()).toBe('');
    await expect(w.exec!({ command: ['true'] })).rejects.toThrow(/has ended/);
  });

  it('refuses bad requests', async () => {
    const r = rt();
    const w = await r.start({ leaseId: 'exec-d', command: ['sleep', '30'], gpuIndices: [] });
    await expect(w.exec!({ command: [] })).rejects.toThrow(/needs a command/);
    await expect(w.exec!({ command: ['sh'], tty: { cols: 0, rows: 10 } })).rejects.toThrow(/terminal size/);
    await expect(w.exec!({ command: ['a\0b'] })).rejects.toThrow(/invalid command/);
    await w.kill();
  });
});

describe('endedByLease: an exec the lease ended before it got inside reports the kill', () => {
  const fake = (exit: { exitCode: number | null; signal: string | null }, said: string) => {
    let listener: ((s: 'stdout' | 'stderr', d: Buffer) => void) | undefined;
    const session: ExecSession = {
      write: () => undefined,
      end: () => undefined,
      resize: () => undefined,
      signal: () => undefined,
      onData: (fn) => {
        listener = fn;
        fn('stderr', Buffer.from(said));
      },
      pause: () => undefined,
      resume: () => undefined,
      exited: Promise.resolve(exit),
      kill: () => undefined,
    };
    return { session, seen: () => listener !== undefined };
  };
  const NSENTER = 'nsenter: cannot open /proc/4242/ns/cgroup: No such file or directory\n';

  it('nsenter exits 1 because the lease is gone: SIGKILL', async () => {
    const f = fake({ exitCode: 1, signal: null }, NSENTER);
    const s = endedByLease(f.session, () => true);
    s.onData(() => undefined);
    expect(await s.exited).toEqual({ exitCode: null, signal: 'SIGKILL' });
  });

  it("the command's own exit 1, or a lease still running, or a real signal: unchanged", async () => {
    for (const [exit, said, ending] of [
      [{ exitCode: 1, signal: null }, 'my own error\n', true],
      [{ exitCode: 1, signal: null }, NSENTER, false],
      [{ exitCode: null, signal: 'SIGTERM' }, '', true],
      [{ exitCode: 0, signal: null }, NSENTER, true],
    ] as const) {
      const s = endedByLease(fake(exit, said).session, () => ending);
      s.onData(() => undefined);
      expect(await s.exited).toEqual(exit);
    }
  });
});
