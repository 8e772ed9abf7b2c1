import { constants } from 'node:os';
import { formatAth } from '../core/amount.js';
import { systemClock, type Clock } from '../core/clock.js';
import { AethirError, isAethirError } from '../core/errors.js';
import type { KeyPair } from '../core/keys.js';
import type { LeaseScope } from '../core/lease-token-wire.js';
import { MAX_LEASE_TOKEN_TTL_MS, signLeaseToken } from '../core/lease-token.js';
import type { Workload } from '../ledger/modules/leases/payloads.js';
import type { LeaseFunds } from '../ledger/modules/leases/queries.js';
import { signReceipt, type SignedReceipt } from '../ledger/receipt.js';
import type { MatchRequestInput } from '../indexer/request.js';
import type { ApiClient, ContainerView, LeaseView, LogEvent, MatchView } from './client.js';
import { TxSender } from './tx-sender.js';
import { downloadFromLease, uploadToLease, type CopyProgress } from './lease-session.js';

/** What `stop` did: the lease's final charge and the escrow that went back to the user. */
export interface StopResult {
  lease: string;
  charged: bigint;
  refund: bigint;
}

/** What `topUp` did. */
export interface TopUpResult {
  lease: string;
  amount: bigint;
  /** the lease's escrow after it */
  escrow: bigint;
  /** it was paused and runs again */
  resumed: boolean;
}

/** What `keepFunded` saw and did. */
export type FundsEvent =
  | { type: 'low'; lease: string; funds: LeaseFunds }
  | { type: 'paused'; lease: string; funds?: LeaseFunds }
  | { type: 'resumed'; lease: string }
  | { type: 'topped-up'; lease: string; amount: bigint; escrow: bigint; resumed: boolean }
  | { type: 'error'; lease: string; message: string };

/** How a lease ended, for `wait`. */
export interface WaitResult {
  /** the workload's exit code (128+N when a signal ended it; 1 when it never reported one) */
  exitCode: number;
  lease: LeaseView;
}

/** What to rent and run, for `open` and `detach`. */
export interface OpenOptions {
  /** the indexer's request, without the user (e.g. `parseQuery('gpu_ram>=24 num_gpus>=2 region=eu')`) */
  request: Omit<MatchRequestInput, 'user'>;
  /** the longest the lease may run: its escrow is locked for it, the unused part refunded */
  maxDurationSec: number;
  /** the highest price accepted on the ledger (units per GPU-hour); default: the matched price */
  maxPricePerHour?: bigint;
  /**
   * lock escrow for this much of the duration only (networks with params.pauseGraceMs): the
   * lease is paused when it runs out and resumes when topped up (`topUp`, `keepFunded`)
   */
  depositSec?: number;
  /**
   * with `depositSec`: let the serving container top the lease up from this key's balance when
   * its escrow runs low, up to this many units in all (held on the ledger: lease.open
   * `topUpLimit`), so the lease keeps running with no client online
   */
  topUpLimit?: bigint;
  /** the workload, once the container is known (env values are sealed to its key: sealEnv) */
  workload: (container: ContainerView, chainId: string) => Workload | Promise<Workload>;
  /** progress lines for a person ("matched …", "deposited …") */
  onProgress?: (line: string) => void;
  /** interruptible at this bid per GPU-hour: runs while no one pays more (docs/sdk.md) */
  interruptible?: { bidPerHour: bigint };
  /** on this reservation of the key's (its container, no match, no charge beyond the reservation) */
  reservation?: string;
  /**
   * resumes this interruptible lease of the key's, with its checkpoint files: on a host the match
   * finds (the old lease's GPUs, at its bid unless `interruptible` says otherwise); on another
   * host than the one that kept the checkpoint, `checkpointDir` (what `fetchCheckpoint` brought)
   * is copied in before the lease's command starts
   */
  resumes?: string;
  checkpointDir?: string;
  /**
   * this container, no match: a persistent volume's host, or a host a user knows (a match too
   * reaches GPUs that interruptible leases hold, when no host has them free); the ledger still
   * checks price, capacity and the volume rules
   */
  container?: string;
}

