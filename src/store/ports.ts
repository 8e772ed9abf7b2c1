import type { Block } from '../ledger/block.js';
import type { Genesis } from '../ledger/genesis.js';
import type { SignedTx } from '../ledger/tx.js';

export interface TxRecord {
  id: string;
  height: number;
  index: number;
  time: number;
  tx: SignedTx;
}

/**
 * The chain store: the ordered block log and the materialized state after its head, kept
 * consistent with each other (a block and its state changes are written atomically).
 */
export interface ChainStore {
  readGenesis(): Genesis | undefined;
  /** First write of a new chain: genesis, block 0 and the genesis state. */
  init(genesis: Genesis, block0: Block, state: Iterable<[string, unknown]>): void;
  /** `txIds`: the ids of block.txs when the caller has them already (saves recomputing them) */
  append(block: Block, changes: Iterable<[string, unknown | undefined]>, txIds?: readonly string[]): void;
  head(): Block | undefined;
  block(height: number): Block | undefined;
  blocks(fromHeight?: number): Iterable<Block>;
  recentBlocks(limit: number): Block[];
  tx(id: string): TxRecord | undefined;
  recentTxs(limit: number, filter?: { from?: string; type?: string }): TxRecord[];
  loadState(): Iterable<[string, unknown]>;
  close(): void;
}

/**
 * The chain store seen through promises: the port a replica node writes through, so that one
 * replica can keep its materialized state in SQLite, in memory or in PostgreSQL alike (one
 * compliance suite runs against every adapter). `asyncChainStore` lifts any synchronous
 * `ChainStore`; the embedded sequencer keeps the synchronous SQLite store, whose group commit
 * (one fsync per block, no await between apply and write) it relies on.
 */
export interface AsyncChainStore {
  /** the adapter's name, for logs and metrics: memory, sqlite or postgres */
  readonly kind: string;
  readGenesis(): Promise<Genesis | undefined>;
  /**
   * First write: the genesis, the first block this store holds and the state after it. The
   * first block is block 0 for a replica that starts from genesis, or a snapshot's head block
   * for one that starts from a snapshot (then no earlier block is held).
   */
  init(genesis: Genesis, first: Block, state: Iterable<[string, unknown]>): Promise<void>;
  /** one block and its state changes, atomically (undefined value = key deleted) */
  append(
    block: Block,
    changes: Iterable<[string, unknown | undefined]>,
    txIds?: readonly string[],
  ): Promise<void>;
  head(): Promise<Block | undefined>;
  block(height: number): Promise<Block | undefined>;
  /** held blocks from `fromHeight` on, in height order, at most `limit` of them */
  blocks(fromHeight: number, limit: number): Promise<Block[]>;
  recentBlocks(limit: number): Promise<Block[]>;
  tx(id: string): Promise<TxRecord | undefined>;
  recentTxs(limit: number, filter?: { from?: string; type?: string }): Promise<TxRecord[]>;
  loadState(): Promise<Array<[string, unknown]>>;
  close(): Promise<void>;
}
