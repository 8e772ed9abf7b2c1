import type { FastifyInstance } from 'fastify';
import type { Clock } from '../core/clock.js';
import type { Config } from '../core/config.js';
import { startApiRole } from './role-wiring.js';
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
  let started: { api: FastifyInstance; url: string };
  try {
    started = await startApiRole(
      { config: opts.config, bus: devnet.bus },
      devnetBackend(devnet),
      'is a devnet already running? Choose another with --port',
    );
  } catch (e) {
    await devnet.stop();
    throw e;
  }
  const { api, url } = started;
  await devnet.waitOnline();
  let stopped: Promise<void> | null = null;
  return {
    devnet,
    api,
    url,
    stop: () =>
      (stopped ??= (async () => {
        await api.close();
        await devnet.stop();
      })()),
  };
}
export { locationOf, specFromProbe } from './roles.js';
