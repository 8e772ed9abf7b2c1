import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ath, keyPairFromSeed, ManualClock, verifySignature, type KeyPair } from '../src/core/index.js';
import {
  decodeTx,
  K,
  Ledger,
  LedgerState,
  parseGenesis,
  signingBytes,
  signTx,
  txId,
  verifyChain,
  type Account,
  type DecodedTx,
  type Genesis,
  type SignedTx,
} from '../src/ledger/index.js';
import { Chain } from '../src/node/chain.js';
import { SqliteChainStore } from '../src/store/index.js';
import { syntheticAddress } from './fixtures.js';
import { interleaved, nowNs, opsPerSec, row, sink, type BenchOptions, type Row } from './harness.js';

/**
 * The ledger at scale (issue 3, "Speed"), every figure against a baseline measured in the
 * same run:
 *
 * - signed transfers verified, applied and durably committed per second on one core, through
 *   the group commit (`Chain.submitMany`, 256 per block, SQLite file with synchronous=FULL),
 *   against the raw ed25519 verification rate (goal: at least half of it), and against the
 *   same chain committing one block (one fsync) per transaction;
 * - the apply-only rate, signatures verified beforehand (`Ledger.applyDecoded`);
 * - the memory of 1 million accounts in `LedgerState` with its root computed, against a plain
 *   Map of the same accounts (goal: under 1 GB);
 * - the time to replay and verify 1 million transactions (`verifyChain`, from SQLite), against
 *   the time the signature checks alone take at the measured rate. Measured on 100,000 and
 *   extrapolated (and labelled so) unless `--million`; the quick run measures 10,000.
 */

const T0 = 1_700_000_000_000;
const CHAIN_ID = 'aethir-bench';
const BATCH = 256;
/** one transfer per sender per block: each block holds every sender once, nonces in order */
const SENDERS = BATCH;
/** recipients spread over the key space, as real accounts are (each block dirties ~2 keys/tx) */
const RECIPIENTS = 4096;
const MB = 1024 * 1024;

interface Fixture {
  senders: KeyPair[];
  recipients: string[];
  genesis: Genesis;
}

function fixture(): Fixture {
  const senders = Array.from({ length: SENDERS }, (_, i) => keyPairFromSeed(`bench-scale-sender-${i}`));
  const recipients = Array.from({ length: RECIPIENTS }, (_, i) => syntheticAddress('scale-recipient', i));
  const genesis = parseGenesis({
    chainId: CHAIN_ID,
    time: T0,
    allocations: senders.map((k, i) => ({
      address: k.address,
      amount: ath(10_000_000).toString(),
      label: `s${i}`,
    })),
    checkers: [syntheticAddress('checker', 0)],
  });
  return { senders, recipients, genesis };
}

/** The j-th transfer of the stream: sender j % 256 with nonce j / 256, so any 256-aligned batch applies. */
function transfer(f: Fixture, j: number): SignedTx {
  return signTx(f.senders[j % SENDERS]!, CHAIN_ID, 'transfer', Math.floor(j / SENDERS), {
    to: f.recipients[(j * 7919) % RECIPIENTS]!,
    amount: ath(1) + BigInt(j),
  });
}

/**
 * A transfer we signed ourselves, decoded without checking the signature: only to build the
 * chain the replay benchmark verifies (verifyChain checks every signature again).
 */
function trustedDecode(tx: SignedTx): DecodedTx {
  const p = tx.payload as { to: string; amount: string };
  return { id: txId(tx), tx, type: 'transfer', payload: { to: p.to, amount: BigInt(p.amount) } };
}