/** What to reserve, for `reserve`. */
export interface ReserveOptions {
  gpus: number;
  days: number;
  /** a GPU model substring ("H100"); absent: any */
  gpuModel?: string;
  /** a region or region prefix ("eu"); absent: any */
  region?: string;
  /** the most accepted per GPU-hour (units); absent: the chosen host's reserved price */
  maxPricePerHour?: bigint;
  /** this container, instead of the cheapest that fits */
  container?: string;
  onProgress?: (line: string) => void;
}

/** A reservation just opened by `reserve`. */
export interface OpenedReservation {
  reservation: string;
  container: ContainerView;
  /** units locked for the whole period */
  escrow: bigint;
  endsAt: number;
}

/** A lease just opened by `open`. */
export interface OpenedLease {
  lease: string;
  /** units locked in escrow */
  escrow: bigint;
  match: MatchView;
  maxDurationSec: number;
}

/** A detached lease, as `detach` returns it: running, paid ahead, reachable. */
export interface DetachedLease extends OpenedLease {
  /** the workload's endpoint (with this key's token unless the endpoint is public), if it has one */
  endpoint: string | null;
  /** a lease token for its logs and endpoint until the lease's end (+1 h) */
  token: string;
  /** when its maximum duration runs out (ms) */
  endsAt: number;
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

  /** A match that names `container` itself (no indexer, nothing reserved). */
  private async pinned(container: string): Promise<MatchView> {
    const c = await this.api.containerView(container);
    if (!c) throw new AethirError('NOT_FOUND', `no container ${container}`);
    return {
      container: c,
      reservation: null,
      candidates: 1,
      score: { strategy: 'pinned', cost: 0, parts: { fee: 0, latency: 0, quality: 0 } },
    };
  }

  private async matched(
    request: MatchRequestInput,
    signer: { key: KeyPair; chainId: string },
    topUp: (needed: bigint) => Promise<void>,
    leaseEscrow: (pricePerHour: string) => bigint,
  ): Promise<MatchView> {
    await topUp(leaseEscrow((await this.api.match(request)).container.pricePerHour));
    return this.api.match(request, signer).catch(async (e: unknown) => {
      // a lease shorter than the reservation's time locks less than the reservation would
      const needed = isAethirError(e) && e.code === 'INSUFFICIENT_FUNDS' ? e.details?.needed : undefined;
      if (typeof needed !== 'string') throw e;
      await topUp(BigInt(needed));
      return this.api.match(request, signer);
    });
  }

  async chainId(): Promise<string> {
    return (this.chain ??= await this.api.chainId());
  }

