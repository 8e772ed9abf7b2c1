import fc from 'fast-check';
import { ath, signMessage, type KeyPair } from '../../../src/core/index.js';
import {
  CONSTITUENCIES,
  DEFAULT_PARAMS,
  Ledger,
  OPERATIONAL_PARAMS,
  signReceipt,
  signTx,
  signingBytes,
  type CheckKind,
  type Choice,
  type Genesis,
  type SignedTx,
  type TxType,
  type VestingEntry,
} from '../../../src/ledger/index.js';
import {
  CHAIN_ID,
  DAY_MS,
  HOUR_MS,
  alice,
  bob,
  carol,
  checkers,
  governor,
  host,
  host2,
  leasePayload,
  makeGenesis,
  registerPayload,
  stranger,
} from './fixtures.js';

/**
 * The random transaction generator (shared by the ledger's invariants and the node's fan-out
 * property): random transaction sequences mixing every transaction type, valid and invalid, at
 * non-decreasing block times (epoch closes jump to the epoch's end; DAO ratifications and
 * executions may jump to the end of a proposal's vote or timelock). After every step the
 * ledger's invariants must hold and a rejection must leave the root (and the nonce) untouched;
 * forged, foreign-key and replayed transactions must never apply; replaying only the accepted
 * transactions must reproduce the root at every height; the blocks built from them must verify.
 */

// Small stakes, short periods and small pools, so random runs reach the interesting states
// (suspension, unbonding done, vesting unlocked, checker bans, day closes, empty pools) often.
export const K_TABLE = Object.fromEntries(
  Object.keys(DEFAULT_PARAMS.kTable).map((c) => [c, (c === 'cpu' ? ath(1) : ath(2)).toString()]),
);
export const GENESIS: Genesis = makeGenesis(
  {
    kTable: K_TABLE,
    maxLeaseSeconds: 7200,
    openEndedDepositSeconds: 3600,
    epochMs: 6 * HOUR_MS,
    unbondingMs: 2 * HOUR_MS,
    hostVestingMs: HOUR_MS,
    checkerVestingMs: 2 * DAY_MS,
    checkerFastVestingMs: HOUR_MS,
    checkerBanMs: 3 * HOUR_MS,
    coefficientPeriodMs: DAY_MS,
    emissionPerEpoch: ath(100).toString(),
    checkerPoolPerDay: ath(100).toString(),
    // the DAO: locks of 1 to 30 days, a small proposal threshold, votes and timelocks of hours
    lockMinMs: DAY_MS,
    lockMaxMs: 30 * DAY_MS,
    proposalMinWeight: ath(1).toString(),
    votingPeriodMs: 2 * HOUR_MS,
    timelockMs: HOUR_MS,
    quorumBps: 1000,
    // leases whose deposit runs out are paused (files kept) for an hour
    pauseGraceMs: HOUR_MS,
  },
  { pools: { rewards: ath(1500), checkers: ath(500) } },
);
export const ACTORS: KeyPair[] = [alice, bob, carol, host, host2, ...checkers, stranger, governor];
export const CONTAINERS: KeyPair[] = [host, host2, carol];

export const amountArb = fc.oneof(
  { weight: 6, arbitrary: fc.bigInt({ min: 1n, max: ath(30) }) },
  { weight: 2, arbitrary: fc.bigInt({ min: 1n, max: 1000n }) },
  { weight: 1, arbitrary: fc.bigInt({ min: ath(10_000), max: ath(200_000) }) },
  { weight: 1, arbitrary: fc.constantFrom<bigint | string | number>(0n, -1n, 'abc', '1.5', 7, '') },
);
export const priceArb = fc.oneof(
  fc.bigInt({ min: 1n, max: ath(3) }),
  fc.constantFrom(1_000_000_007n, ath(1), 0n),
);
export const actor = fc.nat({ max: ACTORS.length - 1 });
/** liveness most often; capacity, location and QoS too */
export const checkArb: fc.Arbitrary<CheckKind> = fc.constantFrom<CheckKind>(
  'liveness',
  'liveness',
  'liveness',
  'capacity',
  'location',
  'qos',
);
export const wordsArb = fc.option(
  fc.record(
    {
      reason: fc.constantFrom('did not answer', 'GPU 0 is an RTX 3060', 'rtt 180 ms from Frankfurt'),
      score: fc.constantFrom(0, 0.5, 0.81, 0.95, 1),
    },
    { requiredKeys: [] },
  ),
  { nil: undefined },
);
export const ctr = fc.nat({ max: CONTAINERS.length - 1 });

/** Parameter changes, valid and invalid. */
export const PARAM_CHANGES: Array<Record<string, unknown>> = [
  { feeHostBps: 8500 },
  { feeHostBps: 5000 },
  { feeHostBps: 10_000 },
  { feeHostBps: 6000 },
  { feeHostBps: 9000 },
  { hostVestingMs: 0 },
  { emissionPerEpoch: ath(400).toString() },
  { slashDowntimeBps: 10_000 },
  { slashSpecBps: 500 },
  { checkerFastForfeitBps: 10_000 },
  { qualityTierBps: [5000, 20_000, 30_000] },
  { coefficientMinBps: 1000, coefficientMaxBps: 100_000 },
  { kTable: { ...K_TABLE, h100: ath(5).toString() } },
  { epochMs: 3 * HOUR_MS },
  { checkerMaxIncorrectPerWeek: 1 },
  { votingPeriodMs: HOUR_MS },
  { timelockMs: 0 },
  { revenueShareBps: 10_000 },
  { lockMaxMs: 60 * DAY_MS },
  { bogus: 1 },
  { quorumBps: 0 },
  { feeHostBps: 1 },
  { version: 9 },
  { epochMs: 1 },
  { checkerQuorumN: 0 },
  { checkerQuorumN: 2 },
  { checkerQuorumN: 17 },
  { checkerReassignMs: 1000 },
  { slashLocationBps: 20_000 },
  { simulatedHardware: true },
  { kTable: { h100: '1' } },
];

/** who signs a settle or close: the lease's user, its container, or anyone */
export type Signer = 'user' | 'container' | number;
export const signerArb: fc.Arbitrary<Signer> = fc.oneof(
  fc.constant('user' as const),
  fc.constant('container' as const),
  actor,
);

