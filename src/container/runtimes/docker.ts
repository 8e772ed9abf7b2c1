/**
 * Docker runtime: runs each lease's workload in its own container, through the Docker Engine API on a
 * unix socket (plain `node:http`, no CLI, no client library), so the same code drives a Docker daemon
 * and Podman's Docker-compatible service (`podman system service`).
 *
 * What a container adds over the host-process runtime: memory and CPU limits are cgroup totals for
 * everything the workload forks, the filesystem is the image's and disappears with the container, and
 * GPUs are handed over as devices (the NVIDIA container toolkit), not just hinted with an env var.
 *
 * Every tenant is a stranger: its container runs as a non-root user (the image's USER unless that is
 * root, else 65534), with no capabilities, no-new-privileges, a pids limit, a read-only root (the
 * working directory and /tmp are private tmpfs), on a network of its own isolated from other leases'
 * and from the host's loopback, with its port published on 127.0.0.1 only (for the endpoint proxy).
 * The container is read back after creation, and removed before it starts if the engine dropped any of that
 * (docs/security-runtime-docker.md).
 *
 * Differences callers can see, compared with host-process:
 *  - `workdir` is a path inside the container; `pid` is the container's init as the engine reports it
 *    (meaningful only if the agent shares the engine's pid namespace; never signal it directly).
 *  - `exitCode` is the status the engine reports: 128+n when the main process died of signal n, which
 *    `signal` then names, the way a shell reports `$?`.
 *  - Stopping sends SIGTERM to the container's main process, which as PID 1 ignores it unless it
 *    installs a handler (or `init` is on); SIGKILL follows after `killGraceMs`, rounded up to seconds.
 *  - The image's ENTRYPOINT, if any, wraps `command`, exactly as `docker run IMAGE COMMAND…` would.
 *  - cpuSeconds counts the whole container's CPU time, sampled every `cpuPollMs`, so a workload can
 *    overrun it by up to one interval.
 */
import { checkMounts, chownTree } from '../volumes.js';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { constants as osConstants } from 'node:os';
import { AethirError, type ErrorCode } from '../../core/errors.js';
import { DockerStreamDemuxer, type DemuxMode } from './docker-frames.js';
import { dockerExec } from './docker-exec.js';
import type { ExecRequest, ExecSession } from './exec.js';
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
  drainOutput,
  errorMessage,
  type ExitFields,
  invalidSpec,
  killRequest,
  LeaseWorkloads,
  startWallClock,
  dirBytes,
  DISK_POLL_MS,
  type StopRequest,
  unrefTimeout,
  validateWorkloadSpec,
  WorkloadEventLog,
} from './workload-common.js';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
/** The label every container of this runtime carries; its value is the lease id. */
export const LEASE_LABEL = 'aethir.lease';

export interface DockerRuntimeOptions {
  /** The engine's unix socket (default /var/run/docker.sock). */
  socketPath?: string;
  /** Image for workloads whose spec names none (default docker.io/library/ubuntu:24.04). */
  defaultImage?: string;
  /** 'missing' (default): pull only images the engine lacks; 'never': fail instead; 'always': re-pull. */
  pullPolicy?: 'missing' | 'never' | 'always';
  /** Working directory inside the container, also HOME (default /workspace; the engine creates it). */
  workdir?: string;
  /** Time between SIGTERM and SIGKILL when stopping, rounded up to whole seconds (default 3000). */
  killGraceMs?: number;
  /** CPUs each workload may use at once (fractions allowed), as HostConfig.NanoCpus, unless its
   * limits.cpus says otherwise; absent: no cap. */
  cpus?: number;
  /** Processes and threads a workload may have at once, unless its limits.pids says otherwise (default 512). */
  pidsLimit?: number;
  /**
   * The user workloads run as, 'uid[:gid]' (or a name the image knows). Default: the image's USER when
   * that is not root, else 65534:65534 (nobody), so a workload never runs as root in its container.
   */
  user?: string;
  /**
   * The image's filesystem read-only (default true); the working directory and /tmp are then private
   * tmpfs mounts the workload can write (counted against its memory limit).
   */
  readOnlyRootfs?: boolean;
  /**
   * A bridge network of its own for each lease (default true), created before its container and
   * removed after it, isolated from every other network, so two leases' containers cannot reach each
   * other. false: the engine's default network.
   */
  networkPerLease?: boolean;
  /**
   * The engine's OCI runtime for workloads (HostConfig.Runtime), e.g. 'runsc' for gVisor; it must be
   * registered with the engine (Docker: daemon.json "runtimes"; Podman: containers.conf [engine.runtimes]).
   */
  ociRuntime?: string;
  /**
   * The engine's id for each GPU index the agent hands out (index i -> gpuDeviceIds[i], e.g. a GPU
   * UUID from nvidia-smi). Absent: the index itself, which is what NVIDIA's toolkit also accepts.
   */
  gpuDeviceIds?: readonly string[];
  /** Host address published ports bind to (default 127.0.0.1: only the endpoint proxy on this host). */
  publishHostIp?: string;
  /**
   * Extra labels on every container, and a filter for listLeases(): several agents (or test runs)
   * sharing one engine each see only their own containers.
   */
  labels?: Record<string, string>;
  /** Run a minimal init as PID 1 (HostConfig.Init) so signals reach the workload and zombies are reaped. */
  init?: boolean;
  /** Pin the Engine API version, e.g. '1.41'. Absent: the engine's own (newest) version. */
  apiVersion?: string;
  /** How often the container's CPU time is sampled when a spec has limits.cpuSeconds (default 1000). */
  cpuPollMs?: number;
  /** Timeout for ordinary (non-streaming) engine requests (default 60000). */
  requestTimeoutMs?: number;
  /** Timestamps for events. */
  now?: () => number;
}

/** One container of this runtime, as found on the engine (running or not). */
export interface DockerLeaseContainer {
  leaseId: string;
  containerId: string;
  name: string;
  image: string;
  /** The engine's state: 'created', 'running', 'exited', … */
  state: string;
  running: boolean;
  /** ms since the epoch */
  createdAt: number;
  labels: Record<string, string>;
}

export interface PullProgress {
  status?: string;
  id?: string;
  progress?: string;
}

// Registry host[:port]/path[:tag][@digest]: no whitespace, quotes or '..' can reach a URL path.
const IMAGE_REF_RE = /^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,510}$/;
const LABEL_KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,253}$/;
const DEFAULT_IMAGE = 'docker.io/library/ubuntu:24.04';
const DEFAULT_WORKDIR = '/workspace';
const DEFAULT_PIDS_LIMIT = 512;
/** nobody:nogroup, the unprivileged user a workload runs as when its image would run it as root. */
export const UNPRIVILEGED_USER = '65534:65534';
const USER_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?$/;
const OCI_RUNTIME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
// Size caps of the writable tmpfs mounts when the root filesystem is read-only.
const WORKDIR_TMPFS_MIB = 1024;
const TMP_TMPFS_MIB = 256;
// A pull can sit silent for a while (large layer extraction) but not forever.
const PULL_IDLE_TIMEOUT_MS = 10 * 60_000;
// Output re-read after the exit, to deliver what a followed log missed, only up to this much.
const CATCH_UP_MAX_BYTES = 1 << 20;
// A dropped wait connection (engine restart) is retried this many times before we give up on it.
const WAIT_RETRIES = 10;
// Beside the engine's wait, the container's state is looked at after this long, then at doubling
// intervals up to the maximum (see watchForExit).
const EXIT_CHECK_MS = 1000;
const EXIT_CHECK_MAX_MS = 30_000;
// The engine's states of a container that has run and stopped (Docker's and Podman's names).
const STOPPED_STATES = new Set(['exited', 'stopped', 'dead']);

type ExitStatus = { exitCode: number | null; error?: string };

