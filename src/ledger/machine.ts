import { AethirError, type ErrorCode } from '../core/errors.js';
import { genesisEpochSeed } from './assignment.js';
import { TxContext, type BlockContext, type TxResult } from './context.js';
import { TOTAL_SUPPLY, type Genesis } from './genesis.js';
import {
  K,
  newCheckerRecord,
  type Account,
  type ChainInfo,
  type DaoState,
  type Economics,
  type Pool,
} from './model.js';
import { LedgerReader } from './reader.js';
import { HANDLERS, type LedgerEvent } from './registry.js';
import { LedgerState } from './state.js';
import { decodeTx, type DecodedTx } from './tx.js';

/** A transaction as applied: what it answers its submitter, and what it announced. */
export interface Applied {
  tx: DecodedTx;
  result: TxResult;
  events: LedgerEvent[];
}

/**
 * The codes that reject a transaction: the sender's mistake or the state's answer. A rejected
 * transaction changes nothing and the ledger goes on. Anything else thrown while a transaction
 * applies (a TypeError, an invariant, a negative balance) is a bug: see LedgerFault.
 */
export const REJECTION_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'INVALID_ARGUMENT',
  'INVALID_TRANSACTION',
  'BAD_SIGNATURE',
  'WRONG_CHAIN',
  'NONCE_MISMATCH',
  'INSUFFICIENT_FUNDS',
  'UNAUTHORIZED',
  'NOT_FOUND',
  'CONFLICT',
  'CAPACITY_EXHAUSTED',
  'CONTAINER_UNAVAILABLE',
]);

/** Whether `e` rejects a transaction (an AethirError with a rejection code). */
export function isRejection(e: unknown): e is AethirError {
  return e instanceof AethirError && REJECTION_CODES.has(e.code);
}

/**
 * Bugs halt, rejections don't: what `apply` and `check` throw when something other than a
 * rejection escaped a handler. The transaction's writes are discarded; the node that sees it
 * must stop its ledger at its last good block (src/node/chain.ts, src/node/replica.ts) rather
 * than record a verdict that another version of the code would not reach.
 */
export class LedgerFault extends AethirError {
  constructor(
    readonly txId: string,
    readonly txType: string,
    readonly height: number,
    cause: unknown,
  ) {
    super(
      'INTERNAL',
      `ledger fault at block ${height} applying ${txType} ${txId.slice(0, 16)}: ${(cause as Error)?.stack ?? String(cause)}`,
      { cause, details: { tx: txId, type: txType, height } },
    );
    this.name = 'LedgerFault';
  }
}

/** Thrown inside a dry run to undo its writes; never escapes `Ledger.check`. */
const ROLLBACK = Symbol('rollback');

/**
 * The deterministic state machine: `apply(state, tx) -> state'`. It never reads a clock or a
 * random source; time comes from the block. A transaction either applies completely or is
 * rejected with a typed error and leaves the state untouched. The rules live in the modules
 * (src/ledger/modules/<name>/handlers.ts), each handler private to its module; the machine
 * only checks the nonce, dispatches through the registry and keeps it atomic.
 *
 * Where the money is (all of it adds up to the genesis supply, always): account balances and
 * escrows, container stakes and unbonding stakes, the unspent escrow of open leases, vesting
 * entries, the reward and checker pools, and the treasury (modules/bank/invariants.ts).
 */
export class Ledger extends LedgerReader {
  private constructor(state: LedgerState) {
    super(state);
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

  root(): string {
    return this.state.root();
  }

  /** Validates (signature, nonce, rules) and applies one transaction atomically. */
  apply(input: unknown, block: BlockContext): Applied {
    return this.applyDecoded(this.decode(input), block);
  }

  /**
   * As apply, for a transaction whose signature was already verified (batch verification).
   * Throws a rejection (isRejection) or, for anything else, a LedgerFault; either way nothing
   * of the transaction remains.
   */
  applyDecoded(tx: DecodedTx, block: BlockContext): Applied {
    try {
      return { tx, ...this.state.atomically(() => this.applyInside(tx, block)) };
    } catch (e) {
      throw faultUnlessRejection(e, tx, block);
    }
  }

  /**
   * Validates a transaction exactly as apply would at `block`, then rolls everything back: what
   * a node that does not order transactions itself (a replica behind a shared log) checks
   * before it appends one, so a transaction that would be rejected never reaches the log.
   */
  check(input: unknown, block: BlockContext): Applied {
    const tx = this.decode(input);
    let out: Omit<Applied, 'tx'> | undefined;
    try {
      this.state.atomically(() => {
        out = this.applyInside(tx, block);
        throw ROLLBACK;
      });
    } catch (e) {
      if (e !== ROLLBACK) throw faultUnlessRejection(e, tx, block);
    }
    return { tx, ...out! };
  }

  /** Input from anyone: whatever is wrong with it rejects it, never halts the ledger. */
  private decode(input: unknown): DecodedTx {
    try {
      return decodeTx(input, this.chain.chainId);
    } catch (e) {
      if (e instanceof AethirError) throw e;
      throw new AethirError('INVALID_TRANSACTION', `malformed transaction: ${(e as Error)?.message ?? e}`);
    }
  }

  private applyInside(tx: DecodedTx, block: BlockContext): Omit<Applied, 'tx'> {
    const acct = this.account(tx.tx.from);
    if (tx.tx.nonce !== acct.nonce)
      throw new AethirError(
        'NONCE_MISMATCH',
        `nonce ${tx.tx.nonce} is not the account's next nonce ${acct.nonce}`,
        {
          details: { expected: acct.nonce },
        },
      );
    const ctx = new TxContext(this.state, block);
    const result = HANDLERS[tx.type](ctx, tx as never);
    const after = this.account(tx.tx.from);
    this.state.set(K.account(tx.tx.from), { ...after, nonce: acct.nonce + 1 });
    return { result, events: ctx.events };
  }
}

function faultUnlessRejection(e: unknown, tx: DecodedTx, block: BlockContext): AethirError {
  return isRejection(e) ? e : new LedgerFault(tx.id, tx.type, block.height, e);
}