/**
 * a usage receipt a settle or close carries: signed by the lease's user or by someone else, for
 * this lease or another, numbered next or again the last accepted one (stale)
 */
export type ReceiptSpec = {
  by: 'user' | 'other';
  lease: 'same' | 'other';
  seq: 'next' | 'stale';
  servedMs: number;
} | null;
export const receiptArb: fc.Arbitrary<ReceiptSpec> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(null) },
  {
    weight: 6,
    arbitrary: fc.record({
      by: fc.oneof(
        { weight: 8, arbitrary: fc.constant('user' as const) },
        { weight: 1, arbitrary: fc.constant('other' as const) },
      ),
      lease: fc.oneof(
        { weight: 8, arbitrary: fc.constant('same' as const) },
        { weight: 1, arbitrary: fc.constant('other' as const) },
      ),
      seq: fc.oneof(
        { weight: 8, arbitrary: fc.constant('next' as const) },
        { weight: 1, arbitrary: fc.constant('stale' as const) },
      ),
      servedMs: fc.oneof(
        { weight: 4, arbitrary: fc.nat({ max: 3 * HOUR_MS }) },
        { weight: 1, arbitrary: fc.constantFrom(0, 1, 7200 * 1000, 400 * HOUR_MS) },
      ),
    }),
  },
);

/**
 * a proposal: -1 the latest, -3 the one before it, -2 one that does not exist, n >= 0 the n-th
 * (modulo their number)
 */
export type Ref = number;
/**
 * where block time jumps before a ratify or execute: to the referenced proposal's end of vote
 * or of timelock (if later than now)
 */
export type Jump = 'none' | 'votingEnds' | 'executableAt';
/** a proposal action; `too much`: one unit more than the treasury holds */
export type ActionSpec =
  | { t: 'params'; change: number }
  | { t: 'spend'; to: number; amount: bigint | 'too much' | 'all' }
  | { t: 'council'; seat: (typeof CONSTITUENCIES)[number]; member: number | null };

export type Forgery =
  'wrong-chain' | 'tampered' | 'foreign-from' | 'foreign-pubkey' | 'stolen-sig' | 'malformed';

export type Op =
  | { kind: 'transfer'; from: number; to: number; amount: bigint | string | number }
  | { kind: 'deposit' | 'withdraw'; who: number; amount: bigint | string | number }
  /** `reserved`: the host also sells reserved capacity (at 70% of its price) */
  | { kind: 'register'; who: number; gpus: number; price: bigint; reserved?: boolean }
  | { kind: 'stake' | 'unstake'; who: number; amount: bigint | string | number }
  | { kind: 'unbond'; who: number }
  | {
      kind: 'report';
      checker: number;
      container: number;
      check: CheckKind;
      ok: boolean;
      skew: number;
      /** what the checker says: a reason in words, a QoS score */
      words?: { reason?: string; score?: number };
    }
  | {
      kind: 'open';
      user: number;
      container: number;
      gpus: number;
      dur: number | null;
      maxPrice: bigint;
      /** depositSec: escrow for part of the duration (null: the whole of it) */
      deposit?: number | null;
      /** ask for every GPU the container has free (at least 1) instead of `gpus` */
      allFree?: boolean;
      /**
       * an interruptible lease at a bid ('above': over the container's price, never accepted), or
       * a lease on a reservation (`ref`-th known one)
       */
      mode?: { t: 'bid'; bid: bigint | 'above' } | { t: 'resv'; ref: number };
    }
  | { kind: 'settle' | 'close' | 'pause'; signer: Signer; lease: number; receipt: ReceiptSpec }
  | { kind: 'topup'; signer: Signer; lease: number; amount: bigint | string | number }
  /** reserved capacity: book a container's GPUs for days */
  | { kind: 'reserve'; user: number; container: number; gpus: number; days: number; maxPrice: bigint }
  /** settle (its host), cancel (its user) or close (anyone, after its end: `jump` goes there) a reservation */
  | { kind: 'resv'; action: 'settle' | 'cancel' | 'close'; signer: Signer; ref: number; jump: boolean }
  /** 'earner': someone with something claimable now, if anyone */
  | { kind: 'claim'; who: number | 'earner'; fast: boolean }
  | { kind: 'epoch'; skew: number; jump: boolean }
  | { kind: 'params'; byGovernor: boolean; change: number }
  | {
      /** two checkers vote alike in consecutive blocks (and maybe the third one late): expanded into reports */
      kind: 'round';
      container: number;
      check: CheckKind;
      ok: boolean;
      /** what every voter says */
      words?: { reason?: string; score?: number };
      first: number;
      late: 'none' | 'agree' | 'dissent';
    }
  | { kind: 'lock'; who: number; amount: bigint | string | number; until: number | 'keep' }
  | { kind: 'unlock'; who: number }
  | { kind: 'propose'; who: number; actions: ActionSpec[] }
  | { kind: 'vote'; who: number; ref: Ref; choice: Choice }
  | { kind: 'ratify'; who: number | 'council'; ref: Ref; jump: Jump }
  | { kind: 'execute'; who: number; ref: Ref; jump: Jump }
  | {
      /** a governance run: lock, propose, vote, ratify, execute, each at its time: expanded into txs */
      kind: 'dao';
      proposer: number;
      second: number;
      amount: bigint;
      actions: ActionSpec[];
      choice: Choice;
      /**
       * two proposals, each spending the whole treasury, voted and executed one after the other:
       * the second fails at execution (the treasury can no longer pay it)
       */
      twin: boolean;
    }
  /** closes the epochs through the end of the current day (a checker day close among them) */
  | { kind: 'day' }
  /**
   * checker `liar` says "down" (late) in two liveness rounds the others decide "up" (two strikes:
   * a ban at the default checkerMaxIncorrectPerWeek), then reports again
   */
  | { kind: 'accuse'; container: number; liar: number }
  /**
   * the capacity markets in a row: `reserve` books a GPU, leases on it (and a stranger tries the
   * container), then ends it (`cancel`, `close` after its end, or the host fails a liveness
   * round); `preempt` opens an interruptible lease on every free GPU, then `other` rents on demand
   */
  | {
      kind: 'market';
      flavour: 'reserve' | 'preempt';
      container: number;
      user: number;
      other: number;
      end: 'cancel' | 'close' | 'fail';
      first: number;
    }
  /** a lease opened on a container, then a QoS round that fails while it serves */
  | { kind: 'qosFail'; container: number; user: number; first: number }
  /** an app version: names and versions from small sets, so owners, new versions and repeats all happen */
  | { kind: 'publish'; who: number; app: number; version: number; gpus: number }
  | {
      kind: 'volume';
      action: 'create' | 'topup' | 'settle' | 'delete' | 'lost' | 'mount';
      who: number;
      container: number;
      sizeMiB: number;
      vol: number;
      /** act on the volume created last (a volume's life played out in a row) */
      newest?: boolean;
    }
  | { kind: 'forged'; inner: Op; variant: Forgery; other: number }
  | { kind: 'replay'; pick: number };

