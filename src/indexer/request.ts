import { z } from 'zod';
import { formatAth, UNIT } from '../core/amount.js';
import { AethirError } from '../core/errors.js';
import { resolvePlace } from '../core/gazetteer.js';
import { CITIES } from '../core/geo.js';
import { gpuClass, type GpuClass } from '../ledger/gpu-class.js';
import type { Container } from '../ledger/model.js';
import { Address, Units } from '../ledger/schemas.js';

/**
 * What a request may ask for, how it is checked, and how eligible containers are ranked. The
 * fast index (`index-store.ts`) and the plain reference (`reference.ts`) share these
 * definitions, so "the same answer" is well defined.
 */

export const STRATEGIES = ['lowest-fee', 'best-experience', 'balanced'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** GPU classes a request may name as a minimum, weakest first (`cpu` is not a GPU class). */
export const GPU_CLASS_ORDER = ['other', 'rtx3090', 'rtx4090', 'l40s', 'a100', 'h100', 'h200'] as const;
export type GpuClassName = (typeof GPU_CLASS_ORDER)[number];

const GpuModelPattern = z.string().min(1).max(80);
const Coordinates = z
  .object({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) })
  .strict();

/**
 * The one definition of a match request: the indexer takes it in this form (amounts as
 * bigints, the user's place as coordinates), the bus carries it so (`match.request`), and
 * MatchRequestJson below derives the API's body and the SDK's argument from it.
 */
export const MatchRequestSchema = z
  .object({
    /** who asks: reservations are held for this account */
    user: Address,
    /** GPUs on one container; 0: a CPU lease (any container) */
    gpus: z.number().int().min(0).max(64),
    /** a GPU model every GPU must match (whole words, case-insensitive: "4090", "H100", "RTX A5000") */
    gpuModel: GpuModelPattern.optional(),
    /**
     * region, or region prefix, the container must be in ("eu", "eu-west"); when the request has no
     * `location`, the user is taken to be at the region's reference city (its first city in CITIES)
     */
    region: z
      .string()
      .regex(/^[a-z]{2,12}(-[a-z]{2,12})?$/, 'must be a region such as eu or eu-west')
      .optional(),
    /** the highest price accepted, units per GPU-hour (per hour for CPU leases) */
    maxPricePerHour: z.bigint().min(0n).optional(),
    strategy: z.enum(STRATEGIES).optional(),
    /** several acceptable models: every GPU must match one of them (and `gpuModel` if given counts as one more) */
    gpuModels: z.array(GpuModelPattern).min(1).max(16).optional(),
    /** the weakest GPU class accepted, by the stake table's classes: other < rtx3090 < rtx4090 < l40s < a100 < h100 < h200 */
    minGpuClass: z.enum(GPU_CLASS_ORDER).optional(),
    /** minimum memory of each GPU, MiB */
    minVramMiB: z.number().int().min(0).max(10_000_000).optional(),
    /** minimum CUDA compute capability of each GPU, e.g. 8.0 or "8.6" */
    minComputeCapability: z
      .union([z.number().min(0).max(25), z.string().regex(/^\d{1,2}\.\d$/, 'must be like 8.6')])
      .optional(),
    /** an app that must be pre-installed on the container (see `IndexerDeps.appsOf`) */
    app: z.string().min(1).max(120).optional(),
    /** where the user is (WGS84): latency is estimated from here */
    location: Coordinates.optional(),
    /** the highest estimated round-trip time accepted, ms (needs `location` or a known `region`) */
    maxLatencyMs: z.number().positive().max(10_000).optional(),
    /** minimum reputation, 0..1 (see `IndexerDeps.reputation`) */
    minReputation: z.number().min(0).max(1).optional(),
    /** 'sandbox': only containers that run every workload in the lease sandbox (docs/security.md) */
    isolation: z.enum(['sandbox', 'any']).optional(),
    /**
     * an OCI image the lease runs in: only containers with a Docker engine can (heartbeat
     * `runtime: 'docker'`), and those that have it cached rank first (IMAGE_MISS_COST)
     */
    image: z.string().min(1).max(512).optional(),
    /**
     * an interruptible request at this bid per GPU-hour (lease.open bidPerHour): it may preempt
     * interruptible leases that bid less; absent, an on-demand request, which may preempt those
     * bidding less than the container's price (the index offers truly free GPUs first)
     */
    bidPerHour: z.bigint().min(1n).optional(),
    /** the fewest CPU cores the container registers (its whole machine: Aethir leases share a host's CPUs) */
    minCpuCores: z.number().int().min(1).max(4096).optional(),
    /** the least memory the container registers, MiB (its whole machine) */
    minMemoryMiB: z
      .number()
      .int()
      .min(1)
      .max(1 << 30)
      .optional(),
  })
  .strict();
