import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AethirError } from '../../../../src/core/errors.js';
import { HostProcessRuntime } from '../../../../src/container/runtimes/host-process.js';
import type {
  RunningWorkload,
  WorkloadEvent,
  WorkloadSpec,
} from '../../../../src/container/runtimes/runtime.js';

// Real processes throughout. Nothing below sleeps a fixed amount: we poll for the condition with a
// generous deadline, so a slow or loaded machine only makes the tests slower, not flaky.
const SLOW = 60_000;

const hasPrlimit = new HostProcessRuntime({ baseDir: os.tmpdir() }).limitEnforcer === 'prlimit';

let baseDir: string;
let runtime: HostProcessRuntime;
const runtimes: HostProcessRuntime[] = [];

function newRuntime(
  opts: Partial<ConstructorParameters<typeof HostProcessRuntime>[0]> = {},
): HostProcessRuntime {
  const rt = new HostProcessRuntime({ baseDir, ...opts });
  runtimes.push(rt);
  return rt;
}

beforeEach(async () => {
  baseDir = await mkdtemp(path.join(os.tmpdir(), 'aethir-hostproc-'));
  runtime = newRuntime();
});

afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((rt) => rt.stopAll()));
  await rm(baseDir, { recursive: true, force: true });
});

function spec(leaseId: string, command: string[], extra: Partial<WorkloadSpec> = {}): WorkloadSpec {
  return { leaseId, command, gpuIndices: [], ...extra };
}

async function collect(w: RunningWorkload): Promise<WorkloadEvent[]> {
  const events: WorkloadEvent[] = [];
  for await (const e of w.events()) events.push(e);
  return events;
}

function text(events: WorkloadEvent[], type: 'stdout' | 'stderr'): string {
  return events.map((e) => (e.type === type ? e.data : '')).join('');
}