/** Valid operational changes (they need the council's ratification once there is a council). */
export const OPERATIONAL_CHANGES: number[] = (() => {
  const probe = Ledger.fromGenesis(GENESIS);
  return PARAM_CHANGES.flatMap((changes, i) => {
    if (!Object.keys(changes).some((k) => OPERATIONAL_PARAMS.has(k))) return [];
    try {
      probe.validateParamChanges(changes);
      return [i];
    } catch {
      return [];
    }
  });
})();

export const choiceArb: fc.Arbitrary<Choice> = fc.oneof(
  { weight: 3, arbitrary: fc.constant('for' as const) },
  { weight: 1, arbitrary: fc.constantFrom('against' as const, 'abstain' as const) },
);
export const refArb: fc.Arbitrary<Ref> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(-1) },
  { weight: 4, arbitrary: fc.nat({ max: 20 }) },
  { weight: 1, arbitrary: fc.constant(-2) },
);
export const jumpArb: fc.Arbitrary<Jump> = fc.constantFrom(
  'none' as const,
  'votingEnds' as const,
  'executableAt' as const,
);
export const seatArb = fc.constantFrom(...CONSTITUENCIES);
export const actionArb: fc.Arbitrary<ActionSpec> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('params' as const),
      change: fc.nat({ max: PARAM_CHANGES.length - 1 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('spend' as const),
      to: actor,
      amount: fc.oneof(
        { weight: 4, arbitrary: fc.bigInt({ min: 1n, max: ath(100) }) },
        { weight: 1, arbitrary: fc.constant('too much' as const) },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('council' as const),
      seat: seatArb,
      member: fc.oneof({ weight: 4, arbitrary: actor }, { weight: 1, arbitrary: fc.constant(null) }),
    }),
  },
);
/** The actions of a governance run: mostly ones that can pass, council seats and operational changes often. */
export const runActionArb: fc.Arbitrary<ActionSpec> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ t: fc.constant('council' as const), seat: seatArb, member: actor }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('params' as const),
      change: fc.constantFrom(...OPERATIONAL_CHANGES),
    }),
  },
  { weight: 2, arbitrary: actionArb },
);
/** someone with ATH to lock: alice, bob, carol, host, host2 */
export const funded = fc.nat({ max: 4 });

export const daoOpArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('lock' as const),
      who: fc.oneof({ weight: 3, arbitrary: funded }, { weight: 1, arbitrary: actor }),
      amount: fc.oneof(
        { weight: 4, arbitrary: fc.bigInt({ min: ath(1), max: ath(40) }) },
        { weight: 1, arbitrary: fc.constant(0n) },
        { weight: 1, arbitrary: amountArb },
      ),
      // how far from now the lock should end ('keep': the current end)
      until: fc.oneof(
        { weight: 2, arbitrary: fc.constant('keep' as const) },
        { weight: 4, arbitrary: fc.integer({ min: DAY_MS, max: 30 * DAY_MS }) },
        {
          weight: 2,
          arbitrary: fc.constantFrom(DAY_MS, DAY_MS - 1, 30 * DAY_MS, 30 * DAY_MS + 1, 0, -HOUR_MS),
        },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('unlock' as const),
      who: fc.oneof({ weight: 3, arbitrary: funded }, { weight: 1, arbitrary: actor }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('propose' as const),
      who: actor,
      actions: fc.array(actionArb, { minLength: 0, maxLength: 2 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('vote' as const), who: actor, ref: refArb, choice: choiceArb }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('ratify' as const),
      who: fc.oneof(fc.constant('council' as const), actor),
      ref: refArb,
      jump: jumpArb,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('execute' as const), who: actor, ref: refArb, jump: jumpArb }),
  },
);

export const daoRunArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constant('dao' as const),
  proposer: fc.constantFrom(0, 1, 3, 4),
  second: funded,
  amount: fc.bigInt({ min: ath(2), max: ath(40) }),
  actions: fc.array(runActionArb, { minLength: 1, maxLength: 2 }),
  choice: choiceArb,
  twin: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

