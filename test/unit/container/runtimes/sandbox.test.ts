import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import { networkInterfaces, tmpdir, type NetworkInterfaceInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostProcessRuntime } from '../../../../src/container/runtimes/host-process.js';
import type { RunningWorkload, WorkloadEvent } from '../../../../src/container/runtimes/runtime.js';
import {
  bwrapArgs,
  createLeaseCgroup,
  describeMissing,
  discoverCgroups,
  gpuNodes,
  joinCgroupsArgv,
  aethirPackagePaths,
  pastaArgs,
  probeSandbox,
  sandboxLoopbackReady,
  udpBindAddress,
  UidRange,
} from '../../../../src/container/runtimes/sandbox.js';

const probe = await probeSandbox({ uidBase: 230_000 });
const skipWhy = probe.ok ? '' : ` (skipped: ${describeMissing(probe.requirements)})`;
const tmp = mkdtempSync(join(tmpdir(), 'aethir-sandbox-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * A network namespace standing for a player elsewhere, joined to this host by a veth pair: the
 * host end's address stands for the host's public address. Undefined where the test cannot make
 * one (not root, no `ip`).
 */
function makePlayerNet(): { ns: string; hostAddr: string; remove: () => void } | undefined {
  const tag = `${process.pid % 100000}${Math.floor(Math.random() * 1000)}`;
  const ns = `aethir-udp-${tag}`;
  const [hostIf, nsIf] = [`au${tag}h`, `au${tag}n`];
  // a /30 in 198.18.0.0/15 (set aside for tests of network devices)
  const base = 4 * Math.floor(Math.random() * 16000);
  const addr = (i: number) => `198.${18 + ((base + i) >> 16)}.${((base + i) >> 8) & 255}.${(base + i) & 255}`;
  const ip = (...a: string[]) => execFileSync('ip', a, { stdio: 'pipe' });
  const remove = () => {
    for (const a of [
      ['link', 'del', hostIf],
      ['netns', 'del', ns],
    ])
      try {
        ip(...a);
      } catch {
        // (not made, or gone with the other)
      }
  };
  try {
    ip('netns', 'add', ns);
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    ip('link', 'set', nsIf, 'netns', ns);
    ip('addr', 'add', `${addr(1)}/30`, 'dev', hostIf);
    ip('link', 'set', hostIf, 'up');
    ip('-n', ns, 'addr', 'add', `${addr(2)}/30`, 'dev', nsIf);
    ip('-n', ns, 'link', 'set', nsIf, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    return { ns, hostAddr: addr(1), remove };
  } catch {
    remove();
    return undefined;
  }
}

/** This machine's first non-loopback IPv4 address (the public address a player would reach), or undefined. */
function ownIPv4(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((x) => x && x.family === 'IPv4' && !x.internal)?.address;
}

async function output(
  w: RunningWorkload,
): Promise<{ out: string; exit: Extract<WorkloadEvent, { type: 'exit' }> }> {
  let out = '';
  for await (const e of w.events()) {
    if (e.type === 'exit') return { out, exit: e };
    out += e.data;
  }
  throw new Error('no exit');
}

/** The pid of the first process whose argv matches, waited for (up to 10 s). */
async function waitForProcess(match: (argv: string[]) => boolean): Promise<number> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      let argv: string[];
      try {
        argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      } catch {
        continue; // gone meanwhile
      }
      if (argv.length > 0 && match(argv)) return Number(pid);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no such process in 10 s');
}

describe('bwrapArgs: what a lease sees', () => {
  const args = bwrapArgs({
    workdir: '/var/lib/aethir/leases/x/L1',
    uid: 200_007,
    gpuIndices: [1],
    devNodes: ['nvidia0', 'nvidia1', 'nvidia2', 'nvidiactl', 'nvidia-uvm', 'sda', 'kvm'],
    devDir: '/dev',
    readOnly: ['/var/lib/aethir/leases/x-apps/app/1.0.0'],
    infoFd: 3,
    blockFd: 4,
  });
  const binds = (flag: string) =>
    args.flatMap((a, i) => (a === flag ? [`${args[i + 1]} -> ${args[i + 2]}`] : []));

  it('new namespaces of every kind, its own uid, no capabilities, dies with the agent', () => {
    for (const f of ['--unshare-all', '--unshare-user', '--die-with-parent', '--new-session'])
      expect(args).toContain(f);
    expect(args.slice(args.indexOf('--uid'), args.indexOf('--uid') + 2)).toEqual(['--uid', '200007']);
    expect(args.slice(args.indexOf('--cap-drop'), args.indexOf('--cap-drop') + 2)).toEqual([
      '--cap-drop',
      'ALL',
    ]);
    expect(args.at(-1)).toBe('--');
  });

  it('system directories read-only, its own directory writable, nothing else of the host', () => {
    expect(binds('--ro-bind-try')).toEqual(expect.arrayContaining(['/usr -> /usr', '/etc -> /etc']));
    expect(binds('--bind')).toEqual(['/var/lib/aethir/leases/x/L1 -> /var/lib/aethir/leases/x/L1']);
    expect(binds('--ro-bind')).toEqual([
      '/var/lib/aethir/leases/x-apps/app/1.0.0 -> /var/lib/aethir/leases/x-apps/app/1.0.0',
    ]);
    const all = args.join(' ');
    for (const hidden of ['/root', '/home', '/var/lib/aethir/leases/x ', '/proc/1', '/sys', '/run/'])
      expect(all).not.toContain(` ${hidden}`);
  });

  it('its own GPU and the NVIDIA control nodes, not the other GPUs or disks', () => {
    expect(binds('--dev-bind').filter((b) => b.includes('nvidia'))).toEqual([
      '/dev/nvidia1 -> /dev/nvidia1',
      '/dev/nvidiactl -> /dev/nvidiactl',
      '/dev/nvidia-uvm -> /dev/nvidia-uvm',
    ]);
    expect(args.join(' ')).not.toMatch(/nvidia0|nvidia2|sda|kvm/);
  });

  it('a CPU lease gets no GPU device at all', () => {
    expect(gpuNodes([], ['nvidia0', 'nvidiactl'])).toEqual([]);
    expect(gpuNodes([3], ['nvidia0', 'nvidiactl'])).toEqual(['nvidiactl']);
  });
});

describe('bwrapArgs: volumes a lease mounts', () => {
  const args = bwrapArgs({
    workdir: '/var/lib/aethir/leases/x/L2',
    uid: 200_008,
    gpuIndices: [],
    devNodes: [],
    devDir: '/dev',
    mounts: [
      { source: '/var/lib/aethir/volumes/x/Vdata', target: '/data' },
      { source: '/var/lib/aethir/volumes/x/Vref', target: '/ref', readOnly: true },
    ],
    infoFd: 3,
    blockFd: 4,
  });
  const binds = (flag: string) =>
    args.flatMap((a, i) => (a === flag ? [`${args[i + 1]} -> ${args[i + 2]}`] : []));

  it('binds a written volume read-write and a read one read-only at their targets, nothing more', () => {
    expect(binds('--bind')).toEqual([
      '/var/lib/aethir/volumes/x/Vdata -> /data',
      '/var/lib/aethir/leases/x/L2 -> /var/lib/aethir/leases/x/L2',
    ]);
    expect(binds('--ro-bind')).toEqual(['/var/lib/aethir/volumes/x/Vref -> /ref']);
    expect(args.join(' ')).not.toContain('/var/lib/aethir/volumes/x ');
  });
});

describe('pastaArgs: the network a lease gets', () => {
  it('no way to the host loopback, and only the lease port forwarded, from 127.0.0.1', () => {
    const a = pastaArgs(1234, 40001);
    expect(a).toContain('--no-map-gw');
    const opt = (f: string) => a[a.indexOf(f) + 1];
    expect(opt('-t')).toBe('127.0.0.1/40001');
    expect(opt('-T')).toBe('none'); // "auto" would map the host's listening ports inside
    expect(opt('-U')).toBe('none');
    // the same port's datagrams (a game session's WebRTC media), from the host's loopback only
    expect(opt('-u')).toBe('127.0.0.1/40001');
    expect(opt('--netns')).toBe('/proc/1234/ns/net');
    const none = pastaArgs(1234, undefined);
    expect(none[none.indexOf('-t') + 1]).toBe('none');
    expect(none[none.indexOf('-u') + 1]).toBe('none');
  });

  it("with the host's public address, only the UDP port comes in from it; TCP stays on loopback", () => {
    const mine = ownIPv4();
    if (!mine) return;
    const a = pastaArgs(1234, 40001, undefined, mine);
    const opt = (f: string) => a[a.indexOf(f) + 1];
    expect(opt('-u')).toBe(`${mine}/40001`);
    expect(opt('-t')).toBe('127.0.0.1/40001'); // the endpoint proxy's door, never public
    expect(opt('-T')).toBe('none');
    expect(opt('-U')).toBe('none');
    expect(a.filter((x) => x === '-u' || x === '-t')).toHaveLength(2);
  });
});

describe("udpBindAddress: where players reach a sandboxed lease's UDP port", () => {
  const local = {
    lo: [{ address: '127.0.0.1' }],
    eth0: [{ address: '203.0.113.7' }, { address: 'fe80::1' }],
  } as unknown as NodeJS.Dict<NetworkInterfaceInfo[]>;
  it("the public address when it is one of the host's, every address behind a NAT, loopback without one", () => {
    expect(udpBindAddress('203.0.113.7', local)).toBe('203.0.113.7');
    // a cloud's 1:1 NAT: the public address is on no interface here; datagrams come in on the private one
    expect(udpBindAddress('198.51.100.9', local)).toBeUndefined();
    expect(pastaArgs(1, 40001, undefined, '198.51.100.9').includes('40001')).toBe(
      udpBindAddress('198.51.100.9') === undefined,
    );
    expect(udpBindAddress(undefined, local)).toBe('127.0.0.1');
  });
  it('anything but an IPv4 literal is loopback: no way to slip another pasta spec in', () => {
    for (const bad of [
      '203.0.113.7/1-65535',
      'all',
      '0.0.0.0/0',
      '::',
      'host.example',
      '',
      '1.2.3',
      ' 203.0.113.7',
    ])
      expect(udpBindAddress(bad, local)).toBe('127.0.0.1');
    const a = pastaArgs(1234, 40001, undefined, '203.0.113.7/1-65535');
    expect(a[a.indexOf('-u') + 1]).toBe('127.0.0.1/40001');
  });
});

describe('aethirPackagePaths: the aethir CLI a lease may run', () => {
  it("shows the package's code and dependencies (where they really are), nothing else of a checkout", () => {
    const root = mkdtempSync(join(tmpdir(), 'aethir-pkg-'));
    const deps = mkdtempSync(join(tmpdir(), 'aethir-deps-'));
    try {
      for (const d of ['bin', 'src', '.git', 'test-output']) mkdirSync(join(root, d));
      writeFileSync(join(root, 'package.json'), '{}');
      writeFileSync(join(root, '.env'), 'SECRET=1');
      symlinkSync(deps, join(root, 'node_modules'));
      expect(aethirPackagePaths(root)).toEqual([
        [join(root, 'package.json'), join(root, 'package.json')],
        [join(root, 'bin'), join(root, 'bin')],
        [join(root, 'src'), join(root, 'src')],
        [deps, join(root, 'node_modules')],
      ]);
      // an installed package under /usr is in every lease's view already
      expect(aethirPackagePaths('/usr/lib/node_modules/aethir')).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
      rmSync(deps, { recursive: true, force: true });
    }
  });

  it('bwrap shows each read-only where the lease looks for it', () => {
    const a = bwrapArgs({
      workdir: '/var/lib/aethir/leases/x/L1',
      uid: 200_000,
      gpuIndices: [],
      devNodes: [],
      devDir: '/dev',
      readOnlyAt: [['/work/main/node_modules', '/work/wt/node_modules']],
      infoFd: 3,
      blockFd: 4,
    });
    const i = a.indexOf('/work/main/node_modules');
    expect(a.slice(i - 1, i + 2)).toEqual(['--ro-bind', '/work/main/node_modules', '/work/wt/node_modules']);
  });

  it("a lease's own port: the host's loopback port maps to that port inside, nothing more", () => {
    const a = pastaArgs(1234, 40001, 8888);
    expect(a[a.indexOf('-t') + 1]).toBe('127.0.0.1/40001:8888');
    expect(a[a.indexOf('-T') + 1]).toBe('none');
  });
});

describe('joinCgroupsArgv', () => {
  it('hands paths to the shell as arguments: a path cannot inject commands', () => {
    const pwned = join(tmp, 'pwned');
    const evil = join(tmp, 'procs $(touch pwned); touch pwned');
    writeFileSync(evil, '');
    const argv = joinCgroupsArgv('/bin/sh', [evil], ['/bin/echo', 'ran']);
    const out = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: tmp });
    expect(out).toBe('ran\n');
    expect(existsSync(pwned)).toBe(false);
    expect(Number(readFileSync(evil, 'utf8'))).toBeGreaterThan(1); // the pid was written there
  });

  it('a group that cannot be joined stops the start (exit 125), nothing runs', () => {
    const argv = joinCgroupsArgv('/bin/sh', [join(tmp, 'no', 'such', 'cgroup.procs')], ['/bin/echo', 'ran']);
    let code = 0;
    try {
      execFileSync(argv[0]!, argv.slice(1), { stdio: 'pipe' });
    } catch (e) {
      code = (e as { status: number }).status;
    }
    expect(code).toBe(125);
  });
});

