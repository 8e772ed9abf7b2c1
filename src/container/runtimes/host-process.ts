/**
 * Host-process runtime: runs a lease's workload as a process on the agent's host.
 *
 * With a sandbox (`sandbox: SandboxSetup`, see sandbox.ts and docs/security.md) each workload runs
 * as its own uid in bubblewrap's namespaces, in a cgroup with memory/CPU/process limits and its
 * own network namespace: it sees and reaches nothing of the host's but what the lease was given.
 *
 * Without one (`--isolation none`, registered on the ledger so users can avoid it), isolation is
 * deliberately modest, and callers should know its edges:
 *  - Each workload gets its own session/process group (`detached: true` => setsid), so kill() reaches
 *    everything it forked, grandchildren of shell scripts included. A process that calls setsid()
 *    itself escapes the group; only cgroups (a container runtime) close that hole.
 *  - CUDA_VISIBLE_DEVICES steers CUDA, it is not a security boundary: a host process can still open
 *    /dev/nvidia* directly.
 *  - memory/CPU limits are per-process rlimits (inherited by children, but each child gets its own
 *    budget), not a cgroup total. See `wrapWithLimits` for why these particular rlimits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { constants as osConstants } from 'node:os';
import { accessSync, chmodSync, constants as fsConstants, mkdirSync, statSync, writeFileSync } from 'node:fs';
import {
  access,
  chmod,
  chown,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
} from 'node:fs/promises';
import { checkMounts, chownTree } from '../volumes.js';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Readable, Writable } from 'node:stream';
import { AethirError } from '../../core/errors.js';
import type {
  RunningWorkload,
  Runtime,
  WorkloadEvent,
  WorkloadExitEvent,
  WorkloadLimits,
  WorkloadSpec,
} from './runtime.js';
import {
  consumeStream,
  dirBytes,
  DISK_POLL_MS,
  drainOutput,
  errorMessage,
  type ExitFields,
  invalidSpec,
  killRequest,
  LeaseWorkloads,
  startWallClock,
  type StopRequest,
  validateWorkloadSpec,
  WorkloadEventLog,
} from './workload-common.js';
import {
  bwrapArgs,
  createLeaseCgroup,
  inSandboxView,
  joinCgroupsArgv,
  leftoverLeaseCgroups,
  LeaseCgroup,
  type SandboxSetup,
  setprivArgs,
  startPasta,
  enterSandboxArgv,
  findTool,
} from './sandbox.js';
import { checkExecRequest, spawnExec, type ExecRequest, type ExecSession } from './exec.js';

export interface HostProcessRuntimeOptions {
  /** Parent of the per-lease working directories (`baseDir/<leaseId>`); created if missing. */
  baseDir: string;
  /** Timestamps for events. */
  now?: () => number;
  /** Time between SIGTERM and SIGKILL when stopping a workload (default 3000). */
  killGraceMs?: number;
  /**
   * util-linux `prlimit` used to apply memory/CPU limits. Omitted: looked up in the usual places at
   * construction. null: don't use it, apply limits with the shell's `ulimit` instead.
   */
  prlimitPath?: string | null;
  /** PATH given to workloads (and used to resolve argv[0]); defaults to the agent's own PATH. */
  path?: string;
  /**
   * Run every workload in the lease sandbox (from `probeSandbox`). Then `baseDir` must be
   * reachable by the lease uids (every ancestor searchable by others; it is made 0711 itself), so
   * it must not sit inside the agent's 0700 data directory.
   */
  sandbox?: SandboxSetup;
  /**
   * Host paths every sandboxed lease may read, besides the system directories: the aethir package
   * this agent runs from (`aethirPackagePaths`), so an app's `run` may call the aethir CLI (the
   * arena game's host is `aethir game serve`), as it could if aethir were installed under /usr.
   */
  sharedReadOnly?: ReadonlyArray<readonly [source: string, target: string]>;
  /** Limits every sandboxed workload gets unless its spec says otherwise (defaults: 512 processes). */
  defaultLimits?: Pick<WorkloadLimits, 'memoryMiB' | 'cpus' | 'pids'>;
}

/** How many processes a sandboxed lease may run at once unless told otherwise: a fork bomb stops here. */
export const DEFAULT_PIDS_LIMIT = 512;

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PRLIMIT_CANDIDATES = ['/usr/bin/prlimit', '/bin/prlimit', '/usr/sbin/prlimit', '/sbin/prlimit'];