interface EngineResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface ContainerInspect {
  Id?: string;
  State?: { Status?: string; Running?: boolean; Pid?: number; OOMKilled?: boolean; ExitCode?: number };
  HostConfig?: Record<string, unknown>;
  Config?: Record<string, unknown>;
}

/** Talks to one Engine API socket; every failure comes out as an AethirError with a plain message. */
class EngineClient {
  readonly prefix: string;

  constructor(
    readonly socketPath: string,
    apiVersion: string | undefined,
    private readonly timeoutMs: number,
  ) {
    this.prefix = apiVersion ? `/v${apiVersion}` : '';
  }

  /** A buffered request; resolves with any HTTP status (callers decide what is an error). */
  async call(
    method: string,
    path: string,
    opts: { body?: unknown; timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<EngineResponse> {
    const res = await this.open(method, path, { ...opts, timeoutMs: opts.timeoutMs ?? this.timeoutMs });
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of res) chunks.push(chunk as Buffer);
    } catch (err) {
      throw this.transportError(err, `${method} ${path}`);
    }
    return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) };
  }

  /** call() that throws the engine's error for any status outside 2xx (and `ok`). */
  async ok(
    method: string,
    path: string,
    what: string,
    opts: { body?: unknown; timeoutMs?: number; ok?: number[] } = {},
  ): Promise<EngineResponse> {
    const res = await this.call(method, path, opts);
    if ((res.status >= 200 && res.status < 300) || opts.ok?.includes(res.status)) return res;
    throw engineError(res.status, engineMessage(res.body), what);
  }

  /** Resolves once the response headers arrive; the body is left to the caller to stream. */
  open(
    method: string,
    path: string,
    opts: { body?: unknown; timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
      const req = httpRequest(
        {
          socketPath: this.socketPath,
          method,
          path: this.prefix + path,
          // A fresh connection per request: long-lived log/wait streams must not hold back pooled ones,
          // and nothing lingers to keep the agent alive.
          agent: false,
          ...(opts.signal ? { signal: opts.signal } : {}),
          headers: {
            Host: 'docker',
            Accept: 'application/json',
            ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}),
          },
        },
        (res) => {
          if (opts.timeoutMs) res.setTimeout(opts.timeoutMs, () => res.destroy(timeoutError(method, path)));
          resolve(res);
        },
      );
      if (opts.timeoutMs) req.setTimeout(opts.timeoutMs, () => req.destroy(timeoutError(method, path)));
      req.on('error', (err) => reject(this.transportError(err, `${method} ${path}`)));
      req.end(payload);
    });
  }

  transportError(err: unknown, what: string): AethirError {
    if (err instanceof AethirError) return err;
    const code = (err as NodeJS.ErrnoException)?.code;
    const sock = this.socketPath;
    if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'ENOTSOCK') {
      return new AethirError(
        'UNAVAILABLE',
        `no Docker engine at ${sock}: start Docker or Podman's API service ` +
          `(podman system service --time=0 unix://${sock}), or point socketPath at the engine's socket`,
        { cause: err, details: { socketPath: sock } },
      );
    }
    if (code === 'EACCES' || code === 'EPERM') {
      return new AethirError(
        'UNAVAILABLE',
        `permission denied on the Docker socket ${sock}: run the agent as a user allowed to use it ` +
          `(e.g. in the docker group)`,
        { cause: err, details: { socketPath: sock } },
      );
    }
    return new AethirError(
      'UNAVAILABLE',
      `Docker engine at ${sock} failed during ${what}: ${errorMessage(err)}`,
      {
        cause: err,
        details: { socketPath: sock },
      },
    );
  }
}

function timeoutError(method: string, path: string): AethirError {
  return new AethirError('TIMEOUT', `Docker engine did not answer ${method} ${path.split('?')[0]} in time`);
}

/** The engine's own explanation, from its JSON error body ({"message": …}) or the raw text. */
function engineMessage(body: Buffer): string {
  const text = body.toString('utf8').trim();
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed?.message === 'string') return parsed.message;
  } catch {
    // not JSON: use the text as is
  }
  return text || 'no details from the engine';
}

function engineError(status: number, message: string, what: string, details: Record<string, unknown> = {}) {
  let code: ErrorCode;
  if (status === 404) code = 'NOT_FOUND';
  else if (status === 409) code = 'CONFLICT';
  else if (status === 400) code = 'INVALID_ARGUMENT';
  else if (status === 401 || status === 403) code = 'UNAUTHORIZED';
  else if (status === 503) code = 'UNAVAILABLE';
  // Podman answers a container-name clash with 500 where Docker uses 409.
  else if (/already in use/i.test(message)) code = 'CONFLICT';
  else code = 'RUNTIME_FAILED';
  return new AethirError(code, `${what}: ${message}`, { details: { status, ...details } });
}

export class DockerRuntime implements Runtime {
  readonly name = 'docker';
  /** hardened containers: non-root, no capabilities, limits, a network of its own (docs/security.md) */
  readonly isolation = 'sandbox' as const;
  readonly socketPath: string;
  readonly defaultImage: string;
  private readonly engine: EngineClient;
  private readonly pullPolicy: 'missing' | 'never' | 'always';
  private readonly workdir: string;
  private readonly killGraceSec: number;
  private readonly nanoCpus: number | undefined;
  private readonly pidsLimit: number;
  private readonly user: string | undefined;
  private readonly readOnlyRootfs: boolean;
  private readonly networkPerLease: boolean;
  private readonly ociRuntime: string | undefined;
  private readonly gpuDeviceIds: readonly string[] | undefined;
  private readonly publishHostIp: string;
  private readonly extraLabels: Record<string, string>;
  private readonly init: boolean;
  private readonly cpuPollMs: number;
  private readonly now: () => number;
  private readonly leases = new LeaseWorkloads<DockerWorkload>();
  /** Pulls in flight, so concurrent leases on one new image share a single pull. */
  private readonly pulls = new Map<string, Promise<void>>();

  /** paused leases' frozen containers, by lease (kill with keepFiles; see DockerWorkload.freeze) */
  private readonly frozen = new Map<
    string,
    {
      containerId: string;
      network?: string;
      streamed: { stdout: number; stderr: number };
      frozenAt: number;
    }
  >();