/** Reads stdout (replayed from the start) until `re` matches; returns the match. */
async function readUntil(w: RunningWorkload, re: RegExp): Promise<RegExpMatchArray> {
  let out = '';
  for await (const e of w.events()) {
    if (e.type === 'stdout') out += e.data;
    const m = out.match(re);
    if (m) return m;
    if (e.type === 'exit') break;
  }
  throw new Error(`workload exited before stdout matched ${re}: ${JSON.stringify(out)}`);
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  // A zombie is dead but still answers kill(pid, 0) until its parent reaps it; once orphaned, that
  // parent is this machine's init, which the test does not control (some container inits never reap).
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

const NODE_ENV_DUMP = ['node', '-e', 'process.stdout.write(JSON.stringify(process.env))'];

describe('HostProcessRuntime', () => {
  it('streams stdout and stderr and reports the exit code', async () => {
    const w = await runtime.start(
      spec('lease-1', ['node', '-e', 'console.log(6*7); console.error("oops"); process.exit(3)']),
    );
    expect(runtime.name).toBe('host-process');
    expect(typeof w.pid).toBe('number');
    const events = await collect(w);
    expect(text(events, 'stdout')).toBe('42\n');
    expect(text(events, 'stderr')).toBe('oops\n');
    const exit = events.at(-1);
    expect(exit).toMatchObject({ type: 'exit', exitCode: 3, signal: null, reason: 'exited' });
    expect(events.filter((e) => e.type === 'exit')).toHaveLength(1);
    expect(await w.exited).toBe(exit);
  });

  it('replays buffered events to late readers and delivers live ones to listeners', async () => {
    const seen: WorkloadEvent[] = [];
    const w = await runtime.start(
      spec('replay', ['node', '-e', 'setTimeout(() => console.log("late"), 100)']),
    );
    const unsubscribe = w.onEvent((e) => seen.push(e));
    await w.exited;
    unsubscribe();
    expect(text(seen, 'stdout')).toBe('late\n');
    expect(seen.at(-1)?.type).toBe('exit');
    // Two independent replays after the fact both see everything, ending with 'exit'.
    const [a, b] = await Promise.all([collect(w), collect(w)]);
    expect(a).toEqual(b);
    expect(text(a, 'stdout')).toBe('late\n');
    expect(a.at(-1)?.type).toBe('exit');
  });

  it('keeps multibyte UTF-8 characters intact when split across chunks', async () => {
    // "€" is E2 82 AC; write it in two pieces with a pause so the pipe delivers separate chunks.
    const script =
      'process.stdout.write(Buffer.from([0xe2, 0x82]));' +
      'setTimeout(() => process.stdout.write(Buffer.from([0xac, 0x0a])), 100);';
    const events = await collect(await runtime.start(spec('utf8', ['node', '-e', script])));
    const chunks = events.flatMap((e) => (e.type === 'stdout' ? [e.data] : []));
    expect(chunks.join('')).toBe('€\n');
    for (const c of chunks) expect(c).not.toContain('\uFFFD');
  });

  it('gives the workload its lease env on a minimal base, not the agent env', async () => {
    process.env.AETHIR_TEST_AGENT_SECRET = 'agent-only';
    try {
      const w = await runtime.start(
        spec('env-lease', NODE_ENV_DUMP, {
          gpuIndices: [0, 2],
          port: 8123,
          // The allocation variables are the runtime's, a user cannot widen them.
          env: { MY_VAR: 'hello world', CUDA_VISIBLE_DEVICES: '0,1,2,3' },
        }),
      );
      const env = JSON.parse(text(await collect(w), 'stdout')) as Record<string, string>;
      expect(env).toMatchObject({
        AETHIR_LEASE_ID: 'env-lease',
        AETHIR_PORT: '8123',
        CUDA_VISIBLE_DEVICES: '0,2',
        MY_VAR: 'hello world',
        HOME: w.workdir,
        LANG: expect.any(String),
        TERM: expect.any(String),
        PATH: expect.any(String),
      });
      expect(env.AETHIR_TEST_AGENT_SECRET).toBeUndefined();
    } finally {
      delete process.env.AETHIR_TEST_AGENT_SECRET;
    }
  });

  it('runs in a fresh per-lease directory that is removed after exit', async () => {
    // Leftovers from an earlier (crashed) run of the same lease must not be visible.
    const stale = path.join(baseDir, 'cwd-lease');
    await mkdir(stale);
    await writeFile(path.join(stale, 'old'), 'x');
    const script = `
      const fs = require('fs');
      console.log(process.cwd());
      console.log(fs.readdirSync('.').length);
      fs.writeFileSync('out.bin', 'data');
      fs.mkdirSync('ro/deep', { recursive: true });
      fs.writeFileSync('ro/deep/f', 'x');
      fs.chmodSync('ro/deep', 0o500);
      fs.chmodSync('ro', 0o500);`;
    const w = await runtime.start(spec('cwd-lease', ['node', '-e', script]));
    expect(w.workdir).toBe(path.join(baseDir, 'cwd-lease'));
    const events = await collect(w);
    const [cwd, count] = text(events, 'stdout').trim().split('\n');
    expect(cwd).toBe(path.join(realpathSync(baseDir), 'cwd-lease'));
    expect(count).toBe('0');
    expect(events.at(-1)).toMatchObject({ type: 'exit', exitCode: 0, reason: 'exited' });
    expect((events.at(-1) as { message?: string }).message).toBeUndefined();
    // Gone by the time 'exit' is observable, even with read-only subdirectories inside.
    expect(existsSync(w.workdir)).toBe(false);
  });

  it('kill() stops the whole process group, grandchildren included', async () => {
    const w = await runtime.start(spec('kill-tree', ['sh', '-c', 'sleep 300 & echo $!; wait']));
    const grandchild = Number((await readUntil(w, /^(\d+)\n/m))[1]);
    expect(isGone(grandchild)).toBe(false);
    await w.kill('test says stop');
    expect(await w.exited).toMatchObject({
      reason: 'killed',
      message: expect.stringContaining('test says stop'),
    });
    await waitFor(() => isGone(grandchild), `grandchild ${grandchild} to die`);
    expect(() => process.kill(w.pid!, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    expect(existsSync(w.workdir)).toBe(false);
  });

  it('escalates to SIGKILL when the workload ignores SIGTERM', async () => {
    const rt = newRuntime({ killGraceMs: 200 });
    const w = await rt.start(
      spec('stubborn', [
        'node',
        '-e',
        'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000); console.log("ready")',
      ]),
    );
    await readUntil(w, /ready/);
    await w.kill();
    expect(await w.exited).toMatchObject({ reason: 'killed', signal: 'SIGKILL', exitCode: null });
  });

  it('cleans up background processes left behind when the main process exits', async () => {
    // sh exits at once; the background sleep still holds stdout and would otherwise outlive the lease.
    const w = await runtime.start(spec('leftover', ['sh', '-c', 'sleep 300 & echo $!']));
    const grandchild = Number((await readUntil(w, /^(\d+)\n/m))[1]);
    expect(await w.exited).toMatchObject({ reason: 'exited', exitCode: 0 });
    await waitFor(() => isGone(grandchild), `leftover ${grandchild} to die`);
  });

  it('stops a workload that exceeds its wall-clock limit', async () => {
    const w = await runtime.start(spec('wall', ['sleep', '300'], { limits: { wallSeconds: 0.5 } }));
    expect(await w.exited).toMatchObject({
      type: 'exit',
      reason: 'timeout',
      limit: 'wallSeconds',
      signal: 'SIGTERM',
    });
    expect(existsSync(w.workdir)).toBe(false);
  });

  describe.each([
    { enforcer: 'prlimit' as const, prlimitPath: undefined, skip: !hasPrlimit },
    { enforcer: 'ulimit' as const, prlimitPath: null, skip: false },
  ])('resource limits via $enforcer', ({ enforcer, prlimitPath, skip }) => {
    it.skipIf(skip)(
      'stops a busy loop that exceeds its CPU-seconds limit',
      async () => {
        const rt = newRuntime({ prlimitPath });
        expect(rt.limitEnforcer).toBe(enforcer);
        // The wall limit is only a safety net: if the CPU limit failed, reason would say wallSeconds.
        const w = await rt.start(
          spec('cpu-hog', ['node', '-e', 'for (;;) {}'], { limits: { cpuSeconds: 1, wallSeconds: 50 } }),
        );
        const exit = await w.exited;
        expect(exit).toMatchObject({ reason: 'timeout', limit: 'cpuSeconds', signal: 'SIGXCPU' });
      },
      SLOW,
    );

    it.skipIf(skip)(
      'makes allocations beyond the memory limit fail, while smaller ones work',
      async () => {
        const rt = newRuntime({ prlimitPath });
        const alloc = (mib: number) => [
          'node',
          '-e',
          `Buffer.alloc(${mib} * 1024 * 1024, 1); console.log("ok")`,
        ];
        const limits = { memoryMiB: 256 };
        const small = await collect(await rt.start(spec('mem-small', alloc(32), { limits })));
        expect(small.at(-1)).toMatchObject({ reason: 'exited', exitCode: 0 });
        expect(text(small, 'stdout')).toBe('ok\n');
        const big = await collect(await rt.start(spec('mem-big', alloc(1024), { limits })));
        expect(text(big, 'stdout')).toBe('');
        expect(big.at(-1)).toMatchObject({ reason: 'exited' });
        expect(big.at(-1)).not.toMatchObject({ exitCode: 0 });
      },
      SLOW,
    );
  });

  it('reports a missing binary as a start-failed exit, not an error', async () => {
    const w = await runtime.start(spec('missing', ['aethir-no-such-binary-xyz', '--flag']));
    expect(w.pid).toBeUndefined();
    const events = await collect(w);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'exit',
      reason: 'start-failed',
      exitCode: 127,
      signal: null,
      message: expect.stringContaining('aethir-no-such-binary-xyz'),
    });
    expect(existsSync(w.workdir)).toBe(false);
    await w.kill(); // harmless after the fact

    const relative = await runtime.start(spec('missing-rel', ['./nope']));
    expect(await relative.exited).toMatchObject({ reason: 'start-failed', exitCode: 127 });

    // A file that exists but is not executable is "cannot execute", as in a shell.
    const notExec = await runtime.start(spec('not-exec', ['/etc/passwd']));
    expect(await notExec.exited).toMatchObject({ reason: 'start-failed', exitCode: 126 });
  });

  it('gives concurrent leases exactly their own GPUs', async () => {
    const gpus = 'process.stdout.write(JSON.stringify(process.env.CUDA_VISIBLE_DEVICES))';
    const [a, b, none] = await Promise.all([
      runtime.start(spec('lease-a', ['node', '-e', gpus], { gpuIndices: [0, 1] })),
      runtime.start(spec('lease-b', ['node', '-e', gpus], { gpuIndices: [3, 2] })),
      runtime.start(spec('lease-cpu', ['node', '-e', gpus], { gpuIndices: [] })),
    ]);
    const out = async (w: RunningWorkload) => text(await collect(w), 'stdout');
    const [outA, outB, outNone] = await Promise.all([out(a), out(b), out(none)]);
    expect(JSON.parse(outA)).toBe('0,1');
    expect(JSON.parse(outB)).toBe('3,2');
    // Set but empty means "no GPU" to CUDA; unset would mean "all GPUs".
    expect(JSON.parse(outNone)).toBe('');
  });

  it('rejects invalid lease ids and specs with INVALID_ARGUMENT', async () => {
    for (const leaseId of ['', '../escape', 'a/b', 'has space', 'dot.ted', 'x'.repeat(129)]) {
      await expect(runtime.start(spec(leaseId, ['true']))).rejects.toMatchObject({
        name: 'AethirError',
        code: 'INVALID_ARGUMENT',
      });
    }
    const bad: WorkloadSpec[] = [
      spec('ok', []),
      spec('ok', ['true'], { gpuIndices: [-1] }),
      spec('ok', ['true'], { gpuIndices: [1, 1] }),
      spec('ok', ['true'], { port: 70000 }),
      spec('ok', ['true'], { port: 40000, workloadPort: 0 }),
      spec('ok', ['true'], { port: 40000, workloadPort: 65536 }),
      spec('ok', ['true'], { workloadPort: 8888 }),
      spec('ok', ['true'], { env: { 'A=B': 'x' } }),
      spec('ok', ['true'], { limits: { cpuSeconds: 0.5 } }),
      spec('ok', ['true'], { limits: { wallSeconds: -1 } }),
    ];
    for (const s of bad) await expect(runtime.start(s)).rejects.toBeInstanceOf(AethirError);
    expect(existsSync(path.join(baseDir, '..', 'escape'))).toBe(false);
  });

  it("without a sandbox a lease's own port is refused: it would be a port of the host's", async () => {
    await expect(
      runtime.start(spec('own', ['true'], { port: 40000, workloadPort: 22 })),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/needs the lease sandbox/),
    });
    expect(existsSync(path.join(baseDir, 'own'))).toBe(false);
  });

  it('refuses a second workload for a running lease, and accepts it after exit', async () => {
    const w = await runtime.start(spec('dup', ['sleep', '300']));
    await expect(runtime.start(spec('dup', ['true']))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await w.kill();
    const again = await runtime.start(spec('dup', ['true']));
    expect(await again.exited).toMatchObject({ reason: 'exited', exitCode: 0 });
  });

  it('stopAll() kills every running workload', async () => {
    const ws = await Promise.all(['s1', 's2', 's3'].map((id) => runtime.start(spec(id, ['sleep', '300']))));
    await runtime.stopAll();
    for (const w of ws) {
      expect(await w.exited).toMatchObject({ reason: 'killed' });
      expect(existsSync(w.workdir)).toBe(false);
    }
  });
});

