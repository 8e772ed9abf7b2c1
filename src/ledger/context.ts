import { AethirError } from '../core/errors.js';
import { K, type Account, type Container, type Pool, type VestingEntry, type VestingKind } from './model.js';
import { LedgerReader } from './reader.js';
import type { LedgerState } from './state.js';
import type { DecodedTx } from './tx.js';
import type { LedgerEvent, TxType } from './registry.js';

/** What applying a transaction produced, for the submitter (ids of created records, charges). */
export type TxResult = Record<string, string | number | boolean | null>;

export interface BlockContext {
  height: number;
  /** block time, ms: the ledger's only notion of time, so replay is deterministic */
  time: number;
  /** the hash of the previous block (genesis: the genesis block's): it feeds the epoch seed */
  prevHash: string;
}

/** A module's handler for one transaction type: private to its module, named by the registry. */
export type Handler<T extends TxType> = (ctx: TxContext, tx: DecodedTx<T>) => TxResult;
export type Handlers<T extends TxType> = { [P in T]: Handler<P> };

/**
 * What a handler may do while its transaction applies: read anything (it is a LedgerReader, and
 * reads see its own writes), write state, know the block (height, time, previous hash), move
 * money (debit, credit, move pools, vest) and announce what changed (`emit`). Every write goes
 * to the state's overlay: if the handler throws, none of it lands, and its events are dropped.
 */
export class TxContext extends LedgerReader implements BlockContext {
  readonly height: number;
  readonly time: number;
  readonly prevHash: string;
  readonly events: LedgerEvent[] = [];
  private readonly changed = new Set<string>();

  constructor(state: LedgerState, block: BlockContext) {
    super(state);
    this.height = block.height;
    this.time = block.time;
    this.prevHash = block.prevHash;
  }

  emit(e: LedgerEvent): void {
    this.events.push(e);
  }

  setAccount(address: string, a: Account): void {
    if (a.balance < 0n || a.escrow < 0n) throw new AethirError('INTERNAL', 'negative balance');
    this.state.set(K.account(address), a);
  }

  debit(address: string, amount: bigint, what: string): void {
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

  credit(address: string, amount: bigint): void {
    const a = this.account(address);
    this.setAccount(address, { ...a, balance: a.balance + amount });
  }

  movePool(key: string, delta: bigint): void {
    const p = this.state.get<Pool>(key)!;
    if (p.balance + delta < 0n) throw new AethirError('INTERNAL', `pool ${key} would go negative`);
    this.state.set(key, { balance: p.balance + delta });
  }

  vest(address: string, kind: VestingKind, amount: bigint, earnedAt: number, unlockAt: number): void {
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

  /** Writes a container record, and announces it (ContainerChanged, once per transaction). */
  putContainer(c: Container): void {
    this.state.set(K.container(c.id), c);
    if (this.changed.has(c.id)) return;
    this.changed.add(c.id);
    this.emit({ type: 'ContainerChanged', id: c.id });
  }
}
