import { systemClock, type Clock } from '../core/clock.js';
import type { KeyPair } from '../core/keys.js';
import {
  RECEIPT_MAX_SAMPLES,
  signReceipt,
  type QualitySample,
  type SignedReceipt,
} from '../ledger/receipt.js';

export interface UsageReceiptsOptions {
  /** where receipts go: the node's API (POST /v1/leases/<id>/receipts) */
  send: (r: SignedReceipt) => Promise<unknown>;
  /** the lease's user */
  key: KeyPair;
  chainId: string;
  lease: string;
  /** the lease's openedAt (block time): served time is counted from it */
  openedAt: number;
  clock?: Clock;
  /** a receipt that could not be delivered (the next one supersedes it) */
  onError?: (e: Error) => void;
}

/**
 * The user's side of Proof of Delivery for one lease: signs cumulative usage receipts (the time
 * served since the lease opened, a growing seq, the last quality samples) and sends them in
 * order. A receipt that fails to arrive is not retried: the next one acknowledges everything it
 * did and more.
 */
export class UsageReceipts {
  private seq = 0;
  private readonly samples: QualitySample[] = [];
  private lastLatencyMs: number | undefined;
  private sending: Promise<void> = Promise.resolve();
  private readonly clock: Clock;
  /** the latest receipt signed, if any */
  last: SignedReceipt | null = null;

  constructor(private readonly opts: UsageReceiptsOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  /**
   * Signs a receipt for the service so far (`ok`: whether it looked alive since the last one)
   * and queues it; resolves once it was sent (or failed to be). Never rejects.
   */
  sign(ok = true): Promise<void> {
    const at = Math.floor(this.clock.now());
    const sample: QualitySample = { at, ok };
    if (this.lastLatencyMs !== undefined) sample.latencyMs = Math.min(3_600_000, this.lastLatencyMs);
    this.samples.push(sample);
    if (this.samples.length > RECEIPT_MAX_SAMPLES) this.samples.shift();
    const r = signReceipt(this.opts.key, this.opts.chainId, {
      lease: this.opts.lease,
      servedMs: Math.max(0, at - this.opts.openedAt),
      seq: ++this.seq,
      at,
      samples: [...this.samples],
    });
    this.last = r;
    this.sending = this.sending.then(async () => {
      const t0 = this.clock.now();
      try {
        await this.opts.send(r);
        this.lastLatencyMs = Math.max(0, Math.round(this.clock.now() - t0));
      } catch (e) {
        this.opts.onError?.(e as Error);
      }
    });
    return this.sending;
  }

  /** Resolves when every receipt signed so far was sent (or failed to be). */
  flush(): Promise<void> {
    return this.sending;
  }
}