function gcFunction(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  // `npm run bench` runs without --expose-gc: turn it on now and fetch gc from a fresh context.
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

export function runLedgerScale(opts: BenchOptions): Row[] {
  const rows: Row[] = [];
  const f = fixture();
  const dir = mkdtempSync(join(tmpdir(), 'aethir-bench-scale-'));
  try {
    rows.push(...throughput(opts, f, dir));
    rows.push(replay(opts, f, dir, rows));
    rows.push(memory(opts));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

function throughput(opts: BenchOptions, f: Fixture, dir: string): Row[] {
  const batches = opts.quick ? 14 : 48;
  opts.log(`ledger-scale: signing ${(batches * BATCH).toLocaleString('en-US')} transfers (setup)`);
  const pool = Array.from({ length: batches * BATCH }, (_, j) => transfer(f, j));
  const batchOf = (i: number) => pool.slice(i * BATCH, (i + 1) * BATCH);
  const bytes = pool.slice(0, BATCH * 4).map((tx) => signingBytes(tx));
  opts.log('ledger-scale: decoding the pool for the apply-only variant (setup)');
  const decoded = pool.map((tx) => decodeTx(tx, CHAIN_ID));

  const open = (name: string) => {
    const clock = new ManualClock(T0);
    return { clock, chain: Chain.open(new SqliteChainStore(join(dir, name)), clock, () => f.genesis) };
  };
  const group = open('group.sqlite');
  const single = open('single.sqlite');
  const ledger = Ledger.fromGenesis(f.genesis);
  const check = (outcomes: ReturnType<Chain['submitMany']>) => {
    const bad = outcomes.find((o) => !o.ok);
    if (bad && !bad.ok) throw new Error(`ledger-scale bench: a transfer was rejected: ${bad.error.message}`);
  };
  const WARM = 2;
  // One iteration: 256 signatures, a 256-tx block, 256 applies + one root, or ONE single-tx block.
  const variants = {
    verify: (i: number) => {
      const base = (i % 4) * BATCH;
      let ok = true;
      for (let k = base; k < base + BATCH; k++)
        ok = verifySignature(pool[k]!.pubkey, bytes[k]!, pool[k]!.sig) && ok;
      if (!ok) throw new Error('ledger-scale bench: a signature does not verify');
    },
    group: (i: number) => {
      group.clock.advance(1000);
      check(group.chain.submitMany(batchOf(i)));
    },
    apply: (i: number) => {
      const ctx = { height: i + 1, time: T0 + (i + 1) * 1000, prevHash: '' };
      for (let k = i * BATCH; k < (i + 1) * BATCH; k++) sink(ledger.applyDecoded(decoded[k]!, ctx));
      sink(ledger.root());
    },
    // its own index: one transaction per iteration, continuing after its warm-up batch
    single: (i: number) => {
      single.clock.advance(1000);
      sink(single.chain.submit(pool[BATCH + i - WARM]));
    },
  };
  opts.log('ledger-scale: warmup');
  for (let i = 0; i < WARM; i++) {
    variants.verify(i);
    variants.group(i);
    variants.apply(i);
  }
  for (let j = 0; j < BATCH; j++) {
    single.clock.advance(1000);
    single.chain.submit(pool[j]);
  }
  opts.log('ledger-scale: verify vs. submitMany vs. applyDecoded vs. submit (interleaved)');
  const res = interleaved(opts.quick ? 2 : 4, variants, {
    warmupMs: 0,
    durationMs: opts.quick ? 700 : 3_000,
    minIters: 2,
    maxIters: batches - WARM,
    startIndex: WARM,
  });
  const verifyTps = opsPerSec(res.verify) * BATCH;
  const groupTps = opsPerSec(res.group) * BATCH;
  const applyTps = opsPerSec(res.apply) * BATCH;
  const singleTps = opsPerSec(res.single);
  group.chain.close();
  single.chain.close();
  opts.log(
    `ledger-scale: ${res.group.iters} blocks of ${BATCH} committed; ${res.single.iters} single-tx blocks`,
  );
  const base = 'ed25519 verify alone (same txs)';
  return [
    row({
      suite: 'ledger-scale',
      name: `Chain.submitMany ${BATCH}/block, file sync=FULL, 1 core (goal >= 0.5x)`,
      value: groupTps,
      unit: 'tx/s',
      baseline: verifyTps,
      baselineName: base,
      better: 'higher',
    }),
    row({
      suite: 'ledger-scale',
      name: `Chain.submitMany ${BATCH}/block vs. Chain.submit 1/block, file sync=FULL`,
      value: groupTps,
      unit: 'tx/s',
      baseline: singleTps,
      baselineName: 'Chain.submit, one block and fsync per tx',
      better: 'higher',
    }),
    row({
      suite: 'ledger-scale',
      name: `Ledger.applyDecoded, pre-verified, + root per ${BATCH}-tx block`,
      value: applyTps,
      unit: 'tx/s',
      baseline: verifyTps,
      baselineName: base,
      better: 'higher',
    }),
  ];
}

function replay(opts: BenchOptions, f: Fixture, dir: string, done: Row[]): Row {
  const target = 1_000_000;
  const n = opts.million ? target : opts.quick ? 10_240 : 102_400;
  const file = join(dir, 'replay.sqlite');
  const clock = new ManualClock(T0);
  const chain = Chain.open(new SqliteChainStore(file), clock, () => f.genesis);
  opts.log(`ledger-scale: replay: signing and committing ${n.toLocaleString('en-US')} transfers (setup)`);
  let logged = 0;
  for (let start = 0; start < n; start += BATCH) {
    const txs = Array.from({ length: Math.min(BATCH, n - start) }, (_, k) =>
      trustedDecode(transfer(f, start + k)),
    );
    clock.advance(1000);
    const bad = chain.submitManyDecoded(txs).find((o) => !o.ok);
    if (bad && !bad.ok)
      throw new Error(`ledger-scale bench: replay setup rejected a transfer: ${bad.error.message}`);
    if (start - logged >= 100_000) {
      logged = start;
      opts.log(`ledger-scale: replay setup: ${start.toLocaleString('en-US')} transfers`);
    }
  }
  const root = chain.ledger.root();
  chain.close();

  opts.log(`ledger-scale: verifyChain over ${n.toLocaleString('en-US')} transactions`);
  const store = new SqliteChainStore(file);
  let ns: number;
  try {
    const t0 = nowNs();
    const report = verifyChain(f.genesis, store.blocks());
    ns = Number(nowNs() - t0);
    if (!report.ok || report.root !== root || report.txs !== n)
      throw new Error(
        `ledger-scale bench: the chain does not verify: ${report.error?.message ?? 'root differs'}`,
      );
  } finally {
    store.close();
  }
  const seconds = (ns / 1e9) * (target / n);
  const verifyTps = done[0]!.baseline;
  const label =
    n === target
      ? '1,000,000 txs, measured'
      : `1,000,000 txs EXTRAPOLATED x${Math.round(target / n)} from ${n.toLocaleString('en-US')} measured`;
  opts.log(`ledger-scale: replayed ${n.toLocaleString('en-US')} transactions in ${(ns / 1e9).toFixed(2)} s`);
  return row({
    suite: 'ledger-scale',
    name: `verifyChain replay from SQLite, ${label}`,
    value: seconds,
    unit: 's',
    baseline: target / verifyTps,
    baselineName: '1M ed25519 verifies alone, at the rate above',
    better: 'lower',
  });
}

function memory(opts: BenchOptions): Row {
  const target = 1_000_000;
  const n = opts.quick ? 100_000 : target;
  const gc = gcFunction();
  const used = () => {
    gc();
    gc();
    const m = process.memoryUsage();
    // Hashes are Buffers: their bytes live outside the JS heap, in `external`.
    return m.heapUsed + m.external;
  };
  function* accounts(): Iterable<[string, Account]> {
    for (let i = 0; i < n; i++)
      yield [
        K.account(syntheticAddress('scale-account', i)),
        { balance: ath(1 + (i % 1000)), nonce: i % 100, escrow: 0n },
      ];
  }
  opts.log(`ledger-scale: memory: ${n.toLocaleString('en-US')} accounts in a plain Map (baseline)`);
  let before = used();
  let map: Map<string, Account> | null = new Map(accounts());
  const mapBytes = used() - before;
  sink(map.size);
  map = null;

  opts.log(`ledger-scale: memory: ${n.toLocaleString('en-US')} accounts in LedgerState, root computed`);
  before = used();
  let state: LedgerState | null = LedgerState.fromEntries(accounts());
  sink(state.root());
  const stateBytes = used() - before;
  sink(state.size());
  state = null;
  sink(state);

  const scale = target / n;
  const label =
    n === target
      ? '1,000,000 accounts'
      : `1,000,000 accounts EXTRAPOLATED x${scale} from ${n.toLocaleString('en-US')} (upper bound)`;
  opts.log(
    `ledger-scale: memory: LedgerState ${(stateBytes / MB).toFixed(0)} MB, Map ${(mapBytes / MB).toFixed(0)} MB ` +
      `for ${n.toLocaleString('en-US')} accounts (heapUsed + external)`,
  );
  return row({
    suite: 'ledger-scale',
    name: `LedgerState + root, ${label}, heap+external (goal < 1024 MB)`,
    value: (stateBytes * scale) / MB,
    unit: 'MB',
    baseline: (mapBytes * scale) / MB,
    baselineName: 'the same accounts in a plain Map, no root',
    better: 'lower',
  });
}
