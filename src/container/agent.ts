import { AgentCheckpoints } from './agent-checkpoints.js';
import { loadavg } from 'node:os';
import { AgentVolumes, type AttachedVolumes } from './agent-volumes.js';
import type { VolumeStore } from './volumes.js';
import { formatAth } from '../core/amount.js';
import { canonicalize } from '../core/canonical.js';
import type { Clock } from '../core/clock.js';
import { signAsContainer } from '../core/container-signature.js';
import { AethirError, isAethirError } from '../core/errors.js';
import type { KeyPair } from '../core/keys.js';
import { verifyLeaseToken } from '../core/lease-token.js';
import { encKeyOf, openEnv } from '../core/seal.js';
import type { Lease } from '../ledger/model.js';
import type { ContainerSpec, Location } from '../ledger/modules/containers/payloads.js';
import { escrowRunsOutAt, paysWholeDuration } from '../ledger/modules/leases/queries.js';
import { DEFAULT_PARAMS } from '../ledger/params.js';
import { verifyReceipt, type SignedReceipt } from '../ledger/receipt.js';
import type { Bus } from '../bus/bus.js';
import type { NetworkClient } from '../sdk/network.js';
import { TxSender } from '../sdk/tx-sender.js';
import type { Runtime, RunningWorkload, WorkloadEvent } from './runtimes/runtime.js';
import { subjects, type HeartbeatMsg, type LeaseLogMsg, type LeaseOpenedMsg } from '../bus/subjects.js';
import type { EndpointProxy } from './endpoint-proxy.js';
import { LocalApps } from './apps/local-apps.js';
import { chooseProver, ledgerCheckerGate, serveChecks, type CheckServerOptions } from './check-server.js';
import { DEFAULT_LOG_FILE_MAX_BYTES, LeaseLogFile, readLeaseLog } from './output-file.js';
import type { LogsReply, LogsRequest } from '../bus/messages.js';

const DEFAULT_SETTLE_MS = 5 * 60_000;
/** the most cached images a heartbeat reports */
const MAX_REPORTED_IMAGES = 64;
const DEFAULT_FINAL_RECEIPT_WAIT_MS = 5_000;

/** When a lease's escrow runs out (it is then paused), or null: never, or not before its end. */
const runsOut = (l: Lease): number | null => (paysWholeDuration(l) ? null : escrowRunsOutAt(l));

/** A lease's place on this host: its GPUs from the moment it is accepted, its workload once started. */
interface Slot {
  gpus: number[];
  w: RunningWorkload | null;
  /** the lease was closed (or the agent stopped) before the workload had started */
  cancelled: boolean;
  /** when this host took the lease (its clock): the receipt grace runs from here until the first receipt */
  takenAt: number;
  /** the lease's openedAt (block time): a receipt acknowledges service up to openedAt + servedMs */
  openedAt: number;
  /** why this host ended the workload itself (no receipts), if it did */
  endReason?: string;
  /** the lease was closed on the ledger (by its user, or the checkers): no final receipt to wait for */
  closedOnLedger?: boolean;
  /** the workload has ended (the lease is being closed) */
  exited?: boolean;
  /** when its escrow runs out (block time, from the lease as last read); null: never */
  runsOutAt: number | null;
  /** set while paused (its escrow ran out): the workload stopped, its files kept until closesAt */
  pause?: { closesAt: number } | undefined;
  /** a pause is being tried */
  checkingFunds?: boolean;
  /** the port its endpoint forwards to (kept across a pause) */
  port?: number | undefined;
  /** its user allowed this host top-ups from their balance (lease.open topUpLimit), some left */
  autoTopUp?: boolean;
  /** stops watching the running workload's volumes and frees their writer slots */
  detachVolumes?: (() => Promise<void>) | undefined;
}

/** The user's latest usage receipt for one lease, as this host received it. */
interface ReceiptState {
  latest: SignedReceipt | null;
  /** this host's clock when the latest arrived */
  receivedAt: number;
  /** receipts taken so far (a final one after the workload's exit is waited for by this count) */
  count: number;
  /** the highest seq the ledger accepted from this host (a receipt is never sent twice) */
  usedSeq: number;
  user: string;
  unsub: () => void;
  waiters: Set<() => void>;
}

export interface ContainerAgentInit {
  key: KeyPair;
  name: string;
  spec: ContainerSpec;
  location: Location;
  pricePerHour: bigint;
  /** the price per GPU-hour of GPUs booked for days (`aethir reserve`); none: no reserved capacity */
  reservedPricePerHour?: bigint;
  heartbeatIntervalMs: number;
  /** how often the host collects payment for running leases (the user's escrow is charged as it goes) */
  settleIntervalMs?: number;
  /** stake what the network requires for this spec when registering */
  stakeAuto: boolean;
  /**
   * after a workload exits, how long to wait for the user's final usage receipt before closing
   * the lease (the client signs one when it sees the exit); default 5 s
   */
  finalReceiptWaitMs?: number;
  /** memory one lease may use, MiB, instead of its share of the host (enforced where the runtime sandboxes) */
  leaseMemoryMiB?: number;
  /** what one lease may keep in its working directory, MiB (none: no quota) */
  diskQuotaMiB?: number;
  /**
   * where each lease's whole output is written, `<logDir>/<lease>.log`, up to `logFileMaxBytes`
   * (default 64 MiB); in memory only the last MiB is kept. None: no log files.
   */
  logDir?: string;
  logFileMaxBytes?: number;
  /**
   * where interruptible leases keep their checkpoints, `<checkpointDir>/<lease>` (the workload's
   * $AETHIR_CHECKPOINT_DIR), kept after the lease for `rent --resume`. None: no checkpoints.
   */
  checkpointDir?: string;
  /** how long a lease resuming a checkpoint kept on another host waits for its user's client to bring it (default 60 s) */
  checkpointWaitMs?: number;
  /** apps to pre-install and serve sessions of (published on the network; docs/apps.md) */
  apps?: readonly string[];
  /** where apps are installed, `<appsDir>/<name>/<version>`; needed with `apps` */
  appsDir?: string;
  /** the longest one app's install may run (default 30 minutes) */
  appInstallTimeoutMs?: number;
  /**
   * the prover that answers checkers' capacity challenges (a command speaking the protocol of
   * src/capacity/protocol.ts, or a channel factory); default: the built-in CPU prover
   */
  prover?: CheckServerOptions['prover'];
  /**
   * persistent volumes (src/container/volumes.ts): where they live on disk and what this host
   * offers for them (price per GiB-hour, space); absent: no volumes
   */
  volumes?: { store: VolumeStore; pricePerGiBHour: bigint; capacityGiB: number };
}

