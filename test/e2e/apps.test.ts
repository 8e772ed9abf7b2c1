import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ath } from '../../src/core/index.js';
import { subjects, type HeartbeatMsg } from '../../src/container/index.js';
import type { RunningNode } from '../../src/node/index.js';
import { TxSender } from '../../src/sdk/index.js';
import { cli, startInProcessDevnet, tempHome, waitFor } from './helpers.js';

/**
 * Apps and instant sessions, end to end: a developer publishes an app whose install step writes
 * "model weights"; the devnet's own container (started with --apps demo) pre-installs it once and
 * reports it ready; `rent --app demo` runs sessions that print the installed weights without any
 * install step (the install's counter file gets exactly one line); the faults end with a clear
 * status, the GPUs freed and the money right.
 */
describe('apps: publish, pre-install once, instant sessions', () => {
  const home = tempHome('aethir-apps-');
  const counter = join(home, 'install-runs.txt');
  const manifestFile = join(home, 'demo.json');
  let node: RunningNode;
  let env: Record<string, string>;
  const heartbeats: HeartbeatMsg[] = [];

  beforeAll(async () => {
    node = await startInProcessDevnet(home, {
      containerApps: 'demo',
      demoContainers: 2,
      heartbeatIntervalMs: 300,
    });
    env = { AETHIR_HOME: home, AETHIR_API: node.url };
    node.devnet.bus.subscribe(subjects.allHeartbeats, (m) => heartbeats.push(m as HeartbeatMsg));
    await node.devnet.waitOnline();
    writeFileSync(
      manifestFile,
      JSON.stringify({
        name: 'demo',
        version: '1.0.0',
        description: 'prints its model weights',
        install: ['echo model-weights > weights.txt', `echo ran >> '${counter}'`],
        run: 'cat "$AETHIR_APP_DIR/weights.txt"',
      }),
    );
  });
  afterAll(async () => {
    await node?.stop();
  });

  const installRuns = () =>
    (existsSync(counter) ? readFileSync(counter, 'utf8').split('\n').filter(Boolean) : []).length;
  const local = () => node.devnet.agents[0]!;

  it('an unknown app is a clear error, before any money moves', async () => {
    const leases = node.devnet.chain.ledger.leases().length;
    const r = await cli(['rent', '--app', 'demo'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error [NOT_FOUND]: no app "demo" is published (aethir app ls lists them)');
    expect(node.devnet.chain.ledger.leases()).toHaveLength(leases);
    const show = await cli(['app', 'show', 'demo'], env);
    expect(show.code).toBe(1);
    expect(show.stderr).toMatch(/NOT_FOUND.*no app "demo" is published/);
    // and nothing is installed while the app does not exist
    expect(local().status().apps).toMatchObject({ ready: [], installing: [] });
  });

  it('a bad manifest is refused with the path of the problem', async () => {
    const bad = join(home, 'bad.json');
    writeFileSync(bad, JSON.stringify({ name: 'demo', version: '1.0.0', services: { web: { gpus: 1 } } }));
    const r = await cli(['app', 'publish', bad], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'error [INVALID_ARGUMENT]: invalid app manifest: services.web.command: required',
    );
    const v = await cli(['app', 'validate', manifestFile], env);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^demo 1\.0\.0: valid/);
  });

  it('publishes; the local container installs it once and reports it ready in its heartbeats', async () => {
    const r = await cli(['app', 'publish', manifestFile, '--json'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({
      app: 'demo',
      version: '1.0.0',
      owner: node.devnet.developer.address,
      versions: 1,
    });
    await waitFor(async () => local().status().apps?.ready.length === 1, 30_000, 'the app to be installed');
    expect(installRuns()).toBe(1);
    // installed where its sessions can read it: beside the sandboxed leases, or in the data dir
    const dir = local().status().apps!.ready[0]!.dir;
    expect(dir.endsWith(join('apps', 'demo', '1.0.0'))).toBe(true);
    expect(readFileSync(join(dir, 'weights.txt'), 'utf8')).toBe('model-weights\n');
    await waitFor(
      async () => heartbeats.some((h) => h.container === local().id && h.apps?.includes('demo@1.0.0')),
      10_000,
      'a heartbeat with the app',
    );
    const hb = heartbeats.filter((h) => h.container === local().id && h.apps).pop()!;
    expect(hb.apps).toEqual(['demo', 'demo@1.0.0']);
    // the simulated containers have only the devnet's game (docs/gaming.md), not demo
    expect(
      heartbeats
        .filter((h) => h.container !== local().id)
        .every((h) => h.apps === undefined || h.apps.join() === 'arena,arena@1.0.0'),
    ).toBe(true);

    const ls = JSON.parse((await cli(['app', 'ls', '--json'], env)).stdout);
    expect(ls.apps).toEqual([
      expect.objectContaining({ name: 'arena', latest: '1.0.0', versions: ['1.0.0'], gpus: 0 }),
      expect.objectContaining({ name: 'demo', latest: '1.0.0', versions: ['1.0.0'], gpus: 0 }),
    ]);
    const show = JSON.parse((await cli(['app', 'show', 'demo', '--json'], env)).stdout);
    expect(show.manifest.services.main.command).toEqual(['sh', '-c', 'cat "$AETHIR_APP_DIR/weights.txt"']);
  });

  it('rent --app runs a session on the container that has it, with no install step', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await cli(['rent', '--app', 'demo', '--json'], env);
      expect(r.code).toBe(0);
      expect(r.stdout.startsWith('model-weights\n')).toBe(true);
      const summary = JSON.parse(r.stdout.slice('model-weights\n'.length));
      expect(summary.container).toBe(local().id);
      expect(summary.exitCode).toBe(0);
      const lease = node.devnet.chain.ledger.lease(summary.lease)!;
      expect(lease.workload).toEqual({ app: 'demo' });
      expect(lease.status).toBe('closed');
    }
    // the install ran exactly once, at pre-install
    expect(installRuns()).toBe(1);
    const pinned = await cli(['rent', '--app', 'demo@1.0.0'], env);
    expect(pinned.code).toBe(0);
    expect(pinned.stdout).toBe('model-weights\n');
    expect(installRuns()).toBe(1);
  });

  it('only its owner publishes new versions', async () => {
    expect((await cli(['keys', 'new', 'mallory'], env)).code).toBe(0);
    const other = join(home, 'demo2.json');
    writeFileSync(other, JSON.stringify({ name: 'demo', version: '2.0.0', run: 'echo pwned' }));
    const r = await cli(['app', 'publish', other, '--key', 'mallory'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /UNAUTHORIZED.*app demo belongs to ath1[0-9a-f]{40}: only its owner publishes new versions/,
    );
    expect(node.devnet.chain.ledger.app('demo')!.versions).toEqual(['1.0.0']);
  });

  it('an app no container has ready: no match, and a lease sent to a container without it ends at once, unpaid', async () => {
    const lonely = join(home, 'lonely.json');
    writeFileSync(lonely, JSON.stringify({ name: 'lonely', version: '1.0.0', run: 'echo hi' }));
    expect((await cli(['app', 'publish', lonely], env)).code).toBe(0);
    const r = await cli(['rent', '--app', 'lonely'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/NO_MATCH.*app not installed/);

    // A lease opened directly (no indexer) on the local container, which does not serve "lonely".
    const d = node.devnet;
    const sender = new TxSender(d.developer, d.network);
    await sender.send('escrow.deposit', { amount: ath(1) });
    const escrowBefore = d.chain.ledger.account(d.developer.address).escrow;
    const opened = await sender.send('lease.open', {
      container: local().id,
      gpus: 0,
      maxDurationSec: 600,
      maxPricePerHour: d.chain.ledger.container(local().id)!.pricePerHour,
      workload: { app: 'lonely' },
    });
    const id = String(opened.result.lease);
    const lease = await waitFor(
      async () => {
        const l = d.chain.ledger.lease(id);
        return l?.status === 'closed' ? l : undefined;
      },
      15_000,
      'the container to refuse the lease',
    );
    expect(lease.closeReason).toBe('app lonely is not installed on this container');
    expect(lease.closedBy).toBe(local().id);
    expect(lease.exitCode).toBe(127);
    expect(lease.charged).toBe(0n);
    expect(d.chain.ledger.account(d.developer.address).escrow).toBe(escrowBefore);
    expect(d.chain.ledger.container(local().id)!.gpusLeased).toBe(0);
    expect(d.chain.ledger.totalHeld()).toBe(d.chain.ledger.chain.supply);
    // the user's log stream says why
    const logs = node.devnet.logs.snapshot(id).events;
    expect(logs.at(-1)).toMatchObject({ type: 'exit', reason: 'start-failed', message: lease.closeReason });
  });
});
