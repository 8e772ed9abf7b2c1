import type { ApiBackend } from '../api/backend.js';
import { requestKeyOf } from '../core/signed-request.js';
import type { Devnet } from './devnet.js';
import { asyncChainStore } from '../store/async.js';
import { SubmitQueue } from './submit-queue.js';
import { leaseEventsOn } from './roles.js';

/** The API's view of the embedded devnet: the sequencer, its indexer and its log hub in-process. */
export function devnetBackend(devnet: Devnet): ApiBackend {
  // Group commit: the transactions of concurrent requests share one block and one fsync.
  const queue = new SubmitQueue(devnet.chain);
  const store = devnet.chain.store;
  return {
    roles: 'devnet',
    heartbeatIntervalMs: devnet.config.heartbeatIntervalMs,
    get chainId() {
      return devnet.chain.chainId;
    },
    get ledger() {
      return devnet.chain.ledger;
    },
    get head() {
      return devnet.chain.head;
    },
    logs: devnet.logs,
    now: () => devnet.now(),
    openLeases: () => devnet.openLeases(),
    onBlock: (l) => devnet.onBlock(l),
    match: async (req, { reserve, signed }) =>
      reserve
        ? devnet.indexer.match(req, signed ? requestKeyOf(signed.header) : undefined)
        : devnet.indexer.find(req),
    offers: async (req, limit) => devnet.indexer.offers(req, limit),
    submit: (raw) => queue.submitOutcome(raw),
    recentTxs: async (limit, filter) => store.recentTxs(limit, filter),
    tx: async (id) => store.tx(id),
    recentBlocks: async (limit) => store.recentBlocks(limit),
    get genesis() {
      return devnet.chain.genesis;
    },
    blocks: (from, limit) => asyncChainStore(store, 'sqlite').blocks(from, limit),
    busErrors: () => devnet.bus.dropped,
    endpointOf: (lease) => devnet.endpoints.endpointOf(lease),
    publishTelemetry: (subject, data) => devnet.bus.publish(subject, data),
    leaseEvents: (container, handler) =>
      leaseEventsOn(devnet.bus, container, handler, { ledger: () => devnet.chain.ledger }),
    closeSubmissions: () => queue.close(),
  };
}
