import { mulBps } from '../../../core/amount.js';
import { AethirError } from '../../../core/errors.js';
import type { Handlers, TxContext, TxResult } from '../../context.js';
import {
  K,
  MAX_INCIDENTS,
  type CheckerRecord,
  type CheckKind,
  type Container,
  type Round,
  type Vote,
} from '../../model.js';
import type { DecodedTx } from '../../tx.js';
import { slash } from '../containers/keeper.js';
import { dayIndex, DAY } from '../epochs/queries.js';
import { closeOpenLeases } from '../leases/keeper.js';
import { hostCameBack, hostWentDown, loseVolume } from '../volumes/keeper.js';
import { volumeOf, type Volume } from '../volumes/queries.js';
import type { payloads } from './payloads.js';
import { draw } from './queries.js';

const WEEK = 7 * DAY;

/** What a decided round says when no agreeing checker gave a reason. */
const DEFAULT_REASONS: Record<CheckKind, { pass: string; fail: string }> = {
  liveness: {
    pass: 'the container answered its checkers',
    fail: 'the container did not answer its checkers',
  },
  capacity: {
    pass: 'the GPUs performed as the spec claims',
    fail: 'the GPUs did not perform as the spec claims',
  },
  location: {
    pass: 'the measured latency fits the declared location',
    fail: 'the measured latency does not fit the declared location',
  },
  qos: {
    pass: 'the service met its quality bar',
    fail: 'the service stopped or degraded while serving',
  },
  storage: {
    pass: "the host proved it holds the volume's image",
    fail: "the host could not prove it holds the volume's image",
  },
};

function checkerReport(ctx: TxContext, tx: DecodedTx<'checker.report'>): TxResult {
  const p = tx.payload;
  const me = tx.tx.from;
  if (!ctx.chain.checkers.includes(me))
    throw new AethirError('UNAUTHORIZED', 'sender is not a checker of this network');
  const rec = ctx.checker(me)!;
  if (rec.bannedUntil > ctx.time)
    throw new AethirError(
      'UNAUTHORIZED',
      `checker is suspended until ${new Date(rec.bannedUntil).toISOString()}`,
    );
  const c = ctx.container(p.container);
  if (!c) throw new AethirError('NOT_FOUND', `no container ${p.container}`);
  // a storage round is about one volume of the container: its votes are kept per volume
  const volume = p.check === 'storage' ? provenVolume(ctx, c.id, p.volume!) : null;
  const subject = volume?.id ?? c.id;
  const drawn = draw(ctx, c.id, ctx.time, p.check, subject);
  if (!drawn.assigned.includes(me))
    throw new AethirError(
      'UNAUTHORIZED',
      `checker ${me} is not assigned to container ${c.name} in epoch ${ctx.economics.lastEpoch + 1}`,
      { details: { epoch: ctx.economics.lastEpoch + 1 } },
    );
  if (p.observedAt > ctx.time + 60_000)
    throw new AethirError('INVALID_TRANSACTION', 'report is from the future');
  const round: Round = ctx.round(subject, p.check) ?? {
    openedAt: 0,
    firstVoteAt: null,
    votes: {},
    prev: null,
    creditedEpoch: -1,
  };
  if (p.observedAt < round.openedAt) {
    // Observed before the current round opened: a late vote on the previous question, judged
    // once per checker (a re-sent vote, or one already counted in that round, counts nothing).
    const prev = round.prev;
    if (prev && p.observedAt >= prev.openedAt && !prev.voters.includes(me)) {
      judge(ctx, me, p.check, p.ok, prev.ok, ctx.time, prev.credited);
      ctx.state.set(K.round(subject, p.check), {
        ...round,
        prev: { ...prev, voters: [...prev.voters, me] },
      });
    }
    return { container: c.id, late: true };
  }
  const vote: Vote = { ok: p.ok, at: p.observedAt };
  if (p.reason !== undefined) vote.reason = p.reason;
  if (p.score !== undefined) vote.score = p.score;
  if (p.restsOn !== undefined) {
    if (p.restsOn === me)
      throw new AethirError('INVALID_TRANSACTION', 'a report cannot rest on its own checker');
    if (!ctx.chain.checkers.includes(p.restsOn))
      throw new AethirError('INVALID_TRANSACTION', `restsOn ${p.restsOn} is not a checker of this network`);
    vote.restsOn = p.restsOn;
  }
  // Votes cast by checkers no longer assigned (the epoch changed since) still count.
  const votes = { ...round.votes, [me]: vote };
  const firstVoteAt = Object.keys(round.votes).length > 0 ? (round.firstVoteAt ?? ctx.time) : ctx.time;
  const majority = drawn.quorum;
  const yes = Object.values(votes).filter((v) => v.ok).length;
  const no = Object.values(votes).length - yes;
  if (yes < majority && no < majority) {
    ctx.state.set(K.round(subject, p.check), { ...round, firstVoteAt, votes } satisfies Round);
    return { container: c.id, decided: false };
  }
  // The majority decides; agreeing checkers are counted correct, the others incorrect. Correct
  // answers about one container and check count once per epoch, so a colluding majority
  // cannot farm checker rewards by deciding round after round; incorrect ones always count.
  const ok = yes >= majority;
  const epoch = ctx.economics.lastEpoch + 1;
  const credited = round.creditedEpoch !== epoch;
  for (const [checker, v] of Object.entries(votes))
    judge(ctx, checker, p.check, v.ok, ok, ctx.time, credited);
  ctx.state.set(K.round(subject, p.check), {
    openedAt: ctx.time,
    firstVoteAt: null,
    votes: {},
    prev: {
      ok,
      decidedAt: ctx.time,
      openedAt: round.openedAt,
      voters: Object.keys(votes).sort(),
      credited,
    },
    creditedEpoch: credited ? epoch : round.creditedEpoch,
  } satisfies Round);
  const outcome = volume
    ? storageOutcome(ctx, volume, ok, votes)
    : decide(ctx, c.id, p.check, ok, votes, majority);
  return { container: c.id, decided: true, ok, ...outcome };
}