export type MatchRequest = z.infer<typeof MatchRequestSchema>;

/**
 * A match request as JSON (the body of POST /v1/match, the SDK's `match`): the same fields, with
 * `maxPricePerHour` as a decimal string of units, `location` as coordinates or a place
 * ("Montréal, CA", "Portland, OR, US", "45.5,-73.6"; resolved by the API), and defaults for
 * `gpus` (0) and `strategy` (lowest-fee).
 */
export const MatchRequestJson = MatchRequestSchema.extend({
  gpus: MatchRequestSchema.shape.gpus.default(0),
  maxPricePerHour: Units.optional(),
  bidPerHour: Units.optional(),
  strategy: z.enum(STRATEGIES).default('lowest-fee'),
  location: z.union([Coordinates, z.string().min(1).max(200)]).optional(),
});
/** What a client sends to POST /v1/match. */
export type MatchRequestInput = z.input<typeof MatchRequestJson>;

/**
 * A match request from the bus (a peer of any version, or a hostile one), checked against the
 * schema; INVALID_ARGUMENT names the first thing wrong.
 */
export function parseMatchRequest(data: unknown): MatchRequest {
  const r = MatchRequestSchema.safeParse(data);
  if (r.success) return r.data;
  const i = r.error.issues[0]!;
  throw invalid(`invalid match request: ${i.path.join('.') || '(root)'}: ${i.message}`);
}

/**
 * The reasons a container is ruled out, in the order they are checked: a container is counted
 * once, under the first one that rules it out. The order follows the index's structure: the
 * container's standing on the ledger, then what the index decides for whole groups of containers
 * at once (hardware, region, free GPUs), then for places (latency) and price ranges, then what
 * it must check one container at a time (app, stake, reputation, isolation, CPU cores and memory).
 */
export const RULED_OUT_ORDER = [
  'offline',
  'suspended',
  'unbonding',
  'gpu model',
  'VRAM',
  'compute capability',
  'not enough GPUs',
  'region',
  'GPUs busy',
  'latency',
  'price above budget',
  'app not installed',
  'stake below requirement',
  'reputation',
  'not sandboxed',
  'no Docker engine',
  'cpu or memory',
] as const;
export type Reason = (typeof RULED_OUT_ORDER)[number];

/**
 * How strategies rank. Each eligible container gets three parts, all "lower is better":
 *  - fee     = price / reference price (the request's budget, else DEFAULT_REFERENCE_PRICE_ATH)
 *  - latency = estimated RTT / reference latency (the request's maxLatencyMs, else
 *              DEFAULT_REFERENCE_LATENCY_MS); 0 when the request says nothing of where the user is
 *  - quality = (3 − quality tier) / 2: 0 for tier 3 (the best the checkers measure), 1 for tier 1
 * and cost = w.fee × fee + w.latency × latency + w.quality × quality. Ties go to the lower
 * price, then the lower container id. `lowest-fee` is the fee alone (so: the cheapest, then the
 * lowest id); `best-experience` puts latency and quality first and uses the fee to break near
 * ties; `balanced` weighs a fee equal to the budget like a latency equal to the bound.
 */
export const STRATEGY_WEIGHTS: Readonly<Record<Strategy, Readonly<Weights>>> = Object.freeze({
  'lowest-fee': { fee: 1, latency: 0, quality: 0 },
  'best-experience': { fee: 0.1, latency: 0.6, quality: 0.3 },
  balanced: { fee: 0.5, latency: 0.35, quality: 0.15 },
});
export const DEFAULT_REFERENCE_PRICE_ATH = 2;
export const DEFAULT_REFERENCE_LATENCY_MS = 100;

