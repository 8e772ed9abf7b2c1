import { describe, expect, it } from 'vitest';
import { ManualClock, keyPairFromSeed } from '../../../src/core/index.js';
import { RECEIPT_MAX_SAMPLES, verifyReceipt, type SignedReceipt } from '../../../src/ledger/index.js';
import { UsageReceipts } from '../../../src/sdk/index.js';

const user = keyPairFromSeed('receipts-test:user');
const OPENED = 1_700_000_000_000;

describe('UsageReceipts (the client side)', () => {
  it('signs cumulative receipts from the lease open, numbered 1, 2, 3..., sent in order', async () => {
    const clock = new ManualClock(OPENED);
    const sent: SignedReceipt[] = [];
    const receipts = new UsageReceipts({
      send: async (r) => {
        await new Promise((res) => setTimeout(res, 5));
        sent.push(r);
      },
      key: user,
      chainId: 'c',
      lease: 'L1',
      openedAt: OPENED,
      clock,
    });
    clock.advance(1_500);
    void receipts.sign();
    clock.advance(60_000);
    void receipts.sign(false);
    await receipts.flush();
    expect(sent.map((r) => [r.seq, r.servedMs])).toEqual([
      [1, 1_500],
      [2, 61_500],
    ]);
    expect(sent.map((r) => verifyReceipt('c', r, user.address).lease)).toEqual(['L1', 'L1']);
    expect(sent[1]!.samples!.map((s) => s.ok)).toEqual([true, false]);
    expect(receipts.last).toBe(sent[1]);
  });

  it('keeps the last 16 quality samples, and a failed send does not stop the next', async () => {
    const clock = new ManualClock(OPENED);
    const errors: string[] = [];
    let n = 0;
    const receipts = new UsageReceipts({
      send: async () => {
        if (++n === 1) throw new Error('node away');
      },
      key: user,
      chainId: 'c',
      lease: 'L1',
      openedAt: OPENED + 10_000, // a client clock behind the chain's: nothing negative is signed
      clock,
      onError: (e) => errors.push(e.message),
    });
    for (let i = 0; i < 20; i++) {
      clock.advance(1000);
      await receipts.sign();
    }
    expect(errors).toEqual(['node away']);
    expect(n).toBe(20);
    expect(receipts.last!.samples).toHaveLength(RECEIPT_MAX_SAMPLES);
    expect(receipts.last!.samples!.at(-1)!.latencyMs).toBe(0);
    expect(receipts.last!.servedMs).toBe(10_000);
    expect(receipts.last!.seq).toBe(20);
  });
});
