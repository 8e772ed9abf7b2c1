/**
 * Quality of service while serving (docs/verification.md, "Quality of service"). Once per QoS
 * period, and at once when a paying user reports the service down, a checker looks at each open
 * lease of a container it is assigned to, with what it has measured itself and what the users
 * signed:
 *  - **Only the checker's own measurement fails a host.** The container reports how many leases it
 *    runs in its heartbeats and in its answers to the checker's direct probes (stamped on receipt
 *    by the checker's clock); running fewer than the ledger has open on it, on two consecutive
 *    looks (one is not enough: a lease that just exited is closed on the log a moment later), is
 *    service stopped while serving. The assigned checkers' majority decides, as for liveness.
 *  - **Users' samples move the score only**, each user weighted by what they have committed to pay
 *    on their leases here (the service their signed receipts acknowledge, at the lease's price,
 *    at most its escrow), capped per user (`userWeightCap`): a thousand throwaway keys weigh what
 *    their escrow weighs, and no receipt, however many users sign it, gets a host slashed.
 * The score is the weighted share of good samples, lowered for slow round trips and for an
 * overloaded host. The ledger turns the majority's median score into the container's quality tier.
 */

export interface QosSample {
  /** when this checker received the receipt that carried the sample (checker's clock) */
  receivedAt: number;
  ok: boolean;
  latencyMs?: number;
}

export interface QosLeaseView {
  id: string;
  /** the lease's user (whose signed receipts carried the samples) */
  user: string;
  openedAt: number;
  /** samples from the user's receipts for this lease, as received */
  samples: readonly QosSample[];
  /**
   * what the user has committed to pay on this lease (base units): the service acknowledged by
   * their latest verified receipt at the lease's price, at most its escrow
   */
  paid: bigint;
}

export interface QosInput {
  now: number;
  /** the QoS period: samples received in the last `windowMs` are judged */
  windowMs: number;
  /** the container's last heartbeat as this checker received it, or null */
  heartbeat: { receivedAt: number; runningLeases: number; load?: number } | null;
  /** a heartbeat older than this says nothing (liveness handles silence) */
  offlineAfterMs: number;
  /** the container's open leases on the ledger */
  leases: readonly QosLeaseView[];
  /** the previous look's shortfall (running < open), from this checker's last call */
  previousShortfall: boolean;
  /** the most one user's samples weigh (base units of what they paid); default QOS_USER_WEIGHT_CAP */
  userWeightCap?: bigint;
}

export interface QosVerdict {
  ok: boolean;
  /** null: no samples to score */
  score: number | null;
  reason: string;
  /** running < open on this look: pass it back as `previousShortfall` next time */
  shortfall: boolean;
}

/** The most one user's samples weigh in a score: 100 ATH of service paid (base units, 18 decimals). */
export const QOS_USER_WEIGHT_CAP = 100n * 10n ** 18n;

/** Round-trip time up to which a sample scores fully; slower ones scale down to a floor. */
export const QOS_GOOD_LATENCY_MS = 50;
const LATENCY_FLOOR = 0.2;
/** load per core above which the host counts as overloaded */
export const QOS_OVERLOAD = 1.5;

const secs = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

/** The verdict on one container's service, or null when there is nothing to judge yet. */
export function judgeQos(input: QosInput): QosVerdict | null {
  const { now, windowMs } = input;
  const cap = input.userWeightCap ?? QOS_USER_WEIGHT_CAP;
  // A lease younger than one period has not had time to show anything.
  const leases = input.leases.filter((l) => now - l.openedAt >= windowMs);
  if (leases.length === 0) return null;
  const hb =
    input.heartbeat && now - input.heartbeat.receivedAt <= input.offlineAfterMs ? input.heartbeat : null;

  // Only leases open for a period count: one opened a moment ago may not have started yet (a
  // sandbox, an image pull), and an honest host must not be failed for its start-up.
  const open = leases.length;
  const shortfall = hb !== null && hb.runningLeases < open;
  if (shortfall && input.previousShortfall)
    return {
      ok: false,
      score: 0,
      reason: `service stopped while serving: the container reports running ${hb.runningLeases} of its ${open} open lease${open === 1 ? '' : 's'} on two looks in a row`,
      shortfall,
    };

  // Each user's samples, scored per lease and weighted by what the user paid here (capped).
  const users = new Map<string, { paid: bigint; scored: Array<{ score: number; paid: bigint }> }>();
  for (const l of leases) {
    const recent = l.samples.filter((s) => s.receivedAt > now - windowMs);
    if (recent.length === 0 || l.paid <= 0n) continue;
    const okShare = recent.filter((s) => s.ok).length / recent.length;
    const lat = recent
      .map((s) => s.latencyMs)
      .filter((x): x is number => x !== undefined)
      .sort((a, b) => a - b);
    const median = lat.length ? lat[Math.floor(lat.length / 2)]! : undefined;
    const latencyFactor =
      median === undefined || median <= QOS_GOOD_LATENCY_MS
        ? 1
        : Math.max(LATENCY_FLOOR, QOS_GOOD_LATENCY_MS / median);
    let u = users.get(l.user);
    if (!u) users.set(l.user, (u = { paid: 0n, scored: [] }));
    u.paid += l.paid;
    u.scored.push({ score: okShare * latencyFactor, paid: l.paid });
  }
  let sum = 0;
  let weights = 0;
  for (const u of users.values()) {
    const weight = Number(u.paid < cap ? u.paid : cap) / 1e18;
    // within one user, their leases weigh by what each was paid
    const own = u.scored.reduce((a, x) => a + x.score * Number(x.paid), 0) / Number(u.paid);
    sum += own * weight;
    weights += weight;
  }
  let score: number | null = weights > 0 ? sum / weights : null;
  if (score !== null && hb?.load !== undefined && hb.load > QOS_OVERLOAD) score *= 0.8;
  if (score !== null) score = Math.round(score * 1000) / 1000;
  const n = leases.length;
  const who = users.size === 1 ? '1 paying user' : `${users.size} paying users`;
  return {
    ok: true,
    score,
    reason:
      score === null
        ? `serving ${n} lease${n === 1 ? '' : 's'}; no quality samples from paying users in the last ${secs(windowMs)}`
        : `serving ${n} lease${n === 1 ? '' : 's'}; quality score ${score.toFixed(2)} from the receipts of ${who}`,
    shortfall,
  };
}
