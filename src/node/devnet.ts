import { hostname } from 'node:os';
import { VolumeStore, canKeepVolumes, defaultVolumeMountRoot } from '../container/volumes.js';
import { join } from 'node:path';
import { ath, parseAth } from '../core/amount.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Config } from '../core/config.js';
import { CITIES } from '../core/geo.js';
import type { KeyPair } from '../core/keys.js';
import { parseGenesis } from '../ledger/genesis.js';
import type { Lease } from '../ledger/model.js';
import type { ContainerSpec, Location } from '../ledger/modules/containers/payloads.js';
import {
  DEFAULT_PREEMPT_NOTICE_MS,
  DEFAULT_VOLUME_SEAL_ITERATIONS,
  DEFAULT_CHECKPOINT_KEEP_MS,
} from '../ledger/params.js';
import { SqliteChainStore } from '../store/sqlite/sqlite-chain-store.js';
import { MemoryBus } from '../bus/bus.js';
import { Indexer } from '../indexer/indexer.js';
import { CITY_RTTS } from '../checker/location/city-rtts.js';
import { ModelNetwork, simulatedLandmarks } from '../checker/location/network.js';
import { cadenceForEpoch, type CheckCadence, type CheckerServiceDeps } from '../checker/service.js';
import { secureRng } from '../capacity/prover.js';
import { ContainerAgent, type ContainerAgentInit } from '../container/agent.js';
import { parseDeclaredGpus } from '../container/declared.js';
import { EndpointProxy } from '../container/endpoint-proxy.js';
import { probeHardware, type ProbeResult } from '../container/probe.js';
import { HostProcessRuntime } from '../container/runtimes/host-process.js';
import { TxSender } from '../sdk/tx-sender.js';
import { Chain, type BlockEvent } from './chain.js';
import { InProcessNetwork } from './in-process-network.js';
import { Keystore } from './keystore.js';
import { LogHub } from './log-hub.js';
import { ensurePrivateDir, stderrLog } from '../core/private-files.js';
import { demoContainers } from './demo.js';
import { arenaManifest } from '../gaming/app.js';
import { EndpointDirectory, closeDueEpochs, fanOutBlock, locationOf } from './roles.js';
import {
  containerSpecOf,
  startCheckRounds,
  startCheckerRole,
  startContainerRole,
  startContainerRuntime,
  startIndexerRole,
  type CheckerRole,
  type RoleContext,
} from './role-wiring.js';

/** Where the devnet's three checkers are (known places: the origins of their RTT measurements). */
export const DEVNET_CHECKER_PLACES = ['Frankfurt, DE', 'Ashburn, US', 'Singapore, SG'] as const;

export interface DevnetOptions {
  config: Config;
  clock?: Clock;
  /** write progress lines (to stderr in the CLI) */
  log?: (line: string) => void;
  /** tests inject a probe result instead of reading this machine */
  probe?: () => Promise<ProbeResult>;
  /** the checkers' cadences (default: cadenceForEpoch of the chain's epoch); tests shorten them */
  cadence?: Partial<CheckCadence>;
  /** overrides of the checkers' capacity challenge (tests use small n to stay fast) */
  capacity?: CheckerServiceDeps['capacity'];
  /**
   * the command (argv) that answers capacity challenges for this machine's container (`aethir
   * devnet --prover`); default: the GPU prover where PyTorch sees CUDA, else the built-in CPU prover
   */
  localProver?: readonly string[];
}

/**
 * A whole network in one process: the chain (SQLite), an indexer, three checkers, this
 * machine as a container, optional simulated demo containers, and the bus between them.
 * The API server is attached by the caller (node/index composes it).
 */
export class Devnet {
  readonly bus = new MemoryBus();
  readonly chain: Chain;
  readonly network: InProcessNetwork;
  readonly indexer: Indexer;
  readonly logs: LogHub;
  readonly checkers: CheckerRole[] = [];
  /**
   * SIMULATED network between the checkers and the containers: the RTT between the checker's city
   * and where the container really is (its claimed location unless a test places it elsewhere with
   * `world.place(id, where)`) replays WonderProxy's measured RTTs between the cities (`CITY_RTTS`):
   * between two of them the measured RTT, elsewhere the latency model's estimate (src/core/latency.ts)
   * times the inflation of the measured paths between the nearest cities (ModelNetwork).
   */
  readonly world: ModelNetwork;
  readonly agents: ContainerAgent[] = [];
  readonly developer: KeyPair;
  /** one endpoint proxy for every container of this process */
  readonly proxy = new EndpointProxy({ host: '127.0.0.1' });
  readonly endpoints: EndpointDirectory;
  private readonly faucet: TxSender;
  private readonly clock: Clock;
  private readonly roles: RoleContext;
  private rounds: { run(): Promise<void>; stop(): void } | null = null;
  private unsubs: Array<() => void> = [];
  private runtime: HostProcessRuntime | null = null;
  private readonly blockListeners = new Set<(e: BlockEvent) => void>();

