import { mulBps } from '../../../core/amount.js';
import { AethirError } from '../../../core/errors.js';
import type { TxContext } from '../../context.js';
import { K, type Lease } from '../../model.js';
import { slash } from '../containers/keeper.js';
import { DAY, dayStart } from '../epochs/queries.js';
import type { VolumeMount } from './payloads.js';
import { VK, volumeCost, volumeOf, volumesOf, type Volume } from './queries.js';

/**
 * What other modules may do with volumes: the checks pause a volume's billing while its host is
 * offline and resume it when it is back; lease.open checks the volumes a lease mounts.
 */

/**
 * Bills a live volume up to `t` for the time its host was online, never beyond its escrow,
 * never less than it was already charged. The host's share vests as compute earnings do (the
 * same fee split, params.feeHostBps), the rest goes to the treasury.
 */
export function settleVolume(ctx: TxContext, v: Volume, t: number): Volume {
  if (v.status !== 'active') return v;
  const end = Math.max(v.settledAt, t);
  const servedMs = servedAt(v, end);
  const due = dueAt(v, end);
  const next: Volume = { ...v, settledAt: end, servedMs };
  if (due <= v.charged) return next;
  // cumulative shares: no rounding drift across settles (as leases: leases/keeper.ts settleTo)
  const bps = ctx.params.feeHostBps;
  const hostDelta = mulBps(due, bps) - mulBps(v.charged, bps);
  const protoDelta = due - v.charged - hostDelta;
  ctx.vest(v.container, 'host', hostDelta, t, dayStart(ctx, t) + DAY + ctx.params.hostVestingMs);
  ctx.movePool(K.treasury, protoDelta);
  const dao = ctx.dao;
  ctx.state.set(K.dao, { ...dao, incomeSince: dao.incomeSince + protoDelta });
  const econ = ctx.economics;
  ctx.state.set(K.economics, { ...econ, revenueSince: econ.revenueSince + hostDelta });
  const c = ctx.container(v.container);
  if (c) ctx.putContainer({ ...c, earned: c.earned + hostDelta });
  return {
    ...next,
    charged: due,
    hostShare: v.hostShare + hostDelta,
    protocolShare: v.protocolShare + protoDelta,
  };
}

/**
 * A volume's billed time if settled at `t`: its time online, but never more than its escrow pays
 * for (time beyond that is not billed, not even after a top-up: the host may delete it then).
 */
function servedAt(v: Volume, t: number): number {
  const raw = v.hostDownSince === null ? v.servedMs + Math.max(0, t - v.settledAt) : v.servedMs;
  return Math.min(raw, coveredMs(v));
}

/** How much time a volume's escrow pays for, ms (rounded down). */
export function coveredMs(v: Pick<Volume, 'escrow' | 'pricePerGiBHour' | 'sizeMiB'>): number {
  const ms = (v.escrow * 1024n * 3_600_000n) / (v.pricePerGiBHour * BigInt(v.sizeMiB));
  return ms > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(ms);
}

/** Whether a volume's escrow is spent at `t` (billing stopped; its host may delete it). */
export function spentAt(v: Volume, t: number): boolean {
  return servedAt(v, t) >= coveredMs(v);
}

/** What a volume's total charge would be if settled at `t` (no side effect). */
export function dueAt(v: Volume, t: number): bigint {
  return volumeCost(v.pricePerGiBHour, v.sizeMiB, servedAt(v, t));
}

export function putVolume(ctx: TxContext, v: Volume): void {
  ctx.state.set(VK.volume(v.id), v);
}

/**
 * Ends a volume: settles it to `t` (a lost volume: not beyond what was already settled), refunds
 * the unspent escrow to the owner's escrow balance and frees its name.
 */
export function closeVolume(
  ctx: TxContext,
  v: Volume,
  t: number,
  status: 'deleted' | 'lost',
  by: string,
  reason: string,
  slashed = 0n,
): Volume {
  const s = status === 'lost' ? { ...v, hostDownSince: v.hostDownSince ?? v.settledAt } : v;
  const settled = settleVolume(ctx, s, status === 'lost' ? v.settledAt : t);
  const refund = settled.escrow - settled.charged;
  const u = ctx.account(v.owner);
  ctx.setAccount(v.owner, { ...u, escrow: u.escrow + refund });
  const closed: Volume = {
    ...settled,
    hostDownSince: v.hostDownSince,
    status,
    closedAt: ctx.time,
    closeReason: reason,
    closedBy: by,
  };
  putVolume(ctx, closed);
  ctx.state.delete(VK.name(v.owner, v.name));
  if (settled.charged !== v.charged)
    ctx.emit({ type: 'VolumeSettled', volume: v.id, container: v.container, charged: settled.charged });
  ctx.emit({
    type: 'VolumeClosed',
    volume: v.id,
    container: v.container,
    owner: v.owner,
    status,
    by,
    reason,
    refund,
    slashed,
  });
  return closed;
}