export interface ContainerAgentComponents {
  network: NetworkClient;
  bus: Bus;
  runtime: Runtime;
  /** gives each lease a port and makes it reachable by its user (started by the caller) */
  endpoints?: EndpointProxy;
  clock: Clock;
  log?: (msg: string) => void;
}

/**
 * The container role: registers this host and its spec on the ledger, stakes, heartbeats on
 * the bus, runs the workload of every lease opened on it, streams its output, and closes the
 * lease (with the exit code) when the workload ends. When the user closes a lease first, the
 * workload's whole process tree is killed.
 *
 * It is paid by usage receipts: it keeps the latest one the user signed for each running lease
 * (`lease.<id>.receipt`), settles with it, and closes with it. A user who stops signing for
 * `params.receiptGraceMs` gets the workload stopped and the lease closed.
 */
export class ContainerAgent {
  private readonly sender: TxSender;
  private readonly running = new Map<string, Slot>();
  private readonly closing = new Set<string>();
  /** leases this agent has handled: an event repeated after a reconnect never starts one twice */
  private readonly handled = new Set<string>();
  private draining = false;
  private readonly handlers = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private settleTimer: NodeJS.Timeout | null = null;
  private unsubs: Array<() => void> = [];
  private started = false;
  private stopping = false;
  private readonly receipts = new Map<string, ReceiptState>();
  private chainId: string | null = null;
  private receiptGraceMs = DEFAULT_PARAMS.receiptGraceMs;
  /** params.pauseGraceMs: leases whose escrow runs out are paused (absent: not on this network) */
  private pauseGraceMs: number | undefined;
  /** params.checkpointKeepMs: how long ended interruptible leases' checkpoints are kept here */
  private checkpointKeepMs: number | undefined;
  private readonly checkpoints: AgentCheckpoints | null;
  private lastCheckpointSweep = 0;
  readonly init: ContainerAgentInit;
  /** the apps this host pre-installs (none: null) */
  private readonly apps: LocalApps | null;
  /** the images the runtime has cached, as the last heartbeat learnt them (reported in the next) */
  private images: string[] = [];
  /** persistent volumes on this host (none: null) */
  private readonly volumes: AgentVolumes | null;

  constructor(
    private readonly components: ContainerAgentComponents,
    init: ContainerAgentInit,
  ) {
    this.sender = new TxSender(init.key, components.network);
    // What users are told about this host's isolation is what its runtime does.
    this.init = { ...init, spec: { ...init.spec, isolation: components.runtime.isolation ?? 'none' } };
    if (init.apps?.length && !init.appsDir)
      throw new AethirError('INVALID_ARGUMENT', 'apps need a directory to be installed in (appsDir)');
    this.apps = init.apps?.length
      ? new LocalApps({
          wanted: init.apps,
          baseDir: init.appsDir!,
          network: components.network,
          region: init.location.region,
          ...(components.log ? { log: components.log } : {}),
          ...(init.appInstallTimeoutMs ? { installTimeoutMs: init.appInstallTimeoutMs } : {}),
          onChange: () => {
            if (this.started) this.heartbeat();
          },
        })
      : null;
    this.checkpoints = init.checkpointDir
      ? new AgentCheckpoints(init.checkpointDir, {
          id: init.key.address,
          network: components.network,
          endpoints: components.endpoints,
          chainId: () => this.chainId ?? null,
          now: () => components.clock.now(),
          keepMs: () => this.checkpointKeepMs,
          ...(init.checkpointWaitMs !== undefined ? { waitMs: init.checkpointWaitMs } : {}),
          log: components.log,
        })
      : null;
    this.volumes = init.volumes
      ? new AgentVolumes(
          init.volumes.store,
          init.key.address,
          components.network,
          this.sender,
          components.log,
          (v, open) => {
            const ep = components.endpoints;
            if (!ep || !this.chainId) return;
            ep.door(
              v.id,
              open
                ? this.volumes!.doorOf(v, components.runtime, this.chainId, () => components.clock.now())
                : null,
            );
          },
        )
      : null;
  }

  get id(): string {
    return this.init.key.address;
  }