  /**
   * Finds a container for the request and reserves it briefly (a match signed by this key, which
   * reserves only when the escrow balance covers the reservation: an unsigned match first says
   * what to deposit), tops the escrow balance up to what the lease locks, and opens the lease.
   * The workload starts on the container.
   */
  async open(o: OpenOptions): Promise<OpenedLease> {
    if (o.reservation !== undefined || o.container !== undefined) return this.openDirect(o);
    const say = o.onProgress ?? (() => {});
    const old = o.resumes !== undefined ? await this.resumable(o.resumes) : undefined;
    if (old) o = { ...o, interruptible: o.interruptible ?? { bidPerHour: BigInt(old.pricePerHour) } };
    const gpus = old?.gpus ?? o.request.gpus ?? 0;
    const request = {
      ...o.request,
      gpus,
      user: this.key.address,
      // an interruptible request may preempt only leases that bid less than it
      ...(o.interruptible ? { bidPerHour: o.interruptible.bidPerHour.toString() } : {}),
    };
    const signer = { key: this.key, chainId: await this.chainId() };
    const paidSec = Math.min(o.depositSec ?? o.maxDurationSec, o.maxDurationSec);
    const leaseEscrow = (pricePerHour: string) =>
      (BigInt(pricePerHour) * BigInt(Math.max(1, gpus)) * BigInt(paidSec)) / 3600n;
    const topUp = async (needed: bigint) => {
      const { escrow } = await this.api.account(this.key.address);
      if (escrow >= needed) return;
      await this.sender.send('escrow.deposit', { amount: needed - escrow });
      say(`deposited ${formatAth(needed - escrow, 6)} ATH into escrow`);
    };
    const match = o.container
      ? await this.pinned(o.container)
      : await this.matched(request, signer, topUp, leaseEscrow);
    const c = match.container;
    if (o.container) say(`on ${c.name}, the host of the volume`);
    else
      say(
        `matched ${c.name}${c.simulated ? ' (simulated)' : ''} in ${c.location.city}, ${c.location.country} at ${formatAth(BigInt(c.pricePerHour), 6)} ATH/h` +
          (match.preemptsInterruptible
            ? ': no host has the GPUs free; this lease preempts interruptible capacity there (it starts when their notice ends)'
            : ` (${match.candidates} candidate${match.candidates === 1 ? '' : 's'})`),
      );
    const workload = await o.workload(c, signer.chainId);
    const bid = o.interruptible?.bidPerHour;
    if (bid !== undefined && bid > BigInt(c.pricePerHour))
      throw new AethirError(
        'INVALID_ARGUMENT',
        `the bid ${formatAth(bid, 6)} ATH/h is above ${c.name}'s on-demand price ${formatAth(BigInt(c.pricePerHour), 6)} ATH/h: rent on demand instead`,
      );
    // the container matched may cost more than the one first shown
    await topUp(leaseEscrow(bid !== undefined ? bid.toString() : c.pricePerHour));
    const opened = await this.sender.send('lease.open', {
      container: c.id,
      gpus,
      maxDurationSec: o.maxDurationSec,
      maxPricePerHour: o.maxPricePerHour ?? bid ?? BigInt(c.pricePerHour),
      workload,
      ...fundingTerms(o),
      ...(bid !== undefined ? { interruptible: true, bidPerHour: bid } : {}),
      ...(old ? { resumes: old.id } : {}),
    });
    if (opened.result.preempted)
      say(`preempted ${String(opened.result.preempted)}: starts when its notice ends`);
    const lease = String(opened.result.lease);
    const locked = BigInt(String(opened.result.escrow));
    say(`lease ${lease} opened, ${formatAth(locked, 6)} ATH in escrow`);
    if (old && c.id === old.container) say(`it resumes ${old.id} on the host that kept its checkpoint`);
    else if (old && o.checkpointDir !== undefined) {
      const p = await this.sendCheckpoint(lease, o.checkpointDir);
      say(`checkpoint of ${old.id} copied to ${c.name} (${p.files} files, ${p.bytes} bytes)`);
    }
    return { lease, escrow: locked, match, maxDurationSec: o.maxDurationSec };
  }