/** The host's loss of a volume: all unsettled time refunded, the host slashed like downtime while serving. */
export function loseVolume(ctx: TxContext, v: Volume, by: string, reason: string): Volume {
  const c = ctx.container(v.container);
  const amount = c ? mulBps(ctx.requiredStakeOf(c), ctx.params.slashDowntimeBps) : 0n;
  const slashed = amount > 0n ? slash(ctx, v.container, amount) : 0n;
  if (amount > 0n) {
    const after = ctx.container(v.container)!;
    ctx.putContainer({ ...after, rep: { ...after.rep, slashes: after.rep.slashes + 1 } });
  }
  return closeVolume(ctx, v, ctx.time, 'lost', by, `volume lost by its host: ${reason}`, slashed);
}

/**
 * The checkers decided the host is offline, first seen at `seenAt`: its volumes are billed up to
 * then and not after, until it is back online. Writes nothing when it holds no volume.
 */
export function hostWentDown(ctx: TxContext, container: string, seenAt: number): void {
  for (const v of volumesOf(ctx)) {
    if (v.container !== container || v.status !== 'active' || v.hostDownSince !== null) continue;
    const s = settleVolume(ctx, v, Math.max(v.settledAt, Math.min(seenAt, ctx.time)));
    putVolume(ctx, { ...s, hostDownSince: s.settledAt });
    if (s.charged !== v.charged)
      ctx.emit({ type: 'VolumeSettled', volume: v.id, container, charged: s.charged });
  }
}

/** The host is online again: its volumes are billed again from now (the time down is never billed). */
export function hostCameBack(ctx: TxContext, container: string): void {
  for (const v of volumesOf(ctx)) {
    if (v.container !== container || v.status !== 'active' || v.hostDownSince === null) continue;
    putVolume(ctx, { ...v, hostDownSince: null, settledAt: Math.max(v.settledAt, ctx.time) });
  }
}

/**
 * The volumes a lease asks to mount: each the lease user's own live volume, on the lease's
 * host, mounted once, at distinct paths, and written by at most one open lease at a time.
 */
export function checkLeaseVolumes(
  ctx: TxContext,
  mounts: readonly VolumeMount[],
  user: string,
  container: string,
): void {
  if (mounts.length === 0) return;
  const seen = new Set<string>();
  const paths = new Set<string>();
  for (const m of mounts) {
    if (seen.has(m.volume))
      throw new AethirError('INVALID_TRANSACTION', `volume ${m.volume} is mounted twice`);
    if ([...paths].some((p) => p === m.path || p.startsWith(`${m.path}/`) || m.path.startsWith(`${p}/`)))
      throw new AethirError('INVALID_TRANSACTION', `mount path ${m.path} overlaps another volume's`);
    seen.add(m.volume);
    paths.add(m.path);
    const v = volumeOf(ctx, m.volume);
    // someone else's volume reads as absent: its id tells the renter nothing
    if (!v || v.owner !== user) throw new AethirError('NOT_FOUND', `you have no volume ${m.volume}`);
    if (v.status !== 'active') throw new AethirError('CONFLICT', `volume ${v.name} is ${v.status}`);
    if (v.container !== container)
      throw new AethirError(
        'INVALID_TRANSACTION',
        `volume ${v.name} lives on container ${v.container}: the lease must run there`,
      );
    if (spentAt(v, ctx.time))
      throw new AethirError(
        'INSUFFICIENT_FUNDS',
        `volume ${v.name}'s escrow is spent: top it up (volume.topup)`,
      );
    if (m.readOnly) continue;
    const writer = writerOf(ctx, v.id);
    if (writer)
      throw new AethirError(
        'CONFLICT',
        `volume ${v.name} is already mounted read-write by lease ${writer.id}: one writer at a time`,
        { details: { lease: writer.id } },
      );
  }
}

/** The lease mounting volume `id` read-write, if any: open, or paused (it resumes on it). */
export function writerOf(ctx: TxContext, id: string): Lease | undefined {
  return ctx
    .leases()
    .find(
      (l) =>
        l.status !== 'closed' &&
        (l.workload as { volumes?: VolumeMount[] }).volumes?.some((m) => m.volume === id && !m.readOnly),
    );
}
