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
import { nowNs, opsPerSec, row, sink, timeLoop, type BenchOptions, type LoopResult, type Row } from './harness.js';

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
    allocations: senders.map((k, i) => ({ address: k.address, amount: ath(1_000_000).toString(), label: `s${i}` })),
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

/** Applies pool[0..WARMUP_TXS) untimed, then times pool[WARMUP_TXS..] until the time box ends. */
function timePool(pool: SignedTx[], durationMs: number, submit: (tx: SignedTx, i: number) => void): LoopResult {
  for (let i = 0; i < WARMUP_TXS; i++) submit(pool[i]!, i);
  return timeLoop((i) => submit(pool[i]!, i), {
    warmupMs: 0,
    durationMs,
    minIters: 20,
    maxIters: pool.length - WARMUP_TXS,
    startIndex: WARMUP_TXS,
  });
}

function openChain(store: SqliteChainStore, genesis: Genesis): { chain: Chain; clock: ManualClock } {
  const clock = new ManualClock(T0);
  return { chain: Chain.open(store, clock, () => genesis), clock };
}

export function runLedger(opts: BenchOptions): Row[] {
  const poolSize = opts.quick ? 600 : 5_000;
  const box = opts.quick ? 250 : 2_000;
  opts.log(`ledger: signing ${poolSize} transfers (setup)`);
  const { genesis, pool } = setup(poolSize);

  opts.log('ledger: verifySignature alone');
  const bytes = pool.slice(0, 256).map((tx) => signingBytes(tx));
  const verifyOnly = timeLoop(
    (i) => {
      const k = i % bytes.length;
      sink(verifySignature(pool[k]!.pubkey, bytes[k]!, pool[k]!.sig));
    },
    { warmupMs: opts.quick ? 50 : 100, durationMs: opts.quick ? 200 : 800, minIters: 50 },
  );

  opts.log('ledger: Ledger.apply');
  // A throwaway ledger takes the warmup; the timed ledger starts from genesis too.
  const warm = Ledger.fromGenesis(genesis);
  for (let i = 0; i < Math.min(pool.length, 500); i++) warm.apply(pool[i], { height: i + 1, time: T0 + i });
  const ledger = Ledger.fromGenesis(genesis);
  const apply = timePool(pool, box, (tx, i) => sink(ledger.apply(tx, { height: i + 1, time: T0 + i * 1000 })));

  opts.log('ledger: Chain.submit, SQLite :memory:');
  const mem = openChain(new SqliteChainStore(':memory:'), genesis);
  const submitMem = timePool(pool, box, (tx) => {
    mem.clock.advance(1000);
    sink(mem.chain.submit(tx));
  });
  mem.chain.close();

  opts.log('ledger: Chain.submit, SQLite file, synchronous=FULL');
  const dir = mkdtempSync(join(tmpdir(), 'aethir-bench-'));
  let submitDisk: LoopResult;
  let replay: { blocks: number; ns: number };
  try {
    const disk = openChain(new SqliteChainStore(join(dir, 'ledger.sqlite')), genesis);
    submitDisk = timePool(pool, opts.quick ? 500 : 3_000, (tx) => {
      disk.clock.advance(1000);
      sink(disk.chain.submit(tx));
    });
    opts.log(`ledger: verifyChain over ${disk.chain.head.height + 1} blocks`);
    const t0 = nowNs();
    const report = verifyChain(genesis, disk.chain.blocks());
    replay = { blocks: report.blocks, ns: Number(nowNs() - t0) };
    if (!report.ok || report.root !== disk.chain.ledger.root())
      throw new Error(`ledger bench: the chain does not verify: ${report.error?.message ?? 'root differs'}`);
    disk.chain.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const applyTps = opsPerSec(apply);
  const base = 'Ledger.apply in memory';
  return [
    row({
      suite: 'ledger',
      name: 'Ledger.apply, signed transfer, in memory',
      value: applyTps,
      unit: 'tx/s',
      baseline: opsPerSec(verifyOnly),
      baselineName: 'verifySignature alone',
      better: 'higher',
    }),
    row({
      suite: 'ledger',
      name: 'Chain.submit, SQLite :memory:, 1 block/tx',
      value: opsPerSec(submitMem),
      unit: 'tx/s',
      baseline: applyTps,
      baselineName: base,
      better: 'higher',
    }),
    row({
      suite: 'ledger',
      name: 'Chain.submit, SQLite file sync=FULL, 1 block/tx',
      value: opsPerSec(submitDisk),
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
