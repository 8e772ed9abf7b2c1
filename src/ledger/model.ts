import type { ContainerSpec, Location } from './modules/containers/payloads.js';
import type { Workload } from './modules/leases/payloads.js';
import type { Params } from './params.js';

/** The records the ledger state holds, under these key prefixes. */
export const K = {
  account: (a: string) => `acct/${a}`,
  container: (a: string) => `ctr/${a}`,
  lease: (id: string) => `lease/${id}`,
  /** one entry per beneficiary, kind and unlock time: vesting entries aggregate per day */
  vesting: (a: string, kind: VestingKind, unlockAt: number) =>
    `vest/${a}/${kind}/${String(unlockAt).padStart(15, '0')}`,
  vestingOf: (a: string) => `vest/${a}/`,
  checker: (a: string) => `chk/${a}`,
  round: (container: string, check: CheckKind) => `round/${container}/${check}`,
  treasury: 'treasury',
  rewardPool: 'pool/rewards',
  checkerPool: 'pool/checkers',
  params: 'params',
  chain: 'chain',
  economics: 'econ',
  lock: (a: string) => `lock/${a}`,
  proposal: (id: number) => `prop/${String(id).padStart(10, '0')}`,
  dao: 'dao',
  /** an app's owner and versions (AppRecord), and each published version (AppRelease): src/ledger/app.ts */
  app: (name: string) => `app/${name}`,
  appRelease: (name: string, version: string) => `appv/${name}/${version}`,
  reservation: (id: string) => `resv/${id}`,
  /** an active reservation's entry in its container's list (so a host's are found without a full scan) */
  reservationOn: (container: string, id: string) => `resvc/${container}/${id}`,
} as const;

export interface Account {
  balance: bigint;
  nonce: number;
  /** a user's escrow balance: what leases lock from */
  escrow: bigint;
}

export type ContainerStatus = 'pending' | 'online' | 'offline';

export interface Container {
  id: string;
  name: string;
  spec: ContainerSpec;
  location: Location;
  pricePerHour: bigint;
  stake: bigint;
  /** stake requested back, withdrawable at `unbondingUntil`; no matching, no rewards meanwhile */
  unbonding: bigint;
  unbondingUntil: number | null;
  status: ContainerStatus;
  /**
   * not matched, not rewarded: set when a slash leaves the stake below the requirement (cleared
   * by topping up), or while `suspendedReason` is set
   */
  suspended: boolean;
  /**
   * why the checkers suspended it ("capacity check failed: ..."), until a later decided check of
   * that kind passes; null: not suspended by a check (it may still be for its stake)
   */
  suspendedReason: string | null;
  /** block time since which the checkers' majority holds it online */
  onlineSince: number | null;
  /** X25519 public key users seal env values to (absent: registered before sealing; no --env) */
  encKey?: string;
  /** the persistent volumes it offers (absent: none): price per GiB-hour and the space for them */
  volumeOffer?: { pricePerGiBHour: bigint; capacityGiB: number };
  /**
   * the host's reserved price per GPU-hour (a discount on `pricePerHour` for booking GPUs for
   * days, modules/reservations); absent: this host sells no reserved capacity
   */
  reservedPricePerHour?: bigint;
  /** GPUs booked by active reservations (absent: none): no one else's lease gets them */
  gpusReserved?: number;
  /** the earliest end of its active reservations (absent: none): nothing to sweep before it */
  reservedUntil?: number;
  gpusTotal: number;
  gpusLeased: number;
  openLeases: number;
  /** host revenue, all time */
  earned: bigint;
  /** GPU-milliseconds delivered in the current epoch (Proof of Delivery) */
  epochDeliveredGpuMs: number;
  /** 1..3, from quality of service (the checker issue measures it); weights delivery rewards */
  qualityTier: number;
  slashed: bigint;
  registeredAt: number;
  /** the latest decided verdict of each check */
  checks: Partial<Record<CheckKind, CheckVerdict>>;
  /** failed checks that slashed it or closed its leases, oldest first (the newest MAX_INCIDENTS) */
  incidents: Incident[];
  /** reputation counters (integers: replayed identically everywhere); see Ledger.reputationOf */
  rep: Reputation;
}

/** One decided round's verdict; `reason`: the checkers' words, or a default sentence. */
export interface CheckVerdict {
  ok: boolean;
  at: number;
  reason: string;
}

export interface Incident {
  at: number;
  check: CheckKind;
  reason: string;
  /** what the slash took (0: nothing) */
  slashed: bigint;
  /** the leases it closed */
  leases: string[];
}

/** how many incidents a container keeps (the newest) */
export const MAX_INCIDENTS = 20;

