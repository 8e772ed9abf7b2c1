import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { addressOf, generateKeyPair, signLeaseToken } from '../src/core/index.js';
import { EndpointProxy } from '../src/container/endpoint-proxy.js';
import { LeaseLogFile, readLeaseLog, type LogPage } from '../src/container/output-file.js';
import { MemoryBus } from '../src/bus/index.js';
import { DockerRuntime } from '../src/container/runtimes/docker.js';
import { HostProcessRuntime } from '../src/container/runtimes/host-process.js';
import type { Runtime, RunningWorkload, WorkloadSpec } from '../src/container/runtimes/runtime.js';
import { probeSandbox } from '../src/container/runtimes/sandbox.js';
import { execInLease, uploadToLease, type LeaseSessionTarget } from '../src/sdk/index.js';
import { nowNs, percentile, row, type BenchOptions, type Row } from './harness.js';

/**
 * Sessions into leases (images, shells, cp), measured on this machine's real runtimes:
 *  - time from start to the first output line of `echo ready` in a Docker-runtime lease whose
 *    image is cached (Podman's API) vs. a host-process lease (sandboxed where the machine can);
 *  - `aethir cp` upload throughput through a container's door (WebSocket, token checked, entries
 *    checked and re-packed, tar in the lease's sandbox) vs. `tar -c | tar -x` over a local socket;
 *  - a shell keystroke's round trip (a byte in, its echo out) through the door into the
 *    sandbox's terminal vs. the same on a local pseudo-terminal.
 */

const SOCKET = process.env.AETHIR_DOCKER_SOCKET ?? '/tmp/podman.sock';
const IMAGE = process.env.AETHIR_TEST_IMAGE ?? 'localhost/aethir-busybox:test';
let seq = 0;
const spec = (command: string[]): WorkloadSpec => ({
  leaseId: `bench-access-${process.pid}-${++seq}`,
  command,
  gpuIndices: [],
});

async function firstOutputMs(rt: Runtime, command: string[]): Promise<number> {
  const t0 = nowNs();
  const w = await rt.start(spec(command));
  for await (const e of w.events()) if (e.type === 'stdout' || e.type === 'exit') break;
  const ms = Number(nowNs() - t0) / 1e6;
  await w.kill();
  return ms;
}

async function tarOverSocketMs(src: string, dst: string): Promise<number> {
  const t0 = nowNs();
  await new Promise<void>((resolve, reject) => {
    const server = createServer((sock) => {
      const x = spawn('tar', ['-x', '-f', '-', '-C', dst], { stdio: ['pipe', 'ignore', 'inherit'] });
      sock.pipe(x.stdin);
      x.on('close', () => {
        server.close();
        resolve();
      });
    }).listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      const c = spawn('tar', ['-c', '-f', '-', '-C', src, '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const sock = connect(port, '127.0.0.1', () => c.stdout.pipe(sock));
      c.on('error', reject);
    });
  });
  return Number(nowNs() - t0) / 1e6;
}

async function echoRoundTrips(
  send: (b: Buffer) => void,
  onOutput: (fn: (d: Buffer) => void) => void,
  n: number,
): Promise<number[]> {
  let waiting: (() => void) | null = null;
  let seen = '';
  onOutput((d) => {
    seen += d.toString('latin1');
    if (waiting && seen.includes('x')) {
      seen = '';
      const w = waiting;
      waiting = null;
      w();
    }
  });
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = nowNs();
    await new Promise<void>((resolve) => {
      waiting = resolve;
      send(Buffer.from('x'));
    });
    out.push(Number(nowNs() - t0) / 1e6);
  }
  return out;
}

