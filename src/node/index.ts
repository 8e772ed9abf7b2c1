import type { FastifyInstance } from 'fastify';
import { AethirError, type Clock, type Config } from '../core/index.js';
import { apiLimitsOf } from '../api/limits.js';
import { createApiServer } from '../api/server.js';
import { Devnet, type DevnetOptions } from './devnet.js';
import { devnetBackend } from './devnet-backend.js';

export { Devnet, DEVNET_CHECKER_PLACES, type DevnetOptions } from './devnet.js';
export { Chain } from './chain.js';
export { Keystore } from './keystore.js';
export { InProcessNetwork } from './in-process-network.js';
export { Replica, snapshotFromWire, snapshotToWire, type Snapshot } from './replica.js';
export {
  ClusterNode,
  ROLES,
  defaultNodeName,
  parseChoices,
  parseRoles,
  type Role,
  type ClusterNodeOptions,
} from './cluster-node.js';

export interface RunningNode {
  devnet: Devnet;
  api: FastifyInstance;
  url: string;
  stop(): Promise<void>;
}

/** Starts the devnet and its API server; `stop()` shuts both down cleanly. */
export async function startDevnetNode(
  opts: {
    config: Config;
    log?: (s: string) => void;
    /** a simulated clock (tests); the real one by default */
    clock?: Clock;
  } & Pick<DevnetOptions, 'probe' | 'cadence' | 'capacity' | 'localProver'>,
): Promise<RunningNode> {
  const devnet = await Devnet.start(opts);
  const api = await createApiServer(devnetBackend(devnet), {
    logLevel: opts.config.logLevel,
    bus: devnet.bus,
    limits: apiLimitsOf(opts.config),
  });
  try {
    await api.listen({ port: opts.config.port, host: opts.config.host });
  } catch (e) {
    await devnet.stop();
    const code = (e as NodeJS.ErrnoException).code;
    throw new AethirError(
      'UNAVAILABLE',
      code === 'EADDRINUSE'
        ? `port ${opts.config.port} is in use: is a devnet already running? Choose another with --port`
        : `cannot listen on ${opts.config.host}:${opts.config.port}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const addr = api.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.config.port;
  const host = opts.config.host === '0.0.0.0' ? '127.0.0.1' : opts.config.host;
  await devnet.waitOnline();
  let stopped: Promise<void> | null = null;
  return {
    devnet,
    api,
    url: `http://${host}:${port}`,
    stop: () =>
      (stopped ??= (async () => {
        await api.close();
        await devnet.stop();
      })()),
  };
}
export { locationOf, specFromProbe } from './roles.js';
