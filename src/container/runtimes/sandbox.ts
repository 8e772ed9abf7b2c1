/**
 * The lease sandbox of the host-process runtime: what makes a stranger's workload unable to touch
 * the host, the agent or other leases. docs/security.md says why each piece is there.
 *
 *  - its own unprivileged uid/gid per lease (from a range the agent allocates, never the agent's),
 *    set with util-linux `setpriv` (no capabilities, no new privileges);
 *  - bubblewrap: new user, pid, mount, ipc, uts, cgroup and network namespaces; a filesystem view of
 *    read-only system directories, the lease's own working directory, a private /tmp, a minimal
 *    /dev plus the lease's own GPU device nodes, and nothing else (no keys, ledger, other leases,
 *    home directories);
 *  - a cgroup per lease (v1 or v2) with memory, CPU quota and process-count limits; the lease ends
 *    through it, so nothing it forked (setsid included) survives it;
 *  - pasta (user-mode NAT) for outbound access from its network namespace, with no route to the
 *    host's loopback, and the lease's port forwarded from 127.0.0.1 on the host for the endpoint
 *    proxy only.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants as fsConstants,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import path from 'node:path';
import { AethirError } from '../../core/errors.js';
import type { WorkloadLimits } from './runtime.js';

/** What a sandbox needs from the machine, each with how an operator provides it. */
export interface Requirement {
  what: string;
  ok: boolean;
  /** why it is missing, and how to enable it */
  fix?: string;
}

export interface SandboxTools {
  bwrap: string;
  setpriv: string;
  pasta: string;
  sh: string;
}

export interface SandboxOptions {
  /** first uid (and gid) of the range leases run as; default 200000 */
  uidBase?: number;
  /** how many uids the range holds (at most that many leases at once); default 4096 */
  uidCount?: number;
  /** where the lease cgroups are made; default: discovered (see `discoverCgroups`) */
  cgroups?: CgroupHost;
  tools?: Partial<SandboxTools>;
  /** where device nodes live (tests point it elsewhere); default /dev */
  devDir?: string;
}

const SYSTEM_DIRS = ['/usr', '/etc', '/opt'];
const USR_LINKS = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];
/** Whether a host path is in every lease's view (the system directories the sandbox binds). */
export function inSandboxView(p: string): boolean {
  return [...SYSTEM_DIRS, ...USR_LINKS.map((l) => `/${l}`)].some(
    (root) => p === root || p.startsWith(`${root}/`),
  );
}

/** The ordinary device nodes every process may use. */
const DEV_NODES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];
/** NVIDIA's device nodes every CUDA process opens besides its own GPUs. */
const NVIDIA_SHARED_NODES = ['nvidiactl', 'nvidia-uvm', 'nvidia-uvm-tools', 'nvidia-modeset'];

/** Whether this process may use `p` so (fs.constants X_OK, W_OK). */
function can(p: string, mode: number): boolean {
  try {
    accessSync(p, mode);
    return true;
  } catch {
    return false;
  }
}
const isExecutable = (p: string) => can(p, fsConstants.X_OK);
const writable = (dir: string) => can(dir, fsConstants.W_OK);

export function findTool(name: string): string | null {
  const dirs = ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin'];
  return dirs.map((dir) => path.join(dir, name)).find(isExecutable) ?? null;
}

/**
 * A lease's cgroups: one directory per controller (v1) or one (v2), made under the agent's own
 * group so the operator's limits on the agent also bound its leases.
 */
export class LeaseCgroup {
  constructor(
    /** the lease's cgroup directories; the first holds the authoritative process list */
    readonly dirs: string[],
    private readonly version: 1 | 2,
    readonly memoryMiB: number | undefined,
  ) {}

  /** Files a process writes its pid to in order to join the lease's groups. */
  get procsFiles(): string[] {
    return this.dirs.map((d) => path.join(d, 'cgroup.procs'));
  }

  async pids(): Promise<number[]> {
    const seen = new Set<number>();
    for (const d of this.dirs) {
      const text = await readFile(path.join(d, 'cgroup.procs'), 'utf8').catch(() => '');
      for (const line of text.split('\n')) if (line) seen.add(Number(line));
    }
    return [...seen];
  }