export interface Weights {
  fee: number;
  latency: number;
  quality: number;
}

/** A request, validated and resolved once, in the form both matchers use. */
export interface NormalizedRequest {
  user: string;
  gpus: number;
  strategy: Strategy;
  weights: Readonly<Weights>;
  /** lower-case model patterns, any of which a GPU must match; null: any model */
  models: string[] | null;
  /** index in GPU_CLASS_ORDER; -1: any */
  minClassRank: number;
  /** null: no minimum */
  minVramMiB: number | null;
  /** tenths (8.6 → 86); null: no minimum */
  minCc10: number | null;
  app: string | null;
  region: string | null;
  point: { lat: number; lon: number } | null;
  maxLatencyMs: number | null;
  maxPrice: bigint | null;
  /** an interruptible request's bid per GPU-hour; null: on demand (it pays each container's price) */
  bid: bigint | null;
  minReputation: number | null;
  /** only sandboxed containers */
  sandboxOnly: boolean;
  /** the image the lease runs in (only Docker-engine containers); null: none */
  image: string | null;
  /** the container's registered cores and memory (MiB) at least; null: any */
  minCpuCores: number | null;
  minMemoryMiB: number | null;
  refPriceAth: number;
  refLatencyMs: number;
}

const invalid = (msg: string) => new AethirError('INVALID_ARGUMENT', msg);

export function normalizeRequest(req: MatchRequest): NormalizedRequest {
  if (!Number.isInteger(req.gpus) || req.gpus < 0 || req.gpus > 64)
    throw invalid('gpus must be an integer from 0 to 64');
  const strategy = req.strategy ?? 'lowest-fee';
  if (!STRATEGIES.includes(strategy)) throw invalid(`strategy must be one of ${STRATEGIES.join(', ')}`);
  const patterns = [...(req.gpuModels ?? []), ...(req.gpuModel !== undefined ? [req.gpuModel] : [])];
  for (const p of patterns)
    if (typeof p !== 'string' || p.trim() === '') throw invalid('GPU models must be non-empty strings');
  const models = patterns.length ? [...new Set(patterns.map((p) => p.trim().toLowerCase()))] : null;
  let minClassRank = -1;
  if (req.minGpuClass !== undefined) {
    minClassRank = GPU_CLASS_ORDER.indexOf(req.minGpuClass);
    if (minClassRank < 0) throw invalid(`minGpuClass must be one of ${GPU_CLASS_ORDER.join(', ')}`);
  }
  if (req.minVramMiB !== undefined && !(Number.isInteger(req.minVramMiB) && req.minVramMiB >= 0))
    throw invalid('minVramMiB must be a non-negative integer');
  let minCc10: number | null = null;
  if (req.minComputeCapability !== undefined) {
    const cc = Number(req.minComputeCapability);
    if (!Number.isFinite(cc) || cc < 0 || cc > 25) throw invalid('minComputeCapability must be like 8.0');
    minCc10 = Math.round(cc * 10);
  }
  if (req.location !== undefined) {
    const { lat, lon } = req.location;
    if (!(
      Number.isFinite(lat) &&
      lat >= -90 &&
      lat <= 90 &&
      Number.isFinite(lon) &&
      lon >= -180 &&
      lon <= 180
    ))
      throw invalid('location must be { lat: -90..90, lon: -180..180 }');
  }
  const region = req.region ?? null;
  let point = req.location ? { lat: req.location.lat, lon: req.location.lon } : null;
  if (!point && region !== null) {
    const ref = CITIES.find((c) => c.region.startsWith(region));
    if (ref) point = { lat: ref.lat, lon: ref.lon };
  }
  if (req.maxLatencyMs !== undefined) {
    if (!(Number.isFinite(req.maxLatencyMs) && req.maxLatencyMs > 0))
      throw invalid('maxLatencyMs must be a positive number');
    if (!point) throw invalid('maxLatencyMs needs a location (coordinates, or a known region)');
  }
  if (req.minReputation !== undefined && !(req.minReputation >= 0 && req.minReputation <= 1))
    throw invalid('minReputation must be from 0 to 1');
  if (req.isolation !== undefined && req.isolation !== 'sandbox' && req.isolation !== 'any')
    throw invalid('isolation must be sandbox or any');
  if (req.bidPerHour !== undefined && req.bidPerHour <= 0n) throw invalid('bidPerHour must be more than 0');
  if (req.maxPricePerHour !== undefined && req.maxPricePerHour < 0n)
    throw invalid('maxPricePerHour must not be negative');
  const maxPrice = req.maxPricePerHour ?? null;
  const budgetAth = maxPrice === null ? 0 : priceAthOf(maxPrice);
  return {
    user: req.user,
    gpus: req.gpus,
    strategy,
    weights: STRATEGY_WEIGHTS[strategy],
    models,
    minClassRank,
    minVramMiB: req.minVramMiB ?? null,
    minCc10,
    app: req.app ?? null,
    region,
    point,
    maxLatencyMs: req.maxLatencyMs ?? null,
    maxPrice,
    bid: req.bidPerHour ?? null,
    minReputation: req.minReputation ?? null,
    sandboxOnly: req.isolation === 'sandbox',
    image: normalizeImage(req.image),
    minCpuCores: req.minCpuCores ?? null,
    minMemoryMiB: req.minMemoryMiB ?? null,
    refPriceAth: budgetAth > 0 ? budgetAth : DEFAULT_REFERENCE_PRICE_ATH,
    refLatencyMs: req.maxLatencyMs ?? DEFAULT_REFERENCE_LATENCY_MS,
  };
}

