import { constants } from 'node:os';
import {
  AethirError,
  MAX_LEASE_TOKEN_TTL_MS,
  isAethirError,
  signLeaseToken,
  systemClock,
  type Clock,
  type KeyPair,
  type LeaseScope,
} from '../core/index.js';
import { signReceipt, type SignedReceipt } from '../ledger/index.js';
import type { ApiClient, LeaseView, LogEvent } from './client.js';
import { TxSender } from './tx-sender.js';

/** What `stop` did: the lease's final charge and the escrow that went back to the user. */
export interface StopResult {
  lease: string;
  charged: bigint;
  refund: bigint;
}

/** How a lease ended, for `wait`. */
export interface WaitResult {
  /** the workload's exit code (128+N when a signal ended it; 1 when it never reported one) */
  exitCode: number;
  lease: LeaseView;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The exit code a shell would show: the code, else 128 + the signal's number, else 1. */
export function exitCodeOf(e: { exitCode: number | null; signal?: string | null } | undefined): number {
  if (e?.exitCode !== null && e?.exitCode !== undefined && e.exitCode >= 0) return e.exitCode;
  const n = e?.signal ? constants.signals[e.signal as keyof typeof constants.signals] : undefined;
  return n ? 128 + n : 1;
}

/**
 * A user's side of their leases, with their key: tokens to a lease's logs and endpoint, the
 * pre-authorization that pays a detached lease, its logs, waiting for it, stopping it, listing
 * them. The CLI's `rent --detach`, `logs`, `wait`, `stop` and `leases ls --mine` are this.
 */
export class Renter {
  readonly sender: TxSender;
  private chain: string | null = null;
  private readonly clock: Clock;

  constructor(
    readonly api: ApiClient,
    readonly key: KeyPair,
    opts: { clock?: Clock; sender?: TxSender } = {},
  ) {
    this.sender = opts.sender ?? new TxSender(key, api);
    this.clock = opts.clock ?? systemClock;
  }

  async chainId(): Promise<string> {
    return (this.chain ??= await this.api.chainId());
  }

  /** The lease, if it is this key's; NOT_FOUND or UNAUTHORIZED (another user's) otherwise. */
  async lease(id: string): Promise<LeaseView> {
    const l = await this.api.leaseView(id);
    if (!l) throw new AethirError('NOT_FOUND', `no lease ${id}`);
    if (l.user !== this.key.address)
      throw new AethirError('UNAUTHORIZED', `lease ${id} belongs to ${l.user}, not to ${this.key.address}`);
    return l;
  }

  /** A lease token (signed by this key) that opens the lease's logs and endpoint for `ttlMs`. */
  async token(lease: string, opts: { ttlMs?: number; scope?: LeaseScope[] } = {}): Promise<string> {
    const ttl = Math.min(opts.ttlMs ?? 3_600_000, MAX_LEASE_TOKEN_TTL_MS);
    return signLeaseToken(this.key, {
      chainId: await this.chainId(),
      lease,
      exp: Math.floor(this.clock.now()) + ttl,
      ...(opts.scope ? { scope: opts.scope } : {}),
    });
  }

  /**
   * Pays a detached lease ahead of time: signs one usage receipt acknowledging its whole maximum
   * duration and hands it to the container, resending until the ledger shows it taken (the
   * container settles such a receipt at once). The ledger still charges only up to the block
   * time of each settlement and of the close (never past the maximum duration or the escrow), so
   * what the user pays is the time the lease ran: until `stop`, the workload's exit, its maximum
   * duration, or the checkers finding its container offline.
   */
  async authorize(id: string, opts: { timeoutMs?: number; retryMs?: number } = {}): Promise<SignedReceipt> {
    let l = await this.lease(id);
    if (l.status !== 'open') throw new AethirError('CONFLICT', `lease ${id} is ${l.status}`);
    const receipt = signReceipt(this.key, await this.chainId(), {
      lease: id,
      servedMs: l.maxDurationSec * 1000,
      seq: l.lastReceiptSeq + 1,
      at: Math.floor(this.clock.now()),
    });
    const deadline = this.clock.now() + (opts.timeoutMs ?? 30_000);
    for (;;) {
      await this.api.sendReceipt(receipt).catch((e) => {
        if (!(isAethirError(e) && e.code === 'CONFLICT')) throw e;
      });
      await sleep(opts.retryMs ?? 250);
      l = await this.lease(id);
      if (l.lastReceiptSeq >= receipt.seq) return receipt;
      if (l.status !== 'open')
        throw new AethirError(
          'CONFLICT',
          `lease ${id} closed before its container took the authorization: ${l.closeReason}`,
        );
      if (this.clock.now() > deadline)
        throw new AethirError(
          'TIMEOUT',
          `the container of lease ${id} did not take the detached lease's authorization in time; the lease is open: stop it with "aethir stop ${id}"`,
        );
    }
  }

  /**
   * The workload's output: what the node keeps (from the first byte, or from `sinceMs`, a time
   * in ms), then, with `follow`, live until the workload exits. Ends with the exit event when
   * there is one.
   */
  async *logs(
    id: string,
    opts: { follow?: boolean; sinceMs?: number; signal?: AbortSignal; token?: string } = {},
  ): AsyncGenerator<LogEvent> {
    const token = opts.token ?? (await this.token(id, { scope: ['logs'] }));
    for await (const e of this.api.logs(id, token, opts.signal, { follow: opts.follow ?? false }))
      if (e.type === 'exit' || opts.sinceMs === undefined || e.at >= opts.sinceMs) yield e;
  }

  /**
   * Resolves when the lease has ended and settled: the workload's exit code (as `exitCodeOf`
   * reads the exit event, or the code its container closed it with) and the closed lease.
   */
  async wait(id: string, opts: { signal?: AbortSignal; settleTimeoutMs?: number } = {}): Promise<WaitResult> {
    let l = await this.lease(id);
    let exit: Extract<LogEvent, { type: 'exit' }> | undefined;
    if (l.status === 'open')
      for await (const e of this.logs(id, { follow: true, ...(opts.signal ? { signal: opts.signal } : {}) }))
        if (e.type === 'exit') exit = e;
    // The container closes the lease right after the exit: wait for the settlement.
    const deadline = this.clock.now() + (opts.settleTimeoutMs ?? 15_000);
    while (l.status !== 'closed' && this.clock.now() < deadline && !opts.signal?.aborted) {
      await sleep(100);
      l = await this.lease(id);
    }
    if (l.status !== 'closed') throw new AethirError('TIMEOUT', `lease ${id} did not close in time`);
    const code = l.exitCode !== null && l.exitCode >= 0 ? l.exitCode : exitCodeOf(exit ?? { exitCode: null });
    return { exitCode: code, lease: l };
  }

  /** Closes the lease now: it is charged up to this block's time; the rest of its escrow comes back. */
  async stop(id: string, reason = 'stopped by user'): Promise<StopResult> {
    const l = await this.lease(id);
    if (l.status !== 'open') throw new AethirError('CONFLICT', `lease ${id} is already ${l.status}`);
    const r = await this.sender.send('lease.close', { lease: id, reason });
    return { lease: id, charged: BigInt(String(r.result.charged)), refund: BigInt(String(r.result.refund)) };
  }

  /** This key's leases, newest first. */
  leases(filter: { status?: 'open' | 'closed'; limit?: number } = {}): Promise<LeaseView[]> {
    return this.api.leases({ user: this.key.address, ...filter });
  }
}
