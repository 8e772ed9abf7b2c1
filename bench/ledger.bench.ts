import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ath, keyPairFromSeed, ManualClock, verifySignature } from '../src/core/index.js';
import {
  Ledger,
  parseGenesis,
  signingBytes,
  signTx,
  verifyChain,
  type Genesis,
  type SignedTx,
} from '../src/ledger/index.js';
import { Chain } from '../src/node/chain.js';
import { SqliteChainStore } from '../src/store/index.js';
import { syntheticAddress } from './fixtures.js';
import {
  interleaved,
  nowNs,
  opsPerSec,
  row,
  sink,
  type BenchOptions,
  type LoopResult,
  type Row,
} from './harness.js';

/**
 * Signed transfers through the ledger: the in-memory state machine alone (signature
 * verification included), then the sequencer (`Chain.submit`: apply, state root, block hash
 * and a durable SQLite write per transaction), then a full replay of the log (`verifyChain`).
 */

const T0 = 1_700_000_000_000;
const CHAIN_ID = 'aethir-bench';
const SENDERS = 64;
const RECIPIENTS = 256;
/** transactions applied before any timing, to warm the JIT and the key caches */
const WARMUP_TXS = 50;

function setup(poolSize: number): { genesis: Genesis; pool: SignedTx[] } {
  const senders = Array.from({ length: SENDERS }, (_, i) => keyPairFromSeed(`bench-sender-${i}`));
  const recipients = Array.from({ length: RECIPIENTS }, (_, i) => syntheticAddress('recipient', i));
  const genesis = parseGenesis({
    chainId: CHAIN_ID,
    time: T0,
    allocations: senders.map((k, i) => ({
      address: k.address,
      amount: ath(1_000_000).toString(),
      label: `s${i}`,
    })),
    checkers: [syntheticAddress('checker', 0)],
  });
  // Round-robin over the senders, so each sender's nonces come in order.
  const pool = Array.from({ length: poolSize }, (_, j) =>
    signTx(senders[j % SENDERS]!, CHAIN_ID, 'transfer', Math.floor(j / SENDERS), {
      to: recipients[(j * 31) % RECIPIENTS]!,
      amount: ath(1) + BigInt(j),
    }),
  );
  return { genesis, pool };
}

function openChain(store: SqliteChainStore, genesis: Genesis): { chain: Chain; clock: ManualClock } {
  const clock = new ManualClock(T0);
  return { chain: Chain.open(store, clock, () => genesis), clock };
}

export function runLedger(opts: BenchOptions): Row[] {
  const poolSize = opts.quick ? 600 : 5_000;
  opts.log(`ledger: signing ${poolSize} transfers (setup)`);
  const { genesis, pool } = setup(poolSize);
  const bytes = pool.slice(0, 256).map((tx) => signingBytes(tx));

  // Every variant holds its own state from genesis and takes the same transactions in order;
  // each applies pool[0..WARMUP_TXS) untimed first (JIT, key caches, SQLite page cache).
  const ledger = Ledger.fromGenesis(genesis);
  const mem = openChain(new SqliteChainStore(':memory:'), genesis);
  const dir = mkdtempSync(join(tmpdir(), 'aethir-bench-'));
  let res: Record<'verify' | 'apply' | 'submitMem' | 'submitDisk', LoopResult>;
  let replay: { blocks: number; ns: number };
  try {
    const disk = openChain(new SqliteChainStore(join(dir, 'ledger.sqlite')), genesis);
    const variants = {
      verify: (i: number) => {
        const k = i % bytes.length;
        sink(verifySignature(pool[k]!.pubkey, bytes[k]!, pool[k]!.sig));
      },
      apply: (i: number) =>
        sink(ledger.apply(pool[i], { height: i + 1, time: T0 + (i + 1) * 1000, prevHash: '' })),
      submitMem: (i: number) => {
        mem.clock.advance(1000);
        sink(mem.chain.submit(pool[i]));
      },
      submitDisk: (i: number) => {
        disk.clock.advance(1000);
        sink(disk.chain.submit(pool[i]));
      },
    };
    opts.log('ledger: warmup');
    for (const fn of Object.values(variants)) for (let i = 0; i < WARMUP_TXS; i++) fn(i);
    opts.log('ledger: verifySignature, Ledger.apply, Chain.submit (:memory: and file, synchronous=FULL)');
    res = interleaved(opts.quick ? 1 : 3, variants, {
      warmupMs: 0,
      durationMs: opts.quick ? 250 : 2_000,
      minIters: 20,
      maxIters: pool.length - WARMUP_TXS,
      startIndex: WARMUP_TXS,
    });

    opts.log(`ledger: verifyChain over ${disk.chain.head.height + 1} blocks`);
    const t0 = nowNs();
    const report = verifyChain(genesis, disk.chain.blocks());
    replay = { blocks: report.blocks, ns: Number(nowNs() - t0) };
    if (!report.ok || report.root !== disk.chain.ledger.root())
      throw new Error(`ledger bench: the chain does not verify: ${report.error?.message ?? 'root differs'}`);
    disk.chain.close();
  } finally {
    mem.chain.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const applyTps = opsPerSec(res.apply);
  const base = 'Ledger.apply in memory';
  return [
    row({
      suite: 'ledger',
      name: 'Ledger.apply, signed transfer, in memory',
      value: applyTps,
      unit: 'tx/s',
      baseline: opsPerSec(res.verify),
      baselineName: 'verifySignature alone',
      better: 'higher',
    }),
    row({
      suite: 'ledger',
      name: 'Chain.submit, SQLite :memory:, 1 block/tx',
      value: opsPerSec(res.submitMem),
      unit: 'tx/s',
      baseline: applyTps,
      baselineName: base,
      better: 'higher',
    }),
    row({
      suite: 'ledger',
      name: 'Chain.submit, SQLite file sync=FULL, 1 block/tx',
      value: opsPerSec(res.submitDisk),
      unit: 'tx/s',
      baseline: applyTps,
      baselineName: base,
      better: 'higher',
    }),
    row({
      suite: 'ledger',
      name: `verifyChain replay from SQLite (${replay.blocks} blocks)`,
      value: (replay.blocks * 1e9) / replay.ns,
      unit: 'blocks/s',
      baseline: applyTps,
      baselineName: `${base} (1 tx/block)`,
      better: 'higher',
    }),
  ];
}