export const validOpArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: daoOpArb },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('transfer' as const),
      from: actor,
      to: actor,
      amount: amountArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constantFrom('deposit' as const, 'withdraw' as const),
      who: fc.oneof({ weight: 2, arbitrary: fc.constantFrom(0, 1) }, { weight: 1, arbitrary: actor }),
      amount: amountArb,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('register' as const),
      who: ctr,
      gpus: fc.nat({ max: 3 }),
      price: priceArb,
      reserved: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('reserve' as const),
      user: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(0, 1) }, { weight: 1, arbitrary: actor }),
      container: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0, 1) }, { weight: 1, arbitrary: ctr }),
      gpus: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 1, max: 2 }) },
        { weight: 1, arbitrary: fc.nat({ max: 5 }) },
      ),
      days: fc.oneof(
        { weight: 6, arbitrary: fc.constant(1) },
        { weight: 1, arbitrary: fc.constantFrom(0, 2, 367) },
      ),
      maxPrice: fc.oneof({ weight: 4, arbitrary: fc.constant(ath(5)) }, { weight: 1, arbitrary: priceArb }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('resv' as const),
      action: fc.constantFrom('settle' as const, 'cancel' as const, 'close' as const),
      signer: fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom('user' as const, 'container' as const) },
        { weight: 1, arbitrary: actor },
      ),
      ref: fc.nat(),
      jump: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('stake' as const), who: ctr, amount: amountArb }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('unstake' as const),
      who: ctr,
      amount: fc.oneof(fc.bigInt({ min: 1n, max: ath(1) }), amountArb),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('unbond' as const), who: ctr }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('report' as const),
      checker: fc.nat({ max: 3 }), // 3 = not a checker
      container: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0, 1) }, { weight: 1, arbitrary: ctr }),
      check: checkArb,
      ok: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 2, arbitrary: fc.constant(false) }),
      words: wordsArb,
      // negative: a late vote; over a minute ahead: a report from the future
      skew: fc.oneof(
        { weight: 4, arbitrary: fc.constant(0) },
        { weight: 2, arbitrary: fc.constantFrom(-1, -1000, -60_000, -HOUR_MS) },
        { weight: 1, arbitrary: fc.integer({ min: -2 * HOUR_MS, max: 0 }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 120_000 }) },
      ),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('open' as const),
      user: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(0, 1) }, { weight: 1, arbitrary: actor }),
      container: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0, 1) }, { weight: 1, arbitrary: ctr }),
      gpus: fc.oneof(
        { weight: 3, arbitrary: fc.nat({ max: 2 }) },
        { weight: 1, arbitrary: fc.nat({ max: 5 }) },
      ),
      dur: fc.oneof(
        { weight: 8, arbitrary: fc.integer({ min: 1, max: 7200 }) },
        { weight: 2, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.constant(7201) },
      ),
      maxPrice: fc.oneof({ weight: 4, arbitrary: fc.constant(ath(5)) }, { weight: 1, arbitrary: priceArb }),
      deposit: fc.oneof(
        { weight: 3, arbitrary: fc.constant(null) },
        { weight: 3, arbitrary: fc.integer({ min: 1, max: 60 }) },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: 8000 }) },
      ),
      mode: fc.oneof(
        { weight: 4, arbitrary: fc.constant(undefined) },
        {
          weight: 2,
          arbitrary: fc.record({
            t: fc.constant('bid' as const),
            bid: fc.oneof(
              { weight: 4, arbitrary: fc.bigInt({ min: 1n, max: ath(1) }) },
              { weight: 1, arbitrary: fc.constant('above' as const) },
            ),
          }),
        },
        { weight: 2, arbitrary: fc.record({ t: fc.constant('resv' as const), ref: fc.nat() }) },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('pause' as const),
      signer: fc.oneof(
        { weight: 3, arbitrary: fc.constant('container' as const) },
        { weight: 1, arbitrary: signerArb },
      ),
      lease: fc.nat(),
      receipt: receiptArb,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('topup' as const),
      signer: fc.oneof(
        { weight: 3, arbitrary: fc.constant('user' as const) },
        { weight: 1, arbitrary: signerArb },
      ),
      lease: fc.nat(),
      amount: fc.oneof(
        { weight: 4, arbitrary: fc.bigInt({ min: 1n, max: 10n ** 15n }) },
        { weight: 2, arbitrary: fc.bigInt({ min: 1n, max: ath(1) }) },
        { weight: 1, arbitrary: amountArb },
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('settle' as const),
      signer: fc.oneof(
        { weight: 2, arbitrary: fc.constant('container' as const) },
        { weight: 1, arbitrary: signerArb },
      ),
      lease: fc.nat(),
      receipt: receiptArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('close' as const),
      signer: signerArb,
      lease: fc.nat(),
      receipt: receiptArb,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('claim' as const),
      // mostly someone who earns: a container (3, 4) or a checker (5..7)
      who: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 3, max: 7 }) },
        { weight: 1, arbitrary: actor },
        { weight: 2, arbitrary: fc.constant('earner' as const) },
      ),
      fast: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('epoch' as const),
      skew: fc.oneof(
        { weight: 8, arbitrary: fc.constant(0) },
        { weight: 1, arbitrary: fc.constantFrom(-1, 1) },
      ),
      jump: fc.oneof(
        { weight: 4, arbitrary: fc.constant(true) },
        { weight: 1, arbitrary: fc.constant(false) },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('publish' as const),
      who: actor,
      app: fc.nat({ max: 2 }),
      version: fc.nat({ max: 3 }),
      gpus: fc.nat({ max: 2 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('params' as const),
      byGovernor: fc.oneof(
        { weight: 4, arbitrary: fc.constant(true) },
        { weight: 1, arbitrary: fc.constant(false) },
      ),
      change: fc.nat({ max: PARAM_CHANGES.length - 1 }),
    }),
  },
);

export const roundArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constant('round' as const),
  container: fc.constantFrom(0, 1),
  check: checkArb,
  ok: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 2, arbitrary: fc.constant(false) }),
  words: wordsArb,
  first: fc.nat({ max: 2 }),
  late: fc.constantFrom('none' as const, 'agree' as const, 'dissent' as const),
});

