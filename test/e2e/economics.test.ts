import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ManualClock, ath } from '../../src/core/index.js';
import { signTx } from '../../src/ledger/index.js';
import type { RunningNode } from '../../src/node/index.js';
import { cli, startInProcessDevnet, tempHome } from './helpers.js';

const MIN = 60_000;

/**
 * The economics running in a devnet under a simulated clock: a lease pays its host (vesting),
 * the keeper closes the epoch and capacity and delivery rewards flow from the pool, the
 * money adds up, and an account's proof checks out offline.
 */
describe('economics in a devnet', () => {
  let node: RunningNode;
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const home = tempHome();

  beforeAll(async () => {
    // checks only when the test asks: the simulated clock does not move by itself
    node = await startInProcessDevnet(home, { demoContainers: 1, checkIntervalMs: 3_600_000 }, clock);
  });
  afterAll(async () => {
    await node?.stop();
  });

  it('a lease pays the host into vesting, the epoch close pays capacity and delivery rewards, supply holds', async () => {
    const { devnet } = node;
    const ledger = () => devnet.chain.ledger;
    const dev = devnet.developer;
    const host = devnet.localContainerId();
    const send = (type: any, payload: any) =>
      devnet.chain.submit(
        signTx(dev, devnet.chain.chainId, type, ledger().account(dev.address).nonce, payload),
      );
    send('escrow.deposit', { amount: ath(10) });
    const open = send('lease.open', {
      container: host,
      gpus: 0,
      maxDurationSec: 3600,
      maxPricePerHour: ledger().container(host)!.pricePerHour,
      workload: { command: ['sleep', '30'] },
    });
    const lease = String(open.result.lease);
    clock.advance(6 * MIN);
    send('lease.close', { lease });
    const l = ledger().lease(lease)!;
    expect(l.charged).toBe(l.pricePerHour / 10n); // 6 minutes of an hour
    const hostVest = ledger().vesting(host);
    expect(hostVest.map((e) => e.kind)).toEqual(['host']);
    expect(hostVest[0]!.amount).toBe((l.charged * 8000n) / 10_000n);

    // the end of the first epoch passes; the devnet's keeper closes it
    const poolBefore = ledger().rewardPool().balance;
    clock.advance(15 * MIN);
    await devnet.closeDueEpochs();
    expect(ledger().economics.lastEpoch).toBe(0);
    const rewards = ledger()
      .vesting(host)
      .filter((e) => e.kind === 'reward');
    // online since genesis-ish, so capacity rewards; and it delivered GPU-time (CPU lease counts as one unit)
    expect(rewards.length).toBe(1);
    expect(rewards[0]!.amount).toBeGreaterThan(0n);
    expect(poolBefore - ledger().rewardPool().balance).toBeGreaterThanOrEqual(rewards[0]!.amount);
    expect(ledger().totalHeld()).toBe(ledger().chain.supply);

    // nothing is claimable before the vesting ends, everything after
    expect(() =>
      devnet.chain.submit(
        signTx(
          devnet.agents[0]!.init.key,
          devnet.chain.chainId,
          'vesting.claim',
          ledger().account(host).nonce,
          {},
        ),
      ),
    ).toThrow(/nothing is claimable/);
    clock.advance(46 * 24 * 60 * MIN);
    const balance = ledger().account(host).balance;
    const claim = devnet.chain.submit(
      signTx(
        devnet.agents[0]!.init.key,
        devnet.chain.chainId,
        'vesting.claim',
        ledger().account(host).nonce,
        {},
      ),
    );
    expect(ledger().account(host).balance - balance).toBe(BigInt(String(claim.result.claimed)));
    expect(BigInt(String(claim.result.claimed))).toBe(hostVest[0]!.amount + rewards[0]!.amount);
  });

  it('the CLI proves an account against the state root, and the proof checks offline', async () => {
    const env = { AETHIR_HOME: home, AETHIR_API: node.url };
    const out = join(home, 'proof.json');
    const r = await cli(['ledger', 'proof', '--out', out, '--json'], env);
    expect(r.code).toBe(0);
    const p = JSON.parse(r.stdout);
    expect(p.root).toBe(node.devnet.chain.head.root);
    const ok = await cli(['ledger', 'check-proof', out, '--root', p.root], {});
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/proof OK/);
    const bad = await cli(['ledger', 'check-proof', out, '--root', 'ab'.repeat(32)], {});
    expect(bad.code).toBe(3);
    expect(bad.stdout).toMatch(/INVALID/);
  });

  it('escrow deposit and withdraw through the CLI', async () => {
    const env = { AETHIR_HOME: home, AETHIR_API: node.url };
    const before = JSON.parse((await cli(['account', '--json'], env)).stdout);
    expect((await cli(['escrow', 'deposit', '2.5'], env)).code).toBe(0);
    const mid = JSON.parse((await cli(['account', '--json'], env)).stdout);
    expect(BigInt(mid.escrow) - BigInt(before.escrow)).toBe(ath('2.5'));
    const tooMuch = await cli(['escrow', 'withdraw', '1000000000'], env);
    expect(tooMuch.code).toBe(1);
    expect(tooMuch.stderr).toMatch(/INSUFFICIENT_FUNDS/);
    expect((await cli(['escrow', 'withdraw', '2.5'], env)).code).toBe(0);
    const after = JSON.parse((await cli(['account', '--json'], env)).stdout);
    expect(after.escrow).toBe(before.escrow);
    expect(after.balance).toBe(before.balance);
  });
});