describe('kept files (a paused lease)', () => {
  it('a keepFiles kill keeps the working directory; reuseFiles starts in it; removeFiles removes it', async () => {
    const first = await runtime.start(
      spec('keep-1', [
        'sh',
        '-c',
        'echo state > kept.txt; mkdir -p sub; echo deep > sub/f; echo ready; sleep 60',
      ]),
    );
    await readUntil(first, /ready/);
    await first.kill('paused', { keepFiles: true });
    expect(readFileSync(path.join(first.workdir, 'kept.txt'), 'utf8')).toBe('state\n');
    const again = await runtime.start(
      spec('keep-1', ['sh', '-c', 'cat kept.txt sub/f; echo more >> kept.txt && cat kept.txt'], {
        reuseFiles: true,
      }),
    );
    const events = await collect(again);
    expect(text(events, 'stdout')).toBe('state\ndeep\nstate\nmore\n');
    // an ordinary end removes them; so does removeFiles for what a paused lease kept
    expect(existsSync(again.workdir)).toBe(false);
    const third = await runtime.start(spec('keep-2', ['sh', '-c', 'echo x > f; echo ready; sleep 60']));
    await readUntil(third, /ready/);
    await third.kill('paused', { keepFiles: true });
    expect(existsSync(path.join(third.workdir, 'f'))).toBe(true);
    await runtime.removeFiles('keep-2');
    expect(existsSync(third.workdir)).toBe(false);
  });

  it('without reuseFiles a start is fresh, and removeFiles refuses a running lease or a bad id', async () => {
    const a = await runtime.start(spec('keep-3', ['sh', '-c', 'echo x > f; echo ready; sleep 60']));
    await readUntil(a, /ready/);
    await runtime.removeFiles('keep-3'); // running: left alone
    expect(existsSync(path.join(a.workdir, 'f'))).toBe(true);
    await runtime.removeFiles('../keep-3');
    await a.kill('paused', { keepFiles: true });
    const b = await runtime.start(spec('keep-3', ['sh', '-c', 'ls']));
    expect(text(await collect(b), 'stdout')).toBe('');
  });
});
