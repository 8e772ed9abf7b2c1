import type { Block } from '../ledger/block.js';
import type { AsyncChainStore, ChainStore } from './ports.js';

/**
 * Any synchronous store seen through the async port. Each call runs to completion before its
 * promise settles, so a lifted store keeps the sync store's atomicity; a throw becomes a rejection.
 */
export function asyncChainStore(store: ChainStore, kind: string): AsyncChainStore {
  return {
    kind,
    readGenesis: async () => store.readGenesis(),
    init: async (genesis, first, state) => store.init(genesis, first, state),
    append: async (block, changes, txIds) => store.append(block, changes, txIds),
    head: async () => store.head(),
    block: async (height) => store.block(height),
    blocks: async (fromHeight, limit) => {
      const out: Block[] = [];
      if (limit <= 0) return out;
      // stopping early returns the iterator, which releases a SQLite cursor
      for (const b of store.blocks(fromHeight)) if (out.push(b) >= limit) break;
      return out;
    },
    recentBlocks: async (limit) => store.recentBlocks(limit),
    tx: async (id) => store.tx(id),
    recentTxs: async (limit, filter) => store.recentTxs(limit, filter),
    loadState: async () => [...store.loadState()],
    close: async () => store.close(),
  };
}