/** Expands a `round` into its reports: checkers `first` and `first + 1`, then maybe the third, late. */
export function expand(step: Step): Step[] {
  const op = step.op;
  const at = (o: Op, dt: number): Step => ({ op: o, nonceSkew: 0, dt });
  if (op.kind === 'day')
    return [0, 1, 2, 3].map((i) => at({ kind: 'epoch', skew: 0, jump: true }, i ? 0 : step.dt));
  if (op.kind === 'accuse') {
    const round = (dt: number) =>
      expand(
        at(
          {
            kind: 'round',
            container: op.container,
            check: 'liveness',
            ok: true,
            first: (op.liar + 1) % 3,
            late: 'dissent',
          },
          dt,
        ),
      );
    return [
      ...round(step.dt),
      ...round(60_000),
      at(
        { kind: 'report', checker: op.liar, container: op.container, check: 'liveness', ok: true, skew: 0 },
        60_000,
      ),
    ];
  }
  // a volume's life in a row: created, topped up, settled an hour on, deleted or lost
  if (op.kind === 'volume' && op.action === 'create' && op.who === -1 && op.vol % 3 === 0) {
    const next = (action: 'topup' | 'settle' | 'delete' | 'lost' | 'mount') => ({
      ...op,
      action,
      newest: true,
    });
    return [
      at(op, step.dt),
      at(next('topup'), 1000),
      at(next('mount'), 1000),
      at(next('settle'), HOUR_MS),
      at(next(op.vol % 2 ? 'lost' : 'delete'), 1000),
    ];
  }
  if (op.kind === 'market' && op.flavour === 'reserve') {
    const open = (user: number, mode?: { t: 'resv'; ref: number }): Op => ({
      kind: 'open',
      user,
      container: op.container,
      gpus: 1,
      dur: 3600,
      maxPrice: ath(5),
      ...(mode ? { mode } : {}),
    });
    return [
      at(
        { kind: 'reserve', user: op.user, container: op.container, gpus: 1, days: 1, maxPrice: ath(5) },
        step.dt,
      ),
      at(open(op.user, { t: 'resv', ref: -1 }), 1000),
      at(open(op.user, { t: 'resv', ref: -1 }), 1000),
      at(open(op.other, { t: 'resv', ref: -1 }), 1000),
      at(open(op.other), 1000),
      at({ kind: 'resv', action: 'settle', signer: 'container', ref: -1, jump: false }, 1000),
      ...(op.end === 'fail'
        ? expand(
            at(
              {
                kind: 'round',
                container: op.container,
                check: 'liveness',
                ok: false,
                first: op.first,
                late: 'none',
              },
              HOUR_MS,
            ),
          )
        : [
            at(
              {
                kind: 'resv',
                action: op.end,
                signer: op.end === 'close' ? op.other : 'user',
                ref: -1,
                jump: true,
              },
              HOUR_MS,
            ),
          ]),
    ];
  }
  if (op.kind === 'market')
    return [
      at(
        {
          kind: 'open',
          user: op.user,
          container: op.container,
          gpus: 1,
          allFree: true,
          dur: 3600,
          maxPrice: ath(5),
          mode: { t: 'bid', bid: 1n },
        },
        step.dt,
      ),
      at(
        { kind: 'open', user: op.other, container: op.container, gpus: 1, dur: 3600, maxPrice: ath(5) },
        1000,
      ),
      at({ kind: 'close', signer: 'user', lease: -2, receipt: null }, 60_000),
    ];
  if (op.kind === 'qosFail')
    return [
      at(
        {
          kind: 'open',
          user: op.user,
          container: op.container,
          gpus: 0,
          dur: 3600,
          maxPrice: ath(5),
          deposit: null,
        },
        step.dt,
      ),
      ...expand(
        at(
          { kind: 'round', container: op.container, check: 'qos', ok: false, first: op.first, late: 'none' },
          1000,
        ),
      ),
    ];
  if (op.kind === 'dao' && op.twin) {
    const lockFor = 2 * DAY_MS;
    const spendAll: ActionSpec[] = [{ t: 'spend', to: op.second, amount: 'all' }];
    // -3: the proposal before the latest (the first twin)
    return [
      at({ kind: 'unlock', who: op.proposer }, step.dt),
      at({ kind: 'lock', who: op.proposer, amount: op.amount, until: lockFor }, 1000),
      at({ kind: 'lock', who: op.second, amount: op.amount, until: lockFor }, 0),
      at({ kind: 'propose', who: op.proposer, actions: spendAll }, 1000),
      at({ kind: 'propose', who: op.proposer, actions: spendAll }, 0),
      ...[-3, -1].flatMap((ref) => [
        at({ kind: 'vote', who: op.proposer, ref, choice: 'for' }, 1000),
        at({ kind: 'vote', who: op.second, ref, choice: 'for' }, 0),
      ]),
      at({ kind: 'execute', who: op.second, ref: -3, jump: 'executableAt' }, 0),
      at({ kind: 'execute', who: op.second, ref: -1, jump: 'executableAt' }, 1000),
    ];
  }
  if (op.kind === 'dao') {
    const lockFor = 2 * DAY_MS;
    return [
      at({ kind: 'unlock', who: op.proposer }, step.dt), // an expired lock must be withdrawn first
      at({ kind: 'lock', who: op.proposer, amount: op.amount, until: lockFor }, 1000),
      at({ kind: 'lock', who: op.second, amount: op.amount, until: lockFor }, 0),
      at({ kind: 'propose', who: op.proposer, actions: op.actions }, 1000),
      at({ kind: 'vote', who: op.proposer, ref: -1, choice: 'for' }, 1000),
      at({ kind: 'vote', who: op.second, ref: -1, choice: op.choice }, 1000),
      at({ kind: 'ratify', who: 'council', ref: -1, jump: 'votingEnds' }, 0),
      at({ kind: 'ratify', who: 'council', ref: -1, jump: 'none' }, 1000),
      at({ kind: 'execute', who: op.second, ref: -1, jump: 'executableAt' }, 0),
    ];
  }
  if (op.kind !== 'round') return [step];
  const vote = (checker: number, ok: boolean, skew: number, dt: number): Step => ({
    op: { kind: 'report', checker, container: op.container, check: op.check, ok, skew, words: op.words },
    nonceSkew: 0,
    dt,
  });
  const out = [vote(op.first, op.ok, 0, step.dt), vote((op.first + 1) % 3, op.ok, 0, 1000)];
  if (op.late !== 'none')
    out.push(vote((op.first + 2) % 3, op.late === 'agree' ? op.ok : !op.ok, -1500, 1000));
  return out;
}

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 20, arbitrary: validOpArb },
  { weight: 3, arbitrary: roundArb },
  { weight: 1, arbitrary: daoRunArb },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: 'day' }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('accuse' as const),
      container: fc.constantFrom(0, 1),
      liar: fc.nat({ max: 2 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('market' as const),
      flavour: fc.constantFrom('reserve' as const, 'preempt' as const),
      container: fc.constantFrom(0, 1),
      user: fc.constantFrom(0, 1),
      other: fc.constantFrom(0, 1),
      end: fc.constantFrom('cancel' as const, 'close' as const, 'fail' as const),
      first: fc.nat({ max: 2 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('qosFail' as const),
      container: fc.constantFrom(0, 1),
      user: fc.constantFrom(0, 1),
      first: fc.nat({ max: 2 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('forged' as const),
      inner: validOpArb,
      variant: fc.constantFrom<Forgery>(
        'wrong-chain',
        'tampered',
        'foreign-from',
        'foreign-pubkey',
        'stolen-sig',
        'malformed',
      ),
      other: actor,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('replay' as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('volume' as const),
      action: fc.constantFrom(
        'create' as const,
        'create' as const,
        'topup' as const,
        'settle' as const,
        'delete' as const,
        'lost' as const,
        'mount' as const,
      ),
      // mostly the volume's owner or host: the rest are strangers
      who: fc.oneof({ weight: 4, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: actor }),
      container: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0, 1) }, { weight: 1, arbitrary: ctr }),
      sizeMiB: fc.oneof(
        { weight: 6, arbitrary: fc.integer({ min: 16, max: 20 * 1024 }) },
        { weight: 1, arbitrary: fc.constantFrom(0, 15, 1 << 30) },
      ),
      vol: fc.nat(),
    }),
  },
);