export class HostProcessRuntime implements Runtime {
  readonly name = 'host-process';
  /** parent of the per-lease working directories */
  readonly baseDir: string;
  private readonly now: () => number;
  private readonly killGraceMs: number;
  private readonly prlimitPath: string | null;
  private readonly pathVar: string;
  private readonly leases = new LeaseWorkloads<HostProcessWorkload>();
  private readonly sandbox: SandboxSetup | undefined;
  private readonly sharedReadOnly: ReadonlyArray<readonly [string, string]>;
  private readonly defaultLimits: Pick<WorkloadLimits, 'memoryMiB' | 'cpus' | 'pids'>;
  /** names this runtime's lease cgroups, so agents sharing a host never touch each other's */
  private readonly tag: string;

  constructor(options: HostProcessRuntimeOptions) {
    if (typeof options?.baseDir !== 'string' || options.baseDir === '') {
      throw new AethirError('INVALID_ARGUMENT', 'HostProcessRuntime: baseDir is required');
    }
    const killGraceMs = options.killGraceMs ?? 3000;
    if (!Number.isFinite(killGraceMs) || killGraceMs < 0) {
      throw new AethirError('INVALID_ARGUMENT', `HostProcessRuntime: invalid killGraceMs ${killGraceMs}`);
    }
    this.baseDir = path.resolve(options.baseDir);
    this.now = options.now ?? Date.now;
    this.killGraceMs = killGraceMs;
    this.prlimitPath = options.prlimitPath === undefined ? findPrlimit() : options.prlimitPath;
    this.pathVar = options.path ?? process.env.PATH ?? DEFAULT_PATH;
    this.sandbox = options.sandbox;
    this.sharedReadOnly = options.sharedReadOnly ?? [];
    this.defaultLimits = { pids: DEFAULT_PIDS_LIMIT, ...options.defaultLimits };
    this.tag = createHash('sha256').update(this.baseDir).digest('hex').slice(0, 10);
    if (this.sandbox) prepareSandboxBase(this.baseDir);
  }

  /** 'sandbox' when every workload runs in the lease sandbox; 'none' otherwise. */
  get isolation(): 'sandbox' | 'none' {
    return this.sandbox ? 'sandbox' : 'none';
  }

  /** Which mechanism enforces memory/CPU limits; exposed for diagnostics and tests. */
  get limitEnforcer(): 'prlimit' | 'ulimit' {
    return this.prlimitPath ? 'prlimit' : 'ulimit';
  }

  start(spec: WorkloadSpec): Promise<RunningWorkload> {
    return this.leases.track(this.doStart(spec));
  }

