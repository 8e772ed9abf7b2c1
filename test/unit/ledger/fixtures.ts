import { expect } from 'vitest';
import { AethirError, ath, keyPairFromSeed, type KeyPair } from '../../../src/core/index.js';
import {
  Ledger,
  K,
  blockHash,
  genesisBlock,
  parseGenesis,
  signReceipt,
  signTx,
  type BlockContext,
  type CheckKind,
  type Container,
  type Genesis,
  type SignedReceipt,
  type SignedTx,
  type LedgerEvent,
  type TxResult,
  type TxType,
  type VestingKind,
} from '../../../src/ledger/index.js';

/** Shared fixtures for the ledger, store and chain tests: a small deterministic network. */
export const CHAIN_ID = 'test-chain';
export const GENESIS_TIME = 1_700_000_000_000;
export const HOUR_MS = 3_600_000;
export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;
/** the default epoch (params.epochMs) */
export const EPOCH_MS = 15 * MINUTE_MS;

export const alice = keyPairFromSeed('test:alice');
export const bob = keyPairFromSeed('test:bob');
export const carol = keyPairFromSeed('test:carol');
export const host = keyPairFromSeed('test:host');
export const host2 = keyPairFromSeed('test:host2');
export const host3 = keyPairFromSeed('test:host3');
export const checkers = [0, 1, 2].map((i) => keyPairFromSeed(`test:checker-${i}`)) as [
  KeyPair,
  KeyPair,
  KeyPair,
];
/** The genesis governance authority: the only key that may send params.update. */
export const governor = keyPairFromSeed('test:governor');
/** Holds no allocation at all. */
export const stranger = keyPairFromSeed('test:stranger');

/** Every key of the fixtures, by address: a lease's user signs its receipts with it. */
const KEYS = new Map(
  [alice, bob, carol, host, host2, host3, ...checkers, governor, stranger].map((k) => [k.address, k]),
);

export const FUNDED: Array<[KeyPair, bigint]> = [
  [alice, ath(100_000)],
  [bob, ath(50_000)],
  [carol, ath(10)],
  [host, ath(20_000)],
  [host2, ath(20_000)],
  [host3, ath(20_000)],
];

/** Genesis funds of the Proof-of-Capacity/Delivery reward pool and of the checker pool. */
export const REWARD_POOL = ath(10_000_000);
export const CHECKER_POOL = ath(1_000_000);

export const H100 = 'NVIDIA H100 80GB HBM3';
export const RTX4090 = 'NVIDIA GeForce RTX 4090';
export const A100 = 'NVIDIA A100-SXM4-80GB';

export interface GenesisOptions {
  pools?: { rewards: bigint; checkers: bigint } | null;
  /** null: no governance authority */
  governance?: string | null;
  /** the genesis checkers (default: `checkers`) */
  checkers?: readonly KeyPair[];
}

export function makeGenesis(params?: Record<string, unknown>, opts: GenesisOptions = {}): Genesis {
  const pools = opts.pools === undefined ? { rewards: REWARD_POOL, checkers: CHECKER_POOL } : opts.pools;
  const governance = opts.governance === undefined ? governor.address : opts.governance;
  return parseGenesis({
    chainId: CHAIN_ID,
    time: GENESIS_TIME,
    allocations: FUNDED.map(([k, amount], i) => ({
      address: k.address,
      amount: amount.toString(),
      label: `k${i}`,
    })),
    ...(pools ? { pools: { rewards: pools.rewards.toString(), checkers: pools.checkers.toString() } } : {}),
    checkers: (opts.checkers ?? checkers).map((c) => c.address),
    ...(governance ? { governance } : {}),
    ...(params ? { params } : {}),
  });
}

/**
 * A container spec with `gpus` GPUs of `model` (0 GPUs: a CPU host). The GPUs have UUIDs
 * `${uuidPrefix}-0`, ... only when `uuidPrefix` is given (a UUID belongs to one container).
 */
export function gpuSpec(gpus: number, model = H100, uuidPrefix?: string) {
  return {
    gpus: Array.from({ length: gpus }, (_, i) => ({
      model,
      memoryMiB: 81559,
      ...(uuidPrefix === undefined ? {} : { uuid: `${uuidPrefix}-${i}` }),
    })),
    cpu: { model: 'AMD EPYC 9654', cores: 32 },
    memoryMiB: 256 * 1024,
    os: 'Linux',
    source: 'declared' as const,
  };
}

export const FRANKFURT = {
  city: 'Frankfurt',
  country: 'DE',
  region: 'eu-central',
  lat: 50.1109,
  lon: 8.6821,
};

