import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AethirError } from '../../../src/core/errors.js';
import { DockerRuntime } from '../../../src/container/runtimes/docker.js';
import type { RunningWorkload } from '../../../src/container/runtimes/runtime.js';
import {
  collect,
  engine,
  IMAGE,
  newRuntime,
  rejection,
  RUN,
  SOCKET,
  spec,
  text,
  useEngine,
  waitFor,
  waitRunning,
} from './docker-helpers.js';

useEngine();

describe('DockerRuntime against a real engine', () => {
  it('runs echo and streams its output, stdout and stderr apart', async () => {
    const rt = newRuntime();
    const w = await rt.start(spec(['echo', 'hello from a container']));
    const events = await collect(w);
    expect(text(events, 'stdout')).toBe('hello from a container\n');
    expect(events.at(-1)).toMatchObject({ type: 'exit', exitCode: 0, signal: null, reason: 'exited' });

    const w2 = await rt.start(spec(['sh', '-c', 'echo out; echo err >&2; echo "ünï ✓"']));
    const events2 = await collect(w2);
    expect(text(events2, 'stdout')).toBe('out\nünï ✓\n');
    expect(text(events2, 'stderr')).toBe('err\n');
  });

  it('propagates the exit code', async () => {
    const w = await newRuntime().start(spec(['sh', '-c', 'echo bye; exit 3']));
    const exit = await w.exited;
    expect(exit).toMatchObject({ type: 'exit', exitCode: 3, signal: null, reason: 'exited' });
    // events() replays from the start even after the exit
    expect(text(await collect(w), 'stdout')).toBe('bye\n');
  });

  it('gives the workload AETHIR_LEASE_ID, the user env and the port, in the working directory', async () => {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const s = spec(['sh', '-c', 'env; echo "cwd=$(pwd)"'], {
      env: { FOO: 'bar baz', AETHIR_LEASE_ID: 'someone-else', CUDA_VISIBLE_DEVICES: '0,1,2' },
      port,
    });
    const events = await collect(await newRuntime().start(s));
    const out = text(events, 'stdout');
    expect(out).toContain(`AETHIR_LEASE_ID=${s.leaseId}\n`);
    expect(out).toContain('FOO=bar baz\n');
    expect(out).toContain(`AETHIR_PORT=${port}\n`);
    expect(out).toContain('HOME=/workspace\n');
    // no GPUs leased: none visible, whatever the user asked for
    expect(out).toMatch(/^CUDA_VISIBLE_DEVICES=$/m);
    expect(out).toContain('NVIDIA_VISIBLE_DEVICES=void\n');
    expect(out).toContain('cwd=/workspace\n');
    expect(events.at(-1)).toMatchObject({ exitCode: 0 });
  });

  it('stops a running sleep 1000 quickly on kill()', async () => {
    const rt = newRuntime();
    const w = await rt.start(spec(['sleep', '1000']));
    await waitRunning(w);
    const t0 = Date.now();
    await w.kill('lease closed');
    // sleep is PID 1 and ignores SIGTERM: the engine's SIGKILL after the 1 s grace ends it
    expect(Date.now() - t0).toBeLessThan(15_000);
    const exit = await w.exited;
    expect(exit).toMatchObject({ reason: 'killed', message: 'killed: lease closed' });
    expect([137, 143]).toContain(exit.exitCode);
    expect(['SIGKILL', 'SIGTERM']).toContain(exit.signal);
  });

  it('ends a long sleep at the wall-clock limit with a clear status', async () => {
    const t0 = Date.now();
    const w = await newRuntime().start(spec(['sleep', '1000'], { limits: { wallSeconds: 1 } }));
    const exit = await w.exited;
    expect(exit).toMatchObject({
      reason: 'timeout',
      limit: 'wallSeconds',
      message: 'wall-clock limit of 1s exceeded',
    });
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it('ends a busy loop at the CPU-time limit', async () => {
    const w = await newRuntime({ cpuPollMs: 200 }).start(
      spec(['sh', '-c', 'while :; do :; done'], { limits: { cpuSeconds: 1, wallSeconds: 60 } }),
    );
    const exit = await w.exited;
    expect(exit).toMatchObject({ reason: 'timeout', limit: 'cpuSeconds' });
  });

  it('sets the memory limit and publishes the port on the container', async () => {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const w = await newRuntime().start(spec(['sleep', '1000'], { limits: { memoryMiB: 64 }, port }));
    const inspect = await waitRunning(w);
    expect(inspect.HostConfig.Memory).toBe(64 * 1024 * 1024);
    expect(inspect.HostConfig.PortBindings[`${port}/tcp`]).toEqual([
      expect.objectContaining({ HostPort: String(port) }),
    ]);
    expect(inspect.Config.Labels).toMatchObject({ 'aethir.lease': w.leaseId, 'aethir.test': RUN });
    expect(inspect.HostConfig.DeviceRequests ?? []).toEqual([]);
    await w.kill();
  });

  it("a lease's own port: the container's port (workload.port) is published on the host's loopback port, and only it", async () => {
    // The attack: the lease names as its port one the host serves on loopback. The host port the
    // endpoint reaches maps into the container's port of that number, never the host's service.
    const host = createServer((s) => s.end('host-secret'));
    await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
    const hostPort = (host.address() as { port: number }).port;
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const ask = () =>
      new Promise<string>((resolve) => {
        const c = connect(port, '127.0.0.1');
        let d = '';
        c.setTimeout(2000, () => c.destroy());
        c.on('data', (x: Buffer) => (d += x));
        c.on('end', () => resolve(d));
        c.on('close', () => resolve(d));
        c.on('error', () => resolve(''));
      });
    try {
      const silent = await newRuntime().start(spec(['sleep', '1000'], { port, workloadPort: hostPort }));
      const inspect = await waitRunning(silent);
      expect(Object.keys(inspect.HostConfig.PortBindings)).toEqual([`${hostPort}/tcp`]);
      expect(inspect.HostConfig.PortBindings[`${hostPort}/tcp`]).toEqual([
        expect.objectContaining({ HostIp: '127.0.0.1', HostPort: String(port) }),
      ]);
      expect(await ask()).not.toContain('host-secret');
      await silent.kill();
      const w = await newRuntime().start(
        spec(
          [
            'sh',
            '-c',
            'echo "port $AETHIR_PORT"; while true; do echo from-container | nc -l -p "$AETHIR_PORT"; done',
          ],
          {
            port,
            workloadPort: hostPort,
          },
        ),
      );
      let got = '';
      for (let i = 0; i < 60 && !got.includes('from-container'); i++) {
        await new Promise((r) => setTimeout(r, 250));
        got = await ask();
      }
      expect(got).toContain('from-container');
      expect(got).not.toContain('host-secret');
      await w.kill();
      expect(text(await collect(w), 'stdout')).toContain(`port ${hostPort}\n`);
    } finally {
      host.close();
    }
  });

  it('kills a workload that outgrows its memory limit, and says why in words', async () => {
    // The shell holds 200 MB in a variable, far past the 16 MiB cgroup limit.
    const hog = 'a=$(head -c 200000000 /dev/zero | tr "\\0" a); echo ${#a}';
    const exit = await (
      await newRuntime().start(spec(['sh', '-c', hog], { limits: { memoryMiB: 16 } }))
    ).exited;
    expect(exit).toMatchObject({
      reason: 'timeout',
      limit: 'memoryMiB',
      message: 'memory limit of 16 MiB exceeded',
      exitCode: 137,
      signal: 'SIGKILL',
    });
  });

  it('removes containers at the end, and listLeases finds running ones', async () => {
    const rt = newRuntime();
    const done = await rt.start(spec(['true']));
    const doneId = (done as RunningWorkload & { containerId: string }).containerId;
    await done.exited;
    expect((await engine('GET', `/containers/${doneId}/json`)).status).toBe(404);

    const w = await rt.start(spec(['sleep', '1000']));
    await waitRunning(w);
    const found = await rt.listLeases();
    expect(found).toEqual([
      expect.objectContaining({
        leaseId: w.leaseId,
        containerId: (w as RunningWorkload & { containerId: string }).containerId,
        name: `aethir-${w.leaseId}`,
        running: true,
        state: 'running',
      }),
    ]);
    // Another agent's containers (other labels) are not ours to list.
    expect(await newRuntime({ labels: { 'aethir.test': `${RUN}-other` } }).listLeases()).toEqual([]);

    await w.kill();
    expect(await rt.listLeases()).toEqual([]);
  });

  it("learns of an exit the engine's wait never reports (Podman can miss one that comes at once)", async () => {
    // A socket in front of the engine that forwards every request but never answers a wait: what a
    // Podman that missed the container's exit does. The workload's exit must still be reported, with
    // the engine's exit code, and its container removed.
    const dir = await mkdtemp(join(tmpdir(), 'aethir-lostwait-'));
    const socketPath = join(dir, 'engine.sock');
    const held: Socket[] = [];
    let waits = 0;
    const proxy = createServer((client) => {
      client.once('data', (first: Buffer) => {
        if (/^POST \S*\/containers\/[^/]+\/wait/.test(first.toString('latin1'))) {
          waits++;
          held.push(client);
          client.resume();
          return;
        }
        const upstream = connect(SOCKET);
        upstream.write(first);
        client.pipe(upstream).pipe(client);
        const end = () => (client.destroy(), upstream.destroy());
        client.on('error', end).on('close', end);
        upstream.on('error', end).on('close', end);
      });
    });
    await new Promise<void>((r) => proxy.listen(socketPath, r));
    try {
      const rt = newRuntime({ socketPath });
      const w = (await rt.start(spec(['sh', '-c', 'echo bye; exit 3']))) as RunningWorkload & {
        containerId: string;
      };
      const events = await collect(w);
      expect(waits).toBeGreaterThan(0);
      expect(text(events, 'stdout')).toBe('bye\n');
      expect(events.at(-1)).toMatchObject({ type: 'exit', exitCode: 3, reason: 'exited' });
      expect((await engine('GET', `/containers/${w.containerId}/json`)).status).toBe(404);
      // The held wait was given up once the exit was known.
      await waitFor(async () => held.every((c) => c.destroyed), 'the held wait to be closed', 10_000);
    } finally {
      for (const c of held) c.destroy();
      await new Promise<void>((r) => proxy.close(() => r()));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('lets a restarted agent find and remove what the crashed one left', async () => {
    const before = newRuntime();
    const w = await before.start(spec(['sleep', '1000']));
    await waitRunning(w);

    // A second start of the same lease (a restarted agent) must not clobber the running one.
    const after = newRuntime();
    const clash = await rejection(after.start({ leaseId: w.leaseId, command: ['true'], gpuIndices: [] }));
    expect(clash.code).toBe('CONFLICT');
    expect(clash.message).toContain(`aethir-${w.leaseId}`);

    expect((await after.listLeases()).map((c) => c.leaseId)).toEqual([w.leaseId]);
    expect(await after.removeLease(w.leaseId)).toBe(1);
    expect(await after.listLeases()).toEqual([]);
    // The original runtime notices its container went away and reports the workload ended.
    const exit = await w.exited;
    expect(exit).toMatchObject({ type: 'exit', reason: 'exited' });
  });

  it('never runs a GPU lease without its GPUs', async () => {
    const rt = newRuntime();
    const s = spec(['true'], { gpuIndices: [0] });
    const started = await rt.start(s).then(
      (w) => ({ w }),
      (err: unknown) => ({ err }),
    );
    if ('err' in started) {
      // Podman: the compat API drops DeviceRequests, which the runtime must catch.
      expect(started.err).toBeInstanceOf(AethirError);
      expect((started.err as AethirError).code).toBe('RUNTIME_FAILED');
      expect((started.err as AethirError).message).toContain('ignored the GPU request');
    } else {
      // Docker: either the NVIDIA toolkit attaches the GPU, or the start fails for want of it.
      const exit = await started.w.exited;
      if (exit.reason !== 'exited') expect(exit.reason).toBe('start-failed');
    }
    expect(await rt.listLeases()).toEqual([]);
  });

  it('reports a command that is not in the image as a failed start (127)', async () => {
    const w = await newRuntime().start(spec(['no-such-command-aethir']));
    const exit = await w.exited;
    expect(exit).toMatchObject({ reason: 'start-failed', exitCode: 127 });
    expect(exit.message).toContain('no-such-command-aethir');
    expect(await newRuntime().listLeases()).toEqual([]);
  });

  it('fails clearly for an image that does not exist, and frees the lease', async () => {
    const rt = newRuntime();
    const s = spec(['true'], { image: 'localhost/aethir-no-such-image:1' });
    const never = await rejection(rt.start(s));
    expect(never.code).toBe('NOT_FOUND');
    expect(never.message).toContain('localhost/aethir-no-such-image:1');

    // With pulling allowed the engine tries a registry, which does not have it (or is not there).
    const pulling = await rejection(
      newRuntime({ pullPolicy: 'missing' }).ensureImage('localhost:1/aethir-no-such-image:1'),
    );
    expect(['NOT_FOUND', 'UNAVAILABLE']).toContain(pulling.code);
    expect(pulling.message).toContain('localhost:1/aethir-no-such-image:1');

    // The failed start did not keep the lease reserved.
    const w = await rt.start({ ...s, image: IMAGE });
    expect((await w.exited).exitCode).toBe(0);
  });

  it('says UNAVAILABLE, and what to do, for a socket with no engine behind it', async () => {
    const rt = new DockerRuntime({ socketPath: '/tmp/aethir-no-engine-here.sock', defaultImage: IMAGE });
    const err = await rejection(rt.start(spec(['true'])));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('no Docker engine at /tmp/aethir-no-engine-here.sock');
    expect(err.message).toContain('podman system service');
    expect((await rejection(rt.ping())).code).toBe('UNAVAILABLE');
    expect((await rejection(rt.listLeases())).code).toBe('UNAVAILABLE');
  });

  it('stopAll() stops every workload', async () => {
    const rt = newRuntime();
    const ws = await Promise.all([rt.start(spec(['sleep', '1000'])), rt.start(spec(['sleep', '1000']))]);
    await Promise.all(ws.map(waitRunning));
    await rt.stopAll();
    for (const w of ws) expect((await w.exited).reason).toBe('killed');
    expect(await rt.listLeases()).toEqual([]);
  });
});