  /** Signals every process in the lease, but `except`. */
  async signal(sig: NodeJS.Signals, except: readonly number[] = []): Promise<void> {
    for (const pid of await this.pids()) {
      if (except.includes(pid)) continue;
      try {
        process.kill(pid, sig);
      } catch {
        // gone already
      }
    }
  }

  /**
   * Kills everything in the lease (SIGKILL, repeated while processes remain: a process may fork
   * while the list is read) and resolves once the groups are empty.
   */
  async killAll(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const pids = await this.pids();
      if (pids.length === 0) return;
      if (this.version === 2) {
        // cgroup.kill (Linux 5.14) kills the whole group atomically, forks in flight included.
        await writeFile(path.join(this.dirs[0]!, 'cgroup.kill'), '1').catch(() => undefined);
      }
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await new Promise((r) => setTimeout(r, i < 10 ? 5 : 50));
    }
    throw new AethirError('RUNTIME_FAILED', `processes of ${this.dirs[0]} survive SIGKILL`);
  }

  /** How many times the kernel's OOM killer acted in the lease (memory limit reached). */
  async oomKills(): Promise<number> {
    if (this.version === 2) {
      const events = await readFile(path.join(this.dirs[0]!, 'memory.events'), 'utf8').catch(() => '');
      return Number(/^oom_kill (\d+)/m.exec(events)?.[1] ?? 0);
    }
    const mem = this.dirs.find((d) => d.includes(`${path.sep}memory${path.sep}`));
    if (!mem) return 0;
    const ctl = await readFile(path.join(mem, 'memory.oom_control'), 'utf8').catch(() => '');
    // Kernels since 4.13 count kills here; older ones only say the limit was hit (failcnt).
    const kills = /^oom_kill (\d+)/m.exec(ctl);
    if (kills) return Number(kills[1]);
    return Number((await readFile(path.join(mem, 'memory.failcnt'), 'utf8').catch(() => '0')).trim()) > 0
      ? 1
      : 0;
  }

  /** Removes the groups (they must be empty: call killAll first). */
  async remove(): Promise<void> {
    for (const d of this.dirs) {
      for (let i = 0; i < 20; i++) {
        try {
          await rmdir(d);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') break;
          // EBUSY while the last exiting task is being reaped
          await new Promise((r) => setTimeout(r, 25));
        }
      }
    }
  }
}

/** Where this process may make lease cgroups, and how. */
export interface CgroupHost {
  version: 1 | 2;
  /** v1: controller → the agent's own group directory in it; v2: 'unified' → the parent group */
  parents: Record<string, string>;
}

/**
 * Finds the agent's own cgroups (from /proc/self/cgroup) and checks that it can make child
 * groups with memory, cpu and pids limits in them. Returns what is missing otherwise.
 */
export function discoverCgroups(
  procSelfCgroup = '/proc/self/cgroup',
  mountRoot = '/sys/fs/cgroup',
): { ok: true; host: CgroupHost } | { ok: false; why: string } {
  let text: string;
  try {
    text = readFileSync(procSelfCgroup, 'utf8');
  } catch (e) {
    return { ok: false, why: `cannot read ${procSelfCgroup}: ${(e as Error).message}` };
  }
  const lines = text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [, , controllers, p] = /^(\d+):([^:]*):(.*)$/.exec(l) ?? [];
      return { controllers: (controllers ?? '').split(','), path: p ?? '/' };
    });
  const v1: Record<string, string> = {};
  for (const want of ['memory', 'cpu', 'pids']) {
    const line = lines.find((l) => l.controllers.includes(want));
    if (!line) continue;
    // cpu is often co-mounted as cpu,cpuacct
    const mountDir = [want, line.controllers.join(',')].map((m) => path.join(mountRoot, m)).find(existsSync);
    if (mountDir) v1[want] = path.resolve(mountDir, `.${line.path}`);
  }
  if (Object.keys(v1).length === 3) {
    const notWritable = Object.entries(v1).filter(([, d]) => !writable(d));
    if (notWritable.length)
      return {
        ok: false,
        why: `cgroup v1 groups not writable: ${notWritable.map(([, d]) => d).join(', ')} (run the agent as root, or delegate these groups to its user)`,
      };
    return { ok: true, host: { version: 1, parents: v1 } };
  }
  const unified = lines.find((l) => l.controllers.length === 1 && l.controllers[0] === '');
  const unifiedMount = existsSync(path.join(mountRoot, 'cgroup.controllers'))
    ? mountRoot
    : existsSync(path.join(mountRoot, 'unified', 'cgroup.controllers'))
      ? path.join(mountRoot, 'unified')
      : null;
  if (unified && unifiedMount) {
    const parent = path.join(unifiedMount, unified.path);
    let controllers = '';
    try {
      controllers = readFileSync(path.join(parent, 'cgroup.controllers'), 'utf8');
    } catch {
      // below
    }
    const missing = ['memory', 'cpu', 'pids'].filter((c) => !controllers.split(/\s+/).includes(c));
    if (missing.length)
      return {
        ok: false,
        why: `cgroup v2 group ${parent} lacks the ${missing.join(', ')} controller(s) (enable them in the parent's cgroup.subtree_control, e.g. with systemd Delegate=yes)`,
      };
    if (!writable(parent))
      return {
        ok: false,
        why: `cgroup v2 group ${parent} is not writable (run the agent as root or delegate it)`,
      };
    return { ok: true, host: { version: 2, parents: { unified: parent } } };
  }
  return {
    ok: false,
    why: 'no memory, cpu and pids cgroup controllers found (mount cgroup v2 at /sys/fs/cgroup, or the v1 controllers)',
  };
}