// ---- hardware ----

/** Does `model` contain `pattern` (lower case) as whole words? "a10" is in "NVIDIA A10", not in "A100". */
export function modelMatches(pattern: string, model: string): boolean {
  const m = model.toLowerCase();
  for (let at = m.indexOf(pattern); at >= 0; at = m.indexOf(pattern, at + 1)) {
    const before = at === 0 ? '' : m[at - 1]!;
    const after = m[at + pattern.length] ?? '';
    if (!isWordChar(before) && !isWordChar(after)) return true;
  }
  return false;
}

function isWordChar(ch: string): boolean {
  return ch !== '' && /[a-z0-9]/.test(ch);
}

/** index of the model's class in GPU_CLASS_ORDER */
export function classRankOf(model: string): number {
  return GPU_CLASS_ORDER.indexOf(gpuClass(model) as Exclude<GpuClass, 'cpu'>);
}

/**
 * Compute capability by model, for GPUs whose probe did not report it (NVIDIA's CUDA GPU
 * tables). Unknown models count as 0: they satisfy no minimum.
 */
const CC_BY_MODEL: Array<[RegExp, number]> = [
  [/\b(5090|5080|rtx pro 6000)\b/i, 120],
  [/\b(b200|b100|gb200)\b/i, 100],
  [/\b(h100|h800|h200|gh200|h20)\b/i, 90],
  [/\b(l40s?|l4|4090|4080|4070|4060|rtx 6000 ada|rtx [0-9]+ ada)\b/i, 89],
  [/\b(a10g?|a40|a16|a2|3090|3080|3070|3060|a6000|a5000|a4000)\b/i, 86],
  [/\b(a100|a800|a30)\b/i, 80],
  [/\b(t4|2080|2070|2060|titan rtx|quadro rtx [0-9]+)\b/i, 75],
  [/\bv100\b/i, 70],
  [/\b(p40|p4|1080|1070|1060)\b/i, 61],
  [/\bp100\b/i, 60],
];

/** A GPU's compute capability in tenths (8.6 → 86): as probed, else by model, else 0. */
export function cc10Of(gpu: { model: string; computeCapability?: string | undefined }): number {
  if (gpu.computeCapability && /^\d+\.\d+$/.test(gpu.computeCapability))
    return Math.round(Number(gpu.computeCapability) * 10);
  for (const [re, cc] of CC_BY_MODEL) if (re.test(gpu.model)) return cc;
  return 0;
}

