import { AethirError, ErrorCodes, type ErrorCode } from '../core/errors.js';
import type { KeyPair } from '../core/keys.js';
import { SIGNATURE_HEADER, signRequest } from '../core/signed-request.js';
import type { PublishedApp } from '../ledger/app.js';
import type { Block } from '../ledger/block.js';
import { paramsFromWire } from '../ledger/genesis.js';
import type { Account, Container, Incident, Lease, Reservation, VestingEntry } from '../ledger/model.js';
import type { ReputationView } from '../ledger/modules/checks/queries.js';
import type { LeaseFunds } from '../ledger/modules/leases/queries.js';
import type { Volume } from '../ledger/modules/volumes/queries.js';
import { requiredStake, type Params } from '../ledger/params.js';
import type { SignedReceipt } from '../ledger/receipt.js';
import type { SignedTx } from '../ledger/tx.js';
import type { NetworkClient, SubmitResult } from './network.js';
import type { MatchRequestInput } from '../indexer/request.js';

export interface ContainerView extends Omit<
  Container,
  | 'pricePerHour'
  | 'stake'
  | 'earned'
  | 'unbonding'
  | 'slashed'
  | 'incidents'
  | 'volumeOffer'
  | 'reservedPricePerHour'
> {
  /** the persistent volumes it offers: price per GiB-hour (units, decimal string) and space */
  volumeOffer?: { pricePerGiBHour: string; capacityGiB: number };
  /** per GPU-hour for reserved GPUs (units, decimal string); absent: it sells no reserved capacity */
  reservedPricePerHour?: string;
  /** failed checks that slashed it or closed its leases (slashed: units as a decimal string) */
  incidents: Array<Omit<Incident, 'slashed'> & { slashed: string }>;
  /** from its decided checks (Ledger.reputationOf) */
  reputation: ReputationView;
  pricePerHour: string;
  stake: string;
  unbonding: string;
  slashed: string;
  earned: string;
  serving: boolean;
  simulated: boolean;
  gpusFree: number;
  requiredStake: string;
  staked: boolean;
}

/** A reservation as the API shows it (amounts as decimal strings of units). */
export interface ReservationView extends Omit<
  Reservation,
  'pricePerHour' | 'escrow' | 'charged' | 'hostShare' | 'protocolShare'
> {
  pricePerHour: string;
  escrow: string;
  charged: string;
  hostShare: string;
  protocolShare: string;
  /** what one day costs: GPUs × price × 24 */
  dailyPrice: string;
}

export interface LeaseView extends Omit<
  Lease,
  | 'pricePerHour'
  | 'escrow'
  | 'charged'
  | 'hostShare'
  | 'protocolShare'
  | 'workload'
  | 'topUpLimit'
  | 'toppedUpByHost'
> {
  /** what the user allowed its container to top it up with, and what it used (units) */
  topUpLimit?: string;
  toppedUpByHost?: string;
  pricePerHour: string;
  escrow: string;
  charged: string;
  hostShare: string;
  protocolShare: string;
  durationMs: number;
  /** the names of the workload's env (never its values: see workloadView) */
  workload: Omit<Lease['workload'], 'env' | 'sealedEnv'> & { envNames?: string[] };
  /** while the lease runs: the address of its workload's port, through the container's endpoint proxy */
  endpoint: string | null;
  /** open or paused: what its escrow still pays for (a warning when low), by the node's clock */
  funds?: LeaseFunds;
}

export interface StatusView {
  chainId: string;
  height: number;
  root: string;
  blockHash: string;
  time: number;
  containers: { total: number; online: number };
  leases: { open: number; total: number };
  checkers: string[];
  treasury: string;
  params: Record<string, unknown>;
  economics: {
    coefficientBps: number;
    lastEpoch: number;
    nextEpochEnd: number;
    rewardPool: string;
    checkerPool: string;
  };
}

export interface AccountView extends Account {
  address: string;
  vesting: { locked: bigint; claimable: bigint; entries: VestingEntry[] };
}