/** A step: an op, a possibly wrong nonce and how far block time advances (never backwards). */
export interface Step {
  op: Op;
  nonceSkew: number;
  dt: number;
}

export const stepArb: fc.Arbitrary<Step> = fc.record({
  op: opArb,
  nonceSkew: fc.oneof(
    { weight: 12, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.constantFrom(-1, 1, 2) },
  ),
  dt: fc.oneof(
    { weight: 2, arbitrary: fc.constant(0) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 60_000 }) },
    { weight: 3, arbitrary: fc.integer({ min: 60_000, max: 3 * HOUR_MS }) },
    { weight: 1, arbitrary: fc.integer({ min: 3 * HOUR_MS, max: DAY_MS }) },
  ),
});

export interface Ctx {
  ledger: Ledger;
  leases: string[];
  /** reservations opened so far */
  reservations?: string[];
  accepted: Array<{ tx: SignedTx; height: number; time: number; prevHash: string }>;
  time: number;
  /** set by buildTx when the transaction it built must be rejected in the current state */
  mustFail?: boolean;
}

/** The kind of transaction an op builds, and whether it can never apply whatever the state. */
export function mustFail(op: Op): boolean {
  if ((op.kind === 'settle' || op.kind === 'close' || op.kind === 'pause') && op.receipt)
    return op.receipt.by === 'other' || op.receipt.lease === 'other';
  return op.kind === 'forged' || op.kind === 'replay';
}