/** What the hardware constraints need to know of a container, computed once per spec. */
export interface Hardware {
  /** every GPU's model, sorted */
  models: string[];
  /** the distinct models, sorted */
  distinct: string[];
  /** the weakest GPU's class rank; -1 without GPUs */
  classRank: number;
  /** the smallest GPU memory, MiB (0 without GPUs) */
  minVramMiB: number;
  /** the lowest compute capability, tenths (0 without GPUs) */
  minCc10: number;
}

export function hardwareOf(c: Pick<Container, 'spec'>): Hardware {
  const gpus = c.spec.gpus;
  if (gpus.length === 0) return { models: [], distinct: [], classRank: -1, minVramMiB: 0, minCc10: 0 };
  let classRank = Infinity;
  let minVramMiB = Infinity;
  let minCc10 = Infinity;
  for (const g of gpus) {
    classRank = Math.min(classRank, classRankOf(g.model));
    minVramMiB = Math.min(minVramMiB, g.memoryMiB);
    minCc10 = Math.min(minCc10, cc10Of(g));
  }
  const models = gpus.map((g) => g.model).sort();
  return { models, distinct: [...new Set(models)], classRank, minVramMiB, minCc10 };
}

/** The first hardware reason that rules a container out, or null. */
export function hardwareReason(h: Hardware, q: NormalizedRequest): Reason | null {
  const n = h.models.length;
  if (q.models !== null || q.minClassRank >= 0) {
    if (n === 0) return 'gpu model';
    if (q.minClassRank >= 0 && h.classRank < q.minClassRank) return 'gpu model';
    if (q.models !== null && !h.distinct.every((m) => q.models!.some((p) => modelMatches(p, m))))
      return 'gpu model';
  }
  if (q.minVramMiB !== null && (n === 0 || h.minVramMiB < q.minVramMiB)) return 'VRAM';
  if (q.minCc10 !== null && (n === 0 || h.minCc10 < q.minCc10)) return 'compute capability';
  if (n < q.gpus) return 'not enough GPUs';
  return null;
}

// ---- ranking ----

/** Units per GPU-hour → ATH as a float (monotone, so it orders like the exact amount). */
export function priceAthOf(units: bigint): number {
  return Number(units) / 1e18;
}

/**
 * The strategy's cost. One function for the index and the reference: the same inputs give the
 * same float, and smaller inputs never give a larger result (IEEE rounding is monotone), which
 * is what lets the index prune with lower bounds.
 */
export function costOf(
  w: Readonly<Weights>,
  priceAth: number,
  latencyMs: number,
  qualityTier: number,
  refPriceAth: number,
  refLatencyMs: number,
): number {
  return (
    w.fee * (priceAth / refPriceAth) +
    w.latency * (latencyMs / refLatencyMs) +
    w.quality * qualityGap(qualityTier)
  );
}

/** (3 − tier) / 2, tier clamped to 1..3 */
export function qualityGap(tier: number): number {
  return (3 - Math.min(3, Math.max(1, tier))) / 2;
}

/**
 * What a container without the lease's image cached adds to a strategy's cost (it must pull the
 * image before the workload starts): as much as a fee of a quarter of the reference price.
 */
export const IMAGE_MISS_COST = 0.25;

const IMAGE_REF_RE = /^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,510}$/;
function normalizeImage(image: string | undefined): string | null {
  if (image === undefined) return null;
  if (typeof image !== 'string' || !IMAGE_REF_RE.test(image) || image.includes('..'))
    throw invalid('image must be an image reference (registry/name[:tag][@sha256:digest])');
  return image;
}

/**
 * Whether `cached` (what a container reports: tags and `name@sha256:…` digests) has the image
 * `ref` names: the same reference, or the same digest.
 */
export function imageCached(cached: readonly string[] | undefined, ref: string): boolean {
  if (!cached?.length) return false;
  if (cached.includes(ref)) return true;
  const digest = /@(sha256:[0-9a-f]{64})$/.exec(ref)?.[1];
  return digest !== undefined && cached.some((c) => c.endsWith(`@${digest}`));
}