describe('UidRange: one uid per lease across every agent of a host', () => {
  it('two agents sharing the lock directory never hand out the same uid', () => {
    const dir = join(tmp, 'uids');
    const a = new UidRange(300_000, 3, dir);
    const b = new UidRange(300_000, 3, dir);
    const got = [a.take(), b.take(), a.take()];
    expect(new Set(got).size).toBe(3);
    expect(() => b.take()).toThrow(/all 3 sandbox uids are in use/);
    a.release(got[0]!);
    expect(b.take()).toBe(got[0]);
  });

  it('takes over the uid of an agent that died without releasing it', () => {
    const dir = join(tmp, 'uids-stale');
    mkdirSync(dir, { recursive: true });
    const dead = spawn('/bin/true');
    const deadPid = dead.pid!;
    writeFileSync(join(dir, '310000'), String(deadPid));
    return new Promise<void>((resolve) =>
      dead.on('exit', () => {
        const r = new UidRange(310_000, 1, dir);
        expect(r.take()).toBe(310_000);
        expect(readFileSync(join(dir, '310000'), 'utf8')).toBe(String(process.pid));
        resolve();
      }),
    );
  });
});

describe('discoverCgroups', () => {
  const fixture = (name: string, procSelf: string, dirs: string[], files: Record<string, string> = {}) => {
    const root = join(tmp, name);
    mkdirSync(join(root, 'fs'), { recursive: true });
    for (const d of dirs) mkdirSync(join(root, 'fs', d), { recursive: true });
    for (const [f, text] of Object.entries(files)) writeFileSync(join(root, 'fs', f), text);
    writeFileSync(join(root, 'cgroup'), procSelf);
    return { proc: join(root, 'cgroup'), fs: join(root, 'fs') };
  };

  it('v1: the agent own groups of memory, cpu (co-mounted with cpuacct) and pids', () => {
    const f = fixture('v1', '8:pids:/\n4:memory:/agents/a1\n2:cpu,cpuacct:/\n0::/\n', [
      'pids',
      'memory/agents/a1',
      'cpu,cpuacct',
    ]);
    const r = discoverCgroups(f.proc, f.fs);
    expect(r).toEqual({
      ok: true,
      host: {
        version: 1,
        parents: {
          memory: join(f.fs, 'memory/agents/a1'),
          cpu: join(f.fs, 'cpu,cpuacct'),
          pids: join(f.fs, 'pids'),
        },
      },
    });
  });

  it('v2: needs memory, cpu and pids delegated, and says which are missing', () => {
    const ok = fixture('v2', '0::/agent\n', ['agent'], {
      'cgroup.controllers': 'cpu memory pids',
      'agent/cgroup.controllers': 'cpuset cpu io memory pids',
    });
    expect(discoverCgroups(ok.proc, ok.fs)).toEqual({
      ok: true,
      host: { version: 2, parents: { unified: join(ok.fs, 'agent') } },
    });
    const bad = fixture('v2-bad', '0::/agent\n', ['agent'], {
      'cgroup.controllers': 'cpu memory pids',
      'agent/cgroup.controllers': 'cpu io',
    });
    const r = discoverCgroups(bad.proc, bad.fs);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.why).toMatch(/lacks the memory, pids controller/);
  });

  it('no controllers at all: says what to mount', () => {
    const f = fixture('none', '0::/\n', []);
    const r = discoverCgroups(f.proc, f.fs);
    expect(!r.ok && r.why).toMatch(/no memory, cpu and pids cgroup controllers/);
  });
});

