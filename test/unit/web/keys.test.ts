import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { keyPairFromSecret, verifyLeaseToken } from '../../../src/core/index.js';
import {
  decodeTx,
  signReceipt as nodeSignReceipt,
  signTx as nodeSignTx,
  verifyReceipt,
} from '../../../src/ledger/index.js';
import { keyFromSecret, signLeaseToken, signReceipt, signTx } from '../../../web/src/keys.js';

const secret = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const payload = fc.record({
  container: fc.constant('ath1' + 'ab'.repeat(20)),
  gpus: fc.integer({ min: 0, max: 8 }),
  maxDurationSec: fc.integer({ min: 1, max: 86_400 }),
  maxPricePerHour: fc.bigInt({ min: 1n, max: 10n ** 24n }),
  workload: fc.record({ command: fc.array(fc.string({ maxLength: 20 }), { minLength: 1, maxLength: 4 }) }),
});

/** The console signs in the browser: its transactions must be the CLI's, byte for byte. */
describe('browser keys (web/src/keys.ts)', () => {
  for (const impl of ['webcrypto', 'noble'] as const)
    it(`${impl}: same address and a byte-identical signed lease.open as the CLI's signTx, which the ledger accepts`, async () => {
      await fc.assert(
        fc.asyncProperty(secret, payload, fc.integer({ min: 0, max: 1e6 }), async (s, p, nonce) => {
          const node = keyPairFromSecret(s);
          const browser = await keyFromSecret(s, impl === 'noble' ? 'noble' : undefined);
          expect(browser.impl).toBe(impl);
          expect(browser.address).toBe(node.address);
          expect(browser.publicKey).toBe(node.publicKey);
          const mine = await signTx(browser, 'devnet-test', 'lease.open', nonce, p);
          const cli = nodeSignTx(node, 'devnet-test', 'lease.open', nonce, p);
          expect(JSON.stringify(mine)).toBe(JSON.stringify(cli));
          expect(decodeTx(mine, 'devnet-test').id).toBe(decodeTx(cli, 'devnet-test').id);
        }),
        { numRuns: 25 },
      );
    });

  it('a usage receipt signed in the browser equals the SDK one and verifies for the lease user', async () => {
    const s = 'ab'.repeat(32);
    const node = keyPairFromSecret(s);
    const r = { lease: 'L-7', servedMs: 1234, seq: 3, at: 1_700_000_000_000, samples: [{ at: 1, ok: true }] };
    const mine = await signReceipt(await keyFromSecret(s), 'devnet-test', r);
    expect(mine).toEqual(nodeSignReceipt(node, 'devnet-test', r));
    expect(verifyReceipt('devnet-test', mine, node.address).seq).toBe(3);
  });

  it('refuses a secret that is not 32 bytes of hex', async () => {
    await expect(keyFromSecret('xyz')).rejects.toThrow(/32 bytes of hex/);
    await expect(keyFromSecret('ab'.repeat(31))).rejects.toThrow(/32 bytes of hex/);
  });

  it("a lease token signed in the browser is the user's authority for that lease and no other", async () => {
    const node = keyPairFromSecret('11'.repeat(32));
    const browser = await keyFromSecret('11'.repeat(32));
    const token = await signLeaseToken(browser, 'devnet-test', 'L1', 60_000);
    const want = {
      chainId: 'devnet-test',
      lease: 'L1',
      user: node.address,
      scope: 'logs' as const,
      now: Date.now(),
    };
    expect(verifyLeaseToken(token, want).scope).toEqual(['logs', 'endpoint']);
    expect(() => verifyLeaseToken(token, { ...want, lease: 'L2' })).toThrow(/for lease L1, not L2/);
    expect(() => verifyLeaseToken(token, { ...want, user: 'ath1' + '0'.repeat(40) })).toThrow(
      /not signed by the lease's user/,
    );
    expect(() => verifyLeaseToken(token, { ...want, now: Date.now() + 120_000 })).toThrow(/expired/);
  });
});
