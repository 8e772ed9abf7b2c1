import { describe, expect, it } from 'vitest';
import { AethirError, ath } from '../../../src/core/index.js';
import {
  DEFAULT_PARAMS,
  Ledger,
  OPERATIONAL_PARAMS,
  RECEIPT_MAX_SAMPLES,
  receiptSigningBytes,
  signReceipt,
  signingBytes,
  verifyReceipt,
  type SignedReceipt,
} from '../../../src/ledger/index.js';
import {
  CHAIN_ID,
  GENESIS_TIME,
  HOUR_MS,
  MINUTE_MS,
  TestNet,
  alice,
  bob,
  conserved,
  escrow,
  governor,
  host,
  leasePayload,
  makeGenesis,
} from './fixtures.js';

const G = GENESIS_TIME;
/** 2 ATH per GPU-hour: a 2-GPU lease costs 4 ATH an hour, 1/15 ATH a minute */
const PRICE = ath(2);
const perMinute = (minutes: number) => (PRICE * 2n * BigInt(minutes)) / 60n;

/** host online with 4 GPUs; alice opens a 2-GPU lease for 2 hours (8 ATH locked) at G */
function withLease(t = new TestNet()): { t: TestNet; lease: string; locked: bigint } {
  t.onlineContainer(host, 4, PRICE);
  t.deposit(alice, ath(100));
  t.at(G);
  const r = t.tx(alice, 'lease.open', leasePayload(host.address, 2, 7200, PRICE));
  return { t, lease: r.lease as string, locked: BigInt(r.escrow as string) };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof AethirError) return e.code;
    throw e;
  }
  return 'none';
}

describe('usage receipts: signing', () => {
  const r = { lease: 'L1', servedMs: 60_000, seq: 1, at: G, samples: [{ at: G, latencyMs: 12, ok: true }] };

  it("verifies for the lease's user on this chain, and nowhere else", () => {
    const s = signReceipt(alice, CHAIN_ID, r);
    expect(s).toMatchObject({ ...r, pubkey: alice.publicKey });
    expect(verifyReceipt(CHAIN_ID, s, alice.address)).toEqual(s);
    expect(code(() => verifyReceipt(CHAIN_ID, s, bob.address))).toBe('UNAUTHORIZED');
    expect(code(() => verifyReceipt('other-chain', s, alice.address))).toBe('BAD_SIGNATURE');
    for (const tampered of [
      { ...s, servedMs: 60_001 },
      { ...s, seq: 2 },
      { ...s, lease: 'L2' },
      { ...s, at: G + 1 },
      { ...s, samples: [{ at: G, latencyMs: 12, ok: false }] },
      { ...s, samples: undefined },
    ])
      expect(code(() => verifyReceipt(CHAIN_ID, tampered, alice.address))).toBe('BAD_SIGNATURE');
    // another key claiming to be alice's: the key must be the user's
    const mallory = signReceipt(bob, CHAIN_ID, r);
    expect(code(() => verifyReceipt(CHAIN_ID, { ...mallory, pubkey: alice.publicKey }, alice.address))).toBe(
      'BAD_SIGNATURE',
    );
  });

  it('is domain-separated from transactions', () => {
    expect(receiptSigningBytes(CHAIN_ID, r).startsWith('aethir-receipt\0')).toBe(true);
    const tx = {
      chainId: CHAIN_ID,
      type: 'lease.settle' as const,
      from: alice.address,
      pubkey: alice.publicKey,
      nonce: 0,
      payload: {},
    };
    expect(signingBytes(tx).startsWith('aethir-receipt')).toBe(false);
  });

  it('rejects malformed receipts: bounds, extra fields, too many samples', () => {
    const s = signReceipt(alice, CHAIN_ID, r);
    const samples = Array.from({ length: RECEIPT_MAX_SAMPLES + 1 }, (_, i) => ({ at: G + i, ok: true }));
    for (const bad of [
      { ...s, seq: 0 },
      { ...s, servedMs: -1 },
      { ...s, servedMs: 1.5 },
      { ...s, lease: 'bad id!' },
      { ...s, extra: 1 },
      { ...s, sig: 'ab' },
      signReceipt(alice, CHAIN_ID, { ...r, samples }),
    ])
      expect(code(() => verifyReceipt(CHAIN_ID, bad, alice.address))).toBe('INVALID_ARGUMENT');
  });
});

