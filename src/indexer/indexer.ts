import type { Clock, Rng } from '../core/clock.js';
import { AethirError } from '../core/errors.js';
import type { Container, Lease } from '../ledger/model.js';
import { IndexStore } from './index-store.js';
import { firstReason } from './reference.js';
import {
  better,
  costOf,
  imageCost,
  noMatchError,
  normalizeRequest,
  priceAthOf,
  scoreOf,
  type MatchRequest,
  type NormalizedRequest,
  type Score,
} from './request.js';

export interface Reservation {
  id: string;
  container: string;
  user: string;
  gpus: number;
  expiresAt: number;
}

export interface MatchResult {
  container: Container;
  reservation: Reservation;
  /** the strategy's cost and its parts */
  score: Score;
  /**
   * containers with the hardware and the free GPUs asked for, in the region asked for: counted
   * per group, without visiting them (latency, budget, app, stake and reputation not applied)
   */
  candidates: number;
  /**
   * no container had the GPUs free: the lease opened on this one preempts interruptible leases
   * that bid less than it pays (their workloads get the network's notice, and it starts when
   * the notice ends); absent: truly free GPUs
   */
  preemptsInterruptible?: true;
}

/** An open interruptible lease as the index counts it: GPUs a request paying more than `bid` may take. */
interface Interruptible {
  container: string;
  gpus: number;
  bid: bigint;
}

/** One container a request could get now, as `offers` lists it. */
export interface Offer {
  container: Container;
  score: Score;
  /** GPUs free on it now (reservations of other users taken out) */
  gpusFree: number;
}

/** Most offers one request lists. */
export const MAX_OFFERS = 200;

/** A match that reserved nothing (`find`: browsing, an unsigned request). */
export type MatchPreview = Omit<MatchResult, 'reservation'> & { reservation: null };

/** What a reservation of `gpus` on a container at `pricePerHour` locks for `ttlMs` (as lease.open would). */
export function reservationCost(pricePerHour: bigint, gpus: number, ttlMs: number): bigint {
  return (pricePerHour * BigInt(Math.max(1, gpus)) * BigInt(ttlMs)) / 3_600_000n;
}

export interface IndexerDeps {
  clock: Clock;
  rng: Rng;
  /**
   * the stake a container must hold now (K table × staking coefficient); must depend only on the
   * container's GPU models and network-wide parameters (it is computed once per hardware profile)
   */
  requiredStake: (c: Container) => bigint;
  /**
   * a value that changes whenever `requiredStake` may answer differently (parameters version,
   * staking coefficient); without it requirements are recomputed on every match
   */
  stakeVersion?: () => unknown;
  /** 0..1; default 1 for every container (the checker issue measures it) */
  reputation?: (c: Container) => number;
  /**
   * apps installed on a container, besides those it reports ready in its heartbeats (see
   * `heartbeat`); default none: the ledger does not record which containers have which apps, so a
   * request naming an app no container reports matches nothing and says so ("app not installed")
   */
  appsOf?: (c: Container) => readonly string[];
  reservationTtlMs: number;
  offlineAfterMs: number;
  /** reservations one account may hold at once (default: no limit) */
  maxReservationsPerAccount?: number;
  /**
   * the account's escrow now; with it, a reservation is made only if the account's escrow covers
   * what its open reservations and this one would lock for their TTL (`reservationCost`)
   */
  escrowOf?: (user: string) => bigint;
  /** signed requests whose answers are remembered at most (default MAX_REQUEST_KEYS) */
  maxRequestKeys?: number;
}

/**
 * A signed match request's identity (the signature: the same bytes are the same request) and
 * until when it can be presented again (its signing time plus the window the node accepts).
 */
export interface RequestKey {
  key: string;
  until: number;
}

/** At most this many request keys are remembered (the oldest is forgotten first). */
export const MAX_REQUEST_KEYS = 100_000;

interface Held extends Reservation {
  slot: number;
  /** what it would lock for its TTL */
  cost: bigint;
}