  /**
   * A lease on a known container, no match: on one of this key's reservations (nothing more to
   * pay), or resuming one of its interruptible leases where its checkpoint is kept.
   */
  private async openDirect(o: OpenOptions): Promise<OpenedLease> {
    const say = o.onProgress ?? (() => {});
    const chainId = await this.chainId();
    let containerId: string;
    let gpus = o.request.gpus ?? 0;
    let bid = o.interruptible?.bidPerHour;
    if (o.reservation !== undefined) {
      const r = await this.api.reservation(o.reservation);
      if (!r) throw new AethirError('NOT_FOUND', `no reservation ${o.reservation}`);
      if (r.user !== this.key.address)
        throw new AethirError(
          'UNAUTHORIZED',
          `reservation ${r.id} belongs to ${r.user}, not to ${this.key.address}`,
        );
      if (r.status !== 'active') throw new AethirError('CONFLICT', `reservation ${r.id} is ${r.status}`);
      containerId = r.container;
      if (gpus === 0) gpus = r.gpus - r.gpusInUse;
    } else if (o.resumes === undefined) {
      containerId = o.container!;
    } else {
      const old = await this.lease(o.resumes);
      if (!old.interruptible)
        throw new AethirError(
          'INVALID_ARGUMENT',
          `lease ${old.id} was not interruptible: it has no checkpoint`,
        );
      containerId = old.container;
      gpus = old.gpus;
      bid ??= BigInt(old.pricePerHour);
    }
    const c = await this.api.containerView(containerId);
    if (!c) throw new AethirError('NOT_FOUND', `no container ${containerId}`);
    const workload = await o.workload(c, chainId);
    if (o.reservation === undefined) {
      const price = bid ?? BigInt(c.pricePerHour);
      const paidSec = Math.min(o.depositSec ?? o.maxDurationSec, o.maxDurationSec);
      const needed = (price * BigInt(Math.max(1, gpus)) * BigInt(paidSec)) / 3600n;
      const { escrow } = await this.api.account(this.key.address);
      if (escrow < needed) {
        await this.sender.send('escrow.deposit', { amount: needed - escrow });
        say(`deposited ${formatAth(needed - escrow, 6)} ATH into escrow`);
      }
    }
    const opened = await this.sender.send('lease.open', {
      container: c.id,
      gpus,
      maxDurationSec: o.maxDurationSec,
      maxPricePerHour: o.maxPricePerHour ?? bid ?? BigInt(c.pricePerHour),
      workload,
      ...(o.reservation !== undefined ? { reservation: o.reservation } : {}),
      ...(bid !== undefined ? { interruptible: true, bidPerHour: bid } : {}),
      ...(o.resumes !== undefined ? { resumes: o.resumes } : {}),
      ...(o.reservation === undefined ? fundingTerms(o) : {}),
    });
    if (opened.result.preempted)
      say(
        `preempted ${String(opened.result.preempted)}: starts when its notice ends (${new Date(Number(opened.result.startsAt)).toISOString()})`,
      );
    const lease = String(opened.result.lease);
    const locked = BigInt(String(opened.result.escrow));
    say(
      o.reservation !== undefined
        ? `lease ${lease} opened on reservation ${o.reservation} (${c.name}): nothing more to pay`
        : o.resumes !== undefined
          ? `lease ${lease} resumes ${o.resumes} on ${c.name} with its checkpoint, ${formatAth(locked, 6)} ATH in escrow`
          : `lease ${lease} opened on ${c.name}, ${formatAth(locked, 6)} ATH in escrow`,
    );
    const match: MatchView = {
      container: c,
      reservation: null,
      candidates: 1,
      score: { strategy: 'direct', cost: 0, parts: { fee: 0, latency: 0, quality: 0 } },
    };
    return { lease, escrow: locked, match, maxDurationSec: o.maxDurationSec };
  }

  /**
   * `aethir reserve`: books `gpus` GPUs of one host for `days` days at its reserved price (the
   * cheapest serving host that sells reserved capacity and fits, unless `container` names one),
   * locking the whole period from escrow (deposited as needed).
   */
  async reserve(o: ReserveOptions): Promise<OpenedReservation> {
    const say = o.onProgress ?? (() => {});
    const all = await this.api.containers();
    const fits = (c: ContainerView) =>
      c.reservedPricePerHour !== undefined &&
      c.serving &&
      c.gpusFree >= o.gpus &&
      (!o.gpuModel || c.spec.gpus.some((g) => g.model.toLowerCase().includes(o.gpuModel!.toLowerCase()))) &&
      (!o.region || c.location.region === o.region || c.location.region.startsWith(`${o.region}-`)) &&
      (o.maxPricePerHour === undefined || BigInt(c.reservedPricePerHour) <= o.maxPricePerHour);
    const candidates = (o.container ? all.filter((c) => c.id === o.container) : all)
      .filter(fits)
      .sort((a, b) => {
        const d = BigInt(a.reservedPricePerHour!) - BigInt(b.reservedPricePerHour!);
        return d < 0n ? -1 : d > 0n ? 1 : a.id < b.id ? -1 : 1;
      });
    const c = candidates[0];
    if (!c)
      throw new AethirError(
        'CAPACITY_EXHAUSTED',
        `no serving host sells ${o.gpus} reserved GPU${o.gpus === 1 ? '' : 's'}` +
          `${o.gpuModel ? ` of model ${o.gpuModel}` : ''}${o.region ? ` in ${o.region}` : ''}` +
          `${o.maxPricePerHour !== undefined ? ` at ${formatAth(o.maxPricePerHour, 6)} ATH/GPU-h or less` : ''}` +
          ` (${all.filter((x) => x.reservedPricePerHour !== undefined).length} of ${all.length} hosts sell reserved capacity)`,
      );
    const price = BigInt(c.reservedPricePerHour!);
    const needed = price * BigInt(o.gpus) * 24n * BigInt(o.days);
    say(
      `reserving ${o.gpus}x ${c.spec.gpus[0]?.model ?? 'GPU'} on ${c.name} (${c.location.city}, ${c.location.country}) at ${formatAth(price, 6)} ATH/GPU-h (on demand ${formatAth(BigInt(c.pricePerHour), 6)}) for ${o.days} day${o.days === 1 ? '' : 's'}`,
    );
    const { escrow } = await this.api.account(this.key.address);
    if (escrow < needed) {
      await this.sender.send('escrow.deposit', { amount: needed - escrow });
      say(`deposited ${formatAth(needed - escrow, 6)} ATH into escrow`);
    }
    const out = await this.sender.send('reservation.open', {
      container: c.id,
      gpus: o.gpus,
      days: o.days,
      maxPricePerHour: o.maxPricePerHour ?? price,
    });
    const id = String(out.result.reservation);
    say(`reservation ${id} opened: ${formatAth(needed, 6)} ATH locked for the period, paid day by day`);
    return {
      reservation: id,
      container: c,
      escrow: BigInt(String(out.result.escrow)),
      endsAt: Number(out.result.endsAt),
    };
  }