/** The CPU quota period the kernel enforces `cpus` over (100 ms, the default). */
const CPU_PERIOD_US = 100_000;

/** Makes the lease's groups and writes its limits. A v2 group with processes needs its own leaf. */
export async function createLeaseCgroup(
  host: CgroupHost,
  leaseId: string,
  limits: Pick<WorkloadLimits, 'memoryMiB' | 'cpus' | 'pids'>,
): Promise<LeaseCgroup> {
  const name = `aethir-lease-${leaseId}`;
  const mem = limits.memoryMiB !== undefined ? limits.memoryMiB * 1024 * 1024 : undefined;
  const quota =
    limits.cpus !== undefined ? Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US)) : undefined;
  const dirs: string[] = [];
  const write = (dir: string, file: string, value: string) =>
    writeFile(path.join(dir, file), value).catch((e: Error) => {
      throw new AethirError('RUNTIME_FAILED', `cannot set ${file} of ${dir}: ${e.message}`, { cause: e });
    });
  try {
    if (host.version === 1) {
      for (const controller of ['memory', 'pids', 'cpu']) {
        const dir = path.join(host.parents[controller]!, name);
        await mkdir(dir, { recursive: true });
        dirs.push(dir);
        if (controller === 'memory' && mem !== undefined) {
          await write(dir, 'memory.limit_in_bytes', String(mem));
          // no swap beyond the limit, where the kernel accounts swap
          if (existsSync(path.join(dir, 'memory.memsw.limit_in_bytes')))
            await write(dir, 'memory.memsw.limit_in_bytes', String(mem));
        }
        if (controller === 'pids' && limits.pids !== undefined)
          await write(dir, 'pids.max', String(limits.pids));
        if (controller === 'cpu' && quota !== undefined) {
          await write(dir, 'cpu.cfs_period_us', String(CPU_PERIOD_US));
          await write(dir, 'cpu.cfs_quota_us', String(quota));
        }
      }
    } else {
      const parent = host.parents.unified!;
      const subtree = await readFile(path.join(parent, 'cgroup.subtree_control'), 'utf8').catch(() => '');
      const need = ['memory', 'cpu', 'pids'].filter((c) => !subtree.split(/\s+/).includes(c));
      if (need.length) await write(parent, 'cgroup.subtree_control', need.map((c) => `+${c}`).join(' '));
      const dir = path.join(parent, name);
      await mkdir(dir, { recursive: true });
      dirs.push(dir);
      if (mem !== undefined) {
        await write(dir, 'memory.max', String(mem));
        await write(dir, 'memory.swap.max', '0').catch(() => undefined);
      }
      if (limits.pids !== undefined) await write(dir, 'pids.max', String(limits.pids));
      if (quota !== undefined) await write(dir, 'cpu.max', `${quota} ${CPU_PERIOD_US}`);
    }
  } catch (e) {
    await new LeaseCgroup(dirs, host.version, undefined).remove();
    throw e;
  }
  return new LeaseCgroup(dirs, host.version, limits.memoryMiB);
}