  constructor(options: DockerRuntimeOptions = {}) {
    const bad = (message: string): never => {
      throw new AethirError('INVALID_ARGUMENT', `DockerRuntime: ${message}`);
    };
    this.socketPath = options.socketPath ?? DEFAULT_DOCKER_SOCKET;
    if (typeof this.socketPath !== 'string' || this.socketPath === '') bad('socketPath must be a path');
    this.defaultImage = options.defaultImage ?? DEFAULT_IMAGE;
    if (!IMAGE_REF_RE.test(this.defaultImage))
      bad(`invalid defaultImage ${JSON.stringify(this.defaultImage)}`);
    this.pullPolicy = options.pullPolicy ?? 'missing';
    if (!['missing', 'never', 'always'].includes(this.pullPolicy))
      bad(`invalid pullPolicy ${this.pullPolicy}`);
    this.workdir = options.workdir ?? DEFAULT_WORKDIR;
    if (!this.workdir.startsWith('/') || this.workdir.includes('\0')) bad('workdir must be an absolute path');
    const killGraceMs = options.killGraceMs ?? 3000;
    if (!Number.isFinite(killGraceMs) || killGraceMs < 0) bad(`invalid killGraceMs ${killGraceMs}`);
    this.killGraceSec = Math.ceil(killGraceMs / 1000);
    if (options.cpus !== undefined && !(Number.isFinite(options.cpus) && options.cpus > 0)) {
      bad(`invalid cpus ${options.cpus}`);
    }
    this.nanoCpus = options.cpus === undefined ? undefined : Math.round(options.cpus * 1e9);
    this.pidsLimit = options.pidsLimit ?? DEFAULT_PIDS_LIMIT;
    if (!(Number.isSafeInteger(this.pidsLimit) && this.pidsLimit > 0))
      bad(`invalid pidsLimit ${this.pidsLimit}`);
    this.user = options.user;
    if (this.user !== undefined && !USER_RE.test(this.user)) bad(`invalid user ${JSON.stringify(this.user)}`);
    this.readOnlyRootfs = options.readOnlyRootfs ?? true;
    this.networkPerLease = options.networkPerLease ?? true;
    this.ociRuntime = options.ociRuntime;
    if (this.ociRuntime !== undefined && !OCI_RUNTIME_RE.test(this.ociRuntime))
      bad(`invalid ociRuntime ${JSON.stringify(this.ociRuntime)}`);
    this.gpuDeviceIds = options.gpuDeviceIds;
    this.publishHostIp = options.publishHostIp ?? '127.0.0.1';
    this.extraLabels = { ...options.labels };
    for (const key of Object.keys(this.extraLabels)) {
      if (!LABEL_KEY_RE.test(key) || key === LEASE_LABEL) bad(`invalid label ${JSON.stringify(key)}`);
    }
    this.init = options.init ?? false;
    if (options.apiVersion !== undefined && !/^\d+\.\d+$/.test(options.apiVersion)) {
      bad(`invalid apiVersion ${options.apiVersion}`);
    }
    this.cpuPollMs = options.cpuPollMs ?? 1000;
    if (!(this.cpuPollMs > 0)) bad(`invalid cpuPollMs ${this.cpuPollMs}`);
    const timeoutMs = options.requestTimeoutMs ?? 60_000;
    if (!(timeoutMs > 0)) bad(`invalid requestTimeoutMs ${timeoutMs}`);
    this.engine = new EngineClient(this.socketPath, options.apiVersion, timeoutMs);
    this.now = options.now ?? Date.now;
  }

  /** Resolves when the engine answers GET /_ping; throws UNAVAILABLE (with what to do) otherwise. */
  async ping(): Promise<void> {
    await this.engine.ok('GET', '/_ping', `Docker engine at ${this.socketPath} is not healthy`);
    if (this.ociRuntime === undefined) return;
    // Fail at the agent's start, not at its first lease, when the chosen OCI runtime is not there.
    const res = await this.engine.ok('GET', '/info', `cannot ask the Docker engine for its runtimes`);
    const runtimes = parseJson<{ Runtimes?: Record<string, unknown> }>(res.body, 'info')?.Runtimes ?? {};
    if (!Object.hasOwn(runtimes, this.ociRuntime)) {
      throw new AethirError(
        'UNAVAILABLE',
        `the Docker engine at ${this.socketPath} has no OCI runtime ${this.ociRuntime} (it has: ` +
          `${Object.keys(runtimes).join(', ') || 'none listed'}); register it (Docker: "runtimes" in ` +
          `daemon.json, then restart dockerd)`,
        { details: { socketPath: this.socketPath } },
      );
    }
  }

  /**
   * Makes `ref` present on the engine, pulling it per `pullPolicy`. A pull's progress lines go to
   * `onProgress`; a missing image or unreachable registry becomes an AethirError naming the image.
   */
  async ensureImage(ref: string, onProgress?: (p: PullProgress) => void): Promise<void> {
    checkImageRef(ref);
    if (this.pullPolicy !== 'always' && (await this.hasImage(ref))) return;
    if (this.pullPolicy === 'never') {
      throw new AethirError(
        'NOT_FOUND',
        `image ${ref} is not on the Docker engine and pullPolicy is 'never'`,
        {
          details: { image: ref },
        },
      );
    }
    let pull = this.pulls.get(ref);
    if (!pull) {
      pull = this.pull(ref, onProgress).finally(() => this.pulls.delete(ref));
      this.pulls.set(ref, pull);
    }
    await pull;
  }

  /** ensureImage for a lease's image, with the pull's progress as one line per layer step (throttled). */
  async prepareImage(ref: string, onProgress: (line: string) => void): Promise<void> {
    let last = '';
    let lastAt = 0;
    await this.ensureImage(ref, (p) => {
      const line = [p.id, p.status, p.progress].filter(Boolean).join(' ');
      const now = this.now();
      // "Downloading" repeats many times a second: at most one such line per layer every 500 ms
      if (!line || line === last || (/Downloading|Extracting/.test(p.status ?? '') && now - lastAt < 500))
        return;
      last = line;
      lastAt = now;
      onProgress(line);
    });
  }

  async cachedImages(max: number): Promise<string[]> {
    const res = await this.engine.ok('GET', '/images/json', 'cannot list images');
    const list =
      parseJson<Array<{ RepoTags?: string[] | null; RepoDigests?: string[] | null; Created?: number }>>(
        res.body,
        'image list',
      ) ?? [];
    list.sort((a, b) => (b.Created ?? 0) - (a.Created ?? 0));
    const out: string[] = [];
    for (const i of list)
      for (const r of [...(i.RepoTags ?? []), ...(i.RepoDigests ?? [])])
        if (out.length < max && typeof r === 'string' && r.length <= 600 && !r.startsWith('<none>'))
          out.push(r);
    return out;
  }

