import type { Block, Genesis, SignedTx } from '../ledger/index.js';

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
