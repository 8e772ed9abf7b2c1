import { type Clock, type Rng } from '../core/index.js';
import type { Container } from '../ledger/index.js';
import { IndexStore } from './index-store.js';
import { better, noMatchError, normalizeRequest, scoreOf, type MatchRequest, type Score } from './request.js';

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
}

interface Held extends Reservation {
  slot: number;
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
  /** min-heap of reservations by expiry (released ones are skipped when they surface) */
  private readonly expiries: Held[] = [];

  constructor(private readonly deps: IndexerDeps) {
    this.store = new IndexStore({
      offlineAfterMs: deps.offlineAfterMs,
      requiredStake: deps.requiredStake,
      ...(deps.stakeVersion ? { stakeVersion: deps.stakeVersion } : {}),
      reputation: deps.reputation ?? (() => 1),
      appsOf: deps.appsOf ?? (() => []),
    });
  }

  /** A container record as the ledger holds it now (registration, stake, status, leases...). */
  upsert(c: Container): void {
    this.store.upsert(c, this.deps.clock.now());
  }

  /**
   * A heartbeat from the bus; `freeGpus` as the container reports them (never more than the
   * ledger's); `apps`: the apps it reports ready (absent: none), matched on top of `appsOf`.
   */
  heartbeat(id: string, at: number, freeGpus?: number, apps?: readonly string[]): void {
    this.store.heartbeat(id, at, freeGpus, this.deps.clock.now(), apps);
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

  match(req: MatchRequest): MatchResult {
    const q = normalizeRequest(req);
    const now = this.deps.clock.now();
    this.expire(now);
    this.store.advance(now);
    this.store.beginMatch();
    const Q = this.store.prepare(q);
    const found = this.store.search(Q);
    if (found.slot < 0) {
      const ruledOut = this.store.explain(Q);
      const relaxations = this.size() ? this.store.relaxations(q) : [];
      throw noMatchError(this.size(), ruledOut, relaxations);
    }
    const slot = found.slot;
    const candidates = this.store.candidates(Q);
    const c = this.store.objs[slot]!;
    const reservation: Held = {
      id: `R${this.hex8()}${this.hex8()}`,
      container: c.id,
      user: req.user,
      gpus: req.gpus,
      expiresAt: now + this.deps.reservationTtlMs,
      slot,
    };
    this.hold(reservation, now);
    const { slot: _slot, ...pub } = reservation;
    return {
      container: c,
      reservation: pub,
      score: scoreOf(q, c, found.latencyMs, this.store.reputationOf(slot)),
      candidates,
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