/** Finds leftover lease groups (after an agent crash) and returns their lease ids. */
export async function leftoverLeaseCgroups(host: CgroupHost): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  for (const parent of Object.values(host.parents)) {
    for (const name of await readdir(parent).catch(() => [] as string[])) {
      const m = /^aethir-lease-([A-Za-z0-9_-]{1,128})$/.exec(name);
      if (!m) continue;
      found.set(m[1]!, [...(found.get(m[1]!) ?? []), path.join(parent, name)]);
    }
  }
  return found;
}

export interface BwrapPlan {
  /** the lease's working directory: bound read-write at the same path */
  workdir: string;
  uid: number;
  /** GPUs the lease was given (nvidia-smi indices) */
  gpuIndices: readonly number[];
  /** device nodes present on this host (names under devDir) */
  devNodes: readonly string[];
  devDir: string;
  /** extra read-only paths in view (an installed app's directory) */
  readOnly?: readonly string[];
  /** read-only host paths shown at another path (source, where the lease sees it) */
  readOnlyAt?: ReadonlyArray<readonly [string, string]>;
  /** host directories bound at their targets (volumes), read-write unless readOnly */
  mounts?: ReadonlyArray<{ source: string; target: string; readOnly?: boolean }>;
  /** host directories it may write (an interruptible lease's checkpoint directory) */
  writable?: readonly string[];
  /** bwrap's fds: where it writes the sandbox's pid, and what it waits on before running the command */
  infoFd: number;
  blockFd: number;
}

/**
 * bubblewrap's arguments for one lease, up to and including the `--` before the command. Pure, so
 * every path that enters the view is checked in a unit test.
 */