  /** Ends one of this key's reservations early: the days begun are kept, the rest refunded. */
  async cancelReservation(id: string): Promise<{ charged: bigint; refund: bigint; closedLeases: string[] }> {
    const r = await this.api.reservation(id);
    if (!r) throw new AethirError('NOT_FOUND', `no reservation ${id}`);
    if (r.user !== this.key.address)
      throw new AethirError(
        'UNAUTHORIZED',
        `reservation ${id} belongs to ${r.user}, not to ${this.key.address}`,
      );
    const out = await this.sender.send('reservation.cancel', { reservation: id });
    return {
      charged: BigInt(String(out.result.charged)),
      refund: BigInt(String(out.result.refund)),
      closedLeases: String(out.result.closedLeases ?? '')
        .split(',')
        .filter(Boolean),
    };
  }

  /**
   * `rent --detach`: opens the lease and pays it ahead (`authorize`), then returns while it runs,
   * until `stop`, the workload's exit, its maximum duration or its escrow's end.
   */
  async detach(o: OpenOptions): Promise<DetachedLease> {
    const opened = await this.open(o);
    return this.detached(opened);
  }

  /** The rest of `detach` for a lease opened here: authorize, a token, the endpoint. */
  async detached(opened: OpenedLease): Promise<DetachedLease> {
    await this.authorize(opened.lease);
    const view = await this.lease(opened.lease);
    const endsAt = view.openedAt + opened.maxDurationSec * 1000;
    const token = await this.token(opened.lease, {
      ttlMs: Math.max(0, endsAt - this.clock.now()) + 3_600_000,
    });
    const endpoint = view.endpoint
      ? view.workload.publicEndpoint
        ? view.endpoint
        : `${view.endpoint}?token=${token}`
      : null;
    return { ...opened, endpoint, token, endsAt };
  }

  /** The lease, if it is this key's; NOT_FOUND or UNAUTHORIZED (another user's) otherwise. */
  async lease(id: string): Promise<LeaseView> {
    const l = await this.api.leaseView(id);
    if (!l) throw new AethirError('NOT_FOUND', `no lease ${id}`);
    if (l.user !== this.key.address)
      throw new AethirError('UNAUTHORIZED', `lease ${id} belongs to ${l.user}, not to ${this.key.address}`);
    return l;
  }

  /** One of this key's interruptible leases, which a new lease may resume. */
  private async resumable(id: string): Promise<LeaseView> {
    const old = await this.lease(id);
    if (!old.interruptible)
      throw new AethirError(
        'INVALID_ARGUMENT',
        `lease ${old.id} was not interruptible: it has no checkpoint`,
      );
    return old;
  }

