import { AethirError, mulBps } from '../core/index.js';
import { LedgerState } from './state.js';
import { K, type Account, type ChainInfo, type Container, type Lease, type Treasury } from './model.js';
import { requiredStake, type Params } from './params.js';
import { TOTAL_SUPPLY, type Genesis } from './genesis.js';
import { decodeTx, type DecodedTx, type Payload, type TxType } from './tx.js';

const MS_PER_HOUR = 3_600_000n;

/** What applying a transaction produced, for the submitter (ids of created records, charges). */
export type TxResult = Record<string, string | number | boolean | null>;

export interface BlockContext {
  height: number;
  /** block time, ms: the ledger's only notion of time, so replay is deterministic */
  time: number;
}

/**
 * The deterministic state machine: `apply(state, tx) -> state'`. It never reads a clock or a
 * random source; time comes from the block. A transaction either applies completely or is
 * rejected with a typed error and leaves the state untouched.
 */
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
        l.state.set(K.account(a.address), { balance: a.amount, nonce: 0 } satisfies Account);
        allocated += a.amount;
      }
      l.state.set(K.treasury, { balance: TOTAL_SUPPLY - allocated } satisfies Treasury);
      l.state.set(K.params, g.params);
      l.state.set(K.chain, {
        chainId: g.chainId,
        genesisTime: g.time,
        supply: TOTAL_SUPPLY,
        checkers: [...g.checkers],
      } satisfies ChainInfo);
    });
    return l;
  }

  static fromState(state: LedgerState): Ledger {
    return new Ledger(state);
  }

  get chain(): ChainInfo {
    return this.state.get<ChainInfo>(K.chain)!;
  }
  get params(): Params {
    return this.state.get<Params>(K.params)!;
  }
  account(address: string): Account {
    return this.state.get<Account>(K.account(address)) ?? { balance: 0n, nonce: 0 };
  }
  container(id: string): Container | undefined {
    return this.state.get<Container>(K.container(id));
  }
  lease(id: string): Lease | undefined {
    return this.state.get<Lease>(K.lease(id));
  }
  treasury(): Treasury {
    return this.state.get<Treasury>(K.treasury)!;
  }
  containers(): Container[] {
    return [...this.state.scan<Container>('ctr/')].map(([, v]) => v);
  }
  leases(): Lease[] {
    return [...this.state.scan<Lease>('lease/')].map(([, v]) => v);
  }
  accounts(): Array<Account & { address: string }> {
    return [...this.state.scan<Account>('acct/')].map(([k, v]) => ({ address: k.slice(5), ...v }));
  }
  root(): string {
    return this.state.root();
  }

  /** Sum of every unit held anywhere: must always equal the genesis supply. */
  totalHeld(): bigint {
    let t = this.treasury().balance;
    for (const a of this.accounts()) t += a.balance;
    for (const c of this.containers()) t += c.stake;
    for (const l of this.leases()) if (l.status === 'open') t += l.escrow - l.charged;
    return t;
  }

  /** Validates (signature, nonce, rules) and applies one transaction atomically. */
  apply(input: unknown, ctx: BlockContext): { tx: DecodedTx; result: TxResult } {
    const tx = decodeTx(input, this.chain.chainId);
    const result = this.state.atomically(() => {
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
    });
    return { tx, result };
  }

  // ---- helpers used by handlers (inside an atomic section) ----

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
    this.state.set(K.account(address), { ...a, balance: a.balance - amount });
  }

  private credit(address: string, amount: bigint): void {
    const a = this.account(address);
    this.state.set(K.account(address), { ...a, balance: a.balance + amount });
  }

  /** Charges a lease up to time `t` (capped at its escrow) and pays host and treasury. */
  private settleTo(lease: Lease, t: number): Lease {
    const end = Math.min(t, lease.openedAt + lease.maxDurationSec * 1000);
    const elapsed = BigInt(Math.max(0, end - lease.openedAt));
    const units = BigInt(Math.max(1, lease.gpus));
    let due = (lease.pricePerHour * units * elapsed) / MS_PER_HOUR;
    if (due > lease.escrow) due = lease.escrow;
    if (due <= lease.charged) return { ...lease, settledAt: Math.max(lease.settledAt, end) };
    // Host share is computed on the cumulative charge so rounding never drifts across settles.
    const hostTotal = mulBps(due, this.params.feeHostBps);
    const hostDelta = hostTotal - lease.hostShare;
    const protoDelta = due - lease.charged - hostDelta;
    this.credit(lease.container, hostDelta);
    const tr = this.treasury();
    this.state.set(K.treasury, { balance: tr.balance + protoDelta });
    const c = this.container(lease.container)!;
    this.state.set(K.container(c.id), { ...c, earned: c.earned + hostDelta });
    return { ...lease, charged: due, hostShare: hostTotal, protocolShare: due - hostTotal, settledAt: end };
  }

  private requireLease(id: string): Lease {
    const l = this.lease(id);
    if (!l) throw new AethirError('NOT_FOUND', `no lease ${id}`);
    return l;
  }

  /** @internal handler table entries */
  transfer(tx: DecodedTx<'transfer'>): TxResult {
    const p = tx.payload as Payload<'transfer'>;
    if (p.to === tx.tx.from) throw new AethirError('INVALID_TRANSACTION', 'cannot transfer to yourself');
    this.debit(tx.tx.from, p.amount, 'transfer');
    this.credit(p.to, p.amount);
    return { to: p.to, amount: p.amount.toString() };
  }

  registerContainer(tx: DecodedTx<'container.register'>, ctx: BlockContext): TxResult {
    const p = tx.payload as Payload<'container.register'>;
    const id = tx.tx.from;
    const prev = this.container(id);
    if (prev && prev.openLeases > 0 && prev.spec.gpus.length !== p.spec.gpus.length)
      throw new AethirError('CONFLICT', 'cannot change the GPU count while leases are open');
    const c: Container = {
      id,
      name: p.name,
      spec: p.spec,
      location: p.location,
      pricePerHour: p.pricePerHour,
      stake: prev?.stake ?? 0n,
      status: prev?.status ?? 'pending',
      gpusTotal: p.spec.gpus.length,
      gpusLeased: prev?.gpusLeased ?? 0,
      openLeases: prev?.openLeases ?? 0,
      earned: prev?.earned ?? 0n,
      registeredAt: prev?.registeredAt ?? ctx.time,
      reports: prev?.reports ?? {},
    };
    this.state.set(K.container(id), c);
    return { container: id, updated: prev !== undefined };
  }

  stake(tx: DecodedTx<'container.stake'>): TxResult {
    const p = tx.payload as Payload<'container.stake'>;
    const c = this.container(tx.tx.from);
    if (!c) throw new AethirError('NOT_FOUND', 'only a registered container can stake; register first');
    this.debit(tx.tx.from, p.amount, 'stake');
    this.state.set(K.container(c.id), { ...c, stake: c.stake + p.amount });
    return { container: c.id, stake: (c.stake + p.amount).toString() };
  }

  openLease(tx: DecodedTx<'lease.open'>, ctx: BlockContext): TxResult {
    const p = tx.payload as Payload<'lease.open'>;
    const c = this.container(p.container);
    if (!c) throw new AethirError('NOT_FOUND', `no container ${p.container}`);
    if (c.status !== 'online')
      throw new AethirError('CONTAINER_UNAVAILABLE', `container ${c.name} is ${c.status}`);
    if (c.stake < requiredStake(this.params, c.gpusTotal))
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
    if (p.maxDurationSec > this.params.maxLeaseSeconds)
      throw new AethirError(
        'INVALID_TRANSACTION',
        `maxDurationSec is above the limit of ${this.params.maxLeaseSeconds}`,
      );
    if (p.container === tx.tx.from)
      throw new AethirError('INVALID_TRANSACTION', 'a container cannot rent itself');
    const escrow =
      (c.pricePerHour * BigInt(Math.max(1, p.gpus)) * BigInt(p.maxDurationSec) * 1000n) / MS_PER_HOUR;
    this.debit(tx.tx.from, escrow, 'lease escrow');
    const id = `L${tx.id.slice(0, 20)}`;
    const lease: Lease = {
      id,
      user: tx.tx.from,
      container: c.id,
      gpus: p.gpus,
      pricePerHour: c.pricePerHour,
      maxDurationSec: p.maxDurationSec,
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
    };
    this.state.set(K.lease(id), lease);
    this.state.set(K.container(c.id), {
      ...c,
      gpusLeased: c.gpusLeased + p.gpus,
      openLeases: c.openLeases + 1,
    });
    return { lease: id, escrow: escrow.toString() };
  }

  settleLease(tx: DecodedTx<'lease.settle'>, ctx: BlockContext): TxResult {
    const p = tx.payload as Payload<'lease.settle'>;
    const l = this.requireLease(p.lease);
    if (tx.tx.from !== l.container)
      throw new AethirError('UNAUTHORIZED', 'only the serving container settles a lease');
    if (l.status !== 'open') throw new AethirError('CONFLICT', `lease ${l.id} is ${l.status}`);
    const s = this.settleTo(l, ctx.time);
    this.state.set(K.lease(l.id), s);
    return { lease: l.id, charged: s.charged.toString() };
  }

  closeLease(tx: DecodedTx<'lease.close'>, ctx: BlockContext): TxResult {
    const p = tx.payload as Payload<'lease.close'>;
    const l = this.requireLease(p.lease);
    if (tx.tx.from !== l.container && tx.tx.from !== l.user)
      throw new AethirError('UNAUTHORIZED', 'only the lease holder or its container can close a lease');
    if (l.status !== 'open') throw new AethirError('CONFLICT', `lease ${l.id} is already ${l.status}`);
    const s = this.settleTo(l, ctx.time);
    const refund = s.escrow - s.charged;
    if (refund > 0n) this.credit(s.user, refund);
    const closed: Lease = {
      ...s,
      status: 'closed',
      closedAt: ctx.time,
      exitCode: p.exitCode ?? null,
      closeReason: p.reason ?? (tx.tx.from === l.user ? 'closed by user' : 'closed by container'),
      closedBy: tx.tx.from,
    };
    this.state.set(K.lease(l.id), closed);
    const c = this.container(l.container)!;
    this.state.set(K.container(c.id), {
      ...c,
      gpusLeased: c.gpusLeased - l.gpus,
      openLeases: c.openLeases - 1,
    });
    return { lease: l.id, charged: s.charged.toString(), refund: refund.toString() };
  }

  checkerReport(tx: DecodedTx<'checker.report'>, ctx: BlockContext): TxResult {
    const p = tx.payload as Payload<'checker.report'>;
    const checkers = this.chain.checkers;
    if (!checkers.includes(tx.tx.from))
      throw new AethirError('UNAUTHORIZED', 'sender is not a checker of this network');
    const c = this.container(p.container);
    if (!c) throw new AethirError('NOT_FOUND', `no container ${p.container}`);
    if (p.observedAt > ctx.time + 60_000)
      throw new AethirError('INVALID_TRANSACTION', 'report is from the future');
    const reports = { ...c.reports, [tx.tx.from]: { online: p.online, at: p.observedAt } };
    // Majority of the checker set decides; without a majority either way the status stands.
    const votes = Object.entries(reports).filter(([k]) => checkers.includes(k));
    const majority = Math.floor(checkers.length / 2) + 1;
    const up = votes.filter(([, v]) => v.online).length;
    const down = votes.length - up;
    const status = up >= majority ? 'online' : down >= majority ? 'offline' : c.status;
    this.state.set(K.container(c.id), { ...c, reports, status });
    return { container: c.id, status };
  }
}

const HANDLERS: { [T in TxType]: (this: Ledger, tx: DecodedTx<T>, ctx: BlockContext) => TxResult } = {
  transfer: Ledger.prototype.transfer,
  'container.register': Ledger.prototype.registerContainer,
  'container.stake': Ledger.prototype.stake,
  'lease.open': Ledger.prototype.openLease,
  'lease.settle': Ledger.prototype.settleLease,
  'lease.close': Ledger.prototype.closeLease,
  'checker.report': Ledger.prototype.checkerReport,
};
