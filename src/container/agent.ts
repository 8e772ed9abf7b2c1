import { AethirError, canonicalize, isAethirError, type Clock, type KeyPair } from '../core/index.js';
import type { ContainerSpec, Lease, Location } from '../ledger/index.js';
import type { Bus } from '../bus/index.js';
import { TxSender, type NetworkClient } from '../sdk/index.js';
import type { Runtime, RunningWorkload, WorkloadEvent } from './runtimes/runtime.js';
import { subjects, type HeartbeatMsg, type LeaseLogMsg, type LeaseOpenedMsg } from './subjects.js';

const DEFAULT_SETTLE_MS = 5 * 60_000;

/** A lease's place on this host: its GPUs from the moment it is accepted, its workload once started. */
interface Slot {
  gpus: number[];
  w: RunningWorkload | null;
  /** the lease was closed (or the agent stopped) before the workload had started */
  cancelled: boolean;
}

export interface ContainerAgentInit {
  key: KeyPair;
  name: string;
  spec: ContainerSpec;
  location: Location;
  pricePerHour: bigint;
  heartbeatIntervalMs: number;
  /** how often the host collects payment for running leases (the user's escrow is charged as it goes) */
  settleIntervalMs?: number;
  /** stake what the network requires for this spec when registering */
  stakeAuto: boolean;
}

export interface ContainerAgentComponents {
  network: NetworkClient;
  bus: Bus;
  runtime: Runtime;
  clock: Clock;
  log?: (msg: string) => void;
}