export interface Reputation {
  /** time online / offline between decided liveness rounds (by the status before each) */
  upMs: number;
  downMs: number;
  /** the time of the last decided liveness round */
  lastLivenessAt: number | null;
  capacityPass: number;
  capacityFail: number;
  locationPass: number;
  locationFail: number;
  /** Σ over decided QoS rounds with scores of the median score × 1000 (rounded), and their count */
  qosMilli: number;
  qosCount: number;
  /** slashes for failed checks */
  slashes: number;
}

export function newReputation(): Reputation {
  return {
    upMs: 0,
    downMs: 0,
    lastLivenessAt: null,
    capacityPass: 0,
    capacityFail: 0,
    locationPass: 0,
    locationFail: 0,
    qosMilli: 0,
    qosCount: 0,
    slashes: 0,
  };
}

export function newCheckerRecord(): CheckerRecord {
  return {
    day: 0,
    correct: 0,
    prevDay: -1,
    prevCorrect: 0,
    incorrectAt: [],
    bannedUntil: 0,
    correctTotal: 0,
    incorrectTotal: 0,
  };
}

/**
 * A container record as older code stored it may lack the fields added since: they read as
 * these defaults (nothing is written until the container is written anyway).
 */
export function withContainerDefaults(c: Container): Container {
  if (
    c.rep !== undefined &&
    c.checks !== undefined &&
    c.incidents !== undefined &&
    c.suspendedReason !== undefined
  )
    return c;
  return {
    ...c,
    suspendedReason: c.suspendedReason ?? null,
    checks: c.checks ?? {},
    incidents: c.incidents ?? [],
    rep: c.rep ?? newReputation(),
  };
}

/**
 * open: running and charged; paused: its escrow ran out, its workload is stopped and its files
 * kept for `params.pauseGraceMs` (a top-up resumes it); closed: settled, the rest refunded.
 * `paused` exists only from a parameter version with `pauseGraceMs` set.
 */
export type LeaseStatus = 'open' | 'paused' | 'closed';

export interface Lease {
  id: string;
  user: string;
  container: string;
  gpus: number;
  pricePerHour: bigint;
  maxDurationSec: number;
  openEnded: boolean;
  workload: Workload;
  escrow: bigint;
  charged: bigint;
  hostShare: bigint;
  protocolShare: bigint;
  openedAt: number;
  /**
   * the point (block time) the lease has been charged through: `charged` is the price of
   * `settledAt - openedAt` (capped at the escrow). It trails the block time when the user's
   * usage receipts acknowledge less.
   */
  settledAt: number;
  closedAt: number | null;
  status: LeaseStatus;
  exitCode: number | null;
  closeReason: string | null;
  closedBy: string | null;
  /** seq of the last usage receipt the ledger accepted for this lease (0: none yet) */
  lastReceiptSeq: number;
  /** the most service (ms since openedAt) the user has acknowledged in a receipt */
  receiptServedMs: number;
  /**
   * while paused (and after, on a lease closed while paused): the block time its escrow ran
   * out (charges stop there). Absent (leases from before pausing) or null: not paused.
   */
  pausedAt?: number | null;
  /**
   * the time it spent paused before its last resume: never charged, nor counted against its
   * maximum duration (absent: 0). It is charged for `settledAt - openedAt - pausedMs`.
   */
  pausedMs?: number;
  /**
   * what its user allowed the serving container to top it up with from their balance
   * (lease.open `topUpLimit`; absent: nothing), and how much of it the container used
   */
  topUpLimit?: bigint;
  toppedUpByHost?: bigint;
  /** run on a reservation's GPUs (modules/reservations): charged nothing beyond the reservation */
  reservation?: string;
  /** interruptible: `pricePerHour` is the user's bid; a higher-paying lease may preempt it */
  interruptible?: boolean;
  /** when a higher-paying lease preempted it: nothing is charged after this */
  preemptedAt?: number;
  /** its workload gets SIGTERM at `preemptedAt` and is stopped by this time */
  preemptStopAt?: number;
  /** the lease that preempted it */
  preemptedBy?: string;
  /** an interruptible lease this one resumes from (its checkpoint files are copied in) */
  resumes?: string;
}

export type ReservationStatus = 'active' | 'closed';

/**
 * GPUs of one host booked by one user for whole days at the host's reserved price. The whole
 * period's price is locked from the user's escrow when it opens (`escrow`); each day is due in
 * advance, at its start (a user's cancel keeps the current day); the host is paid completed days
 * as they pass (`charged`) and the rest at the close; a host that fails refunds pro rata to the
 * moment its failure was first seen. Leases on it cost nothing more.
 */
export interface Reservation {
  id: string;
  user: string;
  container: string;
  gpus: number;
  /** per GPU-hour, the host's reserved price when it opened */
  pricePerHour: bigint;
  days: number;
  startsAt: number;
  endsAt: number;
  escrow: bigint;
  charged: bigint;
  hostShare: bigint;
  protocolShare: bigint;
  /** GPUs its open leases use now */
  gpusInUse: number;
  /** its leases ever opened */
  leases: number;
  status: ReservationStatus;
  closedAt: number | null;
  closeReason: string | null;
  closedBy: string | null;
}

