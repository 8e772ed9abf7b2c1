import type { FastifyInstance } from 'fastify';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parseAth } from '../core/amount.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Config } from '../core/config.js';
import { AethirError } from '../core/errors.js';
import { CITIES } from '../core/geo.js';
import type { KeyPair } from '../core/keys.js';
import { requestKeyOf } from '../core/signed-request.js';
import {
  MemoryBus,
  requestRetrying,
  type Bus,
  type BusHandler,
  type BusStats,
  type RequestOptions,
  type Responder,
  type ServeOptions,
} from '../bus/bus.js';
import { rpcSubjects } from '../bus/messages.js';
import { NatsBus } from '../bus/nats/nats-bus.js';
import { BEACON_SUBJECT, CheckerBeacons, signBeacon } from '../checker/location/beacons.js';
import { CITY_RTTS } from '../checker/location/city-rtts.js';
import { ModelNetwork, ProbeNetwork, probeAddress, simulatedLandmarks } from '../checker/location/network.js';
import { type CheckerServiceDeps, cadenceForEpoch } from '../checker/service.js';
import { secureRng } from '../capacity/prover.js';
import { ContainerAgent } from '../container/agent.js';
import { EndpointProxy } from '../container/endpoint-proxy.js';
import { probeHardware, type ProbeResult } from '../container/probe.js';
import { HostProcessRuntime } from '../container/runtimes/host-process.js';
import type { Indexer, MatchPreview, MatchResult, Offer } from '../indexer/indexer.js';
import type { CheckKind } from '../ledger/model.js';
import type { ContainerSpec } from '../ledger/modules/containers/payloads.js';
import { asyncChainStore } from '../store/async.js';
import { JetStreamLog } from '../store/nats/jetstream-log.js';
import type { AsyncChainStore } from '../store/ports.js';
import { PgChainStore } from '../store/postgres/pg-chain-store.js';
import { SqliteChainStore } from '../store/sqlite/sqlite-chain-store.js';

import type { ApiBackend } from '../api/backend.js';
import { InProcessNetwork } from './in-process-network.js';
import { Keystore } from './keystore.js';
import { LogHub } from './log-hub.js';
import { ensurePrivateDir, stderrLog } from '../core/private-files.js';
import { TcpRttProbe } from './tcp-probe.js';
import { Replica, snapshotToWire, type Snapshot } from './replica.js';
import { EndpointDirectory, fanOutBlock, leaseEventsOn, locationOf } from './roles.js';
import {
  containerSpecOf,
  startApiRole,
  startCheckRounds,
  startCheckerRole,
  startContainerRole,
  startContainerRuntime,
  startIndexerRole,
  type CheckerRole,
  type RoleContext,
} from './role-wiring.js';

export const ROLES = ['api', 'indexer', 'checker', 'container'] as const;

/** How long an indexer waits for the blocks a reserving request's API node had applied. */
const MATCH_CATCH_UP_MS = 1500;
export type Role = (typeof ROLES)[number];

export interface ClusterNodeOptions {
  /** chainId, dataDir, port/host (api), cadences, containerLocation/containerPriceAth (container) */
  config: Config;
  roles: readonly Role[];
  /** NATS server(s) with JetStream: the log and the bus */
  nats: string;
  /** keep this node's state in PostgreSQL (schema aethir_<name>) instead of SQLite in dataDir */
  postgres?: string;
  /** unique per node: names its durable consumer, its PostgreSQL schema and its container */
  name: string;
  /** the key (in dataDir/keys) the checker and container roles sign with; default "node" */
  keyName?: string;
  /** start an empty store from this snapshot rather than replaying the log from genesis */
  snapshot?: Snapshot;
  /** the container role's endpoint proxy as users reach it (default http://<host>:<any free port>) */
  endpointUrl?: string;
  /** the container role's GPUs when the operator declares them (see parseDeclaredGpus) */
  declaredGpus?: ContainerSpec['gpus'];
  /** the checks the checker role runs (default all: liveness, capacity, location, qos) */
  checks?: readonly CheckKind[];
  /**
   * what the checker role's location check measures: 'probe' (default), real TCP handshakes to
   * each container's endpoint (its heartbeats announce it), calibrated on containers whose place
   * the ledger has verified; 'model', the SIMULATED latency model (docs/verification.md)
   */
  locationNetwork?: 'probe' | 'model';
  /**
   * the checker role's beacon (probe networks): the address other checkers time round trips to
   * (default: this node's API, or its probe port on the configured host)
   */
  probeUrl?: string;
  /** the checker role's probe port on a node without an API (default: any free port) */
  probePort?: number;
  clock?: Clock;
  log?: (line: string) => void;
  probe?: () => Promise<ProbeResult>;
}

