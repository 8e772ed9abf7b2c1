/**
 * Replicas of one log agree block by block whatever their store: a SQLite replica and a
 * PostgreSQL replica fed the same stream (concurrent submissions through both, double spends
 * included) have the same root and hash at every height; a replica started from a snapshot of
 * one of them starts at the snapshot's height and agrees from there on.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, type KeyPair } from '../../../src/core/index.js';
import { signTx, type TxType } from '../../../src/ledger/index.js';
import { ATH, Cluster, PG_URL, getJson, postJson, type NodeProcess } from './harness.js';

interface BlockView {
  height: number;
  time: number;
  prevHash: string;
  root: string;
  hash: string;
  txs: Array<{ id: string; type: string; from: string }>;
}

let c: Cluster;
let sqlite: NodeProcess;
let postgres: NodeProcess;
let failed = false;
const pgName = `det-pg-${randomBytes(4).toString('hex')}`;
const pgSchema = `aethir_${pgName.replace(/-/g, '_')}`;
const users: KeyPair[] = Array.from({ length: 5 }, () => generateKeyPair());
const nonces = new Map<string, number>();
/** what each user has in escrow, so a withdrawal never asks for more */
const escrow = new Map<string, bigint>();

beforeAll(async () => {
  c = await Cluster.create({ prefix: 'det' });
  try {
    await c.init({
      checkers: [generateKeyPair().address],
      allocations: users.map((u) => ({ address: u.address, ath: 1_000n })),
    });
    const started = await c.startNodes([
      { name: 'det-sqlite', roles: ['api'] },
      { name: pgName, roles: ['api'], postgres: PG_URL },
    ]);
    sqlite = started[0]!;
    postgres = started[1]!;
  } catch (e) {
    failed = true;
    console.error(c.logs());
    throw e;
  }
}, 120_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail') {
    failed = true;
    console.error(c?.logs());
  }
});

afterAll(async () => {
  await c?.destroy({ keep: failed || Boolean(process.env.AETHIR_TEST_KEEP) });
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${pgSchema}" CASCADE`);
  } finally {
    await client.end();
  }
}, 60_000);

/** Signs `key`'s next transaction (nonces counted here) and submits it to `node`. */
function submit(node: NodeProcess, key: KeyPair, type: TxType, payload: Record<string, unknown>) {
  const nonce = nonces.get(key.address) ?? 0;
  nonces.set(key.address, nonce + 1);
  return postJson(`${node.api}/v1/transactions`, signTx(key, c.chainId, type, nonce, payload));
}

/**
 * `rounds` rounds in which every user sends one transaction at once, alternately through the
 * given nodes: transfers to the next user, escrow deposits and withdrawals.
 */
async function drive(nodes: NodeProcess[], rounds: number, from = 0): Promise<number> {
  let sent = 0;
  for (let r = from; r < from + rounds; r++) {
    await Promise.all(
      users.map((u, i) => {
        const node = nodes[(r + i) % nodes.length]!;
        const kind = (r + i) % 3;
        sent++;
        if (kind === 0)
          return submit(node, u, 'transfer', {
            to: users[(i + 1) % users.length]!.address,
            amount: BigInt(r + 1) * ATH,
          });
        const held = escrow.get(u.address) ?? 0n;
        if (kind === 1 || held < ATH) {
          escrow.set(u.address, held + BigInt(i + 2) * ATH);
          return submit(node, u, 'escrow.deposit', { amount: BigInt(i + 2) * ATH });
        }
        escrow.set(u.address, held - ATH);
        return submit(node, u, 'escrow.withdraw', { amount: ATH });
      }),
    );
  }
  return sent;
}

/**
 * The same nonce spent twice at once, through two different nodes: exactly one of the two is
 * applied; the other is turned away by the node or becomes an empty block on every replica.
 */
async function doubleSpend(a: NodeProcess, b: NodeProcess, key: KeyPair): Promise<void> {
  const nonce = nonces.get(key.address) ?? 0;
  nonces.set(key.address, nonce + 1);
  const spend = (to: string) => signTx(key, c.chainId, 'transfer', nonce, { to, amount: 3n * ATH });
  const results = await Promise.allSettled([
    postJson(`${a.api}/v1/transactions`, spend(users[1]!.address)),
    postJson(`${b.api}/v1/transactions`, spend(users[2]!.address)),
  ]);
  expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
}

async function blocks(node: NodeProcess): Promise<BlockView[]> {
  return (await getJson<{ blocks: BlockView[] }>(`${node.api}/v1/blocks?limit=500`)).blocks;
}

describe('replicas of one log', () => {
  it('a SQLite and a PostgreSQL replica agree on the root at every height', async () => {
    let sent = await drive([sqlite, postgres], 5);
    await doubleSpend(sqlite, postgres, users[0]!);
    sent += await drive([postgres, sqlite], 4, 5);
    await doubleSpend(postgres, sqlite, users[3]!);
    expect(sent).toBeGreaterThanOrEqual(45);

    const head = await c.converged([sqlite, postgres]);
    expect(head.height).toBeGreaterThanOrEqual(sent + 2);
    const [a, b] = await Promise.all([blocks(sqlite), blocks(postgres)]);
    // Every height from the genesis block on, newest first, identical on both.
    expect(a.map((x) => x.height)).toEqual(
      Array.from({ length: head.height + 1 }, (_, i) => head.height - i),
    );
    expect(b).toEqual(a);
    // The chain links up and the stores agree with the status both report.
    for (let i = 0; i < a.length - 1; i++) expect(a[i]!.prevHash).toBe(a[i + 1]!.hash);
    expect(a[0]!.root).toBe(head.root);
    // Each applied transaction is in exactly one block; the double spends left one each.
    const applied = a.reduce((n, x) => n + x.txs.length, 0);
    expect(applied).toBe(sent + 2);
    const statuses = await Promise.all([sqlite.status(), postgres.status()]);
    expect(statuses[1]).toMatchObject({ height: statuses[0].height, root: statuses[0].root });
    for (const u of users) {
      const [x, y] = await Promise.all(
        [sqlite, postgres].map((n) => getJson(`${n.api}/v1/accounts/${u.address}`)),
      );
      expect(y).toEqual(x);
      expect(x.nonce).toBe(nonces.get(u.address));
    }
  });

  it('a replica started from a snapshot starts at its height and agrees from there on', async () => {
    const at = await c.converged([sqlite, postgres]);
    const snap = await c.startNode({ name: 'det-snap', roles: ['api'], snapshotFrom: sqlite.api });
    expect(snap.ready!.height).toBe(at.height);
    expect(snap.ready!.root).toBe(at.root);
    const first = await blocks(snap);
    expect(first.map((x) => x.height)).toEqual([at.height]);

    // More traffic, through all three.
    const sent = await drive([snap, sqlite, postgres], 3, 20);
    const head = await c.converged([sqlite, postgres, snap]);
    expect(head.height).toBeGreaterThanOrEqual(at.height + sent);
    const [a, b, s] = await Promise.all([blocks(sqlite), blocks(postgres), blocks(snap)]);
    // The snapshot replica's store starts at the snapshot height, not at the genesis.
    expect(s.map((x) => x.height)).toEqual(
      Array.from({ length: head.height - at.height + 1 }, (_, i) => head.height - i),
    );
    expect(s).toEqual(a.slice(0, s.length));
    expect(b).toEqual(a);
  });
});