export function registerPayload(gpus: number, pricePerHour: bigint, name = 'rig', model = H100) {
  return { name, spec: gpuSpec(gpus, model), pricePerHour, location: FRANKFURT };
}

/** A lease request; `maxDurationSec` null: an open-ended lease. */
export function leasePayload(
  container: string,
  gpus: number,
  maxDurationSec: number | null,
  maxPricePerHour: bigint,
) {
  return {
    container,
    gpus,
    ...(maxDurationSec === null ? {} : { maxDurationSec }),
    maxPricePerHour,
    workload: { command: ['python', 'train.py'] },
  };
}

/**
 * A ledger plus a block clock and per-key nonce bookkeeping, so tests read like a script:
 * `t.tx(alice, 'transfer', {...})` signs with the next nonce and applies it in a new block at
 * `t.time` (the block time handed to `ledger.apply`; no clock object involved).
 */
export class TestNet {
  readonly ledger: Ledger;
  height = 0;
  time: number;
  /** the hash of the last block (each accepted tx is sealed in a block of its own) */
  headHash: string;
  /** the events of the last accepted tx */
  lastEvents: LedgerEvent[] = [];
  /** every accepted tx with its block context, in order */
  readonly accepted: Array<{ tx: SignedTx; height: number; time: number; prevHash: string }> = [];

  constructor(readonly genesis: Genesis = makeGenesis()) {
    this.ledger = Ledger.fromGenesis(genesis);
    this.time = genesis.time;
    this.headHash = genesisBlock(genesis, this.ledger).hash;
  }

  /** The context of the next block. */
  ctx(): BlockContext {
    return { height: this.height + 1, time: this.time, prevHash: this.headHash };
  }

  nonce(k: KeyPair): number {
    return this.ledger.account(k.address).nonce;
  }

  sign(k: KeyPair, type: TxType, payload: Record<string, unknown>, nonce = this.nonce(k)): SignedTx {
    return signTx(k, CHAIN_ID, type, nonce, payload);
  }

  advance(ms: number): this {
    this.time += ms;
    return this;
  }

  /** Moves the block clock to an absolute time (never backwards). */
  at(time: number): this {
    expect(time).toBeGreaterThanOrEqual(this.time);
    this.time = time;
    return this;
  }

  /** Applies a raw (possibly malformed) transaction in a new block at the current time. */
  applyRaw(raw: unknown): TxResult {
    const ctx = this.ctx();
    const { tx, result, events } = this.ledger.apply(raw, ctx);
    this.lastEvents = events;
    this.height = ctx.height;
    this.accepted.push({ tx: tx.tx, ...ctx });
    const block = { ...ctx, txs: [tx.tx], root: this.ledger.root() };
    this.headHash = blockHash(block, [tx.id]);
    return result;
  }

  tx(k: KeyPair, type: TxType, payload: Record<string, unknown>): TxResult {
    return this.applyRaw(this.sign(k, type, payload));
  }

  /**
   * A usage receipt of `lease`, signed by its user: `servedMs` (default: all the block time
   * since it opened), the next seq after the last one the ledger accepted. `opts` forge it.
   */
  receipt(
    lease: string,
    servedMs?: number,
    opts: { seq?: number; key?: KeyPair; forLease?: string; chainId?: string } = {},
  ): SignedReceipt {
    const l = this.ledger.lease(lease)!;
    return signReceipt(opts.key ?? KEYS.get(l.user)!, opts.chainId ?? CHAIN_ID, {
      lease: opts.forLease ?? lease,
      servedMs: servedMs ?? this.time - l.openedAt,
      seq: opts.seq ?? l.lastReceiptSeq + 1,
      at: this.time,
    });
  }

  /** The container `k` settles `lease` with its user's receipt for `servedMs` (default: all the time so far). */
  settle(k: KeyPair, lease: unknown, servedMs?: number): TxResult {
    const id = String(lease);
    return this.tx(k, 'lease.settle', { lease: id, receipt: this.receipt(id, servedMs) });
  }

  /** The container `k` closes `lease` with its user's receipt for `servedMs` (default: all the time so far). */
  hostClose(k: KeyPair, lease: unknown, extra: Record<string, unknown> = {}, servedMs?: number): TxResult {
    const id = String(lease);
    return this.tx(k, 'lease.close', { lease: id, ...extra, receipt: this.receipt(id, servedMs) });
  }

