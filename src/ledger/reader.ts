import type { LedgerState } from './state.js';
import {
  K,
  withContainerDefaults,
  type Account,
  type ChainInfo,
  type CheckerRecord,
  type CheckKind,
  type Container,
  type DaoState,
  type Economics,
  type Lease,
  type Lock,
  type Pool,
  type Proposal,
  type Reservation,
  type Round,
  type VestingEntry,
} from './model.js';
import { genesisEpochSeed } from './assignment.js';
import { withLaterParams, type Params } from './params.js';
import type { AppRecord, AppRelease } from './app.js';
import { totalHeld } from './modules/bank/invariants.js';
import { volumeByName, volumeOf, volumesOf, type Volume } from './modules/volumes/queries.js';
import { isServing, requiredStakeFor } from './modules/containers/queries.js';
import { draw, reputationOf, type ReputationView } from './modules/checks/queries.js';
import { nextEpoch } from './modules/epochs/queries.js';
import { reservationOf, reservationsOf } from './modules/reservations/queries.js';
import {
  councilMajority,
  proposalPhase,
  totalWeight,
  validateParamChanges,
  weightOf,
} from './modules/dao/queries.js';

export type { ReputationView } from './modules/checks/queries.js';

/**
 * Everything one can read from the ledger state: the records by key (generic), and the
 * modules' queries (thin delegators to src/ledger/modules/<name>/queries.ts). The `Ledger`
 * (machine.ts) and a transaction's context (context.ts) are both readers, so a handler reads
 * exactly what every other caller reads, its own pending writes included.
 */
export class LedgerReader {
  constructor(readonly state: LedgerState) {}

  // ---- records ----

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
  reservation(id: string): Reservation | undefined {
    return reservationOf(this, id);
  }
  reservations(): Reservation[] {
    return reservationsOf(this);
  }
  apps(): AppRecord[] {
    return [...this.state.scan<AppRecord>('app/')].map(([, v]) => v);
  }
  volume(id: string): Volume | undefined {
    return volumeOf(this, id);
  }
  /** Every volume, live or not (modules/volumes). */
  volumes(): Volume[] {
    return volumesOf(this);
  }
  /** An owner's live volume by its name. */
  volumeByName(owner: string, name: string): Volume | undefined {
    return volumeByName(this, owner, name);
  }

  // ---- the modules' queries ----

  /** Voting weight of an account at time t (its lock decays linearly to its end). */
  weightOf(address: string, t: number): bigint {
    return weightOf(this, address, t);
  }
  /** Total voting weight at time t. */
  totalWeight(t: number): bigint {
    return totalWeight(this, t);
  }
  /** How many ratifications an operational proposal needs (0: no council yet). */
  councilMajority(): number {
    return councilMajority(this);
  }
  proposalPhase(p: Proposal, t: number) {
    return proposalPhase(this, p, t);
  }
  /** The parameter set with these changes, validated against every bound; throws INVALID_TRANSACTION. */
  validateParamChanges(changes: Record<string, unknown>): Params {
    return validateParamChanges(this, changes);
  }
  /** The stake this container must hold to be matched and rewarded now. */
  requiredStakeOf(c: Pick<Container, 'spec'>): bigint {
    return requiredStakeFor(
      this,
      c.spec.gpus.map((g) => g.model),
    );
  }
  /** The stake a host with these GPU models (none: a CPU host) must hold now. */
  requiredStakeFor(gpuModels: readonly string[]): bigint {
    return requiredStakeFor(this, gpuModels);
  }
  /** Online, staked, not suspended, not unbonding: may be matched and earns capacity rewards. */
  isServing(c: Container): boolean {
    return isServing(this, c);
  }
  /** The checkers assigned to `containerId` at `time` (see checks/queries.ts `draw`). */
  assignedCheckers(containerId: string, time: number, check?: CheckKind, subject?: string): string[] {
    return draw(this, containerId, time, check, subject).assigned;
  }
  /** Votes that decide a round on `containerId` at `time`: a majority of its 2N+1 checkers (N+1). */
  quorumOf(containerId: string, time: number): number {
    return draw(this, containerId, time).quorum;
  }
  /** A container's reputation from its decided checks (see checks/queries.ts). */
  reputationOf(c: Container): ReputationView {
    return reputationOf(c);
  }
  /** The first epoch not yet closed, and whether its end has passed at `time`. */
  nextEpoch(time: number): { epoch: number; end: number; due: boolean } {
    return nextEpoch(this, time);
  }
  /** Sum of every unit held anywhere: must always equal the genesis supply. */
  totalHeld(): bigint {
    return totalHeld(this);
  }
}