/**
 * Matches requests to containers. The index follows the ledger (container records: `upsert`)
 * and the bus (heartbeats with free GPUs: `heartbeat`) incrementally; see index-store.ts for its
 * structure. A match holds a reservation for `reservationTtlMs`: the reserved GPUs are taken out
 * of the container's free GPUs in the index at once, so no two requests are given the same free
 * GPU; the ledger re-checks capacity when the lease opens, so a reservation is an optimisation,
 * never the only guard. With several indexers (each with its own reservations), the ordered log
 * decides: `lease.open` is applied in log order against the ledger's free GPUs, so of two users
 * sent to the same last GPU exactly one gets it, the other is told CAPACITY_EXHAUSTED and
 * re-matches (test/unit/indexer/multi-indexer.test.ts).
 */
export class Indexer {
  private readonly store: IndexStore;
  private readonly held = new Map<string, Held>();
  private readonly heldBySlot = new Map<number, Held[]>();
  /** open reservations per account (an account appears only while it holds one) */
  private readonly heldByUser = new Map<string, Held[]>();
  /** min-heap of reservations by expiry (released ones are skipped when they surface) */
  private readonly expiries: Held[] = [];
  /** the answer given to each signed request still presentable, by request key (insertion order) */
  private readonly answered = new Map<string, { result: MatchResult; until: number }>();
  /** open interruptible leases (not preempted), by id, and by container */
  private readonly interruptible = new Map<string, Interruptible>();
  private readonly interruptibleOn = new Map<string, Map<string, Interruptible>>();

  constructor(private readonly deps: IndexerDeps) {
    this.store = new IndexStore({
      offlineAfterMs: deps.offlineAfterMs,
      requiredStake: deps.requiredStake,
      ...(deps.stakeVersion ? { stakeVersion: deps.stakeVersion } : {}),
      reputation: deps.reputation ?? (() => 1),
      appsOf: deps.appsOf ?? (() => []),
    });
  }

  /**
   * A lease as the ledger holds it now (opened, preempted, closed). An open interruptible one not
   * yet preempted holds GPUs the index counts as taken, but offers to a request that would pay
   * more than its bid when no container has enough truly free (see `search`); any other state
   * forgets it.
   */
  lease(
    l: Pick<Lease, 'id' | 'container' | 'gpus' | 'pricePerHour' | 'status' | 'interruptible' | 'preemptedAt'>,
  ): void {
    const was = this.interruptible.get(l.id);
    if (was) {
      const on = this.interruptibleOn.get(was.container)!;
      on.delete(l.id);
      if (on.size === 0) this.interruptibleOn.delete(was.container);
      this.interruptible.delete(l.id);
    }
    if (l.status !== 'open' || l.interruptible !== true || l.preemptedAt !== undefined || l.gpus <= 0) return;
    const x: Interruptible = { container: l.container, gpus: l.gpus, bid: l.pricePerHour };
    this.interruptible.set(l.id, x);
    const on = this.interruptibleOn.get(l.container);
    if (on) on.set(l.id, x);
    else this.interruptibleOn.set(l.container, new Map([[l.id, x]]));
  }

  /** A container record as the ledger holds it now (registration, stake, status, leases...). */
  upsert(c: Container): void {
    this.store.upsert(c, this.deps.clock.now());
  }

  /**
   * A heartbeat from the bus; `freeGpus` as the container reports them (never more than the
   * ledger's); `apps`: the apps it reports ready (absent: none), matched on top of `appsOf`.
   */
  heartbeat(
    id: string,
    at: number,
    freeGpus?: number,
    apps?: readonly string[],
    docker?: { images: readonly string[] },
  ): void {
    this.store.heartbeat(id, at, freeGpus, this.deps.clock.now(), apps, docker);
  }

  /** A heartbeat message as containers send it (src/container/subjects.ts HeartbeatMsg). */
  heartbeatMsg(hb: {
    container: string;
    at: number;
    freeGpus?: number;
    apps?: string[];
    runtime?: string;
    images?: string[];
  }): void {
    const images = Array.isArray(hb.images)
      ? hb.images.filter((i) => typeof i === 'string').slice(0, 64)
      : [];
    this.heartbeat(
      hb.container,
      hb.at,
      hb.freeGpus,
      hb.apps,
      hb.runtime === 'docker' ? { images } : undefined,
    );
  }