const SPAWN_50 = [
  "const {spawn}=require('child_process');let ok=0,err='';",
  "for(let i=0;i<50;i++){const c=spawn('sleep',['30']);c.on('spawn',()=>ok++);c.on('error',e=>err=e.code)}",
  "setTimeout(()=>{console.log('started',ok,err);process.exit(0)},1000);",
].join('');

describe.skipIf(!probe.ok)(`the sandbox on this machine${skipWhy}`, () => {
  const setup = probe.ok ? probe.setup : undefined!;
  const base = join('/var/lib/aethir-test', `unit-${process.pid}`);
  afterAll(() => {
    rmSync(base, { recursive: true, force: true });
    rmSync(`${base}-other`, { recursive: true, force: true });
  });
  const runtime = () => new HostProcessRuntime({ baseDir: base, sandbox: setup, killGraceMs: 200 });

  it('a lease cgroup has the limits written and ends everything in it, setsid or not', async () => {
    const g = await createLeaseCgroup(setup.cgroups, `unit-${process.pid}`, {
      memoryMiB: 64,
      pids: 20,
      cpus: 0.5,
    });
    try {
      if (setup.cgroups.version === 1) {
        const mem = g.dirs.find((d) => d.includes('/memory/'))!;
        expect(readFileSync(join(mem, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(64 << 20));
        const pids = g.dirs.find((d) => d.includes('/pids/'))!;
        expect(readFileSync(join(pids, 'pids.max'), 'utf8').trim()).toBe('20');
        const cpu = g.dirs.find((d) => d.includes('/cpu'))!;
        expect(readFileSync(join(cpu, 'cpu.cfs_quota_us'), 'utf8').trim()).toBe('50000');
      }
      const argv = joinCgroupsArgv('/bin/sh', g.procsFiles, [
        '/bin/sh',
        '-c',
        'setsid sleep 600 & sleep 600',
      ]);
      const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore', detached: true });
      for (let i = 0; i < 100 && (await g.pids()).length < 3; i++)
        await new Promise((r) => setTimeout(r, 20));
      const pids = await g.pids();
      expect(pids.length).toBe(3);
      await g.killAll();
      expect(await g.pids()).toEqual([]);
      for (const p of pids)
        expect(existsSync(`/proc/${p}/cmdline`) && readFileSync(`/proc/${p}/cmdline`).length > 0).toBe(false);
      child.unref();
    } finally {
      await g.remove();
    }
    for (const d of g.dirs) expect(existsSync(d)).toBe(false);
  });

  it('runs as a uid of the range in its own directory, sees no other process of the host', async () => {
    const rt = runtime();
    const w = await rt.start({
      leaseId: 'U1',
      command: ['sh', '-c', 'id -u; id -g; pwd; ls /proc | grep -c "^[0-9]"; stat -c %u .'],
      gpuIndices: [],
    });
    const { out, exit } = await output(w);
    const [uid, gid, pwd, procs, owner] = out.trim().split('\n');
    expect(exit.exitCode).toBe(0);
    expect(Number(uid)).toBeGreaterThanOrEqual(230_000);
    expect(gid).toBe(uid);
    expect(owner).toBe(uid);
    expect(pwd).toBe(join(base, 'U1'));
    expect(Number(procs)).toBeLessThanOrEqual(5); // bwrap's init, sh, ls, grep
    expect(statSync(base).mode & 0o777).toBe(0o711);
    expect(existsSync(join(base, 'U1'))).toBe(false); // removed after
  });

  it('two leases at once get two different uids', async () => {
    const rt = runtime();
    const [a, b] = await Promise.all(
      ['U2', 'U3'].map((id) =>
        rt.start({ leaseId: id, command: ['sh', '-c', 'sleep 0.3; id -u'], gpuIndices: [] }),
      ),
    );
    const [oa, ob] = await Promise.all([output(a!), output(b!)]);
    expect(oa.out.trim()).not.toBe(ob.out.trim());
  });

  it('a workload killed by a signal reports the signal, as an unsandboxed one does', async () => {
    const rt = runtime();
    const w = await rt.start({ leaseId: 'U7', command: ['sh', '-c', 'kill -TERM $$'], gpuIndices: [] });
    const { exit } = await output(w);
    expect(exit).toMatchObject({ exitCode: null, signal: 'SIGTERM', reason: 'exited' });
  });

  it('memory past the limit: killed by the kernel, the reason says which limit', async () => {
    const rt = runtime();
    const w = await rt.start({
      leaseId: 'U4',
      command: ['node', '-e', 'const a=[];for(;;)a.push(Buffer.alloc(8<<20).fill(1))'],
      gpuIndices: [],
      limits: { memoryMiB: 96 },
    });
    const { exit } = await output(w);
    expect(exit).toMatchObject({
      reason: 'timeout',
      limit: 'memoryMiB',
      message: 'memory limit of 96 MiB exceeded',
    });
  });

  it('the pids limit caps forks; nothing it forked outlives it', async () => {
    const rt = runtime();
    const w = await rt.start({
      leaseId: 'U5',
      command: ['node', '-e', SPAWN_50],
      gpuIndices: [],
      limits: { pids: 12 },
    });
    const { out } = await output(w);
    // node's own threads count too: far fewer than the 50 children asked for got started
    expect(Number(/started (\d+)/.exec(out)?.[1])).toBeLessThan(12);
    expect(out).toMatch(/EAGAIN/);
    const leftover = execFileSync('ps', ['-eo', 'uid=,stat=,args='], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter(([uid, stat]) => Number(uid) >= 230_000 && !stat!.startsWith('Z'));
    expect(leftover).toEqual([]);
  });

  it('its port is reachable from the host loopback only through the forward; host loopback is not reachable inside', async () => {
    const host = createServer((s) => s.end('host-secret'));
    await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
    const hostPort = (host.address() as { port: number }).port;
    const free = createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    const port = (free.address() as { port: number }).port;
    await new Promise<void>((r) => free.close(() => r()));
    try {
      const rt = runtime();
      const script = [
        "const net=require('net');",
        "net.createServer((s)=>s.end('from-lease')).listen(+process.env.AETHIR_PORT,'127.0.0.1');",
        `const c=net.connect(${hostPort},'127.0.0.1');`,
        "c.on('data',d=>console.log('LEAKED',String(d)));c.on('error',e=>console.log('host',e.code));",
        'setTimeout(()=>process.exit(0),3000);',
      ].join('');
      const w = await rt.start({ leaseId: 'U6', command: ['node', '-e', script], gpuIndices: [], port });
      let got = '';
      for (let i = 0; i < 40 && !got; i++) {
        await new Promise((r) => setTimeout(r, 100));
        got = await new Promise<string>((resolve) => {
          const c = connect(port, '127.0.0.1');
          let d = '';
          c.on('data', (x: Buffer) => (d += x));
          c.on('end', () => resolve(d));
          c.on('error', () => resolve(''));
        });
      }
      const { out } = await output(w);
      expect(got).toBe('from-lease');
      expect(out).toContain('host ECONNREFUSED');
      expect(out).not.toContain('LEAKED');
    } finally {
      host.close();
    }
  });

  it("a lease's own port (workload.port) is its sandbox's, never the host's: naming a port the host serves on reaches the lease", async () => {
    // The attack: a workload declares as its port one the host serves on loopback, hoping the
    // endpoint reaches the host's service. The forward lands in the lease's namespace instead.
    const host = createServer((s) => s.end('host-secret'));
    await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
    const hostPort = (host.address() as { port: number }).port;
    const free = createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    const port = (free.address() as { port: number }).port;
    await new Promise<void>((r) => free.close(() => r()));
    const ask = () =>
      new Promise<string>((resolve) => {
        const c = connect(port, '127.0.0.1');
        let d = '';
        c.on('data', (x: Buffer) => (d += x));
        c.on('end', () => resolve(d));
        c.on('error', () => resolve(''));
      });
    try {
      const rt = runtime();
      // first nothing listens inside: the endpoint gets nothing, not the host's service
      const silent = await rt.start({
        leaseId: 'U7',
        command: ['sleep', '3'],
        gpuIndices: [],
        port,
        workloadPort: hostPort,
      });
      let before = '';
      for (let i = 0; i < 10; i++) {
        await new Promise((r) => setTimeout(r, 100));
        before += await ask();
      }
      await silent.kill();
      expect(before).not.toContain('host-secret');
      const script = [
        "const net=require('net');",
        "console.log('port',process.env.AETHIR_PORT);",
        "net.createServer((s)=>s.end('from-lease')).listen(+process.env.AETHIR_PORT,'127.0.0.1');",
        'setTimeout(()=>process.exit(0),3000);',
      ].join('');
      const w = await rt.start({
        leaseId: 'U8',
        command: ['node', '-e', script],
        gpuIndices: [],
        port,
        workloadPort: hostPort,
      });
      let got = '';
      for (let i = 0; i < 40 && !got; i++) {
        await new Promise((r) => setTimeout(r, 100));
        got = await ask();
      }
      const { out } = await output(w);
      expect(out).toContain(`port ${hostPort}`);
      expect(got).toBe('from-lease');
    } finally {
      host.close();
    }
  });

  it('its port takes datagrams too ($AETHIR_UDP_PORT: what a game session streams through), from the host loopback', async () => {
    const free = createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    const port = (free.address() as { port: number }).port;
    await new Promise<void>((r) => free.close(() => r()));
    const rt = runtime();
    // an echo on the lease's UDP port, as the env names it (user env cannot name another)
    const script = [
      "const s=require('dgram').createSocket('udp4');",
      "s.on('message',(m,r)=>s.send('echo:'+m,r.port,r.address));",
      "s.bind(+process.env.AETHIR_UDP_PORT,()=>console.log('udp',process.env.AETHIR_UDP_PORT));",
      'setTimeout(()=>process.exit(0),4000);',
    ].join('');
    const w = await rt.start({
      leaseId: 'U9',
      command: ['node', '-e', script],
      gpuIndices: [],
      port,
      env: { AETHIR_UDP_PORT: '1' },
    });
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    let got = '';
    sock.on('message', (m) => (got = String(m)));
    for (let i = 0; i < 30 && !got; i++) {
      sock.send('ping', port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 100));
    }
    sock.close();
    const { out } = await output(w);
    expect(out).toContain(`udp ${port}`);
    expect(got).toBe('echo:ping');
  });

  it("its UDP port comes in from the host's public address, and nothing else of the lease does", async () => {
    // A player elsewhere: a network namespace of this test's, joined to the host by a veth pair
    // whose host end's address stands for the host's public address.
    const net = makePlayerNet();
    if (!net) return void expect(process.getuid?.(), 'root can make the player network').not.toBe(0);
    let lease: RunningWorkload | undefined;
    try {
      const free = createServer();
      await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
      const port = (free.address() as { port: number }).port;
      await new Promise<void>((r) => free.close(() => r()));
      const other = port === 65535 ? port - 1 : port + 1;
      // inside: a UDP echo on the lease's port and on another, TCP listeners on its port and another
      const script = [
        "const d=require('dgram'),net=require('net');",
        "const echo=(p,tag)=>{const s=d.createSocket('udp4');s.on('message',(m,r)=>s.send(tag+':'+m,r.port,r.address));s.bind(p);};",
        "echo(+process.env.AETHIR_UDP_PORT,'echo');",
        `echo(${other},'other');`,
        "net.createServer((c)=>c.end('tcp-lease')).listen(+process.env.AETHIR_PORT,'0.0.0.0');",
        `net.createServer((c)=>c.end('tcp-other')).listen(${other},'0.0.0.0');`,
        "console.log('udp',process.env.AETHIR_UDP_HOST,process.env.AETHIR_UDP_PORT);",
        'setTimeout(()=>process.exit(0),8000);',
      ].join('');
      const w = (lease = await runtime().start({
        leaseId: 'U10',
        command: ['node', '-e', script],
        gpuIndices: [],
        port,
        publicAddress: net.hostAddr,
        env: { AETHIR_UDP_HOST: '6.6.6.6' }, // user env cannot name another address
      }));
      // the player: the lease's port first (until it answers), then the attacks
      const player = [
        "const d=require('dgram'),net=require('net');",
        `const H='${net.hostAddr}',P=${port},O=${other};`,
        "const got=[];const s=d.createSocket('udp4');s.on('message',(m)=>got.push(String(m)));",
        "const tcp=(p)=>new Promise((r)=>{const c=net.connect(p,H);let x='';c.on('data',(b)=>x+=b);c.on('end',()=>r(x));c.on('error',(e)=>r(e.code));c.setTimeout(1000,()=>{c.destroy();r('timeout')});});",
        "(async()=>{for(let i=0;i<50&&!got.includes('echo:ping');i++){s.send('ping',P,H);await new Promise((r)=>setTimeout(r,100));}",
        'const first=[...got];got.length=0;',
        "for(let i=0;i<5;i++){s.send('probe',O,H);await new Promise((r)=>setTimeout(r,100));}",
        'console.log(JSON.stringify({first,probes:got,tcp:await tcp(P),tcpOther:await tcp(O)}));s.close();})();',
      ].join('');
      const seen = JSON.parse(
        execFileSync('ip', ['netns', 'exec', net.ns, process.execPath, '-e', player], { timeout: 20_000 })
          .toString()
          .trim(),
      );
      expect(seen.first).toContain('echo:ping');
      // the attacks: the lease's other UDP port, its TCP port (the endpoint's door is the host's
      // loopback only) and another TCP port, all from outside: nothing answers
      expect(seen.probes).toEqual([]);
      expect(seen.tcp).not.toBe('tcp-lease');
      expect(seen.tcpOther).not.toBe('tcp-other');
      // on the host's loopback: the lease's TCP port (the endpoint proxy's door), nothing else
      const tcp = (p: number) =>
        new Promise<string>((resolve) => {
          const c = connect(p, '127.0.0.1');
          let d = '';
          c.on('data', (x: Buffer) => (d += x));
          c.on('end', () => resolve(d));
          c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        });
      expect(await tcp(port)).toBe('tcp-lease');
      expect(await tcp(other)).not.toBe('tcp-other');
      const { out } = await output(w);
      expect(out).toContain(`udp ${net.hostAddr} ${port}`);
    } finally {
      await lease?.kill('the test is over'); // (its network, pasta, goes with it: a failed check leaves nothing)
      net.remove();
    }
  });

  it("an agent restarted after a crash ends its predecessor's sandboxed leases through their cgroups", async () => {
    const before = runtime();
    const w = await before.start({
      leaseId: 'U8',
      command: ['sh', '-c', 'setsid sleep 600 & sleep 600'],
      gpuIndices: [],
    });
    // the new agent's runtime on the same lease directory; the old one never got to stop it
    const after = runtime();
    expect(await after.reapOrphans()).toEqual(['U8']);
    const { exit } = await output(w);
    expect(exit.signal).toBe('SIGKILL');
    expect(existsSync(join(base, 'U8'))).toBe(false);
    // another runtime's leases (another lease directory) are not its business
    expect(await new HostProcessRuntime({ baseDir: `${base}-other`, sandbox: setup }).reapOrphans()).toEqual(
      [],
    );
  });

  it('a sandbox killed before it read its go-ahead ends its lease, never the agent (its control pipe resets)', async () => {
    // pasta stood in for by a script that takes a second and succeeds; meanwhile the sandbox's
    // pid 1, which waits on bwrap's fd 4 for the go-ahead, is stopped, so that the go-ahead is
    // still unread when it is killed
    const tools = `${base}-tools`;
    mkdirSync(tools, { recursive: true });
    chmodSync(tools, 0o755);
    const slowPasta = join(tools, 'pasta');
    writeFileSync(slowPasta, '#!/bin/sh\nsleep 1\n', { mode: 0o755 });
    const rt = new HostProcessRuntime({
      baseDir: base,
      sandbox: { ...setup, tools: { ...setup.tools, pasta: slowPasta } },
      killGraceMs: 200,
    });
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      const starting = rt.start({ leaseId: 'U9', command: ['sleep', '600'], gpuIndices: [] });
      // bwrap has said its sandbox's pid, which waits for the go-ahead: the stand-in pasta is given it
      const pasta = await waitForProcess((argv) => argv.includes(slowPasta) && argv.includes('--netns'));
      const netns = readFileSync(`/proc/${pasta}/cmdline`, 'utf8').split('\0');
      const sandboxPid = Number(/^\/proc\/(\d+)\/ns\/net$/.exec(netns[netns.indexOf('--netns') + 1]!)![1]);
      process.kill(sandboxPid, 'SIGSTOP');
      const w = await starting;
      process.kill(sandboxPid, 'SIGKILL');
      const { exit } = await output(w);
      expect(exit.signal).toBe('SIGKILL');
      await new Promise((r) => setTimeout(r, 300));
      expect(uncaught.map(String)).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      rmSync(tools, { recursive: true, force: true });
    }
  });

  it('refuses a lease directory inside a private directory, saying why', () => {
    const priv = mkdtempSync(join(tmpdir(), 'aethir-private-')); // 0700
    expect(() => new HostProcessRuntime({ baseDir: join(priv, 'leases'), sandbox: setup })).toThrow(
      /other users cannot enter .*choose a lease directory outside private directories/,
    );
    rmSync(priv, { recursive: true, force: true });
  });
});

describe.skipIf(!probe.ok)(`sandboxLoopbackReady${skipWhy}`, () => {
  const sandboxed = (args: string[]) =>
    new Promise<{ pid: number; stop: () => void }>((resolve, reject) => {
      const child = spawn('bwrap', [...args, '--info-fd', '3', 'sleep', '5'], {
        stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      });
      let info = '';
      child.stdio[3]!.on('data', (d: Buffer) => {
        info += d.toString();
        const m = /"child-pid":\s*(\d+)/.exec(info);
        if (m) resolve({ pid: Number(m[1]), stop: () => child.kill('SIGKILL') });
      });
      child.on('error', reject);
    });

  it("waits for bwrap's loopback in the sandbox's own network namespace", async () => {
    const s = await sandboxed(['--ro-bind', '/', '/', '--unshare-all']);
    try {
      expect(await sandboxLoopbackReady(s.pid)).toBe(true);
    } finally {
      s.stop();
    }
  });

  it('gives up after its timeout where the namespace gets no loopback address', async () => {
    // unshare(1) makes a network namespace and leaves lo down, with no address
    const child = spawn('unshare', ['--net', 'sleep', '5'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 200));
      expect(await sandboxLoopbackReady(child.pid!, 150)).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
