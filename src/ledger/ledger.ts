import { AethirError, mulBps } from '../core/index.js';
import { LedgerState } from './state.js';
import {
  K,
  type Account,
  type ChainInfo,
  type CheckerRecord,
  type CheckKind,
  type Container,
  type Economics,
  type Lease,
  type Pool,
  type Round,
  type Vote,
  type VestingEntry,
  type VestingKind,
  type Lock,
  type Proposal,
  type ProposalAction,
  type DaoState,
  MAX_INCIDENTS,
  newReputation,
  withContainerDefaults,
} from './model.js';
import { genesisEpochSeed, nextEpochSeed, rankCheckers } from './assignment.js';
import { historicWeight, proposalPhase, weightAt, weightAtCreation } from './governance.js';
import {
  OPERATIONAL_PARAMS,
  OPTIONAL_PARAMS,
  requiredStake,
  stakeBase,
  withLaterParams,
  type Params,
} from './params.js';
import { TOTAL_SUPPLY, paramsFromWire, paramsToWire, type Genesis } from './genesis.js';
import { decodeTx, type DecodedTx, type Payload, type TxType } from './tx.js';
import { verifyReceipt, type SignedReceipt } from './receipt.js';
import { appGpus, type AppRecord, type AppRelease } from './app.js';

const MS_PER_HOUR = 3_600_000n;
const DAY = 86_400_000;
const WEEK = 7 * DAY;
const YEAR = 365 * DAY;
const MONTH = 30 * DAY;

/** What applying a transaction produced, for the submitter (ids of created records, charges). */
export type TxResult = Record<string, string | number | boolean | null>;

export interface BlockContext {
  height: number;
  /** block time, ms: the ledger's only notion of time, so replay is deterministic */
  time: number;
  /** the hash of the previous block (genesis: the genesis block's): it feeds the epoch seed */
  prevHash: string;
}

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
};

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
 * The deterministic state machine: `apply(state, tx) -> state'`. It never reads a clock or a
 * random source; time comes from the block. A transaction either applies completely or is
 * rejected with a typed error and leaves the state untouched.
 *
 * Where the money is (all of it adds up to the genesis supply, always): account balances and
 * escrows, container stakes and unbonding stakes, the unspent escrow of open leases, vesting
 * entries, the reward and checker pools, and the treasury.
 */
/** Thrown inside a dry run to undo its writes; never escapes `Ledger.check`. */
const ROLLBACK = Symbol('rollback');

export class Ledger {
  readonly state: LedgerState;

  private constructor(state: LedgerState) {
    this.state = state;
  }

  static fromGenesis(g: Genesis): Ledger {
    const l = new Ledger(new LedgerState());
    l.state.atomically(() => {
      let allocated = 0n;
      for (const a of g.allocations) {
        l.state.set(K.account(a.address), { balance: a.amount, nonce: 0, escrow: 0n } satisfies Account);
        allocated += a.amount;
      }
      l.state.set(K.rewardPool, { balance: g.pools.rewards } satisfies Pool);
      l.state.set(K.checkerPool, { balance: g.pools.checkers } satisfies Pool);
      l.state.set(K.treasury, {
        balance: TOTAL_SUPPLY - allocated - g.pools.rewards - g.pools.checkers,
      } satisfies Pool);
      l.state.set(K.params, g.params);
      l.state.set(K.economics, {
        coefficientBps: 10_000,
        coefficientUpdatedAt: g.time,
        revenueSince: 0n,
        lastEpoch: -1,
        lastEpochEnd: g.time,
        lastCheckerDay: -1,
        epochSeed: genesisEpochSeed(g.chainId, g.time),
      } satisfies Economics);
      l.state.set(K.chain, {
        chainId: g.chainId,
        genesisTime: g.time,
        supply: TOTAL_SUPPLY,
        checkers: [...g.checkers],
        governance: g.governance,
      } satisfies ChainInfo);
      for (const c of g.checkers) l.state.set(K.checker(c), newCheckerRecord());
      l.state.set(K.dao, {
        nextProposal: 0,
        council: { providers: null, checkers: null, indexers: null, holders: null },
        incomeSince: 0n,
      } satisfies DaoState);
    });
    return l;
  }

  static fromState(state: LedgerState): Ledger {
    return new Ledger(state);
  }

  // ---- reads ----

  get chain(): ChainInfo {
    return this.state.get<ChainInfo>(K.chain)!;
  }
  get params(): Params {
    return withLaterParams(this.state.get<Params>(K.params)!);
  }
  get economics(): Economics {
    const e = this.state.get<Economics>(K.economics)!;
    if (e.epochSeed !== undefined) return e;
    // stored by code older than checker assignment: still in the first draw
    const chain = this.chain;
    return { ...e, epochSeed: genesisEpochSeed(chain.chainId, chain.genesisTime) };
  }
  /** The seed of the current epoch's checker draw (64 hex). */
  epochSeed(): string {
    return this.economics.epochSeed;
  }
  account(address: string): Account {
    return this.state.get<Account>(K.account(address)) ?? { balance: 0n, nonce: 0, escrow: 0n };
  }
  container(id: string): Container | undefined {
    const c = this.state.get<Container>(K.container(id));
    return c && withContainerDefaults(c);
  }
  lease(id: string): Lease | undefined {
    return this.state.get<Lease>(K.lease(id));
  }
  treasury(): Pool {
    return this.state.get<Pool>(K.treasury)!;
  }
  rewardPool(): Pool {
    return this.state.get<Pool>(K.rewardPool)!;
  }
  checkerPool(): Pool {
    return this.state.get<Pool>(K.checkerPool)!;
  }
  checker(address: string): CheckerRecord | undefined {
    return this.state.get<CheckerRecord>(K.checker(address));
  }
  round(container: string, check: CheckKind): Round | undefined {
    const r = this.state.get<Round>(K.round(container, check));
    if (!r || r.firstVoteAt !== undefined) return r;
    // stored by older code: its first vote's observation stands in for the block time
    const at = Object.values(r.votes).map((v) => v.at);
    return { ...r, firstVoteAt: at.length ? Math.min(...at) : null };
  }
  containers(): Container[] {
    return [...this.state.scan<Container>('ctr/')].map(([, v]) => withContainerDefaults(v));
  }
  leases(): Lease[] {
    return [...this.state.scan<Lease>('lease/')].map(([, v]) => v);
  }
  accounts(): Array<Account & { address: string }> {
    return [...this.state.scan<Account>('acct/')].map(([k, v]) => ({ address: k.slice(5), ...v }));
  }
  vesting(address: string): Array<VestingEntry & { key: string }> {
    return [...this.state.scan<VestingEntry>(K.vestingOf(address))].map(([key, v]) => ({ key, ...v }));
  }
  root(): string {
    return this.state.root();
  }
  get dao(): DaoState {
    return (
      this.state.get<DaoState>(K.dao) ?? {
        nextProposal: 0,
        council: { providers: null, checkers: null, indexers: null, holders: null },
        incomeSince: 0n,
      }
    );
  }
  lock(address: string): Lock | undefined {
    return this.state.get<Lock>(K.lock(address));
  }
  locks(): Array<Lock & { address: string }> {
    return [...this.state.scan<Lock>('lock/')].map(([k, v]) => ({ address: k.slice(5), ...v }));
  }
  proposal(id: number): Proposal | undefined {
    return this.state.get<Proposal>(K.proposal(id));
  }
  proposals(): Proposal[] {
    return [...this.state.scan<Proposal>('prop/')].map(([, v]) => v);
  }
  app(name: string): AppRecord | undefined {
    return this.state.get<AppRecord>(K.app(name));
  }
  /** One published version of an app (absent `version`: the latest). */
  appRelease(name: string, version?: string): AppRelease | undefined {
    const v = version ?? this.app(name)?.latest;
    return v === undefined ? undefined : this.state.get<AppRelease>(K.appRelease(name, v));
  }
  apps(): AppRecord[] {
    return [...this.state.scan<AppRecord>('app/')].map(([, v]) => v);
  }
  /** Voting weight of an account at time t (its lock decays linearly to its end). */
  weightOf(address: string, t: number): bigint {
    return weightAt(this.lock(address), t, this.params.lockMaxMs);
  }
  /** Total voting weight at time t. */
  totalWeight(t: number): bigint {
    let w = 0n;
    for (const l of this.locks()) w += weightAt(l, t, this.params.lockMaxMs);
    return w;
  }
  /** How many ratifications an operational proposal needs (0: no council yet): a majority of the members. */
  councilMajority(): number {
    // Distinct members: one holding two seats ratifies once; counting seats could ask for more
    // ratifications than there are members, and no operational change could ever pass.
    const filled = new Set(Object.values(this.dao.council).filter(Boolean)).size;
    return filled === 0 ? 0 : Math.floor(filled / 2) + 1;
  }
  proposalPhase(p: Proposal, t: number) {
    return proposalPhase(p, t, this.params.quorumBps, this.councilMajority());
  }

