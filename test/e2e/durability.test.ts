import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ath, keyPairFromSeed, type KeyPair } from '../../src/core/index.js';
import { signTx } from '../../src/ledger/index.js';
import { Keystore } from '../../src/node/index.js';
import { cli, startDevnet, tempHome, type DevnetProcess } from './helpers.js';

/**
 * Acknowledged means durable (issue 3): a stream of signed transfers, 8 requests in flight at
 * a time, is cut by SIGKILL; after a restart on the same data every acknowledged transaction
 * is there, the log verifies from genesis, and the replayed root is the node's root.
 */
describe('durability: SIGKILL in the middle of a stream of transactions', () => {
  const home = tempHome('aethir-durability-');
  const data = join(home, 'devnet');
  const env = { AETHIR_HOME: home };
  const running: DevnetProcess[] = [];
  afterAll(async () => {
    for (const n of running) await n.stop('SIGKILL');
  });

  const CONCURRENCY = 8;
  /** acknowledged transactions to wait for before the kill; the stream keeps going past it */
  const KILL_AFTER = 150;

  async function post(url: string, tx: unknown): Promise<{ status: number; body: any }> {
    const r = await fetch(`${url}/v1/transactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(tx),
    });
    return { status: r.status, body: await r.json() };
  }
  async function get(url: string, path: string): Promise<{ status: number; body: any }> {
    const r = await fetch(url + path);
    return { status: r.status, body: await r.json() };
  }
  async function verify(): Promise<any> {
    const r = await cli(['ledger', 'verify', '--data', data, '--json'], env);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    return JSON.parse(r.stdout);
  }

  it('finds every acknowledged transaction after a restart, and a root equal to a clean replay', async () => {
    const first = await startDevnet(['--data', data], env);
    running.push(first);
    const url = first.url;
    const chainId = (await get(url, '/v1/status')).body.chainId as string;

    // One sender per stream, each with its own nonces: requests of different streams race,
    // those of one stream go in order (a sender's next nonce waits for its previous answer).
    const developer = new Keystore(join(home, 'keys')).load('developer');
    const senders: KeyPair[] = Array.from({ length: CONCURRENCY }, (_, i) =>
      keyPairFromSeed(`durability-${i}`),
    );
    let devNonce = (await get(url, `/v1/accounts/${developer.address}`)).body.nonce as number;
    for (const s of senders) {
      const r = await post(
        url,
        signTx(developer, chainId, 'transfer', devNonce++, { to: s.address, amount: ath(1000) }),
      );
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    const recipient = keyPairFromSeed('durability-recipient').address;

    const acked: Array<{ id: string; height: number; from: string; nonce: number }> = [];
    const refused: unknown[] = [];
    let signalKill!: () => void;
    const enoughAcked = new Promise<void>((r) => (signalKill = r));
    const stream = async (k: KeyPair): Promise<number> => {
      let nonce = 0;
      for (;;) {
        const tx = signTx(k, chainId, 'transfer', nonce, { to: recipient, amount: BigInt(nonce + 1) });
        let r: { status: number; body: any };
        try {
          r = await post(url, tx);
        } catch {
          // the node died with this request in flight: not acknowledged, may or may not be in the log
          return nonce;
        }
        if (r.status !== 201) {
          refused.push(r.body);
          return nonce;
        }
        acked.push({ id: r.body.id, height: r.body.height, from: k.address, nonce });
        nonce++;
        if (acked.length >= KILL_AFTER) signalKill();
      }
    };
    const streams = senders.map(stream);
    await Promise.race([enoughAcked, Promise.all(streams)]);
    expect(refused).toEqual([]);
    await first.stop('SIGKILL');
    const sentPerSender = await Promise.all(streams);
    expect(refused).toEqual([]);
    expect(acked.length).toBeGreaterThanOrEqual(KILL_AFTER);
    // the kill landed in the middle: requests were still in flight
    expect(sentPerSender.every((n) => n > 0)).toBe(true);
    const blocksSeen = new Set(acked.map((a) => a.height));
    // concurrent clients share blocks (group commit): fewer blocks than transactions
    expect(blocksSeen.size).toBeLessThan(acked.length);

    // The crashed log verifies from genesis on its own.
    const crashed = await verify();
    expect(crashed).toMatchObject({ ok: true });
    expect(crashed.height).toBeGreaterThanOrEqual(Math.max(...acked.map((a) => a.height)));

    const second = await startDevnet(['--data', data], env);
    running.push(second);

    // every acknowledged transaction is in the log, in the block it was acknowledged in
    const missing: string[] = [];
    for (let i = 0; i < acked.length; i += 16) {
      await Promise.all(
        acked.slice(i, i + 16).map(async (a) => {
          const r = await get(second.url, `/v1/transactions/${a.id}`);
          if (r.status !== 200 || r.body.height !== a.height) missing.push(a.id);
        }),
      );
    }
    expect(missing).toEqual([]);
    // and every sender's nonce is past its acknowledged ones
    for (const s of senders) {
      const mine = acked.filter((a) => a.from === s.address);
      const account = (await get(second.url, `/v1/accounts/${s.address}`)).body;
      expect(account.nonce).toBeGreaterThanOrEqual(mine.length);
    }

    // The restarted node's root at the crash height is the clean replay's root.
    const blockAt = async (height: number) => {
      const { body } = await get(second.url, '/v1/blocks?limit=500');
      return (body.blocks as Array<{ height: number; root: string }>).find((b) => b.height === height);
    };
    expect((await blockAt(crashed.height))?.root).toBe(crashed.root);

    // And a replay of the whole log, restarted node included, ends at the node's root.
    const status = (await get(second.url, '/v1/status')).body;
    const replay = await verify();
    expect(replay).toMatchObject({ ok: true });
    expect(replay.height).toBeGreaterThanOrEqual(status.height);
    if (replay.height === status.height) expect(replay.root).toBe(status.root);
    expect((await blockAt(replay.height))?.root).toBe(replay.root);
  }, 60_000);
});
