import type { FastifyInstance } from 'fastify';
import { join } from 'node:path';
import { SeededRng, type Clock } from '../core/clock.js';
import type { Config } from '../core/config.js';
import { signedByContainer } from '../core/container-signature.js';
import { AethirError } from '../core/errors.js';
import type { KeyPair } from '../core/keys.js';
import type { Bus } from '../bus/bus.js';
import { rpcSubjects } from '../bus/messages.js';
import { subjects, type HeartbeatMsg } from '../bus/subjects.js';
import { Indexer } from '../indexer/indexer.js';
import { parseMatchBody, parseMatchRequest } from '../indexer/request.js';
import { requestKeyOf, verifyRequest } from '../core/signed-request.js';
import { CheckerService, type CheckerServiceDeps } from '../checker/service.js';
import { secureRng } from '../capacity/prover.js';
import { ContainerAgent, DEFAULT_DISK_QUOTA_MIB, type ContainerAgentInit } from '../container/agent.js';
import { declaredSpec } from '../container/declared.js';
import type { EndpointProxy } from '../container/endpoint-proxy.js';
import { appsDirOf, checkpointsDirOf, hostProcessRuntime } from '../container/isolation.js';
import type { ProbeResult } from '../container/probe.js';
import type { HostProcessRuntime } from '../container/runtimes/host-process.js';
import type { Ledger } from '../ledger/machine.js';
import type { ContainerSpec, Location } from '../ledger/modules/containers/payloads.js';
import type { NetworkClient } from '../sdk/network.js';
import { TxSender } from '../sdk/tx-sender.js';
import type { ApiBackend } from '../api/backend.js';
import { apiLimitsOf } from '../api/limits.js';
import { createApiServer } from '../api/server.js';
import { closeDueEpochs, closeEndedReservations, rebuildIndex, specFromProbe } from './roles.js';

/**
 * The roles of a node, wired once for every composition: the devnet (one process, a MemoryBus,
 * the sequencer's chain) and `aethir node` (a replica of the JetStream log, NATS) alike. Each
 * role reads the node's copy of the ledger and submits through the node; what differs between
 * compositions (the bus, the location network, the container's runtime) is passed in.
 */
export interface RoleContext {
  config: Config;
  /** the node's copy of the ledger, as of its last block */
  ledger: () => Ledger;
  /** submits signed transactions to the node's ledger */
  network: NetworkClient;
  /** where heartbeats, match requests and the checkers' direct checks travel */
  bus: Bus;
  clock: Clock;
  log: (line: string) => void;
}

export interface IndexerRole {
  indexer: Indexer;
  stop(): void;
}

/**
 * The index of the containers the ledger holds, loaded from the node's ledger at start (so a
 * restarted or snapshot-started node answers matches at once: from each container's next
 * heartbeat, not its next ledger change), then following heartbeats from the bus. The caller
 * feeds it the ledger's later changes (fanOutBlock). `serveMatches`: answer the match and offers
 * requests of other nodes on the bus (rpcSubjects.match and .offers, one queue group).
 */