  /** The stake this container must hold to be matched and rewarded now. */
  requiredStakeOf(c: Pick<Container, 'spec'>): bigint {
    return this.requiredStakeFor(c.spec.gpus.map((g) => g.model));
  }

  /** The stake a host with these GPU models (none: a CPU host) must hold now. */
  requiredStakeFor(gpuModels: readonly string[]): bigint {
    return requiredStake(this.params, this.economics.coefficientBps, gpuModels);
  }

  /**
   * The checkers assigned to `containerId` at `time`: the genesis checkers not banned then,
   * ranked by the current epoch's draw (`rankCheckers`), the first 2N+1 (params.checkerQuorumN;
   * fewer if fewer are eligible). With `check`, plus the reassigned ones: when that check's open
   * round got its first vote and no decision, one more per params.checkerReassignMs since then.
   * A report from anyone else is refused.
   */
  assignedCheckers(containerId: string, time: number, check?: CheckKind): string[] {
    return this.draw(containerId, time, check).assigned;
  }

  /** Votes that decide a round on `containerId` at `time`: a majority of its 2N+1 checkers (N+1). */
  quorumOf(containerId: string, time: number): number {
    return this.draw(containerId, time).quorum;
  }

  private draw(containerId: string, time: number, check?: CheckKind): { assigned: string[]; quorum: number } {
    const params = this.params;
    const eligible = this.chain.checkers.filter((a) => (this.checker(a)?.bannedUntil ?? 0) <= time);
    const ranked = rankCheckers(this.epochSeed(), containerId, eligible);
    const base = Math.min(2 * params.checkerQuorumN + 1, ranked.length);
    let n = base;
    const r = check === undefined ? undefined : this.round(containerId, check);
    if (r && r.firstVoteAt !== null && Object.keys(r.votes).length > 0)
      n += Math.max(0, Math.floor((time - r.firstVoteAt) / params.checkerReassignMs));
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
  reputationOf(c: Container): ReputationView {
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

  /** Online, staked, not suspended, not unbonding: may be matched and earns capacity rewards. */
  isServing(c: Container): boolean {
    return c.status === 'online' && !c.suspended && c.unbonding === 0n && c.stake >= this.requiredStakeOf(c);
  }

  /** The first epoch not yet closed, and whether its end has passed at `time`. */
  nextEpoch(time: number): { epoch: number; end: number; due: boolean } {
    const econ = this.economics;
    // From the end of the last epoch, so a change of epochMs never pays a period twice.
    const end = econ.lastEpochEnd + this.params.epochMs;
    return { epoch: econ.lastEpoch + 1, end, due: end <= time };
  }

  /** Sum of every unit held anywhere: must always equal the genesis supply. */
  totalHeld(): bigint {
    let t = this.treasury().balance + this.rewardPool().balance + this.checkerPool().balance;
    for (const a of this.accounts()) t += a.balance + a.escrow;
    for (const c of this.containers()) t += c.stake + c.unbonding;
    for (const l of this.leases()) if (l.status === 'open') t += l.escrow - l.charged;
    for (const [, v] of this.state.scan<VestingEntry>('vest/')) t += v.amount;
    for (const [, v] of this.state.scan<Lock>('lock/')) t += v.amount;
    return t;
  }

  // ---- apply ----

  /** Validates (signature, nonce, rules) and applies one transaction atomically. */
  apply(input: unknown, ctx: BlockContext): { tx: DecodedTx; result: TxResult } {
    return this.applyDecoded(decodeTx(input, this.chain.chainId), ctx);
  }

  /** As apply, for a transaction whose signature was already verified (batch verification). */
  applyDecoded(tx: DecodedTx, ctx: BlockContext): { tx: DecodedTx; result: TxResult } {
    return { tx, result: this.state.atomically(() => this.applyInside(tx, ctx)) };
  }

  /**
   * Validates a transaction exactly as apply would at `ctx`, then rolls everything back: what a
   * node that does not order transactions itself (a replica behind a shared log) checks before
   * it appends one, so a transaction that would be rejected never reaches the log.
   */
  check(input: unknown, ctx: BlockContext): { tx: DecodedTx; result: TxResult } {
    const tx = decodeTx(input, this.chain.chainId);
    let result: TxResult | undefined;
    try {
      this.state.atomically(() => {
        result = this.applyInside(tx, ctx);
        throw ROLLBACK;
      });
    } catch (e) {
      if (e !== ROLLBACK) throw e;
    }
    return { tx, result: result! };
  }

  private applyInside(tx: DecodedTx, ctx: BlockContext): TxResult {
    const acct = this.account(tx.tx.from);
    if (tx.tx.nonce !== acct.nonce)
      throw new AethirError(
        'NONCE_MISMATCH',
        `nonce ${tx.tx.nonce} is not the account's next nonce ${acct.nonce}`,
        {
          details: { expected: acct.nonce },
        },
      );
    const r = HANDLERS[tx.type].call(this, tx as never, ctx);
    const after = this.account(tx.tx.from);
    this.state.set(K.account(tx.tx.from), { ...after, nonce: acct.nonce + 1 });
    return r;
  }

  // ---- money movements (inside an atomic section) ----

  private setAccount(address: string, a: Account): void {
    if (a.balance < 0n || a.escrow < 0n) throw new AethirError('INTERNAL', 'negative balance');
    this.state.set(K.account(address), a);
  }

  private debit(address: string, amount: bigint, what: string): void {
    const a = this.account(address);
    if (a.balance < amount)
      throw new AethirError(
        'INSUFFICIENT_FUNDS',
        `${what} needs ${amount} units but the balance is ${a.balance}`,
        {
          details: { needed: amount.toString(), balance: a.balance.toString() },
        },
      );
    this.setAccount(address, { ...a, balance: a.balance - amount });
  }

  private credit(address: string, amount: bigint): void {
    const a = this.account(address);
    this.setAccount(address, { ...a, balance: a.balance + amount });
  }

  private movePool(key: string, delta: bigint): void {
    const p = this.state.get<Pool>(key)!;
    if (p.balance + delta < 0n) throw new AethirError('INTERNAL', `pool ${key} would go negative`);
    this.state.set(key, { balance: p.balance + delta });
  }

  private vest(address: string, kind: VestingKind, amount: bigint, earnedAt: number, unlockAt: number): void {
    if (amount <= 0n) return;
    const key = K.vesting(address, kind, unlockAt);
    const e = this.state.get<VestingEntry>(key);
    this.state.set(key, {
      amount: (e?.amount ?? 0n) + amount,
      kind,
      earnedAt: e ? Math.min(e.earnedAt, earnedAt) : earnedAt,
      unlockAt,
    } satisfies VestingEntry);
  }

  private putContainer(c: Container): void {
    this.state.set(K.container(c.id), c);
  }

  /**
   * Charges a lease up to time `t`, but never for more than `capMs` since it opened (what the
   * user's receipts acknowledge, for a container's charge), nor past its maximum duration, nor
   * beyond its escrow; never less than it was already charged. The host's share vests, the rest
   * goes to the treasury.
   */
  private settleTo(lease: Lease, t: number, capMs = Infinity): Lease {
    const end = Math.max(
      lease.settledAt,
      Math.min(t, lease.openedAt + lease.maxDurationSec * 1000, lease.openedAt + capMs),
    );
    const units = BigInt(Math.max(1, lease.gpus));
    let due = (lease.pricePerHour * units * BigInt(end - lease.openedAt)) / MS_PER_HOUR;
    if (due > lease.escrow) due = lease.escrow;
    const c = this.container(lease.container)!;
    const deliveredGpuMs = (end - lease.settledAt) * Math.max(1, lease.gpus);
    if (due <= lease.charged) {
      this.putContainer({ ...c, epochDeliveredGpuMs: c.epochDeliveredGpuMs + deliveredGpuMs });
      return { ...lease, settledAt: end };
    }
    // The host share of the new charge is the difference of the cumulative shares at the current
    // rate: no rounding drift across settles, and a fee change (params.update) applies to the
    // charges after it only, never making a share negative.
    const bps = this.params.feeHostBps;
    const hostDelta = mulBps(due, bps) - mulBps(lease.charged, bps);
    const protoDelta = due - lease.charged - hostDelta;
    // Paid daily, claimable `hostVestingMs` after the end of the day it was earned.
    const dayEnd = this.dayStart(t) + DAY;
    this.vest(lease.container, 'host', hostDelta, t, dayEnd + this.params.hostVestingMs);
    this.movePool(K.treasury, protoDelta);
    const dao = this.dao;
    this.state.set(K.dao, { ...dao, incomeSince: dao.incomeSince + protoDelta });
    const econ = this.economics;
    this.state.set(K.economics, { ...econ, revenueSince: econ.revenueSince + hostDelta });
    this.putContainer({
      ...c,
      earned: c.earned + hostDelta,
      epochDeliveredGpuMs: c.epochDeliveredGpuMs + deliveredGpuMs,
    });
    return {
      ...lease,
      charged: due,
      hostShare: lease.hostShare + hostDelta,
      protocolShare: lease.protocolShare + protoDelta,
      settledAt: end,
    };
  }

  /** Settles a lease to `t` (within `capMs`), refunds the unspent escrow to the user's escrow and frees the GPUs. */
  private closeLeaseAt(
    l: Lease,
    t: number,
    by: string,
    reason: string,
    exitCode: number | null,
    capMs = Infinity,
  ): Lease {
    const s = this.settleTo(l, t, capMs);
    const refund = s.escrow - s.charged;
    const u = this.account(s.user);
    this.setAccount(s.user, { ...u, escrow: u.escrow + refund });
    const closed: Lease = {
      ...s,
      status: 'closed',
      closedAt: Math.max(t, s.openedAt),
      exitCode,
      closeReason: reason,
      closedBy: by,
    };
    this.state.set(K.lease(l.id), closed);
    const c = this.container(l.container)!;
    this.putContainer({ ...c, gpusLeased: c.gpusLeased - l.gpus, openLeases: c.openLeases - 1 });
    return closed;
  }

  /**
   * Takes `amount` from a container: unvested host earnings and rewards first (latest first),
   * then stake. What is taken goes to the treasury. A container left below its requirement is
   * suspended until it tops up.
   */
  private slash(containerId: string, amount: bigint): bigint {
    let left = amount;
    const entries = this.vesting(containerId)
      .filter((e) => e.kind !== 'checker')
      .sort((a, b) => b.unlockAt - a.unlockAt);
    for (const e of entries) {
      if (left === 0n) break;
      const take = e.amount < left ? e.amount : left;
      if (take === e.amount) this.state.delete(e.key);
      else
        this.state.set(e.key, {
          amount: e.amount - take,
          kind: e.kind,
          earnedAt: e.earnedAt,
          unlockAt: e.unlockAt,
        });
      left -= take;
    }
    const c = this.container(containerId)!;
    const fromStake = c.stake < left ? c.stake : left;
    left -= fromStake;
    // Stake on its way out is still at stake for what happened before it left.
    const fromUnbonding = c.unbonding < left ? c.unbonding : left;
    left -= fromUnbonding;
    const taken = amount - left;
    const after: Container = {
      ...c,
      stake: c.stake - fromStake,
      unbonding: c.unbonding - fromUnbonding,
      slashed: c.slashed + taken,
    };
    after.suspended = after.suspendedReason !== null || after.stake < this.requiredStakeOf(after);
    this.putContainer(after);
    this.movePool(K.treasury, taken);
    return taken;
  }

  private dayStart(t: number): number {
    const g = this.chain.genesisTime;
    return g + Math.floor((t - g) / DAY) * DAY;
  }

  private dayIndex(t: number): number {
    return Math.floor((t - this.chain.genesisTime) / DAY);
  }

  private requireLease(id: string): Lease {
    const l = this.lease(id);
    if (!l) throw new AethirError('NOT_FOUND', `no lease ${id}`);
    // A lease stored before usage receipts existed has acknowledged nothing yet.
    return { ...l, lastReceiptSeq: l.lastReceiptSeq ?? 0, receiptServedMs: l.receiptServedMs ?? 0 };
  }

  private requireContainer(id: string, what = 'this'): Container {
    const c = this.container(id);
    if (!c)
      throw new AethirError(
        'NOT_FOUND',
        `${what === 'this' ? 'the sender' : what} is not a registered container`,
      );
    return c;
  }

  // ---- handlers ----

  /** @internal */
  transfer(tx: DecodedTx<'transfer'>): TxResult {
    const p = tx.payload as Payload<'transfer'>;
    if (p.to === tx.tx.from) throw new AethirError('INVALID_TRANSACTION', 'cannot transfer to yourself');
    this.debit(tx.tx.from, p.amount, 'transfer');
    this.credit(p.to, p.amount);
    return { to: p.to, amount: p.amount.toString() };
  }

  /** @internal */
  escrowDeposit(tx: DecodedTx<'escrow.deposit'>): TxResult {
    const p = tx.payload as Payload<'escrow.deposit'>;
    this.debit(tx.tx.from, p.amount, 'escrow deposit');
    const a = this.account(tx.tx.from);
    this.setAccount(tx.tx.from, { ...a, escrow: a.escrow + p.amount });
    return { escrow: (a.escrow + p.amount).toString() };
  }

  /** @internal */
  escrowWithdraw(tx: DecodedTx<'escrow.withdraw'>): TxResult {
    const p = tx.payload as Payload<'escrow.withdraw'>;
    const a = this.account(tx.tx.from);
    if (a.escrow < p.amount)
      throw new AethirError('INSUFFICIENT_FUNDS', `escrow holds ${a.escrow} units, ${p.amount} asked`, {
        details: { needed: p.amount.toString(), escrow: a.escrow.toString() },
      });
    this.setAccount(tx.tx.from, { ...a, escrow: a.escrow - p.amount, balance: a.balance + p.amount });
    return { escrow: (a.escrow - p.amount).toString() };
  }

  /** @internal */
  registerContainer(tx: DecodedTx<'container.register'>, ctx: BlockContext): TxResult {
    const p = tx.payload as Payload<'container.register'>;
    const id = tx.tx.from;
    const prev = this.container(id);
    if (prev && prev.openLeases > 0 && prev.spec.gpus.length !== p.spec.gpus.length)
      throw new AethirError('CONFLICT', 'cannot change the GPU count while leases are open');
    if (p.spec.source === 'simulated' && !this.params.simulatedHardware)
      throw new AethirError(
        'INVALID_TRANSACTION',
        'simulated hardware is only accepted on a network whose genesis allows it (devnet)',
      );
    this.checkGpuUuids(id, p.spec);
    const c: Container = {
      id,
      name: p.name,
      spec: p.spec,
      location: p.location,
      pricePerHour: p.pricePerHour,
      stake: prev?.stake ?? 0n,
      unbonding: prev?.unbonding ?? 0n,
      unbondingUntil: prev?.unbondingUntil ?? null,
      status: prev?.status ?? 'pending',
      suspended: prev?.suspended ?? false,
      onlineSince: prev?.onlineSince ?? null,
      gpusTotal: p.spec.gpus.length,
      gpusLeased: prev?.gpusLeased ?? 0,
      openLeases: prev?.openLeases ?? 0,
      earned: prev?.earned ?? 0n,
      epochDeliveredGpuMs: prev?.epochDeliveredGpuMs ?? 0,
      qualityTier: prev?.qualityTier ?? 1,
      slashed: prev?.slashed ?? 0n,
      registeredAt: prev?.registeredAt ?? ctx.time,
      // a new spec is checked again: a failed check's suspension stays until one passes
      suspendedReason: prev?.suspendedReason ?? null,
      checks: prev?.checks ?? {},
      incidents: prev?.incidents ?? [],
      rep: prev?.rep ?? newReputation(),
    };
    // (only when there is one: records from before encryption keys keep their exact bytes)
    const encKey = p.encKey ?? prev?.encKey;
    if (encKey !== undefined) c.encKey = encKey;
    // A new spec can need more stake than the old one.
    if (c.suspended && c.suspendedReason === null && c.stake >= this.requiredStakeOf(c)) c.suspended = false;
    this.putContainer(c);
    return { container: id, updated: prev !== undefined, requiredStake: this.requiredStakeOf(c).toString() };
  }

  /**
   * One physical GPU backs one container: a GPU UUID (as the driver reports it) already in
   * another registered container's spec, or twice in this one, is refused.
   */
  private checkGpuUuids(id: string, spec: Container['spec']): void {
    const mine = new Set<string>();
    for (const g of spec.gpus) {
      if (!g.uuid) continue;
      if (mine.has(g.uuid))
        throw new AethirError('INVALID_TRANSACTION', `GPU ${g.uuid} is listed twice in the spec`);
      mine.add(g.uuid);
    }
    if (mine.size === 0) return;
    for (const [, other] of this.state.scan<Container>('ctr/')) {
      if (other.id === id) continue;
      const shared = other.spec.gpus.find((g) => g.uuid && mine.has(g.uuid));
      if (shared)
        throw new AethirError(
          'CONFLICT',
          `GPU ${shared.uuid} is already registered by container ${other.name}`,
          { details: { uuid: shared.uuid!, container: other.id } },
        );
    }
  }

  /** @internal */
  stake(tx: DecodedTx<'container.stake'>): TxResult {
    const p = tx.payload as Payload<'container.stake'>;
    const c = this.requireContainer(tx.tx.from);
    this.debit(tx.tx.from, p.amount, 'stake');
    const after: Container = { ...c, stake: c.stake + p.amount };
    // Topping up lifts a suspension once the requirement is met again (not a failed check's).
    if (after.suspended && after.suspendedReason === null && after.stake >= this.requiredStakeOf(after))
      after.suspended = false;
    this.putContainer(after);
    return { container: c.id, stake: after.stake.toString(), suspended: after.suspended };
  }

  /** @internal */
  unstake(tx: DecodedTx<'container.unstake'>, ctx: BlockContext): TxResult {
    const p = tx.payload as Payload<'container.unstake'>;
    const c = this.requireContainer(tx.tx.from);
    if (c.openLeases > 0)
      throw new AethirError('CONFLICT', 'cannot unstake while leases are open; drain first');
    if (p.amount > c.stake)
      throw new AethirError('INSUFFICIENT_FUNDS', `stake is ${c.stake} units, ${p.amount} asked`);
    const until = ctx.time + this.params.unbondingMs;
    this.putContainer({
      ...c,
      stake: c.stake - p.amount,
      unbonding: c.unbonding + p.amount,
      unbondingUntil: until,
    });
    return { container: c.id, unbonding: (c.unbonding + p.amount).toString(), until };
  }

  /** @internal */
  withdrawStake(tx: DecodedTx<'container.withdraw'>, ctx: BlockContext): TxResult {
    const c = this.requireContainer(tx.tx.from);
    if (c.unbonding === 0n || c.unbondingUntil === null)
      throw new AethirError('CONFLICT', 'nothing is unbonding; request it with container.unstake');
    if (ctx.time < c.unbondingUntil)
      throw new AethirError('CONFLICT', `the stake unbonds at ${new Date(c.unbondingUntil).toISOString()}`, {
        details: { until: c.unbondingUntil },
      });
    this.credit(c.id, c.unbonding);
    this.putContainer({ ...c, unbonding: 0n, unbondingUntil: null });
    return { container: c.id, withdrawn: c.unbonding.toString() };
  }

  /** @internal */
  openLease(tx: DecodedTx<'lease.open'>, ctx: BlockContext): TxResult {
    const p = tx.payload as Payload<'lease.open'>;
    const c = this.container(p.container);
    if (!c) throw new AethirError('NOT_FOUND', `no container ${p.container}`);
    if (p.container === tx.tx.from)
      throw new AethirError('INVALID_TRANSACTION', 'a container cannot rent itself');
    if (p.workload.app !== undefined) this.checkLeaseApp(p.workload.app, p.workload.version, p.gpus);
    this.checkLeaseEnv(p.workload, c);
    if (c.status !== 'online')
      throw new AethirError('CONTAINER_UNAVAILABLE', `container ${c.name} is ${c.status}`);
    if (c.suspended)
      throw new AethirError(
        'CONTAINER_UNAVAILABLE',
        c.suspendedReason !== null
          ? `container ${c.name} is suspended: ${c.suspendedReason}`
          : `container ${c.name} is suspended until it tops up its stake`,
      );
    if (c.unbonding > 0n)
      throw new AethirError('CONTAINER_UNAVAILABLE', `container ${c.name} is unbonding its stake`);
    if (c.stake < this.requiredStakeOf(c))
      throw new AethirError('CONTAINER_UNAVAILABLE', `container ${c.name} is not staked enough to serve`);
    if (p.gpus > c.gpusTotal - c.gpusLeased)
      throw new AethirError(
        'CAPACITY_EXHAUSTED',
        `container ${c.name} has ${c.gpusTotal - c.gpusLeased} free GPUs, ${p.gpus} asked`,
      );
    if (c.pricePerHour > p.maxPricePerHour)
      throw new AethirError(
        'INVALID_TRANSACTION',
        `container price ${c.pricePerHour} is above the limit ${p.maxPricePerHour}`,
      );
    const openEnded = p.maxDurationSec === undefined;
    const seconds = p.maxDurationSec ?? this.params.openEndedDepositSeconds;
    if (seconds > this.params.maxLeaseSeconds)
      throw new AethirError(
        'INVALID_TRANSACTION',
        `maxDurationSec is above the limit of ${this.params.maxLeaseSeconds}`,
      );
    const escrow = (c.pricePerHour * BigInt(Math.max(1, p.gpus)) * BigInt(seconds) * 1000n) / MS_PER_HOUR;
    const u = this.account(tx.tx.from);
    if (u.escrow < escrow)
      throw new AethirError(
        'INSUFFICIENT_FUNDS',
        `the lease locks ${escrow} units of escrow but the escrow balance is ${u.escrow}; deposit with escrow.deposit`,
        { details: { needed: escrow.toString(), escrow: u.escrow.toString() } },
      );
    this.setAccount(tx.tx.from, { ...u, escrow: u.escrow - escrow });
    const id = `L${tx.id.slice(0, 20)}`;
    const lease: Lease = {
      id,
      user: tx.tx.from,
      container: c.id,
      gpus: p.gpus,
      pricePerHour: c.pricePerHour,
      maxDurationSec: seconds,
      openEnded,
      workload: p.workload,
      escrow,
      charged: 0n,
      hostShare: 0n,
      protocolShare: 0n,
      openedAt: ctx.time,
      settledAt: ctx.time,
      closedAt: null,
      status: 'open',
      exitCode: null,
      closeReason: null,
      closedBy: null,
      lastReceiptSeq: 0,
      receiptServedMs: 0,
    };
    this.state.set(K.lease(id), lease);
    this.putContainer({ ...c, gpusLeased: c.gpusLeased + p.gpus, openLeases: c.openLeases + 1 });
    return { lease: id, escrow: escrow.toString() };
  }

  /** @internal */
  settleLease(tx: DecodedTx<'lease.settle'>, ctx: BlockContext): TxResult {
    const p = tx.payload as Payload<'lease.settle'>;
    const l = this.requireLease(p.lease);
    if (tx.tx.from !== l.container)
      throw new AethirError('UNAUTHORIZED', 'only the serving container settles a lease');
    if (l.status !== 'open') throw new AethirError('CONFLICT', `lease ${l.id} is ${l.status}`);
    const r = this.withReceipt(l, p.receipt as SignedReceipt | undefined);
    const s = this.settleTo(r, ctx.time, r.receiptServedMs);
    this.state.set(K.lease(l.id), s);
    return { lease: l.id, charged: s.charged.toString(), servedMs: s.receiptServedMs };
  }

  /**
   * Records a usage receipt a container attached: it must be signed by the lease's user, for
   * this lease (and chain), and numbered above the last one accepted. The lease's cap is the
   * most service any accepted receipt acknowledged.
   */
  private withReceipt(l: Lease, receipt: SignedReceipt | undefined): Lease {
    if (!receipt) return l;
    if (receipt.lease !== l.id)
      throw new AethirError(
        'INVALID_TRANSACTION',
        `the usage receipt is for lease ${receipt.lease}, not ${l.id}`,
      );
    const r = verifyReceipt(this.chain.chainId, receipt, l.user);
    if (r.seq <= l.lastReceiptSeq)
      throw new AethirError(
        'INVALID_TRANSACTION',
        `usage receipt ${r.seq} is not newer than the last one accepted (${l.lastReceiptSeq})`,
        { details: { lastReceiptSeq: l.lastReceiptSeq } },
      );
    return {
      ...l,
      lastReceiptSeq: r.seq,
      receiptServedMs: Math.max(l.receiptServedMs, r.servedMs),
    };
  }

  /** @internal */
  closeLease(tx: DecodedTx<'lease.close'>, ctx: BlockContext): TxResult {
    const p = tx.payload as Payload<'lease.close'>;
    const l = this.requireLease(p.lease);
    if (tx.tx.from !== l.container && tx.tx.from !== l.user)
      throw new AethirError('UNAUTHORIZED', 'only the lease holder or its container can close a lease');
    if (l.status !== 'open') throw new AethirError('CONFLICT', `lease ${l.id} is already ${l.status}`);
    const byUser = tx.tx.from === l.user;
    if (byUser && p.receipt)
      throw new AethirError('INVALID_TRANSACTION', 'only the container attaches a usage receipt');
    const reason = p.reason ?? (byUser ? 'closed by user' : 'closed by container');
    // The user's own close charges up to the block time: the user signs it. The container's
    // charges up to what the user's receipts acknowledge.
    const r = byUser ? l : this.withReceipt(l, p.receipt as SignedReceipt | undefined);
    const closed = this.closeLeaseAt(
      r,
      ctx.time,
      tx.tx.from,
      reason,
      p.exitCode ?? null,
      byUser ? Infinity : r.receiptServedMs,
    );
    return {
      lease: l.id,
      charged: closed.charged.toString(),
      refund: (closed.escrow - closed.charged).toString(),
    };
  }

  /** @internal */
  claimVesting(tx: DecodedTx<'vesting.claim'>, ctx: BlockContext): TxResult {
    const p = tx.payload as Payload<'vesting.claim'>;
    const params = this.params;
    let paid = 0n;
    let forfeited = 0n;
    for (const e of this.vesting(tx.tx.from)) {
      if (e.unlockAt <= ctx.time) {
        paid += e.amount;
        this.state.delete(e.key);
      } else if (p.fast && e.kind === 'checker' && e.earnedAt + params.checkerFastVestingMs <= ctx.time) {
        // Early claim of checker rewards: most of it goes back to the checker pool.
        const lost = mulBps(e.amount, params.checkerFastForfeitBps);
        paid += e.amount - lost;
        forfeited += lost;
        this.state.delete(e.key);
      }
    }
    if (paid === 0n && forfeited === 0n) throw new AethirError('CONFLICT', 'nothing is claimable yet');
    this.credit(tx.tx.from, paid);
    if (forfeited > 0n) this.movePool(K.checkerPool, forfeited);
    return { claimed: paid.toString(), forfeited: forfeited.toString() };
  }

  /** @internal */
  checkerReport(tx: DecodedTx<'checker.report'>, ctx: BlockContext): TxResult {
    const p = tx.payload as Payload<'checker.report'>;
    const me = tx.tx.from;
    if (!this.chain.checkers.includes(me))
      throw new AethirError('UNAUTHORIZED', 'sender is not a checker of this network');
    const rec = this.checker(me)!;
    if (rec.bannedUntil > ctx.time)
      throw new AethirError(
        'UNAUTHORIZED',
        `checker is suspended until ${new Date(rec.bannedUntil).toISOString()}`,
      );
    const c = this.container(p.container);
    if (!c) throw new AethirError('NOT_FOUND', `no container ${p.container}`);
    const draw = this.draw(c.id, ctx.time, p.check);
    if (!draw.assigned.includes(me))
      throw new AethirError(
        'UNAUTHORIZED',
        `checker ${me} is not assigned to container ${c.name} in epoch ${this.economics.lastEpoch + 1}`,
        { details: { epoch: this.economics.lastEpoch + 1 } },
      );
    if (p.observedAt > ctx.time + 60_000)
      throw new AethirError('INVALID_TRANSACTION', 'report is from the future');
    const round: Round = this.round(c.id, p.check) ?? {
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
        this.judge(me, p.check, p.ok, prev.ok, ctx.time, prev.credited);
        this.state.set(K.round(c.id, p.check), { ...round, prev: { ...prev, voters: [...prev.voters, me] } });
      }
      return { container: c.id, late: true };
    }
    const vote: Vote = { ok: p.ok, at: p.observedAt };
    if (p.reason !== undefined) vote.reason = p.reason;
    if (p.score !== undefined) vote.score = p.score;
    // Votes cast by checkers no longer assigned (the epoch changed since) still count.
    const votes = { ...round.votes, [me]: vote };
    const firstVoteAt = Object.keys(round.votes).length > 0 ? (round.firstVoteAt ?? ctx.time) : ctx.time;
    const majority = draw.quorum;
    const yes = Object.values(votes).filter((v) => v.ok).length;
    const no = Object.values(votes).length - yes;
    if (yes < majority && no < majority) {
      this.state.set(K.round(c.id, p.check), { ...round, firstVoteAt, votes } satisfies Round);
      return { container: c.id, decided: false };
    }
    // The majority decides; agreeing checkers are counted correct, the others incorrect. Correct
    // answers about one container and check count once per epoch, so a colluding majority
    // cannot farm checker rewards by deciding round after round; incorrect ones always count.
    const ok = yes >= majority;
    const epoch = this.economics.lastEpoch + 1;
    const credited = round.creditedEpoch !== epoch;
    for (const [checker, v] of Object.entries(votes))
      this.judge(checker, p.check, v.ok, ok, ctx.time, credited);
    this.state.set(K.round(c.id, p.check), {
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
    const outcome = this.decide(c.id, p.check, ok, votes, ctx);
    return { container: c.id, decided: true, ok, ...outcome };
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
  private judge(
    checker: string,
    check: CheckKind,
    vote: boolean,
    verdict: boolean,
    time: number,
    credit: boolean,
  ): void {
    const correct = vote === verdict;
    const r = this.checker(checker);
    if (!r || (correct && !credit)) return;
    const today = this.dayIndex(time);
    let next: CheckerRecord =
      r.day === today ? { ...r } : { ...r, day: today, correct: 0, prevDay: r.day, prevCorrect: r.correct };
    if (correct) next = { ...next, correct: next.correct + 1, correctTotal: next.correctTotal + 1 };
    else if (vote || check !== 'liveness') next = { ...next, incorrectTotal: next.incorrectTotal + 1 };
    else {
      const recent = [...next.incorrectAt.filter((t) => t > time - WEEK), time];
      next = { ...next, incorrectAt: recent, incorrectTotal: next.incorrectTotal + 1 };
      if (recent.length >= this.params.checkerMaxIncorrectPerWeek)
        next = { ...next, bannedUntil: time + this.params.checkerBanMs, incorrectAt: [] };
    }
    this.state.set(K.checker(checker), next);
  }

  /**
   * A decided round: its verdict (the reason of the agreeing vote from the lowest checker address
   * that gave one, else a default sentence) and reputation are recorded, then its consequences.
   */
  private decide(
    id: string,
    check: CheckKind,
    ok: boolean,
    votes: Round['votes'],
    ctx: BlockContext,
  ): TxResult {
    const agreeing = Object.entries(votes)
      .filter(([, v]) => v.ok === ok)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, v]) => v);
    const d = DEFAULT_REASONS[check];
    const reason = agreeing.find((v) => v.reason !== undefined)?.reason ?? (ok ? d.pass : d.fail);
    const scoreMilli = medianMilli(agreeing.flatMap((v) => (v.score === undefined ? [] : [v.score])));
    const c = this.container(id)!;
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
    this.putContainer({ ...c, checks: { ...c.checks, [check]: { ok, at: ctx.time, reason } }, rep });
    switch (check) {
      case 'liveness':
        return this.livenessOutcome(id, ok, reason, votes, ctx);
      case 'capacity':
        return this.claimOutcome(id, 'capacity', ok, reason, votes, ctx, this.params.slashSpecBps);
      case 'location':
        return this.claimOutcome(id, 'location', ok, reason, votes, ctx, this.params.slashLocationBps);
      case 'qos':
        return this.qosOutcome(id, ok, reason, scoreMilli, votes, ctx);
    }
  }

  private livenessOutcome(
    id: string,
    online: boolean,
    reason: string,
    votes: Round['votes'],
    ctx: BlockContext,
  ): TxResult {
    const c = this.container(id)!;
    if (online) {
      this.putContainer({
        ...c,
        status: 'online',
        onlineSince: c.status === 'online' ? c.onlineSince : ctx.time,
      });
      return { status: 'online' };
    }
    this.putContainer({ ...c, status: 'offline', onlineSince: null });
    // Down while serving: users pay nothing beyond what was already settled (the lease closes at
    // when the majority first saw it down), and the host is slashed 1/3 × K × coefficient.
    // Offline while idle: no slash, no rewards.
    const leases = this.closeOpenLeases(id, votes, ctx, 'container went offline; unsettled time refunded');
    if (leases.length === 0) return { status: 'offline' };
    const slashed = this.penalise(
      id,
      'liveness',
      `offline while serving: ${reason}`,
      this.params.slashDowntimeBps,
      leases,
      ctx,
    );
    return { status: 'offline', slashed: slashed.toString(), closedLeases: leases.join(',') };
  }

  /**
   * Capacity (the spec is real) and location (it is where it says): a failure slashes, closes
   * its leases (unsettled time refunded) and suspends the container whatever its stake, until a
   * later decided check of that kind passes.
   */
  private claimOutcome(
    id: string,
    check: 'capacity' | 'location',
    passed: boolean,
    reason: string,
    votes: Round['votes'],
    ctx: BlockContext,
    slashBps: number,
  ): TxResult {
    if (passed) {
      this.liftCheckSuspension(id);
      return { [check]: 'passed' };
    }
    const why = `${check} check failed: ${reason}`;
    const c = this.container(id)!;
    this.putContainer({ ...c, suspended: true, suspendedReason: why });
    const leases = this.closeOpenLeases(id, votes, ctx, why);
    const slashed = this.penalise(id, check, why, slashBps, leases, ctx);
    return {
      [check]: 'failed',
      slashed: slashed.toString(),
      suspended: true,
      reason: why,
      ...(leases.length ? { closedLeases: leases.join(',') } : {}),
    };
  }

  /** After a passed capacity or location check: suspended only for a check still failing, or for stake. */
  private liftCheckSuspension(id: string): Container {
    const c = this.container(id)!;
    const failing = (['capacity', 'location'] as const).find((k) => c.checks[k]?.ok === false);
    const suspendedReason = failing ? `${failing} check failed: ${c.checks[failing]!.reason}` : null;
    if (suspendedReason === c.suspendedReason) return c;
    const after: Container = {
      ...c,
      suspendedReason,
      suspended: suspendedReason !== null || c.stake < this.requiredStakeOf(c),
    };
    this.putContainer(after);
    return after;
  }

  /**
   * Quality of service while serving. Passed: the median score of the agreeing checkers sets the
   * quality tier (>= 0.95: 3, >= 0.8: 2, else 1). Failed while serving (the service stopped though
   * the container is up): downtime while serving, its leases closed (unsettled time refunded)
   * and slashed slashDowntimeBps; no suspension.
   */
  private qosOutcome(
    id: string,
    passed: boolean,
    reason: string,
    scoreMilli: number | null,
    votes: Round['votes'],
    ctx: BlockContext,
  ): TxResult {
    if (passed) {
      const c = this.container(id)!;
      if (scoreMilli === null) return { qos: 'passed', qualityTier: c.qualityTier };
      const qualityTier = scoreMilli >= 950 ? 3 : scoreMilli >= 800 ? 2 : 1;
      if (qualityTier !== c.qualityTier) this.putContainer({ ...c, qualityTier });
      return { qos: 'passed', qualityTier };
    }
    const why = `qos check failed: ${reason}`;
    const leases = this.closeOpenLeases(id, votes, ctx, why);
    if (leases.length === 0) return { qos: 'failed' }; // not serving: nothing to refund
    const slashed = this.penalise(id, 'qos', why, this.params.slashDowntimeBps, leases, ctx);
    return { qos: 'failed', slashed: slashed.toString(), closedLeases: leases.join(',') };
  }

  /**
   * Closes the container's open leases as of when the failing majority first saw the problem,
   * charging nothing beyond what was already settled: the rest of the escrow goes back.
   */
  private closeOpenLeases(id: string, votes: Round['votes'], ctx: BlockContext, reason: string): string[] {
    const open = this.leases().filter((l) => l.container === id && l.status === 'open');
    if (open.length === 0) return [];
    const seenAt = Math.min(
      ctx.time,
      ...Object.values(votes)
        .filter((v) => !v.ok)
        .map((v) => v.at),
    );
    for (const l of open)
      this.closeLeaseAt(l, Math.max(l.settledAt, seenAt), id, reason, null, l.settledAt - l.openedAt);
    return open.map((l) => l.id);
  }

  /** Slashes `bps` of the required stake for a failed check and records the incident; returns what was taken. */
  private penalise(
    id: string,
    check: CheckKind,
    reason: string,
    bps: number,
    leases: string[],
    ctx: BlockContext,
  ): bigint {
    const amount = mulBps(this.requiredStakeOf(this.container(id)!), bps);
    const slashed = amount > 0n ? this.slash(id, amount) : 0n;
    if (amount === 0n && leases.length === 0) return 0n;
    const c = this.container(id)!;
    this.putContainer({
      ...c,
      incidents: [...c.incidents, { at: ctx.time, check, reason, slashed, leases }].slice(-MAX_INCIDENTS),
      rep: { ...c.rep, slashes: c.rep.slashes + (amount > 0n ? 1 : 0) },
    });
    return slashed;
  }

  /** @internal */
  closeEpoch(tx: DecodedTx<'epoch.close'>, ctx: BlockContext): TxResult {
    const p = tx.payload as Payload<'epoch.close'>;
    const params = this.params;
    const next = this.nextEpoch(ctx.time);
    if (p.epoch !== next.epoch) throw new AethirError('CONFLICT', `the next epoch to close is ${next.epoch}`);
    if (!next.due)
      throw new AethirError('CONFLICT', `epoch ${p.epoch} ends at ${new Date(next.end).toISOString()}`);
    const start = next.end - params.epochMs;
    const genesis = this.chain.genesisTime;

    // Emission for this epoch, decaying by year, never more than the pool holds.
    const year = Math.floor((start - genesis) / YEAR);
    const keep = BigInt(10_000 - params.emissionDecayBps);
    let emission = (params.emissionPerEpoch * keep ** BigInt(year)) / 10_000n ** BigInt(year);
    const pool = this.rewardPool().balance;
    if (emission > pool) emission = pool;
    const pocPool = mulBps(emission, params.pocShareBps);
    const podPool = emission - pocPool;

    // Proof of Capacity: available, staked and passing checks for the whole epoch, weighted by
    // capacity (the K of its GPUs). Proof of Delivery: GPU-time served × quality tier.
    const containers = this.containers();
    const poc: Array<[Container, bigint]> = [];
    const pod: Array<[Container, bigint]> = [];
    for (const c of containers) {
      if (this.isServing(c) && c.onlineSince !== null && c.onlineSince <= start)
        poc.push([
          c,
          stakeBase(
            params,
            c.spec.gpus.map((g) => g.model),
          ),
        ]);
      if (c.epochDeliveredGpuMs > 0 && !c.suspended && c.unbonding === 0n) {
        const tier = params.qualityTierBps[Math.min(3, Math.max(1, c.qualityTier)) - 1]!;
        pod.push([c, BigInt(c.epochDeliveredGpuMs) * BigInt(tier)]);
      }
    }
    const unlockAt = next.end + params.hostVestingMs;
    const paid =
      this.distribute(pocPool, poc, (c, amount) => this.vest(c.id, 'reward', amount, ctx.time, unlockAt)) +
      this.distribute(podPool, pod, (c, amount) => this.vest(c.id, 'reward', amount, ctx.time, unlockAt));
    this.movePool(K.rewardPool, -paid);
    for (const c of containers)
      if (c.epochDeliveredGpuMs !== 0)
        this.putContainer({ ...this.container(c.id)!, epochDeliveredGpuMs: 0 });

    // The next epoch draws the checkers anew, from a seed no one could know before this block.
    const prevEcon = this.economics;
    let econ: Economics = {
      ...prevEcon,
      lastEpoch: p.epoch,
      lastEpochEnd: next.end,
      epochSeed: nextEpochSeed(prevEcon.epochSeed, ctx.prevHash, p.epoch),
    };
    const result: TxResult = {
      epoch: p.epoch,
      emitted: paid.toString(),
      capacityRewarded: poc.length,
      deliveryRewarded: pod.length,
    };

    // Checker rewards, once a day: each day that ended by this epoch's end shares its pool by
    // correct reports (a checker's counts are kept for the current and the previous day).
    const lastFullDay = Math.floor((next.end - genesis) / DAY) - 1;
    let toCheckers = 0n;
    for (let day = econ.lastCheckerDay + 1; day <= lastFullDay; day++) {
      const counts: Array<[string, bigint]> = [];
      for (const addr of this.chain.checkers) {
        const r = this.checker(addr)!;
        if (r.bannedUntil > next.end) continue; // no rewards while suspended
        const n = r.day === day ? r.correct : r.prevDay === day ? r.prevCorrect : 0;
        if (n > 0) counts.push([addr, BigInt(n)]);
      }
      let dayPool = params.checkerPoolPerDay;
      if (dayPool > this.checkerPool().balance) dayPool = this.checkerPool().balance;
      const checkerUnlock = next.end + params.checkerVestingMs;
      const paidDay = this.distribute(dayPool, counts, (addr, amount) =>
        this.vest(addr, 'checker', amount, next.end, checkerUnlock),
      );
      this.movePool(K.checkerPool, -paidDay);
      toCheckers += paidDay;
      econ = { ...econ, lastCheckerDay: day };
      result.checkerDay = day;
    }
    if (result.checkerDay !== undefined) result.checkerRewards = toCheckers.toString();

    // The staking coefficient follows the average monthly host revenue per GPU, weekly.
    if (next.end - econ.coefficientUpdatedAt >= params.coefficientPeriodMs) {
      let gpus = 0n;
      // GPUs of the hosts that are in the network: staked and not leaving.
      for (const c of containers)
        if (c.stake > 0n && c.unbonding === 0n) gpus += BigInt(Math.max(1, c.gpusTotal));
      const elapsed = BigInt(next.end - econ.coefficientUpdatedAt);
      let coefficient = econ.coefficientBps;
      if (gpus > 0n) {
        const monthly = (econ.revenueSince * BigInt(MONTH)) / (elapsed * gpus);
        const bpsValue = (monthly * 10_000n) / params.coefficientRefMonthlyRevenue;
        coefficient = Number(
          bpsValue < BigInt(params.coefficientMinBps)
            ? BigInt(params.coefficientMinBps)
            : bpsValue > BigInt(params.coefficientMaxBps)
              ? BigInt(params.coefficientMaxBps)
              : bpsValue,
        );
      }
      econ = { ...econ, coefficientBps: coefficient, coefficientUpdatedAt: next.end, revenueSince: 0n };
      result.coefficientBps = coefficient;
    }
    // Lockers' share of the protocol's fee income since the last epoch, pro rata to weight.
    const dao = this.dao;
    if (dao.incomeSince > 0n) {
      const share = mulBps(dao.incomeSince, params.revenueShareBps);
      const weights = this.locks()
        // as the locks stood at the epoch's end: weight locked after it takes no share
        .map((l): [string, bigint] => [l.address, historicWeight(l, next.end, params.lockMaxMs)])
        .filter(([, w]) => w > 0n);
      const paidOut = this.distribute(share, weights, (addr, amount) =>
        this.vest(addr, 'revenue', amount, next.end, next.end),
      );
      this.movePool(K.treasury, -paidOut);
      this.state.set(K.dao, { ...dao, incomeSince: 0n });
      if (paidOut > 0n) result.revenueShared = paidOut.toString();
    }
    this.state.set(K.economics, econ);
    return result;
  }

  /** Splits `pool` pro rata to the weights (floor); returns what was paid out. */
  private distribute<T>(
    pool: bigint,
    weights: Array<[T, bigint]>,
    pay: (who: T, amount: bigint) => void,
  ): bigint {
    const total = weights.reduce((s, [, w]) => s + w, 0n);
    if (pool === 0n || total === 0n) return 0n;
    let paid = 0n;
    for (const [who, w] of weights) {
      const amount = (pool * w) / total;
      if (amount > 0n) {
        pay(who, amount);
        paid += amount;
      }
    }
    return paid;
  }

  /** @internal */
  updateParams(tx: DecodedTx<'params.update'>): TxResult {
    const p = tx.payload as Payload<'params.update'>;
    const gov = this.chain.governance;
    if (!gov || tx.tx.from !== gov)
      throw new AethirError('UNAUTHORIZED', 'only the governance authority may change parameters');
    if ('version' in p.changes) throw new AethirError('INVALID_TRANSACTION', 'version is set by the ledger');
    if (Object.keys(p.changes).length === 0)
      throw new AethirError('INVALID_TRANSACTION', 'no parameter to change');
    const next = this.applyParamChanges(p.changes);
    return { version: next.version, changed: Object.keys(p.changes).join(',') };
  }

  /** The parameter set with these changes, validated against every bound; throws INVALID_TRANSACTION. */
  validateParamChanges(changes: Record<string, unknown>): Params {
    const current = paramsToWire(this.params);
    for (const k of Object.keys(changes))
      if ((!Object.prototype.hasOwnProperty.call(current, k) && !OPTIONAL_PARAMS.has(k)) || k === 'version')
        throw new AethirError('INVALID_TRANSACTION', `no parameter "${k}"`);
    try {
      return paramsFromWire({ ...current, ...changes, version: this.params.version + 1 });
    } catch (e) {
      throw new AethirError('INVALID_TRANSACTION', (e as Error).message, { cause: e });
    }
  }

  /** @internal */
  applyParamChanges(changes: Record<string, unknown>): Params {
    const next = this.validateParamChanges(changes);
    this.state.set(K.params, next);
    return next;
  }

  // ---- the DAO (issue: token holders and the DAO) ----

  /** @internal */
  lockTokens(tx: DecodedTx<'dao.lock'>, ctx: BlockContext): TxResult {
    const p = tx.payload as Payload<'dao.lock'>;
    const params = this.params;
    const me = tx.tx.from;
    const prev = this.lock(me);
    if (prev && prev.end <= ctx.time && prev.amount > 0n)
      throw new AethirError(
        'CONFLICT',
        'your lock has expired: withdraw it with dao.unlock before locking again',
      );
    const end = Math.max(prev?.end ?? 0, p.until);
    if (end - ctx.time < params.lockMinMs)
      throw new AethirError(
        'INVALID_TRANSACTION',
        `a lock must run at least ${params.lockMinMs / 86_400_000} days`,
      );
    if (end - ctx.time > params.lockMaxMs)
      throw new AethirError(
        'INVALID_TRANSACTION',
        `a lock may run at most ${params.lockMaxMs / 86_400_000} days`,
      );
    if (p.amount > 0n) this.debit(me, p.amount, 'lock');
    const amount = (prev?.amount ?? 0n) + p.amount;
    if (amount === 0n) throw new AethirError('INVALID_TRANSACTION', 'nothing is locked: give an amount');
    const history = [
      ...(prev?.history ?? []).filter((h) => h.height < ctx.height),
      { height: ctx.height, at: ctx.time, amount, end },
    ];
    this.state.set(K.lock(me), { amount, end, history } satisfies Lock);
    return {
      amount: amount.toString(),
      end,
      weight: weightAt({ amount, end }, ctx.time, params.lockMaxMs).toString(),
    };
  }

  /** @internal */
  unlockTokens(tx: DecodedTx<'dao.unlock'>, ctx: BlockContext): TxResult {
    const me = tx.tx.from;
    const l = this.lock(me);
    if (!l || l.amount === 0n) throw new AethirError('NOT_FOUND', 'nothing is locked');
    if (l.end > ctx.time)
      throw new AethirError('CONFLICT', `the lock ends at ${new Date(l.end).toISOString()}`, {
        details: { end: l.end },
      });
    this.credit(me, l.amount);
    // The history stays, so past proposals can still weigh the votes cast with it.
    this.state.set(K.lock(me), {
      ...l,
      amount: 0n,
      history: [
        ...l.history.filter((h) => h.height < ctx.height),
        { height: ctx.height, at: ctx.time, amount: 0n, end: l.end },
      ],
    });
    return { withdrawn: l.amount.toString() };
  }

  /** @internal */
  propose(tx: DecodedTx<'dao.propose'>, ctx: BlockContext): TxResult {
    const p = tx.payload as Payload<'dao.propose'>;
    const params = this.params;
    const me = tx.tx.from;
    const weight = this.weightOf(me, ctx.time);
    if (weight < params.proposalMinWeight)
      throw new AethirError(
        'UNAUTHORIZED',
        `a proposal needs a weight of ${params.proposalMinWeight}; yours is ${weight}`,
        {
          details: { needed: params.proposalMinWeight.toString(), weight: weight.toString() },
        },
      );
    let operational = false;
    let spend = 0n;
    const merged: Record<string, unknown> = {};
    for (const a of p.actions as ProposalAction[]) {
      if (a.kind === 'params') {
        if (Object.keys(a.changes).length === 0)
          throw new AethirError('INVALID_TRANSACTION', 'a params action must change something');
        if ('version' in a.changes)
          throw new AethirError('INVALID_TRANSACTION', 'version is set by the ledger');
        Object.assign(merged, a.changes);
        if (Object.keys(a.changes).some((k) => OPERATIONAL_PARAMS.has(k))) operational = true;
      }
      if (a.kind === 'treasury') spend += a.amount;
    }
    // All the spends together, as execute pays them.
    if (spend > this.treasury().balance)
      throw new AethirError('INSUFFICIENT_FUNDS', `the treasury holds ${this.treasury().balance} units`);
    // An out-of-bounds parameter cannot even be proposed.
    if (Object.keys(merged).length > 0) this.validateParamChanges(merged);
    const dao = this.dao;
    const id = dao.nextProposal;
    const proposal: Proposal = {
      id,
      title: p.title,
      proposer: me,
      actions: p.actions as ProposalAction[],
      operational,
      createdAt: ctx.time,
      createdHeight: ctx.height,
      votingEnds: ctx.time + params.votingPeriodMs,
      executableAt: ctx.time + params.votingPeriodMs + params.timelockMs,
      totalWeight: this.totalWeight(ctx.time),
      votes: {},
      tally: { for: 0n, against: 0n, abstain: 0n },
      ratifiedBy: [],
      status: 'active',
      outcome: null,
    };
    this.state.set(K.proposal(id), proposal);
    this.state.set(K.dao, { ...dao, nextProposal: id + 1 });
    return { proposal: id, votingEnds: proposal.votingEnds, operational };
  }

  /** @internal */
  vote(tx: DecodedTx<'dao.vote'>, ctx: BlockContext): TxResult {
    const p = tx.payload as Payload<'dao.vote'>;
    const prop = this.proposal(p.proposal);
    if (!prop) throw new AethirError('NOT_FOUND', `no proposal ${p.proposal}`);
    if (prop.status !== 'active' || ctx.time >= prop.votingEnds)
      throw new AethirError('CONFLICT', 'voting on this proposal has ended');
    const me = tx.tx.from;
    // The weight the voter had when the proposal was made: weight bought since does not vote.
    const weight = weightAtCreation(this.lock(me), prop.createdHeight, prop.createdAt, this.params.lockMaxMs);
    if (weight === 0n) throw new AethirError('UNAUTHORIZED', 'no voting weight when this proposal was made');
    const tally = { ...prop.tally };
    const before = prop.votes[me];
    if (before) tally[before.choice] -= before.weight; // a second vote replaces the first
    tally[p.choice] += weight;
    this.state.set(K.proposal(prop.id), {
      ...prop,
      votes: { ...prop.votes, [me]: { choice: p.choice, weight } },
      tally,
    });
    return { proposal: prop.id, choice: p.choice, weight: weight.toString(), changed: before !== undefined };
  }

  /** @internal */
  ratify(tx: DecodedTx<'dao.ratify'>, ctx: BlockContext): TxResult {
    const p = tx.payload as Payload<'dao.ratify'>;
    const prop = this.proposal(p.proposal);
    if (!prop) throw new AethirError('NOT_FOUND', `no proposal ${p.proposal}`);
    const me = tx.tx.from;
    if (!Object.values(this.dao.council).includes(me))
      throw new AethirError('UNAUTHORIZED', 'only council members ratify');
    if (!prop.operational) throw new AethirError('CONFLICT', 'this proposal needs no ratification');
    if (prop.status !== 'active')
      throw new AethirError('CONFLICT', `proposal ${prop.id} is already ${prop.status}`);
    const phase = this.proposalPhase(prop, ctx.time);
    if (phase.phase === 'voting') throw new AethirError('CONFLICT', 'the vote is still running');
    if (!phase.passed) throw new AethirError('CONFLICT', 'the vote did not pass');
    if (prop.ratifiedBy.includes(me)) throw new AethirError('CONFLICT', 'already ratified by you');
    this.state.set(K.proposal(prop.id), { ...prop, ratifiedBy: [...prop.ratifiedBy, me] });
    return { proposal: prop.id, ratifications: prop.ratifiedBy.length + 1, needed: this.councilMajority() };
  }

  /** @internal */
  execute(tx: DecodedTx<'dao.execute'>, ctx: BlockContext): TxResult {
    const p = tx.payload as Payload<'dao.execute'>;
    const prop = this.proposal(p.proposal);
    if (!prop) throw new AethirError('NOT_FOUND', `no proposal ${p.proposal}`);
    if (prop.status !== 'active')
      throw new AethirError('CONFLICT', `proposal ${prop.id} is already ${prop.status}`, {
        details: { phase: prop.status },
      });
    const phase = this.proposalPhase(prop, ctx.time);
    if (phase.phase === 'rejected') {
      this.state.set(K.proposal(prop.id), {
        ...prop,
        status: 'rejected',
        outcome: 'did not pass (quorum or majority)',
      });
      return { proposal: prop.id, status: 'rejected' };
    }
    if (phase.phase !== 'executable')
      throw new AethirError('CONFLICT', `proposal ${prop.id} is ${phase.phase}`, {
        details: { phase: phase.phase },
      });
    // Parameters are checked again: they must still be within bounds now.
    const changes: Record<string, unknown> = {};
    for (const a of prop.actions) if (a.kind === 'params') Object.assign(changes, a.changes);
    let spend = 0n;
    for (const a of prop.actions) if (a.kind === 'treasury') spend += a.amount;
    try {
      if (Object.keys(changes).length) this.validateParamChanges(changes);
      if (spend > this.treasury().balance)
        throw new AethirError('INSUFFICIENT_FUNDS', 'the treasury cannot pay this any more');
    } catch (e) {
      this.state.set(K.proposal(prop.id), { ...prop, status: 'failed', outcome: (e as Error).message });
      return { proposal: prop.id, status: 'failed' };
    }
    if (Object.keys(changes).length) this.applyParamChanges(changes);
    for (const a of prop.actions) {
      if (a.kind === 'treasury') {
        this.movePool(K.treasury, -a.amount);
        this.credit(a.to, a.amount);
      } else if (a.kind === 'council') {
        const dao = this.dao;
        this.state.set(K.dao, { ...dao, council: { ...dao.council, [a.constituency]: a.member } });
      }
    }
    this.state.set(K.proposal(prop.id), { ...prop, status: 'executed', outcome: 'executed' });
    return { proposal: prop.id, status: 'executed' };
  }

  // ---- apps (issue: apps and instant sessions) ----

  /** @internal */
  publishApp(tx: DecodedTx<'app.publish'>, ctx: BlockContext): TxResult {
    const p = tx.payload as Payload<'app.publish'>;
    const me = tx.tx.from;
    const prev = this.app(p.name);
    if (prev && prev.owner !== me)
      throw new AethirError(
        'UNAUTHORIZED',
        `app ${p.name} belongs to ${prev.owner}: only its owner publishes new versions`,
      );
    if (prev?.versions.includes(p.version))
      throw new AethirError(
        'CONFLICT',
        `${p.name} ${p.version} is already published and versions never change: publish a new version`,
      );
    this.state.set(K.appRelease(p.name, p.version), {
      name: p.name,
      version: p.version,
      manifest: p.manifest,
      publishedAt: ctx.time,
    } satisfies AppRelease);
    const record: AppRecord = {
      name: p.name,
      owner: prev?.owner ?? me,
      latest: p.version,
      versions: [...(prev?.versions ?? []), p.version],
      createdAt: prev?.createdAt ?? ctx.time,
      updatedAt: ctx.time,
    };
    this.state.set(K.app(p.name), record);
    return { app: p.name, version: p.version, owner: record.owner, versions: record.versions.length };
  }

  /**
   * Env values travel sealed to the container's registered key; in clear only on a network whose
   * parameters allow it (those started before sealed env, until governance turns it off).
   */
  private checkLeaseEnv(w: Payload<'lease.open'>['workload'], c: Container): void {
    if (w.env && Object.keys(w.env).length > 0 && this.params.clearEnv === false)
      throw new AethirError(
        'INVALID_TRANSACTION',
        "env values in clear are not accepted on this network: seal them to the container's encKey (workload.sealedEnv)",
      );
    if (w.sealedEnv && Object.keys(w.sealedEnv).length > 0) {
      if (!c.encKey)
        throw new AethirError(
          'INVALID_TRANSACTION',
          `container ${c.name} registered no encryption key: it cannot receive env values`,
        );
      const both = Object.keys(w.sealedEnv).find((k) => w.env?.[k] !== undefined);
      if (both) throw new AethirError('INVALID_TRANSACTION', `${both} is given both in clear and sealed`);
    }
  }

  /** A lease may name a published app (and version), with at least the GPUs the app needs. */
  private checkLeaseApp(name: string, version: string | undefined, gpus: number): void {
    const app = this.app(name);
    if (!app) throw new AethirError('NOT_FOUND', `no app "${name}" is published`);
    const rel = this.appRelease(name, version);
    if (!rel)
      throw new AethirError(
        'NOT_FOUND',
        `app ${name} has no version ${version}; published: ${app.versions.join(', ')}`,
      );
    const need = appGpus(rel.manifest);
    if (gpus < need)
      throw new AethirError(
        'INVALID_TRANSACTION',
        `app ${name} ${rel.version} needs ${need} GPU${need === 1 ? '' : 's'}, the lease asks for ${gpus}`,
        { details: { needed: need, asked: gpus } },
      );
  }
}

/** The median of scores in 0..1, in thousandths (integers: the same on every node); null: none. */
function medianMilli(scores: readonly number[]): number | null {
  if (scores.length === 0) return null;
  const m = scores.map((x) => Math.round(x * 1000)).sort((a, b) => a - b);
  const mid = m.length >> 1;
  return m.length % 2 ? m[mid]! : Math.floor((m[mid - 1]! + m[mid]!) / 2);
}

function newCheckerRecord(): CheckerRecord {
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

const HANDLERS: {
  [T in TxType]: (this: Ledger, tx: DecodedTx<T>, ctx: BlockContext) => TxResult;
} = {
  transfer: Ledger.prototype.transfer,
  'escrow.deposit': Ledger.prototype.escrowDeposit,
  'escrow.withdraw': Ledger.prototype.escrowWithdraw,
  'container.register': Ledger.prototype.registerContainer,
  'container.stake': Ledger.prototype.stake,
  'container.unstake': Ledger.prototype.unstake,
  'container.withdraw': Ledger.prototype.withdrawStake,
  'lease.open': Ledger.prototype.openLease,
  'lease.settle': Ledger.prototype.settleLease,
  'lease.close': Ledger.prototype.closeLease,
  'vesting.claim': Ledger.prototype.claimVesting,
  'checker.report': Ledger.prototype.checkerReport,
  'epoch.close': Ledger.prototype.closeEpoch,
  'params.update': Ledger.prototype.updateParams,
  'dao.lock': Ledger.prototype.lockTokens,
  'dao.unlock': Ledger.prototype.unlockTokens,
  'dao.propose': Ledger.prototype.propose,
  'dao.vote': Ledger.prototype.vote,
  'dao.ratify': Ledger.prototype.ratify,
  'dao.execute': Ledger.prototype.execute,
  'app.publish': Ledger.prototype.publishApp,
};
