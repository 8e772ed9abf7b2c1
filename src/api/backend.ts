import type { MatchPreview, MatchResult, Offer } from '../indexer/indexer.js';
import type { MatchRequest } from '../indexer/request.js';
import type { Block } from '../ledger/block.js';
import type { Genesis } from '../ledger/genesis.js';
import type { Ledger } from '../ledger/machine.js';
import type { Lease } from '../ledger/model.js';
import type { BlockEvent, SubmitOutcome } from '../node/chain.js';
import type { LogHub } from '../node/log-hub.js';
import type { TxRecord } from '../store/ports.js';

/**
 * What the HTTP API needs from the node it runs on. The embedded devnet (one process, the
 * sequencer beside it) and a scale-out API node (a replica of the JetStream log, indexers
 * reached over NATS) both provide it, so the API is one piece of code for both.
 */
export interface ApiBackend {
  readonly chainId: string;
  /** the state at the head this node has applied */
  readonly ledger: Ledger;
  readonly head: Block;
  /** live workload output, gathered from the bus */
  readonly logs: LogHub;
  /** the node's time (never behind the head block's) */
  now(): number;
  openLeases(): Lease[];
  onBlock(listener: (e: BlockEvent) => void): () => void;
  /**
   * finds a container (the local indexer, or one reached over the bus); with `reserve` also
   * reserves it for `req.user` (the caller has checked that the account asked: a signed request).
   * `signed`: that request (its x-aethir-signature header and the body as sent), which an indexer
   * reached over the bus verifies again; the same signature again gets the same reservation.
   */
  match(
    req: MatchRequest,
    opts: { reserve: boolean; signed?: { header: string; body: unknown } },
  ): Promise<MatchResult | MatchPreview>;
  /** what `match` could give the request now, best first, at most `limit`; reserves nothing */
  offers(req: MatchRequest, limit: number): Promise<{ offers: Offer[]; total: number }>;
  /** resolves once the transaction is applied (durable) here, or with why it was rejected */
  submit(rawTx: unknown): Promise<SubmitOutcome>;
  recentTxs(limit: number, filter?: { from?: string; type?: string }): Promise<TxRecord[]>;
  tx(id: string): Promise<TxRecord | undefined>;
  recentBlocks(limit: number): Promise<Block[]>;
  /** the chain's genesis, for anyone to replay the log from (ledger verify --api) */
  readonly genesis: Genesis;
  /** whole blocks from height `from`, oldest first, at most `limit` */
  blocks(from: number, limit: number): Promise<Block[]>;
  /** bus messages dropped: handler failures and malformed messages */
  busErrors(): number;
  /**
   * hands a remote container's telemetry (heartbeats, workload output), and users' usage
   * receipts (`lease.<id>.receipt`, checked by the API first), to the network's bus
   */
  publishTelemetry(subject: string, data: unknown): void;
  /**
   * lease.opened / lease.closed for one container as this node derives them from its ledger,
   * and the usage receipts of its open leases (what a container that joined over HTTP learns
   * its work and its pay from); returns unsubscribe
   */
  leaseEvents(container: string, handler: (subject: string, msg: unknown) => void): () => void;
  /** how often this network's checkers expect a container's heartbeat (ms) */
  readonly heartbeatIntervalMs: number;
  /** the address a user reaches an open lease's workload at (its container's endpoint proxy) */
  endpointOf(lease: Lease): string | null;
  /** what this node runs, for /v1/status (e.g. "devnet", or "api,indexer") */
  readonly roles: string;
  /** the state at the head as canonical JSON, for another replica to start from (scale-out nodes) */
  snapshot?(): string;
  /** stops taking submissions (called when the server closes) */
  closeSubmissions?(): void;
}
