/**
 * The container agent's runtime port: how a lease's workload is actually run on a host. Adapters
 * (the host-process runtime today; containers or VMs later) implement `Runtime`, and the agent only
 * ever talks to this interface, so it never knows whether a workload is a process, a container or a VM.
 */
import type { ExecRequest, ExecSession } from './exec.js';

/** Resource limits for one workload. Every field is optional; an absent field means "no limit". */
export interface WorkloadLimits {
  /** Private writable memory the workload may allocate, in MiB (an adapter documents what exactly it caps). */
  memoryMiB?: number;
  /** CPU time the workload may consume, in whole seconds. */
  cpuSeconds?: number;
  /** Wall-clock time from start until the workload is stopped with reason 'timeout'. */
  wallSeconds?: number;
  /** Bytes the workload may keep in its working directory, in MiB (stopped with reason 'timeout'). */
  diskMiB?: number;
  /** CPU quota in cores (1.5 = one and a half cores' time per period), enforced by a cgroup. */
  cpus?: number;
  /** How many processes and threads the workload may have at once, enforced by a cgroup. */
  pids?: number;
}

export interface WorkloadSpec {
  /** The lease this workload serves; also names its working directory, so only [A-Za-z0-9_-] is allowed. */
  leaseId: string;
  /** argv; argv[0] is resolved on PATH; never run through a shell. */
  command: string[];
  /** User env, merged over a minimal safe base env (PATH, HOME=workdir, LANG, TERM). */
  env?: Record<string, string>;
  /** -> CUDA_VISIBLE_DEVICES exactly these (empty -> CUDA_VISIBLE_DEVICES="", i.e. no GPU). */
  gpuIndices: number[];
  /** The host loopback port the endpoint proxy reaches this workload at; -> AETHIR_PORT unless `workloadPort`. */
  port?: number;
  /**
   * The port the workload itself listens on inside its isolation (the lease's `workload.port`):
   * the host's `port` forwards to it, and nothing else of the host's (-> AETHIR_PORT). Runtimes
   * without a network of their own (an unsandboxed host process) refuse it.
   */
  workloadPort?: number;
  /**
   * The host's address players reach it at (the endpoint's, an IPv4 literal): a sandboxed lease's
   * UDP port (`port`'s number, `$AETHIR_UDP_PORT`) is forwarded from it, and named to the workload
   * as `$AETHIR_UDP_HOST` (a game session's ICE candidate). Absent: the host's loopback.
   */
  publicAddress?: string;
  limits?: WorkloadLimits;
  /** Container image to run `command` in (container runtimes only; they default it, host-process ignores it). */
  image?: string;
  /** Host paths the workload may read (an installed app's directory); a sandbox shows it nothing else of the host's. */
  readOnlyPaths?: string[];
  /**
   * Host directories the workload may write and the host keeps after it ends (an interruptible
   * lease's checkpoint directory): made the lease uid's and bound in where sandboxed.
   */
  writablePaths?: string[];
  /**
   * Start in the files a previous run of this lease kept (`kill(…, { keepFiles: true })`): a
   * lease resumed after a pause. Runtimes without `removeFiles` ignore it (they keep nothing).
   */
  reuseFiles?: boolean;
  /**
   * Host directories bound into the workload at `target` (persistent volumes, src/container/volumes.ts):
   * a writable one is handed to the workload's user first. Without a sandbox (isolation none) the
   * target is a link in the working directory (`<workdir>/data` for `/data`).
   */
  mounts?: WorkloadMount[];
}

export interface WorkloadMount {
  source: string;
  /** an absolute path of plain segments (checked by the ledger: MountPath) */
  target: string;
  readOnly?: boolean;
}

/** Why a workload ended: on its own, stopped by kill()/stopAll(), stopped by a limit, or never started. */
export type WorkloadExitReason = 'exited' | 'killed' | 'timeout' | 'start-failed';

export type WorkloadExitEvent = {
  type: 'exit';
  exitCode: number | null;
  signal: string | null;
  reason: WorkloadExitReason;
  at: number;
  message?: string;
  /** Which limit stopped the workload, when reason is 'timeout'. */
  limit?: 'wallSeconds' | 'cpuSeconds' | 'diskMiB' | 'memoryMiB' | 'pids';
};

export type WorkloadEvent = { type: 'stdout' | 'stderr'; data: string; at: number } | WorkloadExitEvent;

export interface RunningWorkload {
  readonly leaseId: string;
  /** The OS pid (also the process-group id); undefined when the workload never started. */
  readonly pid: number | undefined;
  readonly workdir: string;
  /** Every event from the start (buffered), then live ones; ends after 'exit'. Each call replays independently. */
  events(): AsyncIterable<WorkloadEvent>;
  /** Live listener (no replay); returns unsubscribe. */
  onEvent(listener: (e: WorkloadEvent) => void): () => void;
  /** Resolves (never rejects) with the final 'exit' event. */
  readonly exited: Promise<Extract<WorkloadEvent, { type: 'exit' }>>;
  /**
   * SIGTERM to the whole process group, SIGKILL after a grace period (`graceMs`; absent: the
   * runtime's own, a few seconds; an interruptible lease's preemption notice gives it longer);
   * resolves when exited. `keepFiles`: its working directory stays for a later start with
   * `reuseFiles` (a paused lease), until `Runtime.removeFiles`; runtimes without `removeFiles`
   * ignore it.
   */
  kill(reason?: string, opts?: { keepFiles?: boolean; graceMs?: number }): Promise<void>;
  /**
   * Starts another process inside this running workload's isolation (same uid, namespaces,
   * cgroup or container): shells, `aethir exec`, the tar of `aethir cp`. Absent: not supported.
   */
  exec?(req: ExecRequest): Promise<ExecSession>;
}

export interface Runtime {
  readonly name: string;
  /** how tenants are isolated from the host and each other (registered with the container); absent: 'none' */
  readonly isolation?: 'sandbox' | 'none';
  start(spec: WorkloadSpec): Promise<RunningWorkload>;
  /** Kills every running workload and resolves when all have exited. */
  stopAll(): Promise<void>;
  /**
   * Ends what a previous run of the agent left running (after a crash) and returns those lease
   * ids. A runtime that can re-attach to live workloads may do so instead; this one reports them
   * as lost.
   */
  reapOrphans?(): Promise<string[]>;
  /**
   * Runtimes that run images (Docker): makes `ref` present, pulling it if needed, with the pull's
   * progress as lines for the lease's user. Absent: this runtime runs no images.
   */
  prepareImage?(ref: string, onProgress: (line: string) => void): Promise<void>;
  /**
   * Runtimes that can keep a stopped workload's files (to pause a lease whose escrow ran out):
   * removes what a `keepFiles` kill kept. Absent: this runtime keeps nothing, leases are not paused.
   */
  removeFiles?(leaseId: string): Promise<void>;
  /** The images it has cached (tags and `name@sha256:…` digests), newest first, at most `max`. */
  cachedImages?(max: number): Promise<string[]>;
}