describe("usage receipts: a game session's frame rate and input-to-photon latency", () => {
  const game = {
    lease: 'L1',
    servedMs: 60_000,
    seq: 1,
    at: G,
    samples: [{ at: G, latencyMs: 3, ok: true, fps: 30, inputToPhotonMs: 41 }],
  };
  it('are signed with the rest; a receipt without them verifies as before (its bytes unchanged)', () => {
    const s = signReceipt(alice, CHAIN_ID, game);
    expect(verifyReceipt(CHAIN_ID, s, alice.address)).toEqual(s);
    for (const tampered of [
      { ...s, samples: [{ ...s.samples![0]!, fps: 60 }] },
      { ...s, samples: [{ ...s.samples![0]!, inputToPhotonMs: 5 }] },
      { ...s, samples: [{ at: G, latencyMs: 3, ok: true }] },
    ])
      expect(code(() => verifyReceipt(CHAIN_ID, tampered, alice.address))).toBe('BAD_SIGNATURE');
    // an old receipt's signed bytes name no new field: old signatures still verify
    const old = {
      lease: 'L1',
      servedMs: 60_000,
      seq: 1,
      at: G,
      samples: [{ at: G, latencyMs: 12, ok: true }],
    };
    expect(receiptSigningBytes(CHAIN_ID, old)).toBe(
      `aethir-receipt\0{"at":${G},"chainId":"${CHAIN_ID}","lease":"L1","samples":[{"at":${G},"latencyMs":12,"ok":true}],"seq":1,"servedMs":60000}`,
    );
  });
  it('refuses what no player measures', () => {
    for (const bad of [
      { fps: -1 },
      { fps: 1.5 },
      { fps: 1001 },
      { fps: '30' },
      { inputToPhotonMs: -1 },
      { inputToPhotonMs: 3_600_001 },
      { inputToPhotonMs: 1e308 },
      { frames: 30 },
    ]) {
      const s = signReceipt(alice, CHAIN_ID, { ...game, samples: [{ at: G, ok: true, ...(bad as object) }] });
      expect(code(() => verifyReceipt(CHAIN_ID, s, alice.address))).toBe('INVALID_ARGUMENT');
    }
  });
  it('a container closes a lease with such a receipt: charged what it acknowledges', () => {
    const { t, lease } = withLease();
    t.at(G + 10 * MINUTE_MS);
    const signed = signReceipt(alice, CHAIN_ID, {
      lease,
      servedMs: 9 * MINUTE_MS,
      seq: 1,
      at: G + 9 * MINUTE_MS,
      samples: [{ at: G + 9 * MINUTE_MS, ok: true, latencyMs: 2, fps: 29, inputToPhotonMs: 48 }],
    });
    t.tx(host, 'lease.close', { lease, exitCode: 0, reason: 'the player left', receipt: signed });
    expect(t.ledger.lease(lease)).toMatchObject({
      status: 'closed',
      charged: perMinute(9),
      lastReceiptSeq: 1,
    });
    conserved(t);
  });
});

