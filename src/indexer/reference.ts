import type { AethirError } from '../core/errors.js';
import { estimateRttMs } from '../core/latency.js';
import type { Container } from '../ledger/model.js';
import type { ContainerSpec } from '../ledger/modules/containers/payloads.js';
import {
  better,
  costOf,
  imageCost,
  hardwareOf,
  hardwareReason,
  latencyBoundOf,
  noMatchError,
  normalizeRequest,
  priceAthOf,
  relaxation,
  RULED_OUT_ORDER,
  scoreOf,
  sortRelaxations,
  type Hardware,
  type MatchRequest,
  type NormalizedRequest,
  type Reason,
  type Relaxation,
  type Score,
  hostSizeOk,
} from './request.js';

/**
 * The plain way to answer a request: look at every container, check every constraint, score
 * what is left, keep the best. No index, no pruning. It states what the fast index must answer
 * (the equivalence tests compare the two) and is the baseline the benchmark measures against.
 */

/** One container as the reference sees it. */
export interface ReferenceEntry {
  c: Container;
  lastHeartbeat: number | null;
  /** free GPUs as the indexer counts them: min(ledger, last heartbeat) − reserved */
  freeGpus: number;
  reputation: number;
  apps: readonly string[];
  /** the container's heartbeats say it runs workloads on a Docker engine */
  docker?: boolean;
  /** images it reports cached (tags and digests) */
  images?: readonly string[];
}

export interface ReferenceContext {
  now: number;
  offlineAfterMs: number;
  requiredStake: (c: Container) => bigint;
}

export type ReferenceOutcome =
  | { ok: true; container: Container; score: Score }
  | {
      ok: false;
      error: AethirError;
      ruledOut: Partial<Record<Reason, number>>;
      relaxations: Relaxation[];
    };

/** Hardware summaries are static per spec: computed once, as any scheduler would. */
const hardwareCache = new WeakMap<ContainerSpec, Hardware>();
function hardware(c: Container): Hardware {
  let h = hardwareCache.get(c.spec);
  if (!h) {
    h = hardwareOf(c);
    hardwareCache.set(c.spec, h);
  }
  return h;
}

const NOT_RELAXABLE = new Set<Reason>(['offline', 'suspended', 'unbonding', 'stake below requirement']);
const DIMENSION: Partial<Record<Reason, Relaxation['constraint']>> = {
  'gpu model': 'gpuModels',
  VRAM: 'minVramMiB',
  'compute capability': 'minComputeCapability',
  'not enough GPUs': 'gpus',
  'GPUs busy': 'gpus',
  region: 'region',
  latency: 'maxLatencyMs',
  'price above budget': 'maxPricePerHour',
  'app not installed': 'app',
  reputation: 'minReputation',
  'not sandboxed': 'isolation',
};

/** The first reason (in RULED_OUT_ORDER) that rules the entry out, or null: it is eligible. */
export function firstReason(
  e: ReferenceEntry,
  q: NormalizedRequest,
  ctx: ReferenceContext,
  latencyMs: number | null,
): Reason | null {
  const c = e.c;
  if (c.status !== 'online' || e.lastHeartbeat === null || ctx.now - e.lastHeartbeat > ctx.offlineAfterMs)
    return 'offline';
  if (c.suspended) return 'suspended';
  if (c.unbonding > 0n) return 'unbonding';
  const hw = hardwareReason(hardware(c), q);
  if (hw !== null) return hw;
  if (q.region !== null && !c.location.region.startsWith(q.region)) return 'region';
  if (e.freeGpus < q.gpus) return 'GPUs busy';
  if (q.maxLatencyMs !== null && latencyMs! > q.maxLatencyMs) return 'latency';
  if (q.maxPrice !== null && c.pricePerHour > q.maxPrice) return 'price above budget';
  if (q.app !== null && !e.apps.includes(q.app)) return 'app not installed';
  if (c.stake < ctx.requiredStake(c)) return 'stake below requirement';
  if (q.minReputation !== null && e.reputation < q.minReputation) return 'reputation';
  if (q.sandboxOnly && c.spec.isolation !== 'sandbox') return 'not sandboxed';
  if (q.image !== null && !e.docker) return 'no Docker engine';
  if (!hostSizeOk(c.spec, q)) return 'cpu or memory';
  return null;
}