/** The cost's image part: 0 without an image or with it cached, IMAGE_MISS_COST otherwise. */
export function imageCost(
  q: Pick<NormalizedRequest, 'image'>,
  cached: readonly string[] | undefined,
): number {
  return q.image !== null && !imageCached(cached, q.image) ? IMAGE_MISS_COST : 0;
}

/** The score shown with a match. */
export interface Score {
  strategy: Strategy;
  /** the strategy's cost: lower is better */
  cost: number;
  pricePerHour: bigint;
  /** estimated round trip from the user, ms; null when the request says nothing of where the user is */
  latencyMs: number | null;
  qualityTier: number;
  reputation: number;
  /** the weighted parts; they add up to `cost` (image: IMAGE_MISS_COST when the image must be pulled) */
  parts: { fee: number; latency: number; quality: number; image?: number };
}

export function scoreOf(
  q: NormalizedRequest,
  c: Container,
  latencyMs: number | null,
  reputation: number,
  images?: readonly string[],
): Score {
  const w = q.weights;
  const priceAth = priceAthOf(c.pricePerHour);
  const image = imageCost(q, images);
  return {
    strategy: q.strategy,
    cost: costOf(w, priceAth, latencyMs ?? 0, c.qualityTier, q.refPriceAth, q.refLatencyMs) + image,
    pricePerHour: c.pricePerHour,
    latencyMs,
    qualityTier: c.qualityTier,
    reputation,
    parts: {
      fee: w.fee * (priceAth / q.refPriceAth),
      latency: w.latency * ((latencyMs ?? 0) / q.refLatencyMs),
      quality: w.quality * qualityGap(c.qualityTier),
      ...(q.image !== null ? { image } : {}),
    },
  };
}

/** Is (cost a, price a, id a) better than (cost b, price b, id b)? The total order of a strategy. */
export function better(
  costA: number,
  priceA: bigint,
  idA: string,
  costB: number,
  priceB: bigint,
  idB: string,
): boolean {
  if (costA !== costB) return costA < costB;
  if (priceA !== priceB) return priceA < priceB;
  return idA < idB;
}

// ---- explanations ----

/** A constraint the user may relax, and what the smallest relaxation that matches is. */
export interface Relaxation {
  constraint:
    | 'maxPricePerHour'
    | 'maxLatencyMs'
    | 'gpus'
    | 'minVramMiB'
    | 'minComputeCapability'
    | 'minReputation'
    | 'region'
    | 'gpuModels'
    | 'app'
    | 'isolation';
  /** the relaxed value (prices: units as a decimal string; `app`: null, dropped) */
  value: string | number | string[] | null;
  /** how far from the request: relative change; 1 for dropping a constraint */
  change: number;
  /** the relaxed request, in words: "3 H100s in eu-west at ≤ 2.1 ATH/h" */
  text: string;
}

/** Relaxations are ranked by change, then in this order. */
export const RELAXATION_ORDER: readonly Relaxation['constraint'][] = [
  'maxPricePerHour',
  'maxLatencyMs',
  'gpus',
  'minVramMiB',
  'minComputeCapability',
  'minReputation',
  'region',
  'gpuModels',
  'app',
  'isolation',
];

export function sortRelaxations(rs: Relaxation[]): Relaxation[] {
  return rs.sort(
    (a, b) =>
      a.change - b.change || RELAXATION_ORDER.indexOf(a.constraint) - RELAXATION_ORDER.indexOf(b.constraint),
  );
}

/** The latency to show as a bound: rounded up to 0.1 ms, never below the value. */
export function latencyBoundOf(ms: number): number {
  let v = Math.ceil(ms * 10) / 10;
  if (v < ms) v += 0.1;
  return v;
}

/** A price bound for text: rounded up to 0.001 ATH, never below the price. */
function priceText(units: bigint): string {
  const step = UNIT / 1000n;
  return formatAth(((units + step - 1n) / step) * step);
}

/**
 * A request with one constraint relaxed, as a Relaxation (value, change, words). `base` is the
 * normalized request, `patch` what changes.
 */
