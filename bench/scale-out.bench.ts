import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  ath,
  keyPairFromSeed,
  loadConfig,
  signLeaseToken,
  systemClock,
  type KeyPair,
} from '../src/core/index.js';
import { parseGenesis, signTx, type Genesis, type SignedTx } from '../src/ledger/index.js';
import { Chain } from '../src/node/chain.js';
import { SubmitQueue } from '../src/node/submit-queue.js';
import { ClusterNode, Keystore, startDevnetNode } from '../src/node/index.js';
import { ApiClient, TxSender, UsageReceipts } from '../src/sdk/index.js';
import { JetStreamLog, SqliteChainStore } from '../src/store/index.js';
import { syntheticAddress } from './fixtures.js';
import { nowNs, percentile, row, type BenchOptions, type Row } from './harness.js';

/**
 * The scale-out path beside the embedded one, in the same run:
 * - throughput: signed transfers appended to the JetStream log until a replica in a SECOND
 *   process has applied the last one, vs. the embedded sequencer's group commit (SubmitQueue ->
 *   Chain.submitMany, SQLite synchronous=FULL) taking the same transactions;
 * - latency: match -> lease.open -> the workload's first output line read from the API's log
 *   stream, through NATS (API+indexer, checker and container nodes, each its own replica, meeting
 *   only on NATS) vs. the embedded devnet.
 * Needs NATS with JetStream at AETHIR_BENCH_NATS (default nats://127.0.0.1:4222).
 */

const NATS = process.env.AETHIR_BENCH_NATS ?? 'nats://127.0.0.1:4222';
const SENDERS = 64;
const WINDOW = 512;

function chainIdFor(what: string): string {
  return `bench-${what}-${process.pid}-${Math.floor(performance.now())}`.slice(0, 64);
}

function transfers(chainId: string, n: number): { genesis: Genesis; pool: SignedTx[] } {
  const senders = Array.from({ length: SENDERS }, (_, i) => keyPairFromSeed(`scale-sender-${i}`));
  const genesis = parseGenesis({
    chainId,
    time: systemClock.now(),
    allocations: senders.map((k) => ({ address: k.address, amount: ath(1_000_000).toString() })),
    checkers: [syntheticAddress('checker', 0)],
  });
  const pool = Array.from({ length: n }, (_, j) =>
    signTx(senders[j % SENDERS]!, chainId, 'transfer', Math.floor(j / SENDERS), {
      to: syntheticAddress('recipient', j % 256),
      amount: ath(1) + BigInt(j),
    }),
  );
  return { genesis, pool };
}

type Follower = ChildProcessByStdio<Writable, Readable, null>;

function lines(child: Follower): () => Promise<string> {
  const queue: string[] = [];
  const waiting: Array<(l: string) => void> = [];
  createInterface({ input: child.stdout }).on('line', (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else queue.push(l);
  });
  return () =>
    queue.length
      ? Promise.resolve(queue.shift()!)
      : new Promise((resolve, reject) => {
          waiting.push(resolve);
          child.once('exit', (code) => reject(new Error(`the follower exited (${code})`)));
        });
}

