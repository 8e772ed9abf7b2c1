import { toJsonSafe } from '../../core/canonical.js';
import { AethirError } from '../../core/errors.js';
import { router, type ApiPlugin } from './common.js';

/** This node: its snapshot for a new replica, liveness, and status. */
export const nodeRoutes: ApiPlugin = async (app, ctx) => {
  const { node } = ctx;
  const ledger = () => node.ledger;
  const route = router(app, ctx);
  route({
    method: 'GET',
    url: '/v1/snapshot',
    tag: 'node',
    summary:
      "This node's state at its head (canonical JSON: genesis, head block, state entries), for a new replica to start from",
    handler: (_req, reply) => {
      if (!node.snapshot)
        throw new AethirError(
          'NOT_FOUND',
          'this node serves no snapshots: it is an embedded devnet (copy its data directory instead)',
        );
      return reply.header('content-type', 'application/json').send(node.snapshot());
    },
  });
  route({
    method: 'GET',
    url: '/health',
    tag: 'node',
    summary: 'Liveness of this node',
    handler: () => ({ ok: true, height: node.head.height }),
  });
  route({
    method: 'GET',
    url: '/v1/status',
    tag: 'node',
    summary: 'Chain id, head block, state root and network counts',
    handler: () => {
      const l = ledger();
      const cs = l.containers();
      return {
        chainId: node.chainId,
        roles: node.roles,
        heartbeatIntervalMs: node.heartbeatIntervalMs,
        height: node.head.height,
        root: node.head.root,
        blockHash: node.head.hash,
        time: node.head.time,
        containers: { total: cs.length, online: cs.filter((c) => c.status === 'online').length },
        leases: { open: node.openLeases().length, total: l.leases().length },
        checkers: l.chain.checkers,
        treasury: l.treasury().balance.toString(),
        params: toJsonSafe(l.params),
        economics: {
          coefficientBps: l.economics.coefficientBps,
          lastEpoch: l.economics.lastEpoch,
          nextEpochEnd: l.nextEpoch(node.now()).end,
          rewardPool: l.rewardPool().balance.toString(),
          checkerPool: l.checkerPool().balance.toString(),
        },
      };
    },
  });
};
