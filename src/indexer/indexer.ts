import { AethirError, type Clock, type Rng } from '../core/index.js';
import type { Container } from '../ledger/index.js';

export type Strategy = 'lowest-fee' | 'best-experience' | 'balanced';

export interface MatchRequest {
  gpus: number;
  /** case-insensitive substring of the GPU model, e.g. "4090" or "H100" */
  gpuModel?: string;
  /** region prefix, e.g. "eu" or "eu-west" */
  region?: string;
  maxPricePerHour?: bigint;
  strategy?: Strategy;
  /** who asks: reservations are held for this account */
  user: string;
}

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
  score: { pricePerHour: bigint; strategy: Strategy };
  candidates: number;
}

export interface IndexerDeps {
  clock: Clock;
  rng: Rng;
  /** the stake a container must hold now (K table × staking coefficient) */
  requiredStake: (c: Container) => bigint;
  reservationTtlMs: number;
  offlineAfterMs: number;
}

interface Entry {
  c: Container;
  lastHeartbeat: number | null;
}

/**
 * Matches requests to containers. The index follows the ledger (container records) and the
 * bus (heartbeats) incrementally; a match holds a short reservation so two concurrent
 * requests are never offered the same free GPUs. The ledger re-checks capacity when the
 * lease opens, so a reservation is an optimisation, never the only guard.
 */
export class Indexer {
  private readonly entries = new Map<string, Entry>();
  private readonly reservations = new Map<string, Reservation>();

  constructor(private readonly deps: IndexerDeps) {}

  upsert(c: Container): void {
    const e = this.entries.get(c.id);
    this.entries.set(c.id, { c, lastHeartbeat: e?.lastHeartbeat ?? null });
  }

  heartbeat(id: string, at: number): void {
    const e = this.entries.get(id);
    if (e) e.lastHeartbeat = Math.max(e.lastHeartbeat ?? 0, at);
  }

  /** A lease opened: the user's reservation on that container is used up. */
  consume(user: string, container: string): void {
    for (const [id, r] of this.reservations) {
      if (r.user === user && r.container === container) {
        this.reservations.delete(id);
        return;
      }
    }
  }

  release(reservationId: string): boolean {
    return this.reservations.delete(reservationId);
  }

  size(): number {
    return this.entries.size;
  }

  private reservedGpus(container: string, now: number): number {
    let n = 0;
    for (const [id, r] of this.reservations) {
      if (r.expiresAt <= now) this.reservations.delete(id);
      else if (r.container === container) n += r.gpus;
    }
    return n;
  }

  match(req: MatchRequest): MatchResult {
    if (!Number.isInteger(req.gpus) || req.gpus < 0 || req.gpus > 64)
      throw new AethirError('INVALID_ARGUMENT', 'gpus must be an integer from 0 to 64');
    const now = this.deps.clock.now();
    const strategy = req.strategy ?? 'lowest-fee';
    const ruledOut: Record<string, number> = {};
    const out = (why: string) => {
      ruledOut[why] = (ruledOut[why] ?? 0) + 1;
    };
    const model = req.gpuModel?.toLowerCase();
    const eligible: Entry[] = [];
    for (const e of this.entries.values()) {
      const c = e.c;
      if (
        c.status !== 'online' ||
        e.lastHeartbeat === null ||
        now - e.lastHeartbeat > this.deps.offlineAfterMs
      ) {
        out('offline');
        continue;
      }
      if (c.suspended) {
        out('suspended');
        continue;
      }
      if (c.unbonding > 0n) {
        out('unbonding');
        continue;
      }
      if (c.stake < this.deps.requiredStake(c)) {
        out('stake below requirement');
        continue;
      }
      if (req.region && !c.location.region.startsWith(req.region)) {
        out('region');
        continue;
      }
      if (model && (c.gpusTotal === 0 || !c.spec.gpus.every((g) => g.model.toLowerCase().includes(model)))) {
        out('gpu model');
        continue;
      }
      if (c.gpusTotal < req.gpus) {
        out('not enough GPUs');
        continue;
      }
      if (req.maxPricePerHour !== undefined && c.pricePerHour > req.maxPricePerHour) {
        out('price above budget');
        continue;
      }
      if (c.gpusTotal - c.gpusLeased - this.reservedGpus(c.id, now) < req.gpus) {
        out('GPUs busy');
        continue;
      }
      eligible.push(e);
    }
    if (eligible.length === 0) {
      const parts = Object.entries(ruledOut).map(([k, v]) => `${v} ${k}`);
      throw new AethirError(
        'NO_MATCH',
        this.entries.size === 0
          ? 'no containers have joined the network yet'
          : `no container matches: of ${this.entries.size}, ruled out: ${parts.join(', ')}`,
        { details: { containers: this.entries.size, ruledOut } },
      );
    }
    // lowest-fee: cheapest first. best-experience and balanced need latency and quality
    // (indexer issue); until then they prefer real, probed hosts and spread load.
    const rank = (e: Entry): [bigint, number] => [
      e.c.pricePerHour,
      strategy === 'lowest-fee' ? 0 : e.c.openLeases + (e.c.spec.source === 'probed' ? 0 : 1),
    ];
    eligible.sort((a, b) => {
      const [pa, la] = rank(a);
      const [pb, lb] = rank(b);
      if (strategy !== 'lowest-fee' && la !== lb) return la - lb;
      return pa < pb ? -1 : pa > pb ? 1 : la - lb || (a.c.id < b.c.id ? -1 : 1);
    });
    const best = eligible[0]!.c;
    const reservation: Reservation = {
      id: `R${this.deps.rng.nextU32().toString(16).padStart(8, '0')}${this.deps.rng.nextU32().toString(16).padStart(8, '0')}`,
      container: best.id,
      user: req.user,
      gpus: req.gpus,
      expiresAt: now + this.deps.reservationTtlMs,
    };
    this.reservations.set(reservation.id, reservation);
    return {
      container: best,
      reservation,
      score: { pricePerHour: best.pricePerHour, strategy },
      candidates: eligible.length,
    };
  }
}