  private constructor(
    readonly config: Config,
    private readonly opts: DevnetOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    const modeLog = opts.log ?? stderrLog;
    // Keys, the ledger and workloads: 0700, tightened if an older version left it open to others.
    ensurePrivateDir(config.dataDir, modeLog);
    const nodeKeys = new Keystore(join(config.dataDir, 'keys'), modeLog);
    const userKeys = new Keystore(join(config.home, 'keys'), modeLog);
    this.developer = userKeys.loadOrCreate('developer');
    const faucetKey = nodeKeys.loadOrCreate('faucet');
    const checkerKeys = [1, 2, 3].map((i) => nodeKeys.loadOrCreate(`checker-${i}`));
    const store = new SqliteChainStore(join(config.dataDir, 'ledger.sqlite'), { log: modeLog });
    this.chain = Chain.open(store, this.clock, () =>
      parseGenesis({
        chainId: config.chainId,
        time: this.clock.now(),
        allocations: [
          { address: this.developer.address, amount: ath(1_000_000).toString(), label: 'developer' },
          { address: faucetKey.address, amount: ath(100_000_000).toString(), label: 'devnet faucet' },
        ],
        // 10% of the supply for Proof-of-Capacity/Delivery rewards, 1% for checkers; the rest
        // not allocated stays in the treasury.
        pools: { rewards: ath(4_200_000_000).toString(), checkers: ath(420_000_000).toString() },
        checkers: checkerKeys.map((k) => k.address),
        governance: nodeKeys.loadOrCreate('governance').address,
        params: {
          // demo containers are simulated hardware, named as such
          simulatedHardware: true,
          // a new network: env values only sealed to the container (docs/security.md)
          clearEnv: false,
          // an interruptible lease's workload gets this long to checkpoint when preempted
          preemptNoticeMs: config.preemptNoticeMs ?? DEFAULT_PREEMPT_NOTICE_MS,
          // and its host keeps the checkpoint this long for `rent --resume` on any host
          checkpointKeepMs: DEFAULT_CHECKPOINT_KEEP_MS,
          epochMs: config.epochSeconds * 1000,
          // a lease whose escrow runs out is paused, its files kept this long for a top-up
          pauseGraceMs: config.pauseGraceSeconds * 1000,
          // volumes carry sealed canary blocks the checkers challenge (proof of storage)
          volumeSealIterations: DEFAULT_VOLUME_SEAL_ITERATIONS,
          ...(config.unbondingSeconds !== undefined ? { unbondingMs: config.unbondingSeconds * 1000 } : {}),
          // an unresponsive checker's task goes to the next one after 2 minutes of a 15-minute epoch
          checkerReassignMs: Math.min(
            120_000,
            Math.max(1_000, Math.round((config.epochSeconds * 1000 * 2) / 15)),
          ),
        },
      }),
    );
    this.network = new InProcessNetwork(this.chain);
    this.faucet = new TxSender(faucetKey, this.network);
    this.roles = {
      config,
      ledger: () => this.chain.ledger,
      network: this.network,
      bus: this.bus,
      clock: this.clock,
      log: opts.log ?? (() => {}),
    };
    const indexerRole = startIndexerRole(this.roles, { seed: `${config.chainId}:${this.chain.head.hash}` });
    this.indexer = indexerRole.indexer;
    this.logs = new LogHub(this.bus);
    this.endpoints = new EndpointDirectory(
      this.bus,
      config.chainId,
      (id) => this.chain.ledger.container(id) !== undefined,
    );
    const genesisCheckers = this.chain.genesis.checkers;
    this.world = new ModelNetwork({ rng: secureRng(), measured: CITY_RTTS });
    // Every cadence follows the chain's epoch (the genesis's, whatever this run's flags say).
    const cadence = { ...cadenceForEpoch(this.chain.ledger.params.epochMs), ...opts.cadence };
    this.unsubs.push(
      () => indexerRole.stop(),
      this.chain.onBlock((e) => this.handleBlock(e)),
    );
    checkerKeys.forEach((k, i) => {
      if (!genesisCheckers.includes(k.address)) return;
      const place = locationOf(DEVNET_CHECKER_PLACES[i % DEVNET_CHECKER_PLACES.length]!);
      this.checkers.push(
        startCheckerRole(this.roles, {
          key: k,
          chainId: config.chainId,
          // as on `aethir node`: each checker shares its signed RTTs and votes on all of them
          // together (alone, one checker's loose band let a Singapore host pass as Frankfurt)
          where: {
            place,
            network: this.world,
            landmarks: simulatedLandmarks(CITIES),
            peerKey: { publicKey: k.publicKey, secretKey: k.secretKey },
          },
          cadence,
          ...(opts.capacity ? { capacity: opts.capacity } : {}),
        }),
      );
    });
  }