  async start(): Promise<void> {
    if (this.started) return;
    const { network, bus } = this.components;
    this.stopping = false;
    this.chainId = await network.chainId();
    await this.refreshParams();
    const encKey = await encKeyOf(this.init.key);
    const existing = await network.container(this.id);
    const changed =
      !existing ||
      existing.encKey !== encKey ||
      existing.name !== this.init.name ||
      existing.pricePerHour !== this.init.pricePerHour ||
      (this.init.reservedPricePerHour !== undefined &&
        existing.reservedPricePerHour !== this.init.reservedPricePerHour) ||
      canonicalize(existing.spec) !== canonicalize(this.init.spec) ||
      canonicalize(existing.location) !== canonicalize(this.init.location) ||
      (this.init.volumes !== undefined &&
        (existing.volumeOffer?.pricePerGiBHour !== this.init.volumes.pricePerGiBHour ||
          existing.volumeOffer?.capacityGiB !== this.init.volumes.capacityGiB));
    if (changed)
      await this.sender.send('container.register', {
        name: this.init.name,
        spec: this.init.spec,
        location: this.init.location,
        pricePerHour: this.init.pricePerHour,
        ...(this.init.reservedPricePerHour !== undefined
          ? { reservedPricePerHour: this.init.reservedPricePerHour }
          : {}),
        encKey,
        ...(this.init.volumes
          ? {
              volumes: {
                pricePerGiBHour: this.init.volumes.pricePerGiBHour,
                capacityGiB: this.init.volumes.capacityGiB,
              },
            }
          : {}),
      });
    if (this.init.stakeAuto) {
      const need = await network.requiredStake(this.init.spec.gpus.map((g) => g.model));
      const have = (await network.container(this.id))?.stake ?? 0n;
      if (have < need) await this.sender.send('container.stake', { amount: need - have });
    }
    // Leases left open from before a restart have lost their workloads: close them so their
    // users pay only for the time that was delivered.
    // (Listed before subscribing, so a lease opened from now on is never mistaken for one.)
    const orphans = (await this.components.runtime.reapOrphans?.()) ?? [];
    if (orphans.length) this.components.log?.(`ended ${orphans.length} workloads left running by a crash`);
    const leftovers = await network.openLeasesOf(this.id);
    for (const leaseId of leftovers) {
      const l = await network.lease(leaseId);
      if (l) await this.close(l, null, 'container restarted; workload lost');
      // a lease paused before the restart kept its files: they go with it
      await this.components.runtime.removeFiles?.(leaseId);
    }
    // Volumes: remounted after a restart or reboot, writer locks of the lost workloads dropped.
    await this.volumes?.reconcile(new Set());
    this.unsubs.push(
      bus.subscribe(subjects.leaseOpened(this.id), (m) =>
        this.track(this.onLeaseOpened(m as LeaseOpenedMsg)),
      ),
      bus.subscribe(
        subjects.leaseClosed(this.id),
        (m) => void this.onLeaseClosed((m as { lease: string }).lease),
      ),
      bus.subscribe(
        subjects.leasePreempted(this.id),
        (m) => void this.track(this.onLeasePreempted((m as { lease: string }).lease)),
      ),
    );
    // Checkers' direct probes and capacity challenges (check.<id>), answered by this host: with
    // the operator's prover, else (a host that claims GPUs) the GPU prover where PyTorch sees a
    // CUDA device, else the built-in CPU prover.
    let prover = this.init.prover;
    if (!prover && this.init.spec.gpus.length > 0 && this.init.spec.source !== 'simulated') {
      const choice = await chooseProver();
      this.components.log?.(`capacity challenges: the ${choice.kind} prover (${choice.why})`);
      prover = () => choice.argv;
    }
    this.unsubs.push(
      serveChecks(bus, this.id, {
        clock: this.components.clock,
        runningLeases: () => this.running.size,
        signer: { key: this.init.key, chainId: () => this.chainId },
        // the operator sees starts refused (and provers that would not close), not every session
        ...(this.components.log
          ? {
              log: (m: string) => {
                if (/: refused \(|failed/.test(m)) this.components.log!(m);
              },
            }
          : {}),
        // only the ledger's checkers may hold this host's GPUs with a capacity session
        ...(this.components.network.checkers
          ? {
              admitStart: ledgerCheckerGate({
                container: this.id,
                clock: this.components.clock,
                checkers: () => this.components.network.checkers!(),
              }),
            }
          : {}),
        ...(prover ? { prover } : {}),
        ...(this.volumes
          ? { storage: (v: string, n: string, b: number[]) => this.volumes!.prove(v, n, b) }
          : {}),
      }),
    );
    // Its leases' kept logs, a page at a time, for their users only (logs.<id>: the API asks when
    // it no longer has the output in memory, e.g. after a restart).
    this.unsubs.push(bus.serve(subjects.logs(this.id), (m) => this.serveLogs(m as LogsRequest)));
    this.started = true;
    // ended interruptible leases' checkpoints, kept for their users (rent --resume on another host)
    const off =
      this.checkpoints && this.components.endpoints?.resolveDoors((id) => this.checkpoints!.door(id));
    if (off) this.unsubs.push(off);
    this.heartbeat();
    this.timer = setInterval(() => {
      this.heartbeat();
      this.checkReceipts();
      this.checkFunds();
      // checkpoints past params.checkpointKeepMs go, looked at once a minute
      const now = this.components.clock.now();
      if (this.checkpoints && now - this.lastCheckpointSweep >= 60_000) {
        this.lastCheckpointSweep = now;
        void this.checkpoints
          .sweep()
          .catch((e: unknown) => this.components.log?.(`checkpoints: ${(e as Error).message}`));
      }
      // new volumes get their copy door, deleted ones are freed
      void this.volumes
        ?.reconcile()
        .catch((e: unknown) => this.components.log?.(`volumes: ${(e as Error).message}`));
    }, this.init.heartbeatIntervalMs);
    this.timer.unref();
    this.settleTimer = setInterval(
      () => void this.settleRunning(),
      this.init.settleIntervalMs ?? DEFAULT_SETTLE_MS,
    );
    this.settleTimer.unref();
  }

  private track(p: Promise<void>): void {
    const handled = p.catch((e) => this.components.log?.(`lease handling failed: ${(e as Error).message}`));
    this.handlers.add(handled);
    void handled.finally(() => this.handlers.delete(handled));
  }

  private heartbeat(): void {
    const used = new Set([...this.running.values()].flatMap((r) => r.gpus));
    const at = this.components.clock.now();
    const msg: HeartbeatMsg = {
      container: this.id,
      at,
      freeGpus: this.draining ? 0 : this.init.spec.gpus.length - used.size,
      runningLeases: this.running.size,
      // The host's 1-minute load average per core: busy hosts rank lower for new work.
      load: Math.round((loadavg()[0]! / Math.max(1, this.init.spec.cpu.cores)) * 100) / 100,
      ...(this.draining ? { draining: true } : {}),
      ...(this.components.endpoints?.url ? { endpoint: this.components.endpoints.url } : {}),
      ...(this.apps?.readyList().length ? { apps: this.apps.readyList() } : {}),
      ...(this.components.runtime.prepareImage
        ? { runtime: 'docker' as const, images: this.images }
        : { runtime: 'host-process' as const }),
    };
    void this.refreshImages();
    // signed once the chain is known: receivers take no other (src/core/container-signature.ts)
    this.components.bus.publish(
      subjects.heartbeat(this.id),
      this.chainId ? signAsContainer(this.init.key, 'heartbeat', this.chainId, msg) : msg,
    );
    // Each heartbeat also brings the pre-installed apps up to date (one sync at a time).
    if (this.started && !this.stopping) void this.apps?.sync();
  }

  private refreshingImages = false;
  private async refreshImages(): Promise<void> {
    const rt = this.components.runtime;
    if (!rt.cachedImages || this.refreshingImages) return;
    this.refreshingImages = true;
    try {
      this.images = await rt.cachedImages(MAX_REPORTED_IMAGES);
    } catch {
      // the engine is down: the heartbeat keeps the last list
    } finally {
      this.refreshingImages = false;
    }
  }

  private allocateGpus(n: number): number[] {
    const used = new Set([...this.running.values()].flatMap((r) => r.gpus));
    const free = this.init.spec.gpus.map((_, i) => i).filter((i) => !used.has(i));
    if (free.length < n)
      throw new AethirError('CAPACITY_EXHAUSTED', `only ${free.length} GPUs free here, ${n} asked`);
    return free.slice(0, n);
  }

  private async onLeaseOpened(msg: LeaseOpenedMsg): Promise<void> {
    const lease = msg.lease;
    if (lease.container !== this.id || this.handled.has(lease.id) || lease.status !== 'open') return;
    this.handled.add(lease.id);
    if (this.handled.size > 10_000) this.handled.delete(this.handled.values().next().value!);
    if (this.draining) {
      await this.close(lease, null, 'the container is draining: it takes no new leases');
      return;
    }
    const { bus, runtime, clock } = this.components;
    // A session of an app runs the app's installed copy; one not ready here is refused at once.
    const image = lease.workload.image;
    // The indexer sends image leases only to Docker-engine hosts; one that comes anyway is refused
    // (and, having run nothing, charges nothing).
    // A lease's own port needs a network of its own (a sandbox or a container): without one the
    // endpoint could be pointed at any of the host's services. Refused likewise, charged nothing.
    const noEngine = image !== undefined && !runtime.prepareImage;
    const noOwnNetwork = lease.workload.port !== undefined && runtime.isolation !== 'sandbox';
    const run: Awaited<ReturnType<ContainerAgent['workloadOf']>> = noEngine
      ? { ok: false, reason: `container ${this.init.name} has no Docker engine: it runs no images` }
      : noOwnNetwork
        ? {
            ok: false,
            reason: `container ${this.init.name} runs leases without a sandbox: it cannot give a lease its own port`,
          }
        : await this.workloadOf(lease);
    if (!run.ok) {
      const m: LeaseLogMsg = {
        lease: lease.id,
        type: 'exit',
        exitCode: 127,
        signal: null,
        reason: 'start-failed',
        at: clock.now(),
        message: run.reason,
      };
      bus.publish(subjects.leaseExit(lease.id), m);
      await this.close(lease, 127, run.reason.slice(0, 200), { withoutReceipt: noEngine || noOwnNetwork });
      return;
    }
    // A lease that preempted interruptible ones starts when their notice ends: wait for their GPUs.
    await this.waitForGpus(lease.gpus, lease.openedAt);
    const checkpoint = await this.checkpoints?.prepare(lease, (data) =>
      bus.publish(subjects.leaseLog(lease.id), {
        lease: lease.id,
        type: 'stderr',
        data,
        at: clock.now(),
      } satisfies LeaseLogMsg),
    );
    if (checkpoint) {
      run.env = { ...run.env, AETHIR_CHECKPOINT_DIR: checkpoint };
      run.writablePaths = [checkpoint];
    }
    let gpus: number[];
    try {
      gpus = this.allocateGpus(lease.gpus);
    } catch (e) {
      await this.close(lease, null, `could not start: ${(e as Error).message}`);
      return;
    }
    // The slot is taken before the first await: a lease opened meanwhile cannot get the same
    // GPUs, and a close that arrives while the workload is starting is remembered.
    const slot: Slot = {
      gpus,
      w: null,
      cancelled: false,
      takenAt: clock.now(),
      openedAt: lease.openedAt,
      runsOutAt: runsOut(lease),
      autoTopUp: (lease.topUpLimit ?? 0n) > (lease.toppedUpByHost ?? 0n),
    };
    this.running.set(lease.id, slot);
    this.followReceipts(lease);
    void this.refreshParams();
    const publish = (e: WorkloadEvent) => {
      const m: LeaseLogMsg = { lease: lease.id, ...e };
      bus.publish(e.type === 'exit' ? subjects.leaseExit(lease.id) : subjects.leaseLog(lease.id), m);
    };
    // Runs the workload; again, in the files it kept, each time the lease resumes after a pause.
    for (let resumed = false; ; resumed = true) {
      const current = resumed ? ((await this.components.network.lease(lease.id)) ?? lease) : lease;
      const w = await this.startWorkload(current, slot, run, publish, resumed);
      if (!w) {
        if (resumed) await this.components.runtime.removeFiles?.(lease.id);
        return;
      }
      const exit = await w.exited;
      // its volumes' writer slots are free while it is paused, and once it has ended
      await slot.detachVolumes?.();
      slot.detachVolumes = undefined;
      if (slot.pause) {
        // Stopped because the escrow ran out: its files are kept until a top-up or the grace's end.
        if (await this.whilePaused(lease, slot)) continue;
        await this.components.runtime.removeFiles?.(lease.id);
        this.running.delete(lease.id);
        this.heartbeat();
        const why = slot.closedOnLedger
          ? 'the lease was closed while paused'
          : this.stopping
            ? 'container stopped while the lease was paused; its files were removed'
            : 'paused past its grace period: its files were removed';
        publish({
          type: 'exit',
          exitCode: null,
          signal: null,
          reason: 'killed',
          at: clock.now(),
          message: why,
        });
        await this.close(lease, null, why);
        return;
      }
      slot.exited = true;
      // The user's client signs a last receipt when it sees the exit: wait for it (briefly), so a
      // short workload is paid for what it ran. Not when the lease was closed, or this host ended it.
      const receiptsAtExit = this.receipts.get(lease.id)?.count ?? 0;
      if (!this.stopping && !slot.endReason && !slot.closedOnLedger && !this.covered(lease.id, slot))
        await this.waitForReceipt(
          lease.id,
          receiptsAtExit,
          this.init.finalReceiptWaitMs ?? DEFAULT_FINAL_RECEIPT_WAIT_MS,
        );
      this.running.delete(lease.id);
      this.components.endpoints?.close(lease.id);
      this.heartbeat();
      const reason =
        slot.endReason ??
        (exit.reason === 'killed'
          ? 'workload stopped'
          : exit.reason === 'timeout'
            ? exit.limit === 'wallSeconds'
              ? 'lease time ran out'
              : `the workload was stopped at a limit: ${exit.message ?? exit.limit}`.slice(0, 200)
            : exit.reason === 'start-failed'
              ? `workload failed to start: ${exit.message ?? ''}`.slice(0, 200)
              : 'workload exited');
      await this.close(lease, exit.exitCode, reason);
      return;
    }
  }

  /**
   * Starts a lease's workload (again, in its kept files, when `resumed`) with its endpoint, its
   * user's door and its output streamed and logged; null when it could not start (the lease is
   * then closed).
   */
  private async startWorkload(
    lease: Lease,
    slot: Slot,
    run: {
      command: string[];
      env: Record<string, string>;
      readOnlyPaths?: string[];
      writablePaths?: string[];
    },
    publish: (e: WorkloadEvent) => void,
    resumed: boolean,
  ): Promise<RunningWorkload | null> {
    const { runtime, clock } = this.components;
    const image = lease.workload.image;
    // Its volumes: checked, mounted, the writer slot taken (refused: the lease closes, charged nothing).
    let vols: AttachedVolumes | null = null;
    try {
      vols = (await this.volumes?.attach(lease)) ?? null;
      if (!vols && lease.workload.volumes?.length)
        throw new AethirError('UNAVAILABLE', 'this host keeps no volumes');
    } catch (e) {
      return this.failedStart(lease, publish, e, true);
    }
    // Paused time does not count against the maximum duration.
    const remainingSec = Math.max(
      1,
      Math.ceil((lease.openedAt + (lease.pausedMs ?? 0) + lease.maxDurationSec * 1000 - clock.now()) / 1000),
    );
    let w: RunningWorkload;
    try {
      const port = await this.components.endpoints?.open(
        lease.id,
        {
          chainId: this.chainId ?? (await this.components.network.chainId()),
          user: lease.user,
          ...(lease.workload.publicEndpoint ? { public: true } : {}),
        },
        // resumed: the same port (a thawed container is still published on it)
        resumed ? slot.port : undefined,
      );
      slot.port = port;
      const publicAddress = port ? await this.components.endpoints?.publicAddress() : undefined;
      if (image) {
        try {
          // The pull's progress reaches the user as the lease's first output.
          await runtime.prepareImage!(image, (line) =>
            publish({ type: 'stderr', data: `aethir: pulling ${image}: ${line}\n`, at: clock.now() }),
          );
        } catch (e) {
          throw Object.assign(new Error(`image ${image}: ${(e as Error).message}`), { imageFailed: true });
        }
        void this.refreshImages().then(() => this.heartbeat());
      }
      w = await runtime.start({
        leaseId: lease.id,
        command: run.command,
        ...(image ? { image } : {}),
        env: run.env,
        gpuIndices: slot.gpus,
        ...(port ? { port } : {}),
        // the workload's own port inside its sandbox or container; the endpoint forwards to it only
        ...(port && lease.workload.port !== undefined ? { workloadPort: lease.workload.port } : {}),
        // where players reach the lease's UDP port (a game's media): the endpoint's address
        ...(port && publicAddress ? { publicAddress } : {}),
        ...(run.readOnlyPaths ? { readOnlyPaths: run.readOnlyPaths } : {}),
        ...(resumed ? { reuseFiles: true } : {}),
        ...(vols ? { mounts: vols.mounts } : {}),
        ...(run.writablePaths ? { writablePaths: run.writablePaths } : {}),
        limits: {
          ...leaseLimits(this.init.spec, lease.gpus),
          ...(this.init.leaseMemoryMiB ? { memoryMiB: this.init.leaseMemoryMiB } : {}),
          wallSeconds: remainingSec,
          ...(this.init.diskQuotaMiB ? { diskMiB: this.init.diskQuotaMiB } : {}),
        },
      });
    } catch (e) {
      await vols?.release();
      // An image that cannot be pulled ran nothing: the lease closes charged nothing.
      return this.failedStart(lease, publish, e, (e as { imageFailed?: boolean }).imageFailed === true);
    }
    slot.w = w;
    slot.pause = undefined;
    if (slot.cancelled) void w.kill('lease closed');
    // A writer that fills its volume (the image is the quota: its writes fail) is stopped, saying so.
    const unwatch = vols?.watch((message) => {
      slot.endReason ??= `the workload was stopped at a limit: ${message}`.slice(0, 200);
      void w.kill(message);
    });
    slot.detachVolumes = async () => {
      unwatch?.();
      await vols?.release();
    };
    // Its user's shells, exec and copies come in through the endpoint server (lease-access.ts).
    if (w.exec && this.chainId)
      this.components.endpoints?.door(lease.id, {
        chainId: this.chainId,
        user: lease.user,
        workload: () => (slot.exited || slot.pause ? null : slot.w),
        isOpen: async () => (await this.components.network.lease(lease.id))?.status === 'open',
        now: () => clock.now(),
      });
    // events() replays what the workload wrote before we got here, then follows it live. It keeps
    // only the last MiB: a reader that falls further behind gets a marker saying what it missed.
    // A workload stopped for a pause has not ended the lease: its exit is not the lease's.
    const file = this.openLogFile(lease.id, resumed);
    void (async () => {
      for await (const e of w.events()) {
        if (e.type === 'exit' && slot.pause) {
          file?.close();
          continue;
        }
        file?.write(e);
        publish(e);
      }
      file?.close();
    })();
    return w;
  }

  /**
   * While a paused lease waits for its user's top-up: true when it resumed (topped up within the
   * grace period), false when it closed, its grace period ended (this host closes it) or the
   * agent stops.
   */
  private async whilePaused(lease: Lease, slot: Slot): Promise<boolean> {
    const pause = slot.pause!;
    const poll = Math.min(1_000, this.init.heartbeatIntervalMs);
    while (!this.stopping && !slot.closedOnLedger) {
      const l = await this.components.network.lease(lease.id).catch(() => undefined);
      if (l?.status === 'open') {
        slot.runsOutAt = runsOut(l);
        slot.pause = undefined;
        this.components.bus.publish(subjects.leaseLog(lease.id), {
          lease: lease.id,
          type: 'stderr',
          data: 'aethir: lease resumed (topped up): its workload starts again in its kept files\n',
          at: this.components.clock.now(),
        } satisfies LeaseLogMsg);
        return true;
      }
      if (l?.status === 'closed') return false;
      if (this.components.clock.now() > pause.closesAt) return false;
      await new Promise((r) => setTimeout(r, poll));
    }
    return false;
  }

  /**
   * Pauses the running leases whose escrow has run out (on a network with params.pauseGraceMs):
   * the ledger takes the pause only when the escrow is spent as the receipts show; the workload
   * is then stopped with its files kept (host-process: its directory; Docker: the container,
   * frozen). A runtime that keeps no files ends the lease instead.
   */
  private checkFunds(): void {
    if (this.pauseGraceMs === undefined) return;
    const now = this.components.clock.now();
    for (const [leaseId, slot] of this.running) {
      if (!slot.w || slot.exited || slot.endReason || slot.pause || slot.checkingFunds) continue;
      // with the user's allowance, topped up two heartbeats ahead, so the workload never stops
      const lead = slot.autoTopUp ? 2 * this.init.heartbeatIntervalMs : 0;
      if (slot.runsOutAt === null || now < slot.runsOutAt - lead) continue;
      slot.checkingFunds = true;
      void (async () => {
        if (slot.autoTopUp) await this.topUpFromAllowance(leaseId, slot);
        await this.pauseIfSpent(leaseId, slot);
      })().finally(() => (slot.checkingFunds = false));
    }
  }

  /** A workload that could not start: its exit told to the user, the lease closed (127). */
  private async failedStart(
    lease: Lease,
    publish: (e: WorkloadEvent) => void,
    e: unknown,
    withoutReceipt: boolean,
  ): Promise<null> {
    this.running.delete(lease.id);
    this.components.endpoints?.close(lease.id);
    const why = `workload failed to start: ${(e as Error).message}`.slice(0, 200);
    publish({
      type: 'exit',
      exitCode: 127,
      signal: null,
      reason: 'start-failed',
      at: this.components.clock.now(),
      message: why,
    });
    await this.close(lease, 127, why, { withoutReceipt });
    return null;
  }

  /**
   * Tops a lease up from its user's balance with what is left of the allowance they gave at
   * lease.open (`topUpLimit`), as far as its maximum duration can spend: a detached lease keeps
   * running with no client online. Refused (the user's balance is short): it is paused as usual.
   */
  private async topUpFromAllowance(leaseId: string, slot: Slot): Promise<void> {
    const l = await this.components.network.lease(leaseId).catch(() => undefined);
    if (l?.status !== 'open') return;
    const left = (l.topUpLimit ?? 0n) - (l.toppedUpByHost ?? 0n);
    const whole = (l.pricePerHour * BigInt(Math.max(1, l.gpus)) * BigInt(l.maxDurationSec)) / 3600n;
    const amount = left < whole - l.escrow ? left : whole - l.escrow;
    if (amount <= 0n) {
      slot.autoTopUp = false;
      return;
    }
    const say = (data: string) =>
      this.components.bus.publish(subjects.leaseLog(leaseId), {
        lease: leaseId,
        type: 'stderr',
        data,
        at: this.components.clock.now(),
      } satisfies LeaseLogMsg);
    try {
      await this.sender.send('lease.topup', { lease: leaseId, amount });
    } catch (e) {
      slot.autoTopUp = false;
      say(`aethir: could not top the lease up from your balance (--top-up): ${(e as Error).message}\n`);
      return;
    }
    const now = await this.components.network.lease(leaseId).catch(() => undefined);
    if (now) slot.runsOutAt = runsOut(now);
    slot.autoTopUp = left - amount > 0n && (now ? !paysWholeDuration(now) : false);
    say(
      `aethir: topped the lease up with ${formatAth(amount, 9)} ATH from your balance (--top-up; ${formatAth(left - amount, 9)} ATH of it left)\n`,
    );
  }

  private async pauseIfSpent(leaseId: string, slot: Slot): Promise<void> {
    const l = await this.components.network.lease(leaseId).catch(() => undefined);
    if (l?.status !== 'open' || !slot.w) return;
    slot.runsOutAt = runsOut(l);
    if (slot.runsOutAt === null || this.components.clock.now() < slot.runsOutAt) return; // topped up
    // paid for its whole duration: it ends then, it is not paused
    if (paysWholeDuration(l) || l.openedAt + (l.pausedMs ?? 0) + l.maxDurationSec * 1000 <= slot.runsOutAt)
      return;
    if (!this.components.runtime.removeFiles) {
      slot.endReason = 'its escrow ran out';
      void slot.w.kill('its escrow ran out');
      return;
    }
    const receipt = this.unusedReceipt(leaseId);
    let r: Record<string, unknown>;
    try {
      r = (await this.sender.send('lease.pause', { lease: leaseId, ...(receipt ? { receipt } : {}) })).result;
      const st = this.receipts.get(leaseId);
      if (st && receipt) st.usedSeq = Math.max(st.usedSeq, receipt.seq);
    } catch (e) {
      // not spent as far as the ledger sees (a receipt or a block behind): tried again later
      this.components.log?.(`pausing lease ${leaseId} refused: ${(e as Error).message}`);
      return;
    }
    const closesAt = Number(r.closesAt);
    slot.pause = { closesAt };
    const mins = Math.max(1, Math.round((closesAt - this.components.clock.now()) / 60_000));
    this.components.bus.publish(subjects.leaseLog(leaseId), {
      lease: leaseId,
      type: 'stderr',
      data: `aethir: lease paused: its escrow ran out. Its files are kept ${mins} min; top it up to resume: aethir lease topup ${leaseId} --amount ATH\n`,
      at: this.components.clock.now(),
    } satisfies LeaseLogMsg);
    this.components.endpoints?.close(leaseId);
    await slot.w.kill('its escrow ran out: paused', { keepFiles: true });
  }

  /**
   * A page of a lease's kept log file, for a token signed by the lease's user (scope `logs`): the
   * API checked it, and so does this host, against the lease's user on the ledger.
   */
  private async serveLogs(req: LogsRequest): Promise<LogsReply> {
    const lease = await this.components.network.lease(req.lease);
    if (!lease || lease.container !== this.id)
      throw new AethirError('NOT_FOUND', `lease ${req.lease} did not run on this container`);
    verifyLeaseToken(req.token, {
      chainId: this.chainId ?? (await this.components.network.chainId()),
      lease: lease.id,
      user: lease.user,
      scope: 'logs',
      now: this.components.clock.now(),
    });
    const page = this.init.logDir ? readLeaseLog(this.init.logDir, lease.id, req.offset) : null;
    if (!page)
      throw new AethirError('NOT_FOUND', `container ${this.init.name} keeps no log of lease ${lease.id}`);
    return page as LogsReply;
  }

  /** The lease's size-capped log file, or none (no logDir, or it cannot be created: output still streams). */
  private openLogFile(leaseId: string, append = false): LeaseLogFile | undefined {
    if (!this.init.logDir) return undefined;
    const say = this.components.log ?? (() => {});
    try {
      return new LeaseLogFile(
        this.init.logDir,
        leaseId,
        this.init.logFileMaxBytes ?? DEFAULT_LOG_FILE_MAX_BYTES,
        say,
        append,
      );
    } catch (e) {
      say(`lease ${leaseId}: no log file (${(e as Error).message}); its output still streams`);
      return undefined;
    }
  }

  /**
   * What a lease runs: its command, or the installed app it names (or why that cannot run here),
   * with its env: sealed values opened with this container's key, only for the lease they were
   * sealed for (src/core/seal.ts).
   */
  private async workloadOf(lease: Lease): Promise<
    | {
        ok: true;
        command: string[];
        env: Record<string, string>;
        readOnlyPaths?: string[];
        writablePaths?: string[];
      }
    | { ok: false; reason: string }
  > {
    let w = lease.workload;
    if (w.sealedEnv && Object.keys(w.sealedEnv).length > 0) {
      try {
        const opened = await openEnv(w.sealedEnv, this.init.key, {
          chainId: this.chainId ?? (await this.components.network.chainId()),
          user: lease.user,
          container: this.id,
        });
        w = { ...w, env: { ...(w.env ?? {}), ...opened } };
      } catch (e) {
        return { ok: false, reason: `env not opened: ${(e as Error).message}` };
      }
    }
    if (w.app === undefined) return { ok: true, command: w.command!, env: w.env ?? {} };
    if (!this.apps) return { ok: false, reason: `app ${w.app} is not installed on this container` };
    return this.apps.resolve(w, lease.gpus);
  }

  /**
   * Closes the lease with the user's latest receipt not yet used (the ledger charges up to what
   * the receipts acknowledge; without one, nothing more). Forgets the lease's receipts after.
   */
  private async close(
    lease: Lease,
    exitCode: number | null,
    reason: string,
    opts: { withoutReceipt?: boolean } = {},
  ): Promise<void> {
    if (this.closing.has(lease.id)) return;
    this.closing.add(lease.id);
    try {
      const current = await this.components.network.lease(lease.id);
      if (!current || current.status === 'closed') return;
      const receipt = opts.withoutReceipt ? undefined : this.unusedReceipt(lease.id);
      const payload = { lease: lease.id, exitCode: exitCode ?? -1, reason };
      try {
        await this.sender.send('lease.close', receipt ? { ...payload, receipt } : payload);
      } catch (e) {
        // A receipt the ledger refuses must not keep the lease open: close without it.
        if (!receipt || (isAethirError(e) && e.code === 'CONFLICT')) throw e;
        this.components.log?.(
          `lease ${lease.id}: receipt refused (${(e as Error).message}); closing without it`,
        );
        await this.sender.send('lease.close', payload);
      }
    } catch (e) {
      // Closed by the user at the same moment: nothing left to do.
      if (!(isAethirError(e) && e.code === 'CONFLICT'))
        this.components.log?.(`closing lease ${lease.id} failed: ${(e as Error).message}`);
    } finally {
      this.closing.delete(lease.id);
      this.forgetReceipts(lease.id);
    }
  }

  /** Takes the user's receipts for a lease from the bus (`lease.<id>.receipt`). */
  private followReceipts(lease: Lease): void {
    if (this.receipts.has(lease.id)) return;
    const unsub = this.components.bus.subscribe(subjects.leaseReceipt(lease.id), (m) =>
      this.onReceipt(lease, m),
    );
    this.receipts.set(lease.id, {
      latest: null,
      receivedAt: 0,
      count: 0,
      usedSeq: lease.lastReceiptSeq ?? 0,
      user: lease.user,
      unsub,
      waiters: new Set(),
    });
  }

  private forgetReceipts(leaseId: string): void {
    const st = this.receipts.get(leaseId);
    if (!st) return;
    st.unsub();
    for (const w of st.waiters) w();
    this.receipts.delete(leaseId);
  }

  /** Keeps a receipt if it is the user's, for this lease, and newer than the one held. */
  private onReceipt(lease: Lease, m: unknown): void {
    const st = this.receipts.get(lease.id);
    if (!st || !this.chainId) return;
    let r: SignedReceipt;
    try {
      r = verifyReceipt(this.chainId, m, st.user);
    } catch (e) {
      this.components.log?.(`lease ${lease.id}: receipt ignored: ${(e as Error).message}`);
      return;
    }
    if (r.lease !== lease.id || r.seq <= (st.latest?.seq ?? st.usedSeq)) return;
    st.latest = r;
    st.receivedAt = this.components.clock.now();
    st.count++;
    for (const w of [...st.waiters]) w();
    // A pre-authorization (service acknowledged ahead of time, for a detached lease) goes on the
    // ledger at once: the user's client waits to see it taken before it leaves.
    const slot = this.running.get(lease.id);
    if (slot && slot.openedAt + r.servedMs > st.receivedAt + this.receiptGraceMs) void this.settle(lease.id);
  }

  /** The latest receipt of a lease that the ledger has not taken yet, if any. */
  private unusedReceipt(leaseId: string): SignedReceipt | undefined {
    const st = this.receipts.get(leaseId);
    return st?.latest && st.latest.seq > st.usedSeq ? st.latest : undefined;
  }

  /** Resolves when a receipt beyond the `count`th arrives for the lease, or after `ms`. */
  private waitForReceipt(leaseId: string, count: number, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const st = this.receipts.get(leaseId);
      if (!st || st.count > count || ms <= 0) return resolve();
      const done = () => {
        clearTimeout(t);
        st.waiters.delete(check);
        resolve();
      };
      const check = () => {
        if (st.count > count || !this.receipts.has(leaseId)) done();
      };
      const t = setTimeout(done, ms);
      st.waiters.add(check);
    });
  }

  /**
   * Until when (this host's clock) the user's receipts pay for a lease: the latest receipt's
   * arrival, or, for a receipt that acknowledges service ahead of time (a detached lease's
   * pre-authorization, `rent --detach`), the end of the time it covers.
   */
  private coveredUntil(leaseId: string, slot: Slot): number {
    const st = this.receipts.get(leaseId);
    if (!st?.latest) return slot.takenAt;
    return Math.max(st.receivedAt, slot.openedAt + st.latest.servedMs);
  }

  /** Whether the latest receipt already covers the service up to now (no final receipt to wait for). */
  private covered(leaseId: string, slot: Slot): boolean {
    const latest = this.receipts.get(leaseId)?.latest;
    return !!latest && slot.openedAt + latest.servedMs >= this.components.clock.now();
  }

  /**
   * Ends the leases whose receipts stopped paying for `params.receiptGraceMs`: no receipt signed
   * for that long, and none that covers the time ahead.
   */
  private checkReceipts(): void {
    const now = this.components.clock.now();
    for (const [leaseId, slot] of this.running) {
      if (!slot.w || slot.endReason || slot.exited || slot.pause) continue;
      const since = this.coveredUntil(leaseId, slot);
      if (now - since <= this.receiptGraceMs) continue;
      slot.endReason = 'the user stopped signing receipts';
      this.components.log?.(`lease ${leaseId}: no usage receipt for ${now - since} ms; ending it`);
      void slot.w.kill('the user stopped signing receipts');
    }
  }

  private async refreshParams(): Promise<void> {
    try {
      const params = await this.components.network.params();
      this.receiptGraceMs = params.receiptGraceMs;
      this.pauseGraceMs = params.pauseGraceMs;
      this.checkpointKeepMs = params.checkpointKeepMs;
    } catch (e) {
      this.components.log?.(`reading the network's parameters failed: ${(e as Error).message}`);
    }
  }

  /** Where this host keeps (or would keep) an interruptible lease's checkpoint files; none: no checkpoints here. */
  checkpointPath(lease: string): string | undefined {
    return this.checkpoints?.path(lease);
  }

  /** Free GPUs here now (not held by a running workload). */
  private freeGpuCount(): number {
    const used = new Set([...this.running.values()].flatMap((r) => r.gpus));
    return this.init.spec.gpus.length - used.size;
  }

  /**
   * Waits (up to `startsAt` + 10 s of this host's clock) until `n` GPUs are free here: those of
   * the interruptible leases a lease preempted come free when their workloads stop.
   */
  private async waitForGpus(n: number, startsAt: number): Promise<void> {
    const { clock } = this.components;
    while (this.freeGpuCount() < n && clock.now() < startsAt + 10_000 && !this.stopping)
      await new Promise((r) => setTimeout(r, 100));
  }

  /**
   * The ledger preempted an interruptible lease here for a higher-paying one: its workload gets
   * SIGTERM now and until the notice's end to checkpoint, then is stopped and the lease closed
   * (charged only up to the preemption). A notice the ledger does not show (forged, or for a lease
   * not preempted) is ignored.
   */
  private async onLeasePreempted(leaseId: string): Promise<void> {
    const r = this.running.get(leaseId);
    if (!r) return;
    const l = await this.components.network.lease(leaseId).catch(() => undefined);
    if (!l || l.status !== 'open' || l.preemptedAt === undefined || l.preemptStopAt === undefined) {
      this.components.log?.(`ignored a preemption notice for lease ${leaseId} that the ledger does not show`);
      return;
    }
    const { clock, bus } = this.components;
    const graceMs = Math.max(0, l.preemptStopAt - clock.now());
    r.endReason = `preempted by lease ${l.preemptedBy ?? '?'} (a higher price); charged up to the preemption`;
    const m: LeaseLogMsg = {
      lease: leaseId,
      type: 'stderr',
      data: `aethir: preempted by a higher-paying lease: SIGTERM now, stopped in ${Math.round(graceMs / 1000)} s; checkpoint to $AETHIR_CHECKPOINT_DIR (rent --resume ${leaseId})\n`,
      at: clock.now(),
    };
    bus.publish(subjects.leaseLog(leaseId), m);
    if (r.w) await r.w.kill('preempted', { graceMs });
    else r.cancelled = true;
  }

  private async onLeaseClosed(leaseId: string): Promise<void> {
    const r = this.running.get(leaseId);
    if (!r) return;
    r.closedOnLedger = true;
    if (r.w) await r.w.kill('lease closed');
    else r.cancelled = true;
  }

  /**
   * Charges every running lease for the service its user acknowledged so far, with the latest
   * receipt (the ledger caps it at the receipt, the block time and the escrow). A lease without
   * a new receipt is skipped: there is nothing more to charge for.
   */
  async settleRunning(): Promise<void> {
    await this.refreshParams();
    for (const leaseId of [...this.running.keys()]) await this.settle(leaseId);
    await this.volumes?.settle();
  }

  /** Settles one lease with its latest receipt the ledger has not taken yet, if any. */
  private async settle(leaseId: string): Promise<void> {
    const receipt = this.unusedReceipt(leaseId);
    if (!receipt) return;
    try {
      await this.sender.send('lease.settle', { lease: leaseId, receipt });
      const st = this.receipts.get(leaseId);
      if (st) st.usedSeq = Math.max(st.usedSeq, receipt.seq);
    } catch (e) {
      // A lease closed meanwhile is settled by its close; a receipt already taken (a settle that
      // raced another) is nothing new; anything else is worth a line.
      if (!(isAethirError(e) && (e.code === 'CONFLICT' || /not newer/.test(e.message))))
        this.components.log?.(`settling lease ${leaseId} failed: ${(e as Error).message}`);
    }
  }

  /**
   * A network partition, for the simulator and failure tests: the agent stops heartbeating and
   * stops hearing lease events, while its workloads keep running on the host as they would
   * behind a cut cable. `stop()` still cleans up.
   */
  /**
   * Maintenance: running leases go on to their end, new ones are refused (closed at once, so
   * their users pay nothing), and heartbeats say so (no free GPUs, `draining`). Resolves when
   * nothing runs any more.
   */
  async drain(pollMs = 200): Promise<void> {
    this.draining = true;
    this.heartbeat();
    while (this.running.size > 0) await new Promise((r) => setTimeout(r, pollMs));
  }

  /** What runs here now, for `aethir container status`. */
  status(): {
    id: string;
    name: string;
    draining: boolean;
    running: Array<{ lease: string; gpus: number[] }>;
    apps: ReturnType<LocalApps['status']> | null;
  } {
    return {
      id: this.id,
      name: this.init.name,
      draining: this.draining,
      running: [...this.running.entries()].map(([lease, slot]) => ({ lease, gpus: slot.gpus })),
      apps: this.apps?.status() ?? null,
    };
  }

  partition(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.settleTimer) clearInterval(this.settleTimer);
    this.timer = this.settleTimer = null;
    for (const u of this.unsubs) u();
    this.unsubs = [];
    for (const st of this.receipts.values()) st.unsub();
  }

  leasesRunning(): string[] {
    return [...this.running.keys()];
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.settleTimer) clearInterval(this.settleTimer);
    this.timer = this.settleTimer = null;
    for (const u of this.unsubs) u();
    this.unsubs = [];
    this.stopping = true;
    await this.apps?.stop();
    // Stopping kills this agent's workloads (the runtime may be shared with other agents);
    // their leases are closed with the delivered time only.
    for (const r of this.running.values()) r.cancelled = true;
    await Promise.allSettled([...this.running.values()].map((r) => r.w?.kill('container stopping')));
    await Promise.allSettled(this.handlers);
    for (const id of [...this.receipts.keys()]) this.forgetReceipts(id);
    await this.volumes?.stop();
    this.started = false;
  }
}

/**
 * What a lease may use of the host's memory and cores (enforced where the runtime sandboxes): its
 * share of the GPUs' share of the host, or a quarter of the host for a CPU lease.
 */
export function leaseLimits(spec: ContainerSpec, gpus: number): { memoryMiB: number; cpus: number } {
  const share = spec.gpus.length > 0 && gpus > 0 ? Math.min(1, gpus / spec.gpus.length) : 0.25;
  return {
    memoryMiB: Math.max(256, Math.floor(spec.memoryMiB * share)),
    cpus: Math.max(1, Math.round(spec.cpu.cores * share * 100) / 100),
  };
}

/** What one lease may keep in its working directory unless the operator says otherwise: 10 GiB. */
export const DEFAULT_DISK_QUOTA_MIB = 10_240;