/** The volume a storage report is about: a live, proven volume of that container. */
function provenVolume(ctx: TxContext, container: string, id: string): Volume {
  const v = volumeOf(ctx, id);
  if (!v || v.container !== container)
    throw new AethirError('NOT_FOUND', `container ${container} holds no volume ${id}`);
  if (v.status !== 'active') throw new AethirError('CONFLICT', `volume ${id} is ${v.status}`);
  if (v.seal === undefined)
    throw new AethirError('INVALID_TRANSACTION', `volume ${id} has no proof of storage (created before one)`);
  return v;
}

/**
 * A decided storage round on one volume. Failed while its host is online (as the checkers decided)
 * and billing it: the volume is lost as if its host had reported it (volume.lost: unsettled time
 * refunded, the host slashed as for downtime while serving). A failure decided while the host is
 * offline changes nothing: silence is liveness's business (its volumes are not billed meanwhile),
 * and the volume is looked at again when the host is back.
 */
function storageOutcome(ctx: TxContext, v: Volume, ok: boolean, votes: Round['votes']): TxResult {
  const agreeing = Object.entries(votes)
    .filter(([, x]) => x.ok === ok)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, x]) => x);
  const d = DEFAULT_REASONS.storage;
  const reason = agreeing.find((x) => x.reason !== undefined)?.reason ?? (ok ? d.pass : d.fail);
  ctx.emit({ type: 'CheckDecided', container: v.container, check: 'storage', ok, reason });
  if (ok) return { volume: v.id, storage: 'passed' };
  const c = ctx.container(v.container)!;
  if (c.status !== 'online' || v.hostDownSince !== null)
    return {
      volume: v.id,
      storage: 'failed',
      lost: false,
      reason: 'host offline: looked at again when back',
    };
  const closed = loseVolume(ctx, v, 'checkers', `storage check failed: ${reason}`);
  return {
    volume: v.id,
    storage: 'failed',
    lost: true,
    refund: (closed.escrow - closed.charged).toString(),
  };
}

/**
 * Counts one vote against the decided verdict. Agreeing votes are correct (checker rewards, once
 * per container, check and epoch); disagreeing ones are incorrect and earn nothing. A strike —
 * `checkerMaxIncorrectPerWeek` of them ban the checker — is a false accusation on liveness: the
 * checker said "down" about a container the majority saw up. Liveness is what every checker
 * observes alike (the same heartbeats, the same probes), so such a dissent is a lie or a broken
 * checker. The other checks are independent measurements — another challenge, another vantage
 * point (a far checker cannot see a location lie; a slow path makes a near one look far), another
 * window — so a dissent there earns nothing but is not a strike; and a missed failure ("up" when
 * the majority saw it down: a standing vote overtaken by an outage) is never one.
 */
function judge(
  ctx: TxContext,
  checker: string,
  check: CheckKind,
  vote: boolean,
  verdict: boolean,
  time: number,
  credit: boolean,
): void {
  const correct = vote === verdict;
  const r = ctx.checker(checker);
  if (!r || (correct && !credit)) return;
  const today = dayIndex(ctx, time);
  let next: CheckerRecord =
    r.day === today ? { ...r } : { ...r, day: today, correct: 0, prevDay: r.day, prevCorrect: r.correct };
  if (correct) next = { ...next, correct: next.correct + 1, correctTotal: next.correctTotal + 1 };
  else if (vote || check !== 'liveness') next = { ...next, incorrectTotal: next.incorrectTotal + 1 };
  else {
    const recent = [...next.incorrectAt.filter((t) => t > time - WEEK), time];
    next = { ...next, incorrectAt: recent, incorrectTotal: next.incorrectTotal + 1 };
    if (recent.length >= ctx.params.checkerMaxIncorrectPerWeek)
      next = { ...next, bannedUntil: time + ctx.params.checkerBanMs, incorrectAt: [] };
  }
  ctx.state.set(K.checker(checker), next);
}