  static async start(opts: DevnetOptions): Promise<Devnet> {
    // A GPU declaration that cannot be read fails before anything is created (genesis, keys, timers).
    if (opts.config.containerDeclareGpus) parseDeclaredGpus(opts.config.containerDeclareGpus);
    const d = new Devnet(opts.config, opts);
    try {
      await d.startRoles();
    } catch (e) {
      // leave nothing running (checkers, timers, the endpoint proxy) that would keep the process alive
      await d.stop();
      throw e;
    }
    return d;
  }

  onBlock(listener: (e: BlockEvent) => void): () => void {
    this.blockListeners.add(listener);
    return () => this.blockListeners.delete(listener);
  }

  private onBlockEvent(e: BlockEvent): void {
    for (const l of this.blockListeners) l(e);
  }

  private handleBlock(e: BlockEvent): void {
    fanOutBlock(e, this.chain.ledger, { indexer: this.indexer, bus: this.bus });
    this.onBlockEvent(e);
  }

  private async startRoles(): Promise<void> {
    const { config } = this;
    // Checkers first, so containers are confirmed online as soon as they heartbeat.
    this.rounds = startCheckRounds(this.roles, () => this.checkers, this.faucet);

    await this.proxy.start();
    this.runtime = await startContainerRuntime(this.roles);
    const local = await containerSpecOf(
      this.roles,
      this.opts.probe ?? (() => probeHardware()),
      config.containerDeclareGpus ? parseDeclaredGpus(config.containerDeclareGpus) : undefined,
    );
    const nodeKeys = new Keystore(join(config.dataDir, 'keys'), this.opts.log ?? stderrLog);
    // The demo containers are game hosts: the arena game is published (by the devnet's own key) and
    // they pre-install it, so `aethir play arena` finds a host near the player (docs/gaming.md).
    if (config.demoContainers > 0 && !this.chain.ledger.app('arena')) {
      const manifest = arenaManifest();
      await new TxSender(nodeKeys.loadOrCreate('games'), this.network).send('app.publish', {
        name: manifest.name,
        version: manifest.version,
        manifest,
      });
    }
    const hosts: Array<{
      key: KeyPair;
      name: string;
      spec: ContainerSpec;
      location: Location;
      price: bigint;
      apps?: string[];
      volumes?: ContainerAgentInit['volumes'];
    }> = [
      {
        key: nodeKeys.loadOrCreate('container-local'),
        name:
          hostname()
            .replace(/[^A-Za-z0-9_.-]/g, '-')
            .slice(0, 64) || 'local',
        spec: local,
        location: locationOf(config.containerLocation),
        price: parseAth(config.containerPriceAth),
        apps: config.containerApps ? config.containerApps.split(',') : [],
        ...(this.opts.localProver ? { prover: () => this.opts.localProver! } : {}),
        ...this.localVolumes(),
      },
      ...demoContainers(config.demoContainers).map((d) => ({
        key: nodeKeys.loadOrCreate(d.seedName),
        name: d.name,
        spec: d.spec,
        location: {
          city: d.city.city,
          country: d.city.country,
          region: d.city.region,
          lat: d.city.lat,
          lon: d.city.lon,
        },
        price: d.pricePerHour,
        apps: ['arena'],
      })),
    ];
    for (const h of hosts) await this.addContainer(h);
    await this.runChecks();
  }