describe('usage receipts: what a container may charge', () => {
  it('a settle with a receipt charges up to what the user signed, not the block time', () => {
    const { t, lease } = withLease();
    t.at(G + 30 * MINUTE_MS);
    const r = t.settle(host, lease, 20 * MINUTE_MS);
    expect(r).toEqual({ lease, charged: perMinute(20).toString(), servedMs: 20 * MINUTE_MS });
    expect(t.ledger.lease(lease)).toMatchObject({
      charged: perMinute(20),
      settledAt: G + 20 * MINUTE_MS,
      lastReceiptSeq: 1,
      receiptServedMs: 20 * MINUTE_MS,
    });
    // delivery (Proof of Delivery) counts only the acknowledged time
    expect(t.ledger.container(host.address)!.epochDeliveredGpuMs).toBe(2 * 20 * MINUTE_MS);
    conserved(t);
  });

  it('a receipt for more than the block time is capped at the block time (and the escrow)', () => {
    const { t, lease, locked } = withLease();
    t.at(G + 10 * MINUTE_MS);
    t.settle(host, lease, 50 * MINUTE_MS);
    expect(t.ledger.lease(lease)).toMatchObject({
      charged: perMinute(10),
      settledAt: G + 10 * MINUTE_MS,
      receiptServedMs: 50 * MINUTE_MS,
    });
    // the signed 50 minutes stay the cap: as block time passes, the host may charge up to them
    t.at(G + 40 * MINUTE_MS);
    t.tx(host, 'lease.settle', { lease });
    expect(t.ledger.lease(lease)!.charged).toBe(perMinute(40));
    t.at(G + 90 * MINUTE_MS);
    t.tx(host, 'lease.settle', { lease });
    expect(t.ledger.lease(lease)!.charged).toBe(perMinute(50));
    // never beyond the escrow, whatever was signed
    t.at(G + 10 * HOUR_MS);
    t.settle(host, lease, 10 * HOUR_MS);
    expect(t.ledger.lease(lease)!.charged).toBe(locked);
    conserved(t);
  });

  it('without a receipt the container charges nothing', () => {
    const { t, lease, locked } = withLease();
    t.at(G + 30 * MINUTE_MS);
    expect(t.tx(host, 'lease.settle', { lease })).toEqual({ lease, charged: '0', servedMs: 0 });
    expect(t.ledger.lease(lease)).toMatchObject({ charged: 0n, settledAt: G });
    const escrow0 = escrow(t, alice.address);
    // a close without one just closes: nothing new is charged, the whole escrow goes back
    t.at(G + 60 * MINUTE_MS);
    expect(t.tx(host, 'lease.close', { lease, exitCode: 0 })).toEqual({
      lease,
      charged: '0',
      refund: locked.toString(),
    });
    expect(t.ledger.lease(lease)).toMatchObject({ status: 'closed', closedAt: G + 60 * MINUTE_MS });
    expect(escrow(t, alice.address) - escrow0).toBe(locked);
    expect(t.ledger.vesting(host.address)).toEqual([]);
    conserved(t);
  });

  it('a close with the latest receipt charges what it acknowledges and refunds the rest', () => {
    const { t, lease, locked } = withLease();
    t.at(G + 10 * MINUTE_MS);
    t.settle(host, lease, 9 * MINUTE_MS);
    t.at(G + 30 * MINUTE_MS);
    const r = t.hostClose(host, lease, { exitCode: 0, reason: 'workload exited' }, 25 * MINUTE_MS);
    expect(r).toEqual({
      lease,
      charged: perMinute(25).toString(),
      refund: (locked - perMinute(25)).toString(),
    });
    expect(t.ledger.lease(lease)).toMatchObject({
      status: 'closed',
      charged: perMinute(25),
      settledAt: G + 25 * MINUTE_MS,
      closedAt: G + 30 * MINUTE_MS,
      lastReceiptSeq: 2,
      receiptServedMs: 25 * MINUTE_MS,
      closeReason: 'workload exited',
    });
    conserved(t);
  });

  it("the user's own close charges up to the block time, receipts or not, and carries none", () => {
    const { t, lease } = withLease();
    t.at(G + 10 * MINUTE_MS);
    t.settle(host, lease, 5 * MINUTE_MS);
    t.at(G + 30 * MINUTE_MS);
    t.expectRejectTx(alice, 'lease.close', { lease, receipt: t.receipt(lease) }, 'INVALID_TRANSACTION');
    t.tx(alice, 'lease.close', { lease });
    expect(t.ledger.lease(lease)).toMatchObject({ charged: perMinute(30), closedBy: alice.address });
    conserved(t);
  });

  it('a forged receipt (another key) is rejected and changes nothing', () => {
    const { t, lease } = withLease();
    t.at(G + 30 * MINUTE_MS);
    // bob signs for alice's lease; and the host itself signs one
    for (const key of [bob, host]) {
      const forged = t.receipt(lease, 30 * MINUTE_MS, { key });
      t.expectRejectTx(host, 'lease.settle', { lease, receipt: forged }, 'UNAUTHORIZED');
      t.expectRejectTx(host, 'lease.close', { lease, receipt: forged }, 'UNAUTHORIZED');
    }
    // bob's receipt with alice's public key put on it does not verify
    const swapped = { ...t.receipt(lease, 30 * MINUTE_MS, { key: bob }), pubkey: alice.publicKey };
    t.expectRejectTx(host, 'lease.settle', { lease, receipt: swapped }, 'BAD_SIGNATURE');
    // a receipt of another chain, or altered after signing
    const foreign = t.receipt(lease, 30 * MINUTE_MS, { chainId: 'other-chain' });
    t.expectRejectTx(host, 'lease.settle', { lease, receipt: foreign }, 'BAD_SIGNATURE');
    const raised = { ...t.receipt(lease, MINUTE_MS), servedMs: 30 * MINUTE_MS };
    t.expectRejectTx(host, 'lease.settle', { lease, receipt: raised }, 'BAD_SIGNATURE');
    expect(t.ledger.lease(lease)).toMatchObject({ charged: 0n, lastReceiptSeq: 0, receiptServedMs: 0 });
  });

  it('a receipt for another lease is rejected, even from the same user', () => {
    const { t, lease } = withLease();
    const other = t.tx(alice, 'lease.open', leasePayload(host.address, 1, 3600, PRICE)).lease as string;
    t.at(G + 30 * MINUTE_MS);
    const forOther = t.receipt(other, 30 * MINUTE_MS);
    const e = t.expectRejectTx(host, 'lease.settle', { lease, receipt: forOther }, 'INVALID_TRANSACTION');
    expect(e.message).toMatch(/is for lease/);
    t.expectRejectTx(host, 'lease.close', { lease, receipt: forOther }, 'INVALID_TRANSACTION');
    // it still works for its own lease
    t.settle(host, other, 30 * MINUTE_MS);
    expect(t.ledger.lease(other)!.receiptServedMs).toBe(30 * MINUTE_MS);
    expect(t.ledger.lease(lease)!.receiptServedMs).toBe(0);
  });

  it('a stale receipt (seq not above the last accepted) is rejected; a newer one with less served keeps the cap', () => {
    const { t, lease } = withLease();
    t.at(G + 10 * MINUTE_MS);
    const first = t.receipt(lease, 10 * MINUTE_MS, { seq: 5 });
    t.tx(host, 'lease.settle', { lease, receipt: first });
    t.at(G + 20 * MINUTE_MS);
    // the same receipt again, or an older one
    const e = t.expectRejectTx(host, 'lease.settle', { lease, receipt: first }, 'INVALID_TRANSACTION');
    expect(e.message).toMatch(/not newer/);
    const older = t.receipt(lease, 20 * MINUTE_MS, { seq: 4 });
    t.expectRejectTx(host, 'lease.close', { lease, receipt: older }, 'INVALID_TRANSACTION');
    // a newer receipt acknowledging less cannot take back what was signed before
    t.tx(host, 'lease.settle', { lease, receipt: t.receipt(lease, 5 * MINUTE_MS, { seq: 6 }) });
    expect(t.ledger.lease(lease)).toMatchObject({
      lastReceiptSeq: 6,
      receiptServedMs: 10 * MINUTE_MS,
      charged: perMinute(10),
    });
    conserved(t);
  });

  it('a lease closed by the checkers (container offline) charges nothing beyond what was settled', () => {
    const { t, lease, locked } = withLease();
    t.at(G + 10 * MINUTE_MS);
    t.settle(host, lease, 10 * MINUTE_MS);
    // signed for 40 minutes, but not settled before the outage
    t.at(G + 40 * MINUTE_MS);
    const escrow0 = escrow(t, alice.address);
    t.report(host.address, false, 0);
    t.report(host.address, false, 1);
    expect(t.ledger.lease(lease)).toMatchObject({
      status: 'closed',
      charged: perMinute(10),
      settledAt: G + 10 * MINUTE_MS,
      closedAt: G + 40 * MINUTE_MS,
    });
    expect(escrow(t, alice.address) - escrow0).toBe(locked - perMinute(10));
    conserved(t);
  });

  it('the grace period is a bounded, operational parameter (default 3 minutes)', () => {
    expect(DEFAULT_PARAMS.receiptGraceMs).toBe(3 * MINUTE_MS);
    expect(OPERATIONAL_PARAMS.has('receiptGraceMs')).toBe(true);
    const t = new TestNet();
    expect(t.tx(governor, 'params.update', { changes: { receiptGraceMs: 5_000 } })).toMatchObject({
      changed: 'receiptGraceMs',
    });
    expect(t.ledger.params.receiptGraceMs).toBe(5_000);
    for (const bad of [0, 999, 3_600_001, 1.5, '60000'])
      t.expectRejectTx(
        governor,
        'params.update',
        { changes: { receiptGraceMs: bad } },
        'INVALID_TRANSACTION',
      );
    expect(new TestNet(makeGenesis({ receiptGraceMs: 2_000 })).ledger.params.receiptGraceMs).toBe(2_000);
  });

  it('receipts survive a replay: the same transactions give the same root', () => {
    const { t, lease } = withLease();
    t.at(G + 10 * MINUTE_MS);
    t.settle(host, lease, 7 * MINUTE_MS);
    t.at(G + 20 * MINUTE_MS);
    t.hostClose(host, lease, {}, 19 * MINUTE_MS);
    const receipt = t.accepted.at(-1)!.tx.payload.receipt as SignedReceipt;
    expect(receipt.seq).toBe(2);
    const replay = Ledger.fromGenesis(t.genesis);
    for (const a of t.accepted) replay.apply(a.tx, a);
    expect(replay.root()).toBe(t.ledger.root());
  });
});