  /**
   * After a crash of the agent: kills the process group of every workload a previous run left
   * behind (the pid is only trusted while that process still runs in the lease's working
   * directory, so a recycled pid is never signalled), and removes their directories. Returns the
   * lease ids it found; their leases are the agent's to close as failed.
   */
  async reapOrphans(): Promise<string[]> {
    const names = await readdir(this.baseDir).catch(() => [] as string[]);
    const reaped: string[] = [];
    if (this.sandbox) {
      // A sandboxed lease is its cgroup: whatever is left in one is ended through it.
      for (const [name, dirs] of await leftoverLeaseCgroups(this.sandbox.cgroups)) {
        if (!name.startsWith(`${this.tag}-`)) continue;
        const leaseId = name.slice(this.tag.length + 1);
        if (this.leases.has(leaseId)) continue;
        const group = new LeaseCgroup(dirs, this.sandbox.cgroups.version, undefined);
        await group.killAll();
        await group.remove();
        await removeTree(path.join(this.baseDir, leaseId)).catch(() => undefined);
        reaped.push(leaseId);
      }
    }
    for (const name of names) {
      const m = /^\.([A-Za-z0-9_-]{1,64})\.pid$/.exec(name);
      if (!m || this.leases.has(m[1]!)) continue;
      const leaseId = m[1]!;
      const workdir = path.join(this.baseDir, leaseId);
      const pid = Number(await readFile(path.join(this.baseDir, name), 'utf8').catch(() => ''));
      if (Number.isInteger(pid) && pid > 1) {
        const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => null);
        if (cwd === workdir) {
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
      await rm(path.join(this.baseDir, name), { force: true });
      await removeTree(workdir).catch(() => undefined);
      reaped.push(leaseId);
    }
    return reaped;
  }

  stopAll(): Promise<void> {
    return this.leases.stopAll();
  }

  /** Removes the files a paused lease's stopped workload kept (not while it runs). */
  async removeFiles(leaseId: string): Promise<void> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(leaseId) || this.leases.has(leaseId)) return;
    await removeTree(path.join(this.baseDir, leaseId));
  }

  private async doStart(spec: WorkloadSpec): Promise<RunningWorkload> {
    validateSpec(spec);
    // Without a sandbox the workload shares the host's network: its own port would be a port of the
    // host's, and the endpoint could be pointed at any service there. Only a sandbox maps one.
    if (spec.workloadPort !== undefined && !this.sandbox)
      invalidSpec(
        spec,
        `a lease's own port (${spec.workloadPort}) needs the lease sandbox: this container runs leases without one (--isolation none)`,
      );
    const { leaseId } = spec;
    // Before any await, so two concurrent starts of one lease cannot both pass.
    this.leases.reserve(leaseId);

    const workdir = path.join(this.baseDir, leaseId);
    const sandbox = this.sandbox;
    let uid: number | undefined;
    let cgroup: LeaseCgroup | undefined;
    const limits = sandbox ? { ...this.defaultLimits, ...spec.limits } : spec.limits;
    const undo = async () => {
      if (cgroup)
        await cgroup.killAll().then(
          () => cgroup!.remove(),
          () => undefined,
        );
      if (uid !== undefined) sandbox!.uids.release(uid);
      this.leases.release(leaseId);
    };
    try {
      await mkdir(this.baseDir, { recursive: true });
      // "Fresh": a directory left by a crashed agent must not leak one run's files into the next;
      // a lease resumed after a pause starts in the files it kept.
      const reuse = spec.reuseFiles === true && (await isDirectory(workdir));
      if (!reuse) {
        await removeTree(workdir);
        await mkdir(workdir, { mode: 0o700 });
      }
      checkMounts(spec.mounts ?? []);
      // without a sandbox there is no /data to bind to: a link in the working directory stands in
      if (!sandbox)
        for (const m of spec.mounts ?? []) {
          const at = path.join(workdir, m.target);
          await mkdir(path.dirname(at), { recursive: true });
          await rm(at, { force: true });
          await symlink(m.source, at);
        }
      if (sandbox) {
        uid = sandbox.uids.take();
        // The lease's own uid owns its directory; no other lease (another uid) can enter it. Kept
        // files were the previous run's uid's: they become this one's.
        if (reuse) await chownTree(workdir, uid);
        else await chown(workdir, uid, uid);
        // ...and the volumes it writes (a previous lease of the owner ran as another uid)
        for (const m of spec.mounts ?? []) if (!m.readOnly) await chownTree(m.source, uid);
        for (const p of spec.writablePaths ?? []) await chown(p, uid, uid);
        cgroup = await createLeaseCgroup(sandbox.cgroups, `${this.tag}-${leaseId}`, limits ?? {});
      }
    } catch (err) {
      await undo();
      throw new AethirError(
        'RUNTIME_FAILED',
        `cannot prepare the workload of lease ${leaseId}: ${errorMessage(err)}`,
        {
          cause: err,
          details: { leaseId },
        },
      );
    }

    // A sandboxed workload's PATH holds only what is in its view (not the operator's ~/bin).
    const pathVar = sandbox
      ? this.pathVar
          .split(':')
          .filter((d) => d !== '' && inSandboxView(d))
          .join(':') || DEFAULT_PATH
      : this.pathVar;
    const env = buildEnv(spec, workdir, pathVar);
    // sandboxed, the lease's port number is forwarded for UDP too (pastaArgs): say so
    // (user env can claim neither a port nor an address)
    delete env.AETHIR_UDP_PORT;
    delete env.AETHIR_UDP_HOST;
    if (sandbox && spec.port !== undefined) {
      env.AETHIR_UDP_PORT = String(spec.port);
      // where players reach it (its ICE candidate): the host's public address, else loopback
      env.AETHIR_UDP_HOST =
        spec.publicAddress !== undefined && isIPv4(spec.publicAddress) ? spec.publicAddress : '127.0.0.1';
    }
    const resolved = await resolveCommand(spec.command[0]!, env.PATH ?? '', workdir);
    let argv: string[] = [];
    if (resolved.ok) {
      const command = [resolved.file, ...spec.command.slice(1)];
      argv =
        sandbox && cgroup && uid !== undefined
          ? joinCgroupsArgv(sandbox.tools.sh, cgroup.procsFiles, [
              ...setprivArgs(sandbox.tools.setpriv, uid),
              sandbox.tools.bwrap,
              ...bwrapArgs({
                workdir,
                uid,
                gpuIndices: spec.gpuIndices,
                devNodes: await readdir(sandbox.devDir).catch(() => []),
                devDir: sandbox.devDir,
                readOnly: spec.readOnlyPaths ?? [],
                ...(this.sharedReadOnly.length ? { readOnlyAt: this.sharedReadOnly } : {}),
                mounts: spec.mounts ?? [],
                writable: spec.writablePaths ?? [],
                infoFd: 3,
                blockFd: 4,
              }),
              // memory is the cgroup's to limit (it counts every process of the lease together)
              ...wrapWithLimits(command, { ...limits, memoryMiB: undefined }, this.prlimitPath),
            ])
          : wrapWithLimits(command, limits, this.prlimitPath);
    }

    let child: ChildProcess | undefined;
    let spawnError: unknown;
    if (resolved.ok) {
      try {
        child = spawn(argv[0]!, argv.slice(1), {
          cwd: workdir,
          env,
          // Own session and process group, so kill() can signal -pid and reach the whole tree.
          detached: true,
          // sandboxed: bwrap writes its pid on fd 3 and waits on fd 4 until the network is up
          stdio: sandbox ? ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
        });
      } catch (err) {
        spawnError = err;
      }
    }

    // Where the process group is written down, so an agent restarted after a crash finds and
    // ends what its predecessor left running (see reapOrphans). A sandboxed lease's cgroup does this.
    const pidFile = sandbox ? undefined : path.join(this.baseDir, `.${leaseId}.pid`);
    const workload = new HostProcessWorkload({
      leaseId,
      workdir,
      env,
      sandboxed: !!sandbox,
      pid: child?.pid,
      now: this.now,
      killGraceMs: this.killGraceMs,
      ...(cgroup ? { cgroup } : {}),
      onFinished: () => {
        if (uid !== undefined) sandbox!.uids.release(uid);
        this.leases.release(leaseId);
        if (pidFile) void rm(pidFile, { force: true });
      },
    });
    this.leases.add(leaseId, workload);

    if (!resolved.ok) {
      workload.failStart(resolved.exitCode, resolved.message);
    } else if (!child) {
      workload.failStart(126, `cannot start ${spec.command[0]}: ${errorMessage(spawnError)}`);
    } else {
      // Written synchronously and attached before any await: a workload that exits at once must
      // neither have its 'exit' missed nor leave a pid file behind that outlives it.
      try {
        if (pidFile && child.pid) writeFileSync(pidFile, String(child.pid));
      } catch {
        // Without it only crash recovery loses this workload; the lease itself is unaffected.
      }
      workload.attach(child, spec.command[0]!, limits);
      // bwrap's control pipes (fd 3: the sandbox's pid, fd 4: the go-ahead) reset when the sandbox
      // dies before reading the go-ahead (ECONNRESET, EPIPE): that is the workload's exit, which
      // 'exit' reports. Unheard, the error would end the agent.
      if (sandbox) for (const fd of [3, 4]) (child.stdio[fd] as Readable | null)?.on('error', () => {});
      if (sandbox && cgroup && uid !== undefined) {
        // The command waits (bwrap --block-fd) until its network namespace is connected.
        try {
          const sandboxPid = await readSandboxPid(child);
          await startPasta(
            sandbox,
            uid,
            cgroup.procsFiles,
            sandboxPid,
            spec.port,
            spec.workloadPort,
            spec.publicAddress,
          );
          workload.enter = { uid, procsFiles: cgroup.procsFiles, sandboxPid, tools: sandbox.tools };
          (child.stdio[4] as Writable).end('1');
        } catch (err) {
          workload.abortStart(`the sandbox could not be set up: ${errorMessage(err)}`);
        }
      }
    }
    return workload;
  }
}