export function startIndexerRole(
  ctx: RoleContext,
  opts: {
    seed: string;
    serveMatches?: boolean;
    /**
     * Resolves once this node's ledger has applied block `height`, or rejects after a short wait.
     * A reserving request over the bus names the API node's height (`atHeight`): the deposit that
     * node just acknowledged must be seen here before the escrow is checked.
     */
    caughtUpTo?: (height: number) => Promise<void>;
  },
): IndexerRole {
  const { config } = ctx;
  const indexer = new Indexer({
    clock: ctx.clock,
    rng: new SeededRng(opts.seed),
    requiredStake: (c) => ctx.ledger().requiredStakeOf(c),
    // the checkers' verdicts, as the ledger keeps them (a request may ask for a minimum)
    reputation: (c) => ctx.ledger().reputationOf(c).score,
    reservationTtlMs: config.reservationTtlMs,
    offlineAfterMs: config.offlineAfterMs,
    maxReservationsPerAccount: config.maxReservationsPerAccount,
    escrowOf: (user) => ctx.ledger().account(user).escrow,
  });
  // a restarted or snapshot-started node matches at once: the index starts from its ledger
  rebuildIndex(indexer, ctx.ledger());
  const offs = [
    ctx.bus.subscribe(subjects.allHeartbeats, (m) => {
      const hb = m as HeartbeatMsg;
      // only the network's containers, each speaking for itself (src/core/container-signature.ts):
      // a forged heartbeat could mark a competitor full or draining, or silence it with a future `at`
      const ledger = ctx.ledger();
      if (!ledger.container(hb.container)) return;
      if (!signedByContainer('heartbeat', ledger.chain.chainId, hb)) return;
      indexer.heartbeatMsg(hb);
    }),
  ];
  if (opts.serveMatches)
    offs.push(
      // `reserve: false`: a preview (an unsigned request at the API node), nothing is held
      ctx.bus.serve(
        rpcSubjects.match,
        async (msg) => {
          const { reserve, atHeight, ...req } = msg as Record<string, unknown>;
          if (reserve === false) return indexer.find(parseMatchRequest(req));
          // reserving: only the account's own signed request, verified here (a peer on the bus
          // must not hold GPUs, and the account's reservation cap and escrow, in its name)
          const { signature, body } = req;
          if (typeof signature !== 'string')
            throw new AethirError(
              'UNAUTHENTICATED',
              "a reserving match over the bus carries the account's signed request (signature, body)",
            );
          const q = parseMatchBody(body);
          verifyRequest(signature, {
            chainId: ctx.ledger().chain.chainId,
            method: 'POST',
            path: '/v1/match',
            body,
            account: q.user,
            now: ctx.clock.now(),
          });
          // read-your-writes: wait (briefly) for the blocks the API node had applied; past the
          // wait, the escrow is checked as this ledger holds it
          if (opts.caughtUpTo && Number.isSafeInteger(atHeight) && (atHeight as number) > 0)
            await opts.caughtUpTo(atHeight as number).catch(() => undefined);
          return indexer.match(q, requestKeyOf(signature));
        },
        { queue: rpcSubjects.matchQueue },
      ),
      ctx.bus.serve(
        rpcSubjects.offers,
        (req) => {
          const { limit, ...r } = (req ?? {}) as Record<string, unknown>;
          return indexer.offers(parseMatchRequest(r), Number.isInteger(limit) ? (limit as number) : 20);
        },
        { queue: rpcSubjects.matchQueue },
      ),
    );
  return {
    indexer,
    stop: () => {
      for (const off of offs.splice(0)) off();
    },
  };
}

export interface CheckerRole {
  service: CheckerService;
  /** signs this checker's reports */
  sender: TxSender;
  stop(): Promise<void>;
}

/**
 * One checker: its service, started (it listens to heartbeats and answers peers at once); its
 * checks run on each `tick()` (see `startCheckRounds`). `where`: its known place and what its
 * location check measures (a real network or the SIMULATED model).
 */
export function startCheckerRole(
  ctx: RoleContext,
  opts: {
    key: KeyPair;
    chainId: string;
    where: Pick<CheckerServiceDeps, 'place' | 'network' | 'landmarks' | 'peerKey'>;
  } & Pick<CheckerServiceDeps, 'cadence' | 'checks' | 'capacity'>,
): CheckerRole {
  const sender = new TxSender(opts.key, ctx.network);
  const service = new CheckerService({
    address: opts.key.address,
    key: opts.key,
    chainId: opts.chainId,
    ledger: ctx.ledger,
    report: (p) => sender.send('checker.report', { ...p }),
    bus: ctx.bus,
    clock: ctx.clock,
    rng: secureRng(),
    ...opts.where,
    offlineAfterMs: ctx.config.offlineAfterMs,
    cadence: opts.cadence,
    ...(opts.checks ? { checks: opts.checks } : {}),
    ...(opts.capacity ? { capacity: opts.capacity } : {}),
    log: ctx.log,
  }).start();
  return { service, sender, stop: () => service.stop() };
}

/**
 * Every `config.checkIntervalMs`: one pass of each checker (liveness and QoS reports; capacity
 * and location checks start in the background), then the keeper's duty with `keeper` (closing
 * due epochs; anyone may). A pass never overlaps the previous one.
 */
