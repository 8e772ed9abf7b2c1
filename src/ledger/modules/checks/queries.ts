import { rankCheckers } from '../../assignment.js';
import { withContainerDefaults, type CheckKind, type Container } from '../../model.js';
import type { LedgerReader } from '../../reader.js';

/** Reputation of a container, from its decided checks (Ledger.reputationOf). */
export interface ReputationView {
  /** in [0, 1] */
  score: number;
  /** time online / time decided either way (null: no decided interval yet) */
  uptime: number | null;
  capacityPassRate: number | null;
  locationPassRate: number | null;
  /** mean QoS score, 0..1 (null: no scored round yet) */
  qos: number | null;
  slashes: number;
}

/**
 * The checkers assigned to `containerId` at `time`: the genesis checkers not banned then,
 * ranked by the current epoch's draw (`rankCheckers`), the first 2N+1 (params.checkerQuorumN;
 * fewer if fewer are eligible). With `check`, plus the reassigned ones: when that check's open
 * round got its first vote and no decision, one more per params.checkerReassignMs since then.
 * A report from anyone else is refused. `quorum`: the votes that decide a round (N+1).
 */
export function draw(
  r: LedgerReader,
  containerId: string,
  time: number,
  check?: CheckKind,
  /** whose round on `check` (default the container; a storage round is a volume's) */
  subject = containerId,
): { assigned: string[]; quorum: number } {
  const params = r.params;
  const eligible = r.chain.checkers.filter((a) => (r.checker(a)?.bannedUntil ?? 0) <= time);
  const ranked = rankCheckers(r.epochSeed(), containerId, eligible);
  const base = Math.min(2 * params.checkerQuorumN + 1, ranked.length);
  let n = base;
  const round = check === undefined ? undefined : r.round(subject, check);
  if (round && round.firstVoteAt !== null && Object.keys(round.votes).length > 0)
    n += Math.max(0, Math.floor((time - round.firstVoteAt) / params.checkerReassignMs));
  return { assigned: ranked.slice(0, Math.min(n, ranked.length)), quorum: Math.floor(base / 2) + 1 };
}

/**
 * A container's reputation from its decided checks, every part in [0, 1]:
 *
 *   score = uptime × capacityPassRate × locationPassRate × (0.5 + 0.5 × qos) × 0.8^slashes
 *
 * where uptime = time held online / time decided online or offline (between decided liveness
 * rounds), a pass rate = passed / decided rounds of that check, qos = the mean of the QoS
 * rounds' median scores. A part without history counts as 1: a new container is not punished
 * for being new. Computed from integer counters, so every node gets the same numbers.
 */
export function reputationOf(c: Container): ReputationView {
  const r = withContainerDefaults(c).rep;
  const rate = (pass: number, fail: number) => (pass + fail === 0 ? null : pass / (pass + fail));
  const uptime = rate(r.upMs, r.downMs);
  const capacityPassRate = rate(r.capacityPass, r.capacityFail);
  const locationPassRate = rate(r.locationPass, r.locationFail);
  const qos = r.qosCount === 0 ? null : Math.min(1, Math.max(0, r.qosMilli / r.qosCount / 1000));
  const score =
    (uptime ?? 1) *
    (capacityPassRate ?? 1) *
    (locationPassRate ?? 1) *
    (0.5 + 0.5 * (qos ?? 1)) *
    0.8 ** r.slashes;
  return {
    score: Math.min(1, Math.max(0, score)),
    uptime,
    capacityPassRate,
    locationPassRate,
    qos,
    slashes: r.slashes,
  };
}
