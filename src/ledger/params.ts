import { z } from 'zod';
import { ath } from '../core/amount.js';

/**
 * The network's economic parameters: one typed, versioned set, every value bounded. Only a
 * governance transaction (`params.update`) may change it. Figures and their sources: DESIGN.md §3.
 * Amounts are units (1 ATH = 10^18); durations are milliseconds of block time.
 */
const DAY = 86_400_000;

import { GPU_CLASSES, gpuClass, type GpuClass } from './gpu-class.js';

export { GPU_CLASSES, gpuClass, type GpuClass } from './gpu-class.js';

/** A bigint parameter: a bigint in memory, a decimal string on the wire. */
const Big = z
  .union([
    z.bigint(),
    z
      .string()
      .regex(/^\d{1,40}$/)
      .transform((s) => BigInt(s)),
  ])
  .pipe(z.bigint().min(0n));
const ms = (min: number, max: number) => z.number().int().min(min).max(max);
const bps = (min = 0, max = 10_000) => z.number().int().min(min).max(max);

export const ParamsSchema = z
  .object({
    /** bumped by every governance change */
    version: z.number().int().min(1),
    /** host share of every rental charge (8000 = 80%; the rest goes to the protocol treasury) */
    feeHostBps: bps(5000, 10_000),
    /** host earnings are paid daily and claimable this long after the day ends (Aethir: 45 days) */
    hostVestingMs: ms(0, 365 * DAY),
    /** stake withdrawn only this long after an unstake request (Aethir: 180 days) */
    unbondingMs: ms(0, 730 * DAY),
    /** K per GPU of each class (a host without GPUs: `cpu`), scaled by the staking coefficient */
    kTable: z
      .object(Object.fromEntries(GPU_CLASSES.map((c) => [c, Big])) as Record<GpuClass, typeof Big>)
      .strict(),
    /** average monthly host revenue per GPU at which the staking coefficient is 1.0 */
    coefficientRefMonthlyRevenue: Big.pipe(z.bigint().min(1n)),
    coefficientMinBps: bps(1000, 10_000),
    coefficientMaxBps: bps(10_000, 100_000),
    /** how often the coefficient is recomputed from revenue (weekly) */
    coefficientPeriodMs: ms(DAY, 90 * DAY),
    /** downtime while serving: 1/3 × K × coefficient */
    slashDowntimeBps: bps(0, 10_000),
    /** specs far below the claim, or deceiving the indexer: 1 × K × coefficient */
    slashSpecBps: bps(0, 20_000),
    /** a location the checkers' latency measurements contradict: 1/2 × K × coefficient */
    slashLocationBps: bps(0, 20_000),
    /**
     * Proof-of-Capacity / Proof-of-Delivery epoch (15 minutes); also how often the checkers'
     * assignment is redrawn. As short as a second, for a devnet (`--epoch 10`).
     */
    epochMs: ms(1_000, DAY),
    /** reward pool emitted per epoch in the first year; decays yearly */
    emissionPerEpoch: Big,
    emissionDecayBps: bps(0, 10_000),
    /** share of each epoch's emission for Proof of Capacity; the rest for Proof of Delivery */
    pocShareBps: bps(0, 10_000),
    /** reward weight of a quality tier (1..3), for Proof of Delivery */
    qualityTierBps: z.tuple([bps(0, 100_000), bps(0, 100_000), bps(0, 100_000)]),
    /** checker reward pool per day, shared by correct reports */
    checkerPoolPerDay: Big,
    checkerVestingMs: ms(0, 730 * DAY),
    checkerFastVestingMs: ms(0, 730 * DAY),
    checkerFastForfeitBps: bps(0, 10_000),
    /** incorrect reports within 7 days that suspend a checker... */
    checkerMaxIncorrectPerWeek: z.number().int().min(1).max(1000),
    /** ...for this long: no tasks, no rewards */
    checkerBanMs: ms(0, 365 * DAY),
    /**
     * N of Aethir's "2N+1 reports per container": each container is checked by the 2N+1
     * checkers its epoch's draw ranks first (fewer if fewer are eligible), and N+1 of them decide
     */
    checkerQuorumN: z.number().int().min(0).max(16),
    /**
     * a round that has a first vote but no decision this long after it admits the next-ranked
     * checker, and one more per further period: an unresponsive checker's task is reassigned
     */
    checkerReassignMs: ms(1_000, DAY),
    /**
     * whether container.register accepts a spec whose source is "simulated" (hosts that do not
     * exist): only a devnet's genesis allows it
     */
    simulatedHardware: z.boolean(),
    /**
     * whether lease.open accepts env values in clear (`workload.env`). Absent: yes, as every
     * network did before sealed env (src/core/seal.ts), so recorded history replays; a devnet's
     * genesis sets false, and governance may set it false on an older network (from that
     * parameter version on, lease.open takes only `workload.sealedEnv`)
     */
    clearEnv: z.boolean().optional(),
    /**
     * whether a failed location round slashes only when a majority of its votes refute the claim
     * without resting on one other checker's shared measurement (`restsOn`): one dishonest
     * checker's false RTT can make every honest vote refute an honest host. Otherwise the
     * container is suspended and its leases closed, refunded, without a slash. The price: most
     * lies rest on one vantage point, so with few checkers most liars are suspended, not slashed
     * (docs/verification.md). Absent: every failed location round slashes, as before (recorded
     * history replays, and a devnet does so); governance may set it
     */
    locationSlashNeedsRobust: z.boolean().optional(),
    /** longest lease one `lease.open` may ask for */
    maxLeaseSeconds: z
      .number()
      .int()
      .min(60)
      .max(90 * 86400),
    /** escrow locked by an open-ended lease (no maxDurationSec): this much time at its price */
    openEndedDepositSeconds: z
      .number()
      .int()
      .min(60)
      .max(30 * 86400),
    /**
     * how long after the user's last usage receipt a container may end a lease for lack of
     * receipts (the container applies it; the ledger caps charges at the receipts either way)
     */
    receiptGraceMs: ms(1_000, 3_600_000),
    /**
     * how long a lease whose escrow ran out stays paused (workload stopped, files kept on its
     * host) for its user to top it up (lease.topup) before it closes. Absent: leases are never
     * paused and `lease.open` takes no `depositSec` (networks from before pausing, so recorded
     * history replays); a devnet's genesis sets it, and governance may set it on an older network
     */
    pauseGraceMs: ms(1_000, 30 * DAY).optional(),
    /**
     * how long an interruptible lease runs after a higher-paying lease preempts it (its workload
     * gets SIGTERM and this long to checkpoint; it is charged only up to the preemption). Absent:
     * 30 s (no network had interruptible leases before it existed); a devnet's genesis sets it
     */
    preemptNoticeMs: ms(0, 3_600_000).optional(),
    /**
     * proof of storage for volumes: each new volume's host appends canary blocks sealed with this
     * many sequential PBKDF2 steps to its image, and the checkers challenge them
     * (docs/verification.md). Set it so that sealing one block takes well over the checkers'
     * deadline on the fastest hardware. Absent: volumes are not proven (networks from before;
     * recorded history replays); a devnet's genesis sets it
     */
    volumeSealIterations: z
      .number()
      .int()
      .min(1)
      .max(2 ** 26)
      .optional(),
    /**
     * how long a host keeps an ended interruptible lease's checkpoint directory, serving it to
     * the lease's user (docs/sdk.md "interruptible"): a lease may resume it (lease.open `resumes`) on
     * any host within this time after it closed, its checkpoint copied over by the user's client.
     * Absent: a lease resumes only on the host that kept the checkpoint (networks from before)
     */
    checkpointKeepMs: ms(60_000, 30 * DAY).optional(),
    // ---- the DAO ----
    /** shortest and longest lock of ATH for voting weight (weight = amount × time left / lockMaxMs) */
    lockMinMs: ms(DAY, 365 * DAY),
    lockMaxMs: ms(30 * DAY, 8 * 365 * DAY),
    /** weight needed to make a proposal */
    proposalMinWeight: Big,
    votingPeriodMs: ms(60_000, 60 * DAY),
    /** share of the total weight (at creation) that must vote for a proposal to count */
    quorumBps: bps(1, 10_000),
    /** wait between a passed vote and its execution */
    timelockMs: ms(0, 60 * DAY),
    /** share of the protocol's fee income paid each epoch to lockers, pro rata to weight */
    revenueShareBps: bps(0, 10_000),
  })
  .strict()
  .refine(
    (p) => p.coefficientMinBps <= p.coefficientMaxBps,
    'coefficientMinBps must not exceed coefficientMaxBps',
  )
  .refine(
    (p) => p.checkerFastVestingMs <= p.checkerVestingMs,
    'checkerFastVestingMs must not exceed checkerVestingMs',
  )
  .refine((p) => p.lockMinMs <= p.lockMaxMs, 'lockMinMs must not exceed lockMaxMs');