  /** Every container this runtime created (with this runtime's `labels`), for recovery after a crash. */
  async listLeases(): Promise<DockerLeaseContainer[]> {
    const filters = {
      label: [LEASE_LABEL, ...Object.entries(this.extraLabels).map(([k, v]) => `${k}=${v}`)],
    };
    const res = await this.engine.ok(
      'GET',
      `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify(filters))}`,
      'cannot list containers',
    );
    const list = parseJson<Array<Record<string, unknown>>>(res.body, 'container list') ?? [];
    return list.map((c) => {
      const labels = (c.Labels ?? {}) as Record<string, string>;
      const names = (c.Names ?? []) as string[];
      const state = String(c.State ?? '');
      return {
        leaseId: labels[LEASE_LABEL] ?? '',
        containerId: String(c.Id ?? ''),
        name: (names[0] ?? '').replace(/^\//, ''),
        image: String(c.Image ?? ''),
        state,
        running: state === 'running',
        createdAt: Number(c.Created ?? 0) * 1000,
        labels,
      };
    });
  }

  /**
   * Force-removes the containers of a lease that this process is not running (left by a crashed
   * agent); returns how many were removed. A workload this runtime runs is stopped with kill() instead.
   */
  async removeLease(leaseId: string): Promise<number> {
    if (this.leases.isReserved(leaseId)) {
      throw new AethirError('CONFLICT', `lease ${leaseId} is running here: kill() its workload instead`, {
        details: { leaseId },
      });
    }
    const mine = (await this.listLeases()).filter((c) => c.leaseId === leaseId);
    for (const c of mine) await this.removeContainer(c.containerId);
    if (this.networkPerLease) await this.removeNetwork(networkName(leaseId));
    return mine.length;
  }

  start(spec: WorkloadSpec): Promise<RunningWorkload> {
    return this.leases.track(this.doStart(spec));
  }

  /** Kills every running workload, and removes paused leases' frozen containers (none outlives it). */
  async stopAll(): Promise<void> {
    await this.leases.stopAll();
    for (const leaseId of [...this.frozen.keys()]) await this.removeFiles(leaseId).catch(() => undefined);
  }

  /**
   * Removes a paused lease's frozen container (its files with it): the lease closed, or its grace
   * period ended. Nothing to do for a lease that has none.
   */
  async removeFiles(leaseId: string): Promise<void> {
    const f = this.frozen.get(leaseId);
    if (!f) return;
    this.frozen.delete(leaseId);
    await this.removeContainer(f.containerId);
    if (f.network) await this.removeNetwork(f.network).catch(() => undefined);
  }

  /** A paused lease resumes: its frozen container thaws, its processes go on where they stopped. */
  private async thaw(
    spec: WorkloadSpec,
    f: {
      containerId: string;
      network?: string;
      streamed: { stdout: number; stderr: number };
      frozenAt: number;
    },
  ): Promise<RunningWorkload> {
    const { leaseId } = spec;
    this.leases.reserve(leaseId);
    this.frozen.delete(leaseId);
    // Its log is followed from the whole second after it froze (the engine's `since` counts whole
    // seconds; it thaws no earlier than that): what it printed before is not repeated, and what it
    // prints on waking, before the follow is open, is in the log by its time and still comes.
    // (Podman follows a paused container's log only up to its end, so the follow opens after.)
    const since = Math.floor(f.frozenAt / 1000) + 1;
    const early = since * 1000 - this.now();
    if (early > 0) await delay(early);
    try {
      await this.engine.ok('POST', `/containers/${f.containerId}/unpause`, 'unpause');
    } catch (err) {
      this.leases.release(leaseId);
      await this.removeContainer(f.containerId).catch(() => undefined);
      if (f.network) await this.removeNetwork(f.network).catch(() => undefined);
      throw new AethirError(
        'RUNTIME_FAILED',
        `cannot resume the container of lease ${leaseId}: ${errorMessage(err)}`,
      );
    }
    const workload = this.workloadFor(spec, f.containerId, f.network, f.streamed, since);
    await workload.attach();
    return workload;
  }

  private workloadFor(
    spec: WorkloadSpec,
    containerId: string,
    network: string | undefined,
    streamed?: { stdout: number; stderr: number },
    since?: number,
  ): DockerWorkload {
    const { leaseId } = spec;
    const workload = new DockerWorkload({
      leaseId,
      containerId,
      workdir: this.workdir,
      engine: this.engine,
      now: this.now,
      killGraceSec: this.killGraceSec,
      cpuPollMs: this.cpuPollMs,
      limits: spec.limits,
      writable: spec.writablePaths ?? [],
      remove: async () => {
        await this.removeContainer(containerId);
        if (network) await this.removeNetwork(network);
      },
      onFinished: () => {
        this.leases.release(leaseId);
      },
      onFrozen: (sofar) => {
        this.frozen.set(leaseId, {
          containerId,
          ...(network ? { network } : {}),
          streamed: sofar,
          frozenAt: this.now(),
        });
      },
      ...(streamed ? { streamed } : {}),
      ...(since !== undefined ? { since } : {}),
    });
    this.leases.add(leaseId, workload);
    return workload;
  }

  private async doStart(spec: WorkloadSpec): Promise<RunningWorkload> {
    validateSpec(spec);
    const { leaseId } = spec;
    const kept = spec.reuseFiles ? this.frozen.get(leaseId) : undefined;
    if (kept) return this.thaw(spec, kept);
    const image = spec.image ?? this.defaultImage;
    // Before any await, so two concurrent starts of one lease cannot both pass.
    this.leases.reserve(leaseId);

    let containerId: string;
    const network = this.networkPerLease ? networkName(leaseId) : undefined;
    let createdNetwork = false;
    try {
      await this.ensureImage(image);
      const user = this.user ?? (await this.imageUser(image));
      if (network) createdNetwork = await this.createNetwork(leaseId, network);
      containerId = await this.create(spec, image, user, network);
    } catch (err) {
      // Only a network this start created: one found in place may serve a container left running.
      if (network && createdNetwork) await this.removeNetwork(network).catch(() => undefined);
      this.leases.release(leaseId);
      throw err;
    }

    const workload = this.workloadFor(spec, containerId, network);

    const started = await this.engine
      .call('POST', `/containers/${containerId}/start`)
      .catch((e: unknown) => e);
    if (started instanceof Error || (started as EngineResponse).status >= 300) {
      const message =
        started instanceof Error ? started.message : engineMessage((started as EngineResponse).body);
      // As with host-process, a workload that cannot start is reported as one that exited at once, with
      // the shell's codes: 127 when the command is not found, 126 when it cannot be run.
      const exitCode = /not found|no such file/i.test(message) ? 127 : 126;
      workload.failStart(exitCode, `cannot start ${spec.command[0]}: ${message}`);
      return workload;
    }
    await workload.attach();
    return workload;
  }

  private async create(
    spec: WorkloadSpec,
    image: string,
    user: string,
    network: string | undefined,
  ): Promise<string> {
    const gpuIds = spec.gpuIndices.map((i) => this.gpuDeviceIds?.[i] ?? String(i));
    const limits = spec.limits ?? {};
    const hostConfig: Record<string, unknown> = {
      RestartPolicy: { Name: 'no' },
      // A tenant is a stranger: no capabilities at all, no way to gain privileges through setuid
      // binaries or file capabilities, and a bounded number of processes (a fork bomb hits the cap).
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      PidsLimit: limits.pids ?? this.pidsLimit,
    };
    if (limits.memoryMiB !== undefined) {
      hostConfig.Memory = limits.memoryMiB * 1024 * 1024;
      // Memory+swap equal to memory: the limit is what the workload may use, not a point to start swapping.
      hostConfig.MemorySwap = limits.memoryMiB * 1024 * 1024;
    }
    const nanoCpus = limits.cpus !== undefined ? Math.round(limits.cpus * 1e9) : this.nanoCpus;
    if (nanoCpus !== undefined) hostConfig.NanoCpus = nanoCpus;
    if (this.readOnlyRootfs) {
      hostConfig.ReadonlyRootfs = true;
      // Private to this container, world-writable with the sticky bit: the workload's user may differ
      // from the image's owner of these paths, and nobody else lives in the container.
      hostConfig.Tmpfs = {
        [this.workdir]: `rw,nosuid,nodev,size=${limits.diskMiB ?? WORKDIR_TMPFS_MIB}m,mode=1777`,
        ...(this.workdir === '/tmp' ? {} : { '/tmp': `rw,nosuid,nodev,size=${TMP_TMPFS_MIB}m,mode=1777` }),
      };
    }
    // An interruptible lease's checkpoint directory (AETHIR_CHECKPOINT_DIR): a host directory the
    // host keeps after the container is gone (rent --resume), bound in at CHECKPOINT_TARGET and
    // handed to the workload's user; the lease's disk quota covers it too (measured: attach()).
    const writable = checkpointMounts(spec);
    if (writable.length) {
      const numeric = /^(\d+)(?::(\d+))?$/.exec(user);
      if (numeric)
        for (const m of writable)
          await chownTree(m.source, Number(numeric[1]), Number(numeric[2] ?? numeric[1]));
      hostConfig.Binds = writable.map((m) => `${m.source}:${m.target}:rw,nosuid,nodev`);
    }
    if (spec.mounts?.length) {
      checkMounts(spec.mounts);
      // a volume bound read-write is handed to the workload's user when that is a number
      const numeric = /^(\d+)(?::(\d+))?$/.exec(user);
      if (numeric)
        for (const m of spec.mounts)
          if (!m.readOnly) await chownTree(m.source, Number(numeric[1]), Number(numeric[2] ?? numeric[1]));
      hostConfig.Binds = [
        ...((hostConfig.Binds as string[] | undefined) ?? []),
        ...spec.mounts.map((m) => `${m.source}:${m.target}:${m.readOnly ? 'ro' : 'rw'},nosuid,nodev`),
      ];
    }
    if (network) hostConfig.NetworkMode = network;
    if (this.ociRuntime) hostConfig.Runtime = this.ociRuntime;
    if (gpuIds.length > 0) {
      hostConfig.DeviceRequests = [{ Driver: 'nvidia', DeviceIDs: gpuIds, Capabilities: [['gpu']] }];
    }
    if (this.init) hostConfig.Init = true;
    const body: Record<string, unknown> = {
      Image: image,
      Cmd: spec.command,
      Env: Object.entries(buildEnv(spec, this.workdir, gpuIds, writable)).map(([k, v]) => `${k}=${v}`),
      Labels: { ...this.extraLabels, [LEASE_LABEL]: spec.leaseId },
      WorkingDir: this.workdir,
      User: user,
      Tty: false,
      OpenStdin: false,
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      HostConfig: hostConfig,
    };
    if (spec.port !== undefined) {
      // the lease's own port inside the container (workload.port), published on the host's port
      const key = `${spec.workloadPort ?? spec.port}/tcp`;
      body.ExposedPorts = { [key]: {} };
      hostConfig.PortBindings = { [key]: [{ HostIp: this.publishHostIp, HostPort: String(spec.port) }] };
    }
    const name = `aethir-${spec.leaseId}`;
    const res = await this.engine.call('POST', `/containers/create?name=${name}`, { body });
    if (res.status === 201 || res.status === 200) {
      const id = parseJson<{ Id?: string }>(res.body, 'create response')?.Id;
      if (typeof id === 'string' && /^[0-9a-f]{12,64}$/.test(id)) {
        await this.checkKept(id, spec.leaseId, hostConfig);
        return id;
      }
      throw new AethirError(
        'RUNTIME_FAILED',
        `Docker engine returned no container id for lease ${spec.leaseId}`,
      );
    }
    const message = engineMessage(res.body);
    const err = engineError(res.status, message, `cannot create the container for lease ${spec.leaseId}`, {
      leaseId: spec.leaseId,
      image,
    });
    if (err.code === 'CONFLICT') {
      throw new AethirError(
        'CONFLICT',
        `a container named ${name} already exists (left by an earlier agent?): ` +
          `recover it via listLeases() or remove it with removeLease()`,
        { cause: err, details: { leaseId: spec.leaseId } },
      );
    }
    if (err.code === 'NOT_FOUND') {
      throw new AethirError('NOT_FOUND', `image ${image} is not on the Docker engine: ${message}`, {
        details: { leaseId: spec.leaseId, image },
      });
    }
    throw err;
  }

  /**
   * An engine may accept a setting and silently drop it: Podman's Docker-compatible API does so with
   * HostConfig.DeviceRequests (containers/podman#22645: the lease would run without its GPUs while the
   * agent counts them as taken) and with HostConfig.Runtime (the workload would run outside the
   * sandbox the operator chose). An engine that honours a setting echoes it back on inspect, so that
   * is what we check, for those and for every confinement setting; a container that would run with
   * less is removed before it starts.
   */
  private async checkKept(id: string, leaseId: string, wanted: Record<string, unknown>): Promise<void> {
    const res = await this.engine.ok('GET', `/containers/${id}/json`, `cannot inspect container ${id}`);
    const kept = parseJson<ContainerInspect>(res.body, 'inspect')?.HostConfig ?? {};
    const fail = async (message: string): Promise<never> => {
      await this.removeContainer(id).catch(() => undefined);
      throw new AethirError('RUNTIME_FAILED', `the engine at ${this.socketPath} ${message}`, {
        details: { leaseId },
      });
    };
    if (wanted.DeviceRequests !== undefined) {
      const devices = kept.DeviceRequests;
      if (!(Array.isArray(devices) && devices.length > 0))
        await fail(
          `ignored the GPU request (HostConfig.DeviceRequests), so lease ${leaseId} would run without ` +
            `its GPUs: Podman's Docker-compatible API does not attach GPUs; run GPU leases on Docker ` +
            `with the NVIDIA Container Toolkit`,
        );
    }
    if (wanted.Runtime !== undefined && kept.Runtime !== wanted.Runtime)
      await fail(
        `ignored the OCI runtime ${String(wanted.Runtime)} (HostConfig.Runtime; it ran ` +
          `${JSON.stringify(kept.Runtime ?? null)}), so lease ${leaseId} would run outside the sandbox ` +
          `chosen for it: Podman's Docker-compatible API does not switch runtimes; use Docker with the ` +
          `runtime registered in daemon.json`,
      );
    const lost: string[] = [];
    // Docker echoes ['ALL']; Podman lists the capabilities it dropped (all it would have granted).
    const caps = kept.CapDrop;
    const added = kept.CapAdd;
    if (!(Array.isArray(caps) && caps.length > 0 && !(Array.isArray(added) && added.length > 0)))
      lost.push('CapDrop');
    const opts = kept.SecurityOpt;
    if (!(Array.isArray(opts) && opts.some((o) => /^no-new-privileges(:true|=true)?$/.test(String(o)))))
      lost.push('SecurityOpt');
    if (kept.PidsLimit !== wanted.PidsLimit) lost.push('PidsLimit');
    if (wanted.ReadonlyRootfs === true && kept.ReadonlyRootfs !== true) lost.push('ReadonlyRootfs');
    if (lost.length > 0)
      await fail(
        `dropped ${lost.map((k) => `HostConfig.${k}`).join(', ')}, so lease ${leaseId} would run ` +
          `less confined than asked; refusing to run it`,
      );
  }

  /** The user a workload of `image` runs as: the image's USER if it is not root, else nobody. */
  private async imageUser(image: string): Promise<string> {
    const res = await this.engine.ok('GET', `/images/${image}/json`, `cannot inspect image ${image}`);
    const user = parseJson<{ Config?: { User?: unknown } }>(res.body, 'image inspect')?.Config?.User;
    return typeof user === 'string' && !isRootUser(user) ? user : UNPRIVILEGED_USER;
  }

  /**
   * The lease's own bridge network, isolated from every other one (Docker isolates user bridges from
   * each other; Podman does with the 'isolate' option). One left by a crashed agent is reused.
   */
  private async createNetwork(leaseId: string, name: string): Promise<boolean> {
    const res = await this.engine.call('POST', '/networks/create', {
      body: {
        Name: name,
        Driver: 'bridge',
        CheckDuplicate: true,
        Internal: false,
        Options: { isolate: 'true' },
        Labels: { ...this.extraLabels, [LEASE_LABEL]: leaseId },
      },
    });
    if (res.status >= 200 && res.status < 300) return true;
    const message = engineMessage(res.body);
    // Docker answers a clash with 409, Podman with 500 "already used".
    if (res.status === 409 || /already (used|exists)/i.test(message)) return false;
    throw engineError(res.status, message, `cannot create the network for lease ${leaseId}`, { leaseId });
  }

  private async removeNetwork(name: string): Promise<void> {
    await this.engine.ok('DELETE', `/networks/${name}`, `cannot remove network ${name}`, { ok: [404] });
  }

  private async removeContainer(id: string): Promise<void> {
    await this.engine.ok('DELETE', `/containers/${id}?force=1&v=1`, `cannot remove container ${id}`, {
      ok: [404],
    });
  }

  private async hasImage(ref: string): Promise<boolean> {
    const res = await this.engine.call('GET', `/images/${ref}/json`);
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw engineError(res.status, engineMessage(res.body), `cannot inspect image ${ref}`, { image: ref });
  }

  private async pull(ref: string, onProgress?: (p: PullProgress) => void): Promise<void> {
    const { repo, tag } = splitImageRef(ref);
    const path = `/images/create?fromImage=${encodeURIComponent(repo)}&tag=${encodeURIComponent(tag)}`;
    const res = await this.engine.open('POST', path, { timeoutMs: PULL_IDLE_TIMEOUT_MS });
    // The engine answers 200 before it has reached the registry; failures then arrive as a
    // {"error": …} line in the progress stream, so both the status and every line must be checked.
    let failure: string | undefined;
    let rest = '';
    const onLine = (line: string) => {
      if (!line.trim()) return;
      let msg: { error?: string; errorDetail?: { message?: string } } & PullProgress;
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      if (msg.error || msg.errorDetail?.message) failure ??= msg.errorDetail?.message ?? msg.error;
      else onProgress?.({ status: msg.status, id: msg.id, progress: msg.progress });
    };
    try {
      for await (const chunk of res) {
        rest += (chunk as Buffer).toString('utf8');
        const lines = rest.split(/\r?\n/);
        rest = lines.pop() ?? '';
        lines.forEach(onLine);
      }
    } catch (err) {
      throw this.engine.transportError(err, `pull of ${ref}`);
    }
    onLine(rest);
    if (res.statusCode !== 200) failure ??= engineMessage(Buffer.from(rest));
    if (failure === undefined && !(await this.hasImage(ref)))
      failure = 'the engine reported no error, yet has no such image';
    if (failure === undefined) return;
    const notFound =
      res.statusCode === 404 ||
      /not found|manifest unknown|does not exist|pull access denied|repository .* not found|no such image/i.test(
        failure,
      );
    throw new AethirError(
      notFound ? 'NOT_FOUND' : 'UNAVAILABLE',
      notFound
        ? `image ${ref} not found: ${failure}`
        : `cannot pull image ${ref} (registry unreachable or refused?): ${failure}`,
      { details: { image: ref } },
    );
  }
}

interface WorkloadInit {
  leaseId: string;
  containerId: string;
  workdir: string;
  engine: EngineClient;
  now: () => number;
  killGraceSec: number;
  cpuPollMs: number;
  limits: WorkloadLimits | undefined;
  /** host directories bound in that outlive it (a checkpoint directory): the disk quota counts them */
  writable: readonly string[];
  remove: () => Promise<void>;
  onFinished: () => void;
  /** a paused lease's stop froze the container instead (kill with keepFiles): the runtime keeps it */
  onFrozen: (streamed: { stdout: number; stderr: number }) => void;
  /** a thawed container: what its earlier workload already delivered (its log is followed from now) */
  streamed?: { stdout: number; stderr: number };
  /** follow the log from this time (UNIX seconds): a thawed container's new output only */
  since?: number;
}

class DockerWorkload implements RunningWorkload {
  readonly leaseId: string;
  readonly containerId: string;
  readonly workdir: string;
  readonly exited: Promise<WorkloadExitEvent>;
  private pidValue: number | undefined;