/** bwrap's `--info-fd` JSON: the pid of the sandbox (its pid 1, in the host's pid namespace). */
function readSandboxPid(child: ChildProcess): Promise<number> {
  const info = child.stdio[3] as Readable;
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (err: Error | null, pid?: number) => {
      info.removeAllListeners('data');
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(pid!);
    };
    const onExit = () => done(new Error(`bwrap exited before the sandbox started`));
    info.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /"child-pid"\s*:\s*(\d+)/.exec(text);
      if (m) done(null, Number(m[1]));
    });
    child.on('exit', onExit);
  });
}

/**
 * The parent of sandboxed leases' directories: 0711 (lease uids may pass through to their own
 * directory, but not list it), with every ancestor searchable; otherwise the sandbox could not
 * bind a lease's directory into its view, and says so.
 */
function prepareSandboxBase(dir: string): void {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o711);
  for (let d = path.dirname(dir); ; d = path.dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0)
      throw new AethirError(
        'INVALID_ARGUMENT',
        `the sandbox's lease directory ${dir} is inside ${d}, which other users cannot enter (mode ${(statSync(d).mode & 0o777).toString(8)}): choose a lease directory outside private directories (e.g. /var/lib/aethir/leases)`,
      );
    if (d === path.dirname(d)) break;
  }
}

interface WorkloadInit {
  leaseId: string;
  workdir: string;
  /** the workload's env: a process exec'd into the lease gets the same */
  env: Record<string, string>;
  sandboxed: boolean;
  pid: number | undefined;
  now: () => number;
  killGraceMs: number;
  /** the lease's cgroup (sandboxed workloads): how it is signalled, ended and judged */
  cgroup?: LeaseCgroup;
  onFinished: () => void;
}

