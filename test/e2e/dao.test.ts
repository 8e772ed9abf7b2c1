import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, ath } from '../../src/core/index.js';
import { signTx } from '../../src/ledger/index.js';
import type { RunningNode } from '../../src/node/index.js';
import { cli, startInProcessDevnet, tempHome } from './helpers.js';

const DAY = 86_400_000;

/**
 * Token holders govern the network through the CLI, against a devnet under a simulated clock:
 * the fee split changes from 80/20 to 85/15 by vote and the next lease settles 85/15.
 */
describe('the DAO, end to end', () => {
  let node: RunningNode;
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  const home = tempHome();
  let env: Record<string, string>;
  const json = async (args: string[], key?: string) => {
    const r = await cli([...args, '--json', ...(key ? ['--key', key] : [])], env);
    if (r.code !== 0) throw new Error(`aethir ${args.join(' ')} failed: ${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout);
  };

  beforeAll(async () => {
    node = await startInProcessDevnet(home, { checkIntervalMs: 3_600_000 }, clock);
    env = { AETHIR_HOME: home, AETHIR_API: node.url };
    // a second holder: a small lock, to test quorum and late weight
    expect((await cli(['keys', 'new', 'small'], env)).code).toBe(0);
    const small = JSON.parse((await cli(['keys', 'ls', '--json'], env)).stdout).keys.find(
      (k: any) => k.name === 'small',
    );
    const d = node.devnet;
    d.chain.submit(
      signTx(d.developer, d.chain.chainId, 'transfer', d.chain.ledger.account(d.developer.address).nonce, {
        to: small.address,
        amount: ath(20_000),
      }),
    );
  });
  afterAll(async () => {
    await node?.stop();
  });

  it('85/15 by vote: lock, propose, vote, timelock, execute, and the next lease settles 85/15', async () => {
    const lock = await json(['lock', '100000', '--for', '4y']);
    expect(BigInt(lock.weight)).toBeGreaterThan(ath(99_000));
    const p = await json(['dao', 'propose', '--title', 'Hosts keep 85%', '--set', 'feeHostBps=8500']);
    const id = String(p.proposal);
    const v = await json(['dao', 'vote', id, 'for']);
    expect(v.choice).toBe('for');
    // voting twice by one account counts once: the second vote replaces the first
    await json(['dao', 'vote', id, 'against']);
    await json(['dao', 'vote', id, 'for']);
    const st = await json(['dao', 'status', id]);
    expect(st.phase).toBe('voting');
    expect(BigInt(st.tally.for)).toBe(BigInt(v.weight));
    expect(BigInt(st.tally.against)).toBe(0n);
    expect(st.changes).toEqual([{ parameter: 'feeHostBps', from: 8000, to: 8500 }]);
    // weight bought after the proposal was made does not vote on it
    await json(['lock', '10000', '--for', '1y'], 'small');
    const late = await cli(['dao', 'vote', id, 'against', '--key', 'small'], env);
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/UNAUTHORIZED.*no voting weight/);
    // too early to execute
    const early = await cli(['dao', 'execute', id], env);
    expect(early.stderr).toMatch(/CONFLICT.*voting/);
    clock.advance(3 * DAY);
    expect((await json(['dao', 'status', id])).phase).toBe('timelock');
    clock.advance(2 * DAY);
    expect((await json(['dao', 'status', id])).phase).toBe('executable');
    expect((await json(['dao', 'execute', id])).status).toBe('executed');
    expect(node.devnet.chain.ledger.params).toMatchObject({ feeHostBps: 8500, version: 2 });

    // the next lease settles 85/15
    const d = node.devnet;
    const host = d.localContainerId();
    const send = (type: any, payload: any) =>
      d.chain.submit(
        signTx(
          d.developer,
          d.chain.chainId,
          type,
          d.chain.ledger.account(d.developer.address).nonce,
          payload,
        ),
      );
    send('escrow.deposit', { amount: ath(10) });
    const lease = String(
      send('lease.open', {
        container: host,
        gpus: 0,
        maxDurationSec: 3600,
        maxPricePerHour: d.chain.ledger.container(host)!.pricePerHour,
        workload: { command: ['sleep', '5'] },
      }).result.lease,
    );
    clock.advance(30 * 60_000);
    send('lease.close', { lease });
    const l = d.chain.ledger.lease(lease)!;
    expect(l.charged).toBeGreaterThan(0n);
    expect(l.hostShare).toBe((l.charged * 8500n) / 10_000n);
    expect(l.protocolShare).toBe(l.charged - l.hostShare);
    expect(d.chain.ledger.totalHeld()).toBe(d.chain.ledger.chain.supply);
  });

  it('a proposal below quorum is rejected; an out-of-bounds change cannot be proposed; a treasury spend moves exactly the amount', async () => {
    // out of bounds: not even proposable
    const bad = await cli(['dao', 'propose', '--title', 'Hosts keep 40%', '--set', 'feeHostBps=4000'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/INVALID_TRANSACTION.*feeHostBps/);
    // below quorum: only the small holder votes (its weight is under 4% of the total)
    const small = JSON.parse((await cli(['keys', 'ls', '--json'], env)).stdout).keys.find(
      (k: any) => k.name === 'small',
    );
    const to = small.address;
    const p = await json(['dao', 'propose', '--title', 'Tiny grant', '--spend', `${to}=1234.5`]);
    await json(['dao', 'vote', String(p.proposal), 'for'], 'small');
    clock.advance(6 * DAY);
    const r = await json(['dao', 'execute', String(p.proposal)]);
    expect(r.status).toBe('rejected');
    // a spend that passes moves exactly its amount
    const q = await json(['dao', 'propose', '--title', 'Grant', '--spend', `${to}=1234.5`]);
    await json(['dao', 'vote', String(q.proposal), 'for']);
    clock.advance(6 * DAY);
    const ledger = node.devnet.chain.ledger;
    const treasury = ledger.treasury().balance;
    const before = ledger.account(to).balance;
    expect((await json(['dao', 'execute', String(q.proposal)])).status).toBe('executed');
    expect(node.devnet.chain.ledger.account(to).balance - before).toBe(ath('1234.5'));
    expect(treasury - node.devnet.chain.ledger.treasury().balance).toBe(ath('1234.5'));
    expect(node.devnet.chain.ledger.totalHeld()).toBe(node.devnet.chain.ledger.chain.supply);
    const ls = await json(['dao', 'ls']);
    expect(ls.proposals.map((x: any) => x.phase)).toEqual(['executed', 'rejected', 'executed']);
  });
});