/**
 * A decided round: its verdict (the reason of the agreeing vote from the lowest checker address
 * that gave one, else a default sentence) and reputation are recorded, then its consequences.
 */
function decide(
  ctx: TxContext,
  id: string,
  check: CheckKind,
  ok: boolean,
  votes: Round['votes'],
  majority: number,
): TxResult {
  const agreeing = Object.entries(votes)
    .filter(([, v]) => v.ok === ok)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, v]) => v);
  const d = DEFAULT_REASONS[check];
  const reason = agreeing.find((v) => v.reason !== undefined)?.reason ?? (ok ? d.pass : d.fail);
  const scoreMilli = medianMilli(agreeing.flatMap((v) => (v.score === undefined ? [] : [v.score])));
  const c = ctx.container(id)!;
  const rep = { ...c.rep };
  if (check === 'liveness') {
    // the time since the last decision counts as the status it had meanwhile
    if (rep.lastLivenessAt !== null) {
      const dt = Math.max(0, ctx.time - rep.lastLivenessAt);
      if (c.status === 'online') rep.upMs += dt;
      else if (c.status === 'offline') rep.downMs += dt;
    }
    rep.lastLivenessAt = ctx.time;
  } else if (check === 'capacity') {
    if (ok) rep.capacityPass++;
    else rep.capacityFail++;
  } else if (check === 'location') {
    if (ok) rep.locationPass++;
    else rep.locationFail++;
  } else if (scoreMilli !== null) {
    rep.qosMilli += scoreMilli;
    rep.qosCount++;
  }
  ctx.putContainer({ ...c, checks: { ...c.checks, [check]: { ok, at: ctx.time, reason } }, rep });
  ctx.emit({ type: 'CheckDecided', container: id, check, ok, reason });
  switch (check) {
    case 'liveness':
      return livenessOutcome(ctx, id, ok, reason, votes);
    case 'capacity':
      return claimOutcome(ctx, id, 'capacity', ok, reason, votes, ctx.params.slashSpecBps);
    case 'location': {
      // (params.locationSlashNeedsRobust) a refutation that a majority holds only with one other
      // checker's shared measurement suspends without a slash: that measurement may be a lie
      const robust = Object.values(votes).filter((v) => !v.ok && v.restsOn === undefined).length;
      const fragile = !ok && ctx.params.locationSlashNeedsRobust === true && robust < majority;
      if (!fragile) return claimOutcome(ctx, id, 'location', ok, reason, votes, ctx.params.slashLocationBps);
      const note = `${reason} (held only with one other checker's measurement: suspended, not slashed)`;
      return { ...claimOutcome(ctx, id, 'location', ok, note, votes, 0), fragile: true };
    }
    case 'qos':
      return qosOutcome(ctx, id, ok, reason, scoreMilli, votes);
    case 'storage':
      throw new Error('a storage round is decided per volume (storageOutcome)');
  }
}

function livenessOutcome(
  ctx: TxContext,
  id: string,
  online: boolean,
  reason: string,
  votes: Round['votes'],
): TxResult {
  const c = ctx.container(id)!;
  if (online) {
    ctx.putContainer({
      ...c,
      status: 'online',
      onlineSince: c.status === 'online' ? c.onlineSince : ctx.time,
    });
    hostCameBack(ctx, id);
    return { status: 'online' };
  }
  ctx.putContainer({ ...c, status: 'offline', onlineSince: null });
  // Its volumes are not billed while it is down (from when the majority first saw it down).
  hostWentDown(ctx, id, firstFailure(votes, ctx.time));
  // Down while serving: users pay nothing beyond what was already settled (the lease closes at
  // when the majority first saw it down), and the host is slashed 1/3 × K × coefficient.
  // Offline while idle: no slash, no rewards.
  const leases = closeOpenLeases(ctx, id, votes, 'container went offline; unsettled time refunded');
  if (leases.length === 0) return { status: 'offline' };
  const slashed = penalise(
    ctx,
    id,
    'liveness',
    `offline while serving: ${reason}`,
    ctx.params.slashDowntimeBps,
    leases,
  );
  return { status: 'offline', slashed: slashed.toString(), closedLeases: leases.join(',') };
}