export async function runAccess(opts: BenchOptions): Promise<Row[]> {
  const rows: Row[] = [];
  const probe = await probeSandbox();
  const base = mkdtempSync(join('/var/lib', 'aethir-bench-access-'));
  chmodSync(base, 0o711); // the lease uids must traverse it to their directories
  const host = new HostProcessRuntime({
    baseDir: join(base, 'leases'),
    ...(probe.ok ? { sandbox: probe.setup } : {}),
  });
  const kind = probe.ok ? 'sandboxed host-process' : 'host-process (no sandbox here)';
  const n = opts.quick ? 3 : 10;
  try {
    // 1. time to first output: cached image vs host-process
    const docker = new DockerRuntime({ socketPath: SOCKET, defaultImage: IMAGE, pullPolicy: 'never' });
    let dockerOk = true;
    await docker.ping().catch((e: Error) => {
      dockerOk = false;
      opts.log(`access: no Docker engine at ${SOCKET} (${e.message}): the image figure is not measured`);
    });
    if (dockerOk) {
      const d: number[] = [];
      const h: number[] = [];
      for (let i = 0; i < n; i++) {
        d.push(await firstOutputMs(docker, ['echo', 'ready']));
        h.push(await firstOutputMs(host, ['echo', 'ready']));
      }
      rows.push(
        row({
          suite: 'access',
          name: 'cached image (Docker runtime on Podman): start -> first output, p50',
          value: percentile(d, 50),
          unit: 'ms',
          baseline: percentile(h, 50),
          baselineName: `${kind} lease`,
          better: 'lower',
        }),
      );
    }

    // the lease the sessions go into, behind a container door
    const key = await generateKeyPair();
    const proxy = new EndpointProxy({ host: '127.0.0.1' });
    const doorBase = await proxy.start();
    const w: RunningWorkload = await host.start(spec(['sleep', '3600']));
    await new Promise((r) => setTimeout(r, 500));
    proxy.door(w.leaseId, {
      chainId: 'bench',
      user: addressOf(key.publicKey),
      workload: () => w,
      isOpen: async () => true,
      now: () => Date.now(),
    });
    const target = (scope: 'exec' | 'files'): LeaseSessionTarget => ({
      api: doorBase,
      lease: w.leaseId,
      door: `${doorBase}/x/${w.leaseId}`,
      token: signLeaseToken(key, {
        chainId: 'bench',
        lease: w.leaseId,
        exp: Date.now() + 600_000,
        scope: [scope],
      }),
    });

    // 2. cp throughput vs tar over a local socket
    const mib = opts.quick ? 16 : 64;
    const src = join(base, 'src');
    mkdirSync(join(src, 'd'), { recursive: true });
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31) & 0xff;
    for (let f = 0; f < mib / 4; f++)
      writeFileSync(join(src, 'd', `f${f}.bin`), Buffer.concat([chunk, chunk, chunk, chunk]));
    const dst = join(base, 'dst');
    mkdirSync(dst);
    const tarMs = await tarOverSocketMs(src, dst);
    const t0 = nowNs();
    await uploadToLease(target('files'), { localPath: src, remotePath: 'up' });
    const cpMs = Number(nowNs() - t0) / 1e6;
    rows.push(
      row({
        suite: 'access',
        name: `cp ${mib} MiB into a ${kind} lease (door, checked tar): throughput`,
        value: mib / (cpMs / 1000),
        unit: 'MiB/s',
        baseline: mib / (tarMs / 1000),
        baselineName: 'tar -c | tar -x over a local TCP socket',
        better: 'higher',
      }),
    );

    // 3. keystroke round trip: the lease's terminal through the door vs a local pty
    const keys = opts.quick ? 50 : 300;
    let onOut: (d: Buffer) => void = () => undefined;
    const s = await execInLease(target('exec'), {
      command: ['cat'],
      tty: { cols: 80, rows: 24 },
      onStdout: (d) => onOut(d),
    });
    const remote = await echoRoundTrips(
      (b) => s.write(b),
      (fn) => (onOut = fn),
      keys,
    );
    s.close();
    const ptyMod = createRequire(import.meta.url)('node-pty') as {
      spawn(
        f: string,
        a: string[],
        o: object,
      ): { onData(f: (d: string) => void): void; write(d: string): void; kill(): void };
    };
    const local = ptyMod.spawn('cat', [], { cols: 80, rows: 24 });
    const localMs = await echoRoundTrips(
      (b) => local.write(b.toString()),
      (fn) => local.onData((d) => fn(Buffer.from(d))),
      keys,
    );
    local.kill();
    for (const p of [50, 99] as const)
      rows.push(
        row({
          suite: 'access',
          name: `shell keystroke round trip (door, ${kind} terminal), p${p}`,
          value: percentile(remote, p),
          unit: 'ms',
          baseline: percentile(localMs, p),
          baselineName: 'a local pseudo-terminal',
          better: 'lower',
        }),
      );
    await w.kill();
    await proxy.stop();

    // 4. a lease's kept log read back page by page over the bus (logs.<container>, as the API
    // node reads it after a restart) vs reading the same file whole from disk
    const logMiB = opts.quick ? 8 : 32;
    const logDir = join(base, 'logs');
    const file = new LeaseLogFile(logDir, 'bench-log', (logMiB + 8) << 20);
    const line = 'x'.repeat(127) + '\n';
    for (let i = 0, at = 1; i < (logMiB << 20) / 128; i++)
      file.write({ type: 'stdout', data: line, at: at++ });
    file.close();
    const bus = new MemoryBus();
    bus.serve('logs.bench', (m) => readLeaseLog(logDir, 'bench-log', (m as { offset: number }).offset));
    const t1 = nowNs();
    let events = 0;
    for (let offset = 0; ;) {
      const p = (await bus.request('logs.bench', { offset })) as LogPage;
      events += p.events.length;
      if (p.next >= p.size) break;
      offset = p.next;
    }
    const pagedMs = Number(nowNs() - t1) / 1e6;
    const t2 = nowNs();
    const whole = readFileSync(join(logDir, 'bench-log.ndjson'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as unknown).length;
    const wholeMs = Number(nowNs() - t2) / 1e6;
    if (events !== whole) throw new Error(`paged ${events} events, the file has ${whole}`);
    rows.push(
      row({
        suite: 'access',
        name: `logs: ${logMiB} MiB of output kept on the host, read back in 128 KiB pages over the bus`,
        value: logMiB / (pagedMs / 1000),
        unit: 'MiB/s',
        baseline: logMiB / (wholeMs / 1000),
        baselineName: 'the same file read whole and parsed',
        better: 'higher',
      }),
    );
  } finally {
    await host.stopAll();
    rmSync(base, { recursive: true, force: true });
  }
  return rows;
}