  /** Moves `amount` of `k`'s balance into its escrow, which leases lock from. */
  deposit(k: KeyPair, amount: bigint): TxResult {
    return this.tx(k, 'escrow.deposit', { amount });
  }

  /**
   * Registers `k` with `gpus` GPUs of `model`, stakes exactly the current requirement and gets
   * it voted online by checkers 0 and 1 (which counts one correct report for each of them).
   */
  onlineContainer(k: KeyPair, gpus: number, pricePerHour: bigint = ath(1), model = H100): Container {
    this.tx(k, 'container.register', registerPayload(gpus, pricePerHour, 'rig', model));
    const required = this.ledger.requiredStakeFor(Array.from({ length: gpus }, () => model));
    this.tx(k, 'container.stake', { amount: required });
    this.report(k.address, true, 0);
    this.report(k.address, true, 1);
    const c = this.ledger.container(k.address)!;
    expect(c.status).toBe('online');
    expect(this.ledger.isServing(c)).toBe(true);
    return c;
  }

  /** A checker report by `k` (any key), with optional words: reason, score, rttMs, proveMs. */
  reportBy(
    k: KeyPair,
    container: string,
    ok: boolean,
    check: CheckKind = 'liveness',
    extra: {
      observedAt?: number;
      reason?: string;
      score?: number;
      rttMs?: number;
      proveMs?: number;
      restsOn?: string;
    } = {},
  ): TxResult {
    return this.tx(k, 'checker.report', { container, check, ok, observedAt: this.time, ...extra });
  }

  report(
    container: string,
    ok: boolean,
    checker: 0 | 1 | 2,
    check: CheckKind = 'liveness',
    observedAt = this.time,
  ): TxResult {
    return this.tx(checkers[checker], 'checker.report', { container, check, ok, observedAt });
  }

  /** Closes epochs one by one (each in its own block at its end time) up to and including `last`. */
  closeEpochsThrough(last: number, by: KeyPair = stranger): TxResult[] {
    const out: TxResult[] = [];
    for (let e = this.ledger.economics.lastEpoch + 1; e <= last; e++) {
      const end = this.ledger.nextEpoch(this.time).end;
      if (end > this.time) this.time = end;
      out.push(this.tx(by, 'epoch.close', { epoch: e }));
    }
    return out;
  }

  /** The amount of the vesting entry of `address` of this kind and unlock time (0 if none). */
  vested(address: string, kind: VestingKind, unlockAt: number): bigint {
    return this.ledger.state.get<{ amount: bigint }>(K.vesting(address, kind, unlockAt))?.amount ?? 0n;
  }

  /** Total unvested amount of `address` (all kinds). */
  vestedTotal(address: string): bigint {
    return this.ledger.vesting(address).reduce((s, e) => s + e.amount, 0n);
  }

  /** Expects `raw` to be rejected with `code` and the state root (and height) to stay put. */
  expectReject(raw: unknown, code: string): AethirError {
    const root = this.ledger.root();
    const held = this.ledger.totalHeld();
    let err: unknown;
    try {
      this.ledger.apply(raw, this.ctx());
    } catch (e) {
      err = e;
    }
    expect(err, `expected ${code}`).toBeInstanceOf(AethirError);
    expect((err as AethirError).code, (err as Error).message).toBe(code);
    expect(this.ledger.root()).toBe(root);
    expect(this.ledger.totalHeld()).toBe(held);
    return err as AethirError;
  }

  expectRejectTx(k: KeyPair, type: TxType, payload: Record<string, unknown>, code: string): AethirError {
    return this.expectReject(this.sign(k, type, payload), code);
  }
}

/** Signs with the next nonce of `k` in `ledger` (for code that drives a Chain, not a TestNet). */
export function signNext(
  ledger: Ledger,
  k: KeyPair,
  type: TxType,
  payload: Record<string, unknown>,
): SignedTx {
  return signTx(k, CHAIN_ID, type, ledger.account(k.address).nonce, payload);
}

/** The end of the block-time day containing `t` (days start at genesis time). */
export function dayEnd(t: number): number {
  return GENESIS_TIME + (Math.floor((t - GENESIS_TIME) / DAY_MS) + 1) * DAY_MS;
}

export function bal(t: TestNet, address: string): bigint {
  return t.ledger.account(address).balance;
}

export function escrow(t: TestNet, address: string): bigint {
  return t.ledger.account(address).escrow;
}

/** Supply is conserved: everything held anywhere adds up to the genesis supply. */
export function conserved(t: TestNet): void {
  expect(t.ledger.totalHeld()).toBe(t.ledger.chain.supply);
}
