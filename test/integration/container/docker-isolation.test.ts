/**
 * The Docker runtime's twins of the red-team suite: every test is an attack a tenant's workload makes
 * on the host, on the agent or on another lease, run in a real container of a real engine (Podman's
 * Docker-compatible service in CI), and shows that it fails.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningWorkload } from '../../../src/container/runtimes/runtime.js';
import {
  collect,
  engine,
  IMAGE,
  newRuntime,
  rejection,
  spec,
  text,
  useEngine,
  waitFor,
  waitRunning,
} from './docker-helpers.js';

useEngine();

type Container = RunningWorkload & { containerId: string };

/** Runs `script` in a fresh lease's container and returns its stdout (and its exit). */
async function run(script: string, opts: Parameters<typeof newRuntime>[0] = {}) {
  const events = await collect(await newRuntime(opts).start(spec(['sh', '-c', script])));
  const exit = events.at(-1);
  return { out: text(events, 'stdout'), err: text(events, 'stderr'), exit };
}

function randomPort(): number {
  return 20_000 + Math.floor(Math.random() * 20_000);
}

/** A plain HTTP server on the host that answers 'host-secret'. */
async function hostServer(host: string): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => res.end('host-secret'));
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, port: (server.address() as AddressInfo).port };
}

/** A shell line that prints "<label>=reached" if an HTTP GET to host:port answers, else "<label>=refused". */
function probe(label: string, host: string, port: number | string): string {
  return (
    `if printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${port} 2>/dev/null | grep -q .; ` +
    `then echo ${label}=reached; else echo ${label}=refused; fi`
  );
}

/** The host's own non-loopback IPv4 address, if it has one. */
function hostAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === 'IPv4' && !a.internal && !a.address.startsWith('10.8')) return a.address;
    }
  }
  return undefined;
}

// Does this engine switch OCI runtimes on HostConfig.Runtime? Docker does; Podman 4.3's compat API
// accepts the field and ignores it (the container reports runtime "oci" and runs under runc).
async function honoursRuntime(name: string): Promise<boolean> {
  const created = await engine('POST', `/containers/create?name=aethir-probe-${process.pid}`, {
    Image: IMAGE,
    Cmd: ['true'],
    HostConfig: { Runtime: name },
  }).catch(() => undefined);
  const id = created?.json?.Id;
  if (typeof id !== 'string') return false;
  const kept = (await engine('GET', `/containers/${id}/json`)).json?.HostConfig?.Runtime === name;
  await engine('DELETE', `/containers/${id}?force=1`);
  return kept;
}
const gvisor = await honoursRuntime('runsc');
const GVISOR_SKIP =
  "skipped: this engine ignores HostConfig.Runtime (Podman 4.3's Docker-compatible API runs every " +
  'container under its default runtime), so no workload can be put in gVisor through it';