/**
 * The container role: registers this host and its spec on the ledger, stakes, heartbeats on
 * the bus, runs the workload of every lease opened on it, streams its output, and closes the
 * lease (with the exit code) when the workload ends. When the user closes a lease first, the
 * workload's whole process tree is killed.
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

  constructor(
    private readonly components: ContainerAgentComponents,
    readonly init: ContainerAgentInit,
  ) {
    this.sender = new TxSender(init.key, components.network);
  }

  get id(): string {
    return this.init.key.address;
  }

  async start(): Promise<void> {
    if (this.started) return;
    const { network, bus } = this.components;
    const existing = await network.container(this.id);
    const changed =
      !existing ||
      existing.name !== this.init.name ||
      existing.pricePerHour !== this.init.pricePerHour ||
      canonicalize(existing.spec) !== canonicalize(this.init.spec) ||
      canonicalize(existing.location) !== canonicalize(this.init.location);
    if (changed)
      await this.sender.send('container.register', {
        name: this.init.name,
        spec: this.init.spec,
        location: this.init.location,
        pricePerHour: this.init.pricePerHour,
      });
    if (this.init.stakeAuto) {
      const need = await network.requiredStake(this.init.spec.gpus.map((g) => g.model));
      const have = (await network.container(this.id))?.stake ?? 0n;
      if (have < need) await this.sender.send('container.stake', { amount: need - have });
    }
    // Leases left open from before a restart have lost their workloads: close them so their
    // users pay only for the time that was delivered.
    // (Listed before subscribing, so a lease opened from now on is never mistaken for one.)
    const leftovers = await network.openLeasesOf(this.id);
    for (const leaseId of leftovers) {
      const l = await network.lease(leaseId);
      if (l) await this.close(l, null, 'container restarted; workload lost');
    }
    this.unsubs.push(
      bus.subscribe(subjects.leaseOpened(this.id), (m) =>
        this.track(this.onLeaseOpened(m as LeaseOpenedMsg)),
      ),
      bus.subscribe(
        subjects.leaseClosed(this.id),
        (m) => void this.onLeaseClosed((m as { lease: string }).lease),
      ),
    );
    this.started = true;
    this.heartbeat();
    this.timer = setInterval(() => this.heartbeat(), this.init.heartbeatIntervalMs);
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
    const msg: HeartbeatMsg = {
      container: this.id,
      at: this.components.clock.now(),
      freeGpus: this.draining ? 0 : this.init.spec.gpus.length - used.size,
      runningLeases: this.running.size,
      ...(this.draining ? { draining: true } : {}),
    };
    this.components.bus.publish(subjects.heartbeat(this.id), msg);
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
    let gpus: number[];
    try {
      gpus = this.allocateGpus(lease.gpus);
    } catch (e) {
      await this.close(lease, null, `could not start: ${(e as Error).message}`);
      return;
    }
    // The slot is taken before the first await: a lease opened meanwhile cannot get the same
    // GPUs, and a close that arrives while the workload is starting is remembered.
    const slot: Slot = { gpus, w: null, cancelled: false };
    this.running.set(lease.id, slot);
    const publish = (e: WorkloadEvent) => {
      const m: LeaseLogMsg = { lease: lease.id, ...e };
      bus.publish(e.type === 'exit' ? subjects.leaseExit(lease.id) : subjects.leaseLog(lease.id), m);
    };
    const remainingSec = Math.max(
      1,
      Math.ceil((lease.openedAt + lease.maxDurationSec * 1000 - clock.now()) / 1000),
    );
    let w: RunningWorkload;
    try {
      w = await runtime.start({
        leaseId: lease.id,
        command: lease.workload.command,
        env: lease.workload.env ?? {},
        gpuIndices: gpus,
        limits: { wallSeconds: remainingSec },
      });
    } catch (e) {
      this.running.delete(lease.id);
      const why = `workload failed to start: ${(e as Error).message}`.slice(0, 200);
      publish({
        type: 'exit',
        exitCode: 127,
        signal: null,
        reason: 'start-failed',
        at: clock.now(),
        message: why,
      });
      await this.close(lease, 127, why);
      return;
    }
    slot.w = w;
    if (slot.cancelled) void w.kill('lease closed');
    // events() replays what the workload wrote before we got here, then follows it live.
    void (async () => {
      for await (const e of w.events()) publish(e);
    })();
    const exit = await w.exited;
    this.running.delete(lease.id);
    this.heartbeat();
    const reason =
      exit.reason === 'killed'
        ? 'workload stopped'
        : exit.reason === 'timeout'
          ? 'lease time ran out'
          : exit.reason === 'start-failed'
            ? `workload failed to start: ${exit.message ?? ''}`.slice(0, 200)
            : 'workload exited';
    await this.close(lease, exit.exitCode, reason);
  }

  private async close(lease: Lease, exitCode: number | null, reason: string): Promise<void> {
    if (this.closing.has(lease.id)) return;
    this.closing.add(lease.id);
    try {
      const current = await this.components.network.lease(lease.id);
      if (current?.status !== 'open') return;
      await this.sender.send('lease.close', { lease: lease.id, exitCode: exitCode ?? -1, reason });
    } catch (e) {
      // Closed by the user at the same moment: nothing left to do.
      if (!(isAethirError(e) && e.code === 'CONFLICT'))
        this.components.log?.(`closing lease ${lease.id} failed: ${(e as Error).message}`);
    } finally {
      this.closing.delete(lease.id);
    }
  }

  private async onLeaseClosed(leaseId: string): Promise<void> {
    const r = this.running.get(leaseId);
    if (!r) return;
    if (r.w) await r.w.kill('lease closed');
    else r.cancelled = true;
  }

  /** Charges every running lease for the time delivered so far (the ledger caps it at the escrow). */
  async settleRunning(): Promise<void> {
    for (const leaseId of this.running.keys()) {
      try {
        await this.sender.send('lease.settle', { lease: leaseId });
      } catch (e) {
        // A lease closed meanwhile is settled by its close; anything else is worth a line.
        if (!(isAethirError(e) && e.code === 'CONFLICT'))
          this.components.log?.(`settling lease ${leaseId} failed: ${(e as Error).message}`);
      }
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
  } {
    return {
      id: this.id,
      name: this.init.name,
      draining: this.draining,
      running: [...this.running.entries()].map(([lease, slot]) => ({ lease, gpus: slot.gpus })),
    };
  }

  partition(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.settleTimer) clearInterval(this.settleTimer);
    this.timer = this.settleTimer = null;
    for (const u of this.unsubs) u();
    this.unsubs = [];
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
    // Stopping kills this agent's workloads (the runtime may be shared with other agents);
    // their leases are closed with the delivered time only.
    for (const r of this.running.values()) r.cancelled = true;
    await Promise.allSettled([...this.running.values()].map((r) => r.w?.kill('container stopping')));
    await Promise.allSettled(this.handlers);
    this.started = false;
  }
}