export type Params = z.output<typeof ParamsSchema>;

export const DEFAULT_PARAMS: Params = {
  version: 1,
  feeHostBps: 8000,
  hostVestingMs: 45 * DAY,
  unbondingMs: 180 * DAY,
  kTable: {
    cpu: ath(100),
    h200: ath(4000),
    h100: ath(3000),
    a100: ath(1500),
    l40s: ath(800),
    rtx4090: ath(400),
    rtx3090: ath(250),
    other: ath(200),
  },
  coefficientRefMonthlyRevenue: ath(500),
  coefficientMinBps: 5000,
  coefficientMaxBps: 30_000,
  coefficientPeriodMs: 7 * DAY,
  slashDowntimeBps: 3333,
  slashSpecBps: 10_000,
  slashLocationBps: 5_000,
  epochMs: 15 * 60_000,
  emissionPerEpoch: ath(10_000),
  emissionDecayBps: 1500,
  pocShareBps: 5000,
  qualityTierBps: [10_000, 12_500, 15_000],
  checkerPoolPerDay: ath(50_000),
  checkerVestingMs: 180 * DAY,
  checkerFastVestingMs: 30 * DAY,
  checkerFastForfeitBps: 7500,
  checkerMaxIncorrectPerWeek: 2,
  checkerBanMs: 30 * DAY,
  checkerQuorumN: 1,
  checkerReassignMs: 120_000,
  simulatedHardware: false,
  maxLeaseSeconds: 30 * 86400,
  openEndedDepositSeconds: 86400,
  receiptGraceMs: 3 * 60_000,
  lockMinMs: 7 * DAY,
  lockMaxMs: 4 * 365 * DAY,
  proposalMinWeight: ath(10_000),
  votingPeriodMs: 3 * DAY,
  quorumBps: 400,
  timelockMs: 2 * DAY,
  revenueShareBps: 2000,
};