class HostProcessWorkload implements RunningWorkload {
  readonly leaseId: string;
  readonly workdir: string;
  readonly pid: number | undefined;
  readonly exited: Promise<WorkloadExitEvent>;

  private readonly now: () => number;
  private readonly killGraceMs: number;
  private readonly onFinished: () => void;
  private readonly cgroup: LeaseCgroup | undefined;
  private readonly log = new WorkloadEventLog();
  /** Set once by the first kill()/timeout; decides the exit reason even if the process then exits 0. */
  private stopRequest: StopRequest | undefined;
  private leaderExited = false;
  private finishing = false;
  /** a paused lease's stop: its working directory stays for the next start (reuseFiles) */
  private keepFiles = false;
  private cancelWallTimer: (() => void) | undefined;
  private escalationTimer: NodeJS.Timeout | undefined;
  private readonly env: Record<string, string>;
  private readonly sandboxed: boolean;
  /** how to enter the running sandbox (set once it is up) */
  enter:
    | { uid: number; procsFiles: readonly string[]; sandboxPid: number; tools: SandboxSetup['tools'] }
    | undefined;

  constructor(init: WorkloadInit) {
    this.env = init.env;
    this.sandboxed = init.sandboxed;
    this.leaseId = init.leaseId;
    this.workdir = init.workdir;
    this.pid = init.pid;
    this.now = init.now;
    this.killGraceMs = init.killGraceMs;
    this.onFinished = init.onFinished;
    this.cgroup = init.cgroup;
    this.exited = this.log.exited;
  }

  events(): AsyncGenerator<WorkloadEvent> {
    return this.log.events();
  }

  onEvent(listener: (e: WorkloadEvent) => void): () => void {
    return this.log.onEvent(listener);
  }

  kill(reason?: string, opts: { keepFiles?: boolean; graceMs?: number } = {}): Promise<void> {
    if (opts.keepFiles) this.keepFiles = true;
    this.requestStop(killRequest(reason), opts.graceMs);
    return this.exited.then(() => undefined);
  }

  /** The workload never ran: report it as an ordinary exit (shell conventions: 127 not found, 126 not runnable). */
  failStart(exitCode: number, message: string): void {
    void this.finish({ exitCode, signal: null, reason: 'start-failed', message });
  }

  /**
   * Runs a second process in this lease (a shell, exec, cp's tar): in its sandbox when it has one
   * (its namespaces, uid and cgroup, through enterSandboxArgv), else as the workload runs.
   */
  async exec(req: ExecRequest): Promise<ExecSession> {
    checkExecRequest(req);
    if (this.finishing || this.stopRequest || this.leaderExited)
      throw new AethirError('CONFLICT', `the workload of lease ${this.leaseId} has ended`);
    const env = { ...this.env, ...(req.tty ? { TERM: 'xterm-256color' } : {}), ...req.env };
    const setsid = findTool('setsid');
    if (req.tty && !setsid) throw new AethirError('UNAVAILABLE', 'setsid (util-linux) is not installed');
    // A terminal's session starts where the command runs (inside the pid namespace): see spawnExec.
    const command = req.tty ? [setsid!, '--ctty', '--wait', ...req.command] : req.command;
    if (!this.sandboxed)
      return spawnExec(command, { cwd: this.workdir, env, ...(req.tty ? { tty: req.tty } : {}) });
    const e = this.enter;
    const nsenter = findTool('nsenter');
    if (!e) throw new AethirError('UNAVAILABLE', `the sandbox of lease ${this.leaseId} is not up yet`);
    if (!nsenter)
      throw new AethirError(
        'UNAVAILABLE',
        'nsenter (util-linux) is not installed: no way into a lease sandbox',
      );
    const argv = enterSandboxArgv({ ...e.tools, nsenter }, e.procsFiles, e.uid, e.sandboxPid, command);
    const session = await spawnExec(argv, { cwd: '/', env, ...(req.tty ? { tty: req.tty } : {}) });
    return endedByLease(session, () => this.finishing || this.stopRequest !== undefined || this.leaderExited);
  }

  /** The sandbox around a started process could not be completed: it is ended, never having run. */
  abortStart(message: string): void {
    this.requestStop({ reason: 'start-failed', message });
    this.signalGroup('SIGKILL');
  }