export function relaxation(
  q: NormalizedRequest,
  constraint: Relaxation['constraint'],
  patch: Partial<NormalizedRequest>,
  value: Relaxation['value'],
  change: number,
): Relaxation {
  return { constraint, value, change, text: describeRequest({ ...q, ...patch }) };
}

/** "3 H100s in eu-west within 40 ms at ≤ 2.1 ATH/h", from a normalized request. */
export function describeRequest(q: NormalizedRequest): string {
  const what =
    q.models !== null
      ? q.models.map((m) => m.toUpperCase()).join('/')
      : q.minClassRank >= 0
        ? `${GPU_CLASS_ORDER[q.minClassRank]}-class-or-better GPU`
        : 'GPU';
  const parts: string[] = [q.gpus === 0 ? 'a CPU lease' : `${q.gpus} ${what}${q.gpus === 1 ? '' : 's'}`];
  if (q.minVramMiB !== null) parts.push(`with ≥ ${Math.floor(q.minVramMiB / 1024)} GiB each`);
  if (q.minCc10 !== null) parts.push(`compute capability ≥ ${(q.minCc10 / 10).toFixed(1)}`);
  if (q.region !== null) parts.push(`in ${q.region}`);
  if (q.maxLatencyMs !== null) parts.push(`within ${q.maxLatencyMs} ms`);
  if (q.maxPrice !== null) parts.push(`at ≤ ${priceText(q.maxPrice)} ATH/h`);
  if (q.minReputation !== null) parts.push(`reputation ≥ ${Math.floor(q.minReputation * 100) / 100}`);
  if (q.app !== null) parts.push(`with ${q.app} installed`);
  if (q.sandboxOnly) parts.push('sandboxed');
  if (q.image !== null) parts.push(`with a Docker engine for ${q.image}`);
  if (q.minCpuCores !== null) parts.push(`on a host with ≥ ${q.minCpuCores} cores`);
  if (q.minMemoryMiB !== null)
    parts.push(`on a host with ≥ ${Math.ceil(q.minMemoryMiB / 1024)} GiB of memory`);
  return parts.join(' ');
}

/** Does the container register the CPU cores and memory the request asks (its whole machine)? */
export function hostSizeOk(
  spec: { cpu: { cores: number }; memoryMiB: number },
  q: NormalizedRequest,
): boolean {
  return (
    (q.minCpuCores === null || spec.cpu.cores >= q.minCpuCores) &&
    (q.minMemoryMiB === null || spec.memoryMiB >= q.minMemoryMiB)
  );
}

/** The NO_MATCH error, with the counts per reason and the relaxations, from either matcher. */
export function noMatchError(
  containers: number,
  ruledOut: Partial<Record<Reason, number>>,
  relaxations: Relaxation[],
): AethirError {
  const ordered: Record<string, number> = {};
  for (const r of RULED_OUT_ORDER) if (ruledOut[r]) ordered[r] = ruledOut[r];
  const parts = Object.entries(ordered).map(([k, v]) => `${v} ${k}`);
  const nearest = relaxations[0] ?? null;
  const message =
    containers === 0
      ? 'no containers have joined the network yet'
      : `no container matches: of ${containers}, ruled out: ${parts.join(', ')}` +
        (nearest ? `; nearest match: ${nearest.text}` : '');
  return new AethirError('NO_MATCH', message, {
    details: { containers, ruledOut: ordered, nearest, relaxations },
  });
}

/**
 * The request a POST /v1/match body asks for (MatchRequestJson's output): a place named in
 * `location` becomes its coordinates; an unknown or ambiguous name is INVALID_ARGUMENT.
 */
export function matchRequestOf(body: z.output<typeof MatchRequestJson>): MatchRequest {
  if (typeof body.location !== 'string') return body as MatchRequest;
  const p = resolvePlace(body.location);
  return { ...body, location: { lat: p.lat, lon: p.lon } };
}

/** A POST /v1/match body as sent (JSON), checked and made a request (`matchRequestOf`). */
export function parseMatchBody(body: unknown): MatchRequest {
  const r = MatchRequestJson.safeParse(body);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw invalid(`invalid match request: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return matchRequestOf(r.data);
}