/** The raw (possibly invalid) transaction for `op` against the current ledger, and the block time. */
export function buildTx(c: Ctx, op: Op, nonceSkew: number): unknown {
  const { ledger } = c;
  const leaseId = (i: number) =>
    c.leases.length
      ? (c.leases[i < 0 ? Math.max(0, c.leases.length + i) : i % c.leases.length] ?? 'Lnone')
      : 'Lnone';
  const signer = (who: Signer, lease: string): KeyPair => {
    if (typeof who === 'number') return ACTORS[who]!;
    const l = ledger.lease(lease);
    const address = l ? (who === 'user' ? l.user : l.container) : alice.address;
    return ACTORS.find((k) => k.address === address)!;
  };
  const sign = (k: KeyPair, type: TxType, payload: Record<string, unknown>) =>
    signTx(k, CHAIN_ID, type, Math.max(0, ledger.account(k.address).nonce + nonceSkew), payload);
  switch (op.kind) {
    case 'transfer':
      return sign(ACTORS[op.from]!, 'transfer', { to: ACTORS[op.to]!.address, amount: op.amount });
    case 'deposit':
      return sign(ACTORS[op.who]!, 'escrow.deposit', { amount: op.amount });
    case 'withdraw':
      return sign(ACTORS[op.who]!, 'escrow.withdraw', { amount: op.amount });
    case 'register': {
      const p = {
        ...registerPayload(op.gpus, op.price),
        // hosts 0 and 1 offer volumes
        ...(op.who < 2 ? { volumes: { pricePerGiBHour: ath(1) / 100n, capacityGiB: 64 } } : {}),
      };
      const reserved = op.price > 0n ? (op.price * 7n) / 10n || 1n : 0n;
      return sign(
        CONTAINERS[op.who]!,
        'container.register',
        op.reserved ? { ...p, reservedPricePerHour: reserved } : p,
      );
    }
    case 'volume': {
      // mostly a live volume (ended ones are refused, which is tested too)
      const all = ledger.volumes();
      const live = all.filter((x) => x.status === 'active');
      const vols = live.length && op.vol % 4 !== 0 ? live : all;
      const v = op.newest
        ? all.reduce<(typeof all)[number] | undefined>(
            (a, b) => (!a || b.createdAt >= a.createdAt ? b : a),
            undefined,
          )
        : vols.length
          ? vols[op.vol % vols.length]
          : undefined;
      const id = v?.id ?? 'Vnone';
      const by = (fallback: string) =>
        op.who >= 0 ? ACTORS[op.who]! : (ACTORS.find((k) => k.address === fallback) ?? alice);
      switch (op.action) {
        case 'create':
          return sign(op.who >= 0 ? ACTORS[op.who]! : op.vol % 2 ? bob : alice, 'volume.create', {
            name: `v${op.vol % 5}`,
            container: CONTAINERS[op.container]!.address,
            sizeMiB: op.sizeMiB,
            maxPricePerGiBHour: ath(1),
            depositSeconds: 3600,
          });
        case 'topup':
          return sign(by(v?.owner ?? alice.address), 'volume.topup', { volume: id, amount: 1000n });
        case 'settle':
          return sign(by(v?.container ?? host.address), 'volume.settle', { volume: id });
        case 'delete':
          return sign(by(v?.owner ?? alice.address), 'volume.delete', { volume: id });
        case 'lost':
          return sign(by(v?.container ?? host.address), 'volume.lost', { volume: id, reason: 'disk failed' });
        case 'mount':
          return sign(by(v?.owner ?? alice.address), 'lease.open', {
            ...leasePayload(v?.container ?? host.address, 0, 3600, ath(5)),
            workload: {
              command: ['sh'],
              volumes: [{ volume: id, path: '/data', readOnly: op.vol % 3 === 0 }],
            },
          });
      }
      throw new Error('unreachable');
    }
    case 'reserve':
      if (op.days < 1 || op.days > 366 || op.gpus < 1) c.mustFail = true;
      return sign(ACTORS[op.user]!, 'reservation.open', {
        container: CONTAINERS[op.container]!.address,
        gpus: op.gpus,
        days: op.days,
        maxPricePerHour: op.maxPrice,
      });
    case 'resv': {
      const known = c.reservations ?? [];
      const id = known.length ? known[op.ref < 0 ? known.length - 1 : op.ref % known.length]! : 'Rnone';
      const r = ledger.reservation(id);
      if (op.action === 'close' && op.jump && r) c.time = Math.max(c.time, r.endsAt);
      const k =
        typeof op.signer === 'number'
          ? ACTORS[op.signer]!
          : (ACTORS.find((a) => a.address === (op.signer === 'user' ? r?.user : r?.container)) ?? alice);
      const type = `reservation.${op.action}` as const;
      return sign(k, type, { reservation: id });
    }
    case 'stake':
      return sign(CONTAINERS[op.who]!, 'container.stake', { amount: op.amount });
    case 'unstake':
      return sign(CONTAINERS[op.who]!, 'container.unstake', { amount: op.amount });
    case 'unbond':
      return sign(CONTAINERS[op.who]!, 'container.withdraw', {});
    case 'report': {
      const k = op.checker < 3 ? checkers[op.checker as 0 | 1 | 2] : stranger;
      return sign(k, 'checker.report', {
        container: CONTAINERS[op.container]!.address,
        check: op.check,
        ok: op.ok,
        observedAt: Math.max(0, c.time + op.skew),
        ...op.words,
      });
    }
    case 'open': {
      const address = CONTAINERS[op.container]!.address;
      const ctr = ledger.container(address);
      const free = ctr ? ctr.gpusTotal - ctr.gpusLeased - (ctr.gpusReserved ?? 0) : 1;
      const p: Record<string, unknown> = leasePayload(
        address,
        op.allFree ? Math.max(1, free) : op.gpus,
        op.dur,
        op.maxPrice,
      );
      if (op.deposit !== null && op.deposit !== undefined) p.depositSec = op.deposit;
      if (op.mode?.t === 'bid') {
        const price = ledger.container(address)?.pricePerHour ?? ath(1);
        // a bid above the container's on-demand price is never accepted
        if (op.mode.bid === 'above') c.mustFail = true;
        Object.assign(p, {
          interruptible: true,
          bidPerHour: op.mode.bid === 'above' ? price + 1n : op.mode.bid,
        });
      } else if (op.mode?.t === 'resv') {
        const known = c.reservations ?? [];
        const id = known.length
          ? known[op.mode.ref < 0 ? known.length - 1 : op.mode.ref % known.length]!
          : 'Rnone';
        // a reserved GPU is never leased to another
        if (ledger.reservation(id)?.user !== ACTORS[op.user]!.address) c.mustFail = true;
        p.reservation = id;
      }
      return sign(ACTORS[op.user]!, 'lease.open', p);
    }
    case 'topup': {
      // half the time a paused lease, if there is one (a resume)
      const paused = c.leases.filter((id) => ledger.lease(id)?.status === 'paused');
      const lease =
        op.lease % 2 === 0 && paused.length ? paused[op.lease % paused.length]! : leaseId(op.lease);
      return sign(signer(op.signer, lease), 'lease.topup', { lease, amount: op.amount });
    }
    case 'settle':
    case 'close':
    case 'pause': {
      const lease = leaseId(op.lease);
      const payload: Record<string, unknown> = { lease };
      const spec = op.receipt;
      if (spec) {
        const l = ledger.lease(lease);
        const user = ACTORS.find((k) => k.address === l?.user) ?? alice;
        const last = l?.lastReceiptSeq ?? 0;
        // a stale receipt (the last accepted seq again) must never apply
        if (spec.seq === 'stale' && last > 0) c.mustFail = true;
        payload.receipt = signReceipt(spec.by === 'user' ? user : user === bob ? alice : bob, CHAIN_ID, {
          lease: spec.lease === 'same' ? lease : `${lease}x`,
          servedMs: spec.servedMs,
          seq: spec.seq === 'stale' && last > 0 ? last : last + 1,
          at: c.time,
        });
      }
      const type =
        op.kind === 'settle' ? 'lease.settle' : op.kind === 'pause' ? 'lease.pause' : 'lease.close';
      return sign(signer(op.signer, lease), type, payload);
    }
    case 'claim': {
      let k = ACTORS[op.who === 'earner' ? 3 : op.who]!;
      // 'earner': someone with something to claim now (fast: a checker's rewards past the fast period)
      const claimable = (v: VestingEntry) =>
        op.fast
          ? v.kind === 'checker' &&
            v.unlockAt > c.time &&
            v.earnedAt + ledger.params.checkerFastVestingMs <= c.time
          : v.unlockAt <= c.time;
      if (op.who === 'earner')
        for (const [key, v] of ledger.state.scan<VestingEntry>('vest/'))
          if (claimable(v)) {
            k = ACTORS.find((a) => key.startsWith(`vest/${a.address}/`)) ?? k;
            break;
          }
      return sign(k, 'vesting.claim', op.fast ? { fast: true } : {});
    }
    case 'epoch': {
      const next = ledger.nextEpoch(c.time);
      if (op.jump && op.skew === 0) c.time = Math.max(c.time, next.end);
      return sign(stranger, 'epoch.close', { epoch: Math.max(0, next.epoch + op.skew) });
    }
    case 'params':
      return sign(op.byGovernor ? governor : ACTORS[op.change % 9]!, 'params.update', {
        changes: PARAM_CHANGES[op.change]!,
      });
    case 'publish': {
      const name = ['alpha', 'beta', 'gamma'][op.app]!;
      const version = `1.0.${op.version}`;
      const manifest = { name, version, services: { main: { command: ['true'], gpus: op.gpus } } };
      return sign(ACTORS[op.who]!, 'app.publish', { name, version, manifest });
    }
    case 'lock':
      return sign(ACTORS[op.who]!, 'dao.lock', {
        amount: op.amount,
        until: op.until === 'keep' ? 0 : Math.max(0, c.time + op.until),
      });
    case 'unlock':
      return sign(ACTORS[op.who]!, 'dao.unlock', {});
    case 'propose':
      return sign(ACTORS[op.who]!, 'dao.propose', {
        title: 'a random proposal',
        actions: op.actions.map((a) => actionPayload(ledger, a)),
      });
    case 'vote':
      return sign(ACTORS[op.who]!, 'dao.vote', {
        proposal: proposalRef(c, op.ref, 'none'),
        choice: op.choice,
      });
    case 'ratify': {
      const proposal = proposalRef(c, op.ref, op.jump);
      // 'council': the next member who has not ratified yet (anyone, while there is no council)
      const p = ledger.proposal(proposal);
      const members = [...new Set(Object.values(ledger.dao.council).filter((m): m is string => m !== null))];
      const member = members.find((m) => !p?.ratifiedBy.includes(m)) ?? members[0];
      const k = op.who === 'council' ? (ACTORS.find((a) => a.address === member) ?? alice) : ACTORS[op.who]!;
      return sign(k, 'dao.ratify', { proposal });
    }
    case 'execute':
      return sign(ACTORS[op.who]!, 'dao.execute', { proposal: proposalRef(c, op.ref, op.jump) });
    case 'round':
      throw new Error('rounds are expanded into reports before they run');
    case 'dao':
    case 'day':
    case 'accuse':
    case 'qosFail':
      throw new Error(`${op.kind} is expanded into its transactions before it runs`);
    case 'replay':
      return c.accepted.length ? c.accepted[op.pick % c.accepted.length]!.tx : { nothing: true };
    case 'forged': {
      const good = buildTx(c, op.inner, 0) as SignedTx;
      const other =
        ACTORS[op.other]!.address === good.from ? ACTORS[(op.other + 1) % ACTORS.length]! : ACTORS[op.other]!;
      const { sig: _sig, ...unsigned } = good;
      switch (op.variant) {
        case 'wrong-chain': {
          const moved = { ...unsigned, chainId: 'other-chain' };
          const owner = ACTORS.find((k) => k.address === good.from)!;
          return { ...moved, sig: signMessage(owner.secretKey, signingBytes(moved)) };
        }
        case 'tampered':
          return { ...good, nonce: good.nonce + 1 };
        case 'foreign-from':
          // someone else's address, the original key and signature
          return { ...good, from: other.address };
        case 'foreign-pubkey': {
          // `other` signs a tx that claims to come from the original sender
          const forged = { ...unsigned, pubkey: other.publicKey };
          return { ...forged, sig: signMessage(other.secretKey, signingBytes(forged)) };
        }
        case 'stolen-sig':
          // the sender's own pubkey, but a signature by `other` over the same bytes
          return { ...good, sig: signMessage(other.secretKey, signingBytes(unsigned)) };
        case 'malformed':
          return { ...good, sig: undefined };
      }
    }
  }
}