export type VestingKind = 'host' | 'reward' | 'checker' | 'revenue';

export interface VestingEntry {
  amount: bigint;
  kind: VestingKind;
  /** when it was earned (checker rewards may be claimed early from this time + fast period) */
  earnedAt: number;
  unlockAt: number;
}

/**
 * What checkers verify: the container answers (liveness), its spec is real (capacity), it is
 * where it says (location), its service holds up while it serves (qos), and it still holds the
 * volumes it bills for (storage: one round per volume).
 */
export const CHECK_KINDS = ['liveness', 'capacity', 'location', 'qos', 'storage'] as const;
export type CheckKind = (typeof CHECK_KINDS)[number];

/** One checker's vote: what it observed, when, and (optionally) in its own words and a QoS score. */
export interface Vote {
  ok: boolean;
  at: number;
  reason?: string;
  /** 0..1, QoS */
  score?: number;
  /** location, refuted: the other checker whose shared measurement the refutation rests on */
  restsOn?: string;
}

/** Votes of the checkers on one question about one container, until a majority decides. */
export interface Round {
  openedAt: number;
  /**
   * block time of the first vote of the open round (null: no vote yet): from then on, every
   * params.checkerReassignMs without a decision admits the next-ranked checker
   */
  firstVoteAt: number | null;
  votes: Record<string, Vote>;
  /**
   * the previous round's outcome, to judge late votes that belong to it; `voters`: the checkers
   * already judged on it, so a re-sent or repeated late vote is not counted again
   */
  prev: { ok: boolean; decidedAt: number; openedAt: number; voters: string[]; credited: boolean } | null;
  /** the epoch in which correct answers on this question were last credited (once per epoch) */
  creditedEpoch: number;
}

export interface CheckerRecord {
  /** correct reports per day (the current and the previous day, so a late day close still counts) */
  day: number;
  correct: number;
  prevDay: number;
  prevCorrect: number;
  /** times of strikes (false liveness accusations: "down" against an "up" majority) in the last 7 days */
  incorrectAt: number[];
  bannedUntil: number;
  correctTotal: number;
  incorrectTotal: number;
}

export interface Pool {
  balance: bigint;
}
export type Treasury = Pool;

export interface Economics {
  /** staking coefficient, basis points (10000 = 1.0) */
  coefficientBps: number;
  coefficientUpdatedAt: number;
  /** host revenue since the last coefficient update */
  revenueSince: bigint;
  /** last closed epoch (-1 before the first) and when it ended (genesis time before the first) */
  lastEpoch: number;
  lastEpochEnd: number;
  /** last closed day of checker rewards (-1 before the first) */
  lastCheckerDay: number;
  /**
   * 64 hex: the seed that ranks checkers per container in the current epoch. Genesis:
   * sha256("aethir-epoch-seed\0" + chainId + genesis time); each epoch.close:
   * sha256(seed + "\0" + previous block hash + "\0" + epoch). See src/ledger/assignment.ts.
   */
  epochSeed: string;
}

/** ATH locked for voting weight: weight = amount × (end - t) / lockMaxMs, decaying to 0 at `end`. */
export interface Lock {
  amount: bigint;
  end: number;
  /** every change (block height and time, amount, end), so past weights can be computed */
  history: Array<{ height: number; at: number; amount: bigint; end: number }>;
}

export const CONSTITUENCIES = ['providers', 'checkers', 'indexers', 'holders'] as const;
export type Constituency = (typeof CONSTITUENCIES)[number];

export type ProposalAction =
  | { kind: 'params'; changes: Record<string, unknown> }
  | { kind: 'treasury'; to: string; amount: bigint }
  | { kind: 'council'; constituency: Constituency; member: string | null };

export type Choice = 'for' | 'against' | 'abstain';

export interface Proposal {
  id: number;
  title: string;
  proposer: string;
  actions: ProposalAction[];
  /** operational changes need the council's ratification after the vote */
  operational: boolean;
  createdAt: number;
  createdHeight: number;
  votingEnds: number;
  executableAt: number;
  /** the total voting weight at creation: the quorum's base */
  totalWeight: bigint;
  votes: Record<string, { choice: Choice; weight: bigint }>;
  tally: Record<Choice, bigint>;
  ratifiedBy: string[];
  status: 'active' | 'executed' | 'rejected' | 'failed';
  outcome: string | null;
}

export interface DaoState {
  nextProposal: number;
  council: Record<Constituency, string | null>;
  /** protocol fee income since the last revenue share */
  incomeSince: bigint;
}

export interface ChainInfo {
  chainId: string;
  genesisTime: number;
  supply: bigint;
  checkers: string[];
  /** may apply parameter changes until the DAO takes over */
  governance: string | null;
}

export type { Params };