describe('Docker runtime: a tenant is a stranger', () => {
  it('a workload runs as nobody (65534:65534), not as root, and cannot become root', async () => {
    const { out } = await run('id -u; id -g; su -c true root 2>/dev/null && echo became-root; echo done');
    expect(out).toBe('65534\n65534\ndone\n');
  });

  it("a workload keeps its image's non-root USER, and the operator's --workload-user wins over both", async () => {
    // An image whose USER is 4321:4321, made from the test image by a commit.
    const base = (await newRuntime().start(spec(['sleep', '1000']))) as Container;
    await waitRunning(base);
    const baseId = base.containerId;
    const repo = `localhost/aethir-user-test-${process.pid}`;
    const committed = await engine(
      'POST',
      `/commit?container=${baseId}&repo=${repo}&tag=t&changes=${encodeURIComponent('USER 4321:4321')}`,
      {},
    );
    expect(committed.status).toBe(201);
    await base.kill();
    try {
      const image = `${repo}:t`;
      const own = await collect(await newRuntime().start(spec(['id', '-u'], { image })));
      expect(text(own, 'stdout')).toBe('4321\n');
      const forced = await collect(
        await newRuntime({ user: '2000:2000' }).start(spec(['sh', '-c', 'id -u; id -g'], { image })),
      );
      expect(text(forced, 'stdout')).toBe('2000\n2000\n');
    } finally {
      await engine('DELETE', `/images/${repo}:t?force=1`);
    }
  });

  it('has no capabilities at all (CapEff, CapPrm, CapBnd are 0) and no_new_privs set', async () => {
    const { out } = await run(
      'grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):" /proc/self/status',
    );
    expect(out).toBe(
      [
        'CapInh:\t0000000000000000',
        'CapPrm:\t0000000000000000',
        'CapEff:\t0000000000000000',
        'CapBnd:\t0000000000000000',
        'CapAmb:\t0000000000000000',
        'NoNewPrivs:\t1',
        '',
      ].join('\n'),
    );
  });

  it('cannot write the image (read-only root), only its working directory and /tmp', async () => {
    const { out } = await run(
      'touch /bin/implant 2>/dev/null && echo bin=written || echo bin=refused; ' +
        'touch /etc/passwd 2>/dev/null && echo etc=written || echo etc=refused; ' +
        'echo x > /workspace/f && echo workdir=written; echo x > /tmp/f && echo tmp=written',
    );
    expect(out).toBe('bin=refused\netc=refused\nworkdir=written\ntmp=written\n');
  });

  it("cannot read another lease's files or see its processes", async () => {
    const rt = newRuntime();
    const secret = `secret-${Date.now()}`;
    const victim = await rt.start(
      spec([
        'sh',
        '-c',
        `echo ${secret} > /workspace/${secret}; echo ${secret} > /tmp/${secret}; sleep 1000`,
      ]),
    );
    await waitRunning(victim as Container);
    const { out } = await run(
      // "secre[t]-…" matches the secret but not itself, so grep's own command line is no hit.
      `ls -A /workspace /tmp; grep -rlE 'secre[t]-${secret.slice(7)}' /workspace /tmp /proc/*/cmdline 2>/dev/null; ` +
        'ps -o pid,args | grep -c "slee[p] 1000"; echo end',
    );
    // Its own empty directories; no file and no process holds the victim's secret; no foreign sleep.
    expect(out).toBe('/tmp:\n\n/workspace:\n0\nend\n');
    await victim.kill();
  });

  it("cannot reach another lease's port, neither on its network nor through the host", async () => {
    const port = randomPort();
    const rt = newRuntime();
    const victim = (await rt.start(
      spec(['sh', '-c', `while :; do echo victim-data | nc -l -p ${port}; done`], { port }),
    )) as Container;
    const inspect = await waitRunning(victim);
    const victimIp = Object.values(
      inspect.NetworkSettings.Networks as Record<string, { IPAddress: string }>,
    )[0]!.IPAddress;
    expect(victimIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    // The victim does serve: the host's loopback (where the endpoint proxy connects) reaches it.
    await waitFor(async () => {
      const { Socket } = await import('node:net');
      return new Promise<boolean>((resolve) => {
        const s = new Socket();
        let data = '';
        s.on('data', (d) => (data += d.toString()));
        s.on('close', () => resolve(data.includes('victim-data')));
        s.on('error', () => resolve(false));
        s.connect(port, '127.0.0.1');
      });
    }, 'the victim to serve on 127.0.0.1');

    const { out } = await run(
      `gw=$(ip route | awk '/default/ {print $3}'); ` +
        `nc -w 3 ${victimIp} ${port} </dev/null 2>/dev/null | grep -q victim-data && echo direct=reached || echo direct=refused; ` +
        `nc -w 3 $gw ${port} </dev/null 2>/dev/null | grep -q victim-data && echo via-host=reached || echo via-host=refused`,
    );
    expect(out).toBe('direct=refused\nvia-host=refused\n');
    await victim.kill();
  });

  describe("the host's loopback", () => {
    let loopback: { server: Server; port: number };
    let anyIf: { server: Server; port: number };
    beforeAll(async () => {
      loopback = await hostServer('127.0.0.1');
      anyIf = await hostServer('0.0.0.0');
    });
    afterAll(async () => {
      await Promise.all(
        [loopback, anyIf].map(({ server }) => new Promise((r) => server.close(() => r(undefined)))),
      );
    });

    it("cannot reach an HTTP server on the host's 127.0.0.1, by any address", async () => {
      // The control: the host itself reaches the server.
      expect(await (await fetch(`http://127.0.0.1:${loopback.port}/`)).text()).toBe('host-secret');
      const { out } = await run(
        `gw=$(ip route | awk '/default/ {print $3}'); ` +
          [
            probe('loopback', '127.0.0.1', loopback.port),
            probe('gateway', '$gw', loopback.port),
            probe('host-name', 'host.containers.internal', loopback.port),
            probe('docker-host-name', 'host.docker.internal', loopback.port),
            // The control inside: a server on all of the host's interfaces is reachable, so the
            // container's network and the probe work, and only loopback is out of reach.
            probe('all-interfaces', '$gw', anyIf.port),
          ].join('; '),
      );
      expect(out).toBe(
        'loopback=refused\ngateway=refused\nhost-name=refused\ndocker-host-name=refused\nall-interfaces=reached\n',
      );
    });
  });

  it('publishes a lease port on 127.0.0.1 only', async () => {
    const port = randomPort();
    const w = (await newRuntime().start(
      spec(['sh', '-c', `while :; do echo hi | nc -l -p ${port}; done`], { port }),
    )) as Container;
    const inspect = await waitRunning(w);
    expect(inspect.HostConfig.PortBindings[`${port}/tcp`]).toEqual([
      expect.objectContaining({ HostIp: '127.0.0.1', HostPort: String(port) }),
    ]);
    const { Socket } = await import('node:net');
    const reach = (host: string) =>
      new Promise<boolean>((resolve) => {
        const s = new Socket();
        let data = '';
        s.setTimeout(3000, () => s.destroy());
        s.on('data', (d) => (data += d.toString()));
        s.on('close', () => resolve(data.includes('hi')));
        s.on('error', () => resolve(false));
        s.connect(port, host);
      });
    await waitFor(() => reach('127.0.0.1'), 'the port on 127.0.0.1');
    const external = hostAddress();
    if (external) expect(await reach(external)).toBe(false);
    await w.kill();
  });

  it('puts each lease on a network of its own, and removes it with the lease', async () => {
    const w = (await newRuntime().start(spec(['sleep', '1000']))) as Container;
    const inspect = await waitRunning(w);
    const name = `aethir-${w.leaseId}`;
    expect(Object.keys(inspect.NetworkSettings.Networks)).toEqual([name]);
    expect((await engine('GET', `/networks/${name}`)).status).toBe(200);
    await w.kill();
    expect((await engine('GET', `/networks/${name}`)).status).toBe(404);
  });

  it('a fork bomb stops at the pids limit; the agent and other leases carry on', async () => {
    const rt = newRuntime();
    const bomb = (await rt.start(
      // `exec sleep`: the shell becomes the sleep without a fork, so the container's first process
      // lives on while its bomb holds every pid (a forked `sleep` could fail to start, the shell
      // then ended and took the container with it before the test looked: a CI failure)
      spec(['sh', '-c', 'b() { b | b & }; b; exec sleep 1000'], { limits: { pids: 32, wallSeconds: 8 } }),
    )) as Container;
    let stderr = '';
    // events(), not onEvent(): the bomb may burn out before this line runs, and events() replays.
    void (async () => {
      for await (const e of bomb.events()) if (e.type === 'stderr') stderr = (stderr + e.data).slice(-4096);
    })();
    // The kernel refuses the bomb's forks once it holds 32 processes (the shell says "can't fork"),
    // and the container never holds more, however often it is sampled.
    let peak = 0;
    await waitFor(async () => {
      const stats = (await engine('GET', `/containers/${bomb.containerId}/stats?stream=false`)).json;
      peak = Math.max(peak, Number(stats?.pids_stats?.current ?? 0));
      return /can't fork/.test(stderr);
    }, 'the bomb to hit the pids limit');
    // Meanwhile another lease runs to completion, and the agent (this process) still answers.
    const other = await run('echo still-here');
    expect(other.out).toBe('still-here\n');
    const inspect = (await engine('GET', `/containers/${bomb.containerId}/json`)).json;
    expect(inspect.HostConfig.PidsLimit).toBe(32);
    const exit = await bomb.exited;
    expect(exit).toMatchObject({ reason: 'timeout', limit: 'wallSeconds' });
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(32);
  });

  it('an allocation past the memory limit is killed, with the reason in words', async () => {
    const hog = 'a=$(head -c 100000000 /dev/zero | tr "\\0" a); echo ${#a}';
    const { exit, out } = await run(hog);
    // Without a limit the same allocation would succeed: the control.
    expect(out).toBe('100000000\n');
    expect(exit).toMatchObject({ reason: 'exited', exitCode: 0 });
    const limited = await (
      await newRuntime().start(spec(['sh', '-c', hog], { limits: { memoryMiB: 24 } }))
    ).exited;
    expect(limited).toMatchObject({
      reason: 'timeout',
      limit: 'memoryMiB',
      message: 'memory limit of 24 MiB exceeded',
    });
  });

  it('refuses, at start, an OCI runtime the engine does not have', async () => {
    const err = await rejection(newRuntime({ ociRuntime: 'no-such-runtime' }).ping());
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain('has no OCI runtime no-such-runtime');
  });

  it.skipIf(gvisor)(
    'never runs a gVisor lease outside gVisor: an engine that ignores HostConfig.Runtime is refused',
    async () => {
      const rt = newRuntime({ ociRuntime: 'runsc' });
      const err = await rejection(rt.start(spec(['true'])));
      expect(err.code).toBe('RUNTIME_FAILED');
      expect(err.message).toContain('ignored the OCI runtime runsc');
      expect(await rt.listLeases()).toEqual([]);
    },
  );

  it.skipIf(!gvisor)(
    `runs a lease inside gVisor when the operator chooses --oci-runtime runsc${gvisor ? '' : ` (${GVISOR_SKIP})`}`,
    async () => {
      const { out, exit } = await run('dmesg | head -1; id -u', { ociRuntime: 'runsc' });
      expect(out).toMatch(/^\[ *0\.0+\] Starting gVisor\.\.\.\n65534\n$/);
      expect(exit).toMatchObject({ reason: 'exited', exitCode: 0 });
    },
  );
});