/** The proposal id `ref` points to now; moves block time to its end of vote or timelock if asked. */
export function proposalRef(c: Ctx, ref: Ref, jump: Jump): number {
  const n = c.ledger.dao.nextProposal;
  const id =
    ref === -1
      ? Math.max(0, n - 1)
      : ref === -3
        ? Math.max(0, n - 2)
        : ref === -2
          ? n
          : n === 0
            ? 0
            : ref % n;
  const p = c.ledger.proposal(id);
  if (p && jump !== 'none') c.time = Math.max(c.time, p[jump]);
  return id;
}

export function actionPayload(ledger: Ledger, a: ActionSpec): Record<string, unknown> {
  switch (a.t) {
    case 'params':
      return { kind: 'params', changes: PARAM_CHANGES[a.change]! };
    case 'spend':
      return {
        kind: 'treasury',
        to: ACTORS[a.to]!.address,
        amount:
          a.amount === 'too much'
            ? ledger.treasury().balance + 1n
            : a.amount === 'all'
              ? ledger.treasury().balance
              : a.amount,
      };
    case 'council':
      return {
        kind: 'council',
        constituency: a.seat,
        member: a.member === null ? null : ACTORS[a.member]!.address,
      };
  }
}

/**
 * Most runs start by bringing host and host2 online (register, stake, two checker votes) and
 * funding alice's and bob's escrow, so that leases open often; the rest start from genesis.
 */
export const bootstrapArb: fc.Arbitrary<Step[]> = fc.oneof(
  { weight: 1, arbitrary: fc.constant<Step[]>([]) },
  {
    weight: 5,
    arbitrary: fc
      .tuple(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 3 }),
        priceArb.filter((p) => p > 0n),
        priceArb.filter((p) => p > 0n),
        fc.option(fc.record({ seat: seatArb, member: actor }), { freq: 2 }),
      )
      .map(([g1, g2, p1, p2, council]) => {
        const steps: Step[] = [];
        const add = (op: Op) => steps.push({ op, nonceSkew: 0, dt: 1000 });
        add({ kind: 'register', who: 0, gpus: g1, price: p1, reserved: true });
        add({ kind: 'register', who: 1, gpus: g2, price: p2 });
        add({ kind: 'stake', who: 0, amount: ath(2) * BigInt(Math.max(1, g1)) });
        add({ kind: 'stake', who: 1, amount: g2 === 0 ? ath(1) : ath(2) * BigInt(g2) });
        add({ kind: 'deposit', who: 0, amount: ath(200) });
        add({ kind: 'deposit', who: 1, amount: ath(200) });
        // the hosts lock ATH (host2 for the shortest time), so revenue is shared and claimed
        add({ kind: 'lock', who: 3, amount: ath(50), until: 30 * DAY_MS });
        add({ kind: 'lock', who: 4, amount: ath(50), until: DAY_MS });
        for (const checker of [0, 1])
          for (const container of [0, 1])
            add({ kind: 'report', checker, container, check: 'liveness', ok: true, skew: 0 });
        // often, the hosts seat a council member, so operational changes need ratifying
        if (council)
          steps.push(
            ...expand({
              op: {
                kind: 'dao',
                proposer: 3,
                second: 4,
                amount: ath(1),
                actions: [{ t: 'council', ...council }],
                choice: 'for',
                twin: false,
              },
              nonceSkew: 0,
              dt: 1000,
            }),
          );
        return steps;
      }),
  },
);
export const stepsArb = fc
  .tuple(bootstrapArb, fc.array(stepArb, { minLength: 1, maxLength: 60, size: 'medium' }))
  .map(([boot, rest]) => [...boot, ...rest.flatMap(expand)]);