/**
 * Operational parameters (check cadence, checker rules, lease limits): a change to them needs
 * the council's ratification after the vote (Aethir's bylaws); economic ones do not.
 */
export const OPERATIONAL_PARAMS: ReadonlySet<string> = new Set([
  'epochMs',
  'coefficientPeriodMs',
  'checkerMaxIncorrectPerWeek',
  'checkerBanMs',
  'checkerQuorumN',
  'checkerReassignMs',
  'simulatedHardware',
  'clearEnv',
  'locationSlashNeedsRobust',
  'qualityTierBps',
  'maxLeaseSeconds',
  'openEndedDepositSeconds',
  'receiptGraceMs',
  'pauseGraceMs',
  'preemptNoticeMs',
  'volumeSealIterations',
  'checkpointKeepMs',
  'votingPeriodMs',
  'timelockMs',
]);

/**
 * Parameters added after a network may have started: a parameter set stored by older code
 * lacks them and reads with these values (the ones such a network implicitly ran with, or the
 * defaults).
 */
export const LATER_PARAMS = {
  slashLocationBps: DEFAULT_PARAMS.slashLocationBps,
  checkerQuorumN: DEFAULT_PARAMS.checkerQuorumN,
  checkerReassignMs: DEFAULT_PARAMS.checkerReassignMs,
  simulatedHardware: DEFAULT_PARAMS.simulatedHardware,
} as const satisfies Partial<Params>;

/** Optional parameters: absent from a set means the behaviour from before they existed. */
export const OPTIONAL_PARAMS: ReadonlySet<string> = new Set([
  'clearEnv',
  'locationSlashNeedsRobust',
  'pauseGraceMs',
  'preemptNoticeMs',
  'volumeSealIterations',
  'checkpointKeepMs',
]);

/**
 * The sealing work of a devnet's volume canaries (params.volumeSealIterations): 2^20 PBKDF2 steps,
 * about 0.3-0.7 s per block on one core, against a 250 ms deadline (STORAGE_DEADLINE_MS).
 */
export const DEFAULT_VOLUME_SEAL_ITERATIONS = 2 ** 20;

/** The preemption notice when a parameter set has none (see `preemptNoticeMs`). */
export const DEFAULT_PREEMPT_NOTICE_MS = 30_000;

/** How long a devnet's hosts keep an ended interruptible lease's checkpoint (params.checkpointKeepMs): a day. */
export const DEFAULT_CHECKPOINT_KEEP_MS = 86_400_000;

/** The notice an interruptible lease gets before it is stopped for a higher-paying one. */
export function preemptNoticeOf(p: Params): number {
  return p.preemptNoticeMs ?? DEFAULT_PREEMPT_NOTICE_MS;
}

/** A stored parameter set, with the parameters it predates filled in. */
export function withLaterParams(p: Params): Params {
  for (const k in LATER_PARAMS) if (!(k in p)) return { ...LATER_PARAMS, ...p };
  return p;
}

export function parseParams(input: unknown): Params {
  return ParamsSchema.parse(input);
}

/** Σ K(class of each GPU) — or K(cpu) for a host without GPUs — before the coefficient. */
export function stakeBase(params: Params, gpuModels: readonly string[]): bigint {
  if (gpuModels.length === 0) return params.kTable.cpu;
  let k = 0n;
  for (const m of gpuModels) k += params.kTable[gpuClass(m)];
  return k;
}

/** The stake a container must hold to be matched: Σ K × staking coefficient. */
export function requiredStake(params: Params, coefficientBps: number, gpuModels: readonly string[]): bigint {
  return (stakeBase(params, gpuModels) * BigInt(coefficientBps)) / 10_000n;
}
