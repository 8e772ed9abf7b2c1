import type { Clock } from '../core/clock.js';
import { AethirError } from '../core/errors.js';
import { blockHash, genesisBlock, type Block } from '../ledger/block.js';
import type { BlockContext, TxResult } from '../ledger/context.js';
import type { Genesis } from '../ledger/genesis.js';
import { Ledger, LedgerFault, type Applied } from '../ledger/machine.js';
import type { LedgerEvent } from '../ledger/registry.js';
import { LedgerState } from '../ledger/state.js';
import type { DecodedTx } from '../ledger/tx.js';
import type { ChainStore } from '../store/ports.js';

export interface AppliedTx {
  id: string;
  tx: DecodedTx;
  result: TxResult;
  /** what applying it announced (src/ledger/registry.ts): what derived views follow */
  events: LedgerEvent[];
}

export interface BlockEvent {
  block: Block;
  applied: AppliedTx[];
}

export interface SubmitResult {
  id: string;
  height: number;
  /** the state root after the block that holds the transaction */
  root: string;
  result: TxResult;
}

/** One transaction's outcome in a group commit (`submitMany`). */
export type SubmitOutcome = ({ ok: true } & SubmitResult) | { ok: false; error: AethirError };

/** Anything but a rejection that escaped applying a transaction is a fault. */
function asFault(e: unknown, height: number): LedgerFault {
  return e instanceof LedgerFault ? e : new LedgerFault('(unknown)', '(unknown)', height, e);
}

/**
 * The sequencer of the embedded network: it orders submitted transactions, applies them
 * through the ledger, seals them into a block with the new state root and makes the block
 * durable before it answers (`submit`: one transaction per block; `submitMany`: a group
 * commit, many transactions in one block and one fsync). A rejected transaction never
 * reaches the log.
 */
export class Chain {
  private ledgerRef: Ledger;
  private headRef: Block;
  private readonly listeners = new Set<(e: BlockEvent) => void>();
  /** set when a failed write could not be rolled back: the chain refuses further work */
  private failure: Error | null = null;
  /** set when a transaction faulted (not a rejection: a bug): the ledger stopped at the head */
  private fault: LedgerFault | null = null;

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
    const r = this.submitMany([rawTx])[0]!;
    if (!r.ok) throw r.error;
    return { id: r.id, height: r.height, root: r.root, result: r.result };
  }

  /**
   * Group commit: validates and applies each transaction in order (signature, nonce, rules),
   * seals every accepted one into ONE block, persists it in one store transaction (one fsync)
   * and only then notifies the listeners, once, with all of them. A rejected transaction is
   * left out with its typed error and changes nothing; the others still apply. Every accepted
   * result carries the block's height and root (the root after the whole block). When no
   * transaction is accepted, no block is made. If the block cannot be persisted, the accepted
   * ones answer UNAVAILABLE (retryable) and the chain falls back to its durable state.
   */
  submitMany(rawTxs: readonly unknown[]): SubmitOutcome[] {
    return this.commit(rawTxs, (raw, ctx) => this.ledgerRef.apply(raw, ctx));
  }

  /**
   * As submitMany, for transactions decoded and signature-checked elsewhere (`decodeTx`, e.g.
   * in worker threads); an AethirError in place of a transaction is passed through as that
   * transaction's outcome. Nonces and rules are still checked here, in order.
   */
  submitManyDecoded(txs: ReadonlyArray<DecodedTx | AethirError>): SubmitOutcome[] {
    return this.commit(txs, (tx, ctx) => {
      if (tx instanceof AethirError) throw tx;
      return this.ledgerRef.applyDecoded(tx, ctx);
    });
  }

  private commit<T>(items: readonly T[], applyOne: (item: T, ctx: BlockContext) => Applied): SubmitOutcome[] {
    if (this.failure) {
      const why = this.fault ? 'the ledger halted' : 'the chain is stopped';
      const error = new AethirError('UNAVAILABLE', `${why}: ${this.failure.message}`, {
        cause: this.failure,
      });
      return items.map(() => ({ ok: false, error }));
    }
    // Whole milliseconds: the ledger does integer (bigint) arithmetic on block times.
    const time = Math.max(Math.floor(this.clock.now()), this.headRef.time);
    const height = this.headRef.height + 1;
    const ctx: BlockContext = { height, time, prevHash: this.headRef.hash };
    // Per item: what it applied, or why it was rejected (a rejected one changed nothing).
    const done: Array<AppliedTx | AethirError> = [];
    const applied: AppliedTx[] = [];
    for (const item of items) {
      try {
        const { tx, result, events } = applyOne(item, ctx);
        const a: AppliedTx = { id: tx.id, tx, result, events };
        applied.push(a);
        done.push(a);
      } catch (e) {
        if (e instanceof AethirError && !(e instanceof LedgerFault)) done.push(e);
        else return this.halt(asFault(e, height), items.length, done.length);
      }
    }
    const rejected = (error: AethirError): SubmitOutcome => ({ ok: false, error });
    if (applied.length === 0) return done.map((d) => rejected(d as AethirError));

    const root = this.ledgerRef.root();
    const partial = { height, time, prevHash: this.headRef.hash, txs: applied.map((a) => a.tx.tx), root };
    const ids = applied.map((a) => a.id);
    const block: Block = { ...partial, hash: blockHash(partial, ids) };
    try {
      this.store.append(block, this.ledgerRef.state.takeDirty(), ids);
    } catch (e) {
      this.recover();
      const error = new AethirError(
        'UNAVAILABLE',
        `could not persist block ${height}: ${(e as Error).message}`,
        { cause: e },
      );
      return done.map((d) => rejected(d instanceof AethirError ? d : error));
    }
    this.headRef = block;
    const event: BlockEvent = { block, applied };
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // A faulty listener must not break the sequencer; listeners own their errors.
      }
    }
    return done.map((d) =>
      d instanceof AethirError ? rejected(d) : { ok: true, id: d.id, height, root, result: d.result },
    );
  }

  /**
   * Bugs halt, rejections don't: a transaction faulted (LedgerFault), so nothing of this batch is
   * sealed, the in-memory state goes back to the last good block (the head, as stored) and every
   * later submission is refused. The faulting transaction answers the fault; the others of its
   * batch, UNAVAILABLE.
   */
  private halt(fault: LedgerFault, count: number, at: number): SubmitOutcome[] {
    this.fault = fault;
    this.recover();
    this.failure ??= fault;
    const stopped = new AethirError('UNAVAILABLE', `the ledger halted: ${fault.message}`, { cause: fault });
    return Array.from({ length: count }, (_, i) => ({ ok: false, error: i === at ? fault : stopped }));
  }

  /** The fault that stopped this chain's ledger, if one did (see halt). */
  get halted(): LedgerFault | null {
    return this.fault;
  }

  /** After a failed write: the in-memory state is ahead of the store, so reload what is durable. */
  private recover(): void {
    try {
      const ledger = Ledger.fromState(LedgerState.fromEntries(this.store.loadState()));
      if (ledger.root() !== this.headRef.root)
        throw new Error('the stored state does not match the head block');
      this.ledgerRef = ledger;
    } catch (e) {
      // Neither the write nor the reload worked: refuse every later submission rather than
      // answer from a state that is not durable.
      this.failure = e as Error;
    }
  }

  blocks(fromHeight = 0): Iterable<Block> {
    return this.store.blocks(fromHeight);
  }

  close(): void {
    this.listeners.clear();
    this.store.close();
  }
}