  /**
   * This machine's container keeps persistent volumes where it can (a sandboxed runtime, root,
   * loop devices, mkfs.ext4): images under the data dir, 64 GiB offered at 0.001 ATH per GiB-hour.
   */
  private localVolumes(): { volumes?: ContainerAgentInit['volumes'] } {
    const can = canKeepVolumes();
    if (this.runtime?.isolation !== 'sandbox' || !can.ok) {
      this.opts.log?.(`persistent volumes: off (${!can.ok ? can.why : 'they need the lease sandbox'})`);
      return {};
    }
    const dataDir = this.roles.config.dataDir;
    return {
      volumes: {
        store: new VolumeStore(join(dataDir, 'volumes'), defaultVolumeMountRoot(dataDir)),
        pricePerGiBHour: parseAth('0.001'),
        capacityGiB: 64,
      },
    };
  }

  /**
   * Starts one more container on this devnet (funded by the faucet, staked, heartbeating), as the
   * devnet's own hosts are. `prover`: what answers the checkers' capacity challenges (default the
   * built-in CPU prover); `place`: where it SIMULATEDly sits for the checkers' RTTs (default its
   * claimed location) — how tests stage a container that lies about its place.
   */
  async addContainer(h: {
    key: KeyPair;
    name: string;
    spec: ContainerSpec;
    location: Location;
    price: bigint;
    /** per GPU-hour for reserved GPUs (default: 70% of `price`) */
    reservedPrice?: bigint;
    apps?: string[];
    prover?: ContainerAgentInit['prover'];
    place?: { lat: number; lon: number };
    volumes?: ContainerAgentInit['volumes'];
  }): Promise<ContainerAgent> {
    if (h.place) this.world.place(h.key.address, h.place);
    const need = this.chain.ledger.requiredStakeOf(h) + ath(10);
    const have =
      this.chain.ledger.account(h.key.address).balance +
      (this.chain.ledger.container(h.key.address)?.stake ?? 0n);
    if (have < need) await this.faucet.send('transfer', { to: h.key.address, amount: need - have });
    const agent = await startContainerRole(
      this.roles,
      { runtime: this.runtime!, endpoints: this.proxy },
      {
        key: h.key,
        name: h.name,
        spec: h.spec,
        location: h.location,
        pricePerHour: h.price,
        // a devnet's hosts sell reserved capacity at 30% off (a host sets its own: container start --reserved-price)
        reservedPricePerHour: h.reservedPrice ?? ((h.price * 7n) / 10n || 1n),
        ...(h.apps ? { apps: h.apps } : {}),
        ...(h.prover ? { prover: h.prover } : {}),
        ...(h.volumes ? { volumes: h.volumes } : {}),
      },
    );
    this.agents.push(agent);
    return agent;
  }

  /**
   * One pass of every checker (liveness and QoS reports on the log; capacity and location checks
   * start in the background), then the keeper's duty.
   */
  runChecks(): Promise<void> {
    return this.rounds?.run() ?? Promise.resolve();
  }

  /** Keeper duty, with the faucet key (anyone may close a due epoch). */
  closeDueEpochs(): Promise<void> {
    return closeDueEpochs(() => this.chain.ledger, this.faucet, this.clock, this.opts.log);
  }

  /** Resolves when the local container (and demo containers) are online. */
  async waitOnline(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ids = this.agents.map((a) => a.id);
      if (ids.every((id) => this.chain.ledger.container(id)?.status === 'online')) return;
      if (Date.now() > deadline) throw new Error('containers did not come online in time');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The node's time (the chain's clock): views of what is due, claimable or expired use it. */
  now(): number {
    return Math.max(this.clock.now(), this.chain.head.time);
  }

  localContainerId(): string {
    return this.agents[0]!.id;
  }

  openLeases(): Lease[] {
    return this.chain.ledger.leases().filter((l) => l.status === 'open');
  }

  async stop(): Promise<void> {
    this.rounds?.stop();
    this.rounds = null;
    await Promise.allSettled(this.checkers.map((c) => c.stop()));
    await Promise.allSettled(this.agents.map((a) => a.stop()));
    await this.runtime?.stopAll();
    for (const u of this.unsubs) u();
    this.unsubs = [];
    this.logs.close();
    this.endpoints.close();
    await this.proxy.stop();
    this.chain.close();
  }
}