export function bwrapArgs(plan: BwrapPlan): string[] {
  const a: string[] = [
    '--unshare-all', // ipc, pid, net, uts, cgroup namespaces
    '--unshare-user',
    '--uid',
    String(plan.uid),
    '--gid',
    String(plan.uid),
    '--die-with-parent',
    '--new-session', // no TIOCSTI into the agent's terminal
    '--cap-drop',
    'ALL',
  ];
  for (const dir of SYSTEM_DIRS) a.push('--ro-bind-try', dir, dir);
  for (const link of USR_LINKS) {
    // merged-/usr systems link /bin → usr/bin; others have real directories
    a.push(
      ...(isSymlink(`/${link}`)
        ? ['--symlink', `usr/${link}`, `/${link}`]
        : ['--ro-bind-try', `/${link}`, `/${link}`]),
    );
  }
  // A minimal /dev made by hand: bwrap's own --dev mounts a devpts, which makes it nest a second
  // user namespace whose owner cannot admit pasta into the network namespace.
  a.push('--proc', '/proc', '--tmpfs', '/dev');
  for (const node of DEV_NODES) a.push('--dev-bind', `/dev/${node}`, `/dev/${node}`);
  a.push('--symlink', '/proc/self/fd', '/dev/fd');
  ['stdin', 'stdout', 'stderr'].forEach((n, i) => a.push('--symlink', `/proc/self/fd/${i}`, `/dev/${n}`));
  a.push('--tmpfs', '/dev/shm', '--tmpfs', '/tmp', '--tmpfs', '/run');
  for (const node of gpuNodes(plan.gpuIndices, plan.devNodes)) {
    a.push('--dev-bind', path.join(plan.devDir, node), `/dev/${node}`);
  }
  for (const p of plan.readOnly ?? []) a.push('--ro-bind', p, p);
  for (const [src, at] of plan.readOnlyAt ?? []) a.push('--ro-bind', src, at);
  for (const m of plan.mounts ?? []) a.push(m.readOnly ? '--ro-bind' : '--bind', m.source, m.target);
  for (const p of plan.writable ?? []) a.push('--bind', p, p);
  a.push('--bind', plan.workdir, plan.workdir, '--chdir', plan.workdir);
  a.push('--info-fd', String(plan.infoFd), '--block-fd', String(plan.blockFd));
  a.push('--');
  return a;
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The device nodes a lease sees: its own GPUs and NVIDIA's shared control nodes, nothing else. */
export function gpuNodes(gpuIndices: readonly number[], present: readonly string[]): string[] {
  if (gpuIndices.length === 0) return [];
  const have = new Set(present);
  return [
    ...gpuIndices.map((i) => `nvidia${i}`).filter((n) => have.has(n)),
    ...NVIDIA_SHARED_NODES.filter((n) => have.has(n)),
  ];
}

/**
 * What of the aethir package at `root` a lease may read so that it can run the aethir CLI: its
 * code and dependencies (`node_modules` where it really is, shown where the package looks for it),
 * never the rest of a checkout. Empty where the package is in every lease's view already (under
 * /usr: an installed package).
 */
export function aethirPackagePaths(root: string): Array<[string, string]> {
  const r = path.resolve(root);
  if (inSandboxView(r)) return [];
  const out: Array<[string, string]> = [];
  for (const name of ['package.json', 'bin', 'src', 'dist', 'node_modules']) {
    const p = path.join(r, name);
    if (!existsSync(p)) continue;
    out.push([realpathSync(p), p]);
  }
  return out;
}

/**
 * Where a sandboxed lease's UDP port is bound on the host, for players to reach it at `publicAddress`
 * (the endpoint's address): that address when it is one of this host's, else every address of the
 * host's (`undefined`: behind a NAT or a cloud's 1:1 mapping, the public address is not on any
 * interface here, and the datagrams come in on the private one). Absent, or anything but an IPv4
 * literal: the host's loopback.
 */
export function udpBindAddress(
  publicAddress: string | undefined,
  local: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string | undefined {
  if (publicAddress === undefined || !isIPv4(publicAddress)) return '127.0.0.1';
  const mine = Object.values(local).flatMap((xs) => (xs ?? []).map((x) => x.address));
  return mine.includes(publicAddress) ? publicAddress : undefined;
}

/**
 * pasta's arguments: join the sandbox's namespaces, NAT outbound, nothing of the host's loopback.
 * The lease's port comes in from the host's loopback only for TCP (the endpoint proxy's way in),
 * and with the same number for UDP, the media a workload sends peer to peer (a game session's
 * WebRTC: its ICE candidate is that port, `$AETHIR_UDP_PORT`), from where players reach it: the
 * host's public address (`udpBindAddress`), else loopback. No other port, of either protocol. A
 * lease that names its own TCP port (`workloadPort`, the lease's `workload.port`) gets the host's
 * port mapped to that one inside.
 */
export function pastaArgs(
  sandboxPid: number,
  port: number | undefined,
  workloadPort?: number,
  publicAddress?: string,
): string[] {
  const udpAt = udpBindAddress(publicAddress);
  return [
    '--config-net',
    '--no-map-gw', // the gateway address is not the host: no way to the host's loopback services
    '--quiet',
    '-t',
    // the endpoint proxy's way in, from the host's loopback only, to the lease's own port (or the same)
    port !== undefined ? `127.0.0.1/${port}${workloadPort !== undefined ? `:${workloadPort}` : ''}` : 'none',
    '-u',
    // the same port's datagrams, where players reach the host
    port !== undefined ? (udpAt !== undefined ? `${udpAt}/${port}` : String(port)) : 'none',
    '-T',
    'none', // "auto" would map the host's listening ports into the sandbox's loopback
    '-U',
    'none',
    '--userns',
    `/proc/${sandboxPid}/ns/user`,
    '--netns',
    `/proc/${sandboxPid}/ns/net`,
  ];
}

/**
 * Hands out uids from the range, one per running lease. Every agent on a host shares the range, so a
 * uid is taken by creating `<lockDir>/<uid>` exclusively (holding the taker's pid): two agents can
 * never give one uid to two leases, and a lock whose process is gone (a crashed agent) is taken over.
 */
export class UidRange {
  private readonly mine = new Set<number>();
  constructor(
    readonly base: number,
    readonly count: number,
    readonly lockDir = '/run/aethir/lease-uids',
  ) {}
  take(): number {
    mkdirSync(this.lockDir, { recursive: true, mode: 0o700 });
    for (let i = 0; i < this.count; i++) {
      const uid = this.base + i;
      if (this.mine.has(uid)) continue;
      const lock = path.join(this.lockDir, String(uid));
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          writeFileSync(lock, String(process.pid), { flag: 'wx', mode: 0o600 });
          this.mine.add(uid);
          return uid;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
          const holder = Number(readFileSafe(lock));
          if (Number.isInteger(holder) && holder > 0 && alive(holder)) break;
          rmSync(lock, { force: true }); // its agent is gone: free again
        }
      }
    }
    throw new AethirError('CAPACITY_EXHAUSTED', `all ${this.count} sandbox uids are in use`);
  }
  release(uid: number): void {
    if (!this.mine.delete(uid)) return;
    rmSync(path.join(this.lockDir, String(uid)), { force: true });
  }
}

function readFileSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/** Whether process `pid` exists (one of another user counts: signalling it is only not allowed). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A machine's readiness for the sandbox, and the pieces it runs with. */
export interface SandboxSetup {
  tools: SandboxTools;
  cgroups: CgroupHost;
  uids: UidRange;
  devDir: string;
}

/**
 * Checks everything the sandbox needs on this machine (tools, root, user namespaces, cgroups), by
 * trying it. Returns the setup, or the requirements with what is missing and how to enable it.
 */
export async function probeSandbox(
  options: SandboxOptions = {},
): Promise<
  { ok: true; setup: SandboxSetup; requirements: Requirement[] } | { ok: false; requirements: Requirement[] }
> {
  const reqs: Requirement[] = [];
  const tool = (name: 'bwrap' | 'setpriv' | 'pasta' | 'sh', pkg: string): string | null => {
    const given = options.tools?.[name];
    const p = given !== undefined ? (isExecutable(given) ? given : null) : findTool(name);
    reqs.push(
      p
        ? { what: name, ok: true }
        : { what: name, ok: false, fix: `${name} is not installed (Debian/Ubuntu: apt-get install ${pkg})` },
    );
    return p;
  };
  const bwrap = tool('bwrap', 'bubblewrap');
  const setpriv = tool('setpriv', 'util-linux');
  const pasta = tool('pasta', 'passt');
  const sh = tool('sh', 'dash');
  const root = typeof process.geteuid === 'function' && process.geteuid() === 0;
  reqs.push(
    root
      ? { what: 'root (to run each lease as its own uid)', ok: true }
      : {
          what: 'root (to run each lease as its own uid)',
          ok: false,
          fix: 'run the container agent as root (it drops to a per-lease uid for every workload)',
        },
  );
  const cg = options.cgroups ? { ok: true as const, host: options.cgroups } : discoverCgroups();
  reqs.push(cg.ok ? { what: 'cgroups', ok: true } : { what: 'cgroups', ok: false, fix: cg.why });
  const uidBase = options.uidBase ?? 200_000;
  if (bwrap && setpriv && root) {
    // User namespaces: tried for real, as an unprivileged uid of the range.
    const r = await run(setpriv, [
      `--reuid=${uidBase}`,
      `--regid=${uidBase}`,
      '--clear-groups',
      '--',
      bwrap,
      '--unshare-all',
      '--ro-bind',
      '/',
      '/',
      '--',
      '/bin/true',
    ]);
    reqs.push(
      r.ok
        ? { what: 'user namespaces', ok: true }
        : {
            what: 'user namespaces',
            ok: false,
            fix: `bwrap cannot make namespaces as an unprivileged user (${r.stderr.trim().slice(0, 200)}): enable them with sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0 (on Ubuntu 24.04+ also kernel.apparmor_restrict_unprivileged_userns=0)`,
          },
    );
  }
  if (reqs.some((r) => !r.ok) || !cg.ok) return { ok: false, requirements: reqs };
  return {
    ok: true,
    requirements: reqs,
    setup: {
      tools: { bwrap: bwrap!, setpriv: setpriv!, pasta: pasta!, sh: sh! },
      cgroups: cg.host,
      uids: new UidRange(uidBase, options.uidCount ?? 4096),
      devDir: options.devDir ?? '/dev',
    },
  };
}

function run(file: string, args: string[]): Promise<{ ok: boolean; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 10_000 }, (err, _stdout, stderr) =>
      resolve({ ok: !err, stderr: String(stderr || (err as Error | null)?.message || '') }),
    );
  });
}

/** "what: how to fix" lines for an operator. */
export function describeMissing(requirements: readonly Requirement[]): string {
  return requirements
    .filter((r) => !r.ok)
    .map((r) => `${r.what}: ${r.fix}`)
    .join('; ');
}

/**
 * The root-side first step of a sandboxed process: joins the lease's cgroups (so everything it
 * becomes and forks is accounted and killable there), then execs the rest. Paths are arguments,
 * never spliced into the script.
 */