  /** Many upserts and heartbeats at once (a rebuild): buckets are sorted once at the end. */
  bulk(fn: () => void): void {
    this.store.bulk(fn);
  }

  /** A lease opened: the user's reservation on that container is used up. */
  consume(user: string, container: string): void {
    const slot = this.store.slot(container);
    if (slot === undefined) return;
    const r = this.heldBySlot.get(slot)?.find((h) => h.user === user);
    if (r) this.drop(r);
  }

  release(reservationId: string): boolean {
    const r = this.held.get(reservationId);
    if (!r) return false;
    this.drop(r);
    return true;
  }

  size(): number {
    return this.store.size();
  }

  /** The container records the index holds, by id: what `upsert` gave it last for each. */
  records(): Map<string, Container> {
    return new Map(this.store.ids.map((id, slot) => [id, this.store.objs[slot]!]));
  }

  stats(): ReturnType<IndexStore['stats']> & { reservations: number } {
    return { ...this.store.stats(), reservations: this.held.size };
  }

  /** @internal for tests: the index's own consistency checks, as of now */
  checkInvariants(): void {
    const now = this.deps.clock.now();
    this.expire(now);
    this.store.advance(now);
    this.store.checkInvariants(now);
    for (const [slot, list] of this.heldBySlot) {
      const sum = list.reduce((a, r) => a + r.gpus, 0);
      if (this.store.reservedOf(slot) !== Math.min(255, sum))
        throw new Error(`slot ${slot}: reserved out of step`);
    }
  }

  /**
   * Finds the best container for `req` and reserves the GPUs asked for, for the account
   * `req.user`, for `reservationTtlMs`; refuses (RATE_LIMITED) an account that already holds
   * `maxReservationsPerAccount`, and (INSUFFICIENT_FUNDS) one whose escrow does not cover what its
   * reservations would lock. The caller has checked that `req.user` asked (a signed request).
   * `requestKey`: the request's signature; asked again with the same key until `until`, it answers
   * what it answered the first time (the same reservation), reserving nothing more. Each indexer
   * remembers its own answers: a gateway's retry that reaches another indexer of the queue group
   * is held there too (one reservation per indexer at most, for its TTL; the ordered log still
   * gives each GPU to one lease).
   */
  match(req: MatchRequest, requestKey?: RequestKey): MatchResult {
    const now = this.deps.clock.now();
    this.expire(now);
    if (requestKey) {
      // the same signed request again (a retry after a lost reply, a replay): the same answer,
      // nothing more held; the key is kept while the node would still take its signature
      this.forgetAnswers(now);
      const seen = this.answered.get(requestKey.key);
      if (seen) return seen.result;
      const result = this.reserve(req, now);
      if (this.answered.size >= (this.deps.maxRequestKeys ?? MAX_REQUEST_KEYS))
        this.answered.delete(this.answered.keys().next().value!);
      this.answered.set(requestKey.key, { result, until: requestKey.until });
      return result;
    }
    return this.reserve(req, now);
  }

  private forgetAnswers(now: number): void {
    // insertion order is roughly signing order: stop at the first key still presentable (a lapsed
    // one behind it goes on a later call, or to the cap)
    for (const [key, a] of this.answered) {
      if (a.until > now) break;
      this.answered.delete(key);
    }
  }