export function startCheckRounds(
  ctx: RoleContext,
  checkers: () => readonly CheckerRole[],
  keeper: TxSender,
): { run(): Promise<void>; stop(): void } {
  let busy = false;
  const run = async () => {
    if (busy) return;
    busy = true;
    try {
      for (const { service } of checkers()) await service.tick();
      await closeDueEpochs(ctx.ledger, keeper, ctx.clock, ctx.log);
      await closeEndedReservations(ctx.ledger, keeper, ctx.clock, ctx.log);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(
    () => void run().catch((e) => ctx.log(`checker: ${(e as Error).message}`)),
    ctx.config.checkIntervalMs,
  );
  timer.unref();
  return { run, stop: () => clearInterval(timer) };
}

/** The runtime a node's containers run workloads in: host processes, isolated as configured. */
export function startContainerRuntime(ctx: RoleContext): Promise<HostProcessRuntime> {
  return hostProcessRuntime({
    isolation: ctx.config.containerIsolation,
    dataDir: ctx.config.dataDir,
    now: () => ctx.clock.now(),
    log: ctx.log,
  });
}

/** This machine's hardware as the ledger records it: probed, or the GPUs the operator declares. */
export async function containerSpecOf(
  ctx: RoleContext,
  probe: () => Promise<ProbeResult>,
  declaredGpus?: ContainerSpec['gpus'],
): Promise<ContainerSpec> {
  const result = await probe();
  for (const w of result.warnings) ctx.log(`probe: ${w}`);
  const probed = specFromProbe(result);
  return declaredGpus ? declaredSpec(probed, declaredGpus) : probed;
}

/**
 * One container agent, started: registered (or updated), staked to the requirement, heartbeating,
 * running the leases the ledger opens on it. `components`: the runtime, the endpoint proxy and
 * the bus it sees (lease events from this node, heartbeats to the network).
 */
export async function startContainerRole(
  ctx: RoleContext,
  components: { runtime: HostProcessRuntime; endpoints: EndpointProxy; bus?: Bus },
  host: {
    key: KeyPair;
    name: string;
    spec: ContainerSpec;
    location: Location;
    pricePerHour: bigint;
    reservedPricePerHour?: bigint;
    apps?: readonly string[];
    prover?: ContainerAgentInit['prover'];
    volumes?: ContainerAgentInit['volumes'];
  },
): Promise<ContainerAgent> {
  const { config } = ctx;
  const agent = new ContainerAgent(
    {
      network: ctx.network,
      bus: components.bus ?? ctx.bus,
      runtime: components.runtime,
      endpoints: components.endpoints,
      clock: ctx.clock,
      log: ctx.log,
    },
    {
      key: host.key,
      name: host.name,
      spec: host.spec,
      location: host.location,
      pricePerHour: host.pricePerHour,
      ...(host.reservedPricePerHour !== undefined ? { reservedPricePerHour: host.reservedPricePerHour } : {}),
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      settleIntervalMs: config.settleIntervalMs,
      stakeAuto: true,
      diskQuotaMiB: DEFAULT_DISK_QUOTA_MIB,
      ...(config.containerLeaseMemoryMiB ? { leaseMemoryMiB: config.containerLeaseMemoryMiB } : {}),
      logDir: join(config.dataDir, 'logs'),
      checkpointDir: checkpointsDirOf(components.runtime, config.dataDir),
      ...(host.apps?.length
        ? { apps: [...host.apps], appsDir: appsDirOf(components.runtime, config.dataDir) }
        : {}),
      ...(host.prover ? { prover: host.prover } : {}),
      ...(host.volumes ? { volumes: host.volumes } : {}),
    },
  );
  await agent.start();
  return agent;
}

/**
 * The node's HTTP API on config.host:config.port (0: any free port); `inUse`: what to tell an
 * operator whose port is taken. Returns the server and the URL it answers on.
 */
export async function startApiRole(
  ctx: Pick<RoleContext, 'config' | 'bus'>,
  backend: ApiBackend,
  inUse = 'choose another with --port',
): Promise<{ api: FastifyInstance; url: string }> {
  const { config } = ctx;
  const api = await createApiServer(backend, {
    logLevel: config.logLevel,
    bus: ctx.bus,
    limits: apiLimitsOf(config),
  });
  try {
    await api.listen({ port: config.port, host: config.host });
  } catch (e) {
    await api.close().catch(() => undefined);
    const code = (e as NodeJS.ErrnoException).code;
    throw new AethirError(
      'UNAVAILABLE',
      code === 'EADDRINUSE'
        ? `port ${config.port} is in use: ${inUse}`
        : `cannot listen on ${config.host}:${config.port}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const addr = api.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  return { api, url: `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}` };
}