  /**
   * Copies an ended interruptible lease's checkpoint out of the host that keeps it (its files door,
   * a token for that lease only) into `dir`. Says clearly when that host is gone: start without
   * the checkpoint then.
   */
  async fetchCheckpoint(id: string, dir: string): Promise<CopyProgress> {
    const old = await this.resumable(id);
    if (old.status !== 'closed')
      throw new AethirError(
        'CONFLICT',
        `lease ${old.id} is ${old.status}: its checkpoint moves to another host once it has ended (stop it, or wait for its preemption's notice to end)`,
      );
    const host = await this.api.containerView(old.container);
    const gone = (why: string) =>
      new AethirError(
        'UNAVAILABLE',
        `lease ${old.id}'s checkpoint is kept on ${host?.name ?? old.container}, which ${why}: start it again without the checkpoint (--no-checkpoint)`,
      );
    if (!host || !host.serving) throw gone(host ? `is ${host.status}` : 'is gone');
    const token = await this.token(old.id, { ttlMs: 600_000, scope: ['files'] });
    try {
      return await downloadFromLease(
        { api: this.api.base, lease: old.id, token },
        { remotePath: '.', localPath: dir },
      );
    } catch (e) {
      if (isAethirError(e) && (e.code === 'UNAVAILABLE' || e.code === 'NOT_FOUND'))
        throw gone(`does not serve it (${e.message})`);
      if (isAethirError(e) && e.code === 'CONFLICT') throw gone(`no longer keeps it (${e.message})`);
      throw e;
    }
  }