/** A Merkle proof of one account under a state root, checkable without the database. */
export interface AccountProof {
  address: string;
  height: number;
  root: string;
  key: string;
  /** the account's canonical encoding: the leaf is sha256(0x00 ‖ key ‖ 0x00 ‖ value) */
  value: string;
  leaf: string;
  proof: Array<{ hash: string; side: 'left' | 'right' }>;
}

export interface MatchView {
  container: ContainerView;
  /** null when the request was not signed by its user (a preview: nothing is held) */
  reservation: { id: string; container: string; user: string; gpus: number; expiresAt: number } | null;
  candidates: number;
  /**
   * no container had the GPUs free: a lease on this one preempts interruptible leases that bid
   * less (they get the network's notice; the lease starts when it ends)
   */
  preemptsInterruptible?: boolean;
  /** how the strategy ranked it: lower cost is better; `parts` add up to it (image: the pull it needs) */
  score: {
    strategy: string;
    cost: number;
    parts: { fee: number; latency: number; quality: number; image?: number };
    [k: string]: unknown;
  };
}

export type LogEvent =
  | { lease: string; type: 'stdout' | 'stderr'; data: string; at: number }
  | {
      lease: string;
      type: 'exit';
      exitCode: number | null;
      signal: string | null;
      reason: string;
      at: number;
      message?: string;
    };

/** One offer of GET /v1/offers: a container a request could rent now, and how it ranks. */
export interface OfferView {
  container: ContainerView;
  score: {
    strategy: string;
    cost: number;
    pricePerHour: string;
    latencyMs: number | null;
    qualityTier: number;
    reputation: number;
    parts: { fee: number; latency: number; quality: number };
  };
  /** GPUs free on it now (others' reservations taken out) */
  gpusFree: number;
}

export interface OffersView {
  query: string;
  strategy: string;
  /** the isolation asked (a GPU query without `sandbox=` gets sandbox, as `rent` does) */
  isolation: 'sandbox' | 'any';
  /** how many containers match (the list is the best `limit` of them) */
  total: number;
  offers: OfferView[];
}

/** An app in the list of /v1/apps. */
export interface AppView {
  name: string;
  owner: string;
  latest: string;
  versions: string[];
  createdAt: number;
  updatedAt: number;
  description?: string;
  gpus: number;
}

/** Typed client for the node's HTTP API. Errors come back as AethirError with the server's code. */
export class ApiClient implements NetworkClient {
  readonly base: string;
  /** the time (ms) the last signed match request was signed with */
  private lastSignedAt = 0;
  constructor(
    base: string,
    private readonly timeoutMs = 15_000,
  ) {
    this.base = base.replace(/\/+$/, '');
  }