/**
 * The bus a container agent sees on a scale-out node: lease events come from this node's own
 * replica (local), heartbeats and workload output go to the network (NATS).
 */
class LayeredBus implements Bus {
  constructor(
    private readonly local: Bus,
    private readonly remote: Bus,
  ) {}
  publish(subject: string, data: unknown): void {
    this.remote.publish(subject, data);
  }
  subscribe(pattern: string, handler: BusHandler): () => void {
    const a = this.local.subscribe(pattern, handler);
    const b = this.remote.subscribe(pattern, handler);
    return () => {
      a();
      b();
    };
  }
  request(subject: string, data: unknown, opts?: RequestOptions): Promise<unknown> {
    return this.remote.request(subject, data, opts);
  }
  serve(subject: string, handler: Responder, opts?: ServeOptions): () => void {
    return this.remote.serve(subject, handler, opts);
  }
  stats(): BusStats {
    return this.remote.stats();
  }
}

/** How long another checker's beacon counts: a few of its announcements, at least a minute. */
export function beaconMaxAgeMs(heartbeatIntervalMs: number): number {
  return Math.max(60_000, 3 * heartbeatIntervalMs);
}

export function parseRoles(text: string): Role[] {
  return parseChoices(text, ROLES, '--roles', 'role');
}

/** A comma-separated list of choices ("api,indexer"), each once; anything else is a clear error. */
export function parseChoices<T extends string>(
  text: string,
  allowed: readonly T[],
  flag: string,
  noun: string,
): T[] {
  const out = [
    ...new Set(
      text
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean),
    ),
  ];
  if (out.length === 0)
    throw new AethirError('INVALID_ARGUMENT', `${flag} needs at least one of ${allowed.join(', ')}`);
  for (const r of out)
    if (!(allowed as readonly string[]).includes(r))
      throw new AethirError('INVALID_ARGUMENT', `unknown ${noun} "${r}"; ${noun}s are ${allowed.join(', ')}`);
  return out as T[];
}

export function defaultNodeName(): string {
  return (
    hostname()
      .toLowerCase()
      .replace(/[^a-z0-9_-]/g, '-')
      .slice(0, 48) || 'node'
  );
}

/**
 * One machine of a scale-out network: a replica of the JetStream log (state in SQLite or
 * PostgreSQL) and any mix of roles on top of it. Every role reads its own replica and appends
 * to the shared log; telemetry and match requests travel over NATS.
 */
export class ClusterNode {
  readonly localBus = new MemoryBus();
  indexer: Indexer | null = null;
  checker: CheckerRole | null = null;
  agent: ContainerAgent | null = null;
  api: FastifyInstance | null = null;
  url: string | null = null;
  key: KeyPair | null = null;
  private readonly clock: Clock;
  private rounds: { stop(): void } | null = null;
  private unsubs: Array<() => void> = [];
  private runtime: HostProcessRuntime | null = null;
  private logs: LogHub | null = null;
  private endpoints: EndpointDirectory | null = null;
  /** the other checkers' signed beacons: landmarks the checker role calibrates on */
  private beacons: CheckerBeacons | null = null;
  /** the checker role's probe port, when the node has no API to be probed on */
  private probePort: Server | null = null;
  /** the address this node's checker announces in its beacons */
  probeUrl: string | null = null;
  /** the container role's endpoint proxy: users reach their leases' workloads through it */
  proxy: EndpointProxy | null = null;
  private stopped: Promise<void> | null = null;

  private constructor(
    readonly opts: ClusterNodeOptions,
    readonly log: JetStreamLog,
    readonly bus: NatsBus,
    readonly store: AsyncChainStore,
    readonly replica: Replica,
  ) {
    this.clock = opts.clock ?? systemClock;
  }