  private readonly init: WorkloadInit;
  private readonly engine: EngineClient;
  private readonly now: () => number;
  private readonly log = new WorkloadEventLog();
  /** Set once by the first kill()/limit; decides the exit reason even if the container then exits 0. */
  private stopRequest: StopRequest | undefined;
  private stopped = false;
  private finishing = false;
  private logs: IncomingMessage | undefined;
  /** Characters of each stream delivered by the followed log (see catchUpOutput). */
  private readonly streamed = { stdout: 0, stderr: 0 };
  /** frozen for a paused lease: this object is done, the container lives on (a later start thaws it) */
  private frozen = false;
  private cancelWallTimer: (() => void) | undefined;
  private cpuTimer: NodeJS.Timeout | undefined;

  constructor(init: WorkloadInit) {
    this.init = init;
    this.leaseId = init.leaseId;
    this.containerId = init.containerId;
    this.workdir = init.workdir;
    this.engine = init.engine;
    this.now = init.now;
    this.exited = this.log.exited;
    if (init.streamed) Object.assign(this.streamed, init.streamed);
  }

  get pid(): number | undefined {
    return this.pidValue;
  }

  events(): AsyncGenerator<WorkloadEvent> {
    return this.log.events();
  }

  onEvent(listener: (e: WorkloadEvent) => void): () => void {
    return this.log.onEvent(listener);
  }

