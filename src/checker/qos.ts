/**
 * Quality of service while serving (docs/verification.md, "Quality of service"). Once per QoS
 * period, a checker looks at each open lease of a container it is assigned to, with what it has
 * seen itself: the container's heartbeats (stamped on receipt by the checker's clock) and the
 * user's signed usage receipts with their quality samples (verified against the lease's user
 * before they reach this module). Two ways a lease's service counts as stopped while the
 * container is online (downtime while serving):
 *  - the users' receipts report it down: every sample taken in the period says "not ok" (at least
 *    `minSamples` of them) on the leases of at least two different users — one user's word alone
 *    only lowers the score, so a renter cannot get a host slashed by signing bad samples;
 *  - the container itself reports running fewer leases than the ledger has open on it, on two
 *    consecutive QoS looks (one look is not enough: a lease that just exited is closed on the log
 *    a moment later).
 * Otherwise the service is up, and the samples give a score in [0, 1]: the share of samples that
 * were fine, lowered for slow round trips and for an overloaded host. The ledger turns the
 * majority's median score into the container's quality tier.
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
  minSamples?: number;
}

export interface QosVerdict {
  ok: boolean;
  /** null: no samples to score */
  score: number | null;
  reason: string;
  /** running < open on this look: pass it back as `previousShortfall` next time */
  shortfall: boolean;
}

/** Round-trip time up to which a sample scores fully; slower ones scale down to a floor. */
export const QOS_GOOD_LATENCY_MS = 50;
const LATENCY_FLOOR = 0.2;
/** load per core above which the host counts as overloaded */
export const QOS_OVERLOAD = 1.5;

const secs = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

/** The verdict on one container's service, or null when there is nothing to judge yet. */
export function judgeQos(input: QosInput): QosVerdict | null {
  const { now, windowMs } = input;
  const minSamples = input.minSamples ?? 2;
  // A lease younger than one period has not had time to show anything.
  const leases = input.leases.filter((l) => now - l.openedAt >= windowMs);
  if (leases.length === 0) return null;
  const hb =
    input.heartbeat && now - input.heartbeat.receivedAt <= input.offlineAfterMs ? input.heartbeat : null;

  const downBy = new Map<string, string>();
  for (const l of leases) {
    const recent = l.samples.filter((s) => s.receivedAt > now - windowMs);
    if (recent.length >= minSamples && recent.every((s) => !s.ok) && !downBy.has(l.user))
      downBy.set(l.user, l.id);
  }
  if (downBy.size >= 2)
    return {
      ok: false,
      score: 0,
      reason: `service stopped while serving: ${downBy.size} users' receipts report it down (leases ${[...downBy.values()].join(', ')}; every sample in the last ${secs(windowMs)})`,
      shortfall: false,
    };

  const open = input.leases.length;
  const shortfall = hb !== null && hb.runningLeases < open;
  if (shortfall && input.previousShortfall)
    return {
      ok: false,
      score: 0,
      reason: `service stopped while serving: the container reports running ${hb.runningLeases} of its ${open} open lease${open === 1 ? '' : 's'} on two looks in a row`,
      shortfall,
    };

  let score: number | null = null;
  for (const l of leases) {
    const recent = l.samples.filter((s) => s.receivedAt > now - windowMs);
    if (recent.length === 0) continue;
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
    const s = okShare * latencyFactor;
    score = score === null ? s : Math.min(score, s);
  }
  if (score !== null && hb?.load !== undefined && hb.load > QOS_OVERLOAD) score *= 0.8;
  if (score !== null) score = Math.round(score * 1000) / 1000;
  const n = leases.length;
  return {
    ok: true,
    score,
    reason:
      score === null
        ? `serving ${n} lease${n === 1 ? '' : 's'}; no quality samples from users in the last ${secs(windowMs)}`
        : `serving ${n} lease${n === 1 ? '' : 's'}; quality score ${score.toFixed(2)} from the users' receipts`,
    shortfall,
  };
}
