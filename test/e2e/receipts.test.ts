import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import type { SignedReceipt } from '../../src/ledger/index.js';
import type { RunningNode } from '../../src/node/index.js';
import { BIN, ROOT, setParams, startInProcessDevnet, tempHome, waitFor } from './helpers.js';

const GRACE_MS = 3_000;

/**
 * Usage receipts (Proof of Delivery) end to end: `aethir rent` signs what it was served, the
 * container settles and closes with the latest receipt, and the user never pays beyond what it
 * signed. A client that goes away stops paying, and the container ends the lease after the
 * grace period (shortened here by the governance key).
 */
describe('usage receipts, end to end', () => {
  let node: RunningNode;
  const home = tempHome();
  /** every receipt the API put on the bus, by lease */
  const seen = new Map<string, SignedReceipt[]>();

  beforeAll(async () => {
    node = await startInProcessDevnet(home, { settleIntervalMs: 500, heartbeatIntervalMs: 200 });
    const d = node.devnet;
    setParams(node, home, { receiptGraceMs: GRACE_MS });
    expect(d.chain.ledger.params.receiptGraceMs).toBe(GRACE_MS);
    d.bus.subscribe('lease.*.receipt', (m) => {
      const r = m as SignedReceipt;
      seen.set(r.lease, [...(seen.get(r.lease) ?? []), r]);
    });
  });
  afterAll(async () => {
    await node?.stop();
  });

  const rent = (args: string[]) => {
    const child = spawn(process.execPath, [BIN, 'rent', '--json', ...args], {
      cwd: ROOT,
      env: { ...process.env, AETHIR_HOME: home, AETHIR_API: node.url, AETHIR_RECEIPT_INTERVAL_S: '1' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (x) => (out += x));
    child.stderr.on('data', (x) => (err += x));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    return { child, exited, out: () => out, err: () => err };
  };

  it('a rent is charged what the client signed: every settle and the close carry its receipts', async () => {
    const d = node.devnet;
    const r = rent(['--', 'sh', '-c', 'echo start; sleep 3; echo done']);
    expect(await r.exited).toBe(0);
    const summary = JSON.parse(r.out().slice(r.out().indexOf('{')));
    const l = d.chain.ledger.lease(summary.lease)!;
    expect(l).toMatchObject({ status: 'closed', closedBy: l.container, closeReason: 'workload exited' });
    // the client signed about 3 s, once a second, at the first output and at the exit
    const receipts = seen.get(l.id)!;
    expect(receipts.length).toBeGreaterThanOrEqual(4);
    expect(receipts.map((x) => x.seq)).toEqual(receipts.map((_, i) => i + 1));
    expect(l.lastReceiptSeq).toBe(receipts.at(-1)!.seq);
    expect(l.receiptServedMs).toBe(Math.max(...receipts.map((x) => x.servedMs)));
    expect(l.receiptServedMs).toBeGreaterThan(2_500);
    // charged exactly what was signed (the block time since the open is at least that)
    expect(l.closedAt! - l.openedAt).toBeGreaterThanOrEqual(l.receiptServedMs);
    expect(l.charged).toBe((l.pricePerHour * BigInt(l.receiptServedMs)) / 3_600_000n);
    expect(summary.servedMs).toBe(l.receiptServedMs);
    // the host's settles while it ran each carried a newer receipt of the user
    const txs = (await d.chain.store.recentTxs(200, { from: l.container })).filter(
      (t) => (t.tx.payload as { lease?: string }).lease === l.id,
    );
    const settles = txs.filter((t) => t.tx.type === 'lease.settle');
    expect(settles.length).toBeGreaterThan(0);
    for (const t of txs) {
      const receipt = (t.tx.payload as { receipt?: SignedReceipt }).receipt!;
      expect(receipt.pubkey).toBe(d.developer.publicKey);
    }
  });

  it('a client that stops signing (SIGKILL) stops paying: the container ends the lease after the grace period', async () => {
    const d = node.devnet;
    const r = rent(['--', 'sh', '-c', 'echo start; sleep 120']);
    const id = await waitFor(
      async () => d.openLeases().find((l) => l.user === d.developer.address)?.id,
      30_000,
      'the lease to open',
    );
    await waitFor(async () => (seen.get(id)?.length ?? 0) >= 3, 30_000, 'a few receipts');
    r.child.kill('SIGKILL');
    await r.exited;
    const killedAt = Date.now();
    const closed = await waitFor(
      async () => {
        const l = d.chain.ledger.lease(id)!;
        return l.status === 'closed' && l;
      },
      GRACE_MS + 20_000,
      'the container to end the lease',
    );
    expect(closed).toMatchObject({
      closedBy: closed.container,
      closeReason: 'the user stopped signing receipts',
    });
    // not before the grace period since the last receipt
    const last = seen.get(id)!.at(-1)!;
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(GRACE_MS - 1_000);
    expect(closed.closedAt! - (closed.openedAt + last.servedMs)).toBeGreaterThanOrEqual(GRACE_MS - 500);
    // charged only what the client signed, not the grace period the host waited
    expect(closed.receiptServedMs).toBe(last.servedMs);
    expect(closed.charged).toBe((closed.pricePerHour * BigInt(last.servedMs)) / 3_600_000n);
    expect(closed.charged).toBeLessThan(
      (closed.pricePerHour * BigInt(closed.closedAt! - closed.openedAt)) / 3_600_000n,
    );
    // and the workload is gone
    await waitFor(
      async () => d.agents.every((a) => !a.leasesRunning().includes(id)),
      10_000,
      'the workload to stop',
    );
    expect(d.chain.ledger.totalHeld()).toBe(d.chain.ledger.chain.supply);
  });
});