  /**
   * `keepFiles` (a paused lease): the container is frozen (the engine's pause: its processes stop,
   * its memory, tmpfs working directory and files stay) and handed to the runtime, which thaws it
   * on the lease's next start with `reuseFiles`, or removes it (`removeFiles`).
   */
  kill(reason?: string, opts: { keepFiles?: boolean; graceMs?: number } = {}): Promise<void> {
    if (opts.keepFiles && !this.stopRequest && !this.stopped && !this.finishing) return this.freeze(reason);
    this.requestStop(killRequest(reason), opts.graceMs);
    return this.exited.then(() => undefined);
  }

  private async freeze(reason?: string): Promise<void> {
    try {
      await this.engine.ok('POST', `/containers/${this.containerId}/pause`, 'pause');
    } catch {
      // cannot be frozen (ended meanwhile, or an engine without pause): stopped as usual
      this.requestStop(killRequest(reason));
      return this.exited.then(() => undefined);
    }
    // what it printed just before the pause may still be on its way in the log stream: the engine
    // ends the follow of a paused container on its own; wait for that (at most a second) so that no
    // line is lost (the thaw follows from the next whole second)
    await this.logsEnded(1_000);
    this.frozen = true;
    this.finishing = true;
    this.cancelWallTimer?.();
    clearTimeout(this.cpuTimer);
    this.logs?.destroy();
    this.init.onFrozen({ ...this.streamed });
    await this.log.finish(
      { exitCode: null, signal: null, reason: 'killed', message: `frozen: ${reason ?? 'paused'}` },
      {
        remove: async () => {},
        what: `container ${this.containerId}`,
        onFinished: this.init.onFinished,
        now: this.now,
      },
    );
  }

  /** Resolves when the followed log stream has ended (or there is none), or after `ms`. */
  private logsEnded(ms: number): Promise<void> {
    const res = this.logs;
    if (!res || res.readableEnded || res.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        res.off('end', done).off('close', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      res.once('end', done).once('close', done);
    });
  }

  /** A process in this lease's running container, as its user (docker-exec.ts). */
  async exec(req: ExecRequest): Promise<ExecSession> {
    if (this.stopped || this.finishing || this.stopRequest)
      throw new AethirError('CONFLICT', `the workload of lease ${this.leaseId} has ended`);
    return dockerExec(this.engine, this.containerId, req);
  }

  failStart(exitCode: number, message: string): void {
    this.stopped = true;
    void this.finish({ exitCode, signal: null, reason: 'start-failed', message });
  }

  /** The container is running (or already done): follow its output, its exit and its limits. */
  async attach(): Promise<void> {
    const { containerId } = this;
    // Output first: a container that has already exited still replays its whole log, then ends.
    const drained = this.followLogs();
    const inspect = await this.inspect();
    if (inspect?.State?.Pid) this.pidValue = inspect.State.Pid;
    const limits = this.init.limits;
    this.cancelWallTimer = startWallClock(limits, (request) => this.requestStop(request));
    if (limits?.cpuSeconds !== undefined) this.pollCpu(limits.cpuSeconds);
    if (limits?.diskMiB !== undefined && this.init.writable.length) this.pollWritable(limits.diskMiB);
    void this.waitForExit(containerId, drained);
  }

  private followLogs(): Promise<void> {
    return (async () => {
      let res: IncomingMessage;
      try {
        res = await this.engine.open(
          'GET',
          `/containers/${this.containerId}/logs?follow=1&stdout=1&stderr=1${this.init.since !== undefined ? `&since=${this.init.since}` : ''}`,
        );
      } catch (err) {
        this.log.emit({
          type: 'stderr',
          data: `[aethir] cannot follow output: ${errorMessage(err)}\n`,
          at: this.now(),
        });
        return;
      }
      if ((res.statusCode ?? 0) >= 300) {
        res.resume();
        this.log.emit({
          type: 'stderr',
          data: `[aethir] cannot follow output: Docker engine answered ${res.statusCode}\n`,
          at: this.now(),
        });
        return;
      }
      this.logs = res;
      const demux = new DockerStreamDemuxer((type, data) => {
        if (this.frozen) return;
        this.streamed[type] += data.length;
        this.log.emit({ type, data, at: this.now() });
      }, demuxMode(res));
      await consumeStream(
        res,
        (chunk) => demux.push(chunk),
        () => demux.end(),
      );
    })();
  }

