import { AethirError } from '../core/errors.js';
import type { Chain, SubmitOutcome, SubmitResult } from './chain.js';

export interface SubmitQueueOptions {
  /** the most transactions committed in one block (default 256) */
  maxBatch?: number;
}

interface Pending {
  raw: unknown;
  resolve: (o: SubmitOutcome) => void;
}

/**
 * Group commit for concurrent submitters: every transaction submitted during one turn of the
 * event loop (for the HTTP API: every request parsed in the same I/O phase) is committed
 * together, in arrival order, with `Chain.submitMany` - one block and one fsync for all of
 * them - when the loop reaches its check phase (setImmediate), or as soon as `maxBatch` are
 * waiting. Each caller's promise settles with its own outcome, and only once the block that
 * holds its transaction is durable: resolved still means durable.
 *
 * While a commit runs (it is synchronous, fsync included) new requests wait in the kernel;
 * the next I/O phase reads them all, so the busier the node, the larger the batches.
 *
 * Signatures are verified inline, by the chain. Verifying them in a worker thread was
 * measured (bench ledger-scale, on a loaded 2-core machine) at 0.95x to 1.2x while the state
 * root still bounded the main thread; the root has since become cheap, so it is worth
 * measuring again on a quiet machine before adding worker threads.
 */
export class SubmitQueue {
  private readonly maxBatch: number;
  private pending: Pending[] = [];
  private scheduled: NodeJS.Immediate | null = null;
  private closedWith: AethirError | null = null;
  private readonly counters = { batches: 0, txs: 0, largest: 0 };

  constructor(
    private readonly chain: Chain,
    opts: SubmitQueueOptions = {},
  ) {
    const max = opts.maxBatch ?? 256;
    if (!Number.isInteger(max) || max < 1)
      throw new RangeError(`maxBatch must be a positive integer, not ${max}`);
    this.maxBatch = max;
  }

  /** Transactions waiting for the next commit. */
  get size(): number {
    return this.pending.length;
  }

  /** Commits so far: blocks attempted, transactions (accepted or not) and the largest batch. */
  get stats(): { batches: number; txs: number; largest: number } {
    return { ...this.counters };
  }

  /** Queues a signed transaction; resolves once its block is durable, rejects with its typed error. */
  async submit(rawTx: unknown): Promise<SubmitResult> {
    const o = await this.submitOutcome(rawTx);
    if (!o.ok) throw o.error;
    return { id: o.id, height: o.height, root: o.root, result: o.result };
  }

  /** As submit, but settles with the outcome instead of rejecting. */
  submitOutcome(rawTx: unknown): Promise<SubmitOutcome> {
    if (this.closedWith) return Promise.resolve({ ok: false, error: this.closedWith });
    return new Promise<SubmitOutcome>((resolve) => {
      this.pending.push({ raw: rawTx, resolve });
      if (this.pending.length >= this.maxBatch) this.flush();
      else this.scheduled ??= setImmediate(() => this.flush());
    });
  }

  /** Commits everything waiting now, in batches of at most maxBatch. */
  flush(): void {
    if (this.scheduled) {
      clearImmediate(this.scheduled);
      this.scheduled = null;
    }
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxBatch);
      let outcomes: SubmitOutcome[];
      try {
        outcomes = this.chain.submitMany(batch.map((p) => p.raw));
      } catch (e) {
        // The chain answers per transaction; a throw here is a bug, still never a hang.
        const error =
          e instanceof AethirError
            ? e
            : new AethirError('INTERNAL', `group commit failed: ${(e as Error).message}`, { cause: e });
        outcomes = batch.map(() => ({ ok: false, error }));
      }
      this.counters.batches++;
      this.counters.txs += batch.length;
      this.counters.largest = Math.max(this.counters.largest, batch.length);
      batch.forEach((p, i) => p.resolve(outcomes[i]!));
    }
  }

  /** Commits what is waiting, then refuses new submissions with UNAVAILABLE. Call it before the chain is closed. */
  close(): void {
    this.flush();
    this.closedWith ??= new AethirError('UNAVAILABLE', 'the node is shutting down');
  }
}