  attach(child: ChildProcess, commandName: string, limits: WorkloadLimits | undefined): void {
    const drained = Promise.all([this.pump(child.stdout, 'stdout'), this.pump(child.stderr, 'stderr')]);

    child.on('error', (err: NodeJS.ErrnoException) => {
      // With a pid the process exists and 'exit' will follow; errors then come from signalling, which
      // we do ourselves via process.kill. Without one, spawning failed (e.g. the file vanished or
      // lost its exec bit after we resolved it).
      if (child.pid !== undefined) return;
      const exitCode = err.code === 'ENOENT' ? 127 : 126;
      this.failStart(exitCode, `cannot start ${commandName}: ${err.message}`);
    });

    child.on('exit', (exitCode, signal) => {
      this.leaderExited = true;
      // The main process is the workload: anything it left running in its group (background jobs,
      // daemons) goes with it, or it would keep holding GPUs after the lease ended. The group id stays
      // reserved while any member lives, so this cannot hit an unrelated process.
      this.signalGroup('SIGKILL');
      void this.afterLeaderExit(child, drained, exitCode, signal);
    });

    if (limits?.diskMiB !== undefined) {
      // Measured, not enforced by the filesystem (no quotas on an ordinary directory): the
      // working directory is walked every DISK_POLL_MS and the workload stopped once it is over.
      const cap = limits.diskMiB * 1024 * 1024;
      const poll = setInterval(() => {
        void dirBytes(this.workdir, cap).then((bytes) => {
          if (bytes > cap)
            this.requestStop({
              reason: 'timeout',
              message: `disk quota of ${limits.diskMiB} MiB exceeded in its working directory`,
              limit: 'diskMiB',
            });
        });
      }, DISK_POLL_MS);
      poll.unref();
      void this.exited.then(() => clearInterval(poll));
    }
    this.cancelWallTimer = startWallClock(limits, (request) => this.requestStop(request));
  }

  private pump(stream: Readable | null, type: 'stdout' | 'stderr'): Promise<void> {
    if (!stream) return Promise.resolve();
    // Pipes split output at arbitrary byte boundaries; the decoder holds back an incomplete UTF-8
    // sequence until its remaining bytes arrive instead of emitting U+FFFD.
    const decoder = new StringDecoder('utf8');
    return consumeStream(
      stream,
      (chunk) => {
        const data = decoder.write(chunk);
        if (data) this.log.emit({ type, data, at: this.now() });
      },
      () => {
        const rest = decoder.end();
        if (rest) this.log.emit({ type, data: rest, at: this.now() });
      },
    );
  }

  private async afterLeaderExit(
    child: ChildProcess,
    drained: Promise<unknown>,
    exitCode: number | null,
    signal: NodeJS.Signals | null,
  ): Promise<void> {
    // Output written just before exit may still be in the pipe: 'exit' can precede the last 'data'.
    // Normally it ends at once (the rest of the group has just been SIGKILLed); only a process that
    // escaped the group and still holds the pipes makes us give up and close them.
    await drainOutput(drained, () => {
      child.stdout?.destroy();
      child.stderr?.destroy();
    });

    // Everything the lease forked ends with it (setsid or not): its cgroup is emptied.
    if (this.cgroup) {
      await this.cgroup.killAll().catch(() => undefined);
      // bwrap reports a workload killed by signal N as exit code 128 + N, as shells do: report it
      // as the signal, as an unsandboxed workload's is.
      if (signal === null && exitCode !== null && exitCode > 128 && exitCode <= 128 + 64) {
        const name = Object.entries(osConstants.signals).find(([, n]) => n === exitCode! - 128)?.[0];
        if (name) [exitCode, signal] = [null, name as NodeJS.Signals];
      }
    }
    const oomKilled = this.cgroup ? (await this.cgroup.oomKills()) > 0 : false;
    if (this.stopRequest) {
      await this.finish({ exitCode, signal, ...this.stopRequest });
    } else if (oomKilled) {
      await this.finish({
        exitCode,
        signal,
        reason: 'timeout',
        message: `memory limit of ${this.cgroup!.memoryMiB} MiB exceeded`,
        limit: 'memoryMiB',
      });
    } else if (signal === 'SIGXCPU') {
      // The kernel sends SIGXCPU at the soft RLIMIT_CPU (see wrapWithLimits); an unhandled one is fatal.
      await this.finish({
        exitCode,
        signal,
        reason: 'timeout',
        message: 'cpu-time limit exceeded',
        limit: 'cpuSeconds',
      });
    } else {
      await this.finish({
        exitCode,
        signal,
        reason: 'exited',
        ...(signal ? { message: `terminated by ${signal}` } : {}),
      });
    }
  }

  private requestStop(request: StopRequest, graceMs = this.killGraceMs): void {
    // First reason wins; once the main process is gone there is nothing left to stop.
    if (this.stopRequest || this.leaderExited || this.finishing || this.pid === undefined) return;
    this.stopRequest = request;
    this.signalGroup('SIGTERM');
    this.escalationTimer = setTimeout(() => this.signalGroup('SIGKILL'), Math.max(0, graceMs));
    this.escalationTimer.unref();
  }

