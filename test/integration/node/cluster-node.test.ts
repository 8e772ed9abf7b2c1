import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ath,
  defaultConfig,
  generateKeyPair,
  signAsContainer,
  systemClock,
  type KeyPair,
} from '../../../src/core/index.js';
import { subjects, type HeartbeatMsg } from '../../../src/bus/index.js';
import { parseGenesis, signTx, type TxType } from '../../../src/ledger/index.js';
import { ClusterNode, locationOf, type Snapshot } from '../../../src/node/index.js';
import { JetStreamLog } from '../../../src/store/index.js';

const NATS = process.env.AETHIR_TEST_NATS ?? 'nats://127.0.0.1:4222';
const dir = mkdtempSync(join(tmpdir(), 'aethir-cluster-node-'));
const cleanup: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

const chainId = `t-cluster-node-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
const host = generateKeyPair();
const user = generateKeyPair();
const checkers = [generateKeyPair(), generateKeyPair(), generateKeyPair()];
const nonces = new Map<string, number>();

function indexerNode(name: string, snapshot?: Snapshot): Promise<ClusterNode> {
  const config = { ...defaultConfig({}), chainId, dataDir: join(dir, name) };
  return ClusterNode.start({
    config,
    roles: ['indexer'],
    nats: NATS,
    name,
    ...(snapshot ? { snapshot } : {}),
  }).then((node) => {
    cleanup.push(() => node.stop());
    return node;
  });
}

async function send(node: ClusterNode, k: KeyPair, type: TxType, payload: Record<string, unknown>) {
  const nonce = nonces.get(k.address) ?? 0;
  nonces.set(k.address, nonce + 1);
  const r = await node.replica.submit(signTx(k, chainId, type, nonce, payload));
  expect(r.ok, JSON.stringify(r)).toBe(true);
}

/** Heartbeats of the host on NATS until the node's indexer matches it (or 10 s pass). */
async function matchedAfterHeartbeats(node: ClusterNode): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const hb: HeartbeatMsg = { container: host.address, at: Date.now(), freeGpus: 0, runningLeases: 0 };
    node.bus.publish(subjects.heartbeat(host.address), signAsContainer(host, 'heartbeat', chainId, hb));
    await new Promise((r) => setTimeout(r, 100));
    try {
      return node.indexer!.match({ user: user.address, gpus: 0 }).container.id;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
  }
}

describe('an indexer node (aethir node --roles indexer)', () => {
  it('restarted over its store, or started from a snapshot, answers a match from the first heartbeats', async () => {
    const genesis = parseGenesis({
      chainId,
      time: systemClock.now(),
      allocations: [
        { address: host.address, amount: ath(1_000_000).toString() },
        { address: user.address, amount: ath(1_000).toString() },
      ],
      checkers: checkers.map((c) => c.address),
    });
    const log = await JetStreamLog.connect({ servers: NATS, chainId });
    cleanup.push(async () => {
      await log.destroy();
      await log.close();
    });
    expect(await log.init(genesis)).toEqual({ created: true });

    const first = await indexerNode('idx');
    await send(first, host, 'container.register', {
      name: 'rig',
      spec: { gpus: [], cpu: { model: 'EPYC', cores: 8 }, memoryMiB: 16_384, source: 'declared' },
      pricePerHour: ath(1),
      location: locationOf('Frankfurt, DE'),
    });
    await send(first, host, 'container.stake', { amount: first.replica.ledger.requiredStakeFor([]) || 1n });
    for (const k of checkers.slice(0, 2))
      await send(first, k, 'checker.report', {
        container: host.address,
        check: 'liveness',
        ok: true,
        observedAt: systemClock.now(),
      });
    expect(first.replica.ledger.container(host.address)!.status).toBe('online');
    // the user's escrow covers what a reservation holds (an unfunded match reserves nothing)
    await send(first, user, 'escrow.deposit', { amount: ath(100) });
    const snapshot = first.replica.snapshot();
    await first.stop();

    // No block after these mentions the host again: what the indexer knows of it, it read at start.
    const restarted = await indexerNode('idx');
    expect(restarted.replica.head.height).toBe(snapshot.head.height);
    expect(await matchedAfterHeartbeats(restarted)).toBe(host.address);
    const fromSnapshot = await indexerNode('idx-snap', snapshot);
    expect(await matchedAfterHeartbeats(fromSnapshot)).toBe(host.address);
  }, 60_000);
});