  /**
   * Copies a checkpoint brought by `fetchCheckpoint` into a just-opened lease that resumes it on
   * another host (its host waits for it before the command starts; until its door is open, this
   * tries again for up to `waitMs`).
   */
  async sendCheckpoint(lease: string, dir: string, waitMs = 30_000): Promise<CopyProgress> {
    const token = await this.token(lease, { ttlMs: 600_000, scope: ['files'] });
    const until = Date.now() + waitMs;
    for (;;) {
      try {
        return await uploadToLease({ api: this.api.base, lease, token }, { localPath: dir, remotePath: '.' });
      } catch (e) {
        const early =
          isAethirError(e) && (e.code === 'NOT_FOUND' || e.code === 'CONFLICT' || e.code === 'UNAVAILABLE');
        if (!early || Date.now() > until) throw e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
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
    // its whole maximum duration, as wall time since it opened: the time it spent paused added
    const receipt = signReceipt(this.key, await this.chainId(), {
      lease: id,
      servedMs: l.maxDurationSec * 1000 + (l.pausedMs ?? 0),
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
    // Open: follow the output to its exit. Closed already: the exit event the node still keeps.
    for await (const e of this.logs(id, {
      follow: l.status !== 'closed',
      ...(opts.signal ? { signal: opts.signal } : {}),
    }))
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
    if (l.status === 'closed') throw new AethirError('CONFLICT', `lease ${id} is already closed`);
    const r = await this.sender.send('lease.close', { lease: id, reason });
    return { lease: id, charged: BigInt(String(r.result.charged)), refund: BigInt(String(r.result.refund)) };
  }

  /**
   * Moves `amount` units of this key's balance into the lease's escrow (`lease.topup`): at most
   * what the rest of its maximum duration can spend. A paused lease resumes: its workload starts
   * again in its kept files; a detached one (paid ahead by `authorize`) is authorized again for
   * its duration, its paused time added.
   */
  async topUp(id: string, amount: bigint): Promise<TopUpResult> {
    const l = await this.lease(id);
    if (l.status === 'closed') throw new AethirError('CONFLICT', `lease ${id} is closed`);
    const r = await this.sender.send('lease.topup', { lease: id, amount });
    const resumed = r.result.resumed === true;
    // a lease paid ahead for its whole duration: the time it was paused needs acknowledging too
    if (resumed && l.receiptServedMs >= l.maxDurationSec * 1000) await this.authorize(id);
    return { lease: id, amount, escrow: BigInt(String(r.result.escrow)), resumed };
  }

  /** What the lease's escrow still pays for, as its node sees it now (null: a closed lease). */
  async funds(id: string): Promise<LeaseFunds | null> {
    return (await this.lease(id)).funds ?? null;
  }

  /**
   * Watches a lease's escrow until it closes (or `signal` aborts): tells `onEvent` when it runs
   * low, is paused or resumes, and tops it up from this key's balance, up to `upTo` units in all
   * (0: only warn), when it runs low or is paused, `step` at a time (default: what its escrow
   * held when watching began). Resolves with what it moved in.
   */
  async keepFunded(
    id: string,
    opts: {
      upTo?: bigint;
      step?: bigint;
      signal?: AbortSignal;
      pollMs?: number;
      onEvent?: (e: FundsEvent) => void;
    } = {},
  ): Promise<bigint> {
    const say = opts.onEvent ?? (() => {});
    let spent = 0n;
    let warnedAt: string | null = null;
    let wasPaused = false;
    let step = opts.step;
    const poll = opts.pollMs ?? 2_000;
    while (!opts.signal?.aborted) {
      const l = await this.lease(id);
      if (l.status === 'closed') return spent;
      step ??= BigInt(l.escrow);
      const funds = l.funds;
      const paused = l.status === 'paused';
      if (paused && !wasPaused) say({ type: 'paused', lease: id, ...(funds ? { funds } : {}) });
      if (!paused && wasPaused) say({ type: 'resumed', lease: id });
      wasPaused = paused;
      const rate = BigInt(l.pricePerHour) * BigInt(Math.max(1, l.gpus));
      // top up when paused, or when less is left than one step buys (or than a few polls last)
      const stepMs = rate > 0n ? Number((step * 3_600_000n) / rate) : Infinity;
      const due = paused || (funds?.low === true && (funds.msLeft ?? 0) <= Math.max(stepMs, 3 * poll));
      if (funds?.low && !due && warnedAt !== l.escrow && (opts.upTo ?? 0n) - spent <= 0n) {
        say({ type: 'low', lease: id, funds });
        warnedAt = l.escrow;
      }
      if (due && warnedAt !== l.escrow) {
        const left = (opts.upTo ?? 0n) - spent;
        const room =
          (BigInt(l.pricePerHour) * BigInt(Math.max(1, l.gpus)) * BigInt(l.maxDurationSec) * 1000n) /
            3_600_000n -
          BigInt(l.escrow);
        const amount = [step > 0n ? step : 1n, left, room].reduce((a, b) => (b < a ? b : a));
        if (amount > 0n) {
          try {
            const r = await this.topUp(id, amount);
            spent += amount;
            say({ type: 'topped-up', lease: id, amount, escrow: r.escrow, resumed: r.resumed });
            if (r.resumed) wasPaused = false;
            await sleep(poll);
            continue;
          } catch (e) {
            say({ type: 'error', lease: id, message: (e as Error).message });
          }
        }
        if (!paused && funds) say({ type: 'low', lease: id, funds });
        warnedAt = l.escrow;
      }
      await sleep(poll);
    }
    return spent;
  }

  /** This key's leases, newest first. */
  leases(filter: { status?: 'open' | 'paused' | 'closed'; limit?: number } = {}): Promise<LeaseView[]> {
    return this.api.leases({ user: this.key.address, ...filter });
  }
}

/** lease.open's deposit for part of the duration, and the container's top-up allowance with it. */
function fundingTerms(o: OpenOptions): { depositSec?: number; topUpLimit?: bigint } {
  if (o.depositSec === undefined || o.depositSec >= o.maxDurationSec) {
    if (o.topUpLimit !== undefined)
      throw new AethirError(
        'INVALID_ARGUMENT',
        'a top-up allowance goes with a deposit for part of the duration',
      );
    return {};
  }
  return { depositSec: o.depositSec, ...(o.topUpLimit !== undefined ? { topUpLimit: o.topUpLimit } : {}) };
}