/** Every reason that rules the entry out, in RULED_OUT_ORDER (all of them, not only the first). */
export function allReasons(
  e: ReferenceEntry,
  q: NormalizedRequest,
  ctx: ReferenceContext,
  latencyMs: number | null,
): Reason[] {
  const out: Reason[] = [];
  const c = e.c;
  if (c.status !== 'online' || e.lastHeartbeat === null || ctx.now - e.lastHeartbeat > ctx.offlineAfterMs)
    out.push('offline');
  else if (c.suspended) out.push('suspended');
  else if (c.unbonding > 0n) out.push('unbonding');
  const h = hardware(c);
  // each hardware constraint on its own, so that all of them are known
  const none = { ...q, models: null, minClassRank: -1, minVramMiB: null, minCc10: null, gpus: 0 };
  if (hardwareReason(h, { ...none, models: q.models, minClassRank: q.minClassRank })) out.push('gpu model');
  if (hardwareReason(h, { ...none, minVramMiB: q.minVramMiB })) out.push('VRAM');
  if (hardwareReason(h, { ...none, minCc10: q.minCc10 })) out.push('compute capability');
  if (hardwareReason(h, { ...none, gpus: q.gpus })) out.push('not enough GPUs');
  if (q.region !== null && !c.location.region.startsWith(q.region)) out.push('region');
  if (e.freeGpus < q.gpus) out.push('GPUs busy');
  if (q.maxLatencyMs !== null && latencyMs! > q.maxLatencyMs) out.push('latency');
  if (q.maxPrice !== null && c.pricePerHour > q.maxPrice) out.push('price above budget');
  if (q.app !== null && !e.apps.includes(q.app)) out.push('app not installed');
  if (c.stake < ctx.requiredStake(c)) out.push('stake below requirement');
  if (q.minReputation !== null && e.reputation < q.minReputation) out.push('reputation');
  if (q.sandboxOnly && c.spec.isolation !== 'sandbox') out.push('not sandboxed');
  if (q.image !== null && !e.docker) out.push('no Docker engine');
  if (!hostSizeOk(c.spec, q)) out.push('cpu or memory');
  return out;
}

