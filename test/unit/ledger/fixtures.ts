import { expect } from 'vitest';
import { AethirError, ath, keyPairFromSeed, type KeyPair } from '../../../src/core/index.js';
import {
  Ledger,
  parseGenesis,
  signTx,
  type Genesis,
  type SignedTx,
  type TxResult,
  type TxType,
} from '../../../src/ledger/index.js';

/** Shared fixtures for the ledger, store and chain tests: a small deterministic network. */
export const CHAIN_ID = 'test-chain';
export const GENESIS_TIME = 1_700_000_000_000;
export const HOUR_MS = 3_600_000;

export const alice = keyPairFromSeed('test:alice');
export const bob = keyPairFromSeed('test:bob');
export const carol = keyPairFromSeed('test:carol');
export const host = keyPairFromSeed('test:host');
export const host2 = keyPairFromSeed('test:host2');
export const checkers = [0, 1, 2].map((i) => keyPairFromSeed(`test:checker-${i}`)) as [
  KeyPair,
  KeyPair,
  KeyPair,
];
/** Holds no allocation at all. */
export const stranger = keyPairFromSeed('test:stranger');

export const FUNDED: Array<[KeyPair, bigint]> = [
  [alice, ath(100_000)],
  [bob, ath(50_000)],
  [carol, ath(10)],
  [host, ath(20_000)],
  [host2, ath(20_000)],
];

export function makeGenesis(params?: Record<string, unknown>): Genesis {
  return parseGenesis({
    chainId: CHAIN_ID,
    time: GENESIS_TIME,
    allocations: FUNDED.map(([k, amount], i) => ({
      address: k.address,
      amount: amount.toString(),
      label: `k${i}`,
    })),
    checkers: checkers.map((c) => c.address),
    ...(params ? { params } : {}),
  });
}

export function gpuSpec(gpus: number) {
  return {
    gpus: Array.from({ length: gpus }, (_, i) => ({
      model: 'NVIDIA H100 80GB HBM3',
      memoryMiB: 81559,
      uuid: `GPU-${i}`,
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

export function registerPayload(gpus: number, pricePerHour: bigint, name = 'rig') {
  return { name, spec: gpuSpec(gpus), pricePerHour, location: FRANKFURT };
}

export function leasePayload(
  container: string,
  gpus: number,
  maxDurationSec: number,
  maxPricePerHour: bigint,
) {
  return { container, gpus, maxDurationSec, maxPricePerHour, workload: { command: ['python', 'train.py'] } };
}

/**
 * A ledger plus a block clock and per-key nonce bookkeeping, so tests read like a script:
 * `t.tx(alice, 'transfer', {...})` signs with the next nonce and applies in a new block.
 */
export class TestNet {
  readonly ledger: Ledger;
  height = 0;
  time: number;
  /** every accepted tx with its block context, in order */
  readonly accepted: Array<{ tx: SignedTx; height: number; time: number }> = [];

  constructor(readonly genesis: Genesis = makeGenesis()) {
    this.ledger = Ledger.fromGenesis(genesis);
    this.time = genesis.time;
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

  /** Applies a raw (possibly malformed) transaction in a new block at the current time. */
  applyRaw(raw: unknown): TxResult {
    const height = this.height + 1;
    const { tx, result } = this.ledger.apply(raw, { height, time: this.time });
    this.height = height;
    this.accepted.push({ tx: tx.tx, height, time: this.time });
    return result;
  }

  tx(k: KeyPair, type: TxType, payload: Record<string, unknown>): TxResult {
    return this.applyRaw(this.sign(k, type, payload));
  }

  /** Registers, stakes enough for its GPUs and gets `k` voted online by 2 of 3 checkers. */
  onlineContainer(k: KeyPair, gpus: number, pricePerHour: bigint): void {
    this.tx(k, 'container.register', registerPayload(gpus, pricePerHour));
    const p = this.ledger.params;
    this.tx(k, 'container.stake', { amount: p.stakeBase + p.stakePerGpu * BigInt(gpus) });
    this.report(k.address, true, 0);
    this.report(k.address, true, 1);
    expect(this.ledger.container(k.address)!.status).toBe('online');
  }

  report(container: string, online: boolean, checker: 0 | 1 | 2): TxResult {
    return this.tx(checkers[checker], 'checker.report', { container, online, observedAt: this.time });
  }

  /** Expects `raw` to be rejected with `code` and the state root (and height) to stay put. */
  expectReject(raw: unknown, code: string): AethirError {
    const root = this.ledger.root();
    const held = this.ledger.totalHeld();
    let err: unknown;
    try {
      this.ledger.apply(raw, { height: this.height + 1, time: this.time });
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