  static async start(opts: ClusterNodeOptions): Promise<ClusterNode> {
    if (!/^[a-z0-9_-]{1,48}$/.test(opts.name))
      throw new AethirError('INVALID_ARGUMENT', `node name "${opts.name}" must be 1-48 of a-z, 0-9, _ and -`);
    if (opts.probeUrl !== undefined && (opts.probeUrl.length > 200 || !probeAddress(opts.probeUrl)))
      throw new AethirError(
        'INVALID_ARGUMENT',
        `--probe-url "${opts.probeUrl.slice(0, 200)}" must be host:port or an http(s) URL with a host and port`,
      );
    const { config } = opts;
    // The node's keys and replica live here: 0700, tightened if an older version left it open.
    if (!opts.postgres || opts.roles.some((r) => r === 'checker' || r === 'container'))
      ensurePrivateDir(config.dataDir, opts.log ?? stderrLog);
    const log = await JetStreamLog.connect({
      servers: opts.nats,
      chainId: config.chainId,
      name: `aethir-${opts.name}`,
      // Only `aethir network init` creates a network: a node given a wrong chain id changes nothing.
      create: false,
    });
    const cleanup: Array<() => Promise<unknown>> = [() => log.close()];
    try {
      if (!(await log.readGenesis()))
        throw new AethirError(
          'NOT_FOUND',
          `chain "${config.chainId}" has no log on ${opts.nats}: run "aethir network init", or set --chain / AETHIR_CHAIN_ID`,
        );
      const bus = await NatsBus.connect({
        servers: opts.nats,
        prefix: `aethir.${config.chainId}.`,
        name: `aethir-${opts.name}-bus`,
      });
      cleanup.push(() => bus.close());
      const store: AsyncChainStore = opts.postgres
        ? await PgChainStore.open({ url: opts.postgres, schema: `aethir_${opts.name.replace(/-/g, '_')}` })
        : asyncChainStore(
            new SqliteChainStore(join(config.dataDir, 'replica.sqlite'), {
              synchronous: 'NORMAL',
              log: opts.log ?? stderrLog,
            }),
            'sqlite',
          );
      cleanup.push(() => store.close());
      const replica = await Replica.open(store, log, {
        name: opts.name,
        clock: opts.clock ?? systemClock,
        snapshot: opts.snapshot,
        log: opts.log,
      });
      const node = new ClusterNode(opts, log, bus, store, replica);
      await node.startRoles();
      return node;
    } catch (e) {
      for (const c of cleanup.reverse()) await c().catch(() => undefined);
      throw e;
    }
  }

  get roles(): readonly Role[] {
    return this.opts.roles;
  }

  /**
   * The checker's location network: real probes (default) or the SIMULATED model. Probes go to
   * each container's endpoint from its heartbeats; landmarks are the other checkers, at the place
   * and address their signed beacons announce, and the online containers whose last location
   * check passed, at their registered place.
   */
  private locationNetwork(replica: Replica): Pick<CheckerServiceDeps, 'network' | 'landmarks' | 'peerKey'> {
    if (this.opts.locationNetwork === 'model')
      return {
        network: new ModelNetwork({ rng: secureRng(), measured: CITY_RTTS }),
        landmarks: simulatedLandmarks(CITIES),
      };
    const endpoints = (this.endpoints ??= this.endpointDirectory());
    const beacons = (this.beacons = new CheckerBeacons({
      chainId: replica.chainId,
      isChecker: (a) => replica.ledger.checker(a) !== undefined,
      self: this.key!.address,
      maxAgeMs: beaconMaxAgeMs(this.opts.config.heartbeatIntervalMs),
    }));
    this.unsubs.push(this.bus.subscribe(BEACON_SUBJECT, (m) => void beacons.add(m, this.clock.now())));
    return {
      network: new ProbeNetwork({
        probe: new TcpRttProbe(),
        addressOf: (id) => beacons.addressOf(id, this.clock.now()) ?? endpoints.baseOf(id),
      }),
      // real measurements are shared, signed, so each vote judges with every checker's RTT
      peerKey: { publicKey: this.key!.publicKey, secretKey: this.key!.secretKey },
      landmarks: () => [
        ...beacons.landmarks(this.clock.now()),
        ...replica.ledger
          .containers()
          .filter((c) => c.status === 'online' && c.checks.location?.ok === true && endpoints.baseOf(c.id))
          .map((c) => ({ id: c.id, lat: c.location.lat, lon: c.location.lon })),
      ],
    };
  }

