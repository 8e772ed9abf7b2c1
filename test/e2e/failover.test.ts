import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import type { RunningNode } from '../../src/node/index.js';
import { BIN, ROOT, startInProcessDevnet, tempHome, waitFor } from './helpers.js';

/**
 * A container fails mid-lease (a network partition: no heartbeats, its workload still
 * running): the checkers' majority marks it offline, the ledger closes the lease at the first
 * offline observation, charging nothing beyond what the host had settled with the user's usage
 * receipts, and `rent` restarts the job on another container. The user pays only for delivered
 * time, on both.
 */
describe('re-matching when a container fails mid-lease', () => {
  let node: RunningNode;
  const home = tempHome();

  beforeAll(async () => {
    node = await startInProcessDevnet(home, {
      demoContainers: 3,
      heartbeatIntervalMs: 200,
      offlineAfterMs: 1000,
      checkIntervalMs: 200,
    });
  });
  afterAll(async () => {
    await node?.stop();
  });

  it('the job restarts elsewhere; the failed lease is charged for delivered time only', async () => {
    const d = node.devnet;
    const child = spawn(
      process.execPath,
      [BIN, 'rent', '--gpus', '1', '--json', '--', 'sh', '-c', 'echo start; sleep 6; echo done'],
      { cwd: ROOT, env: { ...process.env, AETHIR_HOME: home, AETHIR_API: node.url } },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (x) => (out += x));
    child.stderr.on('data', (x) => (err += x));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    await waitFor(async () => out.includes('start'), 30_000, 'the first workload to start');
    const first = d.openLeases()[0]!;
    const victim = d.agents.find((a) => a.id === first.container)!;
    const partitionedAt = d.now();
    victim.partition();
    expect(await exited).toBe(0);
    const text = out.slice(0, out.indexOf('{'));
    expect(text).toBe('start\nstart\ndone\n');
    const summary = JSON.parse(out.slice(out.indexOf('{')));
    expect(summary.failovers).toHaveLength(1);
    expect(summary.failovers[0]).toMatchObject({ lease: first.id, container: victim.id });
    expect(summary.container).not.toBe(victim.id);
    expect(summary.exitCode).toBe(0);
    const failed = d.chain.ledger.lease(first.id)!;
    expect(failed.status).toBe('closed');
    expect(failed.closeReason).toMatch(/went offline/);
    // charged exactly the time settled before the outage (at most what the client signed), the
    // rest refunded
    expect(failed.settledAt - failed.openedAt).toBeLessThanOrEqual(failed.receiptServedMs);
    expect(failed.charged).toBe(
      (failed.pricePerHour * BigInt(Math.max(1, failed.gpus)) * BigInt(failed.settledAt - failed.openedAt)) /
        3_600_000n,
    );
    expect(failed.charged).toBeLessThan(failed.escrow);
    // closed as of the first offline observation: after the cut, no later than the incident that
    // recorded it (how soon after the cut: bench/checks.bench.ts)
    const incident = d.chain.ledger.container(victim.id)!.incidents.find((i) => i.leases.includes(first.id))!;
    expect(incident.check).toBe('liveness');
    expect(failed.closedAt!).toBeGreaterThanOrEqual(partitionedAt);
    expect(failed.closedAt!).toBeLessThanOrEqual(incident.at);
    expect(d.chain.ledger.container(victim.id)!.status).toBe('offline');
    // and down while serving costs the host 1/3 × K × coefficient
    expect(d.chain.ledger.container(victim.id)!.slashed).toBeGreaterThan(0n);
    expect(err).not.toMatch(/error \[/);
  });
});
