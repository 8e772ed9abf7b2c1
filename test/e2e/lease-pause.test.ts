import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keystore, type RunningNode } from '../../src/node/index.js';
import { join } from 'node:path';
import { cli, setParams, startInProcessDevnet, tempHome, waitFor } from './helpers.js';

/**
 * Long-running leases whose escrow runs out, through the real CLI on one devnet (host-process
 * runtime): a detached lease with a deposit of a few seconds is warned about (the API's event
 * stream), paused when its deposit is spent (its workload stopped, its files kept), topped up
 * with `aethir lease topup` and resumed in its kept files; another one, not topped up within the
 * grace period, is closed and its files removed. Strangers and bad amounts change nothing.
 */
describe('paused leases: deposit, pause, top-up, resume', () => {
  let node: RunningNode;
  const home = tempHome();
  let env: Record<string, string>;
  const events: string[] = [];
  const stream = new AbortController();
  // the workload: remembers its first start in a file of its own, says whether it found it
  const script =
    'pwd; if [ -f kept.txt ]; then echo "resumed with $(cat kept.txt)"; else echo first-run > kept.txt; echo started; fi; sleep 600';

  beforeAll(async () => {
    node = await startInProcessDevnet(home, {
      settleIntervalMs: 500,
      heartbeatIntervalMs: 200,
      pauseGraceSeconds: 120,
    });
    expect(node.devnet.chain.ledger.params.pauseGraceMs).toBe(120_000);
    env = { AETHIR_HOME: home, AETHIR_API: node.url };
    // the user's warnings, as an app would follow them
    const user = new Keystore(join(home, 'keys')).load('developer').address;
    const res = await fetch(`${node.url}/v1/events?user=${user}`, { signal: stream.signal });
    void (async () => {
      const dec = new TextDecoder();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
          events.push(dec.decode(chunk));
      } catch {
        // aborted at the end
      }
    })();
  });
  afterAll(async () => {
    stream.abort();
    await node?.stop();
  });

  const ledger = () => node.devnet.chain.ledger;
  let id = '';
  let workdir = '';

  it('a detached lease with a small deposit is warned about, then paused when it runs out: files kept', async () => {
    const r = await cli(
      ['rent', '--detach', '--max-duration', '10m', '--deposit', '4s', '--json', '--', 'sh', '-c', script],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ depositSec: 4, maxDurationSec: 600 });
    id = out.lease;
    const opened = ledger().lease(id)!;
    expect(opened.escrow).toBe((opened.pricePerHour * 4n) / 3600n);
    const paused = await waitFor(
      async () => ledger().lease(id)?.status === 'paused' && ledger().lease(id),
      30_000,
      'the lease to be paused',
    );
    // charged exactly its deposit, up to the moment it ran out; its GPU slot is kept
    expect(paused.charged).toBe(paused.escrow);
    expect(paused.pausedAt).toBe(paused.settledAt);
    expect(paused.pausedAt! - paused.openedAt).toBeGreaterThanOrEqual(4_000);
    expect(paused.pausedAt! - paused.openedAt).toBeLessThan(4_100);
    // the user was warned on the event stream before, and saw the pause
    await waitFor(async () => events.join('').includes('"LeasePaused"'), 10_000, 'the pause on /v1/events');
    const all = events.join('');
    expect(all).toMatch(new RegExp(`event: lease-funds\\ndata: \\{"lease":"${id}"[^\\n]*"low":true`));
    // the CLI shows it paused, with when it closes
    const ls = await cli(['leases', 'ls', '--mine'], env);
    expect(ls.stdout).toMatch(new RegExp(`${id}\\s+paused.*paused, closes in \\d+[sm]`));
    const logs = await cli(['logs', id], env);
    expect(logs.stdout).toMatch(/started\n/);
    expect(logs.stderr).toMatch(/lease paused: its escrow ran out/);
    workdir = logs.stdout.split('\n')[0]!;
    expect(existsSync(join(workdir, 'kept.txt'))).toBe(true);
  }, 90_000);

  it('strangers, bad amounts and more than the lease can spend are refused; nothing changes', async () => {
    const before = ledger().lease(id)!;
    await cli(['keys', 'new', 'stranger'], env);
    const s = await cli(['lease', 'topup', id, '--amount', '0.001', '--key', 'stranger'], env);
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/UNAUTHORIZED.*belongs to/);
    for (const amount of ['-1', '0', 'lots', '1e9999']) {
      const b = await cli(['topup', id, '--amount', amount], env);
      expect(b.code, amount).toBe(1);
      expect(b.stderr).toMatch(/INVALID_ARGUMENT/);
    }
    const huge = await cli(['topup', id, '--amount', '1000', '--json'], env);
    expect(huge.code).toBe(1);
    expect(JSON.parse(huge.stdout).error).toMatchObject({ code: 'INVALID_TRANSACTION' });
    expect(ledger().lease(id)).toEqual(before);
  });

  it('a top-up resumes it: the workload restarts in its kept files; the paused time is not charged', async () => {
    const t = await cli(['lease', 'topup', id, '--amount', '0.001', '--json'], env);
    expect(t.code, t.stderr).toBe(0);
    expect(JSON.parse(t.stdout)).toMatchObject({ lease: id, resumed: true });
    const l = ledger().lease(id)!;
    expect(l.status).toBe('open');
    expect(l.pausedMs).toBeGreaterThan(0);
    const logs = await waitFor(
      async () => {
        const r = await cli(['logs', id], env);
        return /resumed with first-run/.test(r.stdout) && r;
      },
      30_000,
      'the workload to resume',
    );
    expect(logs.stdout).toMatch(/started\n[^]*resumed with first-run\n/);
    expect(logs.stderr).toMatch(/lease resumed/);
    // stop: exactly the unspent escrow comes back, paused time uncharged
    const stop = await cli(['stop', id, '--json'], env);
    expect(stop.code, stop.stderr).toBe(0);
    const closed = ledger().lease(id)!;
    const ran = closed.closedAt! - closed.openedAt - closed.pausedMs!;
    expect(closed.charged).toBe((closed.pricePerHour * BigInt(ran)) / 3_600_000n);
    expect(JSON.parse(stop.stdout).refund).toBe((closed.escrow - closed.charged).toString());
    // no top-up of a closed lease
    const again = await cli(['topup', id, '--amount', '0.001'], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/CONFLICT.*closed/);
    await waitFor(async () => !existsSync(workdir), 10_000, 'the workload directory to go');
  }, 90_000);

  it('rent --detach --top-up: with no client online, its host tops it up from the balance within the allowance; it never pauses', async () => {
    const user = new Keystore(join(home, 'keys')).load('developer').address;
    const r = await cli(
      [
        'rent',
        '--detach',
        '--max-duration',
        '10m',
        '--deposit',
        '3s',
        '--top-up',
        '0.001',
        '--json',
        '--',
        'sh',
        '-c',
        'sleep 8; echo done',
      ],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    const lease = JSON.parse(r.stdout).lease as string;
    const opened = ledger().lease(lease)!;
    expect(opened.topUpLimit).toBe(10n ** 15n);
    const balance = ledger().account(user).balance;
    // nobody follows the lease: no wait, no logs -f
    await waitFor(async () => ledger().lease(lease)!.status === 'closed', 60_000, 'the lease to end');
    const l = ledger().lease(lease)!;
    expect(l).toMatchObject({ closeReason: 'workload exited', exitCode: 0 });
    expect(l.pausedMs ?? 0).toBe(0);
    expect(l.toppedUpByHost).toBeGreaterThan(0n);
    expect(l.toppedUpByHost).toBeLessThanOrEqual(10n ** 15n); // 0.001 ATH
    expect(l.escrow - opened.escrow).toBe(l.toppedUpByHost);
    // drawn from the user's balance; what the lease did not spend went back to the escrow balance
    expect(ledger().account(user).balance).toBe(balance - l.toppedUpByHost!);
    const logs = (await cli(['logs', lease], env)).stdout + (await cli(['logs', lease], env)).stderr;
    expect(logs).toMatch(/topped the lease up with 0\.\d+ ATH from your balance/);
    expect(logs).toMatch(/done\n/);
    // --top-up without --deposit is refused before anything happens
    const bad = await cli(['rent', '--top-up', '1', '--', 'true'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--top-up goes with --deposit/);
  }, 90_000);

  it('not topped up within the grace period: closed, its files removed; wait ends', async () => {
    setParams(node, home, { pauseGraceMs: 2_000 });
    await waitFor(async () => ledger().params.pauseGraceMs === 2_000, 10_000, 'the shorter grace');
    const r = await cli(
      ['rent', '--detach', '--max-duration', '10m', '--deposit', '2s', '--json', '--', 'sh', '-c', script],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    const lease = JSON.parse(r.stdout).lease as string;
    const wait = await cli(['wait', lease], env);
    // it saw the pause, or (a slow start: the 2 s deposit and 2 s grace may be over by the time it
    // asks) the close that ended it
    expect(wait.stderr).toMatch(/is paused: its escrow ran out|closed \(paused past its grace period/);
    const l = ledger().lease(lease)!;
    expect(l).toMatchObject({
      status: 'closed',
      closeReason: 'paused past its grace period: its files were removed',
    });
    expect(l.charged).toBe(l.escrow);
    const dir = (await cli(['logs', lease], env)).stdout.split('\n')[0]!;
    expect(dir).toMatch(new RegExp(`${lease}$`));
    expect(existsSync(dir)).toBe(false);
    expect(ledger().container(l.container)!.gpusLeased).toBe(0);
  }, 90_000);
});