export function joinCgroupsArgv(
  sh: string,
  procsFiles: readonly string[],
  rest: readonly string[],
): string[] {
  return [
    sh,
    '-c',
    'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"',
    'aethir-sandbox',
    ...procsFiles,
    '--',
    ...rest,
  ];
}

/** setpriv's arguments to become the lease's uid with no capabilities and no way back. */
export function setprivArgs(setpriv: string, uid: number): string[] {
  return [
    setpriv,
    `--reuid=${uid}`,
    `--regid=${uid}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--no-new-privs',
    '--',
  ];
}

/**
 * argv that runs `command` INSIDE a running lease sandbox, as a second process of the lease: it
 * joins the lease's cgroups (as root, so it counts against the lease's limits and ends with it),
 * drops to the lease's uid (no capabilities, no new privileges), and only then enters the
 * sandbox's namespaces (user first: the lease's uid owns them), starting in its working
 * directory. It sees what the workload sees and can do nothing the workload cannot.
 */
export function enterSandboxArgv(
  tools: SandboxTools & { nsenter: string },
  procsFiles: readonly string[],
  uid: number,
  sandboxPid: number,
  command: readonly string[],
): string[] {
  return joinCgroupsArgv(tools.sh, procsFiles, [
    ...setprivArgs(tools.setpriv, uid),
    tools.nsenter,
    `--target=${sandboxPid}`,
    '--user',
    '--mount',
    '--pid',
    '--net',
    '--ipc',
    '--uts',
    '--cgroup',
    '--preserve-credentials',
    '--wd',
    '--',
    ...command,
  ]);
}

/**
 * Resolves once bwrap has given the sandbox's network namespace its loopback address (or after
 * `timeoutMs`): bwrap announces the pid right after making the namespace and sets up `lo` only
 * then, and pasta configuring the namespace meanwhile made bwrap fail now and then ("loopback:
 * Failed RTM_NEWADDR"), ending the lease before its command ran.
 */
export async function sandboxLoopbackReady(sandboxPid: number, timeoutMs = 2_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const table = await readFile(`/proc/${sandboxPid}/net/fib_trie`, 'utf8').catch(() => '');
    if (table.includes('127.0.0.1')) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Runs pasta for a sandbox; resolves once its network is up (pasta has daemonized). bwrap announces
 * the sandbox's pid before its namespaces can be joined (it is still setting itself up), so pasta
 * starts once the sandbox's loopback is up, and a "Couldn't switch" is retried for a moment.
 */
export async function startPasta(
  setup: SandboxSetup,
  uid: number,
  procsFiles: readonly string[],
  sandboxPid: number,
  port: number | undefined,
  workloadPort?: number,
  publicAddress?: string,
): Promise<void> {
  // pasta joins the lease's cgroups: it lives and dies with the lease.
  const argv = joinCgroupsArgv(setup.tools.sh, procsFiles, [
    ...setprivArgs(setup.tools.setpriv, uid),
    setup.tools.pasta,
    ...pastaArgs(sandboxPid, port, workloadPort, publicAddress),
  ]);
  await sandboxLoopbackReady(sandboxPid);
  for (let attempt = 0; ; attempt++) {
    const r = await runPasta(argv);
    if (r.code === 0) return;
    if (!/Couldn't switch|Couldn't open (user|network) namespace/.test(r.stderr) || attempt >= 100) {
      throw new AethirError(
        'RUNTIME_FAILED',
        `the lease's network could not be set up (pasta exited ${r.code}): ${r.stderr.trim().slice(0, 300)}`,
      );
    }
    if (!existsSync(`/proc/${sandboxPid}`))
      throw new AethirError('RUNTIME_FAILED', 'the sandbox ended before its network was up');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function runPasta(argv: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: {} });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      if (err.length < 4000) err += d.toString();
    });
    child.on('error', reject);
    // pasta logs to syslog too, and says so on stderr where there is none
    child.on('close', (code) =>
      resolve({ code, stderr: err.replace(/Failed to send \d+ bytes to syslog\n?/g, '') }),
    );
  });
}

/** Where a sandboxed host keeps its leases' directories: outside the agent's private data directory. */
export function defaultLeaseDir(dataDir: string): string {
  return path.join(
    '/var/lib/aethir/leases',
    createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 12),
  );
}