export function referenceMatch(
  entries: readonly ReferenceEntry[],
  req: MatchRequest,
  ctx: ReferenceContext,
): ReferenceOutcome {
  const q = normalizeRequest(req);
  const latencyOf = (c: Container) => (q.point ? estimateRttMs(q.point, c.location) : null);
  const costFor = (e: ReferenceEntry, lat: number | null) =>
    costOf(
      q.weights,
      priceAthOf(e.c.pricePerHour),
      lat ?? 0,
      e.c.qualityTier,
      q.refPriceAth,
      q.refLatencyMs,
    ) + imageCost(q, e.images);
  let best: ReferenceEntry | null = null;
  let bestCost = Infinity;
  let bestLatency: number | null = null;
  for (const e of entries) {
    const lat = latencyOf(e.c);
    if (firstReason(e, q, ctx, lat) !== null) continue;
    const cost = costFor(e, lat);
    if (!best || better(cost, e.c.pricePerHour, e.c.id, bestCost, best.c.pricePerHour, best.c.id)) {
      best = e;
      bestCost = cost;
      bestLatency = lat;
    }
  }
  if (best)
    return {
      ok: true,
      container: best.c,
      score: scoreOf(q, best.c, bestLatency, best.reputation, best.images),
    };

  // Nothing matches: count the first reason of each, and find what one relaxation would match.
  const ruledOut: Partial<Record<Reason, number>> = {};
  const only = new Map<Relaxation['constraint'], Array<{ e: ReferenceEntry; lat: number | null }>>();
  for (const e of entries) {
    const lat = latencyOf(e.c);
    const reasons = allReasons(e, q, ctx, lat);
    const first = reasons[0]!;
    ruledOut[first] = (ruledOut[first] ?? 0) + 1;
    if (reasons.some((r) => NOT_RELAXABLE.has(r))) continue;
    const dims = new Set(reasons.map((r) => DIMENSION[r]!));
    if (dims.size !== 1) continue;
    const [dim] = dims;
    if (!only.has(dim!)) only.set(dim!, []);
    only.get(dim!)!.push({ e, lat });
  }
  const bestOf = (xs: Array<{ e: ReferenceEntry; lat: number | null }>) => {
    let b: ReferenceEntry | null = null;
    let bc = Infinity;
    for (const { e, lat } of xs) {
      const cost = costFor(e, lat);
      if (!b || better(cost, e.c.pricePerHour, e.c.id, bc, b.c.pricePerHour, b.c.id)) {
        b = e;
        bc = cost;
      }
    }
    return b!;
  };
  const relaxations: Relaxation[] = [];
  for (const [dim, xs] of only) {
    switch (dim) {
      case 'maxPricePerHour': {
        let min = xs[0]!.e.c.pricePerHour;
        for (const { e } of xs) if (e.c.pricePerHour < min) min = e.c.pricePerHour;
        const budget = q.maxPrice!;
        relaxations.push(
          relaxation(
            q,
            dim,
            { maxPrice: min },
            min.toString(),
            Number(min - budget) / Number(budget > 0n ? budget : 1n),
          ),
        );
        break;
      }
      case 'maxLatencyMs': {
        let min = Infinity;
        for (const { lat } of xs) min = Math.min(min, lat!);
        const v = latencyBoundOf(min);
        relaxations.push(relaxation(q, dim, { maxLatencyMs: v }, v, (v - q.maxLatencyMs!) / q.maxLatencyMs!));
        break;
      }
      case 'gpus': {
        let max = 0;
        for (const { e } of xs) max = Math.max(max, Math.min(e.freeGpus, hardware(e.c).models.length));
        if (max >= 1) relaxations.push(relaxation(q, dim, { gpus: max }, max, (q.gpus - max) / q.gpus));
        break;
      }
      case 'minVramMiB': {
        const vs = xs
          .filter(({ e }) => hardware(e.c).models.length > 0)
          .map(({ e }) => hardware(e.c).minVramMiB);
        if (vs.length) {
          const v = Math.max(...vs);
          relaxations.push(relaxation(q, dim, { minVramMiB: v }, v, (q.minVramMiB! - v) / q.minVramMiB!));
        }
        break;
      }
      case 'minComputeCapability': {
        const vs = xs
          .filter(({ e }) => hardware(e.c).models.length > 0)
          .map(({ e }) => hardware(e.c).minCc10);
        if (vs.length) {
          const v = Math.max(...vs);
          relaxations.push(relaxation(q, dim, { minCc10: v }, v / 10, (q.minCc10! - v) / q.minCc10!));
        }
        break;
      }
      case 'minReputation': {
        let max = 0;
        for (const { e } of xs) max = Math.max(max, e.reputation);
        relaxations.push(
          relaxation(q, dim, { minReputation: max }, max, (q.minReputation! - max) / q.minReputation!),
        );
        break;
      }
      case 'region': {
        const r = bestOf(xs).c.location.region;
        relaxations.push(relaxation(q, dim, { region: r }, r, 1));
        break;
      }
      case 'gpuModels': {
        const models = [...new Set(hardware(bestOf(xs).c).models)];
        relaxations.push(
          relaxation(q, dim, { models: models.map((m) => m.toLowerCase()), minClassRank: -1 }, models, 1),
        );
        break;
      }
      case 'app':
        relaxations.push(relaxation(q, dim, { app: null }, null, 1));
        break;
      case 'isolation':
        relaxations.push(relaxation(q, dim, { sandboxOnly: false }, 'any', 1));
        break;
    }
  }
  sortRelaxations(relaxations);
  const error = noMatchError(entries.length, ruledOut, relaxations);
  return {
    ok: false,
    error,
    ruledOut: (error.details as { ruledOut: Partial<Record<Reason, number>> }).ruledOut,
    relaxations,
  };
}

export { RULED_OUT_ORDER };