  /** Where the network's containers' endpoints are, from their signed heartbeats. */
  private endpointDirectory(): EndpointDirectory {
    const replica = this.replica;
    return new EndpointDirectory(
      this.bus,
      this.opts.config.chainId,
      (id) => replica.ledger.container(id) !== undefined,
    );
  }

  /**
   * The checker role's beacon (probe networks only): its place and an address that answers a TCP
   * handshake, signed, now and at every heartbeat interval. The address is the node's API when it
   * has one; otherwise a bare probe port on the configured host, which accepts and closes.
   */
  private async startBeacon(): Promise<void> {
    if (!this.beacons || !this.key) return;
    if (!this.url) {
      const host = this.opts.config.host ?? '0.0.0.0';
      const server = createServer((s) => s.on('error', () => {}).end());
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e: NodeJS.ErrnoException) =>
          reject(
            new AethirError(
              'UNAVAILABLE',
              `the checker's probe port ${this.opts.probePort ?? 0} on ${host} cannot be opened: ${e.code ?? e.message}`,
            ),
          ),
        );
        server.listen(this.opts.probePort ?? 0, host, () => resolve());
      });
      server.unref();
      this.probePort = server;
      const port = (server.address() as { port: number }).port;
      this.probeUrl = this.opts.probeUrl ?? `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
    } else this.probeUrl = this.opts.probeUrl ?? this.url;
    const key = this.key;
    const place = locationOf(this.opts.config.containerLocation);
    const announce = () =>
      this.bus.publish(
        BEACON_SUBJECT,
        signBeacon(
          {
            chainId: this.replica.chainId,
            checker: key.address,
            lat: place.lat,
            lon: place.lon,
            address: this.probeUrl!,
            at: this.clock.now(),
          },
          key,
        ),
      );
    announce();
    const timer = setInterval(announce, this.opts.config.heartbeatIntervalMs);
    timer.unref();
    this.unsubs.push(() => clearInterval(timer));
  }

  private has(r: Role): boolean {
    return this.opts.roles.includes(r);
  }

  private async startRoles(): Promise<void> {
    const { config } = this.opts;
    const say = this.opts.log ?? (() => {});
    const replica = this.replica;
    const ctx: RoleContext = {
      config,
      ledger: () => replica.ledger,
      network: new InProcessNetwork(replica),
      bus: this.bus,
      clock: this.clock,
      log: say,
    };
    if (this.has('checker') || this.has('container'))
      this.key = new Keystore(join(config.dataDir, 'keys'), this.opts.log ?? stderrLog).loadOrCreate(
        this.opts.keyName ?? 'node',
      );

    if (this.has('indexer')) {
      // loaded from this node's replica as it is now; the blocks it catches up on follow below
      const role = startIndexerRole(ctx, {
        seed: `${config.chainId}:${this.opts.name}`,
        serveMatches: true,
        caughtUpTo: (height) => replica.waitForHeight(height, MATCH_CATCH_UP_MS),
      });
      this.indexer = role.indexer;
      this.unsubs.push(() => role.stop());
    }
    // The index follows this node's replica; lease events go to this node's agents only.
    this.unsubs.push(
      replica.onBlock((e) =>
        fanOutBlock(e, replica.ledger, { indexer: this.indexer ?? undefined, bus: this.localBus }),
      ),
    );

    if (this.has('checker')) {
      const key = this.key!;
      if (!replica.genesis.checkers.includes(key.address))
        say(
          `checker: ${key.address} is not a checker of this network's genesis; its reports will be rejected`,
        );
      const checker = startCheckerRole(ctx, {
        key,
        chainId: replica.genesis.chainId,
        // The checker's known place (--location): the origin of its RTT measurements.
        where: { place: locationOf(config.containerLocation), ...this.locationNetwork(replica) },
        cadence: cadenceForEpoch(replica.ledger.params.epochMs),
        ...(this.opts.checks ? { checks: this.opts.checks } : {}),
      });
      this.checker = checker;
      this.unsubs.push(() => void checker.stop());
      this.rounds = startCheckRounds(ctx, () => [checker], checker.sender);
    }

    await replica.start();

    if (this.has('api')) {
      this.logs = new LogHub(this.bus);
      this.endpoints ??= this.endpointDirectory();
      ({ api: this.api, url: this.url } = await startApiRole(ctx, this.backend()));
    }
    // once the API is up: a checker with one is probed there
    await this.startBeacon();

    if (this.has('container')) {
      // Catch up first: the agent decides whether to register from the ledger's current state.
      await replica.waitForHeight((await this.log.lastSeq()) - 1, 120_000);
      const spec = await containerSpecOf(
        ctx,
        this.opts.probe ?? (() => probeHardware()),
        this.opts.declaredGpus,
      );
      this.runtime = await startContainerRuntime(ctx);
      this.proxy = new EndpointProxy({ host: config.host, publicUrl: this.opts.endpointUrl });
      await this.proxy.start();
      this.agent = await startContainerRole(
        ctx,
        { runtime: this.runtime, endpoints: this.proxy, bus: new LayeredBus(this.localBus, this.bus) },
        {
          key: this.key!,
          name: this.opts.name,
          spec,
          location: locationOf(config.containerLocation),
          pricePerHour: parseAth(config.containerPriceAth),
          ...(config.containerApps ? { apps: config.containerApps.split(',') } : {}),
        },
      );
    }
  }

  /** The API's view of this node. */
  private backend(): ApiBackend {
    const replica = this.replica;
    const store = this.store;
    const bus = this.bus;
    return {
      roles: this.opts.roles.join(','),
      heartbeatIntervalMs: this.opts.config.heartbeatIntervalMs,
      endpointOf: (lease) => this.endpoints?.endpointOf(lease) ?? null,
      get chainId() {
        return replica.chainId;
      },
      get ledger() {
        return replica.ledger;
      },
      get head() {
        return replica.head;
      },
      logs: this.logs!,
      now: () => Math.max(this.clock.now(), replica.head.time),
      openLeases: () => replica.ledger.leases().filter((l) => l.status === 'open'),
      onBlock: (l) => replica.onBlock(l),
      // Reserving over the bus, the account's signed request goes as sent: the indexer verifies
      // it (a peer on the bus holds nothing in another account's name), and a retry after a late
      // reply carries the same signature, so that indexer answers the same reservation.
      match: async (req, { reserve, signed }) => {
        const key = signed ? requestKeyOf(signed.header) : undefined;
        if (this.indexer) return reserve ? this.indexer.match(req, key) : this.indexer.find(req);
        // `atHeight`: what this node has applied (a deposit it just acknowledged), for the
        // indexer to see before it checks the account's escrow
        const msg = reserve
          ? { reserve, signature: signed?.header, body: signed?.body, atHeight: replica.head.height }
          : { ...req, reserve };
        return (await requestRetrying(bus, rpcSubjects.match, msg, { timeoutMs: 3000 })) as
          MatchResult | MatchPreview;
      },
      offers: async (req, limit) =>
        this.indexer
          ? this.indexer.offers(req, limit)
          : ((await requestRetrying(bus, rpcSubjects.offers, { ...req, limit }, { timeoutMs: 3000 })) as {
              offers: Offer[];
              total: number;
            }),
      submit: (raw) => replica.submit(raw),
      recentTxs: (limit, filter) => store.recentTxs(limit, filter),
      tx: (id) => store.tx(id),
      recentBlocks: (limit) => store.recentBlocks(limit),
      genesis: replica.genesis,
      blocks: (from, limit) => store.blocks(from, limit),
      busErrors: () => {
        const s = bus.stats();
        return s.dropped + s.droppedMalformed;
      },
      publishTelemetry: (subject, data) => bus.publish(subject, data),
      leaseEvents: (container, handler) =>
        leaseEventsOn(this.localBus, container, handler, { ledger: () => replica.ledger, bus: this.bus }),
      snapshot: () => snapshotToWire(replica.snapshot()),
    };
  }

  /** Ends the roles, then the replica and the connections. Running workloads are stopped. */
  stop(): Promise<void> {
    return (this.stopped ??= (async () => {
      this.rounds?.stop();
      this.rounds = null;
      await this.api?.close();
      await this.agent?.stop().catch(() => undefined);
      await this.runtime?.stopAll();
      await this.proxy?.stop();
      await new Promise((r) => (this.probePort ? this.probePort.close(r) : r(undefined)));
      this.endpoints?.close();
      for (const u of this.unsubs) u();
      this.unsubs = [];
      this.logs?.close();
      await this.replica.stop();
      await this.bus.close().catch(() => undefined);
      await this.log.close();
      await this.store.close();
    })());
  }
}