  private signalGroup(signal: NodeJS.Signals): void {
    if (this.cgroup) {
      // Every process of the lease, wherever it went. A stop's SIGTERM spares bwrap's own monitor
      // (the spawned process): it would take the sandbox down at once, leaving no grace.
      void this.cgroup.signal(signal, signal === 'SIGKILL' || this.pid === undefined ? [] : [this.pid]);
      return;
    }
    if (this.pid === undefined) return;
    try {
      // A negative pid addresses the process group, i.e. the workload and everything it forked.
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: the group is already gone, which is the outcome we wanted.
    }
  }

  private async finish(fields: ExitFields): Promise<void> {
    if (this.finishing) return;
    this.finishing = true;
    this.cancelWallTimer?.();
    clearTimeout(this.escalationTimer);
    await this.log.finish(fields, {
      remove: async () => {
        if (this.cgroup) {
          await this.cgroup.killAll();
          await this.cgroup.remove();
        }
        if (!this.keepFiles) await removeTree(this.workdir);
      },
      what: this.workdir,
      onFinished: this.onFinished,
      now: this.now,
    });
  }
}

/**
 * An exec whose lease ended before it was inside the sandbox: nsenter finds the namespaces gone
 * and exits 1 ("nsenter: cannot open /proc/…/ns/…"), though what ended it is the lease's end,
 * which kills all in the lease. Reported as that kill (SIGKILL), as an exec that got inside is
 * (nsenter passes its command's signal on); anything else passes through unchanged.
 */
export function endedByLease(s: ExecSession, leaseEnding: () => boolean): ExecSession {
  let wrapperFailed = false;
  const exited = s.exited.then((e) =>
    e.exitCode === 1 && e.signal === null && wrapperFailed && leaseEnding()
      ? { exitCode: null, signal: 'SIGKILL' }
      : e,
  );
  return {
    write: (d) => s.write(d),
    end: () => s.end(),
    resize: (c, r) => s.resize(c, r),
    signal: (sig) => s.signal(sig),
    onData: (fn) =>
      s.onData((stream, d) => {
        if (/(^|\n)nsenter: /.test(d.toString('utf8'))) wrapperFailed = true;
        fn(stream, d);
      }),
    pause: () => s.pause(),
    resume: () => s.resume(),
    exited,
    kill: () => s.kill(),
  };
}

/** The common checks, then the limits as rlimits and the disk poll can enforce them. */
function validateSpec(spec: WorkloadSpec): void {
  validateWorkloadSpec(spec);
  const bad = (message: string): never => invalidSpec(spec, message);
  const limits = spec.limits;
  if (limits !== undefined) {
    if (typeof limits !== 'object' || limits === null) bad('limits must be an object');
    if (limits.memoryMiB !== undefined && !(Number.isSafeInteger(limits.memoryMiB) && limits.memoryMiB > 0)) {
      bad('limits.memoryMiB must be a positive integer');
    }
    // rlimits count whole seconds.
    if (
      limits.cpuSeconds !== undefined &&
      !(Number.isSafeInteger(limits.cpuSeconds) && limits.cpuSeconds > 0)
    ) {
      bad('limits.cpuSeconds must be a positive integer');
    }
    if (
      limits.wallSeconds !== undefined &&
      !(Number.isFinite(limits.wallSeconds) && limits.wallSeconds > 0)
    ) {
      bad('limits.wallSeconds must be a positive number');
    }
    if (limits.diskMiB !== undefined && !(Number.isSafeInteger(limits.diskMiB) && limits.diskMiB > 0)) {
      bad('limits.diskMiB must be a positive integer');
    }
    if (
      limits.cpus !== undefined &&
      !(Number.isFinite(limits.cpus) && limits.cpus > 0 && limits.cpus <= 4096)
    ) {
      bad('limits.cpus must be a positive number of cores');
    }
    if (limits.pids !== undefined && !(Number.isSafeInteger(limits.pids) && limits.pids > 0)) {
      bad('limits.pids must be a positive integer');
    }
  }
}

/**
 * A minimal base env instead of the agent's own: the agent's env holds its keys and credentials,
 * which a tenant's workload must never see. Variables that carry the lease's allocation are set last,
 * so user env cannot claim another lease's GPUs or port.
 */
function buildEnv(spec: WorkloadSpec, workdir: string, pathVar: string): Record<string, string> {
  const env: Record<string, string> = {
    PATH: pathVar,
    HOME: workdir,
    // Temp files land in the workdir too, so they are removed with it after exit.
    TMPDIR: workdir,
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    ...spec.env,
    AETHIR_LEASE_ID: spec.leaseId,
    CUDA_VISIBLE_DEVICES: spec.gpuIndices.join(','),
    // CUDA's default order is "fastest first"; the agent counts GPUs the way nvidia-smi/NVML do (by
    // PCI bus id). Without this, index 0 can be a different physical GPU on mixed-model hosts.
    CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
  };
  if (spec.port !== undefined) env.AETHIR_PORT = String(spec.workloadPort ?? spec.port);
  else delete env.AETHIR_PORT;
  return env;
}