/**
 * Capacity (the spec is real) and location (it is where it says): a failure slashes, closes
 * its leases (unsettled time refunded) and suspends the container whatever its stake, until a
 * later decided check of that kind passes.
 */
function claimOutcome(
  ctx: TxContext,
  id: string,
  check: 'capacity' | 'location',
  passed: boolean,
  reason: string,
  votes: Round['votes'],
  slashBps: number,
): TxResult {
  if (passed) {
    liftCheckSuspension(ctx, id);
    return { [check]: 'passed' };
  }
  const why = `${check} check failed: ${reason}`;
  const c = ctx.container(id)!;
  ctx.putContainer({ ...c, suspended: true, suspendedReason: why });
  const leases = closeOpenLeases(ctx, id, votes, why);
  const slashed = penalise(ctx, id, check, why, slashBps, leases);
  return {
    [check]: 'failed',
    slashed: slashed.toString(),
    suspended: true,
    reason: why,
    ...(leases.length ? { closedLeases: leases.join(',') } : {}),
  };
}

/** After a passed capacity or location check: suspended only for a check still failing, or for stake. */
function liftCheckSuspension(ctx: TxContext, id: string): Container {
  const c = ctx.container(id)!;
  const failing = (['capacity', 'location'] as const).find((k) => c.checks[k]?.ok === false);
  const suspendedReason = failing ? `${failing} check failed: ${c.checks[failing]!.reason}` : null;
  if (suspendedReason === c.suspendedReason) return c;
  const after: Container = {
    ...c,
    suspendedReason,
    suspended: suspendedReason !== null || c.stake < ctx.requiredStakeOf(c),
  };
  ctx.putContainer(after);
  return after;
}

/**
 * Quality of service while serving. Passed: the median score of the agreeing checkers sets the
 * quality tier (>= 0.95: 3, >= 0.8: 2, else 1). Failed while serving (the service stopped though
 * the container is up): downtime while serving, its leases closed (unsettled time refunded)
 * and slashed slashDowntimeBps; no suspension.
 */
function qosOutcome(
  ctx: TxContext,
  id: string,
  passed: boolean,
  reason: string,
  scoreMilli: number | null,
  votes: Round['votes'],
): TxResult {
  if (passed) {
    const c = ctx.container(id)!;
    if (scoreMilli === null) return { qos: 'passed', qualityTier: c.qualityTier };
    const qualityTier = scoreMilli >= 950 ? 3 : scoreMilli >= 800 ? 2 : 1;
    if (qualityTier !== c.qualityTier) ctx.putContainer({ ...c, qualityTier });
    return { qos: 'passed', qualityTier };
  }
  const why = `qos check failed: ${reason}`;
  const leases = closeOpenLeases(ctx, id, votes, why);
  if (leases.length === 0) return { qos: 'failed' }; // not serving: nothing to refund
  const slashed = penalise(ctx, id, 'qos', why, ctx.params.slashDowntimeBps, leases);
  return { qos: 'failed', slashed: slashed.toString(), closedLeases: leases.join(',') };
}

/** Slashes `bps` of the required stake for a failed check and records the incident; returns what was taken. */
function penalise(
  ctx: TxContext,
  id: string,
  check: CheckKind,
  reason: string,
  bps: number,
  leases: string[],
): bigint {
  const amount = mulBps(ctx.requiredStakeOf(ctx.container(id)!), bps);
  const slashed = amount > 0n ? slash(ctx, id, amount) : 0n;
  if (amount === 0n && leases.length === 0) return 0n;
  const c = ctx.container(id)!;
  ctx.putContainer({
    ...c,
    incidents: [...c.incidents, { at: ctx.time, check, reason, slashed, leases }].slice(-MAX_INCIDENTS),
    rep: { ...c.rep, slashes: c.rep.slashes + (amount > 0n ? 1 : 0) },
  });
  if (amount > 0n) ctx.emit({ type: 'Slashed', container: id, check, amount: slashed, reason, leases });
  return slashed;
}

/** When the failing majority first saw the problem (no later than `now`). */
function firstFailure(votes: Round['votes'], now: number): number {
  return Math.min(
    now,
    ...Object.values(votes)
      .filter((v) => !v.ok)
      .map((v) => v.at),
  );
}

/** The median of scores in 0..1, in thousandths (integers: the same on every node); null: none. */
function medianMilli(scores: readonly number[]): number | null {
  if (scores.length === 0) return null;
  const m = scores.map((x) => Math.round(x * 1000)).sort((a, b) => a - b);
  const mid = m.length >> 1;
  return m.length % 2 ? m[mid]! : Math.floor((m[mid - 1]! + m[mid]!) / 2);
}

export const handlers: Handlers<keyof typeof payloads> = {
  'checker.report': checkerReport,
};