async function throughput(opts: BenchOptions, dir: string): Promise<{ nats: number; embedded: number }> {
  const n = opts.quick ? 500 : 4_000;
  const chainId = chainIdFor('tps');
  opts.log(`scale-out: signing ${n} transfers`);
  const { genesis, pool } = transfers(chainId, n);

  // Embedded: the devnet API's path without HTTP (group commit, one fsync per block).
  const chain = Chain.open(new SqliteChainStore(join(dir, 'embedded.sqlite')), systemClock, () => genesis);
  const queue = new SubmitQueue(chain);
  opts.log('scale-out: embedded group commit');
  let t0 = nowNs();
  for (let i = 0; i < n; i += WINDOW) {
    const outs = await Promise.all(pool.slice(i, i + WINDOW).map((tx) => queue.submitOutcome(tx)));
    if (outs.some((o) => !o.ok)) throw new Error('embedded: a transfer was rejected');
  }
  const embedded = n / (Number(nowNs() - t0) / 1e9);
  const embeddedRoot = chain.ledger.root();
  queue.close();
  chain.close();

  // NATS: append to the stream, a replica in another process applies.
  const log = await JetStreamLog.connect({ servers: NATS, chainId });
  let child: Follower | null = null;
  try {
    await log.init(genesis);
    const follower: Follower = spawn(
      process.execPath,
      ['--import', 'tsx', 'bench/replica-follower.ts', NATS, chainId, join(dir, 'follower')],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    child = follower;
    const next = lines(follower);
    if ((await next()) !== 'ready') throw new Error('the follower did not start');
    opts.log('scale-out: JetStream append -> replica in a second process');
    t0 = nowNs();
    for (let i = 0; i < n; i += WINDOW)
      await Promise.all(pool.slice(i, i + WINDOW).map((tx) => log.append(tx)));
    follower.stdin.write(`${n}\n`);
    const [, height, root] = (await next()).split(' ');
    const nats = n / (Number(nowNs() - t0) / 1e9);
    if (Number(height) !== n) throw new Error(`the follower stopped at ${height}, not ${n}`);
    // Transfers do not depend on block time, so both paths must end in the same state.
    if (root !== embeddedRoot) throw new Error('the replica and the embedded chain disagree on the root');
    return { nats, embedded };
  } finally {
    child?.kill();
    await log.destroy();
    await log.close();
  }
}

/** match -> lease.open -> first output line on the API's log stream, k times; ms each. */
async function rentLatencies(api: string, key: KeyPair, k: number): Promise<number[]> {
  const client = new ApiClient(api);
  const sender = new TxSender(key, client);
  await sender.send('escrow.deposit', { amount: ath(100) });
  const out: number[] = [];
  for (let i = 0; i < k; i++) {
    const t0 = nowNs();
    const m = await client.match({ user: key.address, gpus: 0 });
    const opened = await sender.send('lease.open', {
      container: m.container.id,
      gpus: 0,
      maxDurationSec: 60,
      maxPricePerHour: BigInt(m.container.pricePerHour),
      workload: { command: ['sh', '-c', 'echo ready'] },
    });
    const lease = String(opened.result.lease);
    const receipts = new UsageReceipts({
      send: (r) => client.sendReceipt(r),
      key,
      chainId: await client.chainId(),
      lease,
      openedAt: (await client.lease(lease))!.openedAt,
    });
    let first = false;
    const token = signLeaseToken(key, { chainId: await client.chainId(), lease, exp: Date.now() + 600_000 });
    for await (const e of client.logs(lease, token)) {
      if (e.type === 'stdout' && !first) {
        out.push(Number(nowNs() - t0) / 1e6);
        first = true;
      }
      if (e.type === 'exit') {
        if (!first) throw new Error(`lease ${lease} exited without output`);
        // As rent does at the exit: sign for what was served, so the host closes at once.
        await receipts.sign();
        break;
      }
    }
    // The next rent starts from the same state: this lease closed, the host free again.
    for (let w = 0; (await client.lease(lease))?.status !== 'closed'; w++) {
      if (w > 200) throw new Error(`lease ${lease} did not close`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return out;
}

const FAST = { heartbeatIntervalMs: 300, offlineAfterMs: 3_000, checkIntervalMs: 200, port: 0 };

async function embeddedRent(opts: BenchOptions, dir: string, k: number): Promise<number[]> {
  const config = loadConfig({
    env: {},
    flags: { ...FAST, home: join(dir, 'dev-home'), dataDir: join(dir, 'dev-data'), demoContainers: 0 },
  });
  const node = await startDevnetNode({ config });
  try {
    opts.log('scale-out: rent latency, embedded devnet');
    return await rentLatencies(node.url, node.devnet.developer, k);
  } finally {
    await node.stop();
  }
}

async function natsRent(opts: BenchOptions, dir: string, k: number): Promise<number[]> {
  const chainId = chainIdFor('rent');
  const keyOf = (name: string) => new Keystore(join(dir, name, 'keys')).loadOrCreate('node');
  const user = keyPairFromSeed('scale-user');
  const checker = keyOf('checker');
  const host = keyOf('container');
  const genesis = parseGenesis({
    chainId,
    time: systemClock.now(),
    allocations: [
      { address: user.address, amount: ath(1_000_000).toString() },
      { address: host.address, amount: ath(100_000).toString() },
    ],
    checkers: [checker.address],
  });
  const log = await JetStreamLog.connect({ servers: NATS, chainId });
  await log.init(genesis);
  const nodes: ClusterNode[] = [];
  try {
    const start = async (name: string, roles: Array<'api' | 'indexer' | 'checker' | 'container'>) => {
      const config = loadConfig({
        env: {},
        flags: { ...FAST, chainId, home: join(dir, 'home'), dataDir: join(dir, name) },
      });
      const node = await ClusterNode.start({ config, roles, nats: NATS, name: `${name}-${process.pid}` });
      nodes.push(node);
      return node;
    };
    const api = await start('api', ['api', 'indexer']);
    await start('checker', ['checker']);
    await start('container', ['container']);
    for (let w = 0; api.replica.ledger.container(host.address)?.status !== 'online'; w++) {
      if (w > 400) throw new Error('the container did not come online');
      await new Promise((r) => setTimeout(r, 25));
    }
    opts.log('scale-out: rent latency through NATS (3 nodes, each its own replica)');
    return await rentLatencies(api.url!, user, k);
  } finally {
    for (const n of nodes.reverse()) await n.stop();
    await log.destroy();
    await log.close();
  }
}

export async function runScaleOut(opts: BenchOptions): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'aethir-bench-scale-'));
  try {
    const tps = await throughput(opts, dir);
    const k = opts.quick ? 5 : 30;
    const emb = await embeddedRent(opts, dir, k);
    const nats = await natsRent(opts, dir, k);
    const suite = 'scale-out';
    const base = 'embedded devnet, same run';
    return [
      row({
        suite,
        name: 'transfers through JetStream, applied by a replica in a 2nd process',
        value: tps.nats,
        unit: 'tx/s',
        baseline: tps.embedded,
        baselineName: 'embedded group commit (SQLite FULL)',
        better: 'higher',
      }),
      ...([50, 99] as const).map((p) =>
        row({
          suite,
          name: `rent -> first output line via NATS, p${p}`,
          value: percentile(nats, p),
          unit: 'ms',
          baseline: percentile(emb, p),
          baselineName: base,
          better: 'lower',
        }),
      ),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