  private reserve(req: MatchRequest, now: number): MatchResult {
    const mine = this.heldByUser.get(req.user) ?? [];
    const most = this.deps.maxReservationsPerAccount ?? Infinity;
    if (mine.length >= most)
      throw new AethirError(
        'RATE_LIMITED',
        `account ${req.user} already holds ${mine.length} open reservations (the most is ${most}): open a lease with one, or wait until one expires (${Math.max(0, Math.min(...mine.map((r) => r.expiresAt)) - now)} ms)`,
      );
    const found = this.search(req, now);
    const c = found.container;
    const cost = reservationCost(c.pricePerHour, req.gpus, this.deps.reservationTtlMs);
    if (this.deps.escrowOf) {
      const escrow = this.deps.escrowOf(req.user);
      const held = mine.reduce((a, r) => a + r.cost, 0n);
      if (escrow < held + cost)
        throw new AethirError(
          'INSUFFICIENT_FUNDS',
          `reserving ${c.id} for ${this.deps.reservationTtlMs} ms locks ${cost} units${held ? ` (${held} more for the account's open reservations)` : ''}; the account's escrow holds ${escrow}: deposit into escrow (aethir escrow deposit), or match without signing to browse`,
          { details: { needed: (held + cost).toString(), escrow: escrow.toString() } },
        );
    }
    const reservation: Held = {
      id: `R${this.hex8()}${this.hex8()}`,
      container: c.id,
      user: req.user,
      gpus: req.gpus,
      expiresAt: now + this.deps.reservationTtlMs,
      slot: found.slot,
      cost,
    };
    this.hold(reservation, now);
    const { slot: _slot, cost: _cost, ...pub } = reservation;
    return { ...found.result, reservation: pub };
  }

  /** The container `match` would give `req` now, reserving nothing (browsing). */
  find(req: MatchRequest): MatchPreview {
    return { ...this.search(req, this.deps.clock.now()).result, reservation: null };
  }

  private search(
    req: MatchRequest,
    now: number,
  ): { slot: number; container: Container; result: Omit<MatchResult, 'reservation'> } {
    const q = normalizeRequest(req);
    this.expire(now);
    this.store.advance(now);
    this.store.beginMatch();
    const Q = this.store.prepare(q);
    const found = this.store.search(Q);
    if (found.slot < 0) {
      // Preemption is the last resort: only when no container has the GPUs truly free.
      const p = this.preempting(q, now);
      if (p) return p;
      const ruledOut = this.store.explain(Q);
      const relaxations = this.size() ? this.store.relaxations(q) : [];
      throw noMatchError(this.size(), ruledOut, relaxations);
    }
    const slot = found.slot;
    const c = this.store.objs[slot]!;
    return {
      slot,
      container: c,
      result: {
        container: c,
        score: scoreOf(q, c, found.latencyMs, this.store.reputationOf(slot), this.store.imagesOf(slot)),
        candidates: this.store.candidates(Q),
      },
    };
  }

  /**
   * The best container (by the strategy's cost, as `search`) that would have the GPUs free if
   * the request preempted the interruptible leases there bidding less than it would pay: the
   * container's on-demand price, or the request's bid (a bid above the price is refused by the
   * ledger, so such a container is not offered). Free here: min(ledger, heartbeat) + those
   * leases' GPUs − the index's reservations, so a reservation made on preemptible GPUs keeps
   * them from the next request as truly free ones are kept. Every other constraint is the plain
   * matcher's (reference.ts `firstReason`). Looks only at containers with such leases.
   */
  private preempting(
    q: NormalizedRequest,
    now: number,
  ): { slot: number; container: Container; result: Omit<MatchResult, 'reservation'> } | null {
    if (q.gpus === 0 || this.interruptibleOn.size === 0) return null;
    const ctx = { now, offlineAfterMs: this.deps.offlineAfterMs, requiredStake: this.deps.requiredStake };
    let best: { slot: number; cost: number; latencyMs: number | null } | null = null;
    for (const [id, leases] of this.interruptibleOn) {
      const slot = this.store.slot(id);
      if (slot === undefined) continue;
      const c = this.store.objs[slot]!;
      const pays = q.bid ?? c.pricePerHour;
      if (pays > c.pricePerHour) continue;
      let gpus = 0;
      for (const l of leases.values()) if (l.bid < pays) gpus += l.gpus;
      if (gpus === 0) continue;
      const e = this.store.entryWith(slot, gpus);
      const latencyMs = q.point !== null ? this.store.latencyFrom(q.point, slot) : null;
      if (firstReason(e, q, ctx, latencyMs) !== null) continue;
      const cost =
        costOf(
          q.weights,
          priceAthOf(c.pricePerHour),
          latencyMs ?? 0,
          c.qualityTier,
          q.refPriceAth,
          q.refLatencyMs,
        ) + imageCost(q, e.images);
      const b = best && this.store.objs[best.slot]!;
      if (!best || better(cost, c.pricePerHour, c.id, best.cost, b!.pricePerHour, b!.id))
        best = { slot, cost, latencyMs };
    }
    if (!best) return null;
    const c = this.store.objs[best.slot]!;
    return {
      slot: best.slot,
      container: c,
      result: {
        container: c,
        score: scoreOf(
          q,
          c,
          best.latencyMs,
          this.store.reputationOf(best.slot),
          this.store.imagesOf(best.slot),
        ),
        // the containers with the GPUs free (none) and this one, which has them by preemption
        candidates: 1,
        preemptsInterruptible: true,
      },
    };
  }

  /**
   * Every container `match` could give this request now, best first by the strategy's order
   * (the first is the one `match` would pick), at most `limit` of them. Reserves nothing: browsing
   * takes no GPU from anyone. When nothing matches, throws as `match` does (why, and the nearest
   * relaxations).
   */
  offers(req: MatchRequest, limit = 20): { offers: Offer[]; total: number } {
    const q = normalizeRequest(req);
    const n = Math.max(1, Math.min(MAX_OFFERS, Math.floor(limit)));
    const now = this.deps.clock.now();
    this.expire(now);
    this.store.advance(now);
    this.store.beginMatch();
    const Q = this.store.prepare(q);
    const slots: number[] = [];
    this.store.search(Q, (s) => slots.push(s));
    if (slots.length === 0) {
      const ruledOut = this.store.explain(Q);
      const relaxations = this.size() ? this.store.relaxations(q) : [];
      throw noMatchError(this.size(), ruledOut, relaxations);
    }
    const all = slots.map((s) => {
      const c = this.store.objs[s]!;
      const latencyMs = q.point !== null ? this.store.latencyFrom(q.point, s) : null;
      return {
        container: c,
        score: scoreOf(q, c, latencyMs, this.store.reputationOf(s)),
        gpusFree: this.store.freeOf(s),
      };
    });
    all.sort((a, b) =>
      better(
        a.score.cost,
        a.container.pricePerHour,
        a.container.id,
        b.score.cost,
        b.container.pricePerHour,
        b.container.id,
      )
        ? -1
        : 1,
    );
    return { offers: all.slice(0, n), total: all.length };
  }

  private hex8(): string {
    return this.deps.rng.nextU32().toString(16).padStart(8, '0');
  }

  private hold(r: Held, now: number): void {
    this.held.set(r.id, r);
    const list = this.heldBySlot.get(r.slot);
    if (list) list.push(r);
    else this.heldBySlot.set(r.slot, [r]);
    const mine = this.heldByUser.get(r.user);
    if (mine) mine.push(r);
    else this.heldByUser.set(r.user, [r]);
    this.store.setReserved(r.slot, this.store.reservedOf(r.slot) + r.gpus, now);
    // push onto the expiry heap
    const h = this.expiries;
    let i = h.push(r) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.expiresAt <= r.expiresAt) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = r;
  }

  private drop(r: Held): void {
    if (!this.held.delete(r.id)) return;
    const list = this.heldBySlot.get(r.slot)!;
    list.splice(list.indexOf(r), 1);
    if (list.length === 0) this.heldBySlot.delete(r.slot);
    const mine = this.heldByUser.get(r.user)!;
    mine.splice(mine.indexOf(r), 1);
    if (mine.length === 0) this.heldByUser.delete(r.user);
    this.store.setReserved(r.slot, this.store.reservedOf(r.slot) - r.gpus, this.deps.clock.now());
  }

  /** Reservations whose time is up (expiresAt ≤ now) free their GPUs. */
  private expire(now: number): void {
    const h = this.expiries;
    while (h.length && h[0]!.expiresAt <= now) {
      const top = h[0]!;
      const last = h.pop()!;
      if (h.length) {
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          if (l >= h.length) break;
          const rr = l + 1;
          const c = rr < h.length && h[rr]!.expiresAt < h[l]!.expiresAt ? rr : l;
          if (h[c]!.expiresAt >= last.expiresAt) break;
          h[i] = h[c]!;
          i = c;
        }
        h[i] = last;
      }
      this.drop(top);
    }
  }
}