type Resolved = { ok: true; file: string } | { ok: false; exitCode: 126 | 127; message: string };

/**
 * Resolves argv[0] like execvp would, but up front: the limit wrappers (prlimit, sh) would otherwise be
 * the ones failing, turning "command not found" into an opaque exit status of the wrapper.
 */
async function resolveCommand(command: string, pathVar: string, cwd: string): Promise<Resolved> {
  const candidates = command.includes('/')
    ? [path.resolve(cwd, command)]
    : // POSIX: an empty PATH entry means the current directory.
      pathVar.split(':').map((dir) => path.resolve(cwd, dir === '' ? '.' : dir, command));
  let notExecutable: string | undefined;
  for (const file of candidates) {
    try {
      if (!(await stat(file)).isFile()) continue;
    } catch {
      continue;
    }
    try {
      await access(file, fsConstants.X_OK);
      return { ok: true, file };
    } catch {
      notExecutable ??= file;
    }
  }
  if (notExecutable) {
    return {
      ok: false,
      exitCode: 126,
      message: `cannot start ${command}: ${notExecutable} is not executable`,
    };
  }
  return {
    ok: false,
    exitCode: 127,
    message: command.includes('/')
      ? `cannot start ${command}: no such file`
      : `cannot start ${command}: command not found on PATH`,
  };
}

/**
 * Applies memory/CPU limits as rlimits of the workload process itself.
 *
 * Why prlimit first: it sets the limits on itself and then execs argv directly, so no shell ever
 * parses anything, the workload keeps the pid we spawned, and soft/hard values are explicit. Where it
 * is missing (busybox/Alpine hosts) the shell's `ulimit` does the same job: the script is built only
 * from validated integers and hands argv over untouched via `exec "$@"`.
 *
 * CPU: soft = cpuSeconds (the kernel sends SIGXCPU, which a workload may catch to save state), hard
 * = one second later (SIGKILL, which it cannot ignore).
 *
 * Memory: RLIMIT_DATA, not RLIMIT_AS. RLIMIT_AS caps reserved address space, and V8, the JVM and the
 * CUDA driver reserve far more than they use: Node aborts at startup under `--as` below ~1 GiB
 * ("Failed to reserve virtual memory for CodeRange"). RLIMIT_DATA (Linux >= 4.7) counts the heap and
 * private writable mappings, i.e. what a workload actually allocates; an allocation past it fails.
 * It does not cover GPU memory, shared memory or file mappings; only a cgroup would.
 */
function wrapWithLimits(
  argv: string[],
  limits: WorkloadLimits | undefined,
  prlimitPath: string | null,
): string[] {
  const cpu = limits?.cpuSeconds;
  const mem = limits?.memoryMiB;
  if (cpu === undefined && mem === undefined) return argv;
  if (prlimitPath) {
    const flags: string[] = [];
    if (cpu !== undefined) flags.push(`--cpu=${cpu}:${cpu + 1}`);
    if (mem !== undefined) flags.push(`--data=${mem * 1024 * 1024}`);
    return [prlimitPath, ...flags, '--', ...argv];
  }
  const steps: string[] = [];
  // Soft before hard: lowering the hard limit below the current (unlimited) soft one is EINVAL.
  if (cpu !== undefined) steps.push(`ulimit -S -t ${cpu}`, `ulimit -H -t ${cpu + 1}`);
  if (mem !== undefined) steps.push(`ulimit -d ${mem * 1024}`); // KiB
  steps.push('exec "$@"');
  return ['/bin/sh', '-c', steps.join(' && '), 'aethir-workload', ...argv];
}

function findPrlimit(): string | null {
  for (const candidate of PRLIMIT_CANDIDATES) {
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // try the next location
    }
  }
  return null;
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await lstat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** rm -rf that also copes with directories the workload made read-only (chmod 500 dir). */
async function removeTree(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    await makeOwnerWritable(dir);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

async function makeOwnerWritable(p: string): Promise<void> {
  let st;
  try {
    st = await lstat(p); // never follow symlinks out of the workdir
  } catch {
    return;
  }
  if (!st.isDirectory()) return;
  await chmod(p, 0o700).catch(() => undefined);
  const entries = await readdir(p).catch(() => [] as string[]);
  await Promise.all(entries.map((name) => makeOwnerWritable(path.join(p, name))));
}