  private async request<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const timeout = (e as Error).name === 'TimeoutError';
      throw new AethirError(
        timeout ? 'TIMEOUT' : 'UNAVAILABLE',
        timeout
          ? `the node at ${this.base} did not answer within ${this.timeoutMs} ms`
          : `cannot reach the node at ${this.base} (is "aethir devnet" running? set --api or AETHIR_API)`,
        { cause: e },
      );
    }
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new AethirError(
        'UNAVAILABLE',
        `the node at ${this.base} answered ${res.status} with something that is not JSON`,
      );
    }
    if (!res.ok) {
      const err = json?.error ?? {};
      const code: ErrorCode = err.code in ErrorCodes ? err.code : 'INTERNAL';
      throw new AethirError(code, err.message ?? `HTTP ${res.status}`, { details: err.details });
    }
    return json as T;
  }

  status(): Promise<StatusView> {
    return this.request('GET', '/v1/status');
  }
  async chainId(): Promise<string> {
    return (await this.status()).chainId;
  }
  async checkers(): Promise<string[]> {
    return (await this.status()).checkers;
  }
  async params(): Promise<Params> {
    return paramsFromWire((await this.status()).params);
  }
  async requiredStake(gpuModels: string[]): Promise<bigint> {
    const s = await this.status();
    return requiredStake(paramsFromWire(s.params), s.economics.coefficientBps, gpuModels);
  }
  async account(address: string): Promise<AccountView> {
    const a = await this.request<Record<string, any>>('GET', `/v1/accounts/${address}`);
    return {
      address: a.address,
      balance: BigInt(a.balance),
      nonce: a.nonce,
      escrow: BigInt(a.escrow),
      vesting: {
        locked: BigInt(a.vesting.locked),
        claimable: BigInt(a.vesting.claimable),
        entries: (a.vesting.entries as any[]).map((e) => ({ ...e, amount: BigInt(e.amount) })),
      },
    };
  }
  lock(
    address: string,
  ): Promise<{ address: string; amount: string; end: number | null; weight: string; expired: boolean }> {
    return this.request('GET', `/v1/accounts/${address}/lock`);
  }
  dao(): Promise<Record<string, any>> {
    return this.request('GET', '/v1/dao');
  }
  async proposals(limit = 50): Promise<Array<Record<string, any>>> {
    return (
      await this.request<{ proposals: Array<Record<string, any>> }>('GET', `/v1/dao/proposals?limit=${limit}`)
    ).proposals;
  }
  proposal(id: number): Promise<Record<string, any>> {
    return this.request('GET', `/v1/dao/proposals/${id}`);
  }
  /** The chain's genesis (wire form: amounts as decimal strings), to replay its blocks from. */
  genesis(): Promise<Record<string, unknown>> {
    return this.request('GET', '/v1/chain/genesis');
  }
  /** Whole blocks (every transaction), oldest first, from height `from`: what a replay needs. */
  async blocksFrom(from: number, limit: number): Promise<Block[]> {
    return (await this.request<{ blocks: Block[] }>('GET', `/v1/chain/blocks?from=${from}&limit=${limit}`))
      .blocks;
  }
  proof(address: string): Promise<AccountProof> {
    return this.request('GET', `/v1/accounts/${address}/proof`);
  }
  async container(id: string): Promise<Container | undefined> {
    const v = await this.containerView(id);
    if (!v) return undefined;
    const { reservedPricePerHour, ...rest } = v;
    return {
      ...rest,
      ...(reservedPricePerHour !== undefined ? { reservedPricePerHour: BigInt(reservedPricePerHour) } : {}),
      pricePerHour: BigInt(v.pricePerHour),
      stake: BigInt(v.stake),
      unbonding: BigInt(v.unbonding),
      earned: BigInt(v.earned),
      slashed: BigInt(v.slashed),
      incidents: (v.incidents ?? []).map((x) => ({ ...x, slashed: BigInt(x.slashed) })),
      ...(v.volumeOffer
        ? { volumeOffer: { ...v.volumeOffer, pricePerGiBHour: BigInt(v.volumeOffer.pricePerGiBHour) } }
        : { volumeOffer: undefined }),
    };
  }
  async containerView(id: string): Promise<ContainerView | undefined> {
    try {
      return await this.request<ContainerView>('GET', `/v1/containers/${id}`);
    } catch (e) {
      if (e instanceof AethirError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
  }
  async containers(status?: string): Promise<ContainerView[]> {
    return (
      await this.request<{ containers: ContainerView[] }>(
        'GET',
        `/v1/containers?limit=1000${status ? `&status=${status}` : ''}`,
      )
    ).containers;
  }
  async lease(id: string): Promise<Lease | undefined> {
    const v = await this.leaseView(id);
    if (!v) return undefined;
    const { durationMs: _d, topUpLimit: _l, toppedUpByHost: _u, ...rest } = v;
    return {
      ...rest,
      pricePerHour: BigInt(v.pricePerHour),
      escrow: BigInt(v.escrow),
      charged: BigInt(v.charged),
      hostShare: BigInt(v.hostShare),
      protocolShare: BigInt(v.protocolShare),
      ...(v.topUpLimit !== undefined ? { topUpLimit: BigInt(v.topUpLimit) } : {}),
      ...(v.toppedUpByHost !== undefined ? { toppedUpByHost: BigInt(v.toppedUpByHost) } : {}),
    };
  }
  async leaseView(id: string): Promise<LeaseView | undefined> {
    try {
      return await this.request<LeaseView>('GET', `/v1/leases/${id}`);
    } catch (e) {
      if (e instanceof AethirError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
  }
  async leases(
    filter: { user?: string; container?: string; status?: string; limit?: number } = {},
  ): Promise<LeaseView[]> {
    const q = new URLSearchParams({ limit: String(filter.limit ?? 100) });
    for (const k of ['user', 'container', 'status'] as const) if (filter[k]) q.set(k, filter[k]!);
    return (await this.request<{ leases: LeaseView[] }>('GET', `/v1/leases?${q}`)).leases;
  }
  /** Persistent volumes as the API shows them (amounts as decimal strings), newest first. */
  async volumeViews(
    filter: { owner?: string; container?: string; name?: string; status?: string; limit?: number } = {},
  ): Promise<VolumeView[]> {
    const q = new URLSearchParams({ limit: String(filter.limit ?? 1000) });
    for (const k of ['owner', 'container', 'name', 'status'] as const) if (filter[k]) q.set(k, filter[k]!);
    return (await this.request<{ volumes: VolumeView[] }>('GET', `/v1/volumes?${q}`)).volumes;
  }
  async volumeView(id: string): Promise<VolumeView | undefined> {
    try {
      return await this.request<VolumeView>('GET', `/v1/volumes/${encodeURIComponent(id)}`);
    } catch (e) {
      if (e instanceof AethirError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
  }
  async volume(id: string): Promise<Volume | undefined> {
    const v = await this.volumeView(id);
    return v && volumeFromView(v);
  }
  async volumesOn(container: string): Promise<Volume[]> {
    return (await this.volumeViews({ container })).map(volumeFromView);
  }
  /** One reservation (GPUs booked for days), as the API shows it; undefined when there is none. */
  async reservation(id: string): Promise<ReservationView | undefined> {
    try {
      return await this.request<ReservationView>('GET', `/v1/reservations/${encodeURIComponent(id)}`);
    } catch (e) {
      if (e instanceof AethirError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
  }
  async reservations(
    filter: { user?: string; container?: string; status?: string; limit?: number } = {},
  ): Promise<ReservationView[]> {
    const q = new URLSearchParams({ limit: String(filter.limit ?? 100) });
    for (const k of ['user', 'container', 'status'] as const) if (filter[k]) q.set(k, filter[k]!);
    return (await this.request<{ reservations: ReservationView[] }>('GET', `/v1/reservations?${q}`))
      .reservations;
  }
  /** the leases not closed on a container: open and paused (which hold its GPUs until closed) */
  async openLeasesOf(container: string): Promise<string[]> {
    const [open, paused] = await Promise.all([
      this.leases({ container, status: 'open', limit: 1000 }),
      this.leases({ container, status: 'paused', limit: 1000 }),
    ]);
    return [...open, ...paused].map((l) => l.id);
  }
  /** A published app at `version` (default: its latest), with its manifest; undefined when there is none. */
  async app(name: string, version?: string): Promise<PublishedApp | undefined> {
    const q = version === undefined ? '' : `?version=${encodeURIComponent(version)}`;
    try {
      return await this.request<PublishedApp>('GET', `/v1/apps/${encodeURIComponent(name)}${q}`);
    } catch (e) {
      if (e instanceof AethirError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
  }
  /** Every published app, by name: owner, latest version, versions. */
  async apps(): Promise<AppView[]> {
    return (await this.request<{ apps: AppView[] }>('GET', '/v1/apps')).apps;
  }
  submit(tx: SignedTx): Promise<SubmitResult> {
    return this.request('POST', '/v1/transactions', tx);
  }
  /** Hands a usage receipt (signed by the lease's user) to the lease's container, through the node. */
  sendReceipt(r: SignedReceipt): Promise<{ accepted: boolean; lease: string; seq: number }> {
    return this.request('POST', `/v1/leases/${r.lease}/receipts`, r);
  }
  /**
   * Finds a container (POST /v1/match); the request is MatchRequestJson's input. Signed by
   * `req.user`'s key (`signer`), the match also reserves the container for that account;
   * unsigned, it only answers (reservation null).
   */
  match(req: MatchRequestInput, signer?: { key: KeyPair; chainId: string }): Promise<MatchView> {
    const headers: Record<string, string> = {};
    if (signer) {
      // each call its own signing time: the node answers a signature it has seen with its first
      // answer (a retry), so two calls in one millisecond must not sign the same bytes
      const at = (this.lastSignedAt = Math.max(Date.now(), this.lastSignedAt + 1));
      headers[SIGNATURE_HEADER] = signRequest(signer.key, signer.chainId, 'POST', '/v1/match', req, at);
    }
    return this.request('POST', '/v1/match', req, headers);
  }

  /**
   * What a request could rent now, best first (the first is what `match`, and so `rent`, would
   * get), at most `limit`. `query`: the offers query language (`gpu_ram>=24 num_gpus>=2 region=eu
   * price<2`; src/indexer/query.ts). Unsigned; reserves nothing.
   */
  offers(query = '', opts: { strategy?: string; limit?: number } = {}): Promise<OffersView> {
    const q = new URLSearchParams({ q: query });
    if (opts.strategy) q.set('strategy', opts.strategy);
    if (opts.limit !== undefined) q.set('limit', String(opts.limit));
    return this.request('GET', `/v1/offers?${q}`);
  }

  /**
   * The workload's output, from its first byte, until it exits (or the stream ends); with
   * `follow: false`, only what there is so far. `token`: a lease token of the lease's user
   * (signLeaseToken; `aethir lease token`).
   */
  async *logs(
    leaseId: string,
    token: string,
    signal?: AbortSignal,
    opts: { follow?: boolean } = {},
  ): AsyncGenerator<LogEvent> {
    let res: Response;
    try {
      res = await fetch(
        `${this.base}/v1/leases/${leaseId}/logs${opts.follow === false ? '?follow=false' : ''}`,
        {
          headers: { authorization: `Bearer ${token}` },
          ...(signal ? { signal } : {}),
        },
      );
    } catch (e) {
      if (signal?.aborted) return;
      throw new AethirError('UNAVAILABLE', `cannot reach the node at ${this.base}`, { cause: e });
    }
    if (!res.ok || !res.body) {
      const err = ((await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } })
        .error;
      const code: ErrorCode =
        err?.code && err.code in ErrorCodes
          ? (err.code as ErrorCode)
          : res.status === 404
            ? 'NOT_FOUND'
            : 'UNAVAILABLE';
      throw new AethirError(code, err?.message ?? `log stream answered HTTP ${res.status}`);
    }
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim()) yield JSON.parse(line) as LogEvent;
        }
      }
    } catch (e) {
      if (signal?.aborted) return;
      throw new AethirError('UNAVAILABLE', 'the log stream broke off', { cause: e });
    }
  }
}

/** A volume as the API shows it: amounts as decimal strings. */
export interface VolumeView extends Omit<
  Volume,
  'pricePerGiBHour' | 'escrow' | 'charged' | 'hostShare' | 'protocolShare'
> {
  pricePerGiBHour: string;
  escrow: string;
  charged: string;
  hostShare: string;
  protocolShare: string;
}

export function volumeFromView(v: VolumeView): Volume {
  return {
    ...v,
    pricePerGiBHour: BigInt(v.pricePerGiBHour),
    escrow: BigInt(v.escrow),
    charged: BigInt(v.charged),
    hostShare: BigInt(v.hostShare),
    protocolShare: BigInt(v.protocolShare),
  };
}
