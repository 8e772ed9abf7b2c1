import type { Clock } from '../core/clock.js';
import type { Container } from '../ledger/model.js';

export interface LivenessReport {
  container: string;
  online: boolean;
  observedAt: number;
}

export interface CheckerDeps {
  /** this checker's address */
  address: string;
  clock: Clock;
  offlineAfterMs: number;
  /** how often a checker re-confirms an unchanged verdict on the log */
  reconfirmMs: number;
}

/**
 * Liveness checking from heartbeats. A checker keeps the last heartbeat it saw from each
 * container; on every tick it decides online/offline and emits a signed report when its
 * verdict differs from the one it last put on the log (or when that one is stale). The
 * ledger turns the checkers' majority into the container's status.
 */
export class LivenessChecker {
  private readonly lastSeen = new Map<string, number>();
  /** the verdict this checker last put on the log, per container */
  private readonly reported = new Map<string, { online: boolean; at: number }>();
  /** when this checker first saw each container it has not heard from yet */
  private readonly firstSeen = new Map<string, number>();
  private readonly since: number;

  constructor(private readonly deps: CheckerDeps) {
    this.since = deps.clock.now();
  }

  get address(): string {
    return this.deps.address;
  }

  heartbeat(container: string, at: number): void {
    // A heartbeat is stamped on receipt by the checker's clock: the container's own clock
    // is not trusted.
    void at;
    this.lastSeen.set(container, this.deps.clock.now());
  }

  /** Drops what this checker kept of a container that left the network. */
  forget(container: string): void {
    this.lastSeen.delete(container);
    this.reported.delete(container);
    this.firstSeen.delete(container);
  }

  /** The report was accepted on the log: it is this checker's standing verdict. */
  reportedOk(r: LivenessReport): void {
    this.reported.set(r.container, { online: r.online, at: r.observedAt });
  }

  /** Reports this checker should sign now for these containers. */
  tick(containers: Iterable<Pick<Container, 'id'>>): LivenessReport[] {
    const now = this.deps.clock.now();
    const out: LivenessReport[] = [];
    for (const c of containers) {
      const seen = this.lastSeen.get(c.id);
      if (seen === undefined) {
        // Never heard: silence means nothing until this checker has listened for as long as it
        // takes to call a container offline (since it started, and since the container appeared).
        // Otherwise a checker that just started, or that applied a registration before the
        // container's first heartbeat reached it, would vote an honest container offline, be
        // outvoted, and be penalised for it.
        let first = this.firstSeen.get(c.id);
        if (first === undefined) this.firstSeen.set(c.id, (first = now));
        if (now - Math.max(first, this.since) <= this.deps.offlineAfterMs) continue;
      }
      const online = seen !== undefined && now - seen <= this.deps.offlineAfterMs;
      const mine = this.reported.get(c.id);
      if (!mine || mine.online !== online || now - mine.at >= this.deps.reconfirmMs)
        out.push({ container: c.id, online, observedAt: now });
    }
    return out;
  }
}
