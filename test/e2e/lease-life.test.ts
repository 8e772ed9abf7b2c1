import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, signLeaseToken } from '../../src/core/index.js';
import type { RunningNode } from '../../src/node/index.js';
import { spawn } from 'node:child_process';
import { ROOT, cli, setParams, startInProcessDevnet, tempHome, waitFor } from './helpers.js';

const GRACE_MS = 2_000;

/**
 * What a renter does beyond `rent -- CMD`, through the real CLI on one devnet (host-process
 * runtime): browse `offers` and get what they showed, start a detached lease, follow its logs,
 * wait for it, stop it and get the rest of the escrow back, read the logs after it ended (only
 * its user can). The receipt grace is shortened so a detached lease is seen to outlive it.
 */
describe('offers, detached leases, logs, wait, stop', () => {
  let node: RunningNode;
  const home = tempHome();
  let env: Record<string, string>;

  beforeAll(async () => {
    node = await startInProcessDevnet(home, {
      settleIntervalMs: 500,
      heartbeatIntervalMs: 200,
      demoContainers: 3,
    });
    const d = node.devnet;
    setParams(node, home, { receiptGraceMs: GRACE_MS });
    expect(d.chain.ledger.params.receiptGraceMs).toBe(GRACE_MS);
    env = { AETHIR_HOME: home, AETHIR_API: node.url };
  });
  afterAll(async () => {
    await node?.stop();
  });

  it('offers lists what matches without reserving it, and rent --query then gets its first offer', async () => {
    const ledger = () => node.devnet.chain.ledger;
    const r = await cli(['offers', 'price<=1000', 'sandbox=false', '--json'], env);
    expect(r.code).toBe(0);
    const offers = JSON.parse(r.stdout);
    expect(offers.total).toBe(
      ledger()
        .containers()
        .filter((c) => c.status === 'online').length,
    );
    const prices = offers.offers.map((o: any) => BigInt(o.container.pricePerHour));
    expect([...prices].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(prices);
    // the human table: one row per offer, with place, price and reputation
    // (the query as one word, as a shell needs it quoted, is the same query)
    const table = await cli(['offers', 'price<=1000 sandbox=false'], env);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^CONTAINER\s+PLACE\s+GPUS\s+VRAM\s+FREE\s+PRICE\/H\s+REPUTATION\s+SANDBOX/,
    );
    expect(table.stdout.trim().split('\n')).toHaveLength(1 + offers.offers.length);
    // browsing reserved nothing: a match for every free GPU of the first offer's host still gets it
    const first = offers.offers[0];
    const rent = await cli(
      ['rent', '--query', `price<=1000 sandbox=false num_gpus=${first.gpusFree}`, '--json', '--', 'true'],
      env,
    );
    expect(rent.code).toBe(0);
    expect(JSON.parse(rent.stdout).container).toBe(first.container.id);
  });

  it('a bad query is refused with the column of the bad token, and opens nothing', async () => {
    const leases = node.devnet.chain.ledger.leases().length;
    const o = await cli(['offers', 'price<<2'], env);
    expect(o.code).toBe(1);
    expect(o.stderr).toBe(
      'error [INVALID_ARGUMENT]: bad query at column 7: expected a value after "price<", found "<"\n  price<<2\n        ^\n',
    );
    const r = await cli(['rent', '--query', 'num_gpus>=1 colour=red', '--', 'true'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad query at column 13: unknown field "colour"/);
    const j = await cli(['offers', 'gpu_ram>=lots', '--json'], env);
    expect(JSON.parse(j.stdout).error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { column: 10 } });
    expect(node.devnet.chain.ledger.leases().length).toBe(leases);
  });

  let short = '';
  it('--detach returns at once; logs -f follows it to its exit; wait exits with its code; it is charged the time it ran', async () => {
    const d = await cli(
      [
        'rent',
        '--detach',
        '--max-duration',
        '10m',
        '--json',
        '--',
        'sh',
        '-c',
        'echo hello; sleep 1; echo bye >&2; exit 7',
      ],
      env,
    );
    expect(d.code).toBe(0);
    const out = JSON.parse(d.stdout);
    expect(out).toMatchObject({ lease: expect.stringMatching(/^L[0-9a-f]+$/), maxDurationSec: 600 });
    short = out.lease;
    const [logs, wait] = await Promise.all([
      cli(['logs', short, '-f'], env),
      cli(['wait', short, '--json'], env),
    ]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toBe('hello\n');
    expect(logs.stderr).toMatch(/^bye\n── exited: .*exit code 7\n$/);
    expect(wait.code).toBe(7);
    const w = JSON.parse(wait.stdout);
    const l = node.devnet.chain.ledger.lease(short)!;
    expect(l).toMatchObject({
      status: 'closed',
      exitCode: 7,
      closeReason: 'workload exited',
      lastReceiptSeq: 1,
    });
    // paid ahead for 10 minutes, charged only the block time it ran
    expect(l.receiptServedMs).toBe(600_000);
    expect(l.charged).toBe((l.pricePerHour * BigInt(l.closedAt! - l.openedAt)) / 3_600_000n);
    expect(w).toMatchObject({
      exitCode: 7,
      charged: l.charged.toString(),
      refunded: (l.escrow - l.charged).toString(),
    });
  });

  it("logs outlive the workload and are its user's only: another key's token gets 403", async () => {
    const again = await cli(['logs', short], env);
    expect(again).toMatchObject({ code: 0, stdout: 'hello\n', stderr: 'bye\n' });
    const stranger = generateKeyPair();
    const token = signLeaseToken(stranger, {
      chainId: node.devnet.chain.chainId,
      lease: short,
      exp: Date.now() + 60_000,
    });
    const res = await fetch(`${node.url}/v1/leases/${short}/logs?follow=false`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as any).error.message).toBe(
      "the lease token is not signed by the lease's user",
    );
    const none = await fetch(`${node.url}/v1/leases/${short}/logs?follow=false`);
    expect(none.status).toBe(403);
    await cli(['keys', 'new', 'stranger'], env);
    const cliStranger = await cli(['logs', short, '--key', 'stranger'], env);
    expect(cliStranger.code).toBe(1);
    expect(cliStranger.stderr).toMatch(/UNAUTHORIZED.*belongs to/);
    // --since: the output is older than a second by now
    const exitAt = node.devnet.chain.ledger.lease(short)!.closedAt!;
    await waitFor(async () => Date.now() - exitAt > 1_500, 10_000);
    expect(await cli(['logs', short, '--since', '1s'], env)).toMatchObject({
      code: 0,
      stdout: '',
      stderr: '',
    });
  });

  it('a detached service outlives the receipt grace, shows in leases ls --mine, and stop refunds the unused escrow exactly', async () => {
    const ledger = () => node.devnet.chain.ledger;
    const d = await cli(
      [
        'rent',
        '--detach',
        '--max-duration',
        '1h',
        '--',
        'node',
        '-e',
        'setInterval(() => console.log("tick"), 200)',
      ],
      env,
    );
    expect(d.code).toBe(0);
    const id = d.stdout.trim();
    expect(id).toMatch(/^L[0-9a-f]+$/);
    expect(d.stderr).toMatch(new RegExp(`detached: runs until "aethir stop ${id}"`));
    const waiting = cli(['wait', id], env);
    // no client signs receipts, yet the host keeps it running past the grace period
    await new Promise((r) => setTimeout(r, GRACE_MS * 2));
    expect(ledger().lease(id)!.status).toBe('open');
    const ls = JSON.parse((await cli(['leases', 'ls', '--mine', '--status', 'open', '--json'], env)).stdout);
    const mine = ls.leases.find((l: any) => l.id === id);
    expect(mine).toMatchObject({ status: 'open', workload: { command: ['node', '-e', expect.any(String)] } });
    expect(mine.endpoint).toMatch(new RegExp(`/l/${id}/$`));
    expect(mine.timeLeftMs).toBeGreaterThan(3_500_000);
    expect(BigInt(mine.spent)).toBeGreaterThan(0n);
    const ticks = await cli(['logs', id], env);
    expect(ticks.stdout.split('\n').filter((x) => x === 'tick').length).toBeGreaterThan(5);

    const developer = ledger().lease(id)!.user;
    const escrowBefore = ledger().account(developer).escrow;
    const stop = await cli(['stop', id, '--json'], env);
    expect(stop.code).toBe(0);
    const s = JSON.parse(stop.stdout);
    const l = ledger().lease(id)!;
    expect(l).toMatchObject({ status: 'closed', closedBy: developer, closeReason: 'stopped by user' });
    expect(l.charged).toBe((l.pricePerHour * BigInt(l.closedAt! - l.openedAt)) / 3_600_000n);
    expect(s).toEqual({
      lease: id,
      charged: l.charged.toString(),
      refund: (l.escrow - l.charged).toString(),
    });
    expect(ledger().account(developer).escrow - escrowBefore).toBe(l.escrow - l.charged);
    // wait ends with the stopped workload's code (killed by a signal: 128+N)
    const w = await waiting;
    expect(w.code).toBeGreaterThan(128);
    expect(w.stderr).toMatch(new RegExp(`lease ${id} closed \\(stopped by user\\)`));
    const twice = await cli(['stop', id], env);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/CONFLICT.*already closed/);
    // wait on a lease that already ended answers at once, with the same code
    expect((await cli(['wait', id], env)).code).toBe(w.code);
  });

  it("docs/sdk.md's example runs: every verb through the SDK alone", async () => {
    const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'examples/sdk-lease-life.ts'], {
        cwd: ROOT,
        env: { ...process.env, ...env },
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('close', (code) => resolve({ code, out, err }));
    });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines.map((l) => l.split(':')[0])).toEqual(['offers', 'detach', 'leases', 'logs', 'wait', 'stop']);
    expect(lines[2]).toBe('leases: it is among my open leases');
    expect(lines[3]).toBe('logs: hello from the lease');
    expect(lines[4]).toMatch(/^wait: exit code 3, charged \d/);
  });
});