  private async waitForExit(containerId: string, drained: Promise<void>): Promise<void> {
    let status: ExitStatus | undefined;
    for (let attempt = 0; status === undefined; attempt++) {
      // Podman's wait can miss an exit that happens before it starts listening for it (a command
      // that ends at once, on a loaded host) and then never answers: the container's state is
      // looked at beside it, and whichever learns of the exit first wins.
      const stop = new AbortController();
      try {
        const res = await Promise.race([
          this.engine.call('POST', `/containers/${containerId}/wait`, { timeoutMs: 0, signal: stop.signal }),
          this.watchForExit(stop.signal),
        ]);
        if ('exitCode' in res) {
          status = res;
        } else if (res.status === 200) {
          const body = parseJson<{ StatusCode?: number; Error?: { Message?: string } | null }>(
            res.body,
            'wait',
          );
          const code = body?.StatusCode;
          const error = body?.Error?.Message;
          // With an Error the StatusCode means nothing (Podman says 0 for a container removed under
          // it), and Podman reports -1 when it never learnt the status: both are "unknown".
          status = error
            ? { exitCode: null, error: `the engine lost track of the container: ${error}` }
            : { exitCode: typeof code === 'number' && code >= 0 ? code : null };
        } else if (res.status === 404) {
          status = { exitCode: null, error: 'the container was removed behind our back' };
        } else if (attempt >= WAIT_RETRIES) {
          status = { exitCode: null, error: `lost track of the container: ${engineMessage(res.body)}` };
        }
      } catch (err) {
        if (attempt >= WAIT_RETRIES)
          status = { exitCode: null, error: `lost track of the container: ${errorMessage(err)}` };
      } finally {
        stop.abort();
      }
      if (status === undefined) await delay(Math.min(500 * 2 ** attempt, 5000));
    }
    // frozen for a pause: the container (and whatever later ends it) belongs to its next workload
    if (this.frozen) return;
    this.stopped = true;

    // Output written just before exit may still be on its way: the wait can answer before the logs end.
    await drainOutput(drained, () => this.logs?.destroy());
    await this.catchUpOutput();

    const { exitCode } = status;
    const signal = exitCode !== null && exitCode > 128 ? signalName(exitCode - 128) : null;
    if (this.stopRequest) {
      await this.finish({ exitCode, signal, ...this.stopRequest });
      return;
    }
    const oom = (await this.inspect())?.State?.OOMKilled === true;
    const limitMiB = this.init.limits?.memoryMiB;
    // Podman does not always set OOMKilled (cgroup v1), and nothing else here sends SIGKILL.
    if (limitMiB !== undefined && (oom || (signal === 'SIGKILL' && !status.error))) {
      await this.finish({
        exitCode,
        signal,
        reason: 'timeout',
        limit: 'memoryMiB',
        message: `memory limit of ${limitMiB} MiB exceeded`,
      });
      return;
    }
    let message: string | undefined;
    if (oom) {
      message = 'out of memory: killed by the kernel';
    } else if (status.error) {
      message = status.error;
    } else if (signal) {
      message = `terminated by ${signal}`;
    }
    await this.finish({ exitCode, signal, reason: 'exited', ...(message ? { message } : {}) });
  }

  /**
   * Resolves once the engine says the container has stopped (its exit code as the engine recorded
   * it), looking after EXIT_CHECK_MS and then at doubling intervals up to EXIT_CHECK_MAX_MS; never
   * while it runs or is paused, nor once this workload is frozen or `signal` aborts.
   */
  private watchForExit(signal: AbortSignal): Promise<ExitStatus> {
    return new Promise((resolve) => {
      let wait = EXIT_CHECK_MS;
      const look = async (): Promise<void> => {
        if (signal.aborted || this.frozen) return;
        const state = (await this.inspect())?.State;
        if (signal.aborted || this.frozen) return;
        if (state && state.Running === false && STOPPED_STATES.has(state.Status ?? '')) {
          const code = state.ExitCode;
          resolve({ exitCode: typeof code === 'number' && code >= 0 ? code : null });
          return;
        }
        wait = Math.min(wait * 2, EXIT_CHECK_MAX_MS);
        schedule();
      };
      let timer: NodeJS.Timeout | undefined;
      const schedule = () => {
        timer = unrefTimeout(() => void look(), wait);
      };
      signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
      schedule();
    });
  }

  /**
   * A followed log can end short of the container's output (Podman's follow may stop at the exit
   * before the last lines; under load the drain above may give up): once the container has stopped,
   * its whole log is read once more and whatever each stream had not delivered yet is emitted.
   */
  private async catchUpOutput(): Promise<void> {
    // Bounded like the output ring: a container that printed more than this is not re-read (its
    // replay keeps only the last MiB anyway), so a flood is never held in memory twice.
    if (this.streamed.stdout + this.streamed.stderr > CATCH_UP_MAX_BYTES) return;
    let res: IncomingMessage;
    try {
      res = await this.engine.open('GET', `/containers/${this.containerId}/logs?stdout=1&stderr=1`);
    } catch {
      return;
    }
    if ((res.statusCode ?? 0) !== 200) {
      res.resume();
      return;
    }
    const full = { stdout: '', stderr: '' };
    const demux = new DockerStreamDemuxer((type, data) => (full[type] += data), demuxMode(res));
    let read = 0;
    let tooBig = false;
    await consumeStream(
      res,
      (chunk) => {
        read += chunk.length;
        if (read > 2 * CATCH_UP_MAX_BYTES) {
          tooBig = true;
          res.destroy();
        } else demux.push(chunk);
      },
      () => demux.end(),
    );
    if (tooBig) return;
    for (const type of ['stdout', 'stderr'] as const) {
      const rest = full[type].slice(this.streamed[type]);
      if (rest) this.log.emit({ type, data: rest, at: this.now() });
    }
  }

  /**
   * The working directory is a tmpfs of the quota's size (the kernel refuses writes past it); the
   * checkpoint directory is the host's: measured every DISK_POLL_MS, and the workload stopped once
   * it holds more than the quota, as the host-process runtime does with its working directory.
   */
  private pollWritable(diskMiB: number): void {
    const cap = diskMiB * 1024 * 1024;
    const poll = setInterval(() => {
      void Promise.all(this.init.writable.map((d) => dirBytes(d, cap))).then((sizes) => {
        if (sizes.reduce((a, b) => a + b, 0) > cap)
          this.requestStop({
            reason: 'timeout',
            message: `disk quota of ${diskMiB} MiB exceeded in its checkpoint directory`,
            limit: 'diskMiB',
          });
      });
    }, DISK_POLL_MS);
    poll.unref();
    void this.exited.then(() => clearInterval(poll));
  }

  private pollCpu(cpuSeconds: number): void {
    const limitNs = cpuSeconds * 1e9;
    const tick = async () => {
      if (this.stopped || this.stopRequest) return;
      try {
        const res = await this.engine.call(
          'GET',
          `/containers/${this.containerId}/stats?stream=false&one-shot=true`,
        );
        if (res.status === 200) {
          const stats = parseJson<{ cpu_stats?: { cpu_usage?: { total_usage?: number } } }>(
            res.body,
            'stats',
          );
          const used = stats?.cpu_stats?.cpu_usage?.total_usage ?? 0;
          if (used >= limitNs) {
            this.requestStop({
              reason: 'timeout',
              message: `cpu-time limit of ${cpuSeconds}s exceeded`,
              limit: 'cpuSeconds',
            });
            return;
          }
        }
      } catch {
        // A missed sample is retried on the next tick; the wall-clock limit still bounds the lease.
      }
      if (!this.stopped && !this.stopRequest)
        this.cpuTimer = unrefTimeout(() => void tick(), this.init.cpuPollMs);
    };
    this.cpuTimer = unrefTimeout(() => void tick(), this.init.cpuPollMs);
  }

