import { AethirError, type Clock } from '../core/index.js';
import {
  Ledger,
  LedgerState,
  blockHash,
  genesisBlock,
  type Block,
  type DecodedTx,
  type Genesis,
  type TxResult,
} from '../ledger/index.js';
import type { ChainStore } from '../store/index.js';

export interface AppliedTx {
  id: string;
  tx: DecodedTx;
  result: TxResult;
}

export interface BlockEvent {
  block: Block;
  applied: AppliedTx[];
}

export interface SubmitResult {
  id: string;
  height: number;
  root: string;
  result: TxResult;
}

/**
 * The sequencer of the embedded network: it orders submitted transactions, applies them
 * through the ledger, seals each into a block with the new state root and makes the block
 * durable before it answers. A rejected transaction never reaches the log.
 */
export class Chain {
  private ledgerRef: Ledger;
  private headRef: Block;
  private readonly listeners = new Set<(e: BlockEvent) => void>();

  private constructor(
    readonly store: ChainStore,
    private readonly clock: Clock,
    readonly genesis: Genesis,
    ledger: Ledger,
    head: Block,
  ) {
    this.ledgerRef = ledger;
    this.headRef = head;
  }

  /** Opens the chain in `store`, creating it from `makeGenesis()` when the store is empty. */
  static open(store: ChainStore, clock: Clock, makeGenesis: () => Genesis): Chain {
    const existing = store.readGenesis();
    if (!existing) {
      const genesis = makeGenesis();
      const ledger = Ledger.fromGenesis(genesis);
      const b0 = genesisBlock(genesis, ledger);
      ledger.state.takeDirty();
      store.init(genesis, b0, ledger.state.entries());
      return new Chain(store, clock, genesis, ledger, b0);
    }
    const head = store.head();
    if (!head) throw new AethirError('STORE_CORRUPT', 'the store has a genesis but no blocks');
    const ledger = Ledger.fromState(LedgerState.fromEntries(store.loadState()));
    if (ledger.root() !== head.root)
      throw new AethirError(
        'STORE_CORRUPT',
        `stored state root does not match block ${head.height}; run "aethir ledger verify"`,
      );
    return new Chain(store, clock, existing, ledger, head);
  }

  get ledger(): Ledger {
    return this.ledgerRef;
  }
  get head(): Block {
    return this.headRef;
  }
  get chainId(): string {
    return this.genesis.chainId;
  }

  onBlock(listener: (e: BlockEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Applies one signed transaction in its own block. Throws a typed error if it is rejected. */
  submit(rawTx: unknown): SubmitResult {
    // Whole milliseconds: the ledger does integer (bigint) arithmetic on block times.
    const time = Math.max(Math.floor(this.clock.now()), this.headRef.time);
    const height = this.headRef.height + 1;
    const { tx, result } = this.ledgerRef.apply(rawTx, { height, time });
    const partial = { height, time, prevHash: this.headRef.hash, txs: [tx.tx], root: this.ledgerRef.root() };
    const block: Block = { ...partial, hash: blockHash(partial) };
    try {
      this.store.append(block, this.ledgerRef.state.takeDirty());
    } catch (e) {
      // The write failed after the in-memory apply: fall back to what is durable.
      this.ledgerRef = Ledger.fromState(LedgerState.fromEntries(this.store.loadState()));
      throw new AethirError('UNAVAILABLE', `could not persist block ${height}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    this.headRef = block;
    const event: BlockEvent = { block, applied: [{ id: tx.id, tx, result }] };
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // A faulty listener must not break the sequencer; listeners own their errors.
      }
    }
    return { id: tx.id, height, root: block.root, result };
  }

  blocks(fromHeight = 0): Iterable<Block> {
    return this.store.blocks(fromHeight);
  }

  close(): void {
    this.listeners.clear();
    this.store.close();
  }
}