  private requestStop(request: StopRequest, graceMs?: number): void {
    // First reason wins; once the container has stopped there is nothing left to stop.
    if (this.stopRequest || this.stopped || this.finishing) return;
    this.stopRequest = request;
    void this.stopContainer(graceMs === undefined ? undefined : Math.max(0, Math.ceil(graceMs / 1000)));
  }

  private async stopContainer(graceSec?: number): Promise<void> {
    const id = this.containerId;
    const t = graceSec ?? this.init.killGraceSec;
    try {
      // The engine sends SIGTERM, then SIGKILL after t seconds, and answers once the container is down;
      // 304 means it already was.
      await this.engine.ok('POST', `/containers/${id}/stop?t=${t}`, 'stop', {
        ok: [304, 404],
        timeoutMs: (t + 30) * 1000,
      });
    } catch {
      // The stop itself failed or hung: kill outright, which the wait then observes.
      await this.engine.call('POST', `/containers/${id}/kill?signal=SIGKILL`).catch(() => undefined);
    }
  }

  private async inspect(): Promise<ContainerInspect | undefined> {
    try {
      const res = await this.engine.call('GET', `/containers/${this.containerId}/json`);
      return res.status === 200 ? parseJson<ContainerInspect>(res.body, 'inspect') : undefined;
    } catch {
      return undefined;
    }
  }

  private async finish(fields: ExitFields): Promise<void> {
    if (this.finishing) return;
    this.finishing = true;
    this.cancelWallTimer?.();
    clearTimeout(this.cpuTimer);
    await this.log.finish(fields, {
      remove: this.init.remove,
      what: `container ${this.containerId}`,
      onFinished: this.init.onFinished,
      now: this.now,
    });
  }
}

/** The common checks, then the image and the limits as the engine can enforce them. */
function validateSpec(spec: WorkloadSpec): void {
  validateWorkloadSpec(spec);
  const bad = (message: string): never => invalidSpec(spec, message);
  if (spec.image !== undefined && (typeof spec.image !== 'string' || !IMAGE_REF_RE.test(spec.image))) {
    bad(`invalid image ${JSON.stringify(spec.image)}`);
  }
  const limits = spec.limits;
  if (limits !== undefined) {
    if (typeof limits !== 'object' || limits === null) bad('limits must be an object');
    // Docker and Podman both reject memory limits under 6 MiB; say so before creating anything.
    if (
      limits.memoryMiB !== undefined &&
      !(Number.isSafeInteger(limits.memoryMiB) && limits.memoryMiB >= 6)
    ) {
      bad('limits.memoryMiB must be an integer of at least 6');
    }
    if (limits.cpuSeconds !== undefined && !(Number.isFinite(limits.cpuSeconds) && limits.cpuSeconds > 0)) {
      bad('limits.cpuSeconds must be a positive number');
    }
    if (
      limits.wallSeconds !== undefined &&
      !(Number.isFinite(limits.wallSeconds) && limits.wallSeconds > 0)
    ) {
      bad('limits.wallSeconds must be a positive number');
    }
    if (limits.cpus !== undefined && !(Number.isFinite(limits.cpus) && limits.cpus > 0)) {
      bad('limits.cpus must be a positive number');
    }
    if (limits.pids !== undefined && !(Number.isSafeInteger(limits.pids) && limits.pids > 0)) {
      bad('limits.pids must be a positive integer');
    }
    if (limits.diskMiB !== undefined && !(Number.isSafeInteger(limits.diskMiB) && limits.diskMiB > 0)) {
      bad('limits.diskMiB must be a positive integer');
    }
  }
}

/**
 * The container's env on top of the image's own (the engine merges the two, ours winning). PATH is
 * deliberately left to the image: the agent's PATH means nothing inside it. Allocation variables come
 * last, so user env cannot claim another lease's GPUs or port.
 */
/** Where a lease's checkpoint directory (its first `writablePaths` entry, and any more) shows inside the container. */
export const CHECKPOINT_TARGET = '/aethir/checkpoint';

/** The writable host directories of a spec as binds: the first at CHECKPOINT_TARGET, more beside it. */
function checkpointMounts(spec: WorkloadSpec): Array<{ source: string; target: string }> {
  return (spec.writablePaths ?? []).map((source, i) => ({
    source,
    target: i === 0 ? CHECKPOINT_TARGET : `${CHECKPOINT_TARGET}-${i}`,
  }));
}

function buildEnv(
  spec: WorkloadSpec,
  workdir: string,
  gpuIds: string[],
  writable: ReadonlyArray<{ source: string; target: string }> = [],
): Record<string, string> {
  // an env value naming a writable host directory names it where the container sees it
  const inside = Object.fromEntries(
    Object.entries(spec.env ?? {}).map(([k, v]) => [k, writable.find((m) => m.source === v)?.target ?? v]),
  );
  const env: Record<string, string> = {
    HOME: workdir,
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    ...inside,
    AETHIR_LEASE_ID: spec.leaseId,
    // The toolkit exposes only the requested GPUs, renumbered from 0 inside the container, so CUDA
    // must count 0..n-1 here (the host's indices would point at devices that are not there).
    CUDA_VISIBLE_DEVICES: gpuIds.map((_, i) => String(i)).join(','),
    // CUDA images set NVIDIA_VISIBLE_DEVICES=all; where the NVIDIA runtime is the engine's default it
    // would hand such a container every GPU on the host. 'void' turns the hook off for GPU-less leases.
    NVIDIA_VISIBLE_DEVICES: gpuIds.length > 0 ? gpuIds.join(',') : 'void',
    CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
  };
  if (spec.port !== undefined) env.AETHIR_PORT = String(spec.workloadPort ?? spec.port);
  else delete env.AETHIR_PORT;
  return env;
}

function networkName(leaseId: string): string {
  return `aethir-${leaseId}`;
}

/** Whether a USER (name or uid, with an optional group) leaves the workload root or in root's group. */
export function isRootUser(user: string): boolean {
  if (user.trim() === '') return true;
  return user.split(':').some((part) => part === '0' || part === 'root');
}

/** Docker >= API 1.42 says which framing its logs use; everything else (Podman included) is sniffed. */
function demuxMode(res: { headers: IncomingHttpHeaders }): DemuxMode {
  const contentType = String(res.headers['content-type'] ?? '');
  if (contentType.includes('multiplexed-stream')) return 'multiplexed';
  if (contentType.includes('raw-stream')) return 'raw';
  return 'auto';
}

function checkImageRef(ref: string): void {
  if (typeof ref !== 'string' || !IMAGE_REF_RE.test(ref)) {
    throw new AethirError('INVALID_ARGUMENT', `invalid image reference ${JSON.stringify(ref)}`);
  }
}

/** repo + tag (or digest) for POST /images/create: an empty tag would make the engine pull every tag. */
export function splitImageRef(ref: string): { repo: string; tag: string } {
  const at = ref.indexOf('@');
  if (at >= 0) return { repo: ref.slice(0, at), tag: ref.slice(at + 1) };
  const colon = ref.lastIndexOf(':');
  // A colon before the last '/' belongs to a registry's host:port, not to a tag.
  if (colon > ref.lastIndexOf('/')) return { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repo: ref, tag: 'latest' };
}

function signalName(n: number): string | null {
  for (const [name, value] of Object.entries(osConstants.signals)) if (value === n) return name;
  return null;
}

function parseJson<T>(body: Buffer, what: string): T | undefined {
  try {
    return JSON.parse(body.toString('utf8')) as T;
  } catch {
    throw new AethirError('RUNTIME_FAILED', `Docker engine sent an unreadable ${what}`);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => unrefTimeout(r, ms));
}
